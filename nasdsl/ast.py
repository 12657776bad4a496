"""The syntax tree of a ``.nas`` file: small frozen dataclasses.

Every node carries a ``span`` (file, line, column) that is left out of
equality, so ``parse(str(tree)) == tree`` holds for any tree.  ``str(node)``
prints the node back as ``.nas`` source.  Nothing here checks meaning: that is
the compiler's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

from .errors import Span

_NOSPAN = Span("<ast>", 0, 0)


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Number:
    value: Union[int, float]
    text: str
    span: Span = _span()

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class String:
    value: str
    span: Span = _span()

    def __str__(self) -> str:
        return f'"{self.value}"'


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Index:
    """``name[i]``: an element of an indexed tensor family or of a motif family."""

    base: str
    index: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.base}[{self.index}]"


@dataclass(frozen=True)
class Slice:
    """``name[lo:hi]``: the elements lo..hi-1 of an indexed family."""

    base: str
    lo: Optional["Expr"]
    hi: Optional["Expr"]
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.base}[{self.lo if self.lo is not None else ''}:{self.hi if self.hi is not None else ''}]"


@dataclass(frozen=True)
class Arg:
    name: Optional[str]
    value: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.name}={self.value}" if self.name else str(self.value)


@dataclass(frozen=True)
class Call:
    """``f(args)``: an op with arguments, a cell applied to tensors, or a builtin."""

    func: str
    args: Tuple[Arg, ...]
    span: Span = _span()
    callee: Optional["Expr"] = None  # ``m[1](a, b)``, ``c as c2(a, b)``: an Index or Alias called; func is its text

    def __str__(self) -> str:
        return f"{self.func}({', '.join(map(str, self.args))})"


@dataclass(frozen=True)
class Alias:
    """``cell as other``: an independent copy of a cell, with its own decisions."""

    name: str
    alias: str
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.name} as {self.alias}"


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"{_paren(self.left)} {self.op} {_paren(self.right)}"


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"-{_paren(self.operand)}"


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"not {_paren(self.operand)}"


@dataclass(frozen=True)
class Chain:
    """``a -> b -> c``: apply each element to the tensor before it."""

    items: Tuple["Expr", ...]
    span: Span = _span()

    def __str__(self) -> str:
        return " -> ".join(_paren(i) for i in self.items)


@dataclass(frozen=True)
class ListExpr:
    items: Tuple["Expr", ...]
    span: Span = _span()

    def __str__(self) -> str:
        return "[" + ", ".join(map(str, self.items)) + "]"


@dataclass(frozen=True)
class ValueSet:
    """``{3, 5, 7}``: a choice of one value (a decision)."""

    items: Tuple["Expr", ...]
    span: Span = _span()

    def __str__(self) -> str:
        return "{" + ", ".join(map(str, self.items)) + "}"


@dataclass(frozen=True)
class OneOf:
    """``one of [a, b -> c]``: a choice of one op (or one path of ops)."""

    options: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"one of {_paren(self.options)}"


@dataclass(frozen=True)
class Pick:
    """``pick k of [inputs] [independently] [each ops]``: an input choice."""

    k: "Expr"
    candidates: "Expr"
    independent: bool
    each: Optional["Expr"]
    span: Span = _span()

    def __str__(self) -> str:
        s = f"pick {_paren(self.k)} of {_paren(self.candidates)}"
        if self.independent:
            s += " independently"
        if self.each is not None:
            s += f" each {_paren(self.each)}"
        return s


@dataclass(frozen=True)
class Subset:
    """``any subset of [inputs] [default x]``: any subset of the inputs feeds the node."""

    candidates: "Expr"
    default: Optional["Expr"]
    span: Span = _span()

    def __str__(self) -> str:
        s = f"any subset of {_paren(self.candidates)}"
        if self.default is not None:
            s += f" default {_paren(self.default)}"
        return s


@dataclass(frozen=True)
class Leaves:
    """``leaves of [tensors]``: those of the tensors that nothing else consumes."""

    candidates: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"leaves of {_paren(self.candidates)}"


@dataclass(frozen=True)
class Repeat:
    """``repeat n { chain }`` or ``repeat {2, 3, 4} { chain }`` (a depth choice)."""

    count: "Expr"
    body: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"repeat {_paren(self.count)} {{ {self.body} }}"


@dataclass(frozen=True)
class Compare:
    op: str  # one of < <= > >= == != in
    left: "Expr"
    right: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"{_paren(self.left)} {self.op} {_paren(self.right)}"


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: "Expr"
    right: "Expr"
    span: Span = _span()

    def __str__(self) -> str:
        return f"{_paren(self.left)} {self.op} {_paren(self.right)}"


Expr = Union[
    Number, String, Name, Index, Slice, Call, Alias, BinOp, Neg, Not, Chain, ListExpr,
    ValueSet, OneOf, Pick, Subset, Leaves, Repeat, Compare, BoolOp,
]

_ATOMS = (Number, String, Name, Index, Slice, Call, ListExpr, ValueSet)


def _paren(e: "Expr") -> str:
    """Print a sub-expression, in parentheses unless it is an atom."""
    return str(e) if isinstance(e, _ATOMS) else f"({e})"


# ---------------------------------------------------------------- statements


def _block(stmts: Tuple["Stmt", ...], indent: str) -> str:
    inner = indent + "    "
    lines = [s.to_source(inner) for s in stmts]
    return "{\n" + "\n".join(lines) + ("\n" if lines else "") + indent + "}"


@dataclass(frozen=True)
class Assign:
    target: str
    index: Optional["Expr"]
    value: "Expr"
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        t = self.target if self.index is None else f"{self.target}[{self.index}]"
        return f"{indent}{t} = {self.value}"


@dataclass(frozen=True)
class Return:
    value: "Expr"
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        return f"{indent}return {self.value}"


@dataclass(frozen=True)
class For:
    var: str
    start: Optional["Expr"]
    stop: "Expr"
    body: Tuple["Stmt", ...]
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        rng = f"{self.stop}" if self.start is None else f"{self.start}, {self.stop}"
        return f"{indent}for {self.var} in range({rng}) {_block(self.body, indent)}"


@dataclass(frozen=True)
class If:
    cond: "Expr"
    then: Tuple["Stmt", ...]
    orelse: Tuple["Stmt", ...]
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        s = f"{indent}if {self.cond} {_block(self.then, indent)}"
        if self.orelse:
            s += f" else {_block(self.orelse, indent)}"
        return s


@dataclass(frozen=True)
class InputDecl:
    """``input [3, 32, 32]``: the shape of one example fed to the network."""

    dims: Tuple["Expr", ...]
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        return f"{indent}input [{', '.join(map(str, self.dims))}]"


@dataclass(frozen=True)
class Where:
    """``where params < 5M``: a constraint checked on realized architectures."""

    cond: "Expr"
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        return f"{indent}where {self.cond}"


@dataclass(frozen=True)
class Hp:
    """``hp lr = loguniform(1e-4, 1e-1)``: a numeric hyperparameter of the recipe."""

    name: str
    domain: "Expr"
    span: Span = _span()

    def to_source(self, indent: str = "") -> str:
        return f"{indent}hp {self.name} = {self.domain}"


Stmt = Union[Assign, Return, For, If, InputDecl, Where, Hp]


# ---------------------------------------------------------------- definitions


@dataclass(frozen=True)
class Param:
    name: str
    default: Optional["Expr"]
    span: Span = _span()

    def __str__(self) -> str:
        return self.name if self.default is None else f"{self.name} = {self.default}"


@dataclass(frozen=True)
class Import:
    path: str
    span: Span = _span()

    def to_source(self) -> str:
        return f'import "{self.path}"'


@dataclass(frozen=True)
class OpsDef:
    name: str
    items: Tuple["Expr", ...]
    span: Span = _span()

    def to_source(self) -> str:
        return f"ops {self.name} = [{', '.join(map(str, self.items))}]"


@dataclass(frozen=True)
class CellDef:
    """``cell`` (decisions shared by every use), ``block`` (fresh decisions per use)
    or ``motif name[N]`` (a family of N cells, each with its own decisions)."""

    kind: str
    name: str
    family: Optional["Expr"]
    params: Tuple[Param, ...]
    body: Tuple["Stmt", ...]
    span: Span = _span()

    def to_source(self) -> str:
        fam = f"[{self.family}]" if self.family is not None else ""
        return f"{self.kind} {self.name}{fam}({', '.join(map(str, self.params))}) {_block(self.body, '')}"


@dataclass(frozen=True)
class NetworkDef:
    name: str
    params: Tuple[Param, ...]
    body: Tuple["Stmt", ...]
    span: Span = _span()

    def to_source(self) -> str:
        return f"network {self.name}({', '.join(map(str, self.params))}) {_block(self.body, '')}"


Definition = Union[Import, OpsDef, CellDef, NetworkDef]


@dataclass(frozen=True)
class Module:
    items: Tuple[Definition, ...]
    file: str = field(default="<string>", compare=False)

    def __str__(self) -> str:
        return "\n\n".join(i.to_source() for i in self.items) + "\n"
