"""Pictures of architectures and spaces, through Graphviz.

``arch_to_dot(arch)`` draws a realized :class:`~nasdsl.architecture.Architecture`,
one cluster per cell or stage, ops coloured by family; ``space_to_dot(space)``
draws a space's templates, choices still open; ``render(dot, "net.svg")`` writes
the picture, or the DOT source when the ``dot`` program is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graphviz
import networkx as nx

from . import primitives
from .architecture import Architecture
from .errors import did_you_mean
from .files import FileError, atomic, write_atomic

if TYPE_CHECKING:
    from .space import Space

FORMATS = ("png", "svg", "pdf", "dot")
DOT_TIMEOUT = 60.0  # seconds dot may take; past it, the .dot source is written instead

# fill colour per op family (ColorBrewer pastels)
COLOURS = {
    "conv": "#9ecae1",     # convolutions and other weighted layers
    "pool": "#a1d99b",
    "skip": "#fdd0a2",
    "none": "#f0f0f0",
    "other": "#dadaeb",    # batchnorm, relu, dropout, flatten
    "merge": "#fff7bc",
    "io": "#fcbba1",
    "choice": "#fa9fb5",
    "call": "#c7e9c0",
}
_PLAIN = {"batchnorm", "relu", "dropout", "flatten"}
_PART = re.compile(r"(?:[^.\[]|\[[^\]]*\])+")  # a dotted path's components; dots inside [...] stay


def op_family(op: str) -> str:
    """The family an op is drawn in: conv, pool, skip, none or other."""
    prim = primitives.get(op)
    base = prim.canonical if prim else op
    if base == "none":
        return "none"
    if base == "skip_connect":
        return "skip"
    if "pool" in base:
        return "pool"
    return "other" if base in _PLAIN else "conv"


def cluster_key(node: str) -> str | None:
    """The cluster of a node id: ``body.3.n2.op0.x`` -> ``body.3``, ``stem.conv`` -> ``stem``, ``relu`` -> None."""
    parts = _PART.findall(node)
    if len(parts) < 2:
        return None
    if len(parts) > 2 and re.fullmatch(r"\d+|\[\d+\]", parts[1]):
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def _shape(shape: Any) -> str:
    return "x".join(str(s) for s in shape) if shape else ""


def _stride(a: dict[str, Any]) -> int:
    stride = (a.get("args") or {}).get("stride", 1) if a.get("kind") == "op" else 1
    return stride if isinstance(stride, int) else 1


def _new(title: str | None, rankdir: str) -> graphviz.Digraph:
    dot = graphviz.Digraph(graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                       "nodesep": "0.25", "ranksep": "0.35"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled",
                                      "shape": "box", "height": "0.3"},
                           edge_attr={"arrowsize": "0.6", "color": "#555555"})
    if title:
        dot.attr(label=title, labelloc="t", fontsize="16")
    return dot


def _arch_node(n: str, a: dict[str, Any]) -> dict[str, str]:
    kind, shape = a["kind"], _shape(a.get("shape"))
    if kind == "op":
        fam, stride = op_family(a["op"]), _stride(a)
        label = a["op"] + (f" /{stride}" if stride > 1 else "") + f"\n{shape}"
        attrs = {"label": label, "fillcolor": COLOURS[fam], "style": "rounded,filled"}
        if fam == "none":
            attrs["style"] = "rounded,filled,dashed"
        return attrs
    if kind == "sum":
        return {"label": "+", "shape": "circle", "fillcolor": COLOURS["merge"], "width": "0.3", "fixedsize": "true"}
    if kind == "mul":
        return {"label": "×", "shape": "circle", "fillcolor": COLOURS["merge"], "width": "0.3", "fixedsize": "true"}
    if kind == "concat":
        return {"label": f"concat\n{shape}", "shape": "box", "fillcolor": COLOURS["merge"]}
    return {"label": f"{kind}\n{shape}", "shape": "oval", "fillcolor": COLOURS["io"]}


def arch_to_dot(arch: Architecture, title: str | None = None, *, rankdir: str = "TB") -> graphviz.Digraph:
    """A picture of a realized architecture: one cluster per cell / stage, ops coloured by family."""
    g = arch.graph
    order = arch.topological()
    pos = {n: i for i, n in enumerate(order)}
    ids = {n: f"n{i}" for n, i in pos.items()}
    groups: dict[str | None, list[str]] = {}
    for n in order:
        groups.setdefault(cluster_key(n), []).append(n)
    dot = _new(title if title is not None else arch.space or None, rankdir)
    for i, (key, nodes) in enumerate(groups.items()):
        if key is None or len(nodes) < 2:
            _add_nodes(dot, nodes, ids, g)
            continue
        with dot.subgraph(name=f"cluster_{i}") as sub:
            label = key + (" (reduction)" if any(_stride(g.nodes[n]) > 1 for n in nodes) else "")
            sub.attr(label=label, style="rounded,filled", fillcolor="#fafafa", color="#bbbbbb", fontsize="11")
            _add_nodes(sub, nodes, ids, g)
    for u, v in sorted(g.edges, key=lambda e: (pos[e[1]], g.edges[e].get("port", 0))):
        none = g.nodes[u].get("kind") == "op" and op_family(g.nodes[u]["op"]) == "none"
        dot.edge(ids[u], ids[v], **({"style": "dashed"} if none else {}))
    return dot


def _add_nodes(sub: graphviz.Digraph, nodes: list[str], ids: dict[str, str], g: nx.DiGraph) -> None:
    for n in nodes:
        sub.node(ids[n], tooltip=n, **_arch_node(n, g.nodes[n]))


def _template_node(a: dict[str, Any], g: nx.DiGraph, n: str) -> dict[str, str]:
    kind = a.get("kind", "?")
    fan_in = g.in_degree(n)
    if kind == "input":
        return {"label": f"{a.get('name', 'input')}", "shape": "oval", "fillcolor": COLOURS["io"]}
    if kind == "output":
        return {"label": "output", "shape": "oval", "fillcolor": COLOURS["io"]}
    if kind == "op":
        decided = [f"{k}=?{v['decision']}" for k, v in (a.get("args") or {}).items()
                   if isinstance(v, dict) and "decision" in v]
        return {"label": "\n".join([a["op"], *decided]), "fillcolor": COLOURS[op_family(a["op"])],
                "style": "rounded,filled"}
    if kind == "choice":
        options = a.get("options") or []
        return {"label": f"{a.get('decision')}\nchoice of {len(options)}", "fillcolor": COLOURS["choice"],
                "shape": "hexagon", "tooltip": ", ".join(map(str, options))}
    if kind == "pick":
        each = a.get("options") or []
        label = f"{a.get('decision')}\npick {a.get('k')} of {fan_in} ({a.get('mode')})"
        if each:
            label += f"\neach: choice of {len(each)}"
        return {"label": label, "fillcolor": COLOURS["choice"], "shape": "box", "style": "filled,diagonals",
                "tooltip": ", ".join(map(str, each))}
    if kind in ("subset", "depth"):
        return {"label": f"{a.get('decision')}\n{kind} of {fan_in}", "fillcolor": COLOURS["choice"],
                "shape": "box", "style": "filled,diagonals"}
    if kind == "merge":
        mode = a.get("mode") or f"?{a.get('decision')}"
        return {"label": {"sum": "+", "mul": "×"}.get(mode, mode), "fillcolor": COLOURS["merge"],
                "shape": "circle" if mode in ("sum", "mul") else "box"}
    if kind == "leaves":
        return {"label": "leaves", "fillcolor": COLOURS["merge"], "shape": "box"}
    if kind == "call":
        label = f"{a.get('template')}" + (" (reduction)" if a.get("reduction") else "")
        return {"label": label, "fillcolor": COLOURS["call"], "shape": "component"}
    return {"label": kind, "fillcolor": "white"}


def space_to_dot(space: "Space", template: str | None = None, *, rankdir: str = "TB") -> graphviz.Digraph:
    """A picture of a space's templates, one cluster each: its cells / motifs / blocks, or ``template``."""
    templates = space.templates
    if template is not None:
        if template not in templates:
            hint = did_you_mean(template, templates)
            raise KeyError(f"no template '{template}' in space '{space.name}'"
                           + (f"; {hint}" if hint else f" (templates: {', '.join(templates)})"))
        names = [template]
    else:
        parts = [t for t, g in templates.items() if g.graph.get("kind") != "network"]
        names = parts or list(templates)
    dot = _new(space.name, rankdir)
    for ti, name in enumerate(names):
        g = templates[name]
        ids = {n: f"t{ti}_{i}" for i, n in enumerate(nx.topological_sort(g))}
        with dot.subgraph(name=f"cluster_{ti}") as sub:
            sub.attr(label=f"{g.graph.get('kind', 'template')} {name}", style="rounded", color="#999999",
                     fontsize="12")
            for n, i in ids.items():
                sub.node(i, **{"tooltip": n, **_template_node(g.nodes[n], g, n)})
        for u, v, port in g.edges(data="port"):
            extra = {"label": str(port), "fontsize": "8"} if g.nodes[v].get("kind") == "depth" and port else {}
            dot.edge(ids[u], ids[v], **extra)
    return dot


