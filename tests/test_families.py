"""The seeds' other search families: Q-learning (MetaQNN), hierarchical evolution (Liu et al. 2018)."""

from __future__ import annotations

import sys

import pytest

from nasdsl import Space
from nasdsl.plugins import get_strategy
from nasdsl.strategy import Result

from .conftest import ROOT, sigkill_then_resume

NB201 = str(ROOT / "spaces" / "nasbench201.nas")
TWO = """network two() {
    input [3, 8, 8]
    a = one of [relu, batchnorm]
    b = one of [relu, batchnorm]
    return global_avg_pool -> linear(2)
}
"""


def _two():
    space = Space.from_text(TWO, file="two.nas")
    assert list(space.decisions) == ["two.a.op", "two.b.op"]
    return space


def _genotype(space, a, b):
    names = list(space.decisions)
    return space.validate({names[0]: a, names[1]: b})


def test_q_learning_updates_its_table_as_computed_by_hand():
    """alpha 0.5, gamma 1, Q0 0.5, no replay.  Episode (relu, batchnorm) with reward 1: Q(s1, bn) = 0.5 * 0.5
    + 0.5 * 1 = 0.75, then Q(s0, relu) = 0.5 * 0.5 + 0.5 * max(0.5, 0.75) = 0.625.  Episode (relu, relu) with
    reward 0.2: Q(s1, relu) = 0.5 * 0.5 + 0.5 * 0.2 = 0.35, Q(s0, relu) = 0.5 * 0.625 + 0.5 * 0.75 = 0.6875."""
    space = _two()
    q = get_strategy("qlearning")(space, seed=0, lr=0.5, discount=1.0, init_utility=0.5, replay=0)
    first = _genotype(space, "relu", "batchnorm")
    assert q.episode_of(first) == [((0, -1), 0), ((1, 0), 1)]  # (step, the action before), the action
    q.tell(first, Result(1.0))
    assert q.q == {((1, 0), 1): 0.75, ((0, -1), 0): 0.625}
    q.tell(_genotype(space, "relu", "relu"), Result(0.2))
    assert q.q[((1, 0), 0)] == pytest.approx(0.35) and q.q[((0, -1), 0)] == pytest.approx(0.6875)
    assert q.q[((1, 0), 1)] == 0.75  # not on that episode
    g, _ = q._walk(q._greedy(0.0))  # greedy: relu first (0.6875 > 0.5), then batchnorm (0.75 > 0.35)
    assert g == space.canonical(first)
    q.tell(_genotype(space, "batchnorm", "relu"), Result(None, status="failed"))  # no experience
    assert len(q.memory) == 2


def test_replay_repeats_the_update_on_remembered_episodes():
    space = _two()
    once = get_strategy("qlearning")(space, seed=0, lr=0.5, replay=0)
    again = get_strategy("qlearning")(space, seed=0, lr=0.5, replay=3)
    g = _genotype(space, "relu", "batchnorm")
    for q in (once, again):
        q.tell(g, Result(1.0))
    # one memory, replayed once (min(replay, memory)): the update applied twice, closer to the reward
    assert once.q[((1, 0), 1)] == 0.75 and again.q[((1, 0), 1)] == pytest.approx(0.875)


def test_epsilon_follows_the_papers_schedule_over_the_budget():
    from nasdsl_plugins.strategies.qlearning import epsilon_at

    eps = [epsilon_at(i, 100) for i in range(100)]
    assert eps[0] == 1.0 and eps[55] == 1.0 and eps[56] == 0.9 and eps[-1] == 0.1  # 1500/2700 of it at 1.0
    assert all(a >= b for a, b in zip(eps, eps[1:]))
    assert sorted(set(eps), reverse=True) == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert epsilon_at(2699, 2700) == 0.1 and epsilon_at(1499, 2700) == 1.0 and epsilon_at(1500, 2700) == 0.9
    q = get_strategy("qlearning")(Space.from_file(NB201, params={"C": 4, "N": 1}), seed=0)
    q.set_budget(10)
    assert q.epsilon == 1.0
    q.told = 8  # 8/10 of the way: 2160 of the paper's 2700 models, in its 0.4 stretch (2100-2250)
    assert q.epsilon == 0.4
    assert get_strategy("qlearning")(_two(), epsilon=0.3).epsilon == 0.3


def test_a_search_sets_the_budget_and_resumes_after_sigkill(tmp_path):
    db = tmp_path / "q.db"
    cmd = [sys.executable, "-m", "nasdsl", "search", NB201, "-p", "C=4", "-p", "N=1", "--strategy", "qlearning",
           "--estimator", "train", "-E", "epochs=1", "-E", "fraction=0.4", "--budget", "8", "--store", str(db),
           "--seed", "4", "--quiet"]
    sigkill_then_resume(cmd, db, 8)


# ------------------------------------------------------------ hierarchical evolution
HIER = str(ROOT / "spaces" / "hierarchical.nas")


def test_hierarchical_evolution_starts_from_the_trivial_genotype_and_never_removes_anyone():
    space = Space.from_file(HIER)
    h = get_strategy("hierarchical")(space, seed=0, population=8, init_mutations=50)
    trivial = h.trivial.values
    level1 = [n for n in trivial if n.startswith("motif2")]
    assert level1 and all(trivial[n] == "identity" for n in level1)  # every motif an identity mapping
    score = {}
    for i in range(30):
        g = h.ask()
        if i < 8:  # the initial population: the trivial genotype after 50 mutations, all different from it
            changed = sum(1 for n, v in g.values.items() if trivial[n] != v)
            assert changed >= 10, changed
        score[h.hash(g)] = i % 7 * 0.1
        h.tell(g, Result(score[h.hash(g)]))
        assert len(h.members) == i + 1  # every told individual stays
    assert h.tournament_size() == 2  # ceil(5 % of 30)
    first = [m[0] for m in h.members[:8]]
    assert all(any(m[0] == g for m in h.members) for g in first)  # the oldest are still there
    h.tell(h.members[0][0], Result(0.0, status="cached"))  # a repeat answered from the store: no new member
    assert len(h.members) == 30


def test_a_tournament_winner_is_mutated_in_one_decision():
    space = Space.from_file(NB201, params={"C": 4, "N": 1})
    h = get_strategy("hierarchical")(space, seed=1, population=4, init_mutations=5, tournament=1.0)
    best = None
    for i in range(4):
        g = h.ask()
        h.tell(g, Result(float(i)))
        best = g
    child = h.ask()  # the tournament is the whole population: its best (the last, 3.0) is the parent
    assert sum(1 for n in best.values if best.values[n] != child.values[n]) == 1


def test_hierarchical_evolution_resumes_after_sigkill(tmp_path):
    db = tmp_path / "h.db"
    cmd = [sys.executable, "-m", "nasdsl", "search", NB201, "-p", "C=4", "-p", "N=1", "--strategy", "hierarchical",
           "-S", "population=4", "--estimator", "train", "-E", "epochs=1", "-E", "fraction=0.4", "--budget", "8",
           "--store", str(db), "--seed", "6", "--quiet"]
    sigkill_then_resume(cmd, db, 8)
