"""Loading a program: a ``.nas`` file and everything it imports, parsed into one table of definitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import ast, primitives
from ..errors import NasError, Span
from ..files import FileError, read_bounded
from ..grammar import MAX_SOURCE_BYTES, parse

BUILTINS = ("sum", "concat", "mul", "dag", "cells")


@dataclass
class Program:
    """Every definition reachable from one file, imports included."""

    file: str
    defs: dict[str, Any] = field(default_factory=dict)  # name -> ast.OpsDef | ast.CellDef | ast.NetworkDef
    source: str = ""  # the text of the root file, for quoting it in errors
    networks: list[str] = field(default_factory=list)  # in the root file, in order
    modules: dict[str, ast.Module] = field(default_factory=dict)


def packaged_spaces_dir() -> Path:
    """The reference spaces: inside the installed package, or ``spaces/`` of a checkout."""
    here = Path(__file__).resolve().parent.parent
    inside = here / "spaces"
    return inside if inside.is_dir() else here.parent / "spaces"


def load_program(path: str | Path | None = None, text: str | None = None, file: str | None = None) -> Program:
    """Parse a file (or text) and everything it imports."""
    if text is None:
        if path is None:
            raise ValueError("give a path or a text")
        file = str(path)
        text = read_source(Path(path), file)
    file = file or (str(path) if path else "<string>")
    prog = Program(file, source=text)
    _load_into(prog, text, file, stack=[])
    root = prog.modules[_key(file)]
    prog.networks = [d.name for d in root.items if isinstance(d, ast.NetworkDef)]
    return prog


def read_source(path: Path, file: str, imported: Any = None) -> str:
    """The text of a ``.nas`` file; a byte that is not UTF-8 is reported at its line and column."""
    what = f"import '{imported.path}'" if imported is not None else f"'{path}'"
    at = imported.span if imported is not None else None
    try:
        data = read_bounded(path, MAX_SOURCE_BYTES, "file")  # a device or a huge file is refused while reading
    except FileError as e:
        if not _exists(path):
            raise NasError(f"no such file {what}", at) from None
        raise NasError(str(e), at) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
        shown = data.decode("utf-8", errors="replace")
        raise NasError(f"the file is not UTF-8 text: byte 0x{data[e.start]:02x} cannot be decoded",
                       Span(file, line, col, 1, shown)) from None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _key(file: str) -> str:
    try:
        return str(Path(file).resolve())
    except (OSError, ValueError, RuntimeError):  # a name the OS refuses, or a symlink loop
        return file


def _is_file(path: Path) -> bool:
    """Like ``Path.is_file``, but False (not an exception) for a name the OS refuses: too long, a NUL byte."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _load_into(prog: Program, text: str, file: str, stack: list[str]) -> None:
    key = _key(file)
    module = parse(text, file)
    prog.modules[key] = module
    for item in module.items:
        if isinstance(item, ast.Import):
            base = Path(file).parent if file not in ("<string>",) else Path.cwd()
            target = (base / item.path)
            if not _is_file(target) and _is_file(packaged_spaces_dir() / item.path):
                target = packaged_spaces_dir() / item.path
            tkey = _key(str(target))
            if tkey in stack or tkey == key:
                chain = " -> ".join(Path(s).name for s in stack + [key, tkey])
                raise NasError(f"circular import: {chain}", item.span)
            if tkey in prog.modules:
                continue
            if not _is_file(target):
                raise NasError(f"import not found: '{item.path}' (looked in {base} and the reference spaces)", item.span)
            sub = read_source(target, str(target), item)
            _load_into(prog, sub, str(target), stack + [key])
    for item in module.items:
        if isinstance(item, ast.Import):
            continue
        name = item.name
        if name in prog.defs:
            first = prog.defs[name].span
            raise NasError(f"duplicate definition '{name}' (first defined at {first})", item.span)
        if name in BUILTINS or primitives.get(name) is not None:
            raise NasError(f"'{name}' is a built-in name and cannot be redefined", item.span)
        seen: set[str] = set()
        for p in getattr(item, "params", ()):
            if p.name in seen:
                raise NasError(f"duplicate parameter '{p.name}' of {_kind(item)} '{name}'", p.span)
            seen.add(p.name)
        prog.defs[name] = item


def _kind(d: Any) -> str:
    return d.kind if isinstance(d, ast.CellDef) else "network" if isinstance(d, ast.NetworkDef) else "op set"

