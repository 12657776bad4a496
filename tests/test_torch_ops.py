"""The PyTorch op implementations: shapes agree with the language's shape rules, gradients flow,
DARTS parameter counts are exact, and every module scripts (TorchScript) and exports (ONNX)."""

from __future__ import annotations

import io
import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from nasdsl import primitives  # noqa: E402
from nasdsl_plugins.torch_backend import ops  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are tiny: one intra-op thread is many times faster than a pool (on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

IMAGES = [(4, 7, 7), (4, 8, 8), (4, 1, 9)]
FLAT = [(4,)]
SEQ = [(8, 6), (3, 4), (1, 2)]  # sequences: [tokens, dim]

# per base op: the argument combinations to try and the input shapes they apply to
_CONV_ARGS = [{}, {"stride": 2}, {"channels": 6}, {"channels": 6, "stride": 2}]
OP_CASES: dict[str, tuple[list[dict[str, Any]], list[tuple[int, ...]]]] = {
    "conv": (_CONV_ARGS + [{"k": 1, "stride": 2}, {"k": 4}, {"k": 4, "stride": 2}, {"k": 5, "dilation": 2},
                           {"channels": 6, "groups": 2, "stride": 2}, {"k": 3, "dilation": 3, "stride": 3},
                           {"kh": 3, "kw": 5}, {"kh": 1, "kw": 4, "stride": 2}, {"kh": 2, "kw": 3, "channels": 6},
                           {"k": 5, "kw": 1, "dilation": 2}, {"kh": 3, "kw": 1, "stride": 2, "channels": 6}], IMAGES),
    "conv_bn_relu": (_CONV_ARGS + [{"k": 5, "stride": 2}, {"k": 2}], IMAGES),
    "relu_conv_bn": (_CONV_ARGS + [{"k": 3}, {"k": 3, "stride": 2, "channels": 8}], IMAGES),
    "sep_conv": (_CONV_ARGS + [{"k": 5}, {"k": 7, "stride": 2}, {"k": 2, "stride": 1}], IMAGES),
    "dil_conv": (_CONV_ARGS + [{"k": 5}, {"k": 5, "stride": 2}, {"k": 2, "dilation": 3}], IMAGES),
    "dw_conv": ([{}, {"stride": 2}, {"k": 5}, {"k": 4, "stride": 2}], IMAGES),
    "conv_7x1_1x7": (_CONV_ARGS, IMAGES),
    "conv_3x1_1x3": (_CONV_ARGS, IMAGES),
    "enas_conv": (_CONV_ARGS + [{"k": 5, "stride": 2}], IMAGES),
    "enas_sep_conv": (_CONV_ARGS + [{"k": 5, "stride": 2}], IMAGES),
    "mbconv": (_CONV_ARGS + [{"e": 1}, {"e": 1, "stride": 2, "channels": 6}, {"k": 5, "e": 3}], IMAGES),
    "resnet_block": ([{}, {"stride": 1}, {"stride": 1, "channels": 6}, {"channels": 8}, {"stride": 3}], IMAGES),
    "max_pool": ([{}, {"stride": 2}, {"k": 2}, {"k": 2, "stride": 2}, {"k": 5, "stride": 2}, {"k": 7}], IMAGES),
    "avg_pool": ([{}, {"stride": 2}, {"k": 2}, {"k": 2, "stride": 2}, {"k": 4, "stride": 3}], IMAGES),
    "factorized_reduce": ([{}, {"channels": 6}, {"channels": 2}], IMAGES),
    "skip_connect": ([{}], IMAGES + FLAT),
    "none": ([{}, {"stride": 2}, {"channels": 6}, {"channels": 6, "stride": 2}], IMAGES),
    "batchnorm": ([{}], IMAGES + FLAT),
    "relu": ([{}], IMAGES + FLAT),
    "dropout": ([{}, {"p": 0.5}], IMAGES + FLAT),
    "global_avg_pool": ([{}], IMAGES),
    "flatten": ([{}], IMAGES + FLAT),
    "linear": ([{"out": 3}, {"out": 1}], FLAT + SEQ),
    "gelu": ([{}], IMAGES + FLAT + SEQ),
    "tanh": ([{}], IMAGES + FLAT + SEQ),
    "sigmoid": ([{}], IMAGES + FLAT + SEQ),
    "layernorm": ([{}], IMAGES + FLAT + SEQ),
    "se": ([{}, {"ratio": 2}, {"ratio": 16}], IMAGES),
    "channel_shuffle": ([{}, {"groups": 4}], IMAGES + FLAT),
    "tokens": ([{"dim": 3}, {"dim": 6}], SEQ + IMAGES),
    "multihead_attention": ([{}, {"heads": 2}, {"heads": 3, "dim": 6}], SEQ),
    "mlp": ([{"hidden": 7}, {"hidden": 3, "out": 5}], FLAT + SEQ),
    "seq_mean_pool": ([{}], SEQ),
}
EXTRA_CASES = [
    ("skip_connect", {"stride": 2}, (4, 7, 7)),  # a strided skip is a factorized_reduce, as in DARTS
    ("skip_connect", {"stride": 2}, (4, 8, 8)),
    ("none", {"channels": 6}, (4,)),
    ("tokens", {"dim": 5, "patch": 2}, (4, 8, 8)),  # a 2x2 patch embedding: 16 tokens
    ("tokens", {"dim": 5, "patch": 3}, (4, 3, 9)),
    ("conv", {"groups": 4, "k": 1, "channels": 8}, (4, 7, 7)),  # group_conv_1x1
]


def resolve(name: str, kwargs: dict[str, Any], in_shape: tuple[int, ...]) -> tuple[primitives.Primitive, dict]:
    """Arguments as the compiler hands them to a backend: bound, with ``channels`` resolved to an int."""
    prim = primitives.get(name)
    assert prim is not None
    args = primitives.bind(prim, [], kwargs)
    if args.get("channels") == primitives.SAME:
        args["channels"] = in_shape[0]
    return prim, args


def _cases() -> list[Any]:
    out = []
    for name, (arg_sets, shapes) in OP_CASES.items():
        for kwargs in arg_sets:
            for shape in shapes:
                out.append(pytest.param(name, kwargs, shape, id=f"{name}-{_id(kwargs)}-{'x'.join(map(str, shape))}"))
    for name, kwargs, shape in EXTRA_CASES:
        out.append(pytest.param(name, kwargs, shape, id=f"{name}-{_id(kwargs)}-{'x'.join(map(str, shape))}"))
    return out


def _id(kwargs: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "default"


CASES = _cases()


def build(name: str, kwargs: dict[str, Any], in_shape: tuple[int, ...]) -> tuple[nn.Module, tuple[int, ...]]:
    """The module and the output shape the language infers for it."""
    prim, args = resolve(name, kwargs, in_shape)
    expected = primitives.infer(prim, args, in_shape)
    return ops.FACTORIES[name](args, in_shape), expected


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------- coverage


def test_factories_cover_exactly_the_core_base_ops():
    core = primitives.core_primitives().values()
    assert set(ops.FACTORIES) == {p.canonical for p in core}
    # every alias (sep_conv_3x3, max_pool_3x3, identity, group_conv_1x1, ...) resolves to a base op with a factory
    for p in core:
        assert p.canonical in ops.FACTORIES, p.name
    # the ops plugins declare (NAS-Bench-Graph's GNN layers) have no implementation here
    from_plugins = {p.canonical for p in primitives.all_primitives().values() if p.origin != primitives.CORE}
    assert {"gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc"} <= from_plugins
    assert not set(ops.FACTORIES) & from_plugins


def test_the_cases_exercise_every_factory():
    assert set(OP_CASES) == set(ops.FACTORIES)


def test_register_all_registers_every_factory_for_torch():
    calls: list[tuple[str, Any, dict[str, Any]]] = []

    def register(name: str, obj: Any, **meta: Any) -> None:
        calls.append((name, obj, meta))

    ops.register_all(register)
    assert {name for name, _, _ in calls} == set(ops.FACTORIES)
    assert len(calls) == len(ops.FACTORIES)
    for name, obj, meta in calls:
        assert obj is ops.FACTORIES[name]
        assert meta == {"backend": "torch"}


# ----------------------------------------------------------------------------- shapes and gradients


@pytest.mark.parametrize("name,kwargs,in_shape", CASES)
def test_shape_matches_inference_and_gradients_flow(name, kwargs, in_shape):
    torch.manual_seed(0)
    module, expected = build(name, kwargs, in_shape)
    module.train()
    x = torch.randn(2, *in_shape, requires_grad=True)
    y = module(x)
    assert tuple(y.shape) == (2, *expected), f"{name}{kwargs} on {in_shape}: got {tuple(y.shape)[1:]}, language says {expected}"
    assert torch.isfinite(y).all()
    # a random projection: a plain sum would give zero gradients behind a batch norm
    loss = (y * torch.randn_like(y)).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        assert p.grad is not None, f"no gradient reaches a parameter of shape {tuple(p.shape)}"
        assert torch.isfinite(p.grad).all()
    if params:
        assert any(p.grad.abs().sum() > 0 for p in params)


@pytest.mark.parametrize("name,kwargs,in_shape", [c for c in CASES if c.values[2] == (4, 7, 7)],
)
def test_eval_mode_shapes_match_too(name, kwargs, in_shape):
    module, expected = build(name, kwargs, in_shape)
    with torch.no_grad():
        y = module.eval()(torch.randn(3, *in_shape))
    assert tuple(y.shape) == (3, *expected)


def test_zero_op_gives_zeros():
    module, expected = build("none", {"channels": 6, "stride": 2}, (4, 7, 7))
    y = module(torch.randn(2, 4, 7, 7))
    assert tuple(y.shape) == (2, *expected) == (2, 6, 4, 4)
    assert (y == 0).all()
    y = ops.FACTORIES["none"]({"stride": 1}, (4, 5, 5))(torch.randn(2, 4, 5, 5))
    assert (y == 0).all() and tuple(y.shape) == (2, 4, 5, 5)


def test_skip_connect_is_the_identity():
    x = torch.randn(2, 4, 7, 7)
    m = ops.FACTORIES["skip_connect"]({"stride": 1}, (4, 7, 7))
    assert n_params(m) == 0
    assert torch.equal(m(x), x)


def test_avg_pool_does_not_count_padding():
    # on a map of ones every window averages to exactly 1 when padding is excluded
    x = torch.ones(1, 2, 7, 7)
    for k, s in ((3, 1), (3, 2), (2, 1), (2, 2), (4, 3)):
        m = ops.FACTORIES["avg_pool"]({"k": k, "stride": s}, (2, 7, 7))
        assert torch.allclose(m(x), torch.ones_like(m(x))), (k, s)


def test_even_max_pool_never_returns_padding():
    x = -torch.rand(1, 2, 5, 5) - 1  # all negative: a zero pad would show up as a 0 maximum
    for s in (1, 2):
        y = ops.FACTORIES["max_pool"]({"k": 2, "stride": s}, (2, 5, 5))(x)
        assert (y < -0.5).all()


def test_factorized_reduce_matches_the_darts_shift_on_even_sizes():
    torch.manual_seed(0)
    m = ops.FACTORIES["factorized_reduce"]({"channels": 8}, (4, 8, 8)).eval()
    x = torch.randn(2, 4, 8, 8)
    r = torch.relu(x)
    ref = m.bn(torch.cat([m.conv_1(r), m.conv_2(r[:, :, 1:, 1:])], dim=1))
    assert torch.allclose(m(x), ref)


# ----------------------------------------------------------------------------- errors in words


def test_factorized_reduce_needs_even_channels():
    with pytest.raises(ValueError, match="even number of output channels"):
        ops.FACTORIES["factorized_reduce"]({"channels": 5}, (4, 8, 8))
    with pytest.raises(ValueError, match="even"):
        ops.FACTORIES["skip_connect"]({"stride": 2}, (3, 8, 8))


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        ops.FACTORIES["sep_conv"]({"channels": 4, "k": 3, "stride": 1}, (4,))
    with pytest.raises(ValueError, match="flat"):
        ops.FACTORIES["linear"]({"out": 3}, (4, 7, 7))
    with pytest.raises(ValueError, match="keeps its channels"):
        ops.FACTORIES["dw_conv"]({"channels": 6, "k": 3, "stride": 1}, (4, 7, 7))
    with pytest.raises(ValueError, match="groups"):
        ops.FACTORIES["conv"]({"channels": 6, "k": 3, "stride": 1, "dilation": 1, "groups": 4}, (4, 7, 7))
    with pytest.raises(ValueError, match="stride"):
        ops.FACTORIES["skip_connect"]({"stride": 3}, (4, 9, 9))
    with pytest.raises(ValueError, match=r"flat \[C\] input or a sequence"):
        ops.FACTORIES["linear"]({"out": 3}, (2, 4, 7, 7))
    with pytest.raises(ValueError, match=r"op 'multihead_attention' needs a \[T, D\] input; got \[4, 7, 7\]"):
        ops.FACTORIES["multihead_attention"]({"heads": 1, "dim": "same"}, (4, 7, 7))
    with pytest.raises(ValueError, match="dim 6 is not divisible by heads=4"):
        ops.FACTORIES["multihead_attention"]({"heads": 4, "dim": "same"}, (8, 6))
    with pytest.raises(ValueError, match=r"op 'seq_mean_pool' needs a \[T, D\] input"):
        ops.FACTORIES["seq_mean_pool"]({}, (4,))
    with pytest.raises(ValueError, match=r"op 'mlp' needs a \[C\] or \[T, D\] input"):
        ops.FACTORIES["mlp"]({"hidden": 4, "out": "same"}, (4, 7, 7))
    with pytest.raises(ValueError, match=r"op 'se' needs a \[C, H, W\] input"):
        ops.FACTORIES["se"]({"ratio": 4}, (8, 6))
    with pytest.raises(ValueError, match="groups=3 must divide the channels"):
        ops.FACTORIES["channel_shuffle"]({"groups": 3}, (4, 7, 7))
    with pytest.raises(ValueError, match="patch=3 must divide"):
        ops.FACTORIES["tokens"]({"dim": 4, "patch": 3}, (4, 8, 8))
    with pytest.raises(ValueError, match="groups=4 must divide"):
        ops.FACTORIES["conv"]({"channels": 8, "k": 1, "groups": 4}, (6, 7, 7))


# ----------------------------------------------------------------------------- the newer ops, checked against references


def test_rectangular_conv_has_a_kh_by_kw_kernel():
    m, expected = build("conv", {"channels": 32, "kh": 3, "kw": 5}, (16, 8, 8))
    conv = [c for c in m.modules() if isinstance(c, nn.Conv2d)][0]
    assert conv.kernel_size == (3, 5) and n_params(m) == 16 * 32 * 15
    assert expected == (32, 8, 8)
    m, _ = build("conv", {"kh": 2, "kw": 3}, (4, 5, 5))  # even height: one more row of zeros below
    assert isinstance(m[0], nn.ZeroPad2d) and m[0].padding == (1, 1, 0, 1)
    # the square form is exactly the old module (same structure, so old checkpoints load)
    square, _ = build("conv", {"k": 3}, (4, 5, 5))
    assert isinstance(square, nn.Conv2d) and square.padding == (1, 1) and square.kernel_size == (3, 3)
    # kh given alone keeps kw = k: an equal-sided kh x k kernel is the square conv
    m, _ = build("conv", {"k": 3, "kh": 3}, (4, 5, 5))
    assert isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)


def test_group_conv_1x1_parameters():
    prim = primitives.get("group_conv_1x1")
    args = primitives.bind(prim, [32, 4], {})
    m = ops.FACTORIES[prim.canonical](args, (16, 8, 8))
    assert n_params(m) == (16 // 4) * 32 and m.groups == 4 and m.kernel_size == (1, 1)


def test_layernorm_normalises_the_right_dimension():
    torch.manual_seed(0)
    seq = ops.FACTORIES["layernorm"]({}, (8, 6))
    x = torch.randn(2, 8, 6) * 5 + 3
    y = seq(x)
    assert torch.allclose(y.mean(-1), torch.zeros(2, 8), atol=1e-5)  # each token over its 6 features
    assert torch.allclose(y.var(-1, unbiased=False), torch.ones(2, 8), atol=1e-3)
    img = ops.FACTORIES["layernorm"]({}, (4, 5, 5))
    x = torch.randn(2, 4, 5, 5) * 5 + 3
    y = img(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 5, 5), atol=1e-5)  # each position over its 4 channels
    assert torch.allclose(y, F.layer_norm(x.permute(0, 2, 3, 1), (4,)).permute(0, 3, 1, 2), atol=1e-5)
    assert n_params(img) == 2 * 4 and n_params(seq) == 2 * 6


def test_squeeze_excite_rescales_channels():
    torch.manual_seed(0)
    m = ops.FACTORIES["se"]({"ratio": 4}, (16, 5, 5))
    assert n_params(m) == (16 * 4 + 4) + (4 * 16 + 16)  # 1x1 convs C -> C / r -> C, with bias
    x = torch.randn(2, 16, 5, 5)
    y = m(x)
    scale = y / x  # one factor in (0, 1) per sample and channel
    assert torch.allclose(scale, scale[:, :, :1, :1].expand_as(scale), atol=1e-4)
    assert ((scale > 0) & (scale < 1)).all()
    assert n_params(ops.FACTORIES["se"]({"ratio": 16}, (4, 5, 5))) == (4 * 1 + 1) + (1 * 4 + 4)  # hidden >= 1


def test_channel_shuffle_interleaves_the_groups():
    m = ops.FACTORIES["channel_shuffle"]({"groups": 2}, (6, 1, 1))
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert m(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    m = ops.FACTORIES["channel_shuffle"]({"groups": 3}, (6,))
    assert m(torch.arange(6.0)[None]).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_attention_is_scaled_dot_product_attention():
    torch.manual_seed(0)
    m = ops.FACTORIES["multihead_attention"]({"heads": 2, "dim": 8}, (5, 6))
    assert n_params(m) == (6 * 24 + 24) + (8 * 8 + 8)
    x = torch.randn(3, 5, 6)
    q, k, v = m.qkv(x).split(8, dim=-1)

    def heads(t):
        return t.reshape(3, 5, 2, 4).transpose(1, 2)

    ref = F.scaled_dot_product_attention(heads(q), heads(k), heads(v)).transpose(1, 2).reshape(3, 5, 8)
    assert torch.allclose(m(x), m.proj(ref), atol=1e-5)
    # the tokens are mixed: changing one token changes the others' outputs
    x2 = x.clone()
    x2[:, 0] += 1
    assert not torch.allclose(m(x)[:, 1:], m(x2)[:, 1:])


def test_sequence_ops_act_on_the_last_dim_per_token():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6)
    for name, args in (("linear", {"out": 3}), ("mlp", {"hidden": 5, "out": "same"}), ("tokens", {"dim": 7, "patch": 1})):
        m = ops.FACTORIES[name](args, (4, 6))
        y = m(x)
        assert torch.allclose(y[:, 2], m(x[:, 2:3])[:, 0], atol=1e-6), name  # token by token
    assert torch.allclose(ops.FACTORIES["seq_mean_pool"]({}, (4, 6))(x), x.mean(1))
    m = ops.FACTORIES["mlp"]({"hidden": 5, "out": 2}, (6,))
    assert n_params(m) == (6 * 5 + 5) + (5 * 2 + 2)
    patches = ops.FACTORIES["tokens"]({"dim": 3, "patch": 2}, (1, 4, 4))
    img = torch.zeros(1, 1, 4, 4)
    img[0, 0, 2:, :2] = 1.0  # the bottom-left patch: token 2 in row-major order
    out = patches(img) - patches(torch.zeros_like(img))
    assert [bool(out[0, t].abs().sum() > 0) for t in range(4)] == [False, False, True, False]


# ----------------------------------------------------------------------------- DARTS parameter counts


def count(name: str, kwargs: dict[str, Any], c: int = 16, hw: int = 8) -> int:
    prim, args = resolve(name, kwargs, (c, hw, hw))
    return n_params(ops.FACTORIES[prim.canonical](args, (c, hw, hw)))


@pytest.mark.parametrize("stride", [1, 2])
def test_darts_op_parameter_counts(stride):
    C = 16
    # (ReLU, depthwise kxk, 1x1, BN) twice: per half C*k*k + C*C + 2*C (BN weight and bias)
    assert count("sep_conv_3x3", {"stride": stride}) == 2 * (C * 9 + C * C + 2 * C) == 864
    assert count("sep_conv_5x5", {"stride": stride}) == 2 * (C * 25 + C * C + 2 * C) == 1376
    assert count("sep_conv_7x7", {"stride": stride}) == 2 * (C * 49 + C * C + 2 * C) == 2144
    # C -> 32: the first half keeps C, the second maps to 32
    assert count("sep_conv_3x3", {"stride": stride, "channels": 32}) == (144 + 256 + 32) + (144 + 16 * 32 + 64) == 1152
    # ReLU, depthwise dilated kxk, 1x1, BN
    assert count("dil_conv_3x3", {"stride": stride}) == C * 9 + C * C + 2 * C == 432
    assert count("dil_conv_5x5", {"stride": stride}) == C * 25 + C * C + 2 * C == 688
    # ReLU, conv, BN
    assert count("nor_conv_1x1", {"stride": stride, "channels": 32}) == 16 * 32 + 2 * 32 == 576
    assert count("nor_conv_3x3", {"stride": stride}) == C * C * 9 + 2 * C == 2336
    assert count("relu_conv_bn", {"stride": stride}) == C * C + 2 * C == 288  # k defaults to 1
    # the rest of the DARTS vocabulary has no parameters
    for op in ("max_pool_3x3", "avg_pool_3x3", "none"):
        assert count(op, {"stride": stride}) == 0
    # 1x7 then 7x1 convs, BN
    assert count("conv_7x1_1x7", {"stride": stride}) == 2 * C * C * 7 + 2 * C == 3616
    assert count("conv_3x1_1x3", {"stride": stride}) == 2 * C * C * 3 + 2 * C == 1568


def test_factorized_reduce_parameter_counts():
    # two 1x1 convs C_in -> C_out / 2, BN(C_out)
    assert count("factorized_reduce", {}) == 2 * 16 * 8 + 2 * 16 == 288
    assert count("factorized_reduce", {"channels": 32}) == 2 * 16 * 16 + 2 * 32 == 576
    assert count("skip_connect", {"stride": 2}) == 288  # a strided skip is a factorized_reduce
    assert count("skip_connect", {"stride": 1}) == 0


def test_other_op_parameter_counts():
    # NAS-Bench-201 ResNet block 16 -> 32 at stride 2: two ReLUConvBN 3x3, shortcut avgpool + 1x1 conv
    assert count("resnet_block", {"channels": 32}) == (16 * 32 * 9 + 64) + (32 * 32 * 9 + 64) + 16 * 32 == 14464
    # stride 1, same channels: identity shortcut
    assert count("resnet_block", {"stride": 1}) == 2 * (16 * 16 * 9 + 32) == 4672
    # stride 1, channels change: ReLUConvBN 1x1 shortcut
    assert count("resnet_block", {"stride": 1, "channels": 32}) == (16 * 32 * 9 + 64) + (32 * 32 * 9 + 64) + (16 * 32 + 64)
    # MobileNetV2 inverted residual, e = 6: expand 1x1 + BN, depthwise 3x3 + BN, project 1x1 + BN
    hidden = 16 * 6
    assert count("mbconv", {}) == (16 * hidden + 2 * hidden) + (hidden * 9 + 2 * hidden) + (hidden * 16 + 2 * 16) == 4352
    assert count("mbconv", {"e": 1}) == (16 * 9 + 32) + (16 * 16 + 32)  # no expansion
    assert count("conv", {"channels": 32, "k": 3}) == 16 * 32 * 9  # no bias
    assert count("conv", {"channels": 32, "k": 3, "groups": 4}) == 32 * 4 * 9
    assert count("conv_bn_relu", {"channels": 32}) == 16 * 32 * 9 + 64
    assert count("dw_conv", {}) == 16 * 9 + 32
    assert count("enas_conv", {"k": 5}) == 16 * 16 * 25 + 32
    assert count("enas_sep_conv", {"k": 5}) == 16 * 25 + 16 * 16 + 32
    assert count("batchnorm", {}) == 32
    assert n_params(ops.FACTORIES["linear"]({"out": 10}, (16,))) == 16 * 10 + 10


DARTS_V2_NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)]
DARTS_V2_REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                   ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]