def _run_dot(exe: str, fmt: str, source: str, out: Path) -> bool:
    """Render with the ``dot`` program under a time limit (graphviz' ``pipe`` would wait for ever); False
    when it ran out of time (no file is left)."""
    try:
        with atomic(out, "picture") as tmp:
            r = subprocess.run([exe, f"-T{fmt}", "-o", str(tmp)], input=source.encode("utf-8"), capture_output=True,
                               timeout=DOT_TIMEOUT)
            if r.returncode != 0:
                err = r.stderr.decode("utf-8", "replace").strip().splitlines()
                raise FileError(f"Graphviz 'dot' failed on '{out.name}': {err[-1] if err else r.returncode}")
    except subprocess.TimeoutExpired:
        return False
    return True


def render(dot: graphviz.Digraph, out: str | Path) -> tuple[Path, str | None]:
    """Write ``dot`` to ``out`` (.png, .svg, .pdf or .dot); without Graphviz, write ``.dot`` and say how to render it.

    Returns the path written and a message for the user (None when the picture itself was written).
    """
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt == "gv":
        fmt = "dot"
    if fmt not in FORMATS:
        raise ValueError(f"cannot draw to '{out.name}': use one of {', '.join('.' + f for f in FORMATS)}")
    why = None
    if fmt != "dot":
        exe = shutil.which("dot")
        if exe is None:
            why = "Graphviz 'dot' program not found"
        elif _run_dot(exe, fmt, dot.source, out):
            return out, None
        else:
            why = f"Graphviz 'dot' did not finish in {DOT_TIMEOUT:g} s"
    src = out if fmt == "dot" else out.with_suffix(".dot")
    write_atomic(src, dot.source, "Graphviz source")
    target = out if fmt != "dot" else out.with_suffix(".png")
    how = f"dot -T{target.suffix.lstrip('.')} {src} -o {target}"
    if fmt == "dot":
        return src, f"wrote Graphviz source {src}; render it with: {how}"
    if why.endswith("not found"):
        return src, (f"{why}; wrote the source {src} instead. Install Graphviz (e.g. apt install graphviz) "
                     f"and run: {how}")
    return src, f"{why}; wrote the source {src} instead ({len(dot.body)} lines); render it with: {how}"
