"""The one-shot torch supernet built from the supernet IR (plugins/nasdsl_plugins/torch_backend/supernet.py)."""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl_plugins.torch_backend.supernet import Softmax, Supernet, SupernetError, build_supernet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "spaces"

SMALL = {  # space file -> (params, input shape)
    "nasbench201.nas": ({"C": 4, "N": 1}, (3, 8, 8)),
    "darts.nas": ({"C": 4, "layers": 5}, (3, 8, 8)),
    "nasbench101.nas": ({"C": 8}, (3, 8, 8)),
    "ofa.nas": ({"classes": 10}, (3, 32, 32)),  # value choices on kernel and expansion: weight slicing
    "autoformer.nas": ({"W": 4}, (8, 5)),  # a shared width decision, heads and an expression (E * ratio)
    "pnas.nas": ({"C": 4, "N": 1}, (3, 8, 8)),
    "hierarchical.nas": ({"C": 4}, (3, 8, 8)),
    "proxyless.nas": ({"classes": 10}, (3, 32, 32)),
}


@functools.cache
def _space(name: str) -> Space:
    return Space.from_file(SPACES / name, params=SMALL[name][0])


@functools.cache
def _supernet(name: str) -> Supernet:
    torch.manual_seed(0)
    sup = build_supernet(_space(name), SMALL[name][1]).double().eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrongly copied buffer shows
        for m in sup.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return sup


def _x(name: str, n: int = 2) -> torch.Tensor:
    return torch.randn(n, *SMALL[name][1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("name", ["nasbench201.nas", "darts.nas", "nasbench101.nas", "ofa.nas", "autoformer.nas",
                                  "pnas.nas", "hierarchical.nas",
                                  pytest.param("proxyless.nas", marks=pytest.mark.slow)])  # wide 1x1 convs: ~100 s
def test_export_matches_active_child(name, count=20):
    space, sup, x = _space(name), _supernet(name), _x(name)
    rng = random.Random(7)
    try:
        for _ in range(count):
            g = space.sample(rng)
            sup.activate(g)
            with torch.no_grad():
                a = sup(x)
                b = sup.export(g).eval()(x)
            assert a.shape == b.shape == (2, 10)
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    finally:
        sup.activate(None)


def test_export_differs_from_untrained_child():
    """Guards the test above: a child built without the copied weights gives another output."""
    from nasdsl.plugins import get_backend

    name = "darts.nas"
    space, sup, x = _space(name), _supernet(name), _x(name)
    g = space.sample(random.Random(3))
    sup.activate(g)
    try:
        with torch.no_grad():
            a = sup(x)
            other = get_backend("torch")().build(space.realize(g, SMALL[name][1])).double().eval()(x)
    finally:
        sup.activate(None)
    assert not torch.allclose(a, other)


@pytest.mark.parametrize("name", ["nasbench201.nas", "darts.nas"])
def test_only_active_ops_run(name):
    space, sup, x = _space(name), _supernet(name), _x(name)
    modules = {id(sup.op_module(n)): sup.op_module(n) for n in sup.ir.nodes("op")}  # a slot's edge shares slot 0's
    called: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: called.append(k)) for k, m in modules.items()]
    try:
        for seed in range(2):
            g = space.sample(random.Random(seed))
            sel = sup.ir.select(g.values)
            chosen = [sel.origin[nd[0]] for nd in sel.nodes if nd[1] == "op"]
            called.clear()
            sup.activate(g)
            with torch.no_grad():
                sup(x)
            assert sorted(called) == sorted(id(sup.op_module(n)) for n in chosen)  # each child op once, nothing else
            assert len(set(called)) < len(modules) / 2
            # the active child's ops are the selected options: every chosen op lies on a selected branch
            for n in chosen:
                for p in sup.ir.graph.nodes[n]["path"]:
                    owner = sup.ir.graph.nodes[p[1]]
                    if p[0] == "opt":
                        assert owner["options"][p[2]] == g.values[owner["decision"]]
        sup.activate(None)
        called.clear()
        with torch.no_grad():
            sup(x)
        assert sorted(called) == sorted(modules)  # mixed mode runs every candidate op once
    finally:
        sup.activate(None)
        for h in hooks:
            h.remove()


