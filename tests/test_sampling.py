"""Weight sharing by sampling: RS-WS, SPOS, FairNAS and ENAS on the supernet (single-path training,
BN recalibration, the search phase on inherited weights, checkpoints)."""

from __future__ import annotations

from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.constraints import genotype_metrics, model_metrics  # noqa: E402
from nasdsl.datasets import load_dataset  # noqa: E402
from nasdsl_plugins.oneshot.config import (DartsError, EnasConfig, FairnasConfig, OneshotConfig,  # noqa: E402
                                           RswsConfig, SposConfig)
from nasdsl_plugins.oneshot.sampling import (METHODS, EnasSearch, FairnasSearch, SposSearch,  # noqa: E402
                                             batch_norms, recalibrate_bn)

from .conftest import SPACES_DIR  # noqa: E402

CONFIGS = {"oneshot": OneshotConfig, "rsws": RswsConfig, "spos": SposConfig, "fairnas": FairnasConfig, "enas": EnasConfig}
SMALL = {"nasbench201.nas": {"C": 4, "N": 1}, "proxyless.nas": {"classes": 10}, "ofa.nas": {"classes": 10}}
QUICK = {"epochs": 1, "max_steps": 2, "batch_size": 16, "bn_batches": 2}
PHASE = {"rsws": {"samples": 3}, "oneshot": {"samples": 3}, "enas": {"samples": 3, "ctrl_steps": 2},
         "spos": {"population": 3, "parents": 2, "mutations": 1, "crossovers": 1, "generations": 2},
         "fairnas": {"population": 3, "parents": 2, "mutations": 1, "crossovers": 1, "generations": 2}}


def _space(name: str, **params) -> Space:
    return Space.from_file(SPACES_DIR / name, params={**SMALL[name], **params})


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _search(method: str, name: str, data, **cfg):
    return METHODS[method](_space(name), data, CONFIGS[method](**{**QUICK, **PHASE[method], **cfg}))


def _child_modules(sup, values) -> set[str]:
    """The supernet's op modules the child of ``values`` runs."""
    sup.activate(values)
    try:
        return {sup._module[src] for nid, kind, src, _, _ in sup._active if kind == "op"}
    finally:
        sup.activate(None)


def _calls_during(sup, fn) -> Counter:
    """How many times each op module of the supernet ran during ``fn()``."""
    calls: Counter = Counter()
    hooks = [m.register_forward_hook(lambda mod, i, o, k=k: calls.update([k])) for k, m in sup.ops.items()]
    try:
        fn()
    finally:
        for h in hooks:
            h.remove()
    return calls


def _record_paths(search):
    """Wrap ``search.paths`` so the children each step trains are kept."""
    seen: list[list[dict]] = []
    paths = search.paths

    def keep():
        out = paths()
        seen.append(out)
        return out

    search.paths = keep
    return seen


# ---------------------------------------------------------------- one path per step
@pytest.mark.parametrize("method", ["spos", "enas", "rsws"])
@pytest.mark.parametrize("name", ["nasbench201.nas", "proxyless.nas"])
def test_a_single_path_step_runs_and_trains_only_the_sampled_child(method, name, digits):
    search = _search(method, name, digits)
    sup = search.supernet
    seen = _record_paths(search)
    x, y = search.w_x[:8], search.w_y[:8]
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in sup.ops.items()}
    calls = _calls_during(sup, lambda: search.step(x, y))
    (child,) = seen[0]
    want = _child_modules(sup, child)
    assert set(calls) == want  # exactly the child's ops ran, none of the others
    assert all(n == 1 for n in calls.values())  # once each: one forward of one path
    assert len(want) < len(sup.ops)  # (the supernet holds more than the child)
    moved = {k for k, m in sup.ops.items() if any(not torch.equal(p.detach(), b) for p, b in zip(m.parameters(), before[k]))}
    assert moved and moved <= want  # the update reached the child's weights only


