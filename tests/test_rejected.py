"""Genotypes whose architecture cannot be realized: rejected trials, never a stopped search."""

from __future__ import annotations

import re

import pytest

from nasdsl import Space, hookimpl
from nasdsl import plugins
from nasdsl.errors import NasError
from nasdsl.estimator import Estimator
from nasdsl.search import Search, realizability
from nasdsl.store import Store
from nasdsl.strategy import dedup_hash
from nasdsl.testing import registered

# 3 * 2 * 6 = 36 genotypes. The first options realize (the compiler checks them). Stride 3 makes `a` 3x3,
# which no factorized reduction of the 8x8 `x` reaches (line 5): 18 genotypes. With stride 1, conv_3x3(6)
# gives 6 channels that cannot be summed with the 4 of `y` (line 7): 3 more. The other 15 realize.
UNREALIZABLE = """network bad(classes = 3) {
    input [2, 8, 8]
    x = conv_3x3(4)
    a = x -> conv(4, k = {1, 3, 5}, stride = {1, 3})
    y = sum(a, x)
    b = y -> one of [conv_3x3(4), conv_3x3(6), max_pool_3x3, relu, batchnorm, skip_connect]
    z = sum(b, y)
    return global_avg_pool -> linear(classes)
}
"""
MERGE = "cannot merge feature maps of sizes [[3, 3], [8, 8]]"
SUM = "cannot sum tensors of shapes [6, 8, 8], [4, 8, 8]"


def write_space(tmp_path) -> str:
    f = tmp_path / "space.nas"
    f.write_text(UNREALIZABLE)
    return str(f)


def reason_of(space: Space, genotype) -> str | None:
    """Why the genotype cannot be realized, as ``message (file:line:col)``; None when it realizes."""
    try:
        space.realize(genotype)
    except NasError as e:
        return f"{e.message} ({e.span})"
    return None


class Counting(Estimator):
    """Scores an architecture by its op count and remembers every genotype it was asked to evaluate."""

    name = "counting"
    objective = "score"
    evaluated: list[dict] = []

    def evaluate(self, trial):
        Counting.evaluated.append(dict(trial.genotype.values))
        return {"score": float(len(trial.arch.ops())) + 0.01 * (int(trial.arch.canonical_hash()[:4], 16) % 97)}


class CountingPlugin:
    @hookimpl
    def register_estimators(self, register):
        register("counting", Counting)


@pytest.fixture
def counting():
    Counting.evaluated = []
    with registered(CountingPlugin(), name="test-rejected-plugin"):
        yield Counting


def search(path, db, *, strategy="evolution", estimator="counting", budget=10, resume=False, **kwargs):
    options = {"population": 4, "tournament": 2} if strategy == "evolution" else {}
    s = Search(path, strategy=strategy, estimator=estimator, budget=budget, store=db, seed=1, executor="inprocess",
               strategy_options=options, resume=resume, **kwargs)
    try:
        return s.run()
    finally:
        s.close()


def test_the_space_has_realizable_and_unrealizable_genotypes(tmp_path):
    space = Space.from_file(write_space(tmp_path))
    path = str(tmp_path / "space.nas")
    reasons = [reason_of(space, g) for g in space.enumerate()]
    assert reasons.count(None) == 15
    assert reasons.count(f"{MERGE} ({path}:5:9)") == 18
    assert reasons.count(f"{SUM} ({path}:7:9)") == 3
    assert reason_of(space, space.default()) is None


def test_unrealizable_genotypes_are_rejected_and_the_search_completes_its_budget(tmp_path, counting):
    path = write_space(tmp_path)
    space = Space.from_file(path)
    result = search(path, tmp_path / "s.db", budget=10)
    assert result.counts["completed"] == 10 and result.counts["failed"] == 0 and not result.stopped_early
    with Store(tmp_path / "s.db") as st:
        rejected = st.trials("rejected")
        assert rejected, "the search never met an unrealizable genotype: the test space is too kind"
        for t in rejected:
            assert t.value is None and t.metrics == {}
            assert re.fullmatch(rf"({re.escape(MERGE)} \({re.escape(path)}:5:9\)|{re.escape(SUM)} \({re.escape(path)}:7:9\))",
                                t.error), t.error
            assert t.error == reason_of(space, t.genotype)  # the very reason realizing it gives
        assert len({t.hash for t in rejected}) == len(rejected)  # one trial per unrealizable genotype
        completed = st.trials("completed")
        assert all(reason_of(space, t.genotype) is None for t in completed)
        # only the realizable ones were evaluated: a rejected genotype costs no training
        assert sorted(map(str, counting.evaluated)) == sorted(str(t.genotype.values) for t in completed)
        assert not {str(t.genotype.values) for t in rejected} & set(map(str, counting.evaluated))
        assert result.best is not None and result.best.status == "completed"


