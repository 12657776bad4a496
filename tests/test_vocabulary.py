"""The open vocabulary: the core primitives' arguments (pinned), the new ops' shape rules and errors,
primitives declared by plugins (``register_primitives``), and a sequence network that trains.

Most of this needs no torch; the tests that build models import it themselves.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from nasdsl import NasError, Space, hookimpl, plugins, primitives
from nasdsl.adapters import from_darts, from_nb201
from nasdsl.plugins import PluginError
from nasdsl.primitives import SAME, ShapeError
from nasdsl.testing import registered

from .conftest import DARTS_V2, ROOT, load


@pytest.fixture(autouse=True)
def fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()


def shape_of(op: str, in_shape: tuple[int, ...], *positional, **keywords) -> tuple[int, ...]:
    prim = primitives.get(op)
    assert prim is not None, op
    return primitives.infer(prim, primitives.bind(prim, list(positional), keywords), in_shape)


# ---------------------------------------------------------------------------- the contract: today's arguments
# bind(op) with only its required arguments, for every op the core had before the vocabulary opened:
# these dicts are printed in the Architecture IR and hashed into every stored architecture's canonical hash.
TODAYS_ARGS = {
    'avg_pool': {'k': 3, 'stride': 1},
    'avg_pool_2x2': {'k': 2, 'stride': 1},
    'avg_pool_3x3': {'k': 3, 'stride': 1},
    'batchnorm': {},
    'conv': {'channels': 'same', 'k': 3, 'stride': 1, 'dilation': 1, 'groups': 1},
    'conv_1x1': {'channels': 'same', 'k': 1, 'stride': 1, 'dilation': 1, 'groups': 1},
    'conv_1x3_3x1': {'channels': 'same', 'stride': 1},
    'conv_1x7_7x1': {'channels': 'same', 'stride': 1},
    'conv_3x1_1x3': {'channels': 'same', 'stride': 1},
    'conv_3x3': {'channels': 'same', 'k': 3, 'stride': 1, 'dilation': 1, 'groups': 1},
    'conv_5x5': {'channels': 'same', 'k': 5, 'stride': 1, 'dilation': 1, 'groups': 1},
    'conv_7x1_1x7': {'channels': 'same', 'stride': 1},
    'conv_7x7': {'channels': 'same', 'k': 7, 'stride': 1, 'dilation': 1, 'groups': 1},
    'conv_bn_relu': {'channels': 'same', 'k': 3, 'stride': 1},
    'dil_conv': {'channels': 'same', 'k': 3, 'stride': 1, 'dilation': 2},
    'dil_conv_3x3': {'channels': 'same', 'k': 3, 'stride': 1, 'dilation': 2},
    'dil_conv_5x5': {'channels': 'same', 'k': 5, 'stride': 1, 'dilation': 2},
    'dropout': {'p': 0.0},
    'dw_conv': {'k': 3, 'stride': 1},
    'dw_conv_3x3': {'k': 3, 'stride': 1},
    'enas_conv': {'channels': 'same', 'k': 3, 'stride': 1},
    'enas_sep_conv': {'channels': 'same', 'k': 3, 'stride': 1},
    'factorized_reduce': {'channels': 'same'},
    'flatten': {},
    'global_avg_pool': {},
    'identity': {'stride': 1},
    'linear': {'out': 3},
    'max_pool': {'k': 3, 'stride': 1},
    'max_pool_2x2': {'k': 2, 'stride': 1},
    'max_pool_3x3': {'k': 3, 'stride': 1},
    'max_pool_5x5': {'k': 5, 'stride': 1},
    'max_pool_7x7': {'k': 7, 'stride': 1},
    'mbconv': {'channels': 'same', 'k': 3, 'e': 6, 'stride': 1},
    'none': {'channels': 'same', 'stride': 1},
    'nor_conv_1x1': {'channels': 'same', 'k': 1, 'stride': 1},
    'nor_conv_3x3': {'channels': 'same', 'k': 3, 'stride': 1},
    'relu': {},
    'relu_conv_bn': {'channels': 'same', 'k': 1, 'stride': 1},
    'resnet_block': {'channels': 'same', 'stride': 2},
    'sep_conv': {'channels': 'same', 'k': 3, 'stride': 1},
    'sep_conv_3x3': {'channels': 'same', 'k': 3, 'stride': 1},
    'sep_conv_5x5': {'channels': 'same', 'k': 5, 'stride': 1},
    'sep_conv_7x7': {'channels': 'same', 'k': 7, 'stride': 1},
    'skip': {'stride': 1},
    'skip_connect': {'stride': 1},
    'zero': {'channels': 'same', 'stride': 1},
}


def test_bind_of_conv_3x3_and_sep_conv_3x3_is_pinned():
    args = primitives.bind(primitives.get("conv_3x3"), [16], {})
    assert list(args.items()) == [("channels", 16), ("k", 3), ("stride", 1), ("dilation", 1), ("groups", 1)]
    args = primitives.bind(primitives.get("sep_conv_3x3"), [], {})
    assert list(args.items()) == [("channels", SAME), ("k", 3), ("stride", 1)]


@pytest.mark.parametrize("op", sorted(TODAYS_ARGS))
def test_todays_ops_bind_to_todays_arguments(op):
    prim = primitives.get(op)
    assert prim is not None and prim.origin == primitives.CORE
    required = {"out": 3} if op == "linear" else {}
    got = primitives.bind(prim, [], required)
    assert list(got.items()) == list(TODAYS_ARGS[op].items())  # same keys, same order, same defaults


def test_canonical_hashes_of_reference_architectures_are_unchanged():
    """Hashes computed before the vocabulary opened (kh / kw on conv, plugin-declared GNN ops)."""
    darts = load("darts.nas")
    assert darts.realize(from_darts(darts, DARTS_V2)).canonical_hash() == "fbcf6650bebda296ebfb01ce76ef8b27"
    nb201 = load("nasbench201.nas")
    g = from_nb201(nb201, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    assert nb201.realize(g).canonical_hash() == "c9b5d538813efd74e9911e4b37a9300d"
    nbg = Space.from_file(ROOT / "spaces" / "nasbench_graph.nas")  # its ops come from the plugin now
    assert nbg.canonical_hash(nbg.sample(0)) == "6b2e769dbad3ac57da6ec5b7d6209602"


# ---------------------------------------------------------------------------- rectangular and grouped convs
def test_conv_kh_kw_are_optional_arguments():
    conv = primitives.get("conv")
    args = primitives.bind(conv, [], {"kh": 3, "kw": 5})
    assert list(args) == ["channels", "k", "stride", "dilation", "groups", "kh", "kw"]
    assert (args["kh"], args["kw"]) == (3, 5)
    assert "kw" not in primitives.bind(conv, [], {"kh": 1})  # only what was given
    assert primitives.infer(conv, {**args, "channels": 8, "stride": 2}, (4, 7, 9)) == (8, 4, 5)
    with pytest.raises(ValueError, match="argument 'kw' of op 'conv' must be a positive integer; got 0"):
        primitives.bind(conv, [], {"kw": 0})
    with pytest.raises(ValueError, match=r"op 'conv_3x3' has no argument 'kx' \(its arguments: channels, stride, "
                                         r"dilation, groups; by keyword: kh, kw\)"):
        primitives.bind(primitives.get("conv_3x3"), [], {"kx": 1})
    # keyword-only: the positional slots are today's, so is a call with one argument too many
    assert conv.param_names() == ["channels", "k", "stride", "dilation", "groups"]
    assert conv.keyword_names() == ["kh", "kw"]
    with pytest.raises(ValueError, match=r"op 'conv_3x3' takes at most 4 arguments \(channels, stride, dilation, "
                                         r"groups\); 5 given"):
        primitives.bind(primitives.get("conv_3x3"), [16, 1, 1, 1, 1], {})


def test_rectangular_conv_in_a_nas_file_leaves_the_square_ones_alone():
    space = Space.from_text("""
    network n() {
        input [3, 8, 8]
        x = conv(16, kh = 3, kw = 5) -> conv_3x3(16) -> conv(k = {1, 3}, kh = 1)
        return global_avg_pool -> linear(10)
    }
    """, "rect.nas")
    assert space.size() == 2
    arch = space.realize(space.sample(0))
    convs = [(a["op"], a["args"]) for n, a in arch.graph.nodes(data=True) if a["kind"] == "op" and "conv" in a["op"]]

    assert ("conv", {"channels": 16, "k": 3, "stride": 1, "dilation": 1, "groups": 1, "kh": 3, "kw": 5}) in convs
    assert ("conv_3x3", {"channels": 16, "k": 3, "stride": 1, "dilation": 1, "groups": 1}) in convs
    last = [args for op, args in convs if op == "conv" and "kw" not in args]
    assert len(last) == 1 and last[0]["kh"] == 1 and last[0]["k"] in (1, 3)
    text = arch.to_text()
    assert "kh=3, kw=5}  [16, 8, 8]" in text
    assert "{channels=16, k=3, stride=1, dilation=1, groups=1}  [16, 8, 8]" in text


def test_group_conv_1x1():
    prim = primitives.get("group_conv_1x1")
    assert prim.canonical == "conv" and prim.param_names() == ["channels", "groups", "stride"]
    args = primitives.bind(prim, [8, 4], {})
    assert args == {"channels": 8, "groups": 4, "stride": 1, "k": 1, "dilation": 1}
    assert primitives.infer(prim, args, (12, 5, 5)) == (8, 5, 5)
    with pytest.raises(ShapeError, match=r"op 'group_conv_1x1': groups=4 must divide the input channels \(6\) "
                                         r"and the output channels \(8\)"):
        primitives.infer(prim, args, (6, 5, 5))
    with pytest.raises(ShapeError, match=r"groups=3 must divide .* output channels \(8\)"):
        shape_of("conv", (6, 5, 5), 8, groups=3)
    with pytest.raises(ValueError, match="op 'group_conv_1x1' needs argument 'groups'"):
        primitives.bind(prim, [8], {})


# ---------------------------------------------------------------------------- the new ops' shape rules
SHAPES = [
    # op, positional, keywords, input, output
    ("gelu", (), {}, (4, 7, 7), (4, 7, 7)),
    ("tanh", (), {}, (8, 5), (8, 5)),
    ("sigmoid", (), {}, (6,), (6,)),
    ("layernorm", (), {}, (8, 5), (8, 5)),
    ("layernorm", (), {}, (4, 7, 7), (4, 7, 7)),
    ("layernorm", (), {}, (6,), (6,)),
    ("se", (), {}, (16, 5, 5), (16, 5, 5)),
    ("se", (8,), {}, (4, 3, 3), (4, 3, 3)),
    ("channel_shuffle", (), {"groups": 3}, (12, 4, 4), (12, 4, 4)),
    ("channel_shuffle", (4,), {}, (8,), (8,)),
    ("tokens", (16,), {}, (8, 5), (8, 16)),
    ("tokens", (16,), {"patch": 2}, (3, 8, 6), (12, 16)),
    ("tokens", (7,), {}, (3, 4, 4), (16, 7)),
    ("multihead_attention", (), {"heads": 2}, (8, 16), (8, 16)),
    ("multihead_attention", (4, 12), {}, (8, 5), (8, 12)),
    ("mlp", (32,), {}, (8, 16), (8, 16)),
    ("mlp", (32, 10), {}, (8, 16), (8, 10)),
    ("mlp", (), {"hidden": 3}, (6,), (6,)),
    ("linear", (10,), {}, (8, 16), (8, 10)),
    ("linear", (10,), {}, (16,), (10,)),
    ("seq_mean_pool", (), {}, (8, 16), (16,)),
    ("token_pool", (), {}, (8, 16), (16,)),
]


@pytest.mark.parametrize("op,pos,kw,in_shape,out_shape", SHAPES,
                         ids=[f"{s[0]}-{'x'.join(map(str, s[3]))}" for s in SHAPES])
def test_shape_rules(op, pos, kw, in_shape, out_shape):
    assert shape_of(op, in_shape, *pos, **kw) == out_shape


ERRORS = [
    # op, positional, keywords, input, the message (a regex)
    ("layernorm", (), {}, (2, 3, 4, 5), r"op 'layernorm' needs a \[C\], \[T, D\] or \[C, H, W\] input; got \[2, 3, 4, 5\]"),
    ("se", (), {}, (8, 5), r"op 'se' needs a \[C, H, W\] input; got \[8, 5\]"),
    ("channel_shuffle", (), {"groups": 3}, (8, 4, 4), r"op 'channel_shuffle': groups=3 must divide the channels \(8\)"),
    ("channel_shuffle", (), {}, (8, 4), r"op 'channel_shuffle' needs a \[C, H, W\] or \[C\] input; got \[8, 4\]"),
    ("multihead_attention", (), {"heads": 3}, (8, 16), r"dim 16 is not divisible by heads=3"),
    ("multihead_attention", (2,), {"dim": 9}, (8, 16), r"dim 9 is not divisible by heads=2"),
    ("multihead_attention", (), {}, (16,), r"op 'multihead_attention' needs a sequence \[T, D\] .*; got \[16\]"),
    ("multihead_attention", (), {}, (3, 8, 8), r"needs a sequence \[T, D\] .*got \[3, 8, 8\]"),
    ("mlp", (8,), {}, (3, 8, 8), r"op 'mlp' needs a flat \[C\] input or a sequence \[T, D\]; got \[3, 8, 8\]"),
    ("linear", (8,), {}, (3, 8, 8), r"linear needs a flat \[C\] input or a sequence \[T, D\]; got \[3, 8, 8\]"),
    ("seq_mean_pool", (), {}, (16,), r"op 'seq_mean_pool' needs a sequence \[T, D\]; got \[16\]"),
    ("token_pool", (), {}, (3, 8, 8), r"op 'token_pool' needs a sequence \[T, D\]; got \[3, 8, 8\]"),
    ("tokens", (8,), {}, (16,), r"op 'tokens' needs a \[T, F\] or \[C, H, W\] input; got \[16\]"),
    ("tokens", (8,), {"patch": 3}, (3, 8, 8), r"op 'tokens': patch=3 must divide the height and width of \[3, 8, 8\]"),
    ("tokens", (8,), {"patch": 2}, (8, 5), r"op 'tokens' with patch=2 needs a \[C, H, W\] input"),
    ("global_avg_pool", (), {}, (8, 5), r"global_avg_pool needs a \[C, H, W\] input; got \[8, 5\]"),
]


@pytest.mark.parametrize("op,pos,kw,in_shape,message", ERRORS, ids=[f"{e[0]}-{'x'.join(map(str, e[3]))}" for e in ERRORS])
def test_shape_errors(op, pos, kw, in_shape, message):
    with pytest.raises(ShapeError, match=message):
        shape_of(op, in_shape, *pos, **kw)


def test_argument_errors_of_the_new_ops():
    for op, kw, message in [
        ("multihead_attention", {"heads": 0}, "argument 'heads' of op 'multihead_attention' must be a positive integer"),
        ("mlp", {"hidden": 2.5}, "argument 'hidden' of op 'mlp' must be a positive integer; got 2.5"),
        ("mlp", {"hidden": 4, "out": "many"}, "argument 'out' of op 'mlp' must be a positive integer"),
        ("se", {"ratio": True}, "argument 'ratio' of op 'se' must be a positive integer"),
        ("tokens", {}, "op 'tokens' needs argument 'dim'"),
        ("gelu", {"p": 0.1}, r"op 'gelu' has no argument 'p' \(its arguments: none\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            primitives.bind(primitives.get(op), [], kw)
    # 'same' is allowed where it is the default, and only there
    assert primitives.bind(primitives.get("mlp"), [4], {})["out"] == SAME
    with pytest.raises(ValueError, match="argument 'out' of op 'linear' must be a positive integer; got 'same'"):
        primitives.bind(primitives.get("linear"), [SAME], {})


def test_a_wrong_rank_is_reported_at_its_place_in_the_nas_file():
    with pytest.raises(NasError) as e:
        Space.from_text("network n() {\n    input [3, 8, 8]\n    x = conv_3x3(8) -> multihead_attention(heads = 2)\n"
                        "    return global_avg_pool -> linear(10)\n}\n", "rank.nas")
    assert e.value.span.line == 3
    assert "op 'multihead_attention' needs a sequence [T, D]" in str(e.value) and "[8, 8, 8]" in str(e.value)


def test_a_sequence_network_compiles_with_shapes():
    space = Space.from_text(SEQ_NET, "seq.nas")
    arch = space.realize(space.sample(0))
    shapes = {a.get("op"): tuple(a["shape"]) for _, a in arch.graph.nodes(data=True) if a["kind"] == "op"}
    assert shapes["tokens"] == (8, 16) and shapes["multihead_attention"] == (8, 16)
    assert shapes["mlp"] == (8, 16) and shapes["token_pool"] == (16,) and shapes["linear"] == (10,)
    assert arch.output_shape == (10,)
    assert space.size() == 3  # the mlp's hidden width is a value choice


SEQ_NET = """
network seq(classes = 10) {
    input [8, 5]
    x = tokens(16)
    a = sum(x, x -> layernorm -> multihead_attention(heads = 2))
    b = sum(a, a -> layernorm -> mlp({16, 32, 64}) -> gelu)
    return b -> layernorm -> token_pool -> linear(classes)
}
"""


# ---------------------------------------------------------------------------- plugin primitives
class Swish:
    """Declares two ops: one with a rule and an alias, one with its own shape function."""

    calls = 0

    @hookimpl
    def register_primitives(self, register):
        type(self).calls += 1
        register("swish", params=(("beta", 1),), rule="keep", doc="x * sigmoid(beta x)", aliases={"silu": {"beta": 1}})
        register("halve_tokens", params=("keep_last",), shape=halve, doc="drops every other token")


def halve(args, in_shape):
    if len(in_shape) != 2:
        raise ShapeError(f"halve_tokens needs a sequence [T, D]; got {list(in_shape)}")
    if in_shape[0] % 2:
        raise ValueError(f"an even number of tokens, not {in_shape[0]}")
    return (in_shape[0] // 2, in_shape[1])


def test_plugin_primitives_join_the_vocabulary():
    assert primitives.get("swish") is None
    with registered(Swish(), name="swish-plugin"):
        swish, silu, halve_ = primitives.get("swish"), primitives.get("silu"), primitives.get("halve_tokens")
        assert swish.origin == silu.origin == halve_.origin == "swish-plugin"
        assert silu.canonical == "swish" and silu.fixed == {"beta": 1} and silu.param_names() == []
        assert {"swish", "silu", "halve_tokens", "conv", "gcn"} <= set(primitives.names())
        assert primitives.names() == sorted(primitives.names())
        assert set(primitives.all_primitives()) == set(primitives.names())
        assert "swish" not in primitives.core_primitives()
        assert primitives.declared_by("swish") == "swish-plugin" and primitives.declared_by("conv") == primitives.CORE
        assert primitives.declared_by("gcn") == "nasbench_graph"
        assert primitives.bind(swish, [2], {}) == {"beta": 2}
        assert primitives.infer(swish, {"beta": 2}, (8, 5)) == (8, 5)
        assert halve_.rule == primitives.CUSTOM
        assert primitives.infer(halve_, primitives.bind(halve_, [1], {}), (8, 5)) == (4, 5)
        with pytest.raises(ShapeError, match=r"halve_tokens needs a sequence \[T, D\]; got \[3, 8, 8\]"):
            primitives.infer(halve_, {"keep_last": 1}, (3, 8, 8))
        with pytest.raises(ShapeError, match=r"op 'halve_tokens' \(declared by plugin 'swish-plugin'\): "
                                             r"an even number of tokens, not 7"):
            primitives.infer(halve_, {"keep_last": 1}, (7, 5))
        with pytest.raises(ValueError, match="op 'halve_tokens' needs argument 'keep_last'"):
            primitives.bind(halve_, [], {})

        space = Space.from_text("network n() {\n    input [8, 5]\n    x = tokens(6) -> swish(2) -> silu -> halve_tokens(1)\n"
                                "    return token_pool -> linear(3)\n}\n", "swish.nas")
        arch = space.realize(space.sample(0))
        got = {a["op"]: (a["base"], a["args"], tuple(a["shape"])) for _, a in arch.graph.nodes(data=True) if a["kind"] == "op"}
        assert got["swish"] == ("swish", {"beta": 2}, (8, 6))
        assert got["silu"] == ("swish", {"beta": 1}, (8, 6))
        assert got["halve_tokens"] == ("halve_tokens", {"keep_last": 1}, (4, 6))
        with pytest.raises(NasError) as e:  # the plugin's shape error, at its place
            Space.from_text("network n() {\n    input [7, 5]\n    x = halve_tokens(0)\n    return token_pool\n}\n", "odd.nas")
        assert e.value.span.line == 3 and "an even number of tokens, not 7" in str(e.value)
    # unregistered: the ops are gone from the language
    assert primitives.get("swish") is None and "silu" not in primitives.names()
    with pytest.raises(NasError, match="swish"):
        Space.from_text("network n() {\n    input [8]\n    x = swish\n    return linear(2)\n}\n", "gone.nas")


def test_plugin_primitives_load_lazily_and_once():
    Swish.calls = 0
    with registered(Swish(), name="swish-plugin"):
        primitives.get("conv")
        assert Swish.calls == 0  # a core op never loads the plugins' declarations
        for _ in range(5):
            assert primitives.get("swish") is not None and primitives.get("no_such_op") is None
        primitives.names()
        assert Swish.calls == 1


def test_core_lookups_never_start_the_plugin_manager():
    assert plugins._pm is None
    for op in ("conv_3x3", "sep_conv_3x3", "relu", "layernorm", "multihead_attention"):
        assert primitives.get(op) is not None
    assert plugins._pm is None
    primitives.get("gcn")  # not a core op: the plugins are loaded now
    assert plugins._pm is not None


def test_a_core_name_cannot_be_declared_again():
    class Again:
        @hookimpl
        def register_primitives(self, register):
            register("gelu2", rule="keep", aliases={"relu": {}})

    with registered(Again(), name="relu-again"):
        with pytest.raises(PluginError, match=r"primitive 'relu' is declared twice \(by nasdsl, the core vocabulary, "
                                              r"and by relu-again\)"):
            primitives.get("gelu2")


def test_two_plugins_declaring_one_name_are_both_named():
    class One:
        @hookimpl
        def register_primitives(self, register):
            register("twin", rule="keep")

    class Two:
        @hookimpl
        def register_primitives(self, register):
            register("twin", rule="keep")

    with registered(One(), name="plugin-one"), registered(Two(), name="plugin-two"):
        with pytest.raises(PluginError) as e:
            primitives.names()
    msg = str(e.value)
    assert msg.startswith("primitive 'twin' is declared twice (by ") and "plugin-one" in msg and "plugin-two" in msg
    assert primitives.get("twin") is None  # both gone


@pytest.mark.parametrize("declaration,message", [
    ({"name": "odd", "rule": "sideways"}, r"op 'odd' has an unknown shape rule 'sideways'; rules: spatial, keep"),
    ({"name": "odd"}, r"op 'odd' has an unknown shape rule None"),
    ({"name": "odd", "rule": "keep", "shape": halve}, r"op 'odd': give a shape rule or a shape function, not both"),
    ({"name": "odd-op", "rule": "keep"}, r"an op name must be an identifier; got 'odd-op'"),
    ({"name": "odd", "rule": "keep", "params": (("a", 1), ("a", 2))}, r"op 'odd': parameter 'a' is declared twice"),
    ({"name": "odd", "rule": "keep", "params": (1,)}, r"op 'odd': a parameter is a name or a \(name, default\) pair; got 1"),
    ({"name": "odd", "rule": "keep", "aliases": {"odd2": {"b": 1}}}, r"alias 'odd2' of op 'odd' fixes b"),
    ({"name": "odd", "rule": "keep", "aliases": {"mul": {}}}, r"an alias of op 'odd' cannot be 'mul': the language's own"),
    ({"name": "odd", "rule": "linear"}, r"op 'odd': shape rule 'linear' reads the argument out, which the op does not"),
    ({"name": "odd", "rule": "tokens", "params": ("width",)}, r"op 'odd': shape rule 'tokens' reads the argument dim"),
])
def test_a_malformed_declaration_names_its_plugin(declaration, message):
    class Bad:
        @hookimpl
        def register_primitives(self, register):
            register(**declaration)

    with registered(Bad(), name="bad-plugin"):
        with pytest.raises(PluginError, match="plugin bad-plugin declares a bad primitive: " + message):
            primitives.get("odd")


def test_the_reserved_names_are_the_compilers_builtins():
    from nasdsl.compiler.program import BUILTINS

    assert set(primitives.RESERVED) == set(BUILTINS)
    assert not set(primitives.RESERVED) & set(primitives.names())


def test_a_shape_function_that_returns_nonsense():
    class Nonsense:
        @hookimpl
        def register_primitives(self, register):
            register("nonsense", shape=lambda args, s: (0, *s))

    with registered(Nonsense(), name="nonsense-plugin"):
        with pytest.raises(ShapeError, match=r"the shape function of op 'nonsense' \(declared by plugin "
                                             r"'nonsense-plugin'\) gave \(0, 4\), not a shape"):
            primitives.infer(primitives.get("nonsense"), {}, (4,))


def test_a_declaration_may_look_ops_up_while_the_plugins_load():
    seen = {}

    class Curious:
        @hookimpl
        def register_primitives(self, register):
            seen["conv"] = primitives.get("conv")
            seen["missing"] = primitives.get("not_declared_yet")  # no recursion: what is known so far
            register("curious", rule="keep")

    with registered(Curious(), name="curious"):
        assert primitives.get("curious") is not None
    assert seen["conv"] is not None and seen["missing"] is None


def test_disabling_the_nasbench_graph_plugin_removes_its_ops(monkeypatch):
    assert primitives.get("gcn").origin == "nasbench_graph"
    monkeypatch.setenv("NASDSL_DISABLE_PLUGINS", "nasbench_graph")
    plugins.reset()
    assert primitives.get("gcn") is None and "gat" not in primitives.names()
    with pytest.raises(NasError, match="unknown op or name 'gat'"):
        Space.from_file(ROOT / "spaces" / "nasbench_graph.nas")
    assert Space.from_file(ROOT / "spaces" / "nasbench201.nas").size() == 15625  # the rest is untouched
    monkeypatch.delenv("NASDSL_DISABLE_PLUGINS")
    plugins.reset()
    assert Space.from_file(ROOT / "spaces" / "nasbench_graph.nas").size() == 157_464


def test_the_gnn_ops_are_declared_by_the_plugin_not_the_core():
    gnn = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc")
    core = primitives.core_primitives()
    assert not set(gnn) & set(core)
    for op in gnn:
        prim = primitives.get(op)
        assert prim.origin == "nasbench_graph" and prim.rule == "graph" and prim.param_names() == ["channels"]
        assert primitives.infer(prim, {"channels": 64}, (256,)) == (64,)
    assert "graph" not in {p.rule for p in core.values()}


def test_compiling_imports_no_torch():
    code = textwrap.dedent(f"""
        import sys
        import nasdsl
        for name in ("darts.nas", "nasbench_graph.nas", "nasbench201.nas"):
            nasdsl.Space.from_file({str(ROOT / 'spaces')!r} + "/" + name)
        nasdsl.Space.from_text({SEQ_NET!r}, "seq.nas")
        from nasdsl import primitives
        assert primitives.get("gcn").origin == "nasbench_graph"
        assert "torch" not in sys.modules, "compiling imported torch"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- building and training (torch)
