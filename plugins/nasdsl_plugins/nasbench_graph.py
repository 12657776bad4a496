"""NAS-Bench-Graph as a tabular estimator: recorded GNN results, looked up instead of trained.

NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks) trained every
architecture of a 4-node GNN space on 9 graph datasets.  The ``nas-bench-graph``
wheel ships the results as ``nas_bench_graph/light/<dataset>.bench``: one pickle
per dataset holding ``{key: {"valid_perf", "perf", "latency", "para"}}``.  This
module reads them with a restricted unpickler (never a bare ``pickle.load``; the
wheel's own Python code is neither imported nor run) and maps genotypes of
``spaces/nasbench_graph.nas`` onto the benchmark's keys.

Facts about the tables (checked by ``tests/test_nasbench_graph.py``):

* An architecture is a *link list* ``[l1, l2, l3, l4]`` — node i takes its input
  from the raw (preprocessed) input when ``l_i == 0``, else from node ``l_i``
  (``l_i < i``) — and an *op list* of 4 names from :data:`OPS`.  The nodes no
  other node reads are summed into the output.
* Isomorphic architectures share one record.  The key of an architecture is found
  by the benchmark's canonicalization: relabel the nodes so that the link list is
  one of the 9 patterns of :data:`LINKS`, move redundant ``skip`` nodes to the
  front, sort the ops of interchangeable nodes, then read the pattern's index and
  the 4 op indices as the decimal digits of a 5-digit number
  (``key = 10**4 * link_index + op indices in base 10``).
* The 8 node-classification tables (all but ``proteins``) hold the same 26,206
  keys.  Every genotype of the space (157,464) has one, except the 24 whose 4
  nodes are all ``skip`` (the identity network, key 88888): the benchmark has no
  record for it.
* ``proteins`` was run on 5 ops only (:data:`PROTEINS_OPS`, same key digits):
  2,021 records.
* ``valid_perf`` / ``perf`` are validation / test accuracies as fractions in
  [0, 1]; ``latency`` is the inference time in seconds; ``para`` is the parameter
  count in millions.  The light tables hold final results only (no per-epoch
  curves).

The plugin also declares the GNN ops of the space (``gat gcn gin cheb sage arma
graph fc``, shape rule ``graph``: node features [C] -> [channels or C]) to the
language through ``register_primitives``; they have no backend implementation
(the tables answer instead of training).
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import importlib.util
import io
import pickle
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from nasdsl import hookimpl
from nasdsl.errors import NasdslError
from nasdsl.estimator import Estimator, TrialSpec
from nasdsl.primitives import SAME

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")

# the benchmark's op order: an op's index is its digit in a key
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
PROTEINS_OPS = ("gcn", "sage", "arma", "fc", "skip")
SKIP = OPS.index("skip")
GNN_OPS = OPS[:SKIP]  # the benchmark's GNN layers: declared to the language by this plugin ('skip' is core)

# the 9 canonical link patterns; a pattern's index is the leading digit of a key
LINKS: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3),
)

# The other 15 link patterns of the space, each with the canonical pattern the
# benchmark relabels it to and, for each node of the relabelled graph, the node
# it was (the benchmark's fixed choice among equivalent relabellings).
_RELABEL: dict[tuple[int, ...], tuple[tuple[int, ...], tuple[int, ...]]] = {
    (0, 0, 0, 2): ((0, 0, 0, 1), (1, 0, 2, 3)),
    (0, 0, 0, 3): ((0, 0, 0, 1), (2, 0, 1, 3)),
    (0, 0, 1, 0): ((0, 0, 0, 1), (0, 1, 3, 2)),
    (0, 0, 2, 0): ((0, 0, 0, 1), (1, 0, 3, 2)),
    (0, 0, 2, 1): ((0, 0, 1, 2), (1, 0, 2, 3)),
    (0, 0, 2, 2): ((0, 0, 1, 1), (1, 0, 2, 3)),
    (0, 0, 2, 3): ((0, 0, 1, 3), (1, 0, 2, 3)),
    (0, 1, 0, 0): ((0, 0, 0, 1), (0, 2, 3, 1)),
    (0, 1, 0, 1): ((0, 0, 1, 1), (0, 2, 1, 3)),
    (0, 1, 0, 2): ((0, 0, 1, 3), (0, 2, 1, 3)),
    (0, 1, 0, 3): ((0, 0, 1, 2), (0, 2, 1, 3)),
    (0, 1, 1, 0): ((0, 0, 1, 1), (0, 3, 1, 2)),
    (0, 1, 1, 3): ((0, 1, 1, 2), (0, 2, 1, 3)),
    (0, 1, 2, 0): ((0, 0, 1, 3), (0, 3, 1, 2)),
    (0, 1, 2, 1): ((0, 1, 1, 2), (0, 1, 3, 2)),
}

# nodes whose ops the benchmark sorts (they hang off the same parent and have
# no children, so any order of their ops is the same network)
_INTERCHANGEABLE: dict[tuple[int, ...], tuple[int, ...]] = {
    (0, 0, 0, 0): (0, 1, 2, 3),
    (0, 0, 0, 1): (1, 2),
    (0, 0, 1, 1): (2, 3),
    (0, 1, 1, 1): (1, 2, 3),
    (0, 1, 2, 2): (2, 3),
}
_TWO_CHAINS = (0, 0, 1, 2)  # x -> a -> c and x -> b -> d: the chains (a, c) and (b, d) are ordered

ALL_SKIP_KEY = 10**4 * LINKS.index((0, 1, 2, 3)) + SKIP * 1111  # 88888


class NasBenchGraphError(NasdslError, ValueError):
    """A NAS-Bench-Graph table or architecture that cannot be used: says what is allowed."""


# ---------------------------------------------------------------- restricted unpickling
def _numpy_scalar_reconstructor():
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(mod).scalar
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy has no multiarray.scalar")  # pragma: no cover


def _plain_dtype(spec: Any, *args: Any) -> np.dtype:
    """``numpy.dtype`` for the pickle, numeric kinds only (an object dtype could smuggle objects)."""
    dt = np.dtype(spec, *args)
    if dt.kind not in "biuf":
        raise pickle.UnpicklingError(f"refusing numpy dtype {dt!r} in a benchmark table (numbers only)")
    return dt


def _plain_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` for the pickle: a numeric scalar from its raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or not isinstance(data, bytes):
        raise pickle.UnpicklingError("refusing a numpy scalar that is not a number given by its bytes")
    return _numpy_scalar_reconstructor()(dtype, data)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numeric numpy scalars; refuses every other global.

    The ``.bench`` files need only numpy's scalar reconstructor and ``numpy.dtype``
    (both wrapped so that they accept numeric types only); dicts, tuples, floats,
    ints and strings are pickle opcodes, not globals.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "scalar"): _plain_scalar,
        ("numpy._core.multiarray", "scalar"): _plain_scalar,
        ("numpy", "dtype"): _plain_dtype,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global '{module}.{name}' from a benchmark table; allowed: "
                + ", ".join(f"{m}.{n}" for m, n in self.ALLOWED)) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing a persistent id in a benchmark table")


def restricted_loads(data: bytes) -> Any:
    """``pickle.loads`` through :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _check_dataset(dataset: str) -> str:
    name = str(dataset).strip().lower()
    if name not in DATASETS:
        raise NasBenchGraphError(f"NAS-Bench-Graph has no dataset '{dataset}'; its datasets: {', '.join(DATASETS)}")
    return name


