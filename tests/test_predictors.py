"""Performance prediction beyond the zero-cost proxies: learning-curve early stopping (``curve_stop``) and
BOHB's model-based proposals over Hyperband's brackets."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nasdsl import Space
from nasdsl.estimator import TrialSpec
from nasdsl.plugins import get_estimator, get_strategy
from nasdsl.search import Search
from nasdsl.store import Store
from nasdsl.strategy import Result

from .conftest import ROOT, sigkill_then_resume

NB201 = str(ROOT / "spaces" / "nasbench201.nas")
SMALL = {"C": 4, "N": 1}
E = 20
X = np.arange(1, E + 1, dtype=float)
BEST = 0.9 - 0.6 * X ** -0.8  # the best trial's curve: saturating near 0.85 at epoch 20


# ------------------------------------------------------------ learning curves
def test_a_forecast_recovers_a_saturating_curve_from_its_first_epochs():
    from nasdsl_plugins.curves import forecast

    truth = 0.8 - 0.5 * np.exp(-0.25 * X)
    f = forecast(truth[:8], E)
    assert f is not None and f.fits >= 2
    assert abs(f.mean - truth[-1]) < 0.05 and f.std < 0.1
    assert forecast(truth[:2], E) is None  # two points are no curve


def test_a_curve_rising_faster_than_the_best_is_never_stopped():
    """Synthetic curves that start below the best but gain more per epoch than it did at each epoch: whatever
    the fit predicts, none is stopped at any epoch."""
    from nasdsl_plugins.curves import decide, rising_faster

    rng = np.random.default_rng(0)
    gains = np.diff(BEST, prepend=0.0)
    checked = 0
    for _ in range(30):
        start = rng.uniform(0.05, 0.3)
        extra = rng.uniform(0.001, 0.02, size=E)  # more than the best gained, every epoch
        curve = start + np.cumsum(np.r_[0.0, gains[1:] + extra[1:]])
        for e in range(3, E):
            assert rising_faster(list(curve[:e]), list(BEST))
            d = decide(list(curve[:e]), list(BEST), float(BEST[-1]), E, 3, 0.05)
            assert not d.stop, (e, curve[:e])
            checked += 1
    assert checked == 30 * (E - 3)


def test_a_curve_flattening_far_below_the_best_is_stopped_early():
    from nasdsl_plugins.curves import decide

    low = 0.35 - 0.2 * X ** -1.0
    d = decide(list(low[:4]), list(BEST), float(BEST[-1]), E, 3, 0.05)
    assert d.stop and d.chance < 0.05 and abs(d.predicted - low[-1]) < 0.05
    assert not decide(list(low[:2]), list(BEST), float(BEST[-1]), E, 3, 0.05).stop  # too few epochs
    assert not decide(list(low[:4]), list(BEST), float(BEST[-1]), E, 5, 0.05).stop  # before curve_min_epochs


def test_curve_stop_trains_a_hopeless_trial_fewer_epochs_and_says_so(tmp_path):
    """The train estimator with curve_stop: a trial that barely learns (a learning rate of 1e-6), told of a
    best that rose fast to 0.99, stops at curve_min_epochs with its forecast; with no best yet it trains
    every epoch."""
    space = Space.from_file(NB201, params=SMALL)
    est = get_estimator("train")(space, data="digits", epochs=8, lr=1e-6, curve_stop="true", curve_min_epochs=3,
                                 save_model=False)
    assert est.bookkeeping == ("curve_",)
    g = space.sample(0)
    arch = space.realize(g, input_shape=est.input_shape())
    full = est.evaluate(TrialSpec(0, g, arch, tmp_path / "a"))
    assert full["epochs"] == 8.0 and full["stopped"] == 0.0 and all(f"curve_{e}" in full for e in range(1, 9))
    best = [0.2, 0.6, 0.99] + [0.99] * 5  # a best that rose fast to 0.99
    stopped = est.evaluate(TrialSpec(1, g, arch, tmp_path / "b",
                                     extra={"curves": {"best": best, "best_final": 0.99}}))
    assert stopped["predicted_valid_acc"] < 0.5
    assert stopped["stopped"] == 1.0 and stopped["stopped_epoch"] == 3.0 == stopped["epochs"]
    assert "predicted_valid_acc" in stopped and stopped["stop_chance"] < 0.05
    assert stopped["valid_acc"] == pytest.approx(stopped["curve_3"])
    # the history the search hands a new trial: the best finished, unstopped trial's curve
    rec = type("T", (), {"status": "completed", "metrics": full})
    cut = type("T", (), {"status": "completed", "metrics": {**stopped, "valid_acc": 1.0}})  # stopped: never best
    h = est.history([rec, cut])["curves"]
    assert h["best_final"] == full["valid_acc"] and h["best"] == [full[f"curve_{e}"] for e in range(1, 9)]
    with pytest.raises(ValueError, match="curve_min_epochs must be at least 3"):
        get_estimator("train")(space, data="digits", curve_stop=True, curve_min_epochs=2)
    with pytest.raises(ValueError, match="option curve_stop is true or false; got 'maybe'"):
        get_estimator("train")(space, data="digits", curve_stop="maybe")
    assert get_estimator("train")(space, data="digits", save_model="false").save_model is False


def test_a_search_with_curve_stop_stops_some_trials_and_the_report_leaves_the_curves_out(tmp_path):
    db = tmp_path / "c.db"
    s = Search(NB201, strategy="random", estimator="train", budget=6, store=db, executor="inprocess", params=SMALL,
               data="mnist1d", estimator_options={"epochs": 6, "curve_stop": True, "curve_threshold": 0.2,
                                                  "save_model": False})
    try:
        s.run()
        trials = s.store.trials()
        assert s.store.meta()["bookkeeping"] == ["curve_"]
    finally:
        s.close()
    assert all(t.status == "completed" for t in trials)
    stopped = [t for t in trials if t.metrics["stopped"]]
    assert stopped and all(t.metrics["epochs"] < 6 and "predicted_valid_acc" in t.metrics for t in stopped)
    assert trials[0].metrics["stopped"] == 0.0 and trials[0].metrics["epochs"] == 6.0  # nothing to beat yet
    from nasdsl.report import write_html

    with Store(db, readonly=True) as st:
        write_html(st, tmp_path / "r")
    assert "curve_1=" not in (tmp_path / "r" / "index.html").read_text()


# ------------------------------------------------------------ BOHB
def _told(space, g, rungs: dict[int, float]) -> Result:
    metrics = {f"rung_{r}": v for r, v in rungs.items()}
    return Result(rungs[max(rungs)], metrics)


def test_bohb_models_the_largest_budget_with_enough_observations():
    space = Space.from_file(NB201, params=SMALL)
    bohb = get_strategy("bohb")(space, seed=0, min_points=4, random_fraction=0.0)
    assert bohb.model_budget() is None
    rng = random.Random(1)
    for i in range(6):  # six trials reach rung 1, three of them rung 3
        g = space.sample(rng)
        bohb.ask()
        bohb.tell(g, _told(space, g, {1: 0.1 * i} if i % 2 else {1: 0.1 * i, 3: 0.2 * i}))
    assert bohb.model_budget() == 1.0  # rung 3 has 3 < 4 observations
    g = space.sample(rng)
    bohb.tell(g, _told(space, g, {1: 0.5, 3: 0.6}))
    assert bohb.model_budget() == 3.0 and len(bohb.observations[3.0]) == 4 and len(bohb.observations[1.0]) == 7
    bohb.tell(g, Result(0.6, {"rung_1": 0.5, "rung_3": 0.6}, "cached"))  # a repeat adds no observation
    assert len(bohb.observations[3.0]) == 4
    assert get_strategy("bohb")(space).min_points == 7  # d + 1: NB201's six edges


def test_bohb_follows_the_high_budget_when_it_disagrees_with_the_low_one():
    """At rung 1 a cell of convolutions looks worst and at rung 9 best: the model, fitted on rung 9 (enough
    points there), proposes convolution-heavy cells, where a model of rung 1 would avoid them."""
    space = Space.from_file(NB201, params=SMALL)
    bohb = get_strategy("bohb")(space, seed=3, min_points=8, random_fraction=0.0)
    rng = random.Random(0)

    def convs(g) -> int:
        return sum(1 for v in g.values.values() if v == "nor_conv_3x3")

    low = get_strategy("bohb")(space, seed=3, min_points=8, random_fraction=0.0)  # too few at rung 9
    for i in range(40):
        g = space.sample(rng)
        k = convs(g)
        for strategy, high in ((bohb, True), (low, i < 6)):
            strategy.ask()
            strategy.tell(g, _told(space, g, {1: 0.5 - 0.05 * k, 9: 0.4 + 0.08 * k} if high else {1: 0.5 - 0.05 * k}))
    proposed = [convs(bohb.ask()) for _ in range(20)]
    avoided = [convs(low.ask()) for _ in range(20)]
    assert set(bohb.model_budgets[-20:]) == {9.0} and set(low.model_budgets[-20:]) == {1.0}
    uniform = np.mean([convs(space.sample(rng)) for _ in range(400)])  # about 6 / 5
    assert np.mean(proposed) > uniform + 0.5 and np.mean(avoided) < uniform - 0.5


def test_bohb_on_hyperband_trains_each_trial_through_its_brackets_rungs(tmp_path):
    """The brackets are Hyperband's own: with bohb proposing, every trial's rungs are those the hyperband
    estimator assigns to its number, the rungs it trained through a prefix of them."""
    db = tmp_path / "b.db"
    opts = {"min_epochs": 1, "max_epochs": 9, "eta": 3, "max_steps": 2, "save_model": False}
    s = Search(NB201, strategy="bohb", estimator="hyperband", budget=15, store=db, executor="inprocess",
               params=SMALL, estimator_options=opts, strategy_options={"min_points": 3})
    try:
        s.run()
        trials = [t for t in s.store.trials() if t.status == "completed"]
        hb = s.estimator
    finally:
        s.close()
    assert len(trials) == 15
    space = Space.from_file(NB201, params=SMALL)
    for t in trials:
        want = hb.rungs(TrialSpec(t.number, t.genotype, space.realize(t.genotype, input_shape=(1, 8, 8))))
        got = sorted(int(k[5:]) for k in t.metrics if k.startswith("rung_"))
        assert got == want[:len(got)] and got[0] == want[0], (t.number, got, want)
    assert {min(int(k[5:]) for k in t.metrics if k.startswith("rung_")) for t in trials} == {1, 3, 9}  # all brackets
    assert math.isfinite(trials[0].value)


@pytest.mark.parametrize("how", [
    ["--strategy", "bohb", "-S", "min_points=3", "--estimator", "hyperband", "-E", "max_epochs=3", "-E", "max_steps=2"],
    ["--strategy", "random", "--estimator", "train", "-E", "epochs=5", "-E", "curve_stop=true",
     "-E", "curve_threshold=0.3", "-E", "max_steps=10"],
], ids=["bohb", "curve_stop"])
def test_a_sigkilled_search_resumes_without_losing_or_repeating_a_trial(tmp_path, how):
    import sys

    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "nasdsl", "search", NB201, "-p", "C=4", "-p", "N=1", *how, "-E", "fraction=0.4",
           "--budget", "8", "--store", str(db), "--seed", "2", "--quiet"]
    sigkill_then_resume(cmd, db, 8)
