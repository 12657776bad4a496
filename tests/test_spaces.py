"""The reference spaces: published sizes, and every space compiles, samples, realizes and lints."""

from __future__ import annotations

import json
import math

import pytest

from nasdsl import Architecture, Genotype, Space, lint, parse
from nasdsl.architecture import KINDS

from .conftest import SPACE_FILES, load

PUBLISHED = {
    "nasbench201.nas": 15_625,
    "darts.nas": (180 * 49 ** 4) ** 2,
    "enas_macro.nas": 6 ** 12 * 2 ** 66,
    "pnas.nas": 720 ** 2 * 64 ** 5,
    "genetic_cnn.nas": 2 ** 19,
    "nasbench_graph.nas": 24 * 9 ** 4,
    "nasbench101.nas": 2 ** 21 * 3 ** 5,  # the raw encoding: 21 edge bits, 5 op labels
    "autoformer.nas": 3 * (4 ** 2 + 4 ** 3 + 4 ** 4),  # embed x per-layer (heads, ratio) at depth 2, 3, 4
    # sizes that follow from the papers' definitions (see each file's header)
    "hierarchical.nas": 7 ** 46,
    "ofa.nas": (9 ** 2 + 9 ** 3 + 9 ** 4) ** 5,
    "proxyless.nas": 6 ** 6 * 7 ** 15,
    "nasnet.nas": (720 ** 2 * 13 ** 10) ** 2,
    "enas_micro.nas": (720 ** 2 * 5 ** 10) ** 2,
}


def test_every_reference_space_has_a_size():
    assert {p.name for p in SPACE_FILES} == set(PUBLISHED)


@pytest.mark.parametrize("name,size", sorted(PUBLISHED.items()))
def test_published_size(name, size):
    assert load(name).size() == size


def test_darts_size_is_the_published_figure():
    assert load("darts.nas").size() == 1_076_746_950_455_072_400
    assert load("pnas.nas").size() == 556_627_761_561_600


def test_space_samples_realizes_and_lints(space: Space):
    for seed in range(3):
        g = space.sample(seed)
        assert space.validate(g) == g
        arch = space.realize(g)
        lint(arch)
        kinds = {a["kind"] for _, a in arch.graph.nodes(data=True)}
        assert kinds <= set(KINDS) and "op" in kinds
        assert arch.output_shape[0] == space.params.get("classes", arch.output_shape[0])
        assert len(arch.output_shape) == 1


def test_sample_is_seeded(space: Space):
    assert space.sample(7) == space.sample(7)
    samples = {json.dumps(space.sample(s).values, sort_keys=True) for s in range(8)}
    assert len(samples) > 1


def test_ast_round_trip(space: Space):
    path = space.file
    tree = parse(open(path).read(), path)
    again = parse(str(tree), "again.nas")
    assert again == tree
    assert str(again) == str(tree)


def test_genotype_json_round_trip(space: Space):
    g = space.sample(1)
    back = Genotype.from_json(g.to_json())
    assert back == g
    assert space.validate(back) == g


def test_architecture_json_round_trip(space: Space):
    arch = space.realize(space.sample(2))
    back = Architecture.from_json(arch.to_json())
    assert back == arch
    assert back.to_text() == arch.to_text()
    assert back.canonical_hash() == arch.canonical_hash()


def test_mutate_changes_one_decision(space: Space):
    g = space.sample(3)
    for seed in range(5):
        m = space.mutate(g, seed)
        space.validate(m)
        c0, c1 = space.canonical(g).values, m.values
        changed = {k for k in c0 if c0[k] != c1[k]}
        assert changed, "a mutation must change the genotype"
        # exactly one decision changes; what may change with it: the op decisions aligned with a pick
        # (reordered with its inputs) and the decisions it guards (reset when they become inactive)
        def follows(k: str, d) -> bool:
            if k in getattr(d, "each", ()):
                return True
            g = space.decisions[k].guard
            while g is not None:
                if g.decision == d.name:
                    return True
                g = space.decisions[g.decision].guard
            return False

        assert any(all(k == d or follows(k, space.decisions[d]) for k in changed) for d in changed), changed