def _bench_bytes(dataset: str) -> bytes:
    """The raw ``light/<dataset>.bench`` of the installed wheel.

    The package is located without being imported (its ``__init__`` pulls in its
    pickle-based loader): an unexecuted module object from its spec is enough
    for ``importlib.resources``.
    """
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or spec.submodule_search_locations is None:
        raise NasBenchGraphError("the NAS-Bench-Graph tables are not installed: pip install nas-bench-graph")
    anchor = importlib.util.module_from_spec(spec)  # never executed
    res = importlib.resources.files(anchor).joinpath("light", f"{dataset}.bench")
    try:
        return res.read_bytes()
    except OSError as e:
        raise NasBenchGraphError(f"cannot read the NAS-Bench-Graph table for '{dataset}': {e}") from None


def read_raw(dataset: str) -> dict[int, dict[str, Any]]:
    """The table exactly as stored: ``{key: {"valid_perf", "perf", "latency", "para"}}`` (not cached)."""
    name = _check_dataset(dataset)
    raw = restricted_loads(_bench_bytes(name))
    if not isinstance(raw, dict):
        raise NasBenchGraphError(f"the '{name}' table is a {type(raw).__name__}, not a dict of records")
    return raw


# ---------------------------------------------------------------- architectures and keys
def _relabel(link: tuple[int, ...], ops: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if link in _RELABEL:
        link, source = _RELABEL[link]
        ops = tuple(ops[j] for j in source)
    return link, ops


def _feeds_raw_input(k: int, link: Sequence[int], ops: Sequence[int]) -> bool:
    """Whether node k (0-based) outputs the raw input: it and all its ancestors are skips."""
    while k >= 0:
        if ops[k] != SKIP:
            return False
        k = link[k] - 1
    return True


def _hoist(k: int, link: list[int], ops: list[int]) -> tuple[list[int], list[int]]:
    """Move node k (0-based) to the front, fed by the raw input; its readers read its old parent.

    References to the raw input and to the nodes before k now point one node
    further (to the hoisted node, and to the nodes' new places).
    """
    parent = link[k]

    def renumber(ref: int) -> int:
        if ref == k + 1:
            return parent + 1
        return ref + 1 if ref <= k else ref

    rest = [j for j in range(len(link)) if j != k]
    return [0] + [renumber(link[j]) for j in rest], [ops[k]] + [ops[j] for j in rest]


def _move_skips(link: Sequence[int], ops: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The benchmark's pass over the nodes in order, hoisting each skip node that is
    read by another node, or has no sibling (no other node with its parent), or
    passes the raw input through."""
    link, ops = list(link), list(ops)
    for i in range(len(link)):
        if ops[i] != SKIP:
            continue
        read_by_another = (i + 1) in link
        has_sibling = any(j != i and link[j] == link[i] for j in range(len(link)))
        if read_by_another or not has_sibling or _feeds_raw_input(i, link, ops):
            link, ops = _hoist(i, link, ops)
    return tuple(link), tuple(ops)


def _sort_interchangeable(link: tuple[int, ...], ops: tuple[int, ...]) -> tuple[int, ...]:
    out = list(ops)
    if link in _INTERCHANGEABLE:
        where = _INTERCHANGEABLE[link]
        for pos, op in zip(where, sorted(ops[j] for j in where)):
            out[pos] = op
    elif link == _TWO_CHAINS and (ops[0], ops[2]) > (ops[1], ops[3]):
        out = [ops[1], ops[0], ops[3], ops[2]]
    return tuple(out)


def canonical_arch(link: Sequence[int], ops: Sequence[str | int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The benchmark's representative of an architecture: (canonical link pattern, op indices)."""
    link_t = tuple(int(v) for v in link)
    op_t = tuple(_op_index(o) for o in ops)
    if len(link_t) != 4 or len(op_t) != 4 or any(not 0 <= v <= i for i, v in enumerate(link_t)):
        raise NasBenchGraphError(f"not a NAS-Bench-Graph architecture: link {list(link)} (node i reads 0..i-1), "
                                 f"ops {list(ops)} (4 of them)")
    link_t, op_t = _relabel(link_t, op_t)
    link_t, op_t = _move_skips(link_t, op_t)
    link_t, op_t = _relabel(link_t, op_t)  # hoisting leaves only (0,1,2,1) and (0,1,1,3) off the 9 patterns
    if link_t not in LINKS:  # pragma: no cover - cannot happen for the 4-node space (checked by the tests)
        raise NasBenchGraphError(f"architecture {list(link)}, {list(ops)} has no canonical NAS-Bench-Graph form")
    return link_t, _sort_interchangeable(link_t, op_t)


def _op_index(op: str | int) -> int:
    if isinstance(op, (int, np.integer)) and 0 <= op < len(OPS):
        return int(op)
    if isinstance(op, str) and op in OPS:
        return OPS.index(op)
    raise NasBenchGraphError(f"'{op}' is not a NAS-Bench-Graph op; its ops: {', '.join(OPS)}")


def arch_key(link: Sequence[int], ops: Sequence[str | int]) -> int:
    """The benchmark's lookup key of an architecture (isomorphic architectures share it)."""
    link_c, ops_c = canonical_arch(link, ops)
    key = LINKS.index(link_c)
    for o in ops_c:
        key = key * 10 + o
    return key


def key_to_arch(key: int) -> tuple[list[int], list[str]]:
    """The (canonical) link list and op names a key stands for."""
    key = int(key)
    digits = [int(c) for c in f"{key:05d}"]
    if not 0 <= key < 10**5 or digits[0] >= len(LINKS) or any(d >= len(OPS) for d in digits[1:]):
        raise NasBenchGraphError(f"{key} is not a NAS-Bench-Graph key")
    return list(LINKS[digits[0]]), [OPS[d] for d in digits[1:]]


def _find(values: Mapping[str, Any], suffix: str) -> Any:
    if suffix in values:
        return values[suffix]
    hits = [k for k in values if k.endswith("." + suffix)]
    if len(hits) != 1:
        raise NasBenchGraphError(
            f"a NAS-Bench-Graph genotype needs one decision '<network>.{suffix}'; "
            + (f"found {len(hits)}: {', '.join(hits)}" if hits else "found none")
            + " (the decisions of spaces/nasbench_graph.nas: nasbench_graph.n{1..4}.inputs / .op0)")
    return values[hits[0]]


def genotype_to_arch(genotype: Any) -> tuple[list[int], list[str]]:
    """A genotype of ``spaces/nasbench_graph.nas`` as the benchmark's (link list, op list).

    Accepts a :class:`~nasdsl.genotype.Genotype` or a mapping of decision -> value;
    node i's ``inputs`` is ``["x"]`` (link 0) or ``["nJ"]`` (link J).
    """
    values = genotype.values if hasattr(genotype, "values") and not isinstance(genotype, Mapping) else genotype
    if not isinstance(values, Mapping):
        raise NasBenchGraphError(f"a genotype is a mapping of decision -> value, not {type(genotype).__name__}")
    link: list[int] = []
    ops: list[str] = []
    for i in range(1, 5):
        inp = _find(values, f"n{i}.inputs")
        if isinstance(inp, (list, tuple)) and len(inp) == 1:
            inp = inp[0]
        allowed = ["x"] + [f"n{j}" for j in range(1, i)]
        if inp not in allowed:
            raise NasBenchGraphError(f"node n{i} must read exactly one of {', '.join(allowed)}; got {inp!r}")
        link.append(allowed.index(inp))
        op = _find(values, f"n{i}.op0")
        _op_index(op)
        ops.append(op)
    return link, ops


def arch_to_genotype(link: Sequence[int], ops: Sequence[str | int], network: str = "nasbench_graph") -> dict[str, Any]:
    """Decision values of ``spaces/nasbench_graph.nas`` for a (link list, op list)."""
    out: dict[str, Any] = {}
    for i, (lk, op) in enumerate(zip(link, ops), start=1):
        if not 0 <= lk < i:
            raise NasBenchGraphError(f"node n{i} cannot read node {lk} (only x or n1..n{i - 1})")
        out[f"{network}.n{i}.inputs"] = ["x" if lk == 0 else f"n{lk}"]
        out[f"{network}.n{i}.op0"] = OPS[_op_index(op)]
    return out


def genotype_key(genotype: Any) -> int:
    """The benchmark's lookup key of a genotype of ``spaces/nasbench_graph.nas``."""
    return arch_key(*genotype_to_arch(genotype))


# ---------------------------------------------------------------- tables
class BenchTable:
    """One dataset's records, keyed by the benchmark's architecture key.

    Metrics: ``valid_acc`` and ``test_acc`` (fractions), ``latency`` (seconds),
    ``params`` (a parameter count; the table stores millions).
    """

    METRICS = ("valid_acc", "test_acc", "latency", "params")

    def __init__(self, dataset: str, raw: Mapping[int, Mapping[str, Any]]):
        self.dataset = dataset
        self.ops = PROTEINS_OPS if dataset == "proteins" else OPS
        keys = sorted(int(k) for k in raw)
        rows = []
        for k in keys:
            rec = raw[k]
            try:
                rows.append((float(rec["valid_perf"]), float(rec["perf"]), float(rec["latency"]),
                             float(round(float(rec["para"]) * 1e6))))
            except (KeyError, TypeError, ValueError) as e:
                raise NasBenchGraphError(f"record {k} of the '{dataset}' table is malformed: {e!r}") from None
        self.keys = np.asarray(keys, dtype=np.int64)
        self._index = {k: i for i, k in enumerate(keys)}
        self._data = np.asarray(rows, dtype=np.float64).reshape(len(keys), len(self.METRICS))

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        return f"BenchTable({self.dataset!r}, {len(self)} records)"

    def column(self, metric: str) -> np.ndarray:
        """One metric over all records, in key order (read-only)."""
        if metric not in self.METRICS:
            raise NasBenchGraphError(f"no metric '{metric}'; metrics: {', '.join(self.METRICS)}")
        col = self._data[:, self.METRICS.index(metric)]
        col.flags.writeable = False
        return col

    def lookup(self, key: int) -> dict[str, float]:
        """The record of a benchmark key (see :func:`arch_key`)."""
        i = self._index.get(int(key))
        if i is None:
            raise NasBenchGraphError(self._why_missing(int(key)))
        return dict(zip(self.METRICS, (float(v) for v in self._data[i])))

    def _why_missing(self, key: int) -> str:
        if key == ALL_SKIP_KEY:
            return ("NAS-Bench-Graph has no record for the all-skip architecture (every node 'skip': "
                    "the network is the identity, with no GNN layer)")
        try:
            link, ops = key_to_arch(key)
        except NasBenchGraphError:
            return f"{key} is not a NAS-Bench-Graph key"
        unknown = sorted({o for o in ops if o not in self.ops}, key=OPS.index)
        if unknown:
            return (f"the '{self.dataset}' table records only the ops {', '.join(self.ops)}; "
                    f"this architecture uses {', '.join(unknown)}")
        return f"the '{self.dataset}' table has no record for architecture {link} {ops} (key {key})"

    def key(self, genotype: Any) -> int:
        return genotype_key(genotype)

    def query(self, genotype: Any) -> dict[str, float]:
        """The record of a genotype of ``spaces/nasbench_graph.nas``: valid_acc, test_acc, latency, params."""
        return self.lookup(genotype_key(genotype))

    def query_arch(self, link: Sequence[int], ops: Sequence[str | int]) -> dict[str, float]:
        return self.lookup(arch_key(link, ops))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record once, in key order: key, link, ops and the metrics."""
        for k, row in zip(self.keys.tolist(), self._data.tolist()):
            link, ops = key_to_arch(k)
            yield {"key": k, "link": link, "ops": ops, **dict(zip(self.METRICS, row))}

    def best_valid(self) -> float:
        """The highest validation accuracy in the table."""
        return float(self.column("valid_acc").max())

    def best_test(self) -> float:
        """The highest test accuracy in the table (the oracle)."""
        return float(self.column("test_acc").max())

    def best_valid_keys(self) -> list[int]:
        """The key(s) of the architecture(s) with the highest validation accuracy."""
        v = self.column("valid_acc")
        return self.keys[v == v.max()].tolist()

    def test_of_best_valid(self) -> float:
        """Test accuracy of the best-by-validation architecture (the mean over ties, if any):
        what a perfect search on validation accuracy reports."""
        v = self.column("valid_acc")
        return float(self.column("test_acc")[v == v.max()].mean())


@functools.lru_cache(maxsize=None)
def _load_table(name: str) -> BenchTable:
    return BenchTable(name, read_raw(name))


def load_table(dataset: str) -> BenchTable:
    """The NAS-Bench-Graph table of one dataset (one of :data:`DATASETS`), read once per process."""
    return _load_table(_check_dataset(dataset))


# ---------------------------------------------------------------- estimator
def check_space(space: Any, ops: Sequence[str] = OPS, data: str = "cora") -> str:
    """Check that a space is NAS-Bench-Graph's (the decisions of spaces/nasbench_graph.nas); return its
    decision prefix.  Raises :class:`NasBenchGraphError` (a ValueError) naming what does not fit."""
    from nasdsl.decisions import InputChoice, OpChoice

    prefix = f"{space.name}."
    decisions = dict(space.decisions)
    problems: list[str] = []
    expected: set[str] = set()
    missing: list[str] = []
    offered: list[str] = []
    for i in range(1, 5):
        inp_name, op_name = f"{prefix}n{i}.inputs", f"{prefix}n{i}.op0"
        expected |= {inp_name, op_name}
        want = tuple(["x"] + [f"n{j}" for j in range(1, i)])
        inp = decisions.get(inp_name)
        if not isinstance(inp, InputChoice):
            missing.append(inp_name)
        elif tuple(inp.candidates) != want or inp.k != 1:
            problems.append(f"'{inp_name}' must pick 1 of [{', '.join(want)}] "
                            f"(it picks {inp.k} of [{', '.join(inp.candidates)}])")
        op = decisions.get(op_name)
        if not isinstance(op, OpChoice):
            missing.append(op_name)
        else:
            offered += [o for o in op.options if o not in ops and o not in offered]
    if missing:
        problems.insert(0, f"it lacks the decisions {', '.join(missing)}")
    if offered:
        problems.append(f"its nodes offer {', '.join(offered)}, which the '{data}' table does not record "
                        f"(its ops: {', '.join(ops)})")
    others = sorted(set(decisions) - expected)
    if others and not missing:
        problems.append(f"decisions the benchmark cannot honour: {', '.join(others)}")
    if problems:
        raise NasBenchGraphError(f"space '{space.name}' ({space.file}) does not fit NAS-Bench-Graph's '{data}' table "
                                 f"(the space of spaces/nasbench_graph.nas): " + "; ".join(problems))
    return prefix


class NasBenchGraphEstimator(Estimator):
    """Looks a genotype of ``spaces/nasbench_graph.nas`` up in NAS-Bench-Graph's recorded results.

    ``data`` names the dataset (``cora``, ``citeseer``, ``pubmed``, ``cs``, ``physics``,
    ``photo``, ``computers``, ``arxiv``, ``proteins``); evaluation takes microseconds.
    """

    name = "nasbench-graph"
    objective = "valid_acc"
    measures = BenchTable.METRICS

    def __init__(self, space: Any, data: str = "cora", **options: Any):
        super().__init__(space, data, **options)
        self.table = load_table(data)
        check_space(space, self.table.ops, self.table.dataset)

    def evaluate(self, trial: TrialSpec) -> dict[str, float]:
        return self.table.query(trial.genotype)


@hookimpl
def register_primitives(register):
    for op in GNN_OPS:
        register(op, params=(("channels", SAME),), rule="graph", doc=f"NAS-Bench-Graph '{op}' layer on node features")


@hookimpl
def register_estimators(register):
    register("nasbench-graph", NasBenchGraphEstimator)
