"""Parsing: ``.nas`` text -> :mod:`nasdsl.ast`, with the project's own errors."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive

from . import ast
from .errors import NasError, Span

MAX_SOURCE_BYTES = 2_000_000
# How deep rules may nest (a chain ``a -> b -> c`` counts once): far beyond any real
# space, and shallow enough that the compiler, which recurses on the tree, cannot
# run out of stack.
MAX_NESTING = 200


def grammar_text() -> str:
    """The text of ``nas.lark``: shipped inside the package, or beside it in a checkout."""
    packaged = resources.files("nasdsl").joinpath("grammars/nas.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammars" / "nas.lark").read_text(encoding="utf-8")


@functools.cache
def parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False)


_TOKEN_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a quoted path", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "EQUAL": "'='",
    "SLICE_COLON": "':'", "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '%'",
    "__ANON_0": "'->'", "MINUS": "'-'", "$END": "end of file",
}


def _words(expected: set[str]) -> str:
    names = []
    for t in sorted(expected):
        if t in _TOKEN_WORDS:
            names.append(_TOKEN_WORDS[t])
        else:
            try:
                pattern = parser().get_terminal(t).pattern
                names.append(f"'{pattern.value}'" if pattern.type == "str" else t.lower())
            except KeyError:  # a terminal lark made up: show its name
                names.append(t.lower())
    names = sorted(set(names))
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    return f"'{tok.value}'"


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse ``.nas`` source into a :class:`nasdsl.ast.Module`.

    Raises:
        NasError: on any syntax error, located at ``file:line:col``.
    """
    if len(text) > MAX_SOURCE_BYTES:
        raise NasError(f"file is larger than {MAX_SOURCE_BYTES} bytes", Span(file, 1, 1, 1, text[:200]))
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    _flatten_chains(tree)
    _check_nesting(tree, text, file)
    try:
        items = _Builder(file, text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NasError):
            raise e.orig_exc from None
        raise
    return ast.Module(tuple(items), file=file)


def _end_of_file(text: str, file: str, last: Token | None = None) -> Span:
    """Just after the last token (lark lends its position to ``$END``), where the missing text would go."""
    if last is not None and getattr(last, "end_line", None) and getattr(last, "end_column", None):
        return Span(file, last.end_line, last.end_column, 1, text)
    body = text.rstrip(" \t\r\n\f")
    line = body.count("\n") + 1
    col = len(body) - (body.rfind("\n") + 1) + 1
    return Span(file, line, col, 1, text)


def _syntax_error(e: UnexpectedInput, text: str, file: str) -> NasError:
    line = getattr(e, "line", None)
    col = getattr(e, "column", None)
    if isinstance(e, UnexpectedEOF) or line is None or line < 0:
        msg = "unexpected end of file"
        expected = getattr(e, "expected", None)
        if expected:
            msg += f"; expected {_words(set(expected))}"
        return NasError(msg, _end_of_file(text, file))
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        return NasError(f"unexpected character {ch!r}", Span(file, line, col, 1, text))
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return NasError(f"unexpected end of file; expected {_words(e.expected)}", _end_of_file(text, file, tok))
        return NasError(
            f"unexpected {_token_text(tok)}; expected {_words(e.expected)}",
            Span(file, line, col, max(1, len(str(tok.value))), text),
        )
    return NasError("syntax error", Span(file, line, col, 1, text))


def _flatten_chains(tree: Tree) -> None:
    """Turn the left-nested ``chain(chain(a, b), c)`` of the grammar into one ``chain(a, b, c)``.

    A long chain then neither nests deeply nor costs quadratic time to build.
    """
    stack = [tree]
    while stack:
        t = stack.pop()
        if t.data == "chain":
            tails = []
            node = t
            while node.children and isinstance(node.children[0], Tree) and node.children[0].data == "chain":
                tails.append(node.children[1:])
                node = node.children[0]
            if node is not t:
                t.children = node.children + [c for tail in reversed(tails) for c in tail]
        stack.extend(c for c in t.children if isinstance(c, Tree))


def _check_nesting(tree: Tree, text: str, file: str) -> None:
    stack = [(tree, 0)]
    while stack:
        t, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = t.meta
            line, col = (meta.line, meta.column) if not getattr(meta, "empty", True) else (1, 1)
            raise NasError(f"this nests too deeply (more than {MAX_NESTING} levels)", Span(file, line, col, 1, text))
        stack.extend((c, depth + 1) for c in t.children if isinstance(c, Tree))


def _number(text: str) -> int | float:
    mult = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1], 1)
    body = text[:-1] if mult != 1 else text
    if any(c in body for c in ".eE"):
        value = float(body) * mult
        return int(value) if mult != 1 and value == int(value) else value
    return int(body) * mult


class _Family:
    def __init__(self, expr):
        self.expr = expr


