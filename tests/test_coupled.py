"""Coupled decisions, arithmetic on them, and the smaller language fixes of the compiler rebuild.

Each construct is checked three ways: the decisions it makes (names, domains, exact count), the
architecture a genotype realizes to, and that selection in the supernet IR gives the same.
"""

from __future__ import annotations

import random

import pytest

from nasdsl import Space
from nasdsl.errors import NasError
from nasdsl.grammar import parse

from .conftest import refused_alike


def both(space: Space, values: dict):
    got, want = space.realize(values), space.realize_walk(values)
    assert got == want
    return got


def args_of(arch, prefix: str) -> list[dict]:
    return [a["args"] for n, a in sorted(arch.graph.nodes(data=True), key=lambda na: na[1]["order"])
            if n.startswith(prefix) and a["kind"] == "op"]


COUPLED = """
network n(C = 16) {
    input [3, 8, 8]
    width = {16, 32, 48}
    a = conv_3x3(width) -> conv_3x3(width)
    b = a -> conv_3x3(C * {0.5, 0.75, 1.0})
    c = b -> conv_3x3(2 * width - 8)
    f = global_avg_pool -> linear(4 * width)
    return linear(10)
}
"""


def test_a_named_decision_is_one_decision_used_everywhere() -> None:
    space = Space.from_text(COUPLED, file="coupled.nas")
    assert [(d.name, d.describe()) for d in space.decisions.values()] == [
        ("n.width", "{16, 32, 48}"), ("n.b.channels", "{0.5, 0.75, 1.0}")]
    assert space.size() == 3 * 3  # counted once, however often it is used
    arch = both(space, {"n.width": 32, "n.b.channels": 0.75})
    assert [a["channels"] for a in args_of(arch, "a.")] == [32, 32]
    assert [a["channels"] for a in args_of(arch, "b.")] == [12]  # 16 * 0.75
    assert [a["channels"] for a in args_of(arch, "c.")] == [56]  # 2 * 32 - 8
    assert [a["out"] for a in args_of(arch, "f.linear")] == [128]


def test_computed_channels_round_to_the_nearest_integer() -> None:
    space = Space.from_text(COUPLED, file="coupled.nas", params={"C": 10})
    arch = both(space, {"n.width": 16, "n.b.channels": 0.75})
    assert [a["channels"] for a in args_of(arch, "b.")] == [8]  # 7.5 rounds half up
    arch = both(space, {"n.width": 16, "n.b.channels": 0.5})
    assert [a["channels"] for a in args_of(arch, "b.")] == [5]


def test_the_supernet_keeps_how_an_argument_is_computed() -> None:
    space = Space.from_text(COUPLED, file="coupled.nas")
    ir = space.supernet()
    ops = {n: a for n, a in ir.graph.nodes(data=True) if a["kind"] == "op"}
    assert ops["a.conv_3x3"]["vargs"] == {"channels": "n.width"}
    assert ops["a.conv_3x3"]["args"]["channels"] == 48  # the largest width
    c = ops["c.conv_3x3"]["vargs"]["channels"]
    assert c["expr"] == ["-", ["*", ["c", 2], ["d", "n.width"]], ["c", 8]]
    assert "<((2 * n.width) - 8)>" in ir.to_text()
    rng = random.Random(0)
    for _ in range(10):
        both(space, space.sample(rng))


def test_a_block_with_a_coupled_ratio() -> None:
    """AutoFormer's hidden = ratio x embed, MnasNet's per-block choices: each use has its own ratio."""
    text = """
block ffn(x, E) {
    ratio = {3, 4}
    return sum(x, x -> linear(E * ratio) -> relu -> linear(E))
}
network n() {
    input [3, 8, 8]
    embed = {16, 24}
    f = global_avg_pool -> linear(embed)
    g = ffn(f, embed)
    h = ffn(g, embed)
    return linear(10)
}
"""
    space = Space.from_text(text, file="ffn.nas")
    assert list(space.decisions) == ["n.embed", "n.g.ratio", "n.h.ratio"]
    assert space.size() == 8
    arch = both(space, {"n.embed": 24, "n.g.ratio": 3, "n.h.ratio": 4})
    assert [a["out"] for a in args_of(arch, "g.linear")] == [72, 24]
    assert [a["out"] for a in args_of(arch, "h.linear")] == [96, 24]