def test_the_search_resumed_replays_its_rejected_trials(tmp_path, counting):
    path = write_space(tmp_path)
    db = tmp_path / "r.db"
    search(path, db, budget=4)
    with Store(db) as st:
        before = [(t.number, t.hash, t.status, t.error) for t in st.trials()]
    assert any(status == "rejected" for _, _, status, _ in before)
    resumed = search(path, db, budget=10, resume=True)
    assert resumed.counts["completed"] == 10
    one_go = search(path, tmp_path / "one.db", budget=10)
    with Store(db) as a, Store(tmp_path / "one.db") as b:
        trials = a.trials()
        assert [(t.number, t.hash, t.status, t.error) for t in trials[:len(before)]] == before  # kept as they were
        # replaying the rejected trials rebuilds the strategy: it goes on as the search run in one go did
        assert [(t.hash, t.status) for t in trials] == [(t.hash, t.status) for t in b.trials()]
        rejected = [t.hash for t in trials if t.status == "rejected"]
        assert len(rejected) == len(set(rejected)) > 0  # nothing rejected twice across the resume
    assert one_go.counts == resumed.counts


def test_a_rejected_genotype_proposed_again_is_answered_from_the_store(tmp_path):
    path = write_space(tmp_path)
    # grid proposes all 36 genotypes, then random ones: every unrealizable one comes back, from the store
    result = search(path, tmp_path / "g.db", strategy="grid", estimator="cost", budget=100)
    assert result.stopped_early  # only 15 architectures can be trained
    assert result.counts["completed"] == 15 and result.counts["rejected"] == 21
    with Store(tmp_path / "g.db") as st:
        rejected = {t.hash: t for t in st.trials("rejected")}
        again = [t for t in st.trials("cached") if t.hash in rejected]
        assert again, "no unrealizable genotype was proposed twice"
        for t in again:
            assert t.status == "cached" and t.value is None and t.error == rejected[t.hash].error
            assert t.genotype.values == rejected[t.hash].genotype.values


def test_rejected_in_worker_processes_too(tmp_path):
    path = write_space(tmp_path)
    s = Search(path, strategy="random", estimator="cost", budget=6, store=tmp_path / "w.db", workers=2, seed=2)
    try:
        result = s.run()
    finally:
        s.close()
    assert result.counts["completed"] == 6 and result.counts["failed"] == 0 and result.counts["rejected"] > 0
    with Store(tmp_path / "w.db") as st:
        assert all(t.error.endswith((f"{path}:5:9)", f"{path}:7:9)")) and t.worker.startswith("pid")
                   for t in st.trials("rejected"))


@pytest.mark.parametrize("strategy", ["random", "grid", "evolution", "reinforce", "tpe", "local", "bananas"])
def test_every_strategy_searches_a_space_with_unrealizable_genotypes(tmp_path, strategy):
    path = write_space(tmp_path)
    result = search(path, tmp_path / f"{strategy}.db", strategy=strategy, estimator="cost", budget=5)
    assert result.counts["completed"] == 5 and result.counts["failed"] == 0
    with Store(tmp_path / f"{strategy}.db") as st:
        assert all(t.error.endswith((f"{path}:5:9)", f"{path}:7:9)")) for t in st.trials("rejected"))


