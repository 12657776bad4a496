"""Decisions: the named choices a search space is made of.

Every decision has a name that follows the source (``darts_cell.n3.inputs``),
a finite domain (except numeric hyperparameter ranges), and an optional guard:
a decision inside a ``repeat {2, 3, 4}`` body or inside one option of a choice
only counts when that repetition / option is taken.

Kinds:
    OpChoice      one op (or path of ops) out of a set; value: the option's text
    InputChoice   which earlier tensors feed a node; value: a list of their names
                  mode 'distinct'     k different inputs, order free      C(n, k)
                  mode 'independent'  k slots, each any input             n ** k
                  mode 'subset'       any subset                          2 ** n
    ValueChoice   one value out of a set (``{3, 5, 7}``, a depth, a merge mode)
    HyperRange    a numeric hyperparameter range (not part of the architecture)
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

from .errors import GenotypeError


@dataclass(frozen=True)
class Guard:
    """The decision is active only when ``decision`` satisfies ``op value``
    (op: '==', '>=', 'in' with a tuple of values: an ``if`` on a decision, or 'len>=': an input
    choice picked at least ``value`` inputs, for the op on a slot of ``pick {1, 2} of [...] each OPS``)."""

    decision: str
    op: str
    value: Any

    def holds(self, v: Any) -> bool:
        if self.op == "in":
            return v in self.value
        if self.op == "len>=":
            return len(v) >= self.value
        return v == self.value if self.op == "==" else v >= self.value

    def __str__(self) -> str:
        if self.op == "len>=":
            return f"len({self.decision}) >= {self.value}"
        return f"{self.decision} {self.op} {self.value!r}"


@dataclass
class Decision:
    name: str
    where: str = ""  # file:line:col of the construct
    guard: Guard | None = None
    arch: bool = True  # False for training hyperparameters
    kind: str = field(default="", init=False)

    # -- domain (finite decisions) --------------------------------------
    def size(self) -> int:
        raise NotImplementedError

    def values(self) -> Iterator[Any]:
        for i in range(self.size()):
            yield self.value(i)

    def value(self, i: int) -> Any:
        raise NotImplementedError

    def index(self, v: Any) -> int:
        raise NotImplementedError

    def canonical(self, v: Any) -> Any:
        return v

    def check(self, v: Any) -> Any:
        """Return ``v`` normalised, or raise GenotypeError naming the allowed values."""
        raise NotImplementedError

    def default(self) -> Any:
        return self.value(0)

    def random(self, rng: random.Random) -> Any:
        return self.value(rng.randrange(self.size()))

    def mutate(self, v: Any, rng: random.Random) -> Any:
        n = self.size()
        if n < 2:
            return v
        i = self.index(self.canonical(v))
        j = rng.randrange(n - 1)
        return self.value(j if j < i else j + 1)

    def neighbours(self, v: Any) -> Iterator[Any]:
        i = self.index(self.canonical(v))
        for j in range(self.size()):
            if j != i:
                yield self.value(j)

    def width(self) -> int:
        """Length of this decision's part of the one-hot encoding."""
        return self.size()

    def onehot(self, v: Any) -> list[float]:
        out = [0.0] * self.width()
        out[self.index(self.canonical(v))] = 1.0
        return out

    def from_onehot(self, part: Sequence[float]) -> Any:
        return self.value(max(range(len(part)), key=lambda i: part[i]))

    def describe(self) -> str:
        raise NotImplementedError

    def _bad(self, v: Any, allowed: str) -> GenotypeError:
        return GenotypeError(f"decision '{self.name}': value {v!r} is not allowed; allowed: {allowed}")

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "kind": self.kind, "domain": self.describe(), "where": self.where}
        if self.guard:
            d["when"] = str(self.guard)
        return d


