"""The command line, run as a user runs it: a subprocess, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import DARTS_V2, ROOT, SPACES_DIR


def nasdsl(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nasdsl", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_count_prints_the_exact_integer_last():
    r = nasdsl("count", str(SPACES_DIR / "darts.nas"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1076746950455072400"


def test_check_all_reference_spaces():
    r = nasdsl("check", *sorted(str(p) for p in SPACES_DIR.glob("*.nas")))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ok: ") == len(list(SPACES_DIR.glob("*.nas")))


def test_check_reports_errors_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.nas"
    bad.write_text("ops o = [sep_conv3x3]\nnetwork n() {\n    input [3, 8, 8]\n    x = o\n    return x\n}\n")
    r = nasdsl("check", str(bad))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{bad}:1:10: error: unknown op") and "did you mean 'sep_conv_3x3'" in first
    assert "^" in r.stderr


def test_sample_is_repeatable_json_lines():
    a = nasdsl("sample", "spaces/nasbench201.nas", "-n", "3", "--seed", "4")
    b = nasdsl("sample", "spaces/nasbench201.nas", "-n", "3", "--seed", "4")
    assert a.returncode == 0 and a.stdout == b.stdout
    lines = a.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all(set(json.loads(x)) == {f"nb201_cell.e{i}_{j}" for j in range(1, 4) for i in range(j)} for x in lines)


def test_show_decisions_and_architecture():
    r = nasdsl("show", "spaces/darts.nas", "--json")
    data = json.loads(r.stdout)
    assert data["size"] == "1076746950455072400" and len(data["decisions"]) == 24
    r = nasdsl("show", "spaces/darts.nas", "-g", DARTS_V2)
    assert r.returncode == 0, r.stderr
    assert "op[dil_conv_3x3]" in r.stdout and "factorized_reduce" in r.stdout
    r = nasdsl("show", "spaces/darts.nas", "--ir")
    assert "template darts_cell" in r.stdout and "template reduce_cell" in r.stdout


def test_bad_genotype_names_the_decision():
    r = nasdsl("show", "spaces/nasbench201.nas", "-g", '{"nb201_cell.e0_1": "conv"}')
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "nb201_cell.e0_1" in r.stderr and "allowed" in r.stderr


def test_param_override_and_typo():
    r = nasdsl("count", "spaces/enas_macro.nas", "-p", "layers=6")
    assert r.returncode == 0 and r.stdout.strip() == str(6 ** 6 * 2 ** 15)
    r = nasdsl("count", "spaces/enas_macro.nas", "-p", "layer=6")
    assert r.returncode == 1 and "did you mean 'layers'" in r.stderr


def test_missing_file():
    r = nasdsl("count", "nope.nas")
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_draw_space_and_architecture(tmp_path):
    out = tmp_path / "cell.svg"
    r = nasdsl("draw", "spaces/nasbench201.nas", "-o", str(out), "--template", "nb201_cell")
    assert r.returncode == 0, r.stderr
    assert out.read_text().lstrip().startswith(("<?xml", "<svg")) and "nb201_cell.e0_1" in out.read_text()
    arch = tmp_path / "arch.dot"
    r = nasdsl("draw", "spaces/darts.nas", DARTS_V2, "-o", str(arch))
    assert r.returncode == 0, r.stderr
    assert "digraph" in arch.read_text() and "dil_conv_3x3" in arch.read_text()
    assert "dot -T" in r.stdout  # says how to render the .dot file


def test_check_sample_reports_unrealizable_genotypes_and_exits_1(tmp_path):
    import re

    from .test_rejected import MERGE, SUM, UNREALIZABLE

    space = tmp_path / "space.nas"
    space.write_text(UNREALIZABLE)
    r = nasdsl("check", str(space), "--sample", "200", "--seed", "3")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith(f"ok: {space}: network 'bad'")  # it compiles: only sampling finds the problem
    m = re.fullmatch(r"sampled 200 genotypes: (\d+) \((\d+\.\d)%\) cannot be realized", lines[1])
    assert m, lines[1]
    failed = int(m.group(1))
    assert 0 < failed < 200 and m.group(2) == f"{100 * failed / 200:.1f}"
    reasons = [re.fullmatch(r"\s+(\d+)\s+(\S+:\d+:\d+): (.*)", x).groups() for x in lines[2:]]
    # most frequent first, grouped by message and place, counts adding up to the failures
    assert [(where, message) for _, where, message in reasons] == [(f"{space}:5:9", MERGE), (f"{space}:7:9", SUM)]
    assert int(reasons[0][0]) > int(reasons[1][0]) > 0 and sum(int(n) for n, _, _ in reasons) == failed
    again = nasdsl("check", str(space), "--sample", "200", "--seed", "3")
    assert again.stdout == r.stdout  # seeded: a CI gate that does not flake
    both = nasdsl("check", "spaces/nasbench201.nas", str(space), "--sample", "50")
    assert both.returncode == 1 and both.stdout.count("sampled 50 genotypes: ") == 2  # every file is sampled
    assert "sampled 50 genotypes: 0 (0.0%)" in both.stdout.split(f"ok: {space}")[0]
    plain = nasdsl("check", str(space))
    assert plain.returncode == 0 and "sampled" not in plain.stdout  # without --sample, check only compiles
    assert "exit 1 if any cannot be realized" in " ".join(nasdsl("check", "--help").stdout.split())


def test_check_sample_of_nasbench201_finds_no_failure_and_exits_0():
    r = nasdsl("check", "spaces/nasbench201.nas", "--sample", "200")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "sampled 200 genotypes: 0 (0.0%) cannot be realized"
    r = nasdsl("check", "spaces/nasbench201.nas", "--sample", "0")
    assert r.returncode == 1 and "--sample must be at least 1" in r.stderr


def test_train_refuses_a_bad_recipe_value_with_a_message():
    """Issue 15: 'train --max-steps -5' exited 0 with a nan loss; '--momentum -3' gave an internal error."""
    nb201 = str(SPACES_DIR / "nasbench201.nas")
    g = nasdsl("sample", nb201, "--seed", "0", "--format", "nb201").stdout.strip()
    for flag, value, said in (("--max-steps", "-5", "max_steps must be 0 or more; got -5"),
                              ("--momentum", "-3", "momentum must be in [0, 1); got -3.0")):
        r = nasdsl("train", nb201, g, "-p", "C=4", "-p", "N=1", flag, value, "--quiet")
        assert r.returncode == 1 and r.stderr.strip() == f"error: {said}", r.stderr


def test_export_writes_a_trials_trained_model_and_build_loads_weights(tmp_path):
    """`nasdsl build` could not load trained weights, so a CLI-exported model was always untrained."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from nasdsl.plugins import get_backend
    from nasdsl.search import open_store
    from nasdsl.trained import architecture, trained_model, weights_file

    db = tmp_path / "t.db"
    nb201 = str(SPACES_DIR / "nasbench201.nas")
    r = nasdsl("search", nb201, "-e", "train", "-E", "epochs=1", "-E", "max_steps=5", "-b", "2", "-p", "C=4",
               "-p", "N=1", "--store", str(db), "--quiet")
    assert r.returncode == 0, r.stderr
    r = nasdsl("export", str(db), "--trial", "1", "-o", str(tmp_path / "m.pt"), "--onnx", str(tmp_path / "m.onnx"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("trial 1, objective ") and "trained weights" in r.stdout
    with open_store(db) as st:
        trial = [t for t in st.trials() if t.number == 1][0]
        arch = architecture(st, trial)
        model, trained = trained_model(st, trial, arch)
        weights = weights_file(st, trial)
    assert trained and weights is not None
    model.eval()
    x = torch.randn(4, *arch.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(x)
        untrained = get_backend("torch")().build(arch).eval()(x)
    assert not torch.allclose(want, untrained)  # the weights matter, so equality below says they were loaded
    got = torch.jit.load(str(tmp_path / "m.pt")).eval()(x)
    assert torch.equal(got, want)
    onnx_out = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x.numpy()})[0]
    assert np.allclose(onnx_out, want.numpy(), atol=1e-5)
    # build --weights loads the same file into the same architecture
    genotype = json.dumps(trial.genotype.values)
    r = nasdsl("build", nb201, genotype, "-p", "C=4", "-p", "N=1", "--input", ",".join(map(str, arch.input_shape)),
               "--weights", str(weights), "-o", str(tmp_path / "b.pt"))
    assert r.returncode == 0, r.stderr
    assert torch.equal(torch.jit.load(str(tmp_path / "b.pt")).eval()(x), want)
    # weights of another architecture, a trial with none, a trial that does not exist: one-line errors
    r = nasdsl("build", nb201, genotype, "-p", "C=8", "-p", "N=1", "--weights", str(weights), "-o",
               str(tmp_path / "c.pt"))
    assert r.returncode == 1 and "are not this architecture's: of another shape" in r.stderr, r.stderr
    assert not (tmp_path / "c.pt").exists()
    r = nasdsl("export", str(db), "--trial", "9", "-o", str(tmp_path / "n.pt"))
    assert r.returncode == 1 and "has no trial 9 (it has 0 .. 1)" in r.stderr
    cost = tmp_path / "c.db"
    assert nasdsl("search", nb201, "-e", "cost", "-b", "1", "-p", "C=4", "-p", "N=1", "--store", str(cost),
                  "--quiet").returncode == 0
    r = nasdsl("export", str(cost), "-o", str(tmp_path / "n.pt"))
    assert r.returncode == 1 and "saved no weights" in r.stderr and not (tmp_path / "n.pt").exists()