def test_a_strategy_hash_of_an_unrealizable_genotype_does_not_raise(tmp_path):
    space = Space.from_file(write_space(tmp_path))
    merge = space.validate({"bad.a.k": 3, "bad.a.stride": 3, "bad.b.op": "relu"})
    merge2 = space.validate({"bad.a.k": 5, "bad.a.stride": 3, "bad.b.op": "relu"})
    fine = space.validate({"bad.a.k": 3, "bad.a.stride": 1, "bad.b.op": "relu"})
    for g in (merge, merge2):
        with pytest.raises(NasError, match="cannot merge feature maps"):
            space.canonical_hash(g)
    for name in plugins.strategies.names():
        if getattr(plugins.get_strategy(name), "one_shot", False):
            continue  # a one-shot strategy proposes no genotypes (it trains a supernet)
        strategy = plugins.get_strategy(name)(space, seed=0)
        h = strategy.hash(merge)
        assert re.fullmatch(r"[0-9a-f]{32}", h), (name, h)
        assert strategy.hash(merge.model_copy(deep=True)) == h  # the same genotype is one proposal
        assert strategy.hash(merge2) != h  # another unrealizable genotype is another
        assert strategy.hash(fine) == space.canonical_hash(fine)  # realizable ones keep the architecture's hash
        assert strategy.is_new(merge)
    assert dedup_hash(space, merge) == plugins.get_strategy("random")(space).hash(merge)


def test_realizability_counts_the_reasons_most_frequent_first(tmp_path):
    path = write_space(tmp_path)
    found = realizability(Space.from_file(path), 300, seed=4)
    assert found.sampled == 300 and found.failed == sum(r.count for r in found.reasons)
    assert [(r.message, r.where) for r in found.reasons] == [(MERGE, f"{path}:5:9"), (SUM, f"{path}:7:9")]
    assert found.reasons[0].count > found.reasons[1].count > 0
    # 21 of 36 genotypes, drawn uniformly: the fraction is near 21/36, far from 0 and 1
    assert 0.45 < found.fraction < 0.72
    assert realizability(Space.from_file(path), 300, seed=4) == found  # seeded
    assert str(found.reasons[0]) == f"{path}:5:9: {MERGE}"


EDGES = """network few(classes = 3) {
    input [3, 8, 8]
    where edges <= 1
    a = conv_3x3(4) -> relu
    b = conv_3x3(4) -> relu
    c = sum(a -> none, any subset of [a, b])
    return c -> global_avg_pool -> linear(classes)
}
"""


def test_a_broken_genotype_constraint_is_rejected_before_anything_is_built(tmp_path, counting, monkeypatch):
    path = tmp_path / "few.nas"
    path.write_text(EDGES)
    realized: list[dict] = []
    real = Space.realize

    def spy(self, g, *args, **kwargs):
        realized.append(dict(g.values))
        return real(self, g, *args, **kwargs)

    monkeypatch.setattr(Space, "realize", spy)
    result = search(str(path), tmp_path / "e.db", strategy="grid", budget=4)  # the grid runs out first
    assert result.counts["completed"] == 3
    with Store(tmp_path / "e.db") as st:
        (rejected,) = st.trials("rejected")  # [a, b] is the one genotype with two edges
        assert sorted(rejected.genotype.values["few.c.inputs"]) == ["a", "b"]
        assert rejected.metrics == {"edges": 2.0}
        assert rejected.error == f"edges = 2 breaks 'where edges <= 1' ({path}:3:11)"
        assert {len(t.genotype.values["few.c.inputs"]) for t in st.trials("completed")} == {0, 1}
        assert all(t.metrics["edges"] == len(t.genotype.values["few.c.inputs"]) for t in st.trials("completed"))
    assert len(realized) >= 3 and rejected.genotype.values not in realized  # nothing was realized, built or trained for it
    assert rejected.genotype.values not in counting.evaluated


def test_latency_that_the_estimator_does_not_measure_stops_the_search_at_once(tmp_path):
    from nasdsl.search import SearchError

    path = tmp_path / "lat.nas"
    path.write_text(EDGES.replace("edges <= 1", "latency < 0.01"))
    with pytest.raises(SearchError) as info:
        Search(str(path), strategy="random", estimator="train", budget=2, store=tmp_path / "l.db", executor="inprocess")
    msg = str(info.value)
    assert f"'where latency < 0.01' ({path}:3:11) cannot be checked: estimator 'train' does not measure 'latency'" in msg
    assert not (tmp_path / "l.db").exists()  # refused before the store was opened
