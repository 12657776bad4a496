"""``make demo``: the main job, end to end, on the embedded default data.

1. A real search: NAS-Bench-201 cells (C = 16, two cells per stage) on
   scikit-learn's 8x8 digits, regularized evolution (P = 10, S = 3), 60 trials
   each trained for 8 epochs on the CPU, kept in ``runs/demo/search.db``; then
   the HTML report in ``runs/demo/report/``.
2. A tour of the language: every reference space compiled, counted, sampled,
   realized; DARTS_V2 and the best NAS-Bench-201 cell read from their published
   strings; pictures in ``runs/demo/``.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .adapters import from_darts, from_nb201, to_darts
from .compiler import packaged_spaces_dir
from .space import Space

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)
PARAMS = {"C": 16, "N": 2}  # NAS-Bench-201's skeleton at C = 16 with 2 cells per stage, for 8x8 digits
NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def search(out: Path, console: Console, budget: int = 60, epochs: int = 8) -> None:
    from .report import write_html
    from .search import Search
    from .store import Store

    db = out / "search.db"
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    console.rule("search: NAS-Bench-201 cells on digits, regularized evolution")
    s = Search(packaged_spaces_dir() / "nasbench201.nas", strategy="evolution", estimator="train", budget=budget,
               store=db, seed=0, data="digits", params=PARAMS,
               strategy_options={"population": 10, "tournament": 3}, estimator_options={"epochs": epochs})
    try:
        result = s.run(progress=True)
    finally:
        s.close()
    c = result.counts
    console.print(f"{c['completed']} trials completed, {c['failed']} failed, {c['cached']} answered from the store")
    best = result.best
    if best is not None:
        from .adapters import to_nb201

        space = Space.from_file(packaged_spaces_dir() / "nasbench201.nas", params=PARAMS)
        console.print(f"best: trial {best.number}: valid_acc {best.metrics['valid_acc']:.4f}, "
                      f"test_acc {best.metrics['test_acc']:.4f}, {int(best.metrics['params'])} params")
        console.print(f"best cell: {to_nb201(space, best.genotype)}")
    with Store(db) as st:
        console.print(f"report: {write_html(st, out / 'report')}")


def main(out_dir: str = "runs/demo") -> int:
    from .draw import arch_to_dot, render, space_to_dot

    console = Console(width=140)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    search(out, console)
    console.rule("the language: reference spaces")
    table = Table(title="nasdsl reference spaces")
    for col in ("space", "network", "decisions", "architectures", "compile ms", "sampled nodes", "unique of 50"):
        table.add_column(col, justify="right" if col != "space" else "left")
    rng = random.Random(0)
    for path in sorted(packaged_spaces_dir().glob("*.nas")):
        t = time.perf_counter()
        space = Space.from_file(path)
        ms = (time.perf_counter() - t) * 1e3
        genos = [space.sample(rng) for _ in range(50)]
        arch = space.realize(genos[0])
        unique = len({space.canonical_hash(g) for g in genos})
        table.add_row(path.name, space.name, str(len(space.decisions)), f"{space.size():,}", f"{ms:.0f}",
                      str(len(arch)), str(unique))
    console.print(table)

    darts = Space.from_file(packaged_spaces_dir() / "darts.nas")
    g = from_darts(darts, DARTS_V2)
    assert to_darts(darts, g) == DARTS_V2
    arch = darts.realize(g)
    console.print(f"DARTS_V2 on darts.nas: {len(arch)} nodes, output {list(arch.output_shape)}, "
                  f"canonical hash {arch.canonical_hash()[:12]}")
    (out / "darts_v2.json").write_text(arch.to_json(indent=1))
    for dot, name in ((arch_to_dot(arch, title="DARTS_V2"), "darts_v2.svg"),
                      (space_to_dot(darts), "darts_space.svg")):
        path, msg = render(dot, out / name)
        console.print(f"wrote {path}" + (f" ({msg})" if msg else ""))

    nb = Space.from_file(packaged_spaces_dir() / "nasbench201.nas")
    best = from_nb201(nb, NB201_BEST)
    path, msg = render(space_to_dot(nb, "nb201_cell"), out / "nb201_cell.png")
    console.print(f"NAS-Bench-201 best cell {NB201_BEST} realizes to {len(nb.realize(best))} nodes; wrote {path}"
                  + (f" ({msg})" if msg else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