def test_fairnas_trains_every_candidate_exactly_once_per_step(digits):
    search = _search("fairnas", "nasbench201.nas", digits)
    sup = search.supernet
    seen = _record_paths(search)
    calls = _calls_during(sup, lambda: search.step(search.w_x[:8], search.w_y[:8]))
    children = seen[0]
    assert len(children) == 5  # m: NB201's 5 ops per edge
    g = sup.ir.graph
    options = {sup._module[n] for n in sup.ir.nodes("op") if any(p[0] == "opt" for p in g.nodes[n]["path"])}
    ran = Counter(k for c in children for k in _child_modules(sup, c))
    assert calls == ran  # each child's ops ran once for it
    assert options and all(calls[k] <= 1 for k in options)  # no candidate of an edge twice in a step ...
    # ... and once unless the child holding it left it out (an edge from a node that only 'none' reaches)
    assert sum(calls[k] for k in options) >= 0.5 * len(options)
    for d in search.fair:  # and in the genotypes: each value of each choice once among the m children
        assert Counter(c[d.name] for c in children) == Counter(d.values())


def test_fairnas_repeats_the_permutation_of_a_choice_with_fewer_candidates(digits):
    search = _search("fairnas", "proxyless.nas", digits)
    children = search.paths()
    assert search.m == len(children) == 7  # mb_or_zero: 6 MBConvs and zero
    for d in search.fair:
        counts = Counter(c[d.name] for c in children)
        assert set(counts) == set(d.values())  # every candidate at least once
        assert max(counts.values()) - min(counts.values()) <= 1  # the 6-op choices: one of them twice
    ofa = _search("fairnas", "ofa.nas", digits)
    kids = ofa.paths()
    free = [d for d in ofa.fair if d.guard is None]  # a layer the depth choice leaves out is not in every child
    assert len(kids) == 3 and free and all(Counter(c[d.name] for c in kids) == Counter(d.values()) for d in free)
    depth = [d for d in free if d.name.endswith(".depth")]
    assert len(depth) == 5  # every stage's depth: 1, 2 and 3 layers in one of the children each


@pytest.mark.parametrize("name", ["nasbench201.nas", "proxyless.nas", "ofa.nas"])
def test_path_dropout_computes_the_kept_options_only_at_a_rate_rising_linearly(name, digits):
    from nasdsl_plugins.oneshot.relax import PathDropout

    search = _search("oneshot", name, digits, epochs=2, max_steps=3, drop_rate=0.5)
    assert [round(search.rate(), 6) for _ in [0]] == [0.0]
    rates = []
    for _ in range(6):
        rates.append(search.rate())
        search.step(search.w_x[:8], search.w_y[:8])
    assert rates == pytest.approx([0.5 * i / 5 for i in range(6)])  # 0 at the first step, drop_rate at the last
    sup = search.supernet
    sup.relax = PathDropout(0.9, torch.Generator().manual_seed(1))
    x = search.w_x[:4]
    calls = _calls_during(sup, lambda: sup(x))
    mix = sup.last_mixture
    for dec, (w, on) in mix.items():
        flat = torch.tensor(on).view(-1, w.shape[-1]) if sup._kind[dec] != "subset" else None
        if flat is not None:
            assert flat.any(-1).all()  # at least one option of every row
        assert torch.equal(w.bool(), torch.tensor(on))  # 0/1 weights: the kept options summed as they are
    g = sup.ir.graph
    options = [n for n in sup.ir.nodes("op") if n not in sup._alias and any(p[0] == "opt" for p in g.nodes[n]["path"])]
    kept = set()
    for n in options:
        ch, i = [(p[1], p[2]) for p in g.nodes[n]["path"] if p[0] == "opt"][-1]
        on = mix[g.nodes[ch]["decision"]][1] if ch not in sup._edge_row else mix[sup._edge_row[ch][0]][1][sup._edge_row[ch][1]]
        if on[i] and n not in sup._dead(mix):
            kept.add(sup._module[n])
    plain = {k for k in calls if k in {sup._module[n] for n in options}}
    if options:  # op choices (OFA has value and depth choices only)
        assert plain <= kept and len(plain) < len({sup._module[n] for n in options})  # dropped options never ran
    assert not all(all(torch.tensor(on).flatten().tolist()) for _, on in mix.values())  # some were dropped
    rate, k = 0.3, 5
    keep, _ = PathDropout(rate, torch.Generator().manual_seed(0))(type("S", (), {"_kind": {"d": "op"}})(), "d",
                                                                   torch.zeros(4000, k))
    # each of 5 dropped with probability r^(1/5), so all 5 with probability r, and then one kept
    assert float(keep.mean()) == pytest.approx(1 - rate ** (1 / k) + rate / k, abs=0.01)
    assert float((keep.sum(1) == 1).float().mean()) == pytest.approx(
        rate + k * (1 - rate ** (1 / k)) * rate ** ((k - 1) / k), abs=0.02)