def test_a_plugin_primitive_without_a_torch_implementation_is_a_clear_build_error():
    pytest.importorskip("torch")
    from nasdsl.plugins import get_backend
    from nasdsl_plugins.torch_backend.builder import BuildError

    with registered(Swish(), name="swish-plugin"):
        space = Space.from_text("network n() {\n    input [6]\n    x = silu\n    return linear(2)\n}\n", "silu.nas")
        with pytest.raises(BuildError) as e:
            get_backend("torch")().build(space.realize(space.sample(0)))
    msg = str(e.value)
    assert msg.startswith("op 'silu' (an alias of 'swish') (at silu.nas:3:9) has no PyTorch implementation: "
                          "the 'torch' backend has no op 'swish'; the op is declared by plugin 'swish-plugin'"), msg
    assert "register_ops" in msg


def _gated_architecture(shape: tuple[int, ...]):
    """An Architecture made by hand: mul(tanh(x), sigmoid(x)) -> seq_mean_pool (a gate, as a mul merge gives)."""
    import networkx as nx

    from nasdsl.architecture import Architecture

    g = nx.DiGraph()
    s = list(shape)
    g.add_node("x", kind="input", shape=s, order=0, span="hand.nas:1:1")
    g.add_node("value", kind="op", op="tanh", base="tanh", args={}, shape=s, order=1, span="hand.nas:2:1")
    g.add_node("gate", kind="op", op="sigmoid", base="sigmoid", args={}, shape=s, order=2, span="hand.nas:3:1")
    g.add_node("gated", kind="mul", shape=s, order=3, span="hand.nas:4:1")
    g.add_node("pool", kind="op", op="token_pool", base="seq_mean_pool", args={}, shape=s[1:], order=4, span="hand.nas:5:1")
    g.add_node("out", kind="output", shape=s[1:], order=5, span="hand.nas:5:1")
    for u, v, port in (("x", "value", 0), ("x", "gate", 0), ("value", "gated", 0), ("gate", "gated", 1),
                       ("gated", "pool", 0), ("pool", "out", 0)):
        g.add_edge(u, v, port=port)
    return Architecture(g, space="hand")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_the_builder_multiplies_a_mul_node():
    torch = pytest.importorskip("torch")
    from nasdsl.architecture import KINDS, lint
    from nasdsl.plugins import get_backend

    arch = _gated_architecture((4, 6))
    if "mul" in KINDS:  # the IR's kinds gain mul with the compiler's mul merge
        lint(arch)
    model = get_backend("torch")().build(arch)
    assert "mul = ops_value * ops_gate" in model.code
    x = torch.randn(3, 4, 6)
    assert torch.allclose(model(x), (torch.tanh(x) * torch.sigmoid(x)).mean(1), atol=1e-6)
    scripted = torch.jit.script(model.eval())
    assert torch.allclose(scripted(x), model(x), atol=1e-6)


