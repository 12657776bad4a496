"""Hardware-aware one-shot search: ProxylessNAS' binary gates and FBNet's latency-weighted loss."""

from __future__ import annotations

import io
import math
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.datasets import load_dataset  # noqa: E402
from nasdsl.latency import save_table  # noqa: E402
from nasdsl_plugins.oneshot.config import DartsError, FbnetConfig, ProxylessConfig  # noqa: E402
from nasdsl_plugins.oneshot.hardware import FbnetSearch, ProxylessSearch  # noqa: E402
from nasdsl_plugins.oneshot.relax import BinaryGates  # noqa: E402
from nasdsl_plugins.torch_backend.latency import measure_table  # noqa: E402

from .conftest import SPACES_DIR  # noqa: E402

SMALL = {"nasbench201.nas": {"C": 4, "N": 1}, "proxyless.nas": {"classes": 10}, "ofa.nas": {"classes": 10}}
QUICK = {"epochs": 2, "max_steps": 2, "batch_size": 16, "lat_unit": "us"}
METHODS = {"proxyless": (ProxylessSearch, ProxylessConfig), "fbnet": (FbnetSearch, FbnetConfig)}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _space(name: str) -> Space:
    return Space.from_file(SPACES_DIR / name, params=SMALL[name])


def _search(method: str, name: str, data, **cfg):
    cls, config = METHODS[method]
    extra = {"warmup": 0} if method == "fbnet" else {}
    return cls(_space(name), data, config(**{**QUICK, **extra, **cfg}))


def _option_calls(sup, fn) -> Counter:
    """How many candidate ops of each choice node ran during ``fn()``."""
    g = sup.ir.graph
    owner = {}
    for n in sup.ir.nodes("op"):
        opts = [p for p in g.nodes[n]["path"] if p[0] == "opt"]
        if opts and n not in sup._alias:
            owner[sup._module[n]] = opts[-1][1]
    ran: Counter = Counter()
    hooks = [sup.ops[k].register_forward_hook(lambda m, i, o, ch=ch: ran.update([ch])) for k, ch in owner.items()]
    try:
        fn()
    finally:
        for h in hooks:
            h.remove()
    return ran


def test_binary_gates_run_two_paths_for_the_architecture_and_one_for_the_weights(digits):
    search = _search("proxyless", "proxyless.nas", digits)
    sup = search.supernet
    x = search.w_x[:4]
    choices = {n for n in sup.ir.nodes() if sup.ir.graph.nodes[n]["kind"] == "choice"}
    sup.relax = BinaryGates(torch.Generator().manual_seed(0), two=True)
    ran = _option_calls(sup, lambda: sup(x))
    assert set(ran) == choices and all(v == 2 for v in ran.values())  # exactly two paths of every choice
    for dec, (w, on) in sup.last_mixture.items():
        assert sum(on) == 2 and float(w.detach().sum()) == pytest.approx(1.0)  # the first drawn is on, the other 0
    sup.relax = BinaryGates(torch.Generator().manual_seed(0))
    ran = _option_calls(sup, lambda: sup(x))
    assert set(ran) == choices and all(v == 1 for v in ran.values())  # a weight step: one path


def test_the_gates_gradient_is_the_pairs_renormalised_softmax_one(digits):
    search = _search("proxyless", "nasbench201.nas", digits)
    sup = search.supernet
    with torch.no_grad():
        for a in sup.arch_parameters():
            a.normal_()
    sup.relax = BinaryGates(torch.Generator().manual_seed(3), two=True)
    out = sup(search.w_x[:8])
    loss = out.square().mean()
    loss.backward()
    for dec, (w, on) in sup.last_mixture.items():
        a = sup.alpha(dec)
        idx = [i for i, o in enumerate(on) if o]
        p = torch.softmax(a.detach()[idx], -1)
        assert all(float(a.grad[i]) == 0 for i in range(len(on)) if not on[i])  # CE reaches the pair only
        assert float(a.grad[idx].sum()) == pytest.approx(0.0, abs=1e-7)  # Σⱼ p̃ⱼ(δᵢⱼ − p̃ᵢ) sums to 0 over the pair
        assert p.shape == (2,)


def test_an_architecture_step_keeps_the_unsampled_paths_probabilities(digits):
    search = _search("proxyless", "proxyless.nas", digits, latency_loss="none", a_lr=0.05)
    sup = search.supernet
    seen = []
    rescale = search.rescale

    def keep(pairs, old):
        seen.append((pairs, old))
        rescale(pairs, old)

    search.rescale = keep
    before = {d: torch.softmax(sup.alpha(d).detach(), -1) for d in sup._alpha}
    search.step(search.w_x[:16], search.w_y[:16], search.a_x[:16], search.a_y[:16])
    (pairs, _), = seen
    moved = 0
    for d, on in pairs.items():
        after = torch.softmax(sup.alpha(d).detach(), -1)
        off = [i for i, o in enumerate(on) if not o]
        pair = [i for i, o in enumerate(on) if o]
        assert torch.allclose(after[off], before[d][off], atol=1e-6)  # the others keep their probability
        assert float(after[pair].sum()) == pytest.approx(float(before[d][pair].sum()), abs=1e-6)
        moved += int(not torch.allclose(after[pair], before[d][pair], atol=1e-7))
    assert moved > 0  # and the pairs did move


