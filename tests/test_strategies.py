"""The built-in search strategies: registry, seeding, replay, no repeats, failures, search quality, every space."""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys

import pytest

from nasdsl import Genotype, Space
from nasdsl import plugins
from nasdsl.strategy import Result, Strategy, Told
from nasdsl_plugins.strategies import (BOHB, TPE, Bananas, GridSearch, HierarchicalEvolution, LocalSearch, QLearning, RandomSearch, RegularizedEvolution, Reinforce)

from .conftest import SPACE_FILES, load

STRATEGIES = {"random": RandomSearch, "grid": GridSearch, "evolution": RegularizedEvolution,
              "reinforce": Reinforce, "tpe": TPE, "local": LocalSearch, "bananas": Bananas, "bohb": BOHB,
              "qlearning": QLearning, "hierarchical": HierarchicalEvolution}
NAMES = list(STRATEGIES)

# A synthetic objective on NAS-Bench-201 genotypes: 3x3 convolutions score most,
# then 1x1; a small bonus per edge breaks ties, so there is one best cell.
WEIGHT = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 0.5, "nor_conv_3x3": 1.0, "avg_pool_3x3": 0.2}


@functools.cache
def nb201() -> Space:
    return load("nasbench201.nas")


def objective(g: Genotype) -> float:
    return sum(WEIGHT[g[n]] + (0.01 * i if g[n] == "nor_conv_3x3" else 0.0) for i, n in enumerate(sorted(g.values)))


def make(name: str, space: Space | None = None, seed: int = 0, **options) -> Strategy:
    return STRATEGIES[name](space or nb201(), seed=seed, **options)


def run(strategy: Strategy, rounds: int, fn=objective) -> list[Genotype]:
    asked = []
    for _ in range(rounds):
        g = strategy.ask()
        asked.append(g)
        v = fn(g)
        strategy.tell(g, Result(v, status="completed" if v is not None else "failed"))
    return asked


TINY = """
ops three = [conv_3x3(4), max_pool_3x3, avg_pool_3x3]

network tiny() {
    input [3, 8, 8]
    x = three
    return global_avg_pool -> linear(2)
}
"""

HYPER = """
ops layer = [conv_3x3(4), sep_conv_3x3(4), max_pool_3x3]

block deep(x) {
    return layer
}

network hyper(C = 4) {
    input [3, 8, 8]
    hp lr = loguniform(1e-4, 1e-1)
    hp batch = int(16, 128)
    hp opt = {sgd, adam}
    hp wd = uniform(0, 0.001)
    x = conv_3x3(C) -> repeat {1, 2, 3} { deep }
    return global_avg_pool -> linear(2)
}
"""


FIXED = """
network fixed() {
    input [3, 8, 8]
    hp lr = uniform(0.01, 0.1)
    x = conv_3x3(4)
    return global_avg_pool -> linear(2)
}
"""


@functools.cache
def hyper_space() -> Space:
    return Space.from_text(HYPER, "hyper.nas")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The controller's tensors are tiny: extra threads only add overhead (a lot, on a busy machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------ registry
@pytest.fixture
def fresh_plugins():
    plugins.reset()
    try:
        yield
    finally:
        plugins.reset()


def test_registry_lists_all_six(fresh_plugins):
    assert set(NAMES) <= set(plugins.strategies.names())
    for name, cls in STRATEGIES.items():
        assert plugins.get_strategy(name) is cls
        assert cls.name == name
    assert plugins.strategies.entry("tpe").plugin == "strategies"
    with pytest.raises(plugins.PluginError, match="unknown strategy 'evolve'; available: .*evolution"):
        plugins.get_strategy("evolve")