@dataclass
class OpChoice(Decision):
    options: tuple[str, ...] = ()

    def __post_init__(self):
        self.kind = "op"

    def size(self) -> int:
        return len(self.options)

    def value(self, i: int) -> str:
        return self.options[i]

    def index(self, v: Any) -> int:
        return self.options.index(v)

    def check(self, v: Any) -> str:
        if isinstance(v, str) and v in self.options:
            return v
        raise self._bad(v, ", ".join(self.options))

    def describe(self) -> str:
        return "one of " + ", ".join(self.options)


@dataclass
class ValueChoice(Decision):
    options: tuple[Any, ...] = ()
    role: str = "value"  # 'value', 'depth' or 'merge'

    def __post_init__(self):
        self.kind = self.role

    def size(self) -> int:
        return len(self.options)

    def value(self, i: int) -> Any:
        return self.options[i]

    def index(self, v: Any) -> int:
        for i, o in enumerate(self.options):
            if o == v and type(o) is type(v) or (isinstance(o, float) and isinstance(v, int) and o == v):
                return i
        raise ValueError(v)

    def check(self, v: Any) -> Any:
        if isinstance(v, bool):
            raise self._bad(v, ", ".join(map(repr, self.options)))
        try:
            return self.options[self.index(v)]
        except ValueError:
            raise self._bad(v, ", ".join(map(repr, self.options))) from None

    def describe(self) -> str:
        return "{" + ", ".join(map(repr, self.options)) + "}"