def test_value_choice_on_op_set_arguments_reaches_path_options() -> None:
    text = """
ops o = [conv_3x3, relu -> conv_3x3 -> conv_3x3]
network n() {
    input [3, 8, 8]
    a = o(channels = {16, 24}, stride = 2)
    return global_avg_pool -> linear(2)
}
"""
    space = Space.from_text(text, file="o.nas")
    assert list(space.decisions) == ["n.a.channels", "n.a.op"]
    assert space.size() == 4
    plain = both(space, {"n.a.channels": 24, "n.a.op": "conv_3x3"})
    path = both(space, {"n.a.channels": 24, "n.a.op": "relu -> conv_3x3 -> conv_3x3"})
    out = lambda arch: arch.graph.nodes["global_avg_pool"]["shape"]  # noqa: E731
    assert out(plain) == out(path) == [24]
    # every op of the path gets the channels; only the first one the stride (the path downsamples once)
    assert [(a["channels"], a["stride"]) for a in args_of(path, "a.conv")] == [(24, 2), (24, 1)]
    assert path.graph.nodes["a.conv_3x3#2"]["shape"] == [24, 4, 4]


def test_a_fixed_number_cannot_depend_on_a_decision() -> None:
    text = "network n() {\n    input [3, 8, 8]\n    w = {2, 3}\n    x = repeat w { relu }\n    return global_avg_pool -> linear(2)\n}\n"
    with pytest.raises(NasError) as info:
        Space.from_text(text, file="r.nas")
    assert "r.nas:4:16" in str(info.value) and "must be fixed; it depends on the decision n.w" in str(info.value)


def test_network_parameters_are_seen_inside_cells_and_op_sets() -> None:
    text = """
ops o = [conv_3x3(C), conv_1x1(C)]
cell c(x) { return x -> conv_3x3(2 * C) -> o }
network n(C = 12) {
    input [3, 8, 8]
    y = c
    return global_avg_pool -> linear(2)
}
"""
    space = Space.from_text(text, file="p.nas", params={"C": 6})
    arch = both(space, space.default())
    assert arch.graph.nodes["global_avg_pool"]["shape"] == [6]
    assert [a["channels"] for a in args_of(arch, "y.conv_3x3")] == [12, 6]


def test_a_block_called_in_a_cells_return_registers_its_decisions() -> None:
    text = """
block wa(x) { return conv_3x3(channels = {8, 16}) }
cell c(x) { return wa(x) }
network n() {
    input [3, 8, 8]
    a = c
    return global_avg_pool -> linear(2)
}
"""
    space = Space.from_text(text, file="b.nas")
    assert list(space.decisions) == ["c.channels"] and space.size() == 2
    arch = both(space, {"c.channels": 16})
    assert arch.graph.nodes["global_avg_pool"]["shape"] == [16]
    assert "c" in space.templates and "c.wa" in space.templates  # the block's template does not hide the cell's


def test_copies_and_motif_members_take_arguments() -> None:
    text = """
cell c(x, y) { return sum(x, y -> one of [relu, conv_1x1]) }
motif m[2](x, y) { return concat(x, y -> one of [relu, batchnorm]) }
network n() {
    input [3, 8, 8]
    a = conv_3x3
    b = c(a, a -> relu)
    d = c as c2(a, b)
    e = m[1](a, d)
    return global_avg_pool -> linear(2)
}
"""
    space = Space.from_text(text, file="m.nas")
    assert list(space.decisions) == ["c.op", "c2.op", "m[1].op"]
    arch = both(space, {"c.op": "relu", "c2.op": "conv_1x1", "m[1].op": "batchnorm"})
    assert arch.graph.nodes["global_avg_pool"]["shape"] == [6]
    assert str(parse("network n() { d = c as c2(a, b)\n e = m[1](a, d) }", "x.nas")).count("c as c2(a, b)") == 1


def test_a_cell_given_one_tensor_twice_keeps_both_edges() -> None:
    text = "cell c(x, y) { return sum(x, y -> relu) }\nnetwork n() {\n    input [3, 8, 8]\n    a = conv_3x3\n    b = c(a, a)\n    return global_avg_pool -> linear(2)\n}\n"
    space = Space.from_text(text, file="t.nas")
    net = space.templates["n"]
    call = next(n for n, a in net.nodes(data=True) if a["kind"] == "call")
    assert sorted(p for _, _, p in net.in_edges(call, data="port")) == [0, 1]


def test_keywords_are_not_names() -> None:
    with pytest.raises(NasError) as info:
        Space.from_text("network n() {\n    input [3, 8, 8]\n    x = return\n    return x\n}\n", file="k.nas")
    assert "k.nas:3:9" in str(info.value) and "unexpected 'return'" in str(info.value)