def _op(name: str, kwargs: dict[str, Any], in_shape: tuple[int, ...]) -> nn.Module:
    prim, args = resolve(name, kwargs, in_shape)
    return ops.FACTORIES[prim.canonical](args, in_shape)


def test_darts_v2_cifar_network_has_the_published_parameter_count():
    """The DARTS_V2 CIFAR-10 evaluation network (C = 36, 20 cells) assembled from these factories
    has 3,349,342 parameters, without the auxiliary head."""
    C, layers, classes, hw = 36, 20, 10, 32
    modules = nn.ModuleList()
    c_curr = 3 * C
    modules.append(_op("conv_3x3", {"channels": c_curr}, (3, hw, hw)))  # stem
    modules.append(_op("batchnorm", {}, (c_curr, hw, hw)))
    c_pp, c_p, c_curr = c_curr, c_curr, C
    reduction_prev = False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_curr *= 2
        if reduction_prev:
            modules.append(_op("factorized_reduce", {"channels": c_curr}, (c_pp, 2 * hw, 2 * hw)))
        else:
            modules.append(_op("nor_conv_1x1", {"channels": c_curr}, (c_pp, hw, hw)))
        modules.append(_op("nor_conv_1x1", {"channels": c_curr}, (c_p, hw, hw)))
        for name, index in DARTS_V2_REDUCE if reduction else DARTS_V2_NORMAL:
            stride = 2 if reduction and index < 2 else 1
            modules.append(_op(name, {"stride": stride}, (c_curr, hw, hw)))
        if reduction:
            hw //= 2
        reduction_prev = reduction
        c_pp, c_p = c_p, 4 * c_curr
    modules.append(_op("global_avg_pool", {}, (c_p, hw, hw)))
    modules.append(_op("linear", {"out": classes}, (c_p,)))
    assert n_params(modules) == 3_349_342


