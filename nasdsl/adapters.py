"""Adapters to and from the genotype formats people already have.

* DARTS: ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6),
  reduce=[...], reduce_concat=range(2, 6))`` — for spaces whose cells are built
  from ``pick k of [...] each OPS`` nodes and stacked with ``cells(...)``.
* NAS-Bench-201: ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|`` —
  for spaces with one ``dag(...)`` cell.

Reading never executes the text: the DARTS form is parsed with Python's ``ast``
module and only literals, ``range`` and keyword arguments are accepted.
"""

from __future__ import annotations

import ast as pyast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decisions import InputChoice
from .errors import GenotypeError
from .files import FileError, read_bounded
from .genotype import Genotype
from .space import Space

MAX_GENOTYPE_BYTES = 1_000_000  # a genotype file or string (DARTS_V2's is 400 bytes)
MAX_RANGE = 10_000


def _check_size(text: str) -> None:
    if len(text) > MAX_GENOTYPE_BYTES:
        raise GenotypeError(f"the genotype is {len(text):,} characters long; at most {MAX_GENOTYPE_BYTES:,} are read")


# ============================================================ DARTS


@dataclass
class _PickCell:
    """A cell made of ``pick k of [...] each OPS`` nodes: its states and decisions in order."""

    template: str
    states: list[str]  # cell inputs, then one state per node
    picks: list[InputChoice]


def _pick_cells(space: Space) -> dict[str, _PickCell]:
    """The normal and reduction cells of a ``cells(...)`` stack, keyed 'normal' / 'reduce'."""
    net = space.templates[space.name]
    roles: dict[str, str] = {}
    for _, a in net.nodes(data=True):
        if a.get("kind") == "call":
            role = "reduce" if a.get("reduction") else "normal"
            roles.setdefault(role, a["template"])
    if "normal" not in roles:
        raise GenotypeError(f"space '{space.name}' stacks no cells: the DARTS genotype format does not apply")
    out = {}
    for role, tname in roles.items():
        g = space.templates[tname]
        params = [a["name"] for _, a in sorted(((n, a) for n, a in g.nodes(data=True) if a.get("kind") == "input"),
                                               key=lambda na: na[1]["index"])]
        picks = [space.decisions[a["decision"]] for _, a in g.nodes(data=True) if a.get("kind") == "pick" and a.get("each")]
        if not picks:
            raise GenotypeError(f"cell '{tname}' has no 'pick ... each ...' nodes: the DARTS genotype format does not apply")
        states = list(params)
        for p in picks:
            stmt = p.name[len(tname) + 1:].rsplit(".", 1)[0]
            states.append(stmt)
        out[role] = _PickCell(tname, states, picks)
    out.setdefault("reduce", out["normal"])
    return out


