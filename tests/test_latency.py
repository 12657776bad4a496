"""Latency, measured: ``nasdsl latency`` tables, their predictions, and the ``latency`` metric in searches."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.latency import LatencyError, arch_ops, load_table, op_key, predict, save_table  # noqa: E402
from nasdsl.plugins import get_backend  # noqa: E402
from nasdsl_plugins.torch_backend.latency import measure_model, measure_table  # noqa: E402

from .conftest import ROOT, SPACES_DIR  # noqa: E402


def _cli(*args: str, cwd=ROOT, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "nasdsl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_table_holds_every_candidate_op_at_its_place_and_every_child_is_predicted():
    space = Space.from_file(SPACES_DIR / "ofa.nas", params={"classes": 10})
    table = measure_table(space, (1, 8, 8), repeats=3, warmup=1)
    assert table["device"] == "cpu" and table["torch"] == torch.__version__ and table["batch"] == 1
    assert table["input_shape"] == [1, 8, 8] and table["space"] == "ofa"
    rows = table["ops"]
    kernels = {(r["args"].get("k"), r["args"].get("e")) for r in rows.values() if r["op"] == "mbconv"}
    assert {(k, e) for k in (3, 5, 7) for e in (3, 4, 6)} <= kernels  # every combination of the value choices
    assert all(r["median_ms"] > 0 and r["spread_ms"] >= 0 for r in rows.values())
    rng = random.Random(0)
    for _ in range(20):
        arch = space.realize(space.sample(rng), (1, 8, 8))
        ops = arch_ops(arch)
        assert predict(table, arch) == pytest.approx(sum(rows[op_key(b, a, s)]["median_ms"] for _, b, a, s in ops))


def test_a_missing_op_or_a_bad_table_is_refused_naming_it(tmp_path):
    space = Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1})
    table = measure_table(space, (1, 8, 8), repeats=2, warmup=0)
    arch = space.realize(space.sample(0), (1, 16, 16))  # another input: none of its shapes were timed
    with pytest.raises(LatencyError, match=r"has no op .* at input \[.*\] \(node '.*'\); measure this space"):
        predict(table, arch)
    path = save_table(table, tmp_path / "t.json")
    assert load_table(path) == json.loads(path.read_text())
    with pytest.raises(LatencyError, match="does not exist .*nasdsl latency"):
        load_table(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LatencyError, match="cannot be read"):
        load_table(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"ops": []}')
    with pytest.raises(LatencyError, match="is not a nasdsl latency table"):
        load_table(tmp_path / "other.json")


def test_the_tables_prediction_ranks_architectures_like_their_measured_latency(one_thread):
    from scipy.stats import spearmanr

    space = Space.from_file(SPACES_DIR / "proxyless.nas", params={"classes": 10})
    shape = (3, 64, 64)
    table = measure_table(space, shape, repeats=30, warmup=3)  # the command's default repeats
    backend = get_backend("torch")()
    rng = random.Random(0)
    archs = [space.realize(space.sample(rng), shape) for _ in range(30)]
    predicted = [predict(table, arch) for arch in archs]
    models = [backend.build(arch) for arch in archs]
    # each model timed 30 times in 3 rounds through all of them (as the table times its ops), so a burst of
    # load on the machine does not skew one model's time
    rounds = [[measure_model(m, shape, repeats=10, warmup=3 if r == 0 else 1)[0] for m in models] for r in range(3)]
    measured = [statistics.median(times) for times in zip(*rounds)]
    rho = spearmanr(predicted, measured).statistic
    assert rho >= 0.9, (rho, predicted, measured)


def test_nasdsl_latency_writes_the_table_and_gives_a_genotypes_latency(tmp_path):
    out = tmp_path / "t.json"
    genotype = json.dumps(Space.from_file(SPACES_DIR / "nasbench201.nas").sample(1).values)
    r = _cli("latency", str(SPACES_DIR / "nasbench201.nas"), "-p", "C=4", "-p", "N=1", "--data", "digits",
             "--repeats", "3", "--threads", "1", "-g", genotype, "-o", str(out))
    assert r.returncode == 0, r.stderr
    table = load_table(out)
    assert table["input_shape"] == [1, 8, 8] and table["threads"] == 1 and table["repeats"] == 3
    assert f"{len(table['ops'])} ops of nasbench201 at input [1, 8, 8], batch 1, on cpu" in r.stdout
    assert "genotype: predicted" in r.stdout and " ms, measured " in r.stdout and f"wrote {out}" in r.stdout
    bad = _cli("latency", str(SPACES_DIR / "nasbench201.nas"), "--repeats", "0")
    assert bad.returncode == 1 and "--repeats" in bad.stderr and "Traceback" not in bad.stderr


def test_where_latency_is_checked_before_training_with_a_latency_table(tmp_path):
    from nasdsl.store import Store

    text = (SPACES_DIR / "nasbench201.nas").read_text()
    table = tmp_path / "t.json"
    r = _cli("latency", str(SPACES_DIR / "nasbench201.nas"), "-p", "C=4", "-p", "N=1", "--data", "digits",
             "--repeats", "5", "--threads", "1", "-o", str(table))
    assert r.returncode == 0, r.stderr
    space = Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1})
    t = load_table(table)
    rng = random.Random(0)
    values = sorted(predict(t, space.realize(space.sample(rng), (1, 8, 8))) for _ in range(40))
    bound = values[len(values) // 2]  # about half the space is under it
    path = tmp_path / "bounded.nas"
    path.write_text(text.replace("    input [3, 32, 32]\n", f"    input [3, 32, 32]\n    where latency < {bound:.4f}\n"))
    args = ["search", str(path), "-p", "C=4", "-p", "N=1", "--strategy", "random", "--budget", "4",
            "-E", "epochs=1", "-E", "max_steps=2", "--quiet"]
    refused = _cli(*args, "--store", str(tmp_path / "r.db"))
    assert refused.returncode == 1 and "does not measure 'latency'" in refused.stderr
    assert "-E latency_table=TABLE.json from nasdsl latency" in refused.stderr
    r = _cli(*args, "-E", f"latency_table={table}", "--store", str(tmp_path / "s.db"))
    assert r.returncode == 0, r.stderr
    with Store(tmp_path / "s.db") as st:
        trials = st.trials()
    done = [tr for tr in trials if tr.status == "completed"]
    rejected = [tr for tr in trials if tr.status == "rejected"]
    assert len(done) == 4 and rejected
    assert all(tr.metrics["latency"] < bound and tr.metrics["latency_measured"] > 0 for tr in done)
    assert all("latency = " in tr.error and f"breaks 'where latency < {bound:.4f}'" in tr.error for tr in rejected)
    assert all("valid_acc" not in tr.metrics for tr in rejected)  # rejected before any training
    wrong = _cli(*args, "-E", f"latency_table={table}", "--data", "mnist1d", "--store", str(tmp_path / "w.db"))
    assert wrong.returncode == 1 and "was measured at input [1, 8, 8]" in wrong.stderr


def test_the_cost_estimator_predicts_latency_without_building_anything(tmp_path):
    from nasdsl.estimator import TrialSpec
    from nasdsl_plugins.estimators import CostEstimator

    space = Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1})
    table = save_table(measure_table(space, (1, 8, 8), repeats=2, warmup=0), tmp_path / "t.json")
    est = CostEstimator(space, latency_table=str(table))
    assert est.measures == ("params", "flops", "latency")
    g = space.sample(2)
    arch = space.realize(g, (1, 8, 8))
    m = est.evaluate(TrialSpec(0, g, arch))
    assert m["latency"] == pytest.approx(predict(load_table(table), arch)) and m["params"] > 0
    assert "latency_measured" not in m
    with pytest.raises(ValueError, match="measured at input"):
        est.evaluate(TrialSpec(0, g, space.realize(g, (1, 16, 16))))