# ----------------------------------------------------------------------------- TorchScript and ONNX


@pytest.mark.parametrize("name,kwargs,in_shape", [c for c in CASES if c.values[2] != (4, 8, 8)])
def test_torchscript_matches_eager(name, kwargs, in_shape):
    torch.manual_seed(0)
    module, expected = build(name, kwargs, in_shape)
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(module)
    x = torch.randn(2, *in_shape)
    with torch.no_grad():
        ref, got = module(x), scripted(x)
    assert tuple(got.shape) == (2, *expected)
    assert torch.allclose(got, ref, atol=1e-6)


ONNX_CASES = [
    pytest.param(name, arg_sets[-1], shapes[0], id=name)
    for name, (arg_sets, shapes) in OP_CASES.items()
] + [
    pytest.param("max_pool", {"k": 2, "stride": 1}, (4, 7, 7), id="max_pool-even"),
    pytest.param("avg_pool", {"k": 2, "stride": 2}, (4, 7, 7), id="avg_pool-even"),
    pytest.param("none", {"channels": 6, "stride": 2}, (4, 7, 7), id="none-channels"),
    pytest.param("resnet_block", {"channels": 6, "stride": 2}, (4, 7, 7), id="resnet_block-odd"),
    pytest.param("skip_connect", {"stride": 2}, (4, 7, 7), id="skip_connect-strided"),
]


def _onnx_run(model_bytes: bytes, x: Any) -> Any:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


@pytest.mark.parametrize("name,kwargs,in_shape", ONNX_CASES)
def test_onnx_export_matches_eager(name, kwargs, in_shape):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    module, expected = build(name, kwargs, in_shape)
    module.eval()
    x = torch.randn(2, *in_shape)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buf, dynamo=False)
    got = _onnx_run(buf.getvalue(), x)
    with torch.no_grad():
        ref = module(x)
    assert tuple(got.shape) == (2, *expected)
    assert torch.allclose(got, ref, atol=1e-5)


def test_onnx_dynamo_export_of_a_darts_op():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    module, expected = build("factorized_reduce", {"channels": 6}, (4, 7, 7))
    module.eval()
    x = torch.randn(2, 4, 7, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (x,), dynamo=True, verbose=False)
    got = _onnx_run(program.model_proto.SerializeToString(), x)
    with torch.no_grad():
        assert torch.allclose(got, module(x), atol=1e-5)
    assert tuple(got.shape) == (2, *expected)
