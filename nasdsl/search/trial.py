"""One trial, wherever it runs: the payload that travels, the outcome that comes back, and ``run_trial``.

A payload is a plain dict: the space (its file, the text of every ``.nas`` file it
was compiled from, its network and parameters), the genotype, the estimator's name
and options, the data's name, the objective, the trial's number, seed and folder.
A worker rebuilds the space from the payload, so it needs nasdsl and the plugins
installed, not the driver's files: where a source file is not on the worker as sent,
the sources are written to a folder of their own and compiled from there.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .. import plugins
from ..constraints import broken, genotype_metrics, model_metrics, structural_metrics, violation
from ..errors import NasError
from ..estimator import Filtered
from ..genotype import Genotype
from ..space import Space


@dataclass
class SpaceRef:
    """How a worker process rebuilds the space: from its sources, not from a pickled object."""

    file: str
    network: Optional[str] = None
    params: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # every .nas file compiled from: path -> text

    def load(self, file: Optional[str] = None) -> Space:
        """The compiled space (cached), from ``file`` when the caller resolved :meth:`local_file` already."""
        file = file or self.local_file()
        return _cached_space(file, self.network, tuple(sorted(self.params.items())), _stamp(file))

    def local_file(self) -> str:
        """The root file to compile here: the file itself where every source reads as sent (the same
        machine, or a shared file system), else the root of a copy of the sources written for them."""
        if not self.sources or all(_reads_as(path, text) for path, text in self.sources.items()):
            return self.file
        return _written(self.sources, self.file)

    @staticmethod
    def sources_of(space: Space) -> dict[str, str]:
        """The text of every file a compiled space was read from (the root and what it imports), exactly as
        on disk (no newline translation), so it also serves as what the store's space digest hashes."""
        out = {}
        for key in sorted(space.program.modules):
            try:
                out[key] = _read_text(key)
            except (OSError, UnicodeDecodeError):
                pass  # compiled from a text: nothing on disk to send
        return out


def _read_text(path: str) -> str:
    return Path(path).read_bytes().decode("utf-8")


_SPACES: dict[tuple, Space] = {}
_ESTIMATORS: dict[tuple, Any] = {}
_TEXTS: dict[tuple, str] = {}  # (path, stamp) -> the text's digest, so a file is read once per change


def _stamp(file: str) -> tuple[int, int]:
    """The file's modification time and size: an edited file is compiled again."""
    try:
        st = os.stat(file)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return 0, 0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _reads_as(path: str, text: str) -> bool:
    key = (path, _stamp(path))
    if key not in _TEXTS:
        try:
            _TEXTS[key] = _digest(_read_text(path))
        except (OSError, UnicodeDecodeError):
            _TEXTS[key] = ""
    return _TEXTS[key] == _digest(text)


def _written(sources: dict[str, str], root_file: str) -> str:
    """Write the sources under a folder named by their digest, each at its own absolute path below it, so
    relative imports resolve as on the driver; files are written once (atomically) and then reused."""
    whole = hashlib.sha256("\0".join(f"{p}\0{t}" for p, t in sorted(sources.items())).encode()).hexdigest()[:24]
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    base = Path(tempfile.gettempdir()) / f"nasdsl-spaces-{user}" / whole  # a folder per user: /tmp is shared
    for path, text in sources.items():
        target = base / Path(path).as_posix().lstrip("/")
        if not _reads_as(str(target), text):  # missing, or not what was sent (a half-written or foreign file)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # per writer
            tmp.write_bytes(text.encode("utf-8"))  # as sent: no newline translation
            os.replace(tmp, target)
    return str(base / Path(root_file).as_posix().lstrip("/"))


def _cached_space(file: str, network: Optional[str], params: tuple, stamp: tuple = ()) -> Space:
    key = (file, network, params, stamp)
    if key not in _SPACES:
        _SPACES[key] = Space.from_file(file, network=network, params=dict(params) or None)
    return _SPACES[key]


def _cached_estimator(ref: SpaceRef, name: str, data: str, options: dict[str, Any], file: Optional[str] = None):
    file = file or ref.local_file()
    key = (file, _stamp(file), ref.network, tuple(sorted(ref.params.items())), name, data,
           tuple(sorted(options.items())))
    if key not in _ESTIMATORS:
        _ESTIMATORS[key] = plugins.get_estimator(name)(ref.load(file), data=data, **options)
    return _ESTIMATORS[key]


def parse_objective(text: str) -> tuple[str, float]:
    """``valid_acc`` (maximize) or ``-params`` (minimize) -> (metric, sign)."""
    text = text.strip()
    return (text[1:], -1.0) if text.startswith("-") else (text, 1.0)


def _said(err: NasError) -> str:
    return err.message + (f"; {err.hint}" if err.hint else "")