def test_a_file_that_is_not_utf8_is_reported_at_its_place(tmp_path) -> None:
    p = tmp_path / "bin.nas"
    p.write_bytes(b"network n() {\n    input [3, 8, 8]\n    x = re\xfflu\n}\n")
    with pytest.raises(NasError) as info:
        Space.from_file(p)
    text = str(info.value)
    assert f"{p}:3:11" in text and "not UTF-8" in text and "0xff" in text and "^" in text


IF_SPACE = """
network n(C = 8) {
    input [3, 8, 8]
    depth = {1, 2, 3}
    a = conv_3x3(C)
    if depth >= 2 {
        b = a -> conv(C, k = {3, 5})
        if depth == 3 {
            c = b -> relu -> conv_3x3(C)
        } else {
            c = b
        }
    } else {
        c = a -> max_pool_3x3
    }
    return c -> global_avg_pool -> linear(2)
}
"""


def test_if_on_a_decision_guards_the_sub_space() -> None:
    space = Space.from_text(IF_SPACE, file="if.nas")
    k = space.decisions["n.b.k"]
    assert str(k.guard) == "n.depth in (2, 3)"
    assert space.size() == 1 + 2 + 2  # the kernel exists only when depth >= 2
    genos = list(space.enumerate())
    assert len(genos) == 5
    ops = {}
    for g in genos:
        arch = both(space, g)
        ops[(g.values["n.depth"], g.values["n.b.k"])] = [a["op"] for a in arch.graph.nodes.values() if a["kind"] == "op"]
    assert ops[(1, 3)] == ["conv_3x3", "max_pool_3x3", "global_avg_pool", "linear"]
    assert ops[(2, 5)] == ["conv_3x3", "conv", "global_avg_pool", "linear"]
    assert ops[(3, 3)] == ["conv_3x3", "conv", "relu", "conv_3x3", "global_avg_pool", "linear"]
    assert space.canonical(dict(genos[0].values, **{"n.b.k": 5})).values["n.b.k"] == 3  # inactive: default


def test_if_on_a_decision_in_the_supernet_and_its_errors() -> None:
    space = Space.from_text(IF_SPACE, file="if.nas")
    ir = space.supernet()
    conds = ir.nodes("cond")
    assert len(conds) == 2 and ir.graph.nodes[conds[0]]["expr"] == [">=", ["d", "n.depth"], ["c", 2]]
    assert "when (n.depth >= 2) & (n.depth == 3)" in ir.to_text()
    two = "network n() {\n    input [3, 8, 8]\n    a = {1, 2}\n    b = {1, 2}\n    if a == b {\n        x = relu\n    }\n    return global_avg_pool -> linear(2)\n}\n"
    with pytest.raises(NasError, match="tests one decision; this one tests n.a, n.b"):
        Space.from_text(two, file="two.nas")
    num = "network n() {\n    input [3, 8, 8]\n    a = {1, 2}\n    if a == 1 {\n        k = 3\n    } else {\n        k = 5\n    }\n    return global_avg_pool -> linear(2)\n}\n"
    with pytest.raises(NasError, match="'k' is a number that the two branches set differently"):
        Space.from_text(num, file="num.nas")


def test_autoformer_space_samples_build_and_train_a_step_on_sequences() -> None:
    """The AutoFormer-style reference space: coupled widths (hidden = ratio x embed) on [tokens, dim] data."""
    import torch

    from nasdsl.datasets import load_dataset
    from nasdsl.plugins import get_backend

    from pathlib import Path

    data = load_dataset("mnist1d-seq", num_samples=300)
    space = Space.from_file(Path(__file__).resolve().parent.parent / "spaces" / "autoformer.nas", params={"W": 4})
    backend = get_backend("torch")()
    rng = random.Random(2)
    for _ in range(3):
        g = space.sample(rng)
        arch = both(space, g)
        E = g.values["autoformer.embed"]
        hidden = [a["args"]["hidden"] for a in arch.graph.nodes.values() if a.get("op") == "mlp"]
        ratios = [g.values[f"autoformer.body[{i}].ratio"] for i in range(g.values["autoformer.body.depth"])]
        assert hidden == [int(E * r + 0.5) for r in ratios]
        torch.manual_seed(0)
        result = backend.train(arch, data, {"epochs": 1, "max_steps": 2, "optimizer": "adam", "lr": 1e-3,
                                            "batch_size": 32, "seed": 0})
        assert result.metrics["params"] > 0 and result.metrics["train_loss"] == result.metrics["train_loss"]