def test_arch_parameters_one_per_decision_shared_across_uses():
    sup = _supernet("darts.nas")
    ir = sup.ir
    picks = [d for d in ir.choices() if d.endswith(".inputs")]
    assert len(sup.arch_parameters()) == len(picks) == 8  # the 4 nodes of the normal and of the reduction cell
    arch_ids = {id(p) for p in sup.arch_parameters()}
    weight_ids = {id(p) for p in sup.weights()}
    assert not arch_ids & weight_ids
    assert arch_ids | weight_ids == {id(p) for p in sup.parameters()}
    assert len(ir.choices()["darts_cell.n2.inputs"]) > 2  # the normal cell is used several times
    # DARTS' alpha: one row per candidate edge of a node, over the 7 ops (no 'none' unless asked for)
    assert sup.alpha("darts_cell.n2.inputs").shape == (2, 7) and sup.alpha("darts_cell.n5.inputs").shape == (5, 7)
    assert sup.alpha("reduce_cell.n2.inputs") is not sup.alpha("darts_cell.n2.inputs")
    with pytest.raises(KeyError):
        sup.alpha("darts_cell.n2.op0")  # a slot's op is decided by the edge it takes
    wide = build_supernet(_space("darts.nas"), SMALL["darts.nas"][1], add_none=True)
    assert wide.alpha("darts_cell.n3.inputs").shape == (3, 8)
    nb201 = build_supernet(_space("nasbench201.nas"), SMALL["nasbench201.nas"][1], add_none=True)
    assert nb201.alpha("nb201_cell.e0_1").shape == (5,)  # its op set has 'none' already
    # separate weights per use: the same option of the same edge in two cell copies
    ops = [n for n in ir.nodes("op") if n.endswith("n2.op0.sep_conv_3x3")]
    cells = {n.split(".")[0] + "." + n.split(".")[1] for n in ops}
    assert len(cells) >= 3
    w = [next(sup.op_module(n).parameters()) for n in ops]
    assert len({id(t) for t in w}) == len(w)
    assert len({t.data_ptr() for t in w}) == len(w)
    # within one use, slot 1 on an edge is the edge slot 0 takes: one set of weights
    for n in ops:
        twin = n.replace(".op0.", ".op1.", 1)
        assert twin in ir.graph and sup.op_module(twin) is sup.op_module(n)


def test_mixed_forward_backward_gives_finite_gradients():
    for name in ("nasbench201.nas", "darts.nas"):
        torch.manual_seed(0)
        sup = build_supernet(_space(name), SMALL[name][1]).train()
        x = torch.randn(2, *SMALL[name][1])
        loss = torch.nn.functional.cross_entropy(sup(x), torch.tensor([0, 1]))
        loss.backward()
        for p in sup.arch_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all()
        assert all(p.grad.abs().sum() > 0 for p in sup.arch_parameters())
        grads = [p.grad for p in sup.weights() if p.grad is not None]
        assert len(grads) > 0.9 * len(sup.weights())
        assert all(torch.isfinite(g).all() for g in grads)


def _favour(sup, space, target: dict) -> None:
    """Set a DARTS supernet's edge tables so the target genotype's edges and ops weigh most."""
    with torch.no_grad():
        for dec in sup._alpha:
            table, d = sup.alpha(dec), space.decisions[dec]
            table.fill_(-5.0)
            ops = sup._edge_ops[dec]
            for s, c in enumerate(target[dec]):
                table[d.candidates.index(c), ops.index(target[d.each[s]])] = 5.0


def test_derive_follows_the_alphas():
    name = "darts.nas"
    space = _space(name)
    torch.manual_seed(0)
    sup = build_supernet(space, SMALL[name][1], add_none=True)
    space.validate(sup.derive())
    for seed in (11, 12, 13):
        target = space.sample(random.Random(seed)).values
        _favour(sup, space, target)
        got = sup.derive()
        assert space.validate(got).values == got
        assert got == target
    # the DARTS rule never derives 'none': an edge whose zero op weighs most still ranks by its best real op
    with torch.no_grad():
        table = sup.alpha("darts_cell.n3.inputs")
        picked = [space.decisions["darts_cell.n3.inputs"].candidates.index(c) for c in target["darts_cell.n3.inputs"]]
        table[picked[0], -1] = 50.0  # the 'none' column
    again = sup.derive()
    dropped, kept = target["darts_cell.n3.inputs"]
    assert dropped not in again["darts_cell.n3.inputs"] and kept in again["darts_cell.n3.inputs"]
    assert "none" not in {v for k, v in again.items() if ".op" in k}


