"""NAS-Bench-Graph tables (the real ones, from the installed wheel) and the tabular estimator."""

from __future__ import annotations

import functools
import io
import math
import os
import pickle
import sys

import numpy as np
import pytest

from nasdsl import Space
from nasdsl.estimator import TrialSpec
from nasdsl.plugins import get_estimator
from nasdsl_plugins import nasbench_graph as nbg

from .conftest import SPACES_DIR, load

NODE_CLASSIFICATION = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")
UNIQUE_ARCHS = 26_206  # the paper's count of architectures after merging isomorphic ones


def space() -> Space:
    return load("nasbench_graph.nas")


def genotype(link, ops):
    return space().validate(nbg.arch_to_genotype(link, ops))


@functools.cache
def all_keys() -> tuple[list[int], list[tuple[str, ...]]]:
    """The benchmark key of every genotype of the space, with the genotype's ops."""
    keys, ops = [], []
    for g in space().enumerate():
        link, o = nbg.genotype_to_arch(g)
        keys.append(nbg.arch_key(link, o))
        ops.append(tuple(o))
    return keys, ops


# ---------------------------------------------------------------- loading
@pytest.mark.parametrize("dataset", NODE_CLASSIFICATION)
def test_table_loads(dataset):
    t = nbg.load_table(dataset)
    assert len(t) == UNIQUE_ARCHS
    assert nbg.load_table(dataset.upper()) is t  # cached
    assert t.keys.tolist() == nbg.load_table("cora").keys.tolist()  # the 8 tables share their keys
    for metric in ("valid_acc", "test_acc"):
        col = t.column(metric)
        assert np.all((col >= 0) & (col <= 1)) and col.max() > 0.7  # fractions, not percentages
    assert np.all(t.column("latency") > 0) and np.all(t.column("latency") < 1)  # seconds
    assert np.all(t.column("params") >= 1e4)  # a count (the table stores millions)
    assert t.best_test() >= t.test_of_best_valid() and t.best_valid() >= t.column("valid_acc").mean()


def test_proteins_table():
    t = nbg.load_table("proteins")
    assert len(t) == 2021 and t.ops == nbg.PROTEINS_OPS
    for rec in t.records():
        assert set(rec["ops"]) <= set(nbg.PROTEINS_OPS)
        assert 0 <= rec["valid_acc"] <= 1 and 0 <= rec["test_acc"] <= 1


def test_unknown_dataset_lists_the_datasets():
    with pytest.raises(nbg.NasBenchGraphError, match="cora, citeseer, pubmed, cs, physics, photo, computers, arxiv"):
        nbg.load_table("cifar10")


def test_the_package_code_is_never_imported():
    nbg.load_table("cora")
    assert "nas_bench_graph" not in sys.modules and "nas_bench_graph.readbench" not in sys.modules


# ---------------------------------------------------------------- genotype -> key
def test_every_genotype_but_the_all_skip_ones_has_a_record():
    keys, ops = all_keys()
    assert len(keys) == space().size() == 157_464
    cora = nbg.load_table("cora")
    missing = [(k, o) for k, o in zip(keys, ops) if k not in cora]
    # the 24 link patterns with 4 skips: the identity network, which the benchmark left out
    assert len(missing) == 24 and all(k == nbg.ALL_SKIP_KEY and set(o) == {"skip"} for k, o in missing)
    found = set(keys) - {nbg.ALL_SKIP_KEY}
    assert len(found) == UNIQUE_ARCHS
    for dataset in NODE_CLASSIFICATION:
        assert found == set(nbg.load_table(dataset).keys.tolist())  # every record is reached, too


def test_proteins_genotypes_have_records():
    keys, ops = all_keys()
    prot = nbg.load_table("proteins")
    mine = [k for k, o in zip(keys, ops) if set(o) <= set(nbg.PROTEINS_OPS)]
    assert len(mine) == 2 * 3 * 4 * 5**4
    assert sum(k not in prot for k in mine) == 24  # the all-skip ones again
    assert set(mine) - {nbg.ALL_SKIP_KEY} == set(prot.keys.tolist())


def test_table_keys_are_canonical():
    for k in nbg.load_table("cora").keys.tolist():
        link, ops = nbg.key_to_arch(k)
        assert nbg.arch_key(link, ops) == k
        assert nbg.genotype_key(genotype(link, ops)) == k