def test_a_sequence_network_builds_and_trains_one_step_on_mnist1d_seq():
    torch = pytest.importorskip("torch")
    from nasdsl.datasets import load_dataset
    from nasdsl.plugins import get_backend

    data = load_dataset("mnist1d-seq", num_samples=600)
    assert data.input_shape == (8, 5) and data.classes == 10
    backend = get_backend("torch")()
    space = Space.from_text(SEQ_NET, "seq.nas")
    arch = space.realize(space.sample(1))
    torch.manual_seed(0)
    model = backend.build(arch)
    x = torch.from_numpy(data.x_train[:4])
    out = model(x)
    assert tuple(out.shape) == (4, 10) and torch.isfinite(out).all()
    assert "self.ops." in model.code and "torch.nn.functional" not in model.code

    torch.manual_seed(0)
    before = {k: v.clone() for k, v in backend.build(arch).state_dict().items()}
    result = backend.train(arch, data, {"epochs": 1, "max_steps": 1, "optimizer": "adam", "lr": 1e-3,
                                        "batch_size": 32, "seed": 0})
    after = result.model.state_dict()
    assert set(after) == set(before)
    assert any(not torch.equal(before[k], after[k].cpu()) for k in before)  # one step moved the weights
    m = result.metrics
    assert all(m[k] == m[k] for k in ("train_loss", "valid_acc", "test_acc"))  # not NaN
    assert 0.0 <= m["valid_acc"] <= 1.0 and m["params"] == backend.count_params(result.model) > 0
    assert m["flops"] > 0