def test_derive_on_nasbench201_and_nasbench101():
    for name in ("nasbench201.nas", "nasbench101.nas"):
        space = _space(name)
        sup = build_supernet(space, SMALL[name][1])
        target = space.sample(random.Random(5)).values
        with torch.no_grad():
            for dec in sup._alpha:
                a, opts = sup.alpha(dec), sup._options[dec]
                a.fill_(-5.0)
                v = target[dec]
                for item in (v if isinstance(v, list) else [v]):
                    a[opts.index(item)] = 5.0
        got = sup.derive()
        assert space.validate(got).values == got
        assert {d: got[d] for d in sup._alpha} == {d: target[d] for d in sup._alpha}


def _refusal(name: str, params=None):
    space = Space.from_file(SPACES / name, params=params)
    with pytest.raises(SupernetError) as err:
        build_supernet(space)
    msg = str(err.value)
    m = re.search(r"spaces/" + re.escape(name) + r":(\d+):(\d+)", msg)
    assert m, msg
    return msg, int(m.group(1)), int(m.group(2))


def test_refuses_value_choices_that_are_not_a_slice_of_the_largest():
    from nasdsl_plugins.torch_backend.supernet import check_supernet

    text = """
ops mixed = [skip_connect, conv_bn_relu(8, k = {3, 5})]
network net(classes = 10) {
    input [8, 8, 8]
    a = mixed
    b = conv_bn_relu(8, k = 3, stride = {1, 2})
    return global_avg_pool -> linear(classes)
}
"""
    space = Space.from_text(text, file="v.nas")
    with pytest.raises(SupernetError) as err:  # stride 1 gives a larger output than the largest value, 2
        check_supernet(space)
    msg = str(err.value)
    assert "v.nas:6:9" in msg and "stride <- net.b.stride" in msg and "larger output at net.b.stride = 1" in msg
    with pytest.raises(SupernetError) as err:  # PC-DARTS builds the choice's ops for 1/K of the channels
        check_supernet(space, partial=2)
    msg = str(err.value)
    assert "v.nas:2:28" in msg and "k <- net.a.op[1].k" in msg and "partial-channel choice (K=2)" in msg


def test_refuses_merge_alignment():
    msg, line, _ = _refusal("enas_macro.nas", {"C": 4, "layers": 6})
    assert "spatial alignment" in msg and "sum" in msg
    assert "sum(" in (SPACES / "enas_macro.nas").read_text().splitlines()[line - 1]


def test_refuses_leaves_of():
    msg, line, _ = _refusal("nasnet.nas")
    assert "'leaves of'" in msg
    assert "leaves" in (SPACES / "nasnet.nas").read_text().splitlines()[line - 1]


def test_refuses_options_of_different_shapes():
    text = """
ops mixed = [conv_3x3(8), conv_3x3(4)]
network net(classes = 10) {
    input [3, 8, 8]
    a = mixed
    return global_avg_pool -> linear(classes)
}
"""
    space = Space.from_text(text, file="mixed.nas")
    with pytest.raises(SupernetError) as err:
        build_supernet(space)
    msg = str(err.value)
    assert "op choice 'net.a'" in msg or "op choice '" in msg
    assert "mixed.nas:5:" in msg and "cannot be summed" in msg


def test_checking_a_space_builds_no_weights_and_refuses_alike():
    from nasdsl_plugins.torch_backend.supernet import check_supernet

    dry = Supernet(_space("darts.nas"), SMALL["darts.nas"][1], weights=False)
    assert len(dry.ops) == 0 and len(dry.arch_parameters()) == 8  # the decisions are there, no op module
    check_supernet(_space("nasbench201.nas"))
    space = Space.from_file(SPACES / "nasnet.nas")
    with pytest.raises(SupernetError) as built:
        build_supernet(space)
    with pytest.raises(SupernetError) as checked:
        check_supernet(space)
    assert str(checked.value) == str(built.value)


# ---------------------------------------------------------------- weight slicing (value choices on op arguments)
def test_a_smaller_kernel_is_the_centre_and_fewer_channels_the_prefix():
    from nasdsl_plugins.torch_backend.slicing import Slicer

    torch.manual_seed(0)
    full = torch.nn.Conv2d(6, 16, 7, padding=3).double()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    with torch.device("meta"):
        child = torch.nn.Conv2d(4, 8, 3, padding=1)
    sl = Slicer(full, child)
    want = torch.nn.functional.conv2d(x, full.weight[:8, :4, 2:5, 2:5], full.bias[:8], padding=1)
    assert torch.allclose(sl(full, x), want, rtol=0, atol=1e-12)
    # a view: gradients reach the large op's weights, on the slice only
    sl(full, x).sum().backward()
    g = full.weight.grad
    assert g[:8, :4, 2:5, 2:5].abs().sum() > 0
    assert float(g.abs().sum()) == float(g[:8, :4, 2:5, 2:5].abs().sum())
    assert sl.param_count() == 8 * 4 * 9 + 8


