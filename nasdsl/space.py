"""The Space IR: a compiled search space — named decisions plus networkx templates.

``Space.from_file("spaces/darts.nas")`` parses, compiles and checks a file.
On a space: exact ``size()`` (a Python int, never by enumeration), seeded
``sample``, lazy ``enumerate``, ``mutate``, ``neighbours``, ``encode`` /
``decode``, ``canonical_hash`` and ``realize`` (-> Architecture IR).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any, Iterator, Sequence

import networkx as nx

from .architecture import Architecture, lint
from .compiler import Explore, Program, Realize, guarded, load_program
from .compiler.supernet import SupernetIR, build_supernet
from .decisions import Decision, HyperRange, InputChoice
from .errors import ArchitectureError, GenotypeError, NasError, Span, did_you_mean
from .genotype import Genotype

Rng = random.Random | int | None


def _rng(r: Rng) -> random.Random:
    return r if isinstance(r, random.Random) else random.Random(r)


class Space:
    """A compiled search space (one network of a ``.nas`` program, with fixed parameters)."""

    def __init__(self, program: Program, network: str | None = None, params: dict[str, Any] | None = None,
                 input_shape: Sequence[int] | None = None, check: bool = True):
        self.program = program
        if not program.networks:
            raise NasError("this file defines no network", Span(program.file, 1, 1, 1, getattr(program, "source", None)))
        if network is None:
            network = program.networks[-1]
        elif network not in program.networks:
            hint = did_you_mean(network, program.networks)
            raise NasError(f"no network '{network}' in {program.file}" + (f"; {hint}" if hint else
                           f" (networks: {', '.join(program.networks)})"))
        self.name = network
        self.file = program.file
        self._input_override = tuple(input_shape) if input_shape else None
        ev = Explore(program, params, input_shape=self._input_override)
        guarded(ev.run_network)(network)
        self.params: dict[str, Any] = ev.params
        self.decisions: dict[str, Decision] = ev.decisions
        self.templates: dict[str, nx.DiGraph] = ev.templates
        self.constraints = ev.constraints
        self.input_shape = ev.input_shape
        self._params_override = dict(params or {})
        self._children: dict[str, list[Decision]] = {}
        for d in self.decisions.values():
            if d.guard is not None:
                self._children.setdefault(d.guard.decision, []).append(d)
        self._supernets: dict[tuple | None, SupernetIR] = {}
        self._no_supernet: dict[tuple | None, str] = {}
        if check:
            self.realize_walk(self.default())  # shape errors of the first options, located in the source

    # ------------------------------------------------------------ construction
    @classmethod
    def from_file(cls, path: str | Path, network: str | None = None, params: dict[str, Any] | None = None,
                  input_shape: Sequence[int] | None = None) -> "Space":
        return cls(guarded(load_program)(path), network, params, input_shape)

    @classmethod
    def from_text(cls, text: str, file: str = "<string>", network: str | None = None,
                  params: dict[str, Any] | None = None, input_shape: Sequence[int] | None = None) -> "Space":
        return cls(guarded(load_program)(text=text, file=file), network, params, input_shape)

    # ------------------------------------------------------------ decisions
    @property
    def arch_decisions(self) -> list[Decision]:
        return [d for d in self.decisions.values() if d.arch]

    def __len__(self) -> int:
        return len(self.decisions)

    def _active(self, d: Decision, values: dict[str, Any]) -> bool:
        while d.guard is not None:
            parent = self.decisions[d.guard.decision]
            if not d.guard.holds(values[parent.name]):
                return False
            d = parent
        return True

    # ------------------------------------------------------------ size
    def size(self) -> int:
        """The exact number of architectures (hyperparameters and constraints aside)."""

        @functools.cache
        def count(name: str) -> int:
            d = self.decisions[name]
            kids = [c for c in self._children.get(name, []) if c.arch]
            if not kids:
                return d.size()
            total = 0
            for v in d.values():
                total += math.prod(count(c.name) for c in kids if c.guard.holds(v))
            return total

        return math.prod(count(d.name) for d in self.arch_decisions if d.guard is None)

    # ------------------------------------------------------------ genotypes
    def _finish(self, values: dict[str, Any]) -> Genotype:
        return Genotype(space=self.name, values=self._canonical(values))

    def _canonical(self, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for d in self.decisions.values():
            out[d.name] = values[d.name] if self._active(d, values) else d.default()
        for d in self.decisions.values():
            if isinstance(d, InputChoice) and d.mode != "independent":
                picked = out[d.name]
                order = sorted(range(len(picked)), key=lambda i: d.candidates.index(picked[i]))
                out[d.name] = [picked[i] for i in order]
                if d.each:
                    ops = [out[n] for n in d.each]
                    for n, i in zip(d.each, order):
                        out[n] = ops[i]
        return out

    def canonical(self, g: Genotype | dict) -> Genotype:
        """The same architecture, written one way: inactive decisions at their default, inputs in order."""
        return self._finish(self.validate(g).values)

    def default(self) -> Genotype:
        return self._finish({d.name: d.default() for d in self.decisions.values()})

    def sample(self, rng: Rng = None) -> Genotype:
        """A random genotype: each active decision uniform over its domain."""
        r = _rng(rng)
        values: dict[str, Any] = {}
        for d in self.decisions.values():  # a guard's decision always comes before the decisions it guards
            values[d.name] = d.random(r) if self._active(d, values) else d.default()
        return self._finish(values)

    def enumerate(self) -> Iterator[Genotype]:
        """Every architecture once, lazily (hyperparameters at their defaults)."""
        decs = list(self.decisions.values())

        def rec(i: int, values: dict[str, Any]) -> Iterator[dict[str, Any]]:
            if i == len(decs):
                yield values
                return
            d = decs[i]
            if not d.arch or not self._active(d, values):
                values[d.name] = d.default()
                yield from rec(i + 1, values)
                return
            for v in d.values():
                values[d.name] = v
                yield from rec(i + 1, values)

        for values in rec(0, {}):
            yield self._finish(dict(values))

    def validate(self, g: Genotype | dict[str, Any]) -> Genotype:
        """Check a genotype against this space; name the decision, the value and what is allowed."""
        if isinstance(g, dict):
            g = Genotype.from_data(g)
        values = dict(g.values)
        for k in values:
            if k not in self.decisions:
                hint = did_you_mean(k, self.decisions)
                raise GenotypeError(f"unknown decision '{k}' for space '{self.name}'" + (f"; {hint}" if hint else ""))
        out: dict[str, Any] = {}
        for d in self.decisions.values():
            if d.name not in values:
                if self._active(d, out):
                    raise GenotypeError(f"genotype is missing decision '{d.name}' ({d.describe()})")
                out[d.name] = d.default()
                continue
            out[d.name] = d.check(values[d.name])
        return Genotype(space=g.space or self.name, values=out)

    def mutate(self, g: Genotype, rng: Rng = None) -> Genotype:
        """Change one active decision to another value of its domain."""
        r = _rng(rng)
        values = dict(self.validate(g).values)
        movable = [d for d in self.decisions.values() if self._active(d, values) and (d.size() != 1)]
        if not movable:
            return self._finish(values)
        d = r.choice(movable)
        values[d.name] = d.mutate(values[d.name], r)
        return self._finish(values)

    def neighbours(self, g: Genotype) -> Iterator[Genotype]:
        """Every genotype one decision away (architecture decisions only), canonical and distinct."""
        values = self.canonical(g).values
        seen = {self._key(values)}
        for d in self.arch_decisions:
            if not self._active(d, values) or d.size() == 1:
                continue
            for v in d.neighbours(values[d.name]):
                w = self._canonical({**values, d.name: v})
                k = self._key(w)
                if k not in seen:
                    seen.add(k)
                    yield Genotype(space=self.name, values=w)

    @staticmethod
    def _key(values: dict[str, Any]) -> str:
        return json.dumps(values, sort_keys=True)

    # ------------------------------------------------------------ encodings
    def encode(self, g: Genotype, onehot: bool = False) -> list[float]:
        """A numeric vector: one index per decision, or concatenated one-hots (for predictors, BO)."""
        values = self.canonical(g).values
        out: list[float] = []
        for d in self.decisions.values():
            v = values[d.name]
            if onehot:
                out.extend(d.onehot(v))
            elif isinstance(d, HyperRange) and not d.integer:
                out.append(float(v))
            else:
                out.append(float(d.index(d.canonical(v))))
        return out

    def decode(self, vec: Sequence[float], onehot: bool = False) -> Genotype:
        values: dict[str, Any] = {}
        pos = 0
        for d in self.decisions.values():
            if onehot:
                w = d.width()
                values[d.name] = d.from_onehot(vec[pos:pos + w])
                pos += w
            else:
                x = vec[pos]
                pos += 1
                if isinstance(d, HyperRange) and not d.integer:
                    values[d.name] = float(x)
                else:
                    i = int(round(x))
                    if not 0 <= i < d.size():
                        raise GenotypeError(f"decision '{d.name}': index {i} out of range 0..{d.size() - 1}")
                    values[d.name] = d.value(i)
        if pos != len(vec):
            raise GenotypeError(f"vector has {len(vec)} numbers; this space encodes to {pos}")
        return self._finish(values)

    def encoding_width(self, onehot: bool = False) -> int:
        return sum(d.width() for d in self.decisions.values()) if onehot else len(self.decisions)

    # ------------------------------------------------------------ realization
    def supernet(self, input_shape: Sequence[int] | None = None) -> SupernetIR:
        """The supernet IR: every option of every decision, resolved and shaped (built once per input shape)."""
        key = tuple(input_shape) if input_shape else self._input_override
        ir = self._supernets.get(key)
        if ir is None:
            ir = build_supernet(self, key)
            self._supernets[key] = ir
        return ir

    def _selector(self, shape: tuple | None) -> SupernetIR | None:
        """The supernet that realizes genotypes fast, or None where it cannot be built (the walker then serves)."""
        if shape in self._no_supernet:
            return None
        try:
            return self.supernet(shape)
        except (NasError, ArchitectureError) as e:
            self._no_supernet[shape] = str(e)
            return None

    def _select(self, values: dict[str, Any], shape: tuple | None):
        ir = self._selector(shape)
        if ir is None:
            return None, None
        sel = guarded(ir.select)(values)
        hyper = {k: values[d] for k, d in ir.graph.graph["hyper"].items()}
        return sel, hyper

    def realize(self, g: Genotype | dict[str, Any], input_shape: Sequence[int] | None = None,
                check: bool = False) -> Architecture:
        """The concrete architecture of a genotype: flattened, shapes inferred.

        Selects the genotype's options in the supernet IR (``check=True`` also lints the result);
        :meth:`realize_walk` is the reference that walks the language, and gives the same architecture.
        """
        g = self.validate(g)
        shape = tuple(input_shape) if input_shape else self._input_override
        sel, hyper = self._select(g.values, shape)
        if sel is None:
            return self.realize_walk(g, input_shape)
        arch = Architecture(None, build=sel.graph, space=self.name, genotype=g.values, hyperparameters=hyper,
                            constraints=self.constraints, canonical=sel.merkle)
        if check:
            lint(arch)
        return arch

    def realize_walk(self, g: Genotype | dict[str, Any], input_shape: Sequence[int] | None = None) -> Architecture:
        """The architecture of a genotype by walking the language (the realize reading), linted."""
        g = self.validate(g)
        shape = tuple(input_shape) if input_shape else self._input_override
        ev = Realize(self.program, self._params_override, g.values, self.decisions, input_shape=shape)
        guarded(ev.run_network)(self.name)
        arch = Architecture(ev.arch, space=self.name, genotype=g.values, hyperparameters=ev.hyper,
                            constraints=self.constraints)
        lint(arch)
        return arch

    def canonical_hash(self, g: Genotype | dict[str, Any]) -> str:
        """Equal for genotypes whose architectures are isomorphic (hyperparameters included)."""
        g = self.validate(g)
        sel, hyper = self._select(g.values, self._input_override)
        if sel is None:
            arch = self.realize_walk(g)
            arch_hash, hyper = arch.canonical_hash(), arch.hyperparameters
        else:
            arch_hash = sel.merkle()
        hp = json.dumps(hyper, sort_keys=True)
        return hashlib.sha256((arch_hash + hp).encode()).hexdigest()[:32]

    # ------------------------------------------------------------ text
    def describe(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.decisions.values()]

    def templates_text(self) -> str:
        """The templates, one line per node in topological order."""
        lines = []
        for name, g in self.templates.items():
            lines.append(f"template {name} ({g.graph.get('kind')}):")
            for n in nx.topological_sort(g):
                a = dict(g.nodes[n])
                kind = a.pop("kind", "?")
                ins = ", ".join(f"%{u}" for u, _, _ in sorted(g.in_edges(n, data="port"), key=lambda e: e[2] or 0))
                attrs = " ".join(f"{k}={v}" for k, v in a.items() if v not in (None, [], {}))
                lines.append(f"  %{n} = {kind}({ins}) {attrs}".rstrip())
        return "\n".join(lines)