def test_a_sequence_network_learns():
    pytest.importorskip("torch")
    from nasdsl.datasets import load_dataset
    from nasdsl.plugins import get_backend

    data = load_dataset("mnist1d-seq", num_samples=1000)
    space = Space.from_text(SEQ_NET, "seq.nas")
    arch = space.realize(space.sample(1))
    result = get_backend("torch")().train(arch, data, {"epochs": 6, "optimizer": "adam", "lr": 3e-3,
                                                       "batch_size": 32, "seed": 0})
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0], losses
    assert result.metrics["valid_acc"] > 0.2, result.metrics  # well above chance (0.1): 0.27 on this seed


def test_mnist1d_seq_is_mnist1d_cut_into_tokens():
    from nasdsl.datasets import load_dataset
    from nasdsl_plugins.datasets import DataError

    flat = load_dataset("mnist1d", num_samples=500)
    seq = load_dataset("mnist1d-seq", num_samples=500)
    assert seq.name == "mnist1d-seq" and seq.input_shape == (8, 5) and seq.sizes() == flat.sizes()
    assert (seq.x_train[:, 1, :] == flat.x_train[:, 0, 0, 5:10]).all()  # token 1 holds samples 5..9
    assert (seq.y_test == flat.y_test).all()
    assert load_dataset("mnist1d-seq", num_samples=500, tokens=4).input_shape == (4, 10)
    with pytest.raises(DataError, match="tokens must divide 40; got 7"):
        load_dataset("mnist1d-seq", num_samples=500, tokens=7)