def test_norm_statistics_of_a_narrower_child_update_the_prefix_in_place():
    from nasdsl_plugins.torch_backend.slicing import Slicer

    full = torch.nn.BatchNorm2d(8).train()
    with torch.device("meta"):
        child = torch.nn.BatchNorm2d(3)
    sl = Slicer(full, child)
    x = torch.randn(4, 3, 5, 5) + 2.0
    sl(full, x)
    assert torch.allclose(full.running_mean[:3], 0.1 * x.mean((0, 2, 3)), atol=1e-6)
    assert torch.equal(full.running_mean[3:], torch.zeros(5)) and int(full.num_batches_tracked) == 1


def test_attention_keeps_the_prefix_of_each_of_q_k_v():
    from nasdsl_plugins.torch_backend.ops import SelfAttention
    from nasdsl_plugins.torch_backend.slicing import Slicer

    torch.manual_seed(0)
    full = SelfAttention(12, 12, 4)
    with torch.device("meta"):
        child = SelfAttention(8, 8, 2)
    state = Slicer(full, child).state(full)
    w = full.qkv.weight
    assert torch.equal(state["qkv.weight"], torch.cat([w[0:8, :8], w[12:20, :8], w[24:32, :8]]))
    assert torch.equal(state["qkv.bias"], torch.cat([full.qkv.bias[i:i + 8] for i in (0, 12, 24)]))
    real = SelfAttention(8, 8, 2)  # the op the backend builds for the child, with those weights in
    real.load_state_dict(state)
    x = torch.randn(2, 5, 8)
    assert torch.allclose(Slicer(full, child)(full, x), real(x), atol=1e-6)


def test_slicing_refuses_what_is_not_a_slice():
    from nasdsl_plugins.torch_backend.slicing import SliceError, Slicer

    full = torch.nn.Conv2d(4, 8, 5)
    with torch.device("meta"):
        other, flat = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3)), torch.nn.Linear(4, 8)
        larger, even = torch.nn.Conv2d(4, 16, 3), torch.nn.Conv2d(4, 8, 4)
    with pytest.raises(SliceError, match=r"differ in structure \(only the smaller has 0.bias, 0.weight"):
        Slicer(full, other)
    with pytest.raises(SliceError, match="'weight' has rank 2 in the smaller op and 4 in the larger"):
        Slicer(full, flat)
    with pytest.raises(SliceError, match="larger in the smaller op"):
        Slicer(full, larger)
    with pytest.raises(SliceError, match="not a centred crop"):
        Slicer(full, even)