def test_encode_decode_round_trip(space: Space):
    g = space.canonical(space.sample(4))
    for onehot in (False, True):
        vec = space.encode(g, onehot=onehot)
        assert len(vec) == space.encoding_width(onehot)
        assert all(isinstance(x, float) for x in vec)
        assert space.decode(vec, onehot=onehot) == g


def test_neighbours_differ_by_one_decision():
    space = load("nasbench201.nas")
    g = space.canonical(space.sample(0))
    ns = list(space.neighbours(g))
    assert len(ns) == 6 * 4  # six edges, four other ops each
    for n in ns:
        assert sum(g.values[k] != n.values[k] for k in g.values) == 1


def test_nb201_enumerate_is_exact_and_distinct():
    space = load("nasbench201.nas")
    seen = {json.dumps(g.values, sort_keys=True) for g in space.enumerate()}
    assert len(seen) == space.size() == 15_625


def test_darts_reduction_cells_halve_and_double():
    space = load("darts.nas")
    arch = space.realize(space.sample(0))
    shapes = {n: tuple(a["shape"]) for n, a in arch.graph.nodes(data=True)}
    assert shapes["body.5.concat"] == (144, 32, 32)
    assert shapes["body.6.concat"] == (288, 16, 16)
    assert shapes["body.13.concat"] == (576, 8, 8)
    # the cell after a reduction preprocesses its first input by factorized reduction
    assert "body.7.pre0.factorized_reduce" in shapes
    # every op of a reduction cell applied to a cell input runs at stride 2
    for n, a in arch.graph.nodes(data=True):
        if n.startswith("body.6.") and a["kind"] == "op" and not n.startswith("body.6.pre"):
            srcs = arch.inputs_of(n)
            if srcs[0].startswith("body.6.pre"):
                assert a["args"].get("stride", 2) == 2 or a["op"] == "factorized_reduce", n


def test_param_override_changes_the_network_not_the_decisions():
    small = Space.from_file(load("darts.nas").file, params={"C": 8, "layers": 5}, input_shape=(1, 8, 8))
    big = load("darts.nas")
    assert list(small.decisions) == list(big.decisions)
    arch = small.realize(small.sample(0))
    assert arch.input_shape == (1, 8, 8)
    assert sum(1 for n in arch.graph if n.endswith(".concat")) == 5


def test_shared_cell_decisions_are_shared():
    space = load("nasbench201.nas")
    g = space.sample(5)
    arch = space.realize(g)
    op = g.values["nb201_cell.e0_1"]
    cells = [n for n in arch.graph if ".e0_1." in n]
    assert len(cells) == 15 or op == "none"
    assert all(arch.graph.nodes[n]["op"] == op for n in cells)


def test_block_decisions_are_independent_per_use():
    space = load("ofa.nas")
    names = list(space.decisions)
    assert "ofa.s1.first.k" in names and "ofa.s2.first.k" in names
    assert "ofa.s1.depth" in names


def test_hierarchical_motifs_are_a_family():
    space = load("hierarchical.nas")
    for i in range(6):
        assert f"motif2[{i}].e0_1" in space.decisions
    assert space.decisions["level3.e0_1"].options == tuple(f"motif2[{i}]" for i in range(6)) + ("none",)


def test_depth_guards_count_and_enumerate_exactly():
    text = """
    network t(classes = 3) {
        input [4, 8, 8]
        body = repeat {1, 2, 3} { conv_3x3 -> one of [relu, batchnorm] }
        return global_avg_pool -> linear(classes)
    }
    """
    space = Space.from_text(text, "t.nas")
    assert space.size() == 2 + 4 + 8
    genos = list(space.enumerate())
    assert len(genos) == 14
    assert len({json.dumps(g.values, sort_keys=True) for g in genos}) == 14
    # inactive decisions are written at their default
    g = space.canonical({"t.body.depth": 1, "t.body[0].op": "batchnorm", "t.body[1].op": "batchnorm",
                         "t.body[2].op": "relu"})
    assert g.values["t.body[1].op"] == "relu"
    assert space.realize(g).ops().__len__() == 2 + 2  # conv + batchnorm, gap, linear