def test_importing_the_plugin_is_cheap():
    code = ("import sys, nasdsl_plugins.strategies; "
            "assert 'torch' not in sys.modules and 'optuna' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------ options
@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_raises(name):
    with pytest.raises(ValueError, match="has no option bogus"):
        make(name, bogus=1)
    assert isinstance(STRATEGIES[name].option_names(), tuple)


def test_options_have_defaults_and_are_coerced():
    assert RegularizedEvolution.option_names() == ("population", "tournament")
    assert Reinforce.option_names() == ("lr", "baseline_decay", "entropy_weight", "hidden")
    assert TPE.option_names() == ("n_startup_trials", "multivariate")
    evo = make("evolution", population="5", tournament=2)  # command-line options arrive as strings
    assert (evo.P, evo.S) == (5, 2)
    assert make("evolution").config == {"population": 10, "tournament": 3}
    assert make("reinforce").config == {"lr": 3.5e-4, "baseline_decay": 0.95, "entropy_weight": 1e-4, "hidden": 64}
    assert make("tpe").config == {"n_startup_trials": 10, "multivariate": True}  # optuna >= 5's own default
    assert make("tpe", multivariate="false").config["multivariate"] is False
    for name, bad in [("evolution", {"population": "ten"}), ("evolution", {"tournament": 11}),
                      ("evolution", {"population": 0}), ("reinforce", {"lr": -1}),
                      ("reinforce", {"baseline_decay": 1.0}), ("tpe", {"multivariate": "maybe"}),
                      ("tpe", {"n_startup_trials": 2.5})]:
        with pytest.raises(ValueError, match=f"strategy '{name}'"):
            make(name, **bad)


# ------------------------------------------------------------ seeding and replay
@pytest.mark.parametrize("name", NAMES)
def test_seeded(name):
    first = run(make(name, seed=3), 20)
    assert run(make(name, seed=3), 20) == first
    if name != "grid":  # the grid's order does not depend on the seed
        assert run(make(name, seed=4), 20) != first


@pytest.mark.parametrize("name", NAMES)
def test_replay_continues_the_same_search(name):
    a = make(name, seed=1)
    asked = run(a, 30)
    b = make(name, seed=1)
    b.replay([Told(g, Result(objective(g))) for g in asked[:15]])
    assert run(b, 15) == asked[15:]
    assert b.told == a.told == 30


@pytest.mark.parametrize("name", NAMES)
def test_replay_of_a_foreign_history(name):
    space = nb201()
    history = [space.sample(100 + i) for i in range(12)]
    s = make(name, seed=2)
    s.replay([Told(g, Result(None if i % 4 == 0 else objective(g))) for i, g in enumerate(history)])
    assert s.told == 12
    told = {s.hash(g) for g in history}
    new = run(s, 6)
    assert not told & {s.hash(g) for g in new}
    ok = [objective(g) for i, g in enumerate(history + new) if i % 4 or i >= 12]
    assert s.best()[1].value == max(ok)


@pytest.mark.parametrize("name", NAMES)
def test_never_proposes_a_told_genotype(name):
    s = make(name, seed=5)
    hashes = [s.hash(g) for g in run(s, 40)]
    assert len(set(hashes)) == len(hashes)


@pytest.mark.parametrize("name", NAMES)
def test_in_flight_genotypes_are_not_proposed_twice(name):
    s = make(name, seed=6)
    run(s, 12)
    batch = [s.ask() for _ in range(6)]  # six asked before any result comes
    assert len({s.hash(g) for g in batch}) == 6
    for g in reversed(batch):
        s.tell(g, Result(objective(g)))
    assert s.told == 18


def test_grid_enumerates_then_falls_back_to_random():
    space = Space.from_text(TINY, "tiny.nas")
    grid = GridSearch(space, seed=0)
    asked = run(grid, 5, lambda g: 1.0)
    assert asked[:3] == list(space.enumerate())
    assert grid.exhausted
    for g in asked[3:]:
        space.validate(g)


@pytest.mark.parametrize("name", NAMES)
def test_an_exhausted_space_keeps_answering(name):
    space = Space.from_text(TINY, "tiny.nas")
    s = make(name, space, seed=0)
    asked = run(s, 7, lambda g: float(g["tiny.x.op"] == "avg_pool_3x3"))
    assert {s.hash(g) for g in asked[:3]} == {s.hash(g) for g in space.enumerate()}
    assert s.best()[1].value == 1.0


def test_grid_refuses_a_huge_space():
    with pytest.raises(ValueError, match="use random"):
        GridSearch(load("darts.nas"))


# ------------------------------------------------------------ failures
@pytest.mark.parametrize("name", NAMES)
def test_failed_trials_do_not_crash(name):
    s = make(name, seed=7, **({"n_startup_trials": 3} if name == "tpe" else {}))
    count = iter(range(10 ** 6))

    def flaky(g):  # the first five fail, then every third; a NaN is a failure too
        i = next(count)
        return None if i < 5 or i % 3 == 0 else float("nan") if i % 7 == 0 else objective(g)

    asked = run(s, 25, flaky)
    assert len({s.hash(g) for g in asked}) == 25
    assert s.best()[1].ok


# ------------------------------------------------------------ what each strategy does
def test_evolution_ages_and_mutates():
    space = nb201()
    evo = RegularizedEvolution(space, seed=0, population=5, tournament=2)
    asked = run(evo, 5)
    assert asked == [evo.population[i][0] for i in range(5)]
    for _ in range(8):
        child = evo.ask()
        assert any(sum(child[k] != m[k] for k in child.values) == 1 for m, _ in evo.population)
        evo.tell(child, Result(None))  # a failed child joins at -inf and ages out
        assert evo.population[-1] == (child, float("-inf"))
        assert len(evo.population) == 5


def test_local_search_climbs_neighbours():
    space = nb201()
    ls = LocalSearch(space, seed=0)
    start = ls.ask()
    ls.tell(start, Result(objective(start)))
    for _ in range(120):
        if ls.best()[1].value == pytest.approx(6.15):
            break
        inc, value = ls.incumbent
        g = ls.ask()
        if ls.incumbent is not None:  # a neighbour of the incumbent: one edge differs
            assert sum(g[k] != inc[k] for k in g.values) == 1
        v = objective(g)
        ls.tell(g, Result(v))
        if v > value:
            assert ls.incumbent == (g, v)
    assert ls.best()[1].value == pytest.approx(6.15)  # the objective is separable: climbing reaches the top
    assert ls.told < 100


def test_local_search_restarts_at_a_local_optimum():
    space = Space.from_text(TINY, "tiny.nas")
    ls = LocalSearch(space, seed=0)
    asked = run(ls, 4, lambda g: float(g["tiny.x.op"] == "max_pool_3x3"))
    assert len({ls.hash(g) for g in asked[:3]}) == 3
    assert ls.optima and ls.optima[0][1] == 1.0


def test_reinforce_learns_and_leaves_torch_alone():
    import torch

    state = torch.get_rng_state()
    s = make("reinforce", seed=0, lr=0.05)
    assert torch.equal(torch.get_rng_state(), state)
    before = s.policy()
    run(s, 40)
    after = s.policy()
    conv = list(WEIGHT).index("nor_conv_3x3")
    assert statistics.mean(p[conv] for p in after.values()) > statistics.mean(p[conv] for p in before.values()) + 0.1
    assert torch.equal(torch.get_rng_state(), state)


def test_tpe_tells_optuna_every_trial():
    s = make("tpe", seed=0, n_startup_trials=5)
    run(s, 15, lambda g: None if objective(g) < 1 else objective(g))
    states = [t.state.name for t in s.study.trials]
    assert len(states) >= 15 and "RUNNING" not in states


def test_tpe_multivariate_on_a_guarded_space():
    space = load("ofa.nas")
    s = TPE(space, seed=0, n_startup_trials=3, multivariate=True)
    asked = run(s, 8, lambda g: float(sum(v == 7 for v in g.values.values())))
    assert len({s.hash(g) for g in asked}) == 8


# ------------------------------------------------------------ search quality
ROUNDS, SEEDS = 60, range(5)


@functools.cache
def mean_best(name: str, **options) -> float:
    return statistics.mean(max(objective(g) for g in run(make(name, seed=seed, **options), ROUNDS)) for seed in SEEDS)


@pytest.mark.parametrize("name, options, margin", [("evolution", {}, 0.3), ("tpe", {}, 0.5), ("local", {}, 1.0),
                                                   ("reinforce", {"lr": 0.01}, 0.5), ("bananas", {}, 1.0),
                                                   ("bohb", {}, 0.5), ("qlearning", {"epsilon": 0.1, "init_utility": 2.2}, 0.3),
                                                   ("hierarchical", {"population": 20, "tournament": 0.25}, 0.5)])
def test_beats_random(name, options, margin):
    assert mean_best(name, **options) > mean_best("random") + margin


# ------------------------------------------------------------ every space
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("file", [p.name for p in SPACE_FILES], ids=[p.stem for p in SPACE_FILES])
def test_every_space(name, file):
    space = load(file)
    if name == "grid" and space.size() > 10 ** 6:
        with pytest.raises(ValueError, match="use random"):
            make(name, space)
        return
    s = make(name, space, seed=0)
    asked = run(s, 3, lambda g: float(len(str(g.values)) % 7))
    for g in asked:
        assert space.validate(g) == g
    assert len({s.hash(g) for g in asked}) == 3


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_and_guards(name):
    space = hyper_space()
    s = make(name, space, seed=0, **({"n_startup_trials": 3} if name == "tpe" else {}))
    asked = run(s, 10, lambda g: -abs(g["hyper.x.depth"] - 2) - abs(g["hyper.lr"] - 0.01))
    for g in asked:
        assert space.validate(g) == g
        assert 1e-4 <= g["hyper.lr"] <= 1e-1 and 16 <= g["hyper.batch"] <= 128 and g["hyper.opt"] in ("sgd", "adam")
    assert len({s.hash(g) for g in asked}) == 10


@pytest.mark.parametrize("name", NAMES)
def test_a_space_of_hyperparameters_only(name):
    space = Space.from_text(FIXED, "fixed.nas")
    assert space.size() == 1
    s = make(name, space, seed=0, **({"n_startup_trials": 2} if name == "tpe" else {}))
    asked = run(s, 5, lambda g: -abs(g["fixed.lr"] - 0.05))
    assert len({s.hash(g) for g in asked}) == 5  # a new learning rate each time


def test_reinforce_survives_masked_picks_over_large_domains():
    from nasdsl import Space
    from nasdsl.plugins import get_strategy
    from nasdsl.strategy import Result

    names = ", ".join(f"a{i}" for i in range(20))
    text = ("network big(classes = 2) {\n input [2, 4, 4]\n"
            + "".join(f" a{i} = conv_1x1\n" for i in range(20))
            + f" y = sum(pick 3 of [{names}])\n return global_avg_pool -> linear(classes)\n}}\n")
    space = Space.from_text(text, "big.nas")  # C(20, 3) = 1140 ways: picked one slot at a time, masked
    strat = get_strategy("reinforce")(space, seed=0, lr=0.05)
    for i in range(6):
        g = strat.ask()
        strat.tell(g, Result(float(i % 3), {}))
    assert all(__import__("torch").isfinite(p).all() for p in strat.controller.parameters())


# ------------------------------------------------------------ bananas and tpe, closer
def test_bananas_predictor_ranks_unseen_architectures():
    space = nb201()
    s = Bananas(space, seed=0)
    train = [(g, objective(g)) for g in (space.sample(i) for i in range(60))]
    test = [space.sample(1000 + i) for i in range(200)]
    mean, std = s.fit_predict(train, test)
    truth = [objective(g) for g in test]
    from scipy.stats import spearmanr

    assert spearmanr(mean, truth)[0] > 0.8  # the ensemble has learned the objective, not a constant
    assert (std > 0).all()  # the members disagree: Thompson sampling has a spread to draw from


def test_bananas_fits_once_per_batch_and_proposes_better_than_its_random_start():
    s = Bananas(nb201(), seed=1, batch=5)
    asked = run(s, 40)
    assert s.fits == (40 - 10) // 5
    start, guided = asked[:10], asked[10:]
    assert statistics.mean(map(objective, guided)) > statistics.mean(map(objective, start)) + 0.5


def test_tpe_follows_optunas_default_sampler():
    """On a space without guards, the default tpe proposes exactly what optuna's multivariate TPESampler does
    (optuna >= 5's default for one objective; passed explicitly so the test means the same on older optuna)."""
    import optuna

    space = load("nasbench_graph.nas")
    ours = TPE(space, seed=11)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=11, multivariate=True))
    score = {op: i for i, op in enumerate(["skip", "fc", "graph", "arma", "sage", "cheb", "gin", "gcn", "gat"])}
    f = lambda values: float(sum(score[values[f"nasbench_graph.n{i}.op0"]] for i in range(1, 5)))
    seen: dict[str, float] = {}
    theirs = []
    while len(theirs) < 25:
        trial = study.ask()
        values = {}
        for d in space.decisions.values():
            pick = trial.suggest_categorical(d.name, list(range(d.size())))
            values[d.name] = d.value(pick)
        g = space.canonical(Genotype(space=space.name, values=values))
        h = ours.hash(g)
        study.tell(trial, seen.get(h, f(g.values)))
        if h not in seen:
            seen[h] = f(g.values)
            theirs.append(g)
    mine = run(ours, 25, lambda g: f(g.values))
    assert mine == theirs


@pytest.mark.parametrize("file", [p.name for p in SPACE_FILES] + ["hyper"], ids=[p.stem for p in SPACE_FILES] + ["hyper"])
def test_bananas_predicts_on_every_space(file):
    space = hyper_space() if file == "hyper" else load(file)
    s = Bananas(space, seed=0, initial=3, batch=2, ensemble=2, epochs=20)
    asked = run(s, 7, lambda g: float(len(str(g.values)) % 7))
    assert s.fits == 2  # asks 4-5 and 6-7 came from the predictor
    for g in asked:
        assert space.validate(g) == g
    assert len({s.hash(g) for g in asked}) == 7


@pytest.mark.parametrize("seed", range(3))
def test_bananas_does_not_repeat_in_flight_proposals_across_fits(seed):
    s = Bananas(nb201(), seed=seed, batch=2)
    run(s, 12)
    ahead = [s.ask() for _ in range(8)]  # 4 fits while all 8 are in flight
    assert s.fits == 1 + 4
    assert len({s.hash(g) for g in ahead}) == 8