def test_op_set_keyword_only_arguments_reach_the_ops_that_take_them() -> None:
    text = "ops o = [conv_3x3, conv(k = 5)]\nnetwork n() {\n    input [3, 8, 8]\n    a = o(kh = 3, channels = 4)\n    return global_avg_pool -> linear(2)\n}\n"
    space = Space.from_text(text, file="kw.nas")
    arch = both(space, {"n.a.op": "conv(k=5)"})
    assert args_of(arch, "a.conv")[0]["kh"] == 3 and args_of(arch, "a.conv")[0]["k"] == 5


PICK_K = """
ops o = [conv_3x3, skip_connect, max_pool_3x3]
cell c(x, y, z) {
    a = sum(pick {1, 2} of [x, y, z] each o)
    b = sum(pick {1, 3} of [x, y, z, a]) -> relu
    return concat(a, b)
}
network n(classes = 3) {
    input [3, 8, 8]
    s = conv_3x3(8)
    t = conv_3x3(16) -> conv_3x3(8)
    u = relu
    v = c(s, t, u)
    return global_avg_pool -> linear(classes)
}
"""


def test_a_value_choice_on_a_picks_k_is_one_decision_with_its_ops_guarded() -> None:
    from math import comb

    space = Space.from_text(PICK_K, file="pk.nas")
    assert [(d.name, d.describe(), str(d.guard) if d.guard else None) for d in space.decisions.values()] == [
        ("c.a.inputs", "1 or 2 different of [x, y, z]", None),
        ("c.a.op0", "one of conv_3x3, skip_connect, max_pool_3x3", None),
        ("c.a.op1", "one of conv_3x3, skip_connect, max_pool_3x3", "len(c.a.inputs) >= 2"),
        ("c.b.inputs", "1 or 3 different of [x, y, z, a]", None)]
    want = (comb(3, 1) * 3 + comb(3, 2) * 3 ** 2) * (comb(4, 1) + comb(4, 3))
    assert space.size() == want == 36 * 8
    every = list(space.enumerate())
    assert len(every) == want and len({space.canonical_hash(g) for g in every}) == want  # no two alike
    d = space.decisions["c.a.inputs"]
    assert [d.index(d.value(i)) for i in range(d.size())] == list(range(6))
    assert [d.value(i) for i in range(d.size())] == [["x"], ["y"], ["z"], ["x", "y"], ["x", "z"], ["y", "z"]]
    for g in every[::7]:
        arch = both(space, g)  # selecting in the supernet IR gives what the walker realizes
        picked = g.values["c.a.inputs"]
        assert len([n for n, a in arch.graph.nodes(data=True) if n.startswith("v.a.") and a["kind"] == "op"]) == len(picked)
        assert space.canonical(g).values == g.values  # op1 at its default when one input is picked
    one = space.validate({"c.a.inputs": ["z"], "c.a.op0": "skip_connect", "c.a.op1": "max_pool_3x3",
                          "c.b.inputs": ["a"]})
    assert space.canonical(one).values["c.a.op1"] == "conv_3x3"  # inactive: the default
    with pytest.raises(Exception, match=r"c\.b\.inputs.*1 or 3 different inputs from \[x, y, z, a\]"):
        space.validate({**one.values, "c.b.inputs": ["x", "y"]})


def test_sampling_mutation_and_encodings_of_a_variable_pick() -> None:
    space = Space.from_text(PICK_K, file="pk.nas")
    rng = random.Random(0)
    counts = {1: 0, 2: 0}
    for _ in range(600):
        counts[len(space.sample(rng).values["c.a.inputs"])] += 1
    assert 240 < counts[1] < 360 and counts[1] + counts[2] == 600  # uniform over the 6 values: 3 of each size
    g = space.validate({"c.a.inputs": ["x"], "c.a.op0": "skip_connect", "c.a.op1": "conv_3x3", "c.b.inputs": ["a"]})
    sizes = {len(space.mutate(g, rng).values["c.a.inputs"]) for _ in range(200)}
    assert sizes == {1, 2}  # a mutation swaps an input or picks one more
    near = [n.values for n in space.neighbours(g)]
    assert {"c.a.inputs": ["x", "y"], "c.a.op0": "skip_connect", "c.a.op1": "conv_3x3", "c.b.inputs": ["a"]} in near
    assert any(v["c.b.inputs"] == ["x", "y", "a"] for v in near) and all(len(v["c.b.inputs"]) in (1, 3) for v in near)
    for g in list(space.enumerate())[::5]:
        assert space.decode(space.encode(g, onehot=True), onehot=True) == g
        assert space.decode(space.encode(g)) == g


