"""The durable trial store: one SQLite file per search (WAL; one transaction per trial).

Every trial — genotype, canonical hash, status, objective value, metrics,
timings, error — is written as it ends, so a search killed at any moment
resumes from here without losing or repeating a finished trial.  The file holds
only JSON text and numbers: reading it executes nothing.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

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

def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Open ``path`` without the right to write it; where even the WAL index cannot be made (a read-only
    folder), open it as immutable.  Either way the database file's bytes stay as they are."""
    if not path.is_file():
        raise StoreError(f"no such store '{path}'")
    uri = "file:" + urllib.parse.quote(str(path.resolve()))
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30, isolation_level=None)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn


def _read_holder(fd: int) -> str:
    """Who holds a store's lock, from its lock file, in words."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        return f"pid {int(info['pid'])} on {info['host']}, since {since}"
    except (ValueError, KeyError, TypeError, OSError):
        return "its holder did not say who it is"


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


_COLUMNS = ("number", "genotype", "hash", "status", "value", "metrics", "error", "started", "finished", "duration",
            "worker")


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_META_TYPES: dict[str, tuple[Any, str]] = {  # what the search writes into the meta table, by key
    **{k: (_is_text, "text") for k in ("space", "network", "strategy", "estimator", "data", "objective",
                                        "space_digest", "trial_key")},
    **{k: (_is_number, "a number") for k in ("seed", "budget", "created")},
    **{k: (lambda v: isinstance(v, dict), "an object") for k in ("params", "strategy_options", "estimator_options",
                                                                 "oneshot", "strategy_config",
                                                                 "exhausted")},
    "pareto": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of objectives"),
}


_MAY_BE_NULL = frozenset(("params", "data"))  # a search without overrides, the estimator's default data


def _damaged(path: Path, said: str) -> StoreError:
    return StoreError(f"store '{path}' is damaged (SQLite: {said}); nothing was changed. "
                      f"`sqlite3 {path} .recover > rows.sql` saves what can still be read")


def _sqlite_trouble(path: Path, e: sqlite3.DatabaseError, opening: bool = False) -> StoreError:
    """What a damaged, full or otherwise unusable SQLite file means for the store, in one line."""
    said = str(e)
    if "not a database" in said:  # never was one, or its header is gone
        return StoreError(f"cannot open store '{path}': it is not an SQLite database (SQLite: {said}); "
                          "nothing was changed")
    if any(w in said for w in ("malformed", "unsupported file format", "corrupt")):
        return _damaged(path, said)
    if opening:
        return StoreError(f"cannot open store '{path}': {said}")
    return StoreError(f"store '{path}' cannot be used (SQLite: {said})")


def _sqlite_errors(method: Callable) -> Callable:
    """A SQLite failure in a store method becomes a StoreError that names the store and says what to do."""
    @functools.wraps(method)
    def wrapped(self: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise _sqlite_trouble(self.path, e) from None
    return wrapped


def _check_intact(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a store with a damaged page before anything reads or writes it (SQLite's quick_check)."""
    (first,) = conn.execute("PRAGMA quick_check(1)").fetchone()
    first = " ".join(first.replace("*** in database main ***", "").split())
    if first != "ok":
        raise _damaged(path, first)


def _check_is_store(conn: sqlite3.Connection, path: Path) -> set[str]:
    """Refuse a database that holds anything but a nasdsl store's tables (an empty one is a new store)."""
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return tables
    cols = {r[1] for r in conn.execute("PRAGMA table_info(trials)")} if "trials" in tables else set()
    if tables - {"meta", "trials"} or "meta" not in tables or not set(_COLUMNS) <= cols:
        raise StoreError(f"'{path}' is not a nasdsl store (its tables: {', '.join(sorted(tables))}); "
                         "it was left as it is")
    return tables