def _literal(node: pyast.AST) -> Any:
    if isinstance(node, pyast.Constant) and isinstance(node.value, (str, int)):
        return node.value
    if isinstance(node, (pyast.List, pyast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Name) and node.func.id == "range" and not node.keywords:
        args = [_literal(a) for a in node.args]
        if all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
            if len(args) == 3 and args[2] == 0:
                raise GenotypeError(f"range({', '.join(map(str, args))}) in a DARTS genotype: its step must not be 0")
            r = range(*args)
            if len(r) > MAX_RANGE:  # counted, not expanded
                raise GenotypeError(f"range({', '.join(map(str, args))}) in a DARTS genotype has {len(r):,} "
                                    f"elements; a cell's concatenated nodes are at most {MAX_RANGE}")
            return list(r)
    raise GenotypeError(f"unexpected {pyast.dump(node)[:60]} in a DARTS genotype (only lists, pairs, strings, ints and range)")


def parse_darts(text: str) -> dict[str, Any]:
    """``Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)`` -> dict, without eval."""
    _check_size(text)
    try:
        tree = pyast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise GenotypeError(f"not a DARTS genotype: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):  # nested past the parser's limits; a NUL byte
        raise GenotypeError("not a DARTS genotype: nested too deeply, or not text") from None
    call = tree.body
    if not (isinstance(call, pyast.Call) and isinstance(call.func, pyast.Name) and call.func.id == "Genotype") or call.args:
        raise GenotypeError("a DARTS genotype reads Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)")
    try:
        fields = {kw.arg: _literal(kw.value) for kw in call.keywords}
    except RecursionError:
        raise GenotypeError("a DARTS genotype's lists are nested too deeply") from None
    for k in ("normal", "reduce"):
        if k not in fields:
            raise GenotypeError(f"DARTS genotype has no '{k}='")
        pairs = fields[k]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                    and isinstance(p[1], int) for p in pairs):
            raise GenotypeError(f"DARTS genotype '{k}' must be a list of (op, input) pairs")
    unknown = set(fields) - {"normal", "normal_concat", "reduce", "reduce_concat"}
    if unknown:
        raise GenotypeError(f"DARTS genotype has unknown field(s): {', '.join(sorted(unknown))}")
    return fields


def from_darts(space: Space, text: str) -> Genotype:
    """A DARTS genotype string -> a genotype of ``space`` (input order kept, so it writes back the same)."""
    fields = parse_darts(text)
    cells = _pick_cells(space)
    values: dict[str, Any] = {}
    for role in ("normal", "reduce"):
        cell = cells[role]
        pairs = fields[role]
        need = sum(p.k for p in cell.picks)
        if len(pairs) != need:
            raise GenotypeError(f"DARTS '{role}' has {len(pairs)} pairs; cell '{cell.template}' needs {need} "
                                f"({len(cell.picks)} nodes x {cell.picks[0].k} inputs)")
        concat = fields.get(f"{role}_concat")
        n_in = len(cell.states) - len(cell.picks)
        expect = list(range(n_in, len(cell.states)))
        if concat is not None and list(concat) != expect:
            raise GenotypeError(f"DARTS '{role}_concat' is {concat}; cell '{cell.template}' concatenates nodes {expect}")
        pos = 0
        for p in cell.picks:
            chunk = pairs[pos:pos + p.k]
            pos += p.k
            inputs = []
            for op, idx in chunk:
                if not 0 <= idx < len(cell.states):
                    raise GenotypeError(f"decision '{p.name}': input index {idx} does not exist (states: 0..{len(cell.states) - 1})")
                inputs.append(cell.states[idx])
            values[p.name] = inputs
            for s, (op, _) in enumerate(chunk):
                values[p.each[s]] = op
    for d in space.decisions.values():  # decisions the DARTS format does not carry keep their defaults
        values.setdefault(d.name, d.default())
    return space.validate(Genotype(space=space.name, values=values))


def to_darts(space: Space, genotype: Genotype) -> str:
    """A genotype of a pick-cell space -> the DARTS ``Genotype(...)`` string."""
    g = space.validate(genotype)
    cells = _pick_cells(space)
    parts = []
    for role in ("normal", "reduce"):
        cell = cells[role]
        pairs = []
        for p in cell.picks:
            for s, inp in enumerate(g.values[p.name]):
                pairs.append(f"({g.values[p.each[s]]!r}, {cell.states.index(inp)})")
        n_in = len(cell.states) - len(cell.picks)
        parts.append(f"{role}=[{', '.join(pairs)}], {role}_concat=range({n_in}, {len(cell.states)})")
    return f"Genotype({', '.join(parts)})"


# ============================================================ NAS-Bench-201

_EDGE = re.compile(r"(?:^|\.)e(\d+)_(\d+)$")
_INDEX = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() takes '²' too


def _dag_edges(space: Space) -> dict[tuple[int, int], str]:
    groups: dict[str, dict[tuple[int, int], str]] = {}
    for name in space.decisions:
        m = _EDGE.search(name)
        if m:
            groups.setdefault(name[: m.start()], {})[(int(m.group(1)), int(m.group(2)))] = name
    if len(groups) != 1:
        raise GenotypeError(f"space '{space.name}' has {len(groups)} dag cells; the NAS-Bench-201 format needs exactly one")
    return next(iter(groups.values()))


def from_nb201(space: Space, text: str) -> Genotype:
    """``|op~0|+|op~0|op~1|+...`` -> a genotype of a one-dag-cell space."""
    edges = _dag_edges(space)
    n = max(j for _, j in edges) + 1
    text = text.strip()
    groups = text.split("+")
    if len(groups) != n - 1:
        raise GenotypeError(f"NAS-Bench-201 string has {len(groups)} nodes; the space's dag has {n - 1}")
    _check_size(text)
    values: dict[str, Any] = {}
    for j, grp in enumerate(groups, start=1):
        if not (grp.startswith("|") and grp.endswith("|")):
            raise GenotypeError(f"bad NAS-Bench-201 node '{grp}': expected |op~i|op~i|")
        items = grp[1:-1].split("|")
        if len(items) != j:
            raise GenotypeError(f"NAS-Bench-201 node {j} has {len(items)} edges; expected {j}")
        seen: set[int] = set()
        for item in items:
            op, sep, src = item.partition("~")
            if not sep or not _INDEX.fullmatch(src) or int(src) >= j:
                shown = item if len(item) <= 60 else item[:57] + "..."
                raise GenotypeError(f"bad NAS-Bench-201 edge '{shown}': expected op~i with i < {j}")
            i = int(src)
            if i in seen:
                raise GenotypeError(f"NAS-Bench-201 node {j} lists its edge from node {i} twice; each of its "
                                    f"{j} edges (from nodes 0..{j - 1}) appears once")
            seen.add(i)
            values[edges[(i, j)]] = op
    for d in space.decisions.values():
        values.setdefault(d.name, d.default())
    return space.validate(Genotype(space=space.name, values=values))


def to_nb201(space: Space, genotype: Genotype) -> str:
    g = space.validate(genotype)
    edges = _dag_edges(space)
    n = max(j for _, j in edges) + 1
    return "+".join("|" + "|".join(f"{g.values[edges[(i, j)]]}~{i}" for i in range(j)) + "|" for j in range(1, n))


# ============================================================ any form


def read_genotype(space: Space, text: str) -> Genotype:
    """A genotype given as a JSON file, a JSON literal, a DARTS string or a NAS-Bench-201 string."""
    text = text.strip()
    path = Path(text)
    if not text.startswith(("{", "|", "Genotype(")) and len(text) < 4096:
        try:
            exists = path.exists()
        except (OSError, ValueError):
            exists = False
        if not exists:
            raise GenotypeError(f"no genotype file '{text}' (a genotype is a JSON file or literal, "
                                "a DARTS Genotype(...) string or a NAS-Bench-201 |op~i|... string)")
        try:
            text = read_bounded(path, MAX_GENOTYPE_BYTES, "genotype file").decode("utf-8").strip()
        except FileError as e:
            raise GenotypeError(str(e)) from None
        except UnicodeDecodeError as e:
            raise GenotypeError(f"genotype file '{path}' is not UTF-8 text (byte {e.start})") from None
    _check_size(text)
    if text.startswith("Genotype("):
        return from_darts(space, text)
    if text.startswith("|"):
        return from_nb201(space, text)
    return space.validate(Genotype.from_json(text))
