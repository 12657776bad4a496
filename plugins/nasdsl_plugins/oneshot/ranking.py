"""Ranking quality: how a trained supernet ranks architectures against their stand-alone accuracies.

A stand-alone table (``bench/make_ranking_table.py`` writes one) is JSON: ``{"cells": [{"genotype": {...},
"valid_acc": mean, "valid_accs": [one per seed]}, ...]}`` plus its protocol.  :func:`ranking` scores every
cell of it with a trained search and gives Kendall's tau (tau-b, scipy) and Spearman's rho between those
scores and the cells' mean stand-alone validation accuracy:

* a sampling method (it has ``score``): the cell's accuracy on the architecture half with the inherited
  weights, after BN recalibration;
* a differentiable method: its final α as a score, the cell's log-probability under softmax(α) (the sum
  over its decisions of the chosen option's log-softmax).

``-S ranking_table=PATH`` on a one-shot search computes it when the supernet is trained and stores it with
the run's epochs; ``nasdsl report`` shows it.  The table's own seed-to-seed tau (the mean over pairs of
seeds) is reported beside it: no supernet can be judged to rank better than one stand-alone training ranks
like another.
"""

from __future__ import annotations

import statistics
from itertools import combinations
from pathlib import Path
from typing import Any

import torch

from .config import DartsError


def load_ranking_table(path: str | Path) -> dict[str, Any]:
    from nasdsl.files import read_json

    p = Path(path)
    table = read_json(p, "ranking table", DartsError, "bench/make_ranking_table.py makes one")
    cells = table.get("cells") if isinstance(table, dict) else None
    if not isinstance(cells, list) or len(cells) < 3 or not all(
            isinstance(c, dict) and isinstance(c.get("genotype"), dict) and isinstance(c.get("valid_acc"), (int, float))
            for c in cells):
        raise DartsError(f"{p} is not a stand-alone table: it needs 'cells', 3 or more, each with a 'genotype' and "
                         "its 'valid_acc'")
    return table


def alpha_score(supernet: Any, values: dict[str, Any]) -> float:
    """log p(cell) under softmax(α): Σ over the decisions of the chosen option's log-softmax."""
    total = 0.0
    with torch.no_grad():
        for dec in supernet._alpha:
            kind = supernet._kind[dec]
            if kind not in ("op", "value", "depth", "merge"):
                raise DartsError(f"an α score of decision '{dec}' (an input choice) is not defined here: ranking "
                                 "tables are for spaces of op and value choices")
            logp = torch.log_softmax(supernet.logits(dec).float(), -1)
            total += float(logp[supernet._options[dec].index(values[dec])])
    return total


def seed_tau(table: dict[str, Any]) -> float | None:
    """The mean Kendall tau between two seeds' accuracies of the table's cells (None with one seed)."""
    from scipy.stats import kendalltau

    seeds = [c.get("valid_accs") or [] for c in table["cells"]]
    n = min(len(s) for s in seeds)
    if n < 2:
        return None
    return statistics.fmean(kendalltau([s[i] for s in seeds], [s[j] for s in seeds]).statistic
                            for i, j in combinations(range(n), 2))


def ranking(search: Any, table: dict[str, Any], name: str = "") -> dict[str, Any]:
    """Score every cell of ``table`` with the trained ``search``; tau, rho, tau among the better half."""
    from scipy.stats import kendalltau, spearmanr

    space = search.space
    try:
        cells = [dict(space.canonical(c["genotype"]).values) for c in table["cells"]]
    except Exception as e:  # a table of another space
        raise DartsError(f"the ranking table {name} holds genotypes of another space: {e}") from None
    if hasattr(search, "score"):
        scores = [search.score(c) for c in cells]
    else:
        scores = [alpha_score(search.supernet, c) for c in cells]
    accs = [float(c["valid_acc"]) for c in table["cells"]]
    med = statistics.median(accs)
    top = [(s, a) for s, a in zip(scores, accs) if a > med]
    tau_top = kendalltau([s for s, _ in top], [a for _, a in top]).statistic if len(top) > 2 else float("nan")
    ceiling = seed_tau(table)
    return {"table": name, "cells": len(cells), "tau": float(kendalltau(scores, accs).statistic),
            "rho": float(spearmanr(scores, accs).statistic), "tau_top_half": float(tau_top),
            "seed_tau": None if ceiling is None else float(ceiling), "scores": scores}


__all__ = ["alpha_score", "load_ranking_table", "ranking", "seed_tau"]
