"""What a search prints while it runs, and how its executor is stopped."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..store import TrialRecord

if TYPE_CHECKING:
    from .core import Search


class _Progress:
    """Progress of a search: on a terminal a rich bar (trials done / budget, best so far, elapsed, ETA);
    elsewhere (nohup, SLURM, CI logs) one plain line per trial as it ends.  A failed trial's reason is
    printed either way, so a configuration mistake is seen at the first trial, not in the store."""

    def __init__(self, search: "Search", done: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.search = search
        self.started = time.time()
        self.console = Console()
        self.live = self.console.is_terminal
        best = search.store.best()
        self.progress = None
        if self.live:
            self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(), console=self.console)
            self.task = self.progress.add_task("search", total=search.budget, completed=done,
                                               best=f"{best.value:.4f}" if best else "-")
            self.progress.start()

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False)  # above the bar
        else:
            print(line, flush=True)

    def update(self, rec: TrialRecord) -> None:
        best = self.search.store.best()
        done = self.search.store.finished_count()
        shown = f"{best.value:.4f}" if best else "-"
        if self.progress is not None:
            self.progress.update(self.task, completed=done, best=shown)
        if rec.status == "failed":
            self._say(f"trial {rec.number} failed: {rec.error}")
        elif not self.live and rec.status != "cached":  # a repeat proposal is summed up at the end
            value = f" {self.search.objective} = {rec.value:.4f}" if rec.value is not None else ""
            why = f" ({rec.error})" if rec.status == "rejected" and rec.error else ""
            self._say(f"trial {rec.number} {rec.status}{value}{why}; {done}/{self.search.budget} done, best {shown}, "
                      f"{time.time() - self.started:.0f} s")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _stop(executor: Any) -> None:
    """Shut an executor down without waiting for its running trials (``shutdown(wait=False)`` where it takes it)."""
    import inspect

    try:
        takes_wait = "wait" in inspect.signature(executor.shutdown).parameters
    except (TypeError, ValueError):
        takes_wait = False
    executor.shutdown(wait=False) if takes_wait else executor.shutdown()

