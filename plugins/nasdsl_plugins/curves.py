"""Learning-curve extrapolation for early stopping (after Domhan, Springenberg & Hutter, IJCAI 2015).

A trial's validation accuracy after each epoch, y_1..y_e, is fitted by least squares
(``scipy.optimize.curve_fit``) with each of a few parametric families the paper's ensemble
uses for saturating curves:

``pow3``   y = c - a x^(-alpha)
``exp3``   y = c - exp(b - a x)
``log_power``  y = a / (1 + (x / e^b)^(-c))
``ilog2``  y = c - a / log(x + 1)

Each successful fit predicts the accuracy at the last epoch E with a standard deviation from
its parameters' covariance (the delta method) and its residuals; the ensemble's prediction is
the mean of the fits' means, its deviation combines the fits' own deviations and their spread.
(The paper weights 11 families by MCMC over their joint posterior; these four least-squares
fits are the cheaper reading of the same idea, 10 to 100 ms per check.  Janoschek's family, also
in the paper, was tried and left out: on power-law curves its fit rarely converges and costs 70 ms.)

The stopping rule: after ``min_epochs`` epochs, a trial stops when the probability that its
final accuracy beats the best trial's final accuracy is below ``threshold`` — *unless* its
curve is still rising faster than the best trial's curve did at the same epoch (the last
epoch's gain against the best's gain then): such a trial may yet overtake, whatever the fit says.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np


def _pow3(x, c, a, alpha):
    return c - a * np.power(x, -alpha)


def _exp3(x, c, a, b):
    return c - np.exp(b - a * x)


def _ilog2(x, c, a):
    return c - a / np.log(x + 1.0)


def _log_power(x, a, b, c):
    return a / (1.0 + np.power(x / math.exp(b), -c))


# family -> (function, initial parameters from the curve (y1, ylast), bounds)
FAMILIES: dict[str, tuple[Callable, Callable, tuple]] = {
    "pow3": (_pow3, lambda y0, y1: (y1, max(y1 - y0, 1e-3), 0.5), ([-np.inf, -np.inf, 0.0], [np.inf, np.inf, 10.0])),
    "exp3": (_exp3, lambda y0, y1: (y1, 0.5, math.log(max(y1 - y0, 1e-3)) + 0.5), ([-np.inf, 0.0, -20.0], [np.inf, 10.0, 20.0])),
    "log_power": (_log_power, lambda y0, y1: (max(y1, 1e-3), 0.0, 1.0), ([0.0, -10.0, 0.0], [10.0, 10.0, 10.0])),
    "ilog2": (_ilog2, lambda y0, y1: (y1, max(y1 - y0, 1e-3)), ([-np.inf, -np.inf], [np.inf, np.inf])),
}


@dataclass
class Forecast:
    mean: float  # the predicted accuracy at the last epoch
    std: float
    fits: int  # how many families fitted


def forecast(curve: Sequence[float], at: int) -> Optional[Forecast]:
    """The ensemble's prediction of the curve at epoch ``at`` (epochs count from 1); None when no family fits
    (fewer than 3 points, or every fit failed)."""
    y = np.asarray(curve, dtype=float)
    if len(y) < 3 or not np.all(np.isfinite(y)):
        return None
    x = np.arange(1, len(y) + 1, dtype=float)
    means, variances = [], []
    for fn, init, bounds in FAMILIES.values():
        p0 = np.asarray(init(float(y[0]), float(y[-1])), dtype=float)
        p0 = np.clip(p0, np.asarray(bounds[0]) + 1e-9, np.asarray(bounds[1]) - 1e-9)
        n_params = len(p0)
        if len(y) < n_params:  # more parameters than points: it would fit anything
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params, cov = _curve_fit(fn, x, y, p0, bounds)
                pred = float(fn(float(at), *params))
        except (RuntimeError, ValueError, FloatingPointError, OverflowError):
            continue
        if not math.isfinite(pred) or not -0.5 <= pred <= 1.5:  # a fit that runs off is no forecast
            continue
        resid = y - fn(x, *params)
        noise = float(np.sum(resid ** 2) / max(1, len(y) - n_params)) if len(y) > n_params else float(np.var(y))
        var = noise + _delta_variance(fn, params, cov, float(at))
        means.append(pred)
        variances.append(var)
    if not means:
        return None
    m = float(np.mean(means))
    var = float(np.mean(variances) + np.var(means))
    return Forecast(m, math.sqrt(max(var, 1e-12)), len(means))


def _curve_fit(fn, x, y, p0, bounds):
    from scipy.optimize import curve_fit

    return curve_fit(fn, x, y, p0=p0, bounds=bounds, maxfev=200)


def _delta_variance(fn, params, cov, at: float) -> float:
    """The variance of fn(at) from the parameters' covariance: g^T C g, g the numerical gradient."""
    if cov is None or not np.all(np.isfinite(cov)):
        return 0.0
    g = np.zeros(len(params))
    for i in range(len(params)):
        step = 1e-6 * max(1.0, abs(params[i]))
        up, down = np.array(params, dtype=float), np.array(params, dtype=float)
        up[i] += step
        down[i] -= step
        g[i] = (fn(at, *up) - fn(at, *down)) / (2 * step)
    v = float(g @ cov @ g)
    return v if math.isfinite(v) and v > 0 else 0.0


def chance_to_beat(f: Forecast, best: float) -> float:
    """P(the forecast value > ``best``), the forecast taken as normal."""
    return 0.5 * math.erfc((best - f.mean) / (f.std * math.sqrt(2.0)))


def rising_faster(curve: Sequence[float], best_curve: Sequence[float]) -> bool:
    """The last epoch's gain of ``curve`` exceeds the best curve's gain at the same epoch."""
    e = len(curve)
    if e < 2:
        return True
    gain = curve[-1] - curve[-2]
    if len(best_curve) < e:
        return gain > 0
    return gain > best_curve[e - 1] - best_curve[e - 2]


@dataclass
class Decision:
    stop: bool
    chance: Optional[float]  # of beating the best, where a forecast was made
    predicted: Optional[float]


def decide(curve: Sequence[float], best_curve: Sequence[float], best: float, total: int, min_epochs: int,
           threshold: float) -> Decision:
    """Whether a trial with ``curve`` so far stops now (see the module's rule)."""
    if len(curve) < max(3, min_epochs) or len(curve) >= total:
        return Decision(False, None, None)
    f = forecast(curve, total)
    if f is None:
        return Decision(False, None, None)
    chance = chance_to_beat(f, best)
    stop = chance < threshold and not rising_faster(curve, best_curve)
    return Decision(stop, chance, f.mean)
