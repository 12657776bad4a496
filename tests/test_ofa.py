"""Once-for-All on the elastic supernet of ``spaces/ofa.nas``: progressive shrinking, distillation, export."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.datasets import load_dataset  # noqa: E402
from nasdsl_plugins.oneshot.config import DartsError, OfaConfig  # noqa: E402
from nasdsl_plugins.oneshot.ofa import OfaSearch  # noqa: E402
from nasdsl_plugins.oneshot.sampling import recalibrate_bn  # noqa: E402

from .conftest import SPACES_DIR  # noqa: E402

QUICK = {"epochs": 1, "kernel_epochs": 1, "depth_epochs": 1, "width_epochs": 1, "max_steps": 2, "batch_size": 16,
         "bn_batches": 2, "population": 3, "parents": 2, "mutations": 1, "crossovers": 1, "generations": 1}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def space():
    return Space.from_file(SPACES_DIR / "ofa.nas", params={"classes": 10})


def _search(space, data, **cfg) -> OfaSearch:
    return OfaSearch(space, data, OfaConfig(**{**QUICK, **cfg}))


def test_progressive_shrinking_widens_the_elastic_dimensions_phase_by_phase(space, digits):
    s = _search(space, digits)
    kernel, depth, width = s.dims["kernel"], s.dims["depth"], s.dims["width"]
    assert len(kernel) == len(width) == 20 and len(depth) == 5  # every layer's k and e, every stage's depth
    assert all(d.endswith(".k") for d in kernel) and all(d.endswith(".e") for d in width)
    top = {d: max(space.decisions[d].values()) for d in kernel | depth | width}

    def varied(children, dims) -> set:
        return {d for d in dims if any(c[d] != top[d] for c in children if space._active(space.decisions[d], c))}

    seen = {}
    for epoch, (phase, n) in enumerate([("full", 1), ("kernel", 1), ("depth", 2), ("width", 4)]):
        s.epoch = epoch
        assert s.phase() == (phase, n)
        kids = [c for _ in range(20) for c in s.paths()]
        assert len(kids) == 20 * n  # n children per step
        seen[phase] = (varied(kids, kernel), varied(kids, depth), varied(kids, width))
    assert seen["full"] == (set(), set(), set())  # the full network only
    assert seen["kernel"][0] and not seen["kernel"][1] and not seen["kernel"][2]
    assert seen["depth"][0] and seen["depth"][1] and not seen["depth"][2]
    assert all(seen["width"])


def test_children_after_the_full_phase_are_distilled_from_a_frozen_full_network(space, digits):
    s = _search(space, digits)
    s.run_epoch()  # the full network
    assert s.teacher is None
    s.run_epoch()  # the kernel phase: the teacher is the full network as it was
    t = s.teacher
    assert t is not None and not t.training and all(not p.requires_grad for p in t.parameters())
    before = [p.clone() for p in t.parameters()]
    x, y = s.w_x[:8], s.w_y[:8]
    child = s.paths()[0]
    s.supernet.activate(child)
    s.supernet.train()
    with torch.random.fork_rng():
        loss = float(s.loss(x, y).detach())
        out = s.supernet(x)
    ce = torch.nn.functional.cross_entropy(out, y)
    soft = torch.softmax(t(x), -1)
    kd = -(soft * torch.log_softmax(out, -1)).sum(-1).mean()
    assert loss == pytest.approx(float((ce + s.config.kd_ratio * kd).detach()), rel=1e-5)
    s.supernet.activate(None)
    s.step(x, y)
    assert all(torch.equal(p, b) for p, b in zip(t.parameters(), before))  # the teacher never trains
    plain = _search(space, digits, kd_ratio=0.0)
    plain.run_epoch()
    plain.run_epoch()
    assert plain.teacher is None


def test_a_sub_network_exported_with_its_weights_computes_what_the_elastic_supernet_does(space, digits):
    s = _search(space, digits)
    s.run_epoch()
    s.run_epoch()
    sup = s.supernet
    x = s.a_x[:32]
    for seed in range(3):
        child = s.largest(space.sample(seed).values, s.elastic("width"))
        sup.activate(child)
        recalibrate_bn(sup, s.bn_batches())
        sup.eval()
        with torch.no_grad():
            ref = sup(x)
        model = sup.export(child)
        sup.activate(None)
        sup.train()
        model.eval()
        with torch.no_grad():
            assert torch.allclose(model(x), ref, atol=1e-5)


def test_ofa_searches_resumes_exactly_and_its_result_builds_and_trains(space, digits):
    from nasdsl.plugins import get_backend

    straight = _search(space, digits)
    whole = straight.run()
    assert [r.get("stage") for r in whole] == ["full", "kernel", "depth", "width", None]
    assert [r["phase"] for r in whole] == ["train"] * 4 + ["search"]
    first = _search(space, digits)
    part = [first.run_epoch(), first.run_epoch()]  # into the kernel phase: the teacher is in the checkpoint
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    again = _search(space, digits)
    again.load_state_dict(torch.load(buf, weights_only=True))
    assert again.teacher is not None
    rest = again.run()
    assert [r["genotype"] for r in part + rest] == [r["genotype"] for r in whole]
    assert [r["supernet_acc"] for r in part + rest] == [r["supernet_acc"] for r in whole]
    g = space.validate(again.derive())
    assert g.values == straight.derive()
    result = get_backend("torch")().train(space.realize(g, digits.input_shape), digits,
                                          {"epochs": 1, "max_steps": 2, "batch_size": 16})
    assert 0 <= result.metrics["valid_acc"] <= 1


def test_ofa_refuses_a_space_with_nothing_elastic(digits):
    nb201 = Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1})
    with pytest.raises(DartsError, match="no value choice on an op's arguments and no depth choice"):
        _search(nb201, digits)
