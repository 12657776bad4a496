"""The supernet IR (the third reading of the walker) and realization by selection in it.

Selection must give exactly what the realize reading gives (the reference that walks the
language), for every reference space; the IR prints, lints and round-trips through JSON;
decision names and canonical hashes stay what they were before the compiler was rebuilt
(golden files written by the earlier compiler; a reference space added since is pinned from
when it was added, and a new space must be added to them).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nasdsl import Space
from nasdsl.architecture import lint
from nasdsl.compiler import passes
from nasdsl.compiler.supernet import SupernetIR, lint_supernet
from nasdsl.errors import ArchitectureError, NasError

from .conftest import refused_alike

ROOT = Path(__file__).resolve().parent.parent
SPACES = sorted(p.name for p in (ROOT / "spaces").glob("*.nas"))
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="module", params=SPACES)
def space(request) -> Space:
    return Space.from_file(ROOT / "spaces" / request.param)


def test_every_reference_space_is_covered() -> None:
    assert len(SPACES) >= 11 and "darts.nas" in SPACES and "nasbench201.nas" in SPACES


def test_decision_names_are_pinned(space: Space) -> None:
    """Every reference space's decisions keep their names, kinds and domains (golden file of the earlier compiler)."""
    golden = json.loads((GOLDEN / "decisions.json").read_text())[Path(space.file).name]
    assert [[d.name, d.kind, d.describe()] for d in space.decisions.values()] == golden


def test_canonical_hashes_are_unchanged(space: Space) -> None:
    """Stores written before keep de-duplicating: the same genotypes hash as they did."""
    for values, space_hash, arch_hash in json.loads((GOLDEN / "hashes.json").read_text())[Path(space.file).name]:
        assert space.canonical_hash(values) == space_hash
        assert space.realize(values).canonical_hash() == arch_hash
        assert space.realize_walk(values).canonical_hash() == arch_hash


def test_selection_equals_the_realize_reading(space: Space) -> None:
    """For 50 random genotypes: selecting the options in the supernet IR gives realize(genotype)."""
    rng = random.Random(1)
    for _ in range(50):
        g = space.sample(rng)
        try:
            want = space.realize_walk(g)
        except NasError as e:  # a genotype that cannot be realized fails the same way, at the same place
            with pytest.raises(NasError) as info:
                space.realize(g)
            assert str(info.value) == str(e)
            continue
        got = space.realize(g, check=True)
        assert got == want
        typed = lambda arch: {n: json.dumps(a, sort_keys=True) for n, a in arch.graph.nodes(data=True)}  # noqa: E731
        assert typed(got) == typed(want)  # 56 and 56.0 are equal in Python, not in the hash
        assert got.canonical_hash() == want.canonical_hash()
        assert {n: a["order"] for n, a in got.graph.nodes(data=True)} == {n: a["order"] for n, a in want.graph.nodes(data=True)}
        assert got.hyperparameters == want.hyperparameters


def test_supernet_lints_prints_and_round_trips(space: Space) -> None:
    ir = space.supernet()
    lint_supernet(ir)
    text = ir.to_text()
    assert len(text.splitlines()) == len(ir)
    back = SupernetIR.from_json(ir.to_json())
    assert back == ir
    g = space.sample(3)  # a round-tripped IR (no source spans kept) still selects the same architecture
    assert Space.realize(space, g) == space.realize_walk(g)
    assert back.select(space.validate(g).values).merkle() == ir.select(space.validate(g).values).merkle()


def test_supernet_holds_every_option_with_its_arguments() -> None:
    space = Space.from_file(ROOT / "spaces" / "darts.nas", params={"C": 8, "layers": 5})
    ir = space.supernet()
    g = ir.graph
    uses = ir.choices()
    # one choice node per use: 3 normal cells, each offering every candidate to both slots of n2
    normal = [n for n in uses["darts_cell.n2.op0"]]
    assert len(normal) == 3 * 2
    assert len(uses["reduce_cell.n2.op0"]) == 2 * 2
    ch = g.nodes[normal[0]]
    assert ch["options"] == ["skip_connect", "max_pool_3x3", "avg_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
                             "dil_conv_3x3", "dil_conv_5x5"]
    ends = [g.nodes[e] for e in ch["ends"]]
    assert [e["op"] for e in ends] == ch["options"]
    assert all(e["shape"] == [8, 32, 32] for e in ends)  # resolved channels and inferred shapes
    assert ends[3]["args"] == {"channels": "same", "k": 3, "stride": 1}
    picks = [n for n in ir.nodes("pick") if g.nodes[n]["decision"] == "reduce_cell.n5.inputs"]
    assert len(picks) == 2 and g.nodes[picks[0]]["labels"] == ["s0", "s1", "n2", "n3", "n4"]
    # ops on a reduction cell's inputs run at stride 2, on its inner nodes at stride 1
    red = g.nodes[picks[0]]
    strides = [g.nodes[g.nodes[ch]["ends"][3]]["args"]["stride"] for ch in red["slots"][0]]
    assert strides == [2, 2, 1, 1, 1]


def test_depth_choices_keep_every_repetition() -> None:
    space = Space.from_file(ROOT / "spaces" / "ofa.nas")
    ir = space.supernet()
    depth = [n for n in ir.nodes("depth")]
    assert len(depth) == 5
    a = ir.graph.nodes[depth[0]]
    assert sorted(a["ends"]) == ["1", "2", "3"]
    kept = [n for n in ir.nodes() if any(p[0] == "rep" and p[1] == depth[0] for p in ir.graph.nodes[n]["path"])]
    assert kept  # repetitions 2 and 3 exist in the IR, under their branch
    ks = [n for n in ir.nodes("op") if ir.graph.nodes[n].get("vargs")]
    assert ir.graph.nodes[ks[0]]["vargs"] == {"k": "ofa.s1.first.k", "e": "ofa.s1.first.e"}
    assert ir.graph.nodes[ks[0]]["args"]["k"] == 7  # a value choice stands at its largest value


