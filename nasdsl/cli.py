"""The command line: ``nasdsl check | count | show | sample | draw``.

Every command has a Python twin (``Space.from_file``, ``space.size()``, ...).
Errors print as ``file:line:col: error: ...`` with the line and a caret and
exit 1; never a traceback (set NASDSL_DEBUG=1 to see one for an internal error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import ArchitectureError, GenotypeError, NasdslError, NasError


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    value = value.strip()
    try:
        v: Any = int(value)
    except ValueError:
        try:
            v = float(value)
        except ValueError:
            v = value
    return name.strip(), v


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 3,32,32; got '{text}'") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive dimensions; got '{text}'")
    return dims


def _space_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("spaces", nargs="+", metavar="SPACE.nas")
    else:
        p.add_argument("space", metavar="SPACE.nas")
    p.add_argument("--network", help="which network of the file (default: the last one)")
    p.add_argument("--param", "-p", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                   help="override a network parameter, e.g. -p C=16 -p layers=8")
    p.add_argument("--input", type=_parse_shape, metavar="C,H,W", help="override the input shape")


def _load(args: argparse.Namespace, path: str | None = None):
    from .space import Space

    return Space.from_file(path or args.space, network=args.network, params=dict(args.param) or None,
                           input_shape=args.input)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasdsl", description="Neural architecture search from .nas search spaces.")
    parser.add_argument("--version", action="version", version=f"nasdsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="compile spaces; report errors as file:line:col")
    _space_args(p, many=True)

    p = sub.add_parser("count", help="exact number of architectures")
    _space_args(p)

    p = sub.add_parser("show", help="the decisions of a space, its IR, or a realized architecture")
    _space_args(p)
    p.add_argument("--ir", action="store_true", help="print the templates (the Space IR) as text")
    p.add_argument("--genotype", "-g", metavar="GENOTYPE", help="realize this genotype and print its Architecture IR")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("sample", help="random genotypes as JSON lines")
    _space_args(p)
    p.add_argument("-n", type=int, default=1, help="how many (default 1)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--format", choices=["json", "darts", "nb201"], default="json")

    p = sub.add_parser("draw", help="a picture of a space or an architecture (PNG, SVG, PDF or DOT)")
    _space_args(p)
    p.add_argument("genotype", nargs="?", metavar="GENOTYPE", help="draw this architecture instead of the space")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .svg, .pdf or .dot")
    p.add_argument("--template", help="draw one template (cell / motif) of the space")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args) or 0)
    except NasError as e:
        print(e.render(), file=sys.stderr)
        return 1
    except (GenotypeError, ArchitectureError, NasdslError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the CLI never shows a traceback unless asked to
        if os.environ.get("NASDSL_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e} (set NASDSL_DEBUG=1 for a traceback; please report it)",
              file=sys.stderr)
        return 2


def cmd_check(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.spaces:
        try:
            space = _load(args, path)
        except NasError as e:
            print(e.render(), file=sys.stderr)
            failed += 1
            continue
        print(f"ok: {path}: network '{space.name}', {len(space.decisions)} decisions, {space.size()} architectures")
    return 1 if failed else 0


def cmd_count(args: argparse.Namespace) -> int:
    space = _load(args)
    print(space.size())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    space = _load(args)
    if args.genotype:
        from .adapters import read_genotype

        arch = space.realize(read_genotype(space, args.genotype))
        print(arch.to_json(indent=2) if args.json else arch.to_text())
        return 0
    if args.ir:
        print(space.templates_text())
        return 0
    if args.json:
        print(json.dumps({"space": space.name, "file": space.file, "size": str(space.size()),
                          "params": space.params, "input": list(space.input_shape or ()),
                          "constraints": space.constraints, "decisions": space.describe()}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{space.name} — {len(space.decisions)} decisions, {space.size():,} architectures")
    for col in ("decision", "kind", "domain", "size", "where"):
        table.add_column(col, overflow="fold")
    for d in space.decisions.values():
        dom = d.describe() + (f"  (when {d.guard})" if d.guard else "")
        table.add_row(d.name, d.kind, dom, str(d.size()) if d.size() else "∞", d.where.split("/")[-1])
    Console().print(table)
    if space.constraints:
        print("constraints: " + "; ".join(c["text"] for c in space.constraints))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import random

    from .adapters import to_darts, to_nb201

    if args.n < 0:
        raise NasdslError("-n must be at least 0")
    space = _load(args)
    rng = random.Random(args.seed)
    for _ in range(args.n):
        g = space.sample(rng)
        if args.format == "darts":
            print(to_darts(space, g))
        elif args.format == "nb201":
            print(to_nb201(space, g))
        else:
            print(json.dumps(g.values))
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from .draw import arch_to_dot, render, space_to_dot

    space = _load(args)
    if args.genotype:
        from .adapters import read_genotype

        dot = arch_to_dot(space.realize(read_genotype(space, args.genotype)), title=space.name)
    else:
        if args.template and args.template not in space.templates:
            raise NasdslError(f"no template '{args.template}'; templates: {', '.join(space.templates)}")
        dot = space_to_dot(space, args.template)
    path, message = render(dot, Path(args.output))
    print(f"wrote {path}")
    if message:
        print(message)
    return 0


_COMMANDS = {"check": cmd_check, "count": cmd_count, "show": cmd_show, "sample": cmd_sample, "draw": cmd_draw}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
