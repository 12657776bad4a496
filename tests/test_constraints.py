"""``where`` constraints that say what papers say: edges, op counts, bounds from parameters, feasible counts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nasdsl import Space
from nasdsl.constraints import count_feasible, genotype_metrics
from nasdsl.errors import NasdslError, NasError

ROOT = Path(__file__).resolve().parent.parent


def test_nasbench101_feasible_count_over_the_raw_encoding_is_exact() -> None:
    space = Space.from_file(ROOT / "spaces" / "nasbench101.nas")
    assert space.size() == 2 ** 21 * 3 ** 5
    f = count_feasible(space)
    assert f.exact and f.count == sum(math.comb(21, j) for j in range(10)) * 3 ** 5 == 169_093_980
    # the bound is a network parameter: -p max_edges=21 keeps every genotype
    assert count_feasible(Space.from_file(ROOT / "spaces" / "nasbench101.nas", params={"max_edges": 21})).count == space.size()


def test_edges_counts_the_inputs_the_input_choices_pick() -> None:
    space = Space.from_file(ROOT / "spaces" / "nasbench101.nas")
    values = dict(space.default().values)
    for d in space.decisions.values():
        if d.kind == "inputs":
            values[d.name] = list(d.candidates)  # every edge of the matrix
    assert genotype_metrics(space, values) == {"edges": 21.0}
    values = {k: ([] if space.decisions[k].kind == "inputs" else v) for k, v in values.items()}
    assert genotype_metrics(space, values) == {"edges": 0.0}


DARTS_SKIPS = """
import "darts.nas"
network limited(C = 8, layers = 5, classes = 10, skips = 2) {
    input [3, 32, 32]
    where count(skip_connect, darts_cell) <= skips
    stem = conv_3x3(3 * C) -> batchnorm
    body = cells(layers, channels = C, normal = darts_cell, reduce = darts_cell as reduce_cell,
                 reduce_at = [layers / 3, 2 * layers / 3])
    return global_avg_pool -> linear(classes)
}
"""


def test_count_of_an_op_scoped_to_a_cell() -> None:
    space = Space.from_text(DARTS_SKIPS, file=str(ROOT / "spaces" / "limited.nas"))
    per_cell = 180 * 7 ** 8  # input choices x 8 op decisions of a DARTS cell
    normal_ok = 180 * sum(math.comb(8, j) * 6 ** (8 - j) for j in range(3))
    f = count_feasible(space)
    assert f.exact and space.size() == per_cell ** 2
    assert f.count == normal_ok * per_cell  # only the normal cell's skips are limited
    g = dict(space.default().values)
    for i, name in enumerate(n for n in g if n.startswith("darts_cell.") and ".op" in n):
        g[name] = "skip_connect" if i < 3 else "sep_conv_3x3"
    assert genotype_metrics(space, space.validate(g).values) == {"count(skip_connect, darts_cell)": 3.0}


def test_architecture_metrics_are_counted_by_enumeration_or_estimated() -> None:
    text = """