@v_args(meta=True, inline=True)
class _Builder(Transformer_NonRecursive):
    """Lark tree -> frozen AST dataclasses. Builds only; checks nothing."""

    def __init__(self, file: str, text: str):
        super().__init__()
        self.file = file
        self.text = text

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, self.text)
        length = meta.end_pos - meta.start_pos if meta.end_line == meta.line else 1
        return Span(self.file, meta.line, meta.column, max(1, length), self.text)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, max(1, len(tok.value)), self.text)

    # definitions
    def start(self, meta, *items):
        return list(items)

    def import_def(self, meta, path):
        return ast.Import(path.value[1:-1], self._span(meta))

    def ops_def(self, meta, name, lst):
        return ast.OpsDef(str(name), lst.items, self._span(meta))

    def cell_kind(self, meta, tok):
        return str(tok)

    def family(self, meta, expr):
        return _Family(expr)

    def param_list(self, meta, *params):
        return tuple(params)

    def param(self, meta, name, default=None):
        return ast.Param(str(name), default, self._span(meta))

    def body(self, meta, *stmts):
        return tuple(stmts)

    def cell_def(self, meta, kind, name, *rest):
        rest_l = list(rest)
        body = rest_l.pop()
        family = None
        if rest_l and isinstance(rest_l[0], _Family):
            family = rest_l.pop(0).expr
        params = rest_l[0] if rest_l else ()
        return ast.CellDef(kind, str(name), family, params, body, self._span(meta))

    def network_def(self, meta, name, *rest):
        body = rest[-1]
        params = rest[0] if len(rest) == 2 else ()
        return ast.NetworkDef(str(name), params, body, self._span(meta))

    # statements
    def assign(self, meta, name, *rest):
        if len(rest) == 2:
            return ast.Assign(str(name), rest[0], rest[1], self._span(meta))
        return ast.Assign(str(name), None, rest[0], self._span(meta))

    def return_stmt(self, meta, value):
        return ast.Return(value, self._span(meta))

    def for_stmt(self, meta, var, *rest):
        body = rest[-1]
        if len(rest) == 3:
            return ast.For(str(var), rest[0], rest[1], body, self._span(meta))
        return ast.For(str(var), None, rest[0], body, self._span(meta))

    def if_stmt(self, meta, cond, then, orelse=()):
        if isinstance(orelse, ast.If):
            orelse = (orelse,)
        return ast.If(cond, then, orelse, self._span(meta))

    def input_stmt(self, meta, lst):
        return ast.InputDecl(lst.items, self._span(meta))

    def where_stmt(self, meta, cond):
        return ast.Where(cond, self._span(meta))

    def hp_stmt(self, meta, name, domain):
        return ast.Hp(str(name), domain, self._span(meta))

    # expressions
    def or_op(self, meta, a, b):
        return ast.BoolOp("or", a, b, self._span(meta))

    def and_op(self, meta, a, b):
        return ast.BoolOp("and", a, b, self._span(meta))

    def not_op(self, meta, a):
        return ast.Not(a, self._span(meta))

    def compare(self, meta, a, op, b):
        return ast.Compare(str(op), a, b, self._span(meta))

    def contains(self, meta, a, b):
        return ast.Compare("in", a, b, self._span(meta))

    def binop(self, meta, a, op, b):
        return ast.BinOp(str(op), a, b, self._span(meta))

    def neg(self, meta, a):
        return ast.Neg(a, self._span(meta))

    def chain(self, meta, *items):  # flat: see _flatten_chains
        return ast.Chain(items, self._span(meta))

    def number(self, meta, tok):
        try:
            value = _number(str(tok))
        except (ValueError, OverflowError):
            raise NasError(f"bad number '{tok}'", self._tspan(tok)) from None
        return ast.Number(value, str(tok), self._tspan(tok))

    def string(self, meta, tok):
        return ast.String(tok.value[1:-1], self._tspan(tok))

    def name(self, meta, tok):
        return ast.Name(str(tok), self._tspan(tok))

    def index(self, meta, name, expr):
        return ast.Index(str(name), expr, self._span(meta))

    def slice(self, meta, name, *rest):
        lo = hi = None
        seen_colon = False
        for r in rest:
            if isinstance(r, Token) and r.type == "SLICE_COLON":
                seen_colon = True
            elif seen_colon:
                hi = r
            else:
                lo = r
        return ast.Slice(str(name), lo, hi, self._span(meta))

    def call(self, meta, name, args=()):
        return ast.Call(str(name), tuple(args), self._span(meta))

    def index_call(self, meta, name, index, args=()):
        target = ast.Index(str(name), index, self._span(meta))
        return ast.Call(str(target), tuple(args), self._span(meta), callee=target)

    def alias_call(self, meta, name, alias, args=()):
        target = ast.Alias(str(name), str(alias), self._span(meta))
        return ast.Call(str(target), tuple(args), self._span(meta), callee=target)

    def arg_list(self, meta, *args):
        return tuple(a if isinstance(a, ast.Arg) else ast.Arg(None, a, getattr(a, "span", self._span(meta))) for a in args)

    def kwarg(self, meta, name, value):
        return ast.Arg(str(name), value, self._span(meta))

    def alias(self, meta, name, alias):
        return ast.Alias(str(name), str(alias), self._span(meta))

    def list_lit(self, meta, *items):
        return ast.ListExpr(tuple(items), self._span(meta))

    def value_set(self, meta, *items):
        return ast.ValueSet(tuple(items), self._span(meta))

    def one_of(self, meta, options):
        return ast.OneOf(options, self._span(meta))

    def pick_mode(self, meta, tok):
        return "independently"

    def pick(self, meta, k, candidates, *rest):
        independent = bool(rest) and rest[0] == "independently"
        each = rest[-1] if rest and rest[-1] != "independently" else None
        return ast.Pick(k, candidates, independent, each, self._span(meta))

    def subset(self, meta, candidates, default=None):
        return ast.Subset(candidates, default, self._span(meta))

    def leaves(self, meta, candidates):
        return ast.Leaves(candidates, self._span(meta))

    def repeat(self, meta, count, body):
        return ast.Repeat(count, body, self._span(meta))