@pytest.mark.parametrize("link, ops, key", [
    ([0, 1, 2, 3], ["gcn", "gcn", "gcn", "gcn"], 81111),  # a chain: x -> gcn -> gcn -> gcn -> gcn
    ([0, 1, 2, 3], ["skip", "gcn", "gcn", "gcn"], 88111),  # one of the benchmark's anchors
    ([0, 1, 2, 3], ["gcn", "skip", "gcn", "gcn"], 88111),  # a skip inside the chain is the same network
    ([0, 0, 0, 0], ["gcn", "gat", "sage", "gin"], 124),  # 4 parallel nodes: ops sorted
    ([0, 0, 0, 0], ["sage", "gin", "gat", "gcn"], 124),
    ([0, 0, 0, 2], ["gcn", "gat", "sage", "gin"], 10142),  # n4 reads n2: relabelled so that it reads n1
    ([0, 0, 0, 1], ["gat", "sage", "gcn", "gin"], 10142),
    ([0, 0, 1, 2], ["sage", "gcn", "fc", "gat"], 31407),  # two chains, ordered by their first ops
    ([0, 0, 1, 2], ["gcn", "sage", "gat", "fc"], 31407),
])
def test_hand_picked_keys(link, ops, key):
    assert nbg.arch_key(link, ops) == key
    assert nbg.genotype_key(genotype(link, ops)) == key


def test_query_matches_the_raw_table():
    raw = nbg.read_raw("cora")
    cora = nbg.load_table("cora")
    for link, ops, key in [([0, 1, 2, 3], ["gcn"] * 4, 81111), ([0, 0, 0, 2], ["gcn", "gat", "sage", "gin"], 10142)]:
        got = cora.query(genotype(link, ops))
        assert got == cora.query_arch(link, ops) == cora.lookup(key)
        assert got["valid_acc"] == raw[key]["valid_perf"] and got["test_acc"] == raw[key]["perf"]
        assert got["latency"] == raw[key]["latency"] and got["params"] == pytest.approx(raw[key]["para"] * 1e6)
    # the best architecture by validation accuracy: x -> fc -> gat -> fc -> gin
    best = cora.query(genotype([0, 1, 2, 3], ["fc", "gat", "fc", "gin"]))
    assert cora.best_valid_keys() == [87072]
    assert best["valid_acc"] == cora.best_valid() == raw[87072]["valid_perf"] == pytest.approx(0.819333, abs=1e-6)
    assert best["test_acc"] == cora.test_of_best_valid() == pytest.approx(0.826333, abs=1e-6)
    assert cora.best_test() == max(r["perf"] for r in raw.values())