ops o = [none, skip_connect, nor_conv_3x3, avg_pool_3x3]
cell c(x) { return dag(nodes = 3, edge = o) }
network n(C = 4) {
    input [3, 8, 8]
    where nodes <= 5
    a = conv_3x3(C) -> c
    return global_avg_pool -> linear(2)
}
"""
    space = Space.from_text(text, file="n.nas")
    f = count_feasible(space)
    want = sum(1 for g in space.enumerate() if len(space.realize(g).ops()) <= 5)
    assert f.exact and f.count == want and 0 < want < space.size()
    est = count_feasible(space, exact_limit=10, samples=400, seed=1)
    assert not est.exact and est.low <= want <= est.high and est.samples == 400
    assert "estimate from 400 samples" in est.describe()
    assert sum(est.reasons.values()) > 0 and "nodes <= 5" in est.reasons


def test_latency_cannot_be_counted_and_bad_metrics_are_located() -> None:
    text = "network n() {\n    input [3, 8, 8]\n    where latency < 5\n    x = one of [relu, batchnorm]\n    return global_avg_pool -> linear(2)\n}\n"
    with pytest.raises(NasdslError, match="'latency' is measured by an estimator"):
        count_feasible(Space.from_text(text, file="l.nas"))
    bad = text.replace("latency < 5", "count(skip_conect) <= 2")
    with pytest.raises(NasError) as info:
        Space.from_text(bad, file="b.nas")
    assert "b.nas:3:17" in str(info.value) and "did you mean 'skip_connect'" in str(info.value)
    cell = text.replace("latency < 5", "count(relu, nowhere) <= 2")
    with pytest.raises(NasError, match="'nowhere' is not a cell"):
        Space.from_text(cell, file="c.nas")
    edge = text.replace("latency < 5", "edgs <= 2")
    with pytest.raises(NasError, match="did you mean 'edges'"):
        Space.from_text(edge, file="e.nas")


def test_count_feasible_on_the_command_line(capsys) -> None:
    from nasdsl.cli import main

    assert main(["count", "--feasible", str(ROOT / "spaces" / "nasbench101.nas")]) == 0
    assert capsys.readouterr().out.startswith("169093980 of 509607936 architectures satisfy the constraints (exact")
    assert main(["count", str(ROOT / "spaces" / "nasbench101.nas")]) == 0
    assert capsys.readouterr().out.strip() == "509607936"


def test_count_feasible_of_a_params_bound_measures_each_model(tmp_path, capsys) -> None:
    from nasdsl.cli import main

    text = """network n(C = 8) {
    input [3, 8, 8]
    where params <= 1600
    a = conv_3x3({4, 8, 16, 32}) -> batchnorm -> relu
    b = repeat {1, 2, 3} { conv_3x3(8) -> relu }
    return global_avg_pool -> linear(2)
}
"""
    (tmp_path / "p.nas").write_text(text)
    assert main(["count", "--feasible", str(tmp_path / "p.nas")]) == 0  # 12 architectures: each one measured
    out = capsys.readouterr().out
    space = Space.from_text(text, file=str(tmp_path / "p.nas"))
    from nasdsl.constraints import model_metrics

    want = sum(1 for g in space.enumerate() if model_metrics(space.realize(g))["params"] <= 1600)
    assert 0 < want < 12 and out.startswith(f"{want} of 12 architectures satisfy the constraints (exact")
    assert f"{12 - want}  broke 'where params <= 1600' first" in out
    assert main(["count", "--feasible", "--samples", "0", str(tmp_path / "p.nas")]) == 1
    assert "--samples must be at least 1" in capsys.readouterr().err


def test_show_supernet_prints_the_linted_ir_and_its_json(capsys) -> None:
    import json

    from nasdsl.cli import main
    from nasdsl.compiler.supernet import SupernetIR

    nb201 = str(ROOT / "spaces" / "nasbench201.nas")
    assert main(["show", "--supernet", nb201]) == 0
    text = capsys.readouterr().out
    space = Space.from_file(nb201)
    assert text.strip() == space.supernet().to_text().strip()
    assert "choice[nb201_cell.e0_1]" in text and "when nb201_cell.e0_1=='nor_conv_3x3'" in text
    assert main(["show", "--supernet", "--json", nb201]) == 0
    ir = SupernetIR.from_json(capsys.readouterr().out)
    assert ir == space.supernet() and json.loads(ir.to_json())["format"] == "nasdsl.supernet/1"


def test_a_violation_says_the_bound_a_parameter_gave() -> None:
    from nasdsl.constraints import violation

    space = Space.from_file(ROOT / "spaces" / "nasbench101.nas", params={"max_edges": 7})
    (c,) = space.constraints
    assert violation(c, {"edges": 10.0}) == f"edges = 10 breaks 'where edges <= max_edges', i.e. <= 7 ({c['where']})"
    assert c["where"].endswith("nasbench101.nas:26:11")


def test_params_and_flops_from_the_ir_equal_the_built_models(space) -> None:
    """`where params/flops` are checked from the IR's ops and shapes; they must be the built model's figures."""
    import random

    from nasdsl import primitives
    from nasdsl.plugins import get_backend

    backend = get_backend("torch")()
    rng = random.Random(7)
    for _ in range(3):
        arch = space.realize(space.sample(rng=rng))
        if any(primitives.declared_by(arch.graph.nodes[n]["base"]) == "nasbench_graph" for n in arch.ops()):
            with pytest.raises(NasdslError, match="has no PyTorch implementation"):  # a table's ops, not torch's
                backend.cost(arch)
            return
        model = backend.build(arch)
        want = {"params": float(backend.count_params(model)), "flops": float(backend.flops(model, arch.input_shape))}
        assert backend.cost(arch) == want and want["params"] > 0 and want["flops"] > 0


def test_a_huge_architecture_is_rejected_by_its_params_without_allocating_it(tmp_path) -> None:
    """A `where params < 1M` constraint built the whole model to count it: a 12,000-channel conv allocated
    5.2 GB just to be rejected, and was recorded failed, not rejected."""
    import subprocess
    import sys

    (tmp_path / "huge.nas").write_text("""network huge() {
    input [1, 8, 8]
    where params < 1M
    a = conv_3x3(12000) -> one of [conv_3x3(12000), conv_3x3(8)]
    return global_avg_pool -> linear(10)
}
""")
    script = f"""
import resource
from nasdsl.search import Search
from nasdsl.store import Store
s = Search({str(tmp_path / "huge.nas")!r}, strategy="grid", estimator="cost", budget=2,
           store={str(tmp_path / "h.db")!r}, executor="inprocess")
s.run(); s.close()
with Store({str(tmp_path / "h.db")!r}, readonly=True) as st:
    for t in st.trials():
        print(t.status, int(t.metrics.get("params", -1)), t.error)
print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    rejected = [ln for ln in lines if ln.startswith("rejected ")]
    assert len(rejected) == 1 and "breaks 'where params < 1M'" in rejected[0]
    assert int(rejected[0].split()[1]) == 12000 * 9 + 12000 * 12000 * 9 + 12000 * 10 + 10  # convs have no bias
    assert any(ln.startswith("failed ") or ln.startswith("completed ") for ln in lines)  # the small one ran
    maxrss_gb = int(lines[-2].split()[1]) / 2 ** 20
    assert maxrss_gb < 2.0, f"peak memory {maxrss_gb:.2f} GB: the 5.2 GB model was allocated"