def reason(err: NasError) -> str:
    """One line saying why an architecture cannot be realized: ``message (file:line:col)``."""
    return f"{_said(err)} ({err.span})" if err.span else _said(err)


@dataclass(frozen=True)
class Outcome:
    """What one trial gave, as the executor hands it back to the loop.

    ``status`` is completed, failed or rejected; ``value`` the signed objective of a completed trial;
    ``misconfigured`` a mistake of the search's configuration found while running the trial (an objective
    the estimator does not give): the search stops instead of storing it.
    """

    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    value: Optional[float] = None
    error: Optional[str] = None
    started: Optional[float] = None
    duration: Optional[float] = None
    worker: Optional[str] = None
    traceback: Optional[str] = None
    misconfigured: Optional[str] = None

    @classmethod
    def lost(cls, why: str) -> "Outcome":
        """A trial whose worker died and will not run again."""
        return cls("failed", error=why)


# how an allocation failure reads: CUDA's OutOfMemoryError, and the CPU allocator's RuntimeError
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "defaultcpuallocator")


def run_trial(payload: dict[str, Any]) -> Outcome:
    """Evaluate one trial (in whatever process the executor chose); never raises."""
    t0 = time.time()
    here = {"started": t0, "worker": f"pid{os.getpid()}"}
    out: dict[str, Any] = {"status": "failed"}
    try:
        out = _evaluate(payload)
    except MemoryError:
        out = {"status": "failed", "error": "out of memory"}
    except Exception as e:  # a failed trial is recorded; the search goes on
        text = str(e).lower()
        oom = type(e).__name__ == "OutOfMemoryError" or any(m in text for m in _OOM_MESSAGES)
        out = {"status": "failed", "error": "out of memory: " + str(e)[:500] if oom else f"{type(e).__name__}: {e}",
               "traceback": traceback.format_exc(limit=8)[-4000:]}
    return Outcome(**out, **here, duration=time.time() - t0)


def _evaluate(payload: dict[str, Any]) -> dict[str, Any]:
    from ..estimator import TrialSpec

    ref = SpaceRef(**payload["space"])
    file = ref.local_file()  # checks the sources once per trial
    space = ref.load(file)
    est = _cached_estimator(ref, payload["estimator"], payload["data"], payload["estimator_options"], file)
    genotype = space.validate(Genotype(values=payload["genotype"]))
    pre = genotype_metrics(space, genotype.values)  # edges, count(OP): read off the genotype, nothing built
    c = broken(space, pre)
    if c is not None:
        return {"status": "rejected", "metrics": pre, "error": violation(c, pre)}
    try:
        arch = space.realize(genotype, input_shape=getattr(est, "input_shape", lambda: None)())
    except NasError as e:  # this architecture cannot be realized: rejected, like a broken constraint
        return {"status": "rejected", "error": reason(e)}
    workdir = Path(payload["workdir"]) if payload.get("workdir") else None
    pre.update(structural_metrics(arch))
    constraints = space.constraints
    if any(c["metric"] in ("params", "flops") for c in constraints):
        pre.update(model_metrics(arch))
    try:
        pre.update(getattr(est, "before_training", lambda a: {})(arch))  # e.g. a latency table's prediction
    except Filtered as f:  # e.g. a zero-cost prefilter: not worth training
        return {"status": "rejected", "metrics": {**pre, **f.metrics}, "error": f.reason}
    c = broken(space, pre)
    if c is not None:
        return {"status": "rejected", "metrics": pre, "error": violation(c, pre)}
    spec = TrialSpec(payload["number"], genotype, arch, workdir, payload.get("seed", 0), payload.get("extra", {}))
    measured = {k: float(v) for k, v in est.evaluate(spec).items()}
    metrics = {**pre, **measured}
    late = broken(space, {k: v for k, v in measured.items() if k not in pre})  # e.g. latency
    name, sign = parse_objective(payload["objective"])
    if name not in metrics:
        return {"status": "failed", "misconfigured": f"the objective '{name}' is not a metric of this estimator "
                                                     f"(it gives: {', '.join(sorted(metrics))})"}
    unmeasured = [c for c in constraints if c["metric"] not in metrics]
    if unmeasured:
        c = unmeasured[0]
        return {"status": "failed", "misconfigured": f"the constraint 'where {c['text']}' ({c['where']}) cannot be "
                                                     f"checked: this estimator does not measure '{c['metric']}'"}
    value = sign * metrics[name]
    if not math.isfinite(value):
        return {"status": "failed", "metrics": metrics, "error": f"objective {payload['objective']} is {metrics[name]}"}
    if late is not None:
        return {"status": "rejected", "metrics": metrics, "error": violation(late, metrics)}
    return {"status": "completed", "metrics": metrics, "value": value}