def test_selection_follows_value_choices_and_depth() -> None:
    space = Space.from_file(ROOT / "spaces" / "ofa.nas")
    g = dict(space.default().values)
    g["ofa.s1.depth"], g["ofa.s1.first.k"] = 3, 5
    arch = space.realize(g, check=True)
    assert arch == space.realize_walk(g)
    ks = [a["args"]["k"] for n, a in arch.graph.nodes(data=True) if n.startswith("s1.first")]
    assert ks == [5]


def test_shared_cell_copies_select_together() -> None:
    space = Space.from_file(ROOT / "spaces" / "nasbench201.nas", params={"C": 8, "N": 2})
    g = dict(space.default().values)
    g["nb201_cell.e0_1"] = "nor_conv_3x3"
    g["nb201_cell.e1_3"] = "skip_connect"  # else every path ends in 'none' and the conv is dead
    arch = space.realize(g)
    convs = [n for n, a in arch.graph.nodes(data=True) if a.get("op") == "nor_conv_3x3"]
    assert len(convs) == 6  # the one decision, in each of the 6 cells


def test_fallback_to_the_walker_when_the_supernet_is_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    from nasdsl import compiler

    space = Space.from_file(ROOT / "spaces" / "darts.nas", params={"C": 8, "layers": 5})
    monkeypatch.setattr(compiler, "MAX_NODES", 600)  # the realized network fits, its supernet (~1,200 nodes) does not
    g = space.sample(0)
    with pytest.raises(NasError, match="supernet has more than 600 nodes"):
        space.supernet()
    assert space.realize(g) == space.realize_walk(g)
    assert space.canonical_hash(g) == space.canonical_hash(space.canonical(g))


def test_lint_finds_broken_supernets() -> None:
    space = Space.from_file(ROOT / "spaces" / "nasbench201.nas")
    data = space.supernet().to_dict()
    nodes = data["graph"]["nodes"]
    op = next(n for n in nodes if n["kind"] == "op")
    op["inp"] = "nowhere"
    with pytest.raises(ArchitectureError, match="missing node 'nowhere'"):
        SupernetIR.from_dict(data)
    with pytest.raises(ArchitectureError, match="not a nasdsl supernet"):
        SupernetIR.from_dict({"format": "x"})


def test_unrealizable_genotype_reports_its_place_in_both_paths() -> None:
    text = """network n(C = 8) {
    input [3, 12, 12]
    a = conv_3x3(C)
    b = a -> max_pool(stride = {1, 3}) -> max_pool(stride = {1, 3})
    c = a -> max_pool(stride = 2)
    return sum(b, c) -> global_avg_pool -> linear(2)
}
"""
    space = Space.from_text(text, file="bad.nas")
    names = list(space.decisions)
    bad = {names[0]: 3, names[1]: 1}  # 4x4 next to 6x6: no factorized reduction aligns them
    said = refused_alike(space, bad)
    assert "bad.nas:6:12" in said and "cannot merge feature maps" in said


# ------------------------------------------------------------ the lowering passes, one by one


def test_pass_lower_op_turns_a_strided_skip_into_factorized_reduce() -> None:
    from nasdsl import primitives

    prim, args = passes.lower_op(primitives.get("skip_connect"), {"stride": 2}, (16, 8, 8))
    assert prim.name == "factorized_reduce" and args == {"channels": 16}
    prim, args = passes.lower_op(primitives.get("skip_connect"), {"stride": 1}, (16, 8, 8))
    assert prim.name == "skip_connect"
    prim, args = passes.lower_op(primitives.get("sep_conv_3x3"), {"channels": primitives.SAME, "k": 3, "stride": 1}, (12, 8, 8))
    assert args["channels"] == 12


def test_pass_drop_zero_inputs() -> None:
    ins = [{"kind": "op", "base": "none"}, {"kind": "op", "base": "conv"}, {"kind": "sum"}]
    assert passes.drop_zero_inputs(ins, passes.is_zero) == ins[1:]


def test_pass_align_plan() -> None:
    assert passes.align_plan([(8, 8), (8, 8)], None) == [0, 0]
    assert passes.align_plan([(32, 32), (8, 8), (16, 16)], None) == [2, 0, 1]
    assert passes.align_plan([(7, 7), (4, 4)], None) == [1, 0]  # 7 -> 4 rounds up
    with pytest.raises(NasError, match="cannot merge feature maps"):
        passes.align_plan([(16, 16), (6, 6)], None)


def test_pass_merge_shape() -> None:
    assert passes.merge_shape("sum", [(4, 2, 2), (4, 2, 2)], None) == (4, 2, 2)
    assert passes.merge_shape("concat", [(4, 2, 2), (3, 2, 2)], None) == (7, 2, 2)
    assert passes.merge_shape("mul", [(5,), (5,)], None) == (5,)
    with pytest.raises(NasError, match="cannot multiply"):
        passes.merge_shape("mul", [(5,), (4,)], None)


def test_pass_prune_dead() -> None:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from([("in", {"kind": "input"}), ("a", {"kind": "op"}), ("dead", {"kind": "op"}), ("out", {"kind": "output"})])
    g.add_edges_from([("in", "a"), ("in", "dead"), ("a", "out")])
    passes.prune_dead(g, "out")
    assert sorted(g) == ["a", "in", "out"]


def test_realized_architectures_lint(space: Space) -> None:
    for seed in range(5):
        g = space.sample(seed)
        try:
            lint(space.realize(g))
        except NasError:
            pass  # unrealizable genotypes are covered above