def test_a_variable_pick_as_controller_tokens() -> None:
    from nasdsl_plugins.strategies._tokens import plan

    space = Space.from_text(PICK_K, file="pk.nas")
    d = space.decisions["c.b.inputs"]
    p = plan(d, limit=2)  # too many values for one token: how many, then the slots
    assert p.kind == "sized" and p.sizes == (2, 4, 4, 4)
    assert p.names == ("c.b.inputs[k]", "c.b.inputs[0]", "c.b.inputs[1]", "c.b.inputs[2]")
    for v in d.values():
        tokens = p.encode(v)
        assert len(tokens) == 4 and p.decode(tokens) == v
    assert p.decode([0, 3, 0, 0]) == ["a"] and p.decode([1, 1, 1, 3]) == ["y", "z", "a"]  # a repeat moves on
    assert p.taken([1, 2, 0]) == [2, 0]


def test_a_variable_pick_in_a_search_and_in_feasible_counts(tmp_path) -> None:
    from nasdsl.constraints import count_feasible
    from nasdsl.search import Search

    text = PICK_K.replace("    input [3, 8, 8]\n", "    input [3, 8, 8]\n    where edges <= 3\n")
    space = Space.from_text(text, file="pk.nas")
    f = count_feasible(space)
    want = sum(1 for g in space.enumerate() if len(g.values["c.a.inputs"]) + len(g.values["c.b.inputs"]) <= 3)
    assert f.exact and f.count == want and 0 < want < space.size()
    (tmp_path / "pk.nas").write_text(text)
    for strategy in ("reinforce", "tpe", "evolution"):
        s = Search(tmp_path / "pk.nas", strategy=strategy, estimator="cost", budget=6, store=tmp_path / f"{strategy}.db",
                   executor="inprocess", seed=2)
        try:
            result = s.run()
        finally:
            s.close()
        assert result.counts["completed"] == 6, strategy


def test_errors_of_a_value_choice_on_k() -> None:
    base = PICK_K.replace("    b = sum(pick {1, 3} of [x, y, z, a]) -> relu\n", "").replace("concat(a, b)", "a")
    cases = [("pick {1, 2} of [x, y, z] each o", "pick {1, 2} of [x, y, z] independently each o",
              "pk.nas:4:18", "picks different inputs: 'pick {1, 2} of [...]', not 'independently'"),
             ("pick {1, 2} of", "pick {0, 2} of", "pk.nas:4:18", "pick at least 1 input"),
             ("pick {1, 2} of", "pick {1, 4} of", "pk.nas:4:18", "cannot pick 4 different inputs out of 3"),
             ("pick {1, 2} of", "pick {1, 1.5} of", "pk.nas:4:18", "holds integers")]
    for old, new, where, msg in cases:
        assert old in base
        with pytest.raises(NasError) as info:
            Space.from_text(base.replace(old, new), file="pk.nas")
        assert where in str(info.value) and msg in str(info.value), (new, str(info.value))
    named = base.replace("    a = sum(pick {1, 2}", "    k = {1, 2}\n    a = sum(pick k")
    with pytest.raises(NasError) as info:
        Space.from_text(named, file="pk.nas")
    assert "written in place: 'pick {1, 2} of [...]'" in str(info.value)


def test_a_merge_given_one_tensor_twice_by_a_genotype_fails_alike_in_both_paths() -> None:
    text = PICK_K.replace("pick {1, 3} of [x, y, z, a]) -> relu", "pick {1, 3} of [x, y, z, a])")
    space = Space.from_text(text, file="twice.nas")
    g = {"c.a.inputs": ["x"], "c.a.op0": "conv_3x3", "c.a.op1": "conv_3x3", "c.b.inputs": ["a"]}  # b is a
    said = refused_alike(space, g)
    assert "twice.nas:6:22" in said and "('a' and 'b' are the same tensor here)" in said
    with pytest.raises(NasError, match="same tensor here"):
        space.canonical_hash(g)
    assert both(space, {**g, "c.b.inputs": ["x", "y", "a"]}) is not None  # three inputs: b is a sum of its own