@pytest.mark.parametrize("name", ["ofa.nas", "autoformer.nas"])
def test_value_choices_get_logits_and_gradients_in_mixed_mode(name):
    torch.manual_seed(0)
    space = _space(name)
    sup = build_supernet(space, SMALL[name][1]).double().train()
    values = [d for d, k in sup._kind.items() if k == "value"]
    assert values and all(len(sup.alpha(d)) == len(space.decisions[d].options) for d in values)
    x = torch.randn(3, *SMALL[name][1], dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(sup(x), torch.tensor([0, 1, 2]))
    loss.backward()
    # a kernel choice on maps of at most 2x2 (OFA's last stages at 32x32) cannot matter: every centred crop of
    # 3 or more sees the whole map, so its logits get no gradient (up to rounding); every other decision's get some
    inert = {d for d in values if d.endswith(".k") and all(
        max(sup._shape(sup.ir.graph.nodes[n]["inp"])[1:]) <= 2 for n, (decs, _) in sup._elastic.items() if d in decs)}
    assert (name == "ofa.nas") == bool(inert)
    for d in sup._alpha:
        grad = sup.alpha(d).grad
        assert grad is not None and torch.isfinite(grad).all()
        assert (float(grad.abs().max()) < 1e-12) == (d in inert), (d, grad)  # zero up to rounding
    # one weight per op at the largest values: the supernet holds fewer weights than its children together
    assert sum(p.numel() for p in sup.weights()) == sum(
        p.numel() for k, m in sup.ops.items() for p in m.parameters())
    got = sup.derive()
    assert space.validate(got).values == got


def _sampled(sup, space) -> dict:
    """The genotype a hard sample of every decision (``sup.last_mixture``) stands for."""
    values = dict(space.default().values)
    for dec, (_, on) in sup.last_mixture.items():
        values[dec] = sup._options[dec][on.index(True)]
    return dict(space.validate(values).values)


def test_a_hard_sample_computes_one_combination_and_is_its_child(monkeypatch):
    """GDAS' relaxation on OFA (kernel, expansion and depth sampled): the mixed forward computes, per op with value
    choices, only the sampled combination, and gives exactly the output of the child those samples make."""
    from nasdsl_plugins.oneshot.relax import Gumbel
    from nasdsl_plugins.torch_backend import slicing

    name = "ofa.nas"
    space, sup, x = _space(name), _supernet(name), _x(name)
    calls: list[str] = []
    real = slicing.Slicer.__call__
    owner = {id(sl): n for n, (_, combos) in sup._elastic.items() for _, sl in combos if sl is not None}
    monkeypatch.setattr(slicing.Slicer, "__call__", lambda self, full, t: (calls.append(owner[id(self)]),
                                                                          real(self, full, t))[1])
    hooks = [sup.op_module(n).register_forward_hook(lambda m, i, o, n=n: calls.append(n)) for n in sup._elastic]
    try:
        with torch.no_grad():
            sup(x)
            assert sorted(calls) == sorted(n for n, (_, c) in sup._elastic.items() for _ in c)  # softmax: all 9 each
            sup.relax = Gumbel(1.0, hard=True)
            for seed in range(3):
                torch.manual_seed(seed)
                calls.clear()
                mixed = sup(x)
                dead = sup._dead(sup.last_mixture)
                assert sorted(calls) == sorted(n for n in sup._elastic if n not in dead)  # each live op: one
                g = _sampled(sup, space)
                sup.activate(g)
                assert torch.allclose(mixed, sup(x), rtol=1e-10, atol=1e-12)
                sup.activate(None)
    finally:
        sup.relax = Softmax()
        sup.activate(None)
        for h in hooks:
            h.remove()


def test_a_sliced_child_trains_the_shared_weights():
    name = "autoformer.nas"
    space = _space(name)
    torch.manual_seed(0)
    sup = build_supernet(space, SMALL[name][1]).train()
    g = dict(space.sample(random.Random(5)).values)
    g["autoformer.embed"] = min(space.decisions["autoformer.embed"].options)  # the narrowest: every op sliced
    sup.activate(g)
    before = {k: p.detach().clone() for k, p in sup.ops.named_parameters()}
    opt = torch.optim.SGD(sup.weights(), lr=0.1)
    x = torch.randn(4, *SMALL[name][1])
    torch.nn.functional.cross_entropy(sup(x), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    changed = {k for k, p in sup.ops.named_parameters() if not torch.equal(p.detach(), before[k])}
    tok = next(k for k in before if k.endswith(".weight") and "tokens" in k)
    assert tok in changed
    w, w0 = dict(sup.ops.named_parameters())[tok].detach(), before[tok]
    E = g["autoformer.embed"]
    assert not torch.equal(w[:E], w0[:E]) and torch.equal(w[E:], w0[E:])  # only the child's rows moved
    sup.activate(None)
    export = sup.export(g).train()
    assert sum(p.numel() for p in export.parameters()) < sum(p.numel() for p in sup.weights())


# what the supernet cannot hold in each reference space, and why (everything else builds and trains)
REFUSED = {
    "enas_macro.nas": "merges feature maps of different sizes (spatial alignment",
    "enas_micro.nas": "'leaves of'",
    "nasnet.nas": "'leaves of'",
    "genetic_cnn.nas": "whose output shapes disagree",
    "nasbench_graph.nas": "has no PyTorch implementation",
}


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.nas")), ids=lambda p: p.name)
def test_every_reference_space_builds_a_supernet_that_trains_or_is_refused_by_name(path):
    from .test_torch_backend import SMALL as BACKEND_SMALL

    params, shape = BACKEND_SMALL.get(path.name, ({}, None))
    space = Space.from_file(path, params=params)
    if path.name in REFUSED:
        with pytest.raises(SupernetError) as err:
            build_supernet(space, shape)
        msg = str(err.value)
        assert REFUSED[path.name] in msg and re.search(re.escape(path.name) + r":\d+:\d+", msg), msg
        return
    torch.manual_seed(0)
    sup = build_supernet(space, shape).train()
    x = torch.randn(2, *sup.ir.graph.nodes[sup.ir.nodes("input")[0]]["shape"])
    out = sup(x)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert sup.arch_parameters() and all(p.grad is not None and torch.isfinite(p.grad).all()
                                         for p in sup.arch_parameters())
    got = sup.derive()
    assert space.validate(got).values == got