class Store:
    """Open (or create) the store at ``path``; ``readonly=True`` opens an existing store without writing a byte.

    A store opened for writing refuses a database that is not a nasdsl store before it changes anything.
    The search that writes to a store holds its lock (:meth:`lock`), so a second one is refused.
    """

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._lock_fd: Optional[int] = None
        try:
            if readonly:
                self.conn = _connect_readonly(self.path)
                if not _check_is_store(self.conn, self.path):
                    raise StoreError(f"'{self.path}' is an empty database, not a nasdsl store")
                _check_intact(self.conn, self.path)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            if _check_is_store(self.conn, self.path):
                _check_intact(self.conn, self.path)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            self.conn.execute("BEGIN IMMEDIATE")  # can it be written at all (a read-only file, a full disk)?
            self.conn.execute("ROLLBACK")
        except StoreError:
            self._close_quietly()
            raise
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise _sqlite_trouble(self.path, e, opening=True) from None
        except OSError as e:
            self._close_quietly()
            raise StoreError(f"cannot open store '{self.path}': {e}") from None

    def _close_quietly(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self.unlock()
        self.conn.close()

    # ------------------------------------------------------------ the writer's lock
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def lock(self, command: str = "") -> None:
        """Hold the store for this process until :meth:`close`; refuse if a live process holds it.

        An advisory ``flock`` on ``STORE.lock``: the kernel drops it when its holder exits, however it
        exits, so the lock of a crashed or killed search is stale by construction and is taken over
        (its file, naming the old holder, is rewritten).  Not reliable across machines on NFS.
        """
        if self._lock_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, as before
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreError(f"store '{self.path}' is in use by another search ({holder}); wait for it to end, "
                             "or choose another --store") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def __del__(self) -> None:
        if getattr(self, "_lock_fd", None) is not None:
            self.unlock()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ meta
    @_sqlite_errors
    def meta(self) -> dict[str, Any]:
        """The search's description; each key nasdsl writes is checked to have the type it wrote."""
        try:
            meta = {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}
        except (ValueError, TypeError) as e:
            raise StoreError(f"store '{self.path}' is damaged: its search description cannot be read ({e})") from None
        for key, (ok, what) in _META_TYPES.items():
            if key in meta and not (meta[key] is None and key in _MAY_BE_NULL) and not ok(meta[key]):
                raise StoreError(f"store '{self.path}' is damaged: its meta '{key}' is {str(meta[key])[:60]!r}, "
                                 f"not {what}")
        return meta

    @_sqlite_errors
    def set_meta(self, values: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for k, v in values.items():
                self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (k, json.dumps(v)))

    # ------------------------------------------------------------ trials
    @_sqlite_errors
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
        try:
            g = Genotype(values=json.loads(genotype))
            m = json.loads(metrics)
            if not isinstance(m, dict) or not isinstance(h, str) or not isinstance(status, str):
                raise ValueError("metrics, hash or status of the wrong type")
            if value is not None and not isinstance(value, (int, float)):
                raise ValueError(f"value {value!r} is not a number")
            return TrialRecord(int(number), g, h, status, None if value is None else float(value), m, error,
                               started, finished, duration, worker)
        except (ValueError, TypeError) as e:  # pydantic's ValidationError is a ValueError
            raise StoreError(f"store '{self.path}' is damaged: trial {number!r} cannot be read ({e})") from None

    _COLS = "number, genotype, hash, status, value, metrics, error, started, finished, duration, worker"

    @_sqlite_errors
    def trials(self, status: Optional[str] = None) -> list[TrialRecord]:
        q = f"SELECT {self._COLS} FROM trials"
        args: tuple = ()
        if status:
            q += " WHERE status = ?"
            args = (status,)
        return [self._row(r) for r in self.conn.execute(q + " ORDER BY number", args)]

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self.trials())

    @_sqlite_errors
    def count(self) -> int:
        """How many trials the store holds (every status)."""
        (n,) = self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()
        return int(n)

    @_sqlite_errors
    def finished_count(self) -> int:
        marks = ",".join("?" * len(FINISHED))
        (n,) = self.conn.execute(f"SELECT COUNT(*) FROM trials WHERE status IN ({marks})", FINISHED).fetchone()
        return int(n)

    @_sqlite_errors
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for s, n in self.conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
            out[s] = int(n)
        return out

    @_sqlite_errors
    def lookup(self, hash: str) -> Optional[TrialRecord]:
        """The first trial that evaluated (or rejected) an architecture, if there is one."""
        known = FINISHED + ("rejected",)
        marks = ",".join("?" * len(known))
        row = self.conn.execute(f"SELECT {self._COLS} FROM trials WHERE hash = ? AND status IN ({marks}) "
                                "ORDER BY number LIMIT 1", (hash, *known)).fetchone()
        return self._row(row) if row else None

    @_sqlite_errors
    def best(self) -> Optional[TrialRecord]:
        row = self.conn.execute(f"SELECT {self._COLS} FROM trials WHERE status = 'completed' AND value IS NOT NULL "
                                "ORDER BY value DESC, number ASC LIMIT 1").fetchone()
        return self._row(row) if row else None