@dataclass
class InputChoice(Decision):
    candidates: tuple[str, ...] = ()
    k: int = 1  # how many inputs it picks (with ``ks``: the most it picks)
    mode: str = "distinct"  # distinct | independent | subset
    each: tuple[str, ...] = ()  # names of the op decisions aligned with the picked inputs
    ks: tuple[int, ...] = ()  # ``pick {1, 2} of [...]``: the numbers of different inputs it may pick, ascending

    def __post_init__(self):
        self.kind = "inputs"

    def sizes(self) -> tuple[int, ...]:
        """How many inputs a value may hold (one number but for a value choice on k)."""
        return self.ks or (self.k,)

    def size(self) -> int:
        n = len(self.candidates)
        if self.mode == "distinct":
            return sum(math.comb(n, k) for k in self.sizes())
        if self.mode == "independent":
            return n ** self.k
        return 2 ** n

    def _pos(self, names: Sequence[str]) -> list[int]:
        return [self.candidates.index(x) for x in names]

    def value(self, i: int) -> list[str]:
        n = len(self.candidates)
        if self.mode == "subset":
            return [self.candidates[j] for j in range(n) if i >> j & 1]
        if self.mode == "independent":
            out = []
            for _ in range(self.k):
                i, r = divmod(i, n)
                out.append(self.candidates[r])
            return out
        k = self.k
        for k in self.sizes():  # the values with fewer inputs come first
            if i < math.comb(n, k):
                break
            i -= math.comb(n, k)
        # unrank the i-th k-combination in lexicographic order
        out, start = [], 0
        for j in range(start, n):
            if k == 0:
                break
            c = math.comb(n - j - 1, k - 1)
            if i < c:
                out.append(self.candidates[j])
                k -= 1
            else:
                i -= c
        return out

    def index(self, v: Sequence[str]) -> int:
        pos = self._pos(v)
        n = len(self.candidates)
        if self.mode == "subset":
            return sum(1 << p for p in pos)
        if self.mode == "independent":
            return sum(p * n ** s for s, p in enumerate(pos))
        pos = sorted(pos)
        k = len(pos)
        rank, prev = sum(math.comb(n, j) for j in self.sizes() if j < k), -1
        for p in pos:
            for j in range(prev + 1, p):
                rank += math.comb(n - j - 1, k - 1)
            prev, k = p, k - 1
        return rank

    def canonical(self, v: Sequence[str]) -> list[str]:
        if self.mode == "independent":
            return list(v)
        return sorted(v, key=self.candidates.index)

    def check(self, v: Any) -> list[str]:
        allowed = ", ".join(self.candidates)
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise self._bad(v, f"a list of inputs from [{allowed}]")
        unknown = [x for x in v if x not in self.candidates]
        if unknown:
            raise self._bad(unknown[0], f"inputs from [{allowed}]")
        if self.mode == "distinct":
            if len(v) not in self.sizes() or len(set(v)) != len(v):
                raise self._bad(list(v), f"{self._how_many()} different inputs from [{allowed}]")
        elif self.mode == "independent":
            if len(v) != self.k:
                raise self._bad(list(v), f"{self.k} inputs (repeats allowed) from [{allowed}]")
        elif len(set(v)) != len(v):
            raise self._bad(list(v), f"a subset (no repeats) of [{allowed}]")
        return list(v)

    def _how_many(self) -> str:
        ks = [str(k) for k in self.sizes()]
        return ks[0] if len(ks) == 1 else ", ".join(ks[:-1]) + " or " + ks[-1]

    def random(self, rng: random.Random) -> list[str]:
        if self.ks:  # uniform over the domain, as for every decision: sizes weighted by their counts
            return self.value(rng.randrange(self.size()))
        if self.mode == "distinct":
            return self.canonical(rng.sample(list(self.candidates), self.k))
        if self.mode == "independent":
            return [rng.choice(self.candidates) for _ in range(self.k)]
        return [c for c in self.candidates if rng.random() < 0.5]

    def mutate(self, v: Sequence[str], rng: random.Random) -> list[str]:
        """Change one element: swap one picked input for an unpicked one, re-pick one slot, or flip one."""
        v = list(v)
        n = len(self.candidates)
        if self.mode == "subset":
            c = self.candidates[rng.randrange(n)]
            return self.canonical([x for x in v if x != c] if c in v else v + [c])
        if self.mode == "independent":
            if n < 2:
                return v
            s = rng.randrange(self.k)
            v[s] = rng.choice([c for c in self.candidates if c != v[s]])
            return v
        unpicked = [c for c in self.candidates if c not in v]
        if self.ks:  # also pick more or fewer inputs: the next number k allows, up or down
            more, fewer = self._next_sizes(len(v))
            moves = (["swap"] if unpicked and v else []) + (["grow"] if more else []) + (["shrink"] if fewer else [])
            move = rng.choice(moves) if moves else None
            if move == "grow":
                return v + rng.sample(unpicked, more - len(v))
            if move == "shrink":
                keep = sorted(rng.sample(range(len(v)), fewer))
                return [v[i] for i in keep]
            if move is None:
                return v
        if not unpicked:
            return v
        s = rng.randrange(len(v))
        v[s] = rng.choice(unpicked)  # keeps the slot's position, so an aligned op stays with it
        return v

    def neighbours(self, v: Sequence[str]) -> Iterator[list[str]]:
        v = list(v)
        if self.mode == "subset":
            for c in self.candidates:
                yield self.canonical([x for x in v if x != c] if c in v else v + [c])
            return
        for s in range(len(v)):
            for c in self.candidates:
                if c == v[s] or (self.mode == "distinct" and c in v):
                    continue
                w = list(v)
                w[s] = c
                yield w
        if self.ks:  # the next number of inputs k allows, down or up: drop or add that many
            more, fewer = self._next_sizes(len(v))
            if fewer is not None:
                for keep in itertools.combinations(range(len(v)), fewer):
                    yield [v[i] for i in keep]
            if more is not None:
                unpicked = [c for c in self.candidates if c not in v]
                for extra in itertools.combinations(unpicked, more - len(v)):
                    yield self.canonical(v + list(extra))

    def _next_sizes(self, n: int) -> tuple[Optional[int], Optional[int]]:
        """The allowed numbers of inputs just above and just below ``n`` (None where there is none)."""
        return (min((k for k in self.ks if k > n), default=None), max((k for k in self.ks if k < n), default=None))

    def width(self) -> int:
        return len(self.candidates) * (self.k if self.mode == "independent" else 1)

    def onehot(self, v: Sequence[str]) -> list[float]:
        n = len(self.candidates)
        out = [0.0] * self.width()
        for s, p in enumerate(self._pos(self.canonical(v))):
            out[(s * n if self.mode == "independent" else 0) + p] = 1.0
        return out

    def from_onehot(self, part: Sequence[float]) -> list[str]:
        n = len(self.candidates)
        if self.mode == "independent":
            return [self.candidates[max(range(n), key=lambda j: part[s * n + j])] for s in range(self.k)]
        if self.mode == "subset":
            return [c for j, c in enumerate(self.candidates) if part[j] >= 0.5]
        k = self.k
        if self.ks:  # as many as are on, to the nearest number k allows
            on = sum(1 for x in part if x >= 0.5)
            k = min(self.ks, key=lambda j: (abs(j - on), j))
        best = sorted(range(n), key=lambda j: -part[j])[:k]
        return [self.candidates[j] for j in sorted(best)]

    def describe(self) -> str:
        cands = ", ".join(self.candidates)
        if self.mode == "distinct":
            return f"{self._how_many()} different of [{cands}]"
        if self.mode == "independent":
            return f"{self.k} independently from [{cands}]"
        return f"any subset of [{cands}]"


