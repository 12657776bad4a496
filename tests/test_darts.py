"""DARTS on the supernet: the second-order gradient, the run, its checkpoints, its derived genotype."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.datasets import Dataset, load_dataset  # noqa: E402
from nasdsl_plugins.oneshot.darts import DartsConfig, DartsError, DartsSearch  # noqa: E402

from .conftest import SPACES_DIR  # noqa: E402

# smooth ops (tanh, not ReLU): the finite-difference Hessian-vector product of DARTS (a perturbation of norm
# 0.01) is then accurate to O(eps^2); across ReLU kinks it is off by up to about 1e-2 on a net this small
TINY = """
ops o = [tanh -> conv_3x3(3) -> batchnorm, skip_connect, avg_pool_3x3]
cell c(x) { return dag(nodes = 3, edge = o) }
network tiny(classes = 3) {
    input [1, 4, 4]
    s = conv_3x3(3) -> batchnorm
    t = c
    return global_avg_pool -> linear(classes)
}
"""


def tiny_data(n: int = 24) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 4, 4)).astype(np.float32)
    y = (np.arange(n) % 3).astype(np.int64)
    return Dataset("tiny", x, y, x[:6], y[:6], x[:6], y[:6])


def test_the_second_order_gradient_matches_the_unrolled_objective_numerically():
    space = Space.from_text(TINY, file="tiny.nas")
    search = DartsSearch(space, tiny_data(), DartsConfig(order=2, batch_size=12, epochs=4), dtype=torch.float64)
    xt, yt, xv, yv = search.w_x, search.w_y, search.a_x, search.a_y
    search.step(xt, yt, xv, yv)  # one real step first: a momentum buffer, weights off their start
    torch.manual_seed(1)
    with torch.no_grad():
        for a in search.alphas:
            a.copy_(torch.randn_like(a))  # away from the uniform start, where several terms vanish
    got = torch.cat([g.flatten() for g in search.arch_gradient(xt, yt, xv, yv)])
    exact = torch.autograd.grad(search.unrolled_objective(xt, yt, xv, yv), search.alphas)
    exact = torch.cat([g.flatten() for g in exact])
    numeric = []
    h = 1e-6
    for a in search.alphas:
        flat = a.data.view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + h
            up = float(search.unrolled_objective(xt, yt, xv, yv).detach())
            flat[i] = old - h
            down = float(search.unrolled_objective(xt, yt, xv, yv).detach())
            flat[i] = old
            numeric.append((up - down) / (2 * h))
    numeric = torch.tensor(numeric, dtype=torch.float64)
    assert got.numel() == 3 * 4  # 3 edges x (3 ops + none)
    assert float((exact - numeric).norm() / numeric.norm()) < 1e-6  # the objective is what the test differentiates
    assert float((got - numeric).norm() / numeric.norm()) < 1e-3
    search.config.order = 1
    plain = torch.cat([g.flatten() for g in search.arch_gradient(xt, yt, xv, yv)])
    assert float((plain - numeric).norm() / numeric.norm()) > 1e-3  # first order is another gradient


def test_only_the_architecture_optimizer_moves_alpha():
    space = Space.from_text(TINY, file="tiny.nas")
    search = DartsSearch(space, tiny_data(), DartsConfig(batch_size=12, epochs=2, a_lr=0.0 + 1e-9))
    before = [a.detach().clone() for a in search.alphas]
    search.step(search.w_x, search.w_y, search.a_x, search.a_y)
    moved = max(float((a.detach() - b).abs().max()) for a, b in zip(search.alphas, before))
    assert moved < 1e-6  # a tiny α learning rate: the weight step did not touch α
    assert {id(p) for g in search.w_opt.param_groups for p in g["params"]}.isdisjoint(id(a) for a in search.alphas)


@pytest.mark.parametrize("name, params", [("nasbench201.nas", {"C": 4, "N": 1}), ("darts.nas", {"C": 4, "layers": 3})])
def test_an_epoch_on_digits_derives_a_genotype_that_builds_and_trains(name, params):
    from nasdsl.plugins import get_backend

    space = Space.from_file(SPACES_DIR / name, params=params)
    data = load_dataset("digits")
    search = DartsSearch(space, data, DartsConfig(epochs=2, max_steps=3, batch_size=32))
    (rec,) = [search.run_epoch()]
    assert rec["epoch"] == 1 and np.isfinite(rec["train_loss"]) and 0 <= rec["supernet_acc"] <= 1
    g = space.validate(rec["genotype"])
    assert all(v != "none" for k, v in g.values.items() if ".op" in k)
    probs = rec["probabilities"]
    assert set(probs) == set(search.supernet._alpha)
    result = get_backend("torch")().train(space.realize(g, data.input_shape), data, {"epochs": 1, "max_steps": 2})
    assert 0 <= result.metrics["valid_acc"] <= 1


def test_a_resumed_run_continues_where_it_stopped(tmp_path):
    space = Space.from_text(TINY, file="tiny.nas")
    config = DartsConfig(batch_size=6, epochs=3)
    straight = DartsSearch(space, tiny_data(), config)
    full = straight.run()
    first = DartsSearch(space, tiny_data(), config)
    first.run_epoch()
    torch.save(first.state_dict(), tmp_path / "ckpt.pt")
    again = DartsSearch(space, tiny_data(), config)
    again.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True))
    rest = again.run()
    assert [r["epoch"] for r in rest] == [2, 3]
    for a, b in zip(rest, full[1:]):
        assert a["genotype"] == b["genotype"] and abs(a["train_loss"] - b["train_loss"]) < 1e-6
    other = DartsSearch(space, tiny_data(), DartsConfig(batch_size=6, epochs=4))
    with pytest.raises(DartsError, match="other options"):
        other.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True))


def test_options_are_checked():
    with pytest.raises(DartsError, match="order is 1 or 2"):
        DartsConfig(order=3)
    with pytest.raises(DartsError, match="no option 'lr'"):
        DartsConfig.from_options({"lr": 0.1})
    with pytest.raises(DartsError, match="DARTS option 'epochs' must be an integer; got 'many'"):
        DartsConfig.from_options({"epochs": "many"})
    c = DartsConfig.from_options({"order": "2", "add_none": "false", "w_lr": "0.1"})
    assert (c.order, c.add_none, c.w_lr) == (2, False, 0.1)


# ---------------------------------------------------------------- the search command
def _cli(*args: str, timeout: float = 300):
    import subprocess
    import sys

    from .conftest import ROOT

    return subprocess.run([sys.executable, "-m", "nasdsl", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


SEARCH = ["search", str(SPACES_DIR / "nasbench201.nas"), "-p", "C=4", "-p", "N=1", "--strategy", "darts",
          "-S", "batch_size=32", "-E", "epochs=1", "-E", "max_steps=3"]


def test_darts_search_stores_its_epochs_and_retrains_the_derived_genotype(tmp_path):
    from nasdsl.store import Store

    db = tmp_path / "d.db"
    r = _cli(*SEARCH, "-S", "epochs=3", "-S", "max_steps=3", "--store", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"] and "supernet_acc" in lines[0]
    with Store(db) as st:
        epochs = st.meta()["oneshot"]["epochs"]
        (trial,) = st.trials()
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert trial.status == "completed" and trial.genotype.values == epochs[-1]["genotype"]
    assert 0 <= trial.metrics["valid_acc"] <= 1 and trial.metrics["steps"] == 3.0  # retrained by 'train'
    assert set(epochs[0]["probabilities"]) == {f"nb201_cell.e{i}_{j}" for j in range(1, 4) for i in range(j)}
    again = _cli(*SEARCH, "-S", "epochs=3", "-S", "max_steps=3", "--store", str(db), "--resume")
    assert again.returncode == 0 and "epoch " not in again.stdout  # finished: nothing runs twice
    with Store(db) as st:
        assert len(st.trials()) == 1
    other = _cli(*SEARCH, "-S", "epochs=3", "-S", "max_steps=3", "--store", str(db))
    assert other.returncode == 1 and "already holds a search" in other.stderr


@pytest.mark.parametrize("method", ["darts", "gdas"])
def test_a_killed_darts_search_resumes_from_its_last_epoch(tmp_path, method):
    import os
    import signal
    import subprocess
    import sys
    import time

    from nasdsl.store import Store

    from .conftest import ROOT

    db = tmp_path / "k.db"
    args = [*SEARCH, "-S", "epochs=6", "-S", "max_steps=6", "--store", str(db), "--quiet", "--strategy", method]
    proc = subprocess.Popen([sys.executable, "-m", "nasdsl", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    done = 0
    deadline = time.time() + 240
    while time.time() < deadline and done < 2 and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                with Store(db) as st:
                    done = len((st.meta().get("oneshot") or {}).get("epochs", []))
            except Exception:  # the store is being created
                pass
    assert proc.poll() is None, "the search ended before it could be killed: make its epochs longer"
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run: after 2 or more epochs, during the next
    proc.wait()
    with Store(db) as st:
        oneshot = st.meta()["oneshot"]
        killed_at = len(oneshot["epochs"])
        assert not st.trials()
        # as if the kill came between saving the checkpoint and storing its epoch: the store one epoch behind
        st.set_meta({"oneshot": {**oneshot, "epochs": oneshot["epochs"][:-1]}})
    assert 2 <= killed_at < 6
    r = _cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    with Store(db) as st:
        epochs = [e["epoch"] for e in st.meta()["oneshot"]["epochs"]]
        assert len(st.trials()) == 1
    assert epochs == [1, 2, 3, 4, 5, 6]  # the same number of epochs, none repeated or lost


def test_darts_refuses_what_it_cannot_relax_and_bad_options(tmp_path):
    r = _cli("search", str(SPACES_DIR / "nasnet.nas"), "--strategy", "darts", "--store", str(tmp_path / "o.db"))
    assert r.returncode == 1 and "cannot build a one-shot supernet" in r.stderr and "nasnet.nas:" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli(*SEARCH, "-S", "lr=0.1", "--store", str(tmp_path / "b.db"))
    assert r.returncode == 1 and "strategy 'darts' has no option lr; its options: epochs, batch_size, order" in r.stderr, r.stderr
    r = _cli(*SEARCH, "-S", "order=3", "--store", str(tmp_path / "c.db"))
    assert r.returncode == 1 and "order is 1 or 2" in r.stderr


def test_the_report_shows_the_supernets_epochs(tmp_path):
    from nasdsl.report import write_html
    from nasdsl.store import Store

    db = tmp_path / "r.db"
    r = _cli(*SEARCH, "-S", "epochs=2", "-S", "max_steps=2", "--store", str(db), "--quiet")
    assert r.returncode == 0, r.stderr
    with Store(db) as st:
        page = write_html(st, tmp_path / "out").read_text()
        derived = st.meta()["oneshot"]["epochs"][-1]["genotype"]
    assert "<h2>One-shot search</h2>" in page and "2 epochs of the supernet" in page
    assert (tmp_path / "out" / "oneshot.png").stat().st_size > 10_000
    assert html.escape(json.dumps(derived["nb201_cell.e0_1"])) in page


def test_the_unrolled_step_is_the_step_the_weight_optimizer_takes():
    """The second-order gradient unrolls w' = w - xi(mu*buf + grad + lambda*w): it must be SGD's own next step."""
    space = Space.from_text(TINY, file="tiny.nas")
    search = DartsSearch(space, tiny_data(), DartsConfig(batch_size=12, epochs=3, grad_clip=0.0), dtype=torch.float64)
    xt, yt, xv, yv = search.w_x, search.w_y, search.a_x, search.a_y
    search.step(xt, yt, xv, yv)  # a momentum buffer exists from here on
    xi = search.w_opt.param_groups[0]["lr"]
    want = search._virtual_step(xt, yt, xi)
    before = [p.detach().clone() for p in search.weights]
    search.w_opt.zero_grad(set_to_none=True)
    search.loss(xt, yt).backward()
    for a in search.alphas:
        a.grad = None
    search.w_opt.step()
    assert all(torch.allclose(p, w, rtol=0, atol=1e-12) for p, w in zip(search.weights, want))
    assert max(float((p - b).abs().max()) for p, b in zip(search.weights, before)) > 1e-4  # the step moved them