def test_records_iterate_every_record_once():
    t = nbg.load_table("citeseer")
    recs = list(t.records())
    assert len(recs) == len(t) == len({r["key"] for r in recs})
    r = recs[len(recs) // 2]
    assert t.query_arch(r["link"], r["ops"]) == {m: r[m] for m in t.METRICS}
    assert max(r["valid_acc"] for r in recs) == t.best_valid()


def test_missing_architectures_are_explained():
    all_skip = genotype([0, 1, 1, 2], ["skip"] * 4)
    with pytest.raises(nbg.NasBenchGraphError, match="all-skip"):
        nbg.load_table("cora").query(all_skip)
    with pytest.raises(nbg.NasBenchGraphError, match="only the ops gcn, sage, arma, fc, skip.*uses gat"):
        nbg.load_table("proteins").query(genotype([0, 0, 0, 0], ["gat", "gcn", "gcn", "gcn"]))
    with pytest.raises(nbg.NasBenchGraphError, match="n3 must read exactly one of x, n1, n2"):
        nbg.genotype_key({**genotype([0, 1, 2, 3], ["gcn"] * 4).values, "nasbench_graph.n3.inputs": ["n3"]})
    with pytest.raises(nbg.NasBenchGraphError, match="not a NAS-Bench-Graph op"):
        nbg.arch_key([0, 1, 2, 3], ["gcn", "conv3x3", "gcn", "gcn"])


# ---------------------------------------------------------------- estimator
def trial(g, number=0):
    return TrialSpec(number=number, genotype=g, arch=space().realize(g))


def test_estimator_from_the_registry():
    cls = get_estimator("nasbench-graph")
    assert cls is nbg.NasBenchGraphEstimator and cls.objective == "valid_acc"
    est = cls(space(), data="pubmed")
    g = genotype([0, 1, 2, 3], ["gcn"] * 4)
    m = est.evaluate(trial(g))
    assert set(m) == {"valid_acc", "test_acc", "latency", "params"}
    assert m == nbg.load_table("pubmed").lookup(81111)
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert 0 <= m["valid_acc"] <= 1 and 0 <= m["test_acc"] <= 1
    assert cls(space()).table.dataset == "cora"  # the default
    for i, g in enumerate(space().sample(s) for s in range(20)):
        if set(nbg.genotype_to_arch(g)[1]) != {"skip"}:
            assert 0 <= est.evaluate(trial(g, i))["valid_acc"] <= 1


def test_estimator_refuses_other_spaces_and_data():
    cls = get_estimator("nasbench-graph")
    with pytest.raises(ValueError, match="does not fit NAS-Bench-Graph's 'cora' table.*lacks the decisions nasbench201.n1"):
        cls(load("nasbench201.nas"), data="cora")
    with pytest.raises(ValueError, match="offer gat, gin, cheb, graph, which the 'proteins' table does not record"):
        cls(space(), data="proteins")
    with pytest.raises(ValueError, match="no dataset 'mnist'"):
        cls(space(), data="mnist")
    with pytest.raises(ValueError, match="has no option"):
        cls(space(), data="cora", epochs=3)


def test_estimator_on_a_proteins_space():
    text = (SPACES_DIR / "nasbench_graph.nas").read_text().replace(
        "[gat, gcn, gin, cheb, sage, arma, graph, fc, skip]", "[gcn, sage, arma, fc, skip]")
    sp = Space.from_text(text, file="proteins.nas")
    est = get_estimator("nasbench-graph")(sp, data="proteins")
    g = sp.validate(nbg.arch_to_genotype([0, 1, 2, 3], ["sage", "gcn", "arma", "fc"]))
    m = est.evaluate(TrialSpec(number=0, genotype=g, arch=sp.realize(g)))
    assert m == nbg.load_table("proteins").lookup(84157)


# ---------------------------------------------------------------- the unpickler
class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({1: _Evil(marker)})
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global '(posix|nt|os).system'"):
        nbg.restricted_loads(payload)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        nbg.restricted_loads(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match="numbers only"):
        nbg.restricted_loads(pickle.dumps(np.dtype(object), protocol=3))


def test_unpickler_reads_plain_data():
    data = {3: {"valid_perf": 0.5, "perf": np.float64(0.25), "latency": 0.01, "para": np.float32(1.5)}}
    assert nbg.restricted_loads(pickle.dumps(data, protocol=3)) == data
    assert nbg.RestrictedUnpickler(io.BytesIO(pickle.dumps([1, "a", (2.0,)]))).load() == [1, "a", (2.0,)]


def test_a_latency_bound_is_checked_on_the_recorded_latency(tmp_path):
    """nasbench-graph measures latency, so ``where latency < X`` is accepted; the trials over the bound are
    rejected with their recorded latency, the others completed under it."""
    from nasdsl.search import Search
    from nasdsl.store import Store

    table = nbg.load_table("cora")
    bound = float(np.median([r["latency"] for r in table.records()]))
    text = (SPACES_DIR / "nasbench_graph.nas").read_text().replace(
        "    input [features]\n", f"    input [features]\n    where latency < {bound!r}\n", 1)
    path = tmp_path / "fast.nas"
    path.write_text(text)
    s = Search(path, strategy="random", estimator="nasbench-graph", data="cora", budget=8, store=tmp_path / "s.db",
               executor="inprocess", seed=3)
    try:
        result = s.run()
    finally:
        s.close()
    assert result.counts["completed"] == 8
    with Store(tmp_path / "s.db") as st:
        rejected = st.trials("rejected")
        assert rejected, "no sampled architecture was over the median latency"
        for t in rejected:
            assert t.metrics["latency"] >= bound and t.error.startswith(f"latency = {t.metrics['latency']:.6g} breaks")
        assert all(t.metrics["latency"] < bound for t in st.trials("completed"))