def test_path_options_guard_their_inner_decisions():
    text = """
    network t() {
        input [4, 8, 8]
        body = one of [conv_3x3 -> one of [relu, batchnorm], max_pool_3x3, conv(k = {1, 3, 5})]
        return global_avg_pool -> linear(2)
    }
    """
    space = Space.from_text(text, "t.nas")
    assert space.size() == 2 + 1 + 3
    assert len(list(space.enumerate())) == 6


def test_canonical_hash_merges_isomorphic_genotypes():
    space = load("nasbench_graph.nas")
    # node 2 reads x in both; swapping the roles of two parallel nodes gives the same graph
    a = {"nasbench_graph.n1.inputs": ["x"], "nasbench_graph.n1.op0": "gcn",
         "nasbench_graph.n2.inputs": ["x"], "nasbench_graph.n2.op0": "gat",
         "nasbench_graph.n3.inputs": ["n1"], "nasbench_graph.n3.op0": "fc",
         "nasbench_graph.n4.inputs": ["n2"], "nasbench_graph.n4.op0": "sage"}
    b = {"nasbench_graph.n1.inputs": ["x"], "nasbench_graph.n1.op0": "gat",
         "nasbench_graph.n2.inputs": ["x"], "nasbench_graph.n2.op0": "gcn",
         "nasbench_graph.n3.inputs": ["n2"], "nasbench_graph.n3.op0": "fc",
         "nasbench_graph.n4.inputs": ["n1"], "nasbench_graph.n4.op0": "sage"}
    c = dict(b, **{"nasbench_graph.n4.op0": "gin"})
    assert space.canonical_hash(a) == space.canonical_hash(b)
    assert space.canonical_hash(a) != space.canonical_hash(c)


def test_canonical_hash_ignores_the_order_of_picked_inputs():
    space = load("darts.nas")
    g = space.sample(9)
    v = dict(g.values)
    v["darts_cell.n3.inputs"] = list(reversed(v["darts_cell.n3.inputs"]))
    v["darts_cell.n3.op0"], v["darts_cell.n3.op1"] = v["darts_cell.n3.op1"], v["darts_cell.n3.op0"]
    assert space.canonical(v) == space.canonical(g)
    assert space.canonical_hash(v) == space.canonical_hash(g)


def test_size_is_never_by_enumeration():
    space = load("hierarchical.nas")
    assert space.size() == 7 ** 46  # far too many to enumerate
    assert math.log10(space.size()) > 38


def test_constraints_and_hyperparameters_are_kept():
    text = """
    network t(C = 8) {
        input [3, 8, 8]
        where params < 5M and flops <= 1.5G
        hp lr = loguniform(1e-4, 1e-1)
        hp opt = {sgd, adam}
        x = conv_3x3(C)
        return global_avg_pool -> linear(10)
    }
    """
    space = Space.from_text(text, "t.nas")
    assert [(c["metric"], c["op"], c["value"]) for c in space.constraints] == [("params", "<", 5_000_000), ("flops", "<=", 1_500_000_000)]
    assert space.size() == 1  # hyperparameters are not architectures
    g = space.sample(0)
    arch = space.realize(g)
    assert 1e-4 <= arch.hyperparameters["lr"] <= 1e-1
    assert arch.hyperparameters["opt"] in ("sgd", "adam")
    assert arch.constraints == space.constraints


def test_imports(tmp_path):
    (tmp_path / "ops.nas").write_text("ops small = [conv_3x3, max_pool_3x3]\n")
    (tmp_path / "net.nas").write_text('import "ops.nas"\nnetwork n() {\n input [3, 8, 8]\n x = small\n return global_avg_pool -> linear(2)\n}\n')
    space = Space.from_file(tmp_path / "net.nas")
    assert space.size() == 2
    # the reference spaces can be imported by name from anywhere
    (tmp_path / "reuse.nas").write_text('import "nasbench201.nas"\nnetwork mine() {\n input [3, 16, 16]\n'
                                        ' x = conv_3x3(8) -> nb201_cell -> nb201_cell\n return global_avg_pool -> linear(2)\n}\n')
    reuse = Space.from_file(tmp_path / "reuse.nas")
    assert reuse.name == "mine" and reuse.size() == 15_625
