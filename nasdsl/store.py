"""The durable trial store: one SQLite file per search (WAL; one transaction per trial).

Every trial — genotype, canonical hash, status, objective value, metrics,
timings, error — is written as it ends, so a search killed at any moment
resumes from here without losing or repeating a finished trial.  The file holds
only JSON text and numbers: reading it executes nothing.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from .errors import NasdslError
from .genotype import Genotype

FINISHED = ("completed", "failed")  # statuses that count against the budget
STATUSES = ("completed", "failed", "rejected", "cached")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number    INTEGER PRIMARY KEY,
    genotype  TEXT NOT NULL,
    hash      TEXT NOT NULL,
    status    TEXT NOT NULL,
    value     REAL,
    metrics   TEXT NOT NULL DEFAULT '{}',
    error     TEXT,
    started   REAL,
    finished  REAL,
    duration  REAL,
    worker    TEXT
);
CREATE INDEX IF NOT EXISTS trials_hash ON trials (hash);
"""


class StoreError(NasdslError):
    """A store that cannot be opened, or that belongs to a different search."""



def trials_dir(store_path: str | Path) -> Path:
    """The folder of a store's trial files (checkpoints, weights): ``runs/x.db`` -> ``runs/x/trials``; a
    store path without a suffix gets ``NAME.files/trials`` beside it (never a folder inside the store file)."""
    p = Path(store_path)
    base = p.with_suffix("") if p.suffix else p.with_name(p.name + ".files")
    return base / "trials"


def trial_dir(store_path: str | Path, arch_hash: str, search_key: Optional[str] = None) -> Path:
    """One trial's folder: by architecture and by the search that trained it (``search_key``: what the
    estimator's results depend on), so another search reusing the path never resumes a stale checkpoint."""
    name = arch_hash[:16] + (f"-{search_key}" if search_key else "")
    return trials_dir(store_path) / name

@dataclass
class TrialRecord:
    number: int
    genotype: Genotype
    hash: str
    status: str
    value: Optional[float]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None
    started: Optional[float] = None
    finished: Optional[float] = None
    duration: Optional[float] = None
    worker: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "genotype": self.genotype.values, "hash": self.hash, "status": self.status,
                "value": self.value, "metrics": self.metrics, "error": self.error, "started": self.started,
                "finished": self.finished, "duration": self.duration, "worker": self.worker}


def _clean(v: Any) -> Any:
    """JSON has no NaN: store non-finite numbers as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


class Store:
    """Open (or create) the store at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open store '{self.path}': {e}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ meta
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for k, v in values.items():
                self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (k, json.dumps(v)))

    # ------------------------------------------------------------ trials
    def add(self, genotype: Genotype, hash: str, status: str, value: Optional[float], metrics: dict[str, Any],
            error: Optional[str] = None, started: Optional[float] = None, duration: Optional[float] = None,
            worker: Optional[str] = None) -> TrialRecord:
        """Record one trial in its own transaction; returns it with its number."""
        if status not in STATUSES:
            raise StoreError(f"unknown trial status '{status}'")
        if value is not None and not math.isfinite(value):
            value = None
        finished = time.time()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            (n,) = self.conn.execute("SELECT COALESCE(MAX(number), -1) + 1 FROM trials").fetchone()
            self.conn.execute(
                "INSERT INTO trials (number, genotype, hash, status, value, metrics, error, started, finished, duration, worker)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (n, json.dumps(genotype.values), hash, status, value, json.dumps(_clean(metrics)), error, started,
                 finished, duration, worker))
        return TrialRecord(n, genotype, hash, status, value, dict(metrics), error, started, finished, duration, worker)

    def _row(self, row: tuple) -> TrialRecord:
        number, genotype, h, status, value, metrics, error, started, finished, duration, worker = row
        return TrialRecord(number, Genotype(values=json.loads(genotype)), h, status, value, json.loads(metrics), error,
                           started, finished, duration, worker)

    _COLS = "number, genotype, hash, status, value, metrics, error, started, finished, duration, worker"

    def trials(self, status: Optional[str] = None) -> list[TrialRecord]:
        q = f"SELECT {self._COLS} FROM trials"
        args: tuple = ()
        if status:
            q += " WHERE status = ?"
            args = (status,)
        return [self._row(r) for r in self.conn.execute(q + " ORDER BY number", args)]

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self.trials())

    def count(self) -> int:
        """How many trials the store holds (every status)."""
        (n,) = self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()
        return int(n)

    def finished_count(self) -> int:
        marks = ",".join("?" * len(FINISHED))
        (n,) = self.conn.execute(f"SELECT COUNT(*) FROM trials WHERE status IN ({marks})", FINISHED).fetchone()
        return int(n)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for s, n in self.conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
            out[s] = int(n)
        return out

    def lookup(self, hash: str) -> Optional[TrialRecord]:
        """The first trial that evaluated (or rejected) an architecture, if there is one."""
        known = FINISHED + ("rejected",)
        marks = ",".join("?" * len(known))
        row = self.conn.execute(f"SELECT {self._COLS} FROM trials WHERE hash = ? AND status IN ({marks}) "
                                "ORDER BY number LIMIT 1", (hash, *known)).fetchone()
        return self._row(row) if row else None

    def best(self) -> Optional[TrialRecord]:
        row = self.conn.execute(f"SELECT {self._COLS} FROM trials WHERE status = 'completed' AND value IS NOT NULL "
                                "ORDER BY value DESC, number ASC LIMIT 1").fetchone()
        return self._row(row) if row else None
