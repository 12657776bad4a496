"""Reports of a search: a JSON summary, and an HTML page with plots, the best
architecture's picture, its genotype and its exported model."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Optional

from .search import parse_objective, pareto_front
from .files import FileError, atomic, write_atomic
from .trained import architecture
from .store import Store, TrialRecord


def _objectives(meta: dict[str, Any]) -> list[str]:
    return [meta.get("objective", "valid_acc")] + list(meta.get("pareto", []))


def _vector(t: TrialRecord, objectives: list[str]) -> Optional[list[float]]:
    out = []
    for o in objectives:
        name, sign = parse_objective(o)
        v = t.metrics.get(name)
        if not isinstance(v, (int, float)) or isinstance(v, bool):  # missing, or not a number
            return None
        out.append(sign * float(v))
    return out


def summary(store: Store) -> dict[str, Any]:
    """``completed``, ``failed``, ``rejected``, ``cached``, ``best`` (genotype and metrics), the Pareto front."""
    meta = store.meta()
    counts = store.counts()
    best = store.best()
    objectives = _objectives(meta)
    completed = store.trials("completed")
    out: dict[str, Any] = {
        "store": str(store.path), "space": meta.get("network"), "space_file": meta.get("space"),
        "strategy": meta.get("strategy"), "estimator": meta.get("estimator"), "data": meta.get("data"),
        "seed": meta.get("seed"), "objective": meta.get("objective"), "budget": meta.get("budget"),
        "completed": counts["completed"], "failed": counts["failed"], "rejected": counts["rejected"],
        "cached": counts["cached"], "trials": sum(counts.values()),
        "best": None if best is None else {"number": best.number, "value": best.value, "genotype": best.genotype.values,
                                           "metrics": best.metrics},
    }
    rank = (meta.get("oneshot") or {}).get("ranking")
    if rank:  # a one-shot run's ranking quality against a stand-alone table (-S ranking_table=)
        out["ranking"] = {k: rank.get(k) for k in ("table", "cells", "tau", "rho", "tau_top_half", "seed_tau")}
    if len(objectives) > 1:
        pts = [(t.number, v) for t in completed if (v := _vector(t, objectives)) is not None]
        front = set(pareto_front(pts))
        out["objectives"] = objectives
        out["pareto"] = [{"number": t.number, **{o: t.metrics.get(parse_objective(o)[0]) for o in objectives}}
                         for t in completed if t.number in front]
    return out


def _plot_progress(store: Store, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = [t for t in store.trials() if t.status in ("completed", "failed")]
    xs, ys, best, cur = [], [], [], float("-inf")
    for i, t in enumerate(trials, start=1):
        if t.value is not None:
            xs.append(i)
            ys.append(t.value)
            cur = max(cur, t.value)
        best.append(cur if cur > float("-inf") else None)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(xs, ys, s=12, alpha=0.5, label="trial")
    ax.step(range(1, len(best) + 1), [b if b is not None else float("nan") for b in best], where="post",
            color="C3", label="best so far")
    ax.set_xlabel("finished trials")
    ax.set_ylabel(store.meta().get("objective", "objective"))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic(path, "plot") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _plot_pareto(store: Store, objectives: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    completed = store.trials("completed")
    pts = [(t.number, v) for t in completed if (v := _vector(t, objectives[:2])) is not None]
    front = set(pareto_front(pts))
    n0, s0 = parse_objective(objectives[0])
    n1, s1 = parse_objective(objectives[1])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    xs = [s1 * v[1] for _, v in pts]
    ys = [s0 * v[0] for _, v in pts]
    ax.scatter(xs, ys, s=12, alpha=0.4, label="trial")
    fr = sorted((s1 * v[1], s0 * v[0]) for i, v in pts if i in front)
    if fr:
        ax.plot([p[0] for p in fr], [p[1] for p in fr], "o-", color="C3", label="Pareto front")
    ax.set_xlabel(n1)
    ax.set_ylabel(n0)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic(path, "plot") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _decision_rows(name: str, probs: Any, labels: Optional[list[str]]) -> tuple[list[str], list[float]]:
    """A decision's probabilities as heat-map columns: one per option (an edge table: one per candidate
    edge and op, ``candidate:op``)."""
    if probs and isinstance(probs[0], list):
        return ([f"{c}:{o}" for c in (labels or range(len(probs))) for o in range(len(probs[0]))],
                [p for row in probs for p in row])
    return [str(i) for i in range(len(probs))], list(probs)


def _plot_oneshot(epochs: list[dict[str, Any]], path: Path) -> None:
    """The supernet's epochs: losses and accuracy, and each decision's probabilities over the epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(epochs[-1].get("probabilities") or {})  # a uniform sampler (SPOS, RS-WS) has none
    fig, axes = plt.subplots(1 + len(names), 1, figsize=(8, 2.6 + 1.1 * len(names)), squeeze=False,
                             gridspec_kw={"height_ratios": [2.5] + [1] * len(names)})
    ax = axes[0][0]
    xs = [e["epoch"] for e in epochs]
    ax.plot(xs, [float("nan") if e["train_loss"] is None else e["train_loss"] for e in epochs],
            label="weight loss")  # None: an epoch of a sampling method's search phase, which trains nothing
    ax.plot(xs, [float("nan") if e["arch_loss"] is None else e["arch_loss"] for e in epochs],
            label="architecture loss")  # None: a warm-up epoch that trained the weights only
    ax2 = ax.twinx()
    ax2.plot(xs, [e["supernet_acc"] for e in epochs], color="C3", label="supernet accuracy (best score)")
    ax.set_xlabel("epoch")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    top = max((p for e in epochs for n in names for p in _decision_rows(n, e["probabilities"][n], None)[1]), default=1.0)
    for (row,), name in zip(axes[1:], names):
        cols, _ = _decision_rows(name, epochs[-1]["probabilities"][name], None)
        grid = [_decision_rows(name, e["probabilities"][name], None)[1] for e in epochs]
        im = row.imshow(list(map(list, zip(*grid))), aspect="auto", cmap="viridis", vmin=0, vmax=top,
                        extent=(xs[0] - 0.5, xs[-1] + 0.5, len(cols) - 0.5, -0.5))
        row.set_ylabel(name, rotation=0, ha="right", fontsize=7)
        row.set_yticks([])
        row.tick_params(labelbottom=row is axes[-1][0])
    if names:
        fig.colorbar(im, ax=[r[0] for r in axes[1:]], fraction=0.02, label="probability")
    with atomic(path, "plot") as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_html(store: Store, out_dir: str | Path) -> Path:
    """Write ``index.html`` with the trials table, plots, best architecture picture, genotype and model."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(f"cannot write the report to '{out}': "
                        + ("it is a file, not a folder" if out.exists() else str(e.strerror or e))) from None
    meta = store.meta()
    info = summary(store)
    objectives = _objectives(meta)
    notes: list[str] = []
    _plot_progress(store, out / "progress.png")
    if len(objectives) > 1:
        _plot_pareto(store, objectives, out / "pareto.png")
    best = store.best()
    picture = model_link = None
    if best is not None:
        write_atomic(out / "best_genotype.json", json.dumps({"space": meta.get("network"),
                                                             "values": best.genotype.values}, indent=2))
        try:
            arch = architecture(store, best)
            write_atomic(out / "best_architecture.json", arch.to_json(indent=1))
            from .draw import arch_to_dot, render

            path, msg = render(arch_to_dot(arch, title=f"best: trial {best.number}"), out / "best_architecture.svg")
            picture = path.name
            if msg:
                notes.append(msg)
            model_link = _export(store, best, arch, out, notes)
        except Exception as e:  # the report still shows everything else
            notes.append(f"could not rebuild the best architecture: {type(e).__name__}: {e}")
    rows = []
    # the estimator's own metrics (rung results, curves); a store made before they were named: rung_
    hidden = tuple(meta["bookkeeping"]) if "bookkeeping" in meta else ("rung_",)
    for t in store.trials():
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                            for k, v in sorted(t.metrics.items()) if not k.startswith(hidden))
        rows.append(
            f"<tr class='{html.escape(t.status, quote=True)}'><td>{t.number}</td><td>{html.escape(t.status)}</td>"
            f"<td>{'' if t.value is None else f'{t.value:.4f}'}</td><td>{html.escape(metrics)}</td>"
            f"<td>{'' if t.duration is None else f'{t.duration:.1f}s'}</td>"
            f"<td><code>{html.escape(t.hash[:10])}</code></td><td>{html.escape(t.error or '')}</td></tr>")
    best_html = "<p>no completed trial</p>"
    if best is not None:
        best_html = (f"<p>trial {best.number}: {html.escape(info['objective'] or '')} = {best.value:.4f}</p>"
                     f"<pre>{html.escape(json.dumps(best.metrics, indent=1))}</pre>"
                     f"<p><a href='best_genotype.json'>genotype (JSON)</a>"
                     + (f" · <a href='{model_link}'>exported model (TorchScript)</a>" if model_link else "")
                     + " · <a href='best_architecture.json'>Architecture IR</a></p>"
                     + (f"<img src='{picture}' style='max-width:100%'>" if picture else ""))
    oneshot_html = ""
    epochs = (meta.get("oneshot") or {}).get("epochs") or []
    if epochs:
        _plot_oneshot(epochs, out / "oneshot.png")
        last = epochs[-1]
        oneshot_html = (f"<h2>One-shot search</h2><p>{len(epochs)} epochs of the supernet; the last derived "
                        f"genotype (retrained as trial {best.number if best else '-'}):</p>"
                        f"<pre>{html.escape(json.dumps(last['genotype'], indent=1))}</pre>"
                        "<p>losses and accuracy per epoch, and each decision's probabilities over the epochs "
                        "(one row per option; an edge table: candidate edges × ops)</p><img src='oneshot.png'>")
        rank = (meta.get("oneshot") or {}).get("ranking")
        if rank:
            ceiling = "" if rank.get("seed_tau") is None else (
                f"; two stand-alone trainings of them (other seeds) agree with τ = {rank['seed_tau']:.3f}, the "
                "ceiling this is judged against")
            oneshot_html += (f"<h3>Ranking quality</h3><p>Kendall τ = {rank['tau']:.3f} (Spearman ρ = {rank['rho']:.3f}; "
                             f"τ among the better half {rank['tau_top_half']:.3f}) between the trained supernet's "
                             f"scores of {rank['cells']} architectures and their stand-alone accuracies "
                             f"({html.escape(str(rank['table']))}){ceiling}.</p>")
    pareto_html = ""
    if len(objectives) > 1:
        pareto_html = ("<h2>Pareto front</h2><img src='pareto.png'><pre>" + html.escape(json.dumps(info.get("pareto"), indent=1))
                       + "</pre>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nasdsl search: {html.escape(str(info['space']))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px}} tr.failed{{background:#fdd}} tr.rejected{{background:#ffd}}
tr.cached{{color:#888}} code,pre{{font-size:12px}}</style></head><body>
<h1>Search on {html.escape(str(info['space']))}</h1>
<p>strategy <b>{html.escape(str(info['strategy']))}</b>, estimator <b>{html.escape(str(info['estimator']))}</b>,
data <b>{html.escape(str(info['data']))}</b>, seed {html.escape(str(info['seed']))},
objective <b>{html.escape(str(info['objective']))}</b>, budget {html.escape(str(info['budget']))}</p>
<p>{info['completed']} completed, {info['failed']} failed, {info['rejected']} rejected, {info['cached']} answered from the store</p>
<h2>Best architecture</h2>{best_html}
<h2>Progress</h2><img src="progress.png">
{oneshot_html}
{pareto_html}
<h2>Trials</h2>
<table><tr><th>#</th><th>status</th><th>objective</th><th>metrics</th><th>time</th><th>hash</th><th>error</th></tr>
{''.join(rows)}</table>
{''.join(f'<p><i>{html.escape(n)}</i></p>' for n in notes)}
</body></html>
"""
    write_atomic(out / "summary.json", json.dumps(info, indent=2))
    write_atomic(out / "index.html", page)  # last: a page is there only when what it links to is
    return out / "index.html"


def _export(store: Store, best: TrialRecord, arch, out: Path, notes: list[str]) -> Optional[str]:
    """TorchScript of the best architecture, with its trained weights when the trial saved them."""
    try:
        from .plugins import get_backend
        from .trained import trained_model

        model, trained = trained_model(store, best, arch)
        if not trained:
            notes.append("the best trial saved no weights: the exported model is untrained")
        get_backend("torch")().export_torchscript(model, out / "best_model.pt")
        return "best_model.pt"
    except Exception as e:
        notes.append(f"no exported model: {type(e).__name__}: {e}")
        return None