# ---------------------------------------------------------------- BN recalibration
def _bn_inputs(sup, fn) -> dict:
    seen: dict = {}
    hooks = [m.register_forward_pre_hook(lambda mod, i, m=m: seen.setdefault(m, []).append(i[0].detach().clone()))
             for m in sup.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    try:
        fn()
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_bn_recalibration_resets_and_re_estimates_the_running_statistics(digits):
    search = _search("spos", "nasbench201.nas", digits)
    sup = search.supernet
    child = search.uniform()
    norms = [m for m in sup.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.track_running_stats]
    for m in norms:  # statistics of some other child, far from this one's
        m.running_mean.fill_(5.0)
        m.running_var.fill_(9.0)
        m.num_batches_tracked.fill_(77)
    batches = [search.w_x[i * 16:(i + 1) * 16] for i in range(3)]
    sup.activate(child)
    seen = _bn_inputs(sup, lambda: recalibrate_bn(sup, batches))
    sup.activate(None)
    assert seen
    for m, inputs in seen.items():
        assert len(inputs) == 3 and int(m.num_batches_tracked) == 3
        means = torch.stack([t.mean((0, 2, 3)) for t in inputs])
        var = torch.stack([t.var((0, 2, 3), unbiased=True) for t in inputs])
        assert torch.allclose(m.running_mean, means.mean(0), atol=1e-5)  # the plain average of the batches' statistics
        assert torch.allclose(m.running_var, var.mean(0), atol=1e-4)
    untouched = [m for m in norms if m not in seen]  # the other children's norms: reset, not estimated
    assert all(float(m.running_mean.abs().max()) == 0 and int(m.num_batches_tracked) == 0 for m in untouched)
    assert all(m.momentum == 0.1 for m in norms) and sup.training  # momentum and mode as they were


def test_bn_recalibration_reaches_the_norms_of_sliced_children(digits):
    search = _search("spos", "ofa.nas", digits)
    sup = search.supernet
    child = dict(search.uniform())
    for d in sup.space.decisions.values():  # the smallest kernel and expansion everywhere: sliced ops
        if d.arch and d.name.rsplit(".", 1)[-1] in ("k", "e"):
            child[d.name] = min(d.values())
    sup.activate(child)
    sliced = [sl for *_, sl in sup._active if sl is not None]
    assert sliced
    x = search.w_x[:16]
    sup(x)  # a train-mode forward: the slicers' children exist now
    big = [m for m in sup.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in big:
        m.running_mean.fill_(3.0)
    n = recalibrate_bn(sup, [x, search.w_x[16:32]])
    assert n == 2
    child_norms = [m for sl in sliced for m in sl.child.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert child_norms and set(map(id, child_norms)) <= set(map(id, batch_norms(sup)))
    assert all(m.momentum == 0.1 for m in child_norms)
    assert all(float(m.running_mean.abs().max()) < 3.0 for m in big)  # every one reset (and some estimated)
    sup.eval()
    ref = sup(x)
    sup.activate(None)
    model = sup.export(child)
    model.eval()
    assert torch.allclose(model(x), ref, atol=1e-5)  # the recalibrated slices are what the exported child holds


# ---------------------------------------------------------------- the search phase
def test_spos_evolution_scores_mutations_and_crossovers_of_the_best(digits):
    search = _search("spos", "nasbench201.nas", digits, epochs=1, population=6, parents=2, mutations=2,
                     crossovers=2, generations=3, mutate_p=0.5)
    recs = search.run()
    assert [r["phase"] for r in recs] == ["train", "search", "search", "search"]
    assert [r["generation"] for r in recs[1:]] == [1, 2, 3]
    assert len(search.scored) == 18  # 3 generations of 6 distinct children
    best_values, best_score = search.best
    assert best_score == max(s for _, s in search.scored.values()) == recs[-1]["supernet_acc"]
    assert search.derive() == best_values
    assert [r["supernet_acc"] for r in recs[1:]] == sorted(r["supernet_acc"] for r in recs[1:])  # the best so far
    top = [v for v, _ in sorted(search.scored.values(), key=lambda vs: -vs[1])[:2]]
    mutant = search.mutate(top[0])
    assert sum(mutant[k] != top[0][k] for k in mutant) <= len(search.space.arch_decisions)
    cross = search.crossover(*top)
    assert all(cross[k] in (top[0][k], top[1][k]) for k in cross)  # each decision from one parent


def test_a_score_is_the_inherited_weights_accuracy_after_recalibration(digits):
    search = _search("spos", "nasbench201.nas", digits, epochs=2, max_steps=6)
    search.run_epoch()
    search.run_epoch()
    child = search.uniform()
    at = search.gen.get_state()
    s = search.score(child)
    sup = search.supernet
    sup.activate(child)
    search.gen.set_state(at)  # the same recalibration batches
    recalibrate_bn(sup, search.bn_batches())
    model = sup.export(child)
    sup.activate(None)
    model.eval()
    with torch.no_grad():
        correct = int((model(search.a_x).argmax(1) == search.a_y).sum())
    assert s == correct / len(search.a_y)  # the exported child, on the architecture half
    assert 0 < s <= 1


def test_spos_draws_only_children_inside_the_where_bounds(tmp_path, digits):
    text = (SPACES_DIR / "nasbench201.nas").read_text()
    text = text.replace("    input [3, 32, 32]\n", "    input [3, 32, 32]\n    where count(nor_conv_3x3) <= 1 and params < 9000\n")
    path = tmp_path / "bounded.nas"
    path.write_text(text)
    space = Space.from_file(path, params={"C": 4, "N": 1})
    search = SposSearch(space, digits, SposConfig(**QUICK, population=4, parents=2, generations=2))
    kids = [search.uniform() for _ in range(30)] + search.paths()
    search.run()
    kids += [v for v, _ in search.scored.values()]
    for values in kids:
        assert genotype_metrics(space, values)["count(nor_conv_3x3)"] <= 1
        assert model_metrics(space.realize(values, digits.input_shape))["params"] < 9000
    free = SposSearch(space, digits, SposConfig(**QUICK, constrained=False))
    assert any(genotype_metrics(space, free.uniform())["count(nor_conv_3x3)"] > 1 for _ in range(60))  # the bound is what held them


def test_spos_keeps_a_latency_bound_by_the_table_and_resumes_with_it(digits, tmp_path):
    from nasdsl.latency import predict, save_table
    from nasdsl_plugins.torch_backend.latency import measure_table

    text = (SPACES_DIR / "nasbench201.nas").read_text()
    free_space = Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1})
    table = measure_table(free_space, digits.input_shape, repeats=2, warmup=0)
    path = str(save_table(table, tmp_path / "t.json"))
    free = SposSearch(free_space, digits, SposConfig(**QUICK))
    lat = lambda v: predict(table, free_space.realize(v, digits.input_shape))  # noqa: E731
    drawn = sorted(lat(free.uniform()) for _ in range(40))
    bound = drawn[len(drawn) // 2]  # about half the space is over it
    late = tmp_path / "late.nas"
    late.write_text(text.replace("    input [3, 32, 32]\n", f"    input [3, 32, 32]\n    where latency < {bound:.6f}\n"))
    space = Space.from_file(late, params={"C": 4, "N": 1})
    bound = space.constraints[0]["value"]  # as the file states it (rounded)
    cfg = SposConfig(**QUICK, population=4, parents=2, generations=2, latency_table=path)
    search = SposSearch(space, digits, cfg)
    kids = [search.uniform() for _ in range(20)] + search.paths()
    search.run()
    kids += [v for v, _ in search.scored.values()]
    assert all(lat(v) < bound for v in kids)
    state = search.state_dict()
    resumed = SposSearch(space, digits, cfg)
    resumed.latency_table = None
    resumed.load_state_dict(state)
    assert resumed.latency_table == table  # the bounds the run began with
    other = tmp_path / "other.json"  # a table of another input is refused, naming both inputs
    save_table({**table, "input_shape": [3, 8, 8]}, other)
    with pytest.raises(DartsError, match=r"measured at input \[3, 8, 8\], and the supernet's input is \[1, 8, 8\]"):
        SposSearch(space, digits, SposConfig(**QUICK, latency_table=str(other)))


def test_the_enas_controller_learns_from_its_rewards(digits):
    search = _search("enas", "nasbench201.nas", digits)
    ctrl = search.controller
    values, tokens = ctrl.sample()
    other, others = ctrl.sample()
    ctrl.learn(others, 0.0)  # sets the baseline
    lp = lambda t: float(ctrl._run(t)[2].detach())  # noqa: E731
    before = lp(tokens)
    for _ in range(5):
        ctrl.learn(tokens, 1.0)  # rewarded above the baseline
    assert lp(tokens) > before
    recs = search.run()
    assert recs[0]["arch_loss"] is not None and 0 <= recs[0]["reward"] <= 1
    assert recs[0]["genotype"] == search._arch_only(ctrl.likeliest())
    assert set(recs[0]["probabilities"]) and all(abs(sum(p) - 1) < 1e-5 for p in recs[0]["probabilities"].values())


# ---------------------------------------------------------------- every method, every space
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", ["nasbench201.nas", "proxyless.nas", "ofa.nas"])
def test_every_method_searches_and_its_result_builds_and_trains(method, name, digits):
    from nasdsl.plugins import get_backend

    search = _search(method, name, digits)
    recs = search.run()
    assert len(recs) == search.total_epochs and recs[0]["phase"] == "train" and recs[-1]["phase"] == "search"
    assert all(0 <= r["supernet_acc"] <= 1 for r in recs) and recs[0]["train_loss"] > 0
    g = search.space.validate(search.derive())
    assert g.values == recs[-1]["genotype"]
    result = get_backend("torch")().train(search.space.realize(g, digits.input_shape), digits,
                                          {"epochs": 1, "max_steps": 2, "batch_size": 16})
    assert 0 <= result.metrics["valid_acc"] <= 1


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_resumed_search_continues_exactly_as_one_that_was_not_stopped(method, digits):
    cfg = {"epochs": 2, "max_steps": 3}
    straight = _search(method, "nasbench201.nas", digits, **cfg)
    whole = straight.run()
    first = _search(method, "nasbench201.nas", digits, **cfg)
    part = [first.run_epoch(), first.run_epoch(), first.run_epoch()]  # both training epochs and one of the search
    state = first.state_dict()
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    again = _search(method, "nasbench201.nas", digits, **cfg)
    again.load_state_dict(torch.load(buf, weights_only=True))
    rest = again.run()
    assert [r["genotype"] for r in part + rest] == [r["genotype"] for r in whole]
    assert [r["supernet_acc"] for r in part + rest] == [r["supernet_acc"] for r in whole]
    assert again.derive() == straight.derive()
    with pytest.raises(DartsError, match="other options"):
        _search(method, "nasbench201.nas", digits, epochs=3).load_state_dict(state)


def test_bad_sampling_options_are_refused_naming_them():
    with pytest.raises(DartsError, match="mutate_p must be in"):
        SposConfig(mutate_p=0)
    with pytest.raises(DartsError, match="samples must be at least 1"):
        RswsConfig(samples=0)
    with pytest.raises(DartsError, match="baseline_decay must be in"):
        EnasConfig(baseline_decay=1.0)
    with pytest.raises(DartsError, match="SPOS has no option 'a_lr'"):
        SposConfig.from_options({"a_lr": "0.1"})
    assert isinstance(FairnasSearch.config_class(), SposConfig) and EnasSearch.config_class is EnasConfig


# ---------------------------------------------------------------- through the search command
def _cli(*args: str, timeout: float = 300):
    import subprocess
    import sys

    from .conftest import ROOT

    return subprocess.run([sys.executable, "-m", "nasdsl", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


NB201 = ["search", str(SPACES_DIR / "nasbench201.nas"), "-p", "C=4", "-p", "N=1", "-S", "batch_size=32",
         "-S", "max_steps=2", "-S", "epochs=2", "-S", "bn_batches=2", "-E", "epochs=1", "-E", "max_steps=2"]
CLI_PHASE = {"rsws": ["-S", "samples=12"], "oneshot": ["-S", "samples=12"], "enas": ["-S", "samples=12", "-S", "ctrl_steps=2"],
             "spos": ["-S", "population=4", "-S", "generations=2"], "fairnas": ["-S", "population=4", "-S", "generations=2"]}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_sampling_method_is_a_strategy_of_the_search_command(tmp_path, method):
    from nasdsl.report import write_html
    from nasdsl.store import Store

    db = tmp_path / f"{method}.db"
    r = _cli(*NB201, "--strategy", method, *CLI_PHASE[method], "--store", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert "train_loss" in lines[0] and "search  scored" in lines[-1]
    with Store(db) as st:
        epochs = st.meta()["oneshot"]["epochs"]
        (trial,) = st.trials()
        assert st.meta()["oneshot"]["strategy"] == method
        page = write_html(st, tmp_path / "out").read_text()
    assert trial.status == "completed" and trial.genotype.values == epochs[-1]["genotype"]
    assert "One-shot search" in page and (tmp_path / "out" / "oneshot.png").stat().st_size > 0


def test_a_killed_spos_search_resumes_from_its_last_epoch(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from nasdsl.store import Store

    from .conftest import ROOT

    db = tmp_path / "k.db"
    args = ["search", str(SPACES_DIR / "nasbench201.nas"), "-p", "C=4", "-p", "N=1", "-S", "batch_size=32",
            "-S", "epochs=4", "-S", "max_steps=6", "-S", "bn_batches=2", "-S", "population=4", "-S", "generations=3",
            "-E", "epochs=1", "-E", "max_steps=2", "--store", str(db), "--quiet", "--strategy", "spos"]
    proc = subprocess.Popen([sys.executable, "-m", "nasdsl", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    done = 0
    deadline = time.time() + 240
    while time.time() < deadline and done < 2 and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                with Store(db) as st:
                    done = len((st.meta().get("oneshot") or {}).get("epochs", []))
            except Exception:  # the store is being created
                pass
    assert proc.poll() is None, "the search ended before it could be killed: make its epochs longer"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db) as st:
        oneshot = st.meta()["oneshot"]
        killed_at = len(oneshot["epochs"])
        assert not st.trials()
        st.set_meta({"oneshot": {**oneshot, "epochs": oneshot["epochs"][:-1]}})  # the store one epoch behind
    assert 2 <= killed_at < 7
    r = _cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    with Store(db) as st:
        epochs = st.meta()["oneshot"]["epochs"]
        assert len(st.trials()) == 1
    assert [e["epoch"] for e in epochs] == list(range(1, 8))  # 4 training epochs and 3 generations, none lost
    assert [e["phase"] for e in epochs] == ["train"] * 4 + ["search"] * 3


# ---------------------------------------------------------------- ranking quality
def test_ranking_is_kendalls_tau_of_the_supernets_scores_against_the_table(tmp_path, digits):
    import json
    import random

    from nasdsl_plugins.oneshot.config import DartsConfig
    from nasdsl_plugins.oneshot.darts import DartsSearch
    from nasdsl_plugins.oneshot.ranking import alpha_score, load_ranking_table, ranking

    space = _space("nasbench201.nas")
    darts = DartsSearch(space, digits, DartsConfig(epochs=1, max_steps=2, batch_size=16))
    darts.run_epoch()
    rng = random.Random(0)
    cells = [dict(space.canonical(space.sample(rng)).values) for _ in range(12)]
    sup = darts.supernet
    manual = [sum(float(torch.log_softmax(sup.alpha(d).detach(), -1)[sup._options[d].index(c[d])]) for d in sup._alpha)
              for c in cells]
    assert [alpha_score(sup, c) for c in cells] == pytest.approx(manual)
    same = {"cells": [{"genotype": c, "valid_acc": s, "valid_accs": [s, s]} for c, s in zip(cells, manual)]}
    r = ranking(darts, same, "same")
    assert r["tau"] == pytest.approx(1.0) and r["rho"] == pytest.approx(1.0) and r["seed_tau"] == pytest.approx(1.0)
    reverse = {"cells": [{"genotype": c, "valid_acc": -s} for c, s in zip(cells, manual)]}
    assert ranking(darts, reverse)["tau"] == pytest.approx(-1.0) and ranking(darts, reverse)["seed_tau"] is None
    spos = _search("spos", "nasbench201.nas", digits)
    spos.run_epoch()
    r = ranking(spos, same)
    n = len(spos.a_y)  # each score an accuracy on the architecture half: a count of it over its size
    assert all(0 <= s <= 1 and abs(s * n - round(s * n)) < 1e-9 for s in r["scores"])
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"cells": same["cells"][:2]}))
    with pytest.raises(DartsError, match="not a stand-alone table"):
        load_ranking_table(path)
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"cells": [{"genotype": {"x": 1}, "valid_acc": 0.5}] * 3}))
    with pytest.raises(DartsError, match="another space"):
        ranking(darts, load_ranking_table(other), str(other))


def test_a_run_with_a_ranking_table_stores_and_reports_its_tau(tmp_path):
    from nasdsl.report import summary, write_html
    from nasdsl.store import Store

    from .conftest import ROOT

    table = ROOT / "bench" / "nb201_mnist1d_standalone.json"
    db = tmp_path / "r.db"
    r = _cli(*NB201, "--strategy", "rsws", "-S", "samples=3", "-S", f"ranking_table={table}", "--store", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ranking: Kendall tau " in r.stdout and "seed-to-seed tau 0.39" in r.stdout
    with Store(db) as st:
        rank = st.meta()["oneshot"]["ranking"]
        assert len(st.meta()["oneshot"]["epochs"]) == 3  # the epochs were kept beside it
        page = write_html(st, tmp_path / "out").read_text()
        s = summary(st)
    assert rank["cells"] == 120 and -1 <= rank["tau"] <= 1 and len(rank["scores"]) == 120
    assert s["ranking"]["tau"] == rank["tau"] and "Ranking quality" in page and f"{rank['tau']:.3f}" in page
    bad = _cli(*NB201, "--strategy", "rsws", "-S", f"ranking_table={tmp_path / 'none.json'}", "--store", str(tmp_path / "b.db"))
    assert bad.returncode == 1 and "ranking table" in bad.stderr and "does not exist" in bad.stderr
