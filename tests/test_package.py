"""The wheel: a non-editable ``pip install .`` into a fresh venv ships the grammar, the spaces and the plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_non_editable_install_in_a_fresh_venv(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    work = tmp_path / "elsewhere"  # away from the checkout, so only the installed copy can be imported
    work.mkdir()
    code = (
        "import nasdsl, nasdsl_plugins, pathlib\n"
        "from nasdsl.compiler import packaged_spaces_dir\n"
        "from nasdsl.grammar import grammar_text\n"
        "assert 'site-packages' in nasdsl.__file__, nasdsl.__file__\n"
        "assert 'site-packages' in str(packaged_spaces_dir())\n"
        "assert grammar_text().startswith('// nas.lark')\n"
        "print(len(list(packaged_spaces_dir().glob('*.nas'))))\n"
    )
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=work, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) == len(list((ROOT / "spaces").glob("*.nas")))
    spaces = subprocess.run([str(py), "-c", "from nasdsl.compiler import packaged_spaces_dir as p; print(p())"],
                            capture_output=True, text=True, cwd=work, env=env).stdout.strip()
    r = subprocess.run([str(env_dir / "bin" / "nasdsl"), "count", f"{spaces}/darts.nas"], capture_output=True,
                       text=True, cwd=work, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1076746950455072400"
    # a user's file can import a reference space by name
    (work / "mine.nas").write_text('import "nasbench201.nas"\nnetwork mine() {\n input [3, 16, 16]\n'
                                   ' x = conv_3x3(8) -> nb201_cell\n return global_avg_pool -> linear(2)\n}\n')
    r = subprocess.run([str(env_dir / "bin" / "nasdsl"), "count", "mine.nas"], capture_output=True, text=True, cwd=work, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "15625", r.stderr
    assert sys.executable  # the test's own interpreter is untouched