@dataclass
class HyperRange(Decision):
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    integer: bool = False

    def __post_init__(self):
        self.kind = "hyper"
        self.arch = False

    def size(self) -> int:
        return self.high - self.low + 1 if self.integer else 0

    def value(self, i: int) -> Any:
        if not self.integer:
            raise ValueError("a continuous range has no i-th value")
        return int(self.low) + i

    def index(self, v: Any) -> int:
        return int(v) - int(self.low)

    def values(self) -> Iterator[Any]:
        if not self.integer:
            raise ValueError(f"'{self.name}' is a continuous range")
        return iter(range(int(self.low), int(self.high) + 1))

    def check(self, v: Any) -> Any:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and self.low <= v <= self.high
        if ok and self.integer and float(v).is_integer():
            return int(v)
        if ok and not self.integer:
            return float(v)
        raise self._bad(v, self.describe())

    def default(self) -> Any:
        if self.integer:
            return int(self.low)
        return math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2

    def random(self, rng: random.Random) -> Any:
        if self.integer:
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def mutate(self, v: Any, rng: random.Random) -> Any:
        for _ in range(16):
            w = self.random(rng)
            if w != v:
                return w
        return v

    def neighbours(self, v: Any) -> Iterator[Any]:
        if self.integer:
            for w in (v - 1, v + 1):
                if self.low <= w <= self.high:
                    yield w
        else:
            f = 1.25
            for w in ((v / f, v * f) if self.log else (v - (self.high - self.low) / 10, v + (self.high - self.low) / 10)):
                if self.low <= w <= self.high:
                    yield w

    def width(self) -> int:
        return 1

    def _unit(self, v: float) -> float:
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low) or 1.0)
        return (v - self.low) / ((self.high - self.low) or 1.0)

    def onehot(self, v: Any) -> list[float]:
        return [self._unit(v)]

    def from_onehot(self, part: Sequence[float]) -> Any:
        u = min(max(part[0], 0.0), 1.0)
        if self.log:
            w = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            w = self.low + u * (self.high - self.low)
        return int(round(w)) if self.integer else w

    def describe(self) -> str:
        kind = "int" if self.integer else ("loguniform" if self.log else "uniform")
        return f"{kind}({self.low}, {self.high})"


def product_size(decisions: Sequence[Decision]) -> int:
    return math.prod(d.size() for d in decisions)


__all__ = ["Guard", "Decision", "OpChoice", "ValueChoice", "InputChoice", "HyperRange", "product_size"]