def test_the_latency_term_moves_probability_to_faster_ops(digits, tmp_path):
    space = _space("proxyless.nas")
    table = str(save_table(measure_table(space, digits.input_shape, repeats=3, warmup=1), tmp_path / "t.json"))

    def run(loss: str) -> tuple[float, float]:
        s = _search("proxyless", "proxyless.nas", digits, latency_loss=loss, lat_alpha=50.0, a_lr=0.05, seed=1,
                    latency_table=table)
        with torch.no_grad():
            start = float(s.expected_latency())
        for i in range(6):
            s.step(s.w_x[i * 16:(i + 1) * 16], s.w_y[i * 16:(i + 1) * 16], s.a_x[:16], s.a_y[:16])
        with torch.no_grad():
            return start, float(s.expected_latency())

    (start, plain), (same, lat) = run("none"), run("add#linear")
    assert start == same  # one table, one initial α
    assert lat < start and lat < plain  # the latency term lowered the expected latency; CE alone did not do as much


def test_fbnets_architecture_loss_is_ce_times_alpha_log_latency_to_the_beta(digits):
    search = _search("fbnet", "nasbench201.nas", digits, epochs=3)
    assert [search.relaxation().tau] == [5.0]
    search.epoch = 2
    assert search.relaxation().tau == pytest.approx(5.0 * math.exp(-0.09))
    sup = search.supernet
    lv = search.loss(search.a_x[:8], search.a_y[:8])
    lat = search.expected_latency(sup.last_mixture)
    want = float((lv * 0.2 * torch.log(lat) ** 0.6).detach())
    assert float(search.arch_objective(lv).detach()) == pytest.approx(want, rel=1e-6)
    ms = _search("fbnet", "nasbench201.nas", digits, lat_unit="ms")
    with pytest.raises(DartsError, match="lat_unit=us"):  # a sub-millisecond latency has a negative log
        ms.arch_objective(ms.loss(ms.a_x[:8], ms.a_y[:8]))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", ["nasbench201.nas", "proxyless.nas", "ofa.nas"])
def test_each_hardware_method_searches_and_its_result_builds_and_trains(method, name, digits):
    from nasdsl.plugins import get_backend

    search = _search(method, name, digits)
    recs = search.run()
    assert [r["epoch"] for r in recs] == [1, 2] and all(r["expected_latency"] > 0 for r in recs)
    g = search.space.validate(search.derive())
    result = get_backend("torch")().train(search.space.realize(g, digits.input_shape), digits,
                                          {"epochs": 1, "max_steps": 2, "batch_size": 16})
    assert 0 <= result.metrics["valid_acc"] <= 1


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_resumed_hardware_search_continues_exactly_and_keeps_its_table(method, digits, tmp_path):
    space = _space("nasbench201.nas")
    path = str(save_table(measure_table(space, digits.input_shape, repeats=2, warmup=0), tmp_path / "t.json"))
    straight = _search(method, "nasbench201.nas", digits, epochs=3, latency_table=path)
    whole = straight.run()
    first = _search(method, "nasbench201.nas", digits, epochs=3, latency_table=path)
    part = [first.run_epoch()]
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    again = _search(method, "nasbench201.nas", digits, epochs=3, latency_table=path)
    again.load_state_dict(torch.load(buf, weights_only=True))
    rest = again.run()
    assert [r["genotype"] for r in part + rest] == [r["genotype"] for r in whole]
    assert [r["expected_latency"] for r in part + rest] == [r["expected_latency"] for r in whole]
    assert all(torch.equal(a, b) for a, b in zip(again.alphas, straight.alphas))
    measured = _search(method, "nasbench201.nas", digits)  # no table given: timed when it starts ...
    buf = io.BytesIO()
    torch.save(measured.state_dict(), buf)
    buf.seek(0)
    resumed = _search(method, "nasbench201.nas", digits)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert resumed.latency_table == measured.latency_table  # ... and a resumed run optimises the same numbers


def test_a_given_table_is_used_and_checked(tmp_path, digits):
    space = _space("nasbench201.nas")
    table = measure_table(space, digits.input_shape, repeats=2, warmup=0)
    path = save_table(table, tmp_path / "t.json")
    s = ProxylessSearch(space, digits, ProxylessConfig(**QUICK, latency_table=str(path)))
    assert s.latency_table == table
    other = save_table(measure_table(space, (1, 16, 16), repeats=2, warmup=0), tmp_path / "o.json")
    with pytest.raises(DartsError, match=r"measured at input \[1, 16, 16\]"):
        ProxylessSearch(space, digits, ProxylessConfig(**QUICK, latency_table=str(other)))
    with pytest.raises(DartsError, match="latency_loss is one of"):
        ProxylessConfig(latency_loss="mul")
    with pytest.raises(DartsError, match="mul#log .* lat_unit=us"):
        ProxylessSearch(space, digits, ProxylessConfig(**{**QUICK, "lat_unit": "ms"}))


def test_proxyless_and_fbnet_are_strategies_of_the_search_command(tmp_path):
    import subprocess
    import sys

    from nasdsl.store import Store

    from .conftest import ROOT

    for method in ("proxyless", "fbnet"):
        db = tmp_path / f"{method}.db"
        r = subprocess.run([sys.executable, "-m", "nasdsl", "search", str(SPACES_DIR / "proxyless.nas"), "-p",
                            "classes=10", "--strategy", method, "-S", "epochs=2", "-S", "max_steps=2", "-S",
                            "batch_size=16", "-S", "lat_unit=us", "-S", "warmup=0", "-E", "epochs=1", "-E",
                            "max_steps=2", "--store", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        with Store(db) as st:
            epochs = st.meta()["oneshot"]["epochs"]
            (trial,) = st.trials()
        assert len(epochs) == 2 and all(e["expected_latency"] > 0 for e in epochs)
        assert trial.status == "completed" and trial.genotype.values == epochs[-1]["genotype"]
