"""The project's error types and the one error format of the language.

Every mistake in a ``.nas`` file is a :class:`NasError` that renders as::

    spaces/darts.nas:7:30: error: unknown op 'sep_conv3x3'; did you mean 'sep_conv_3x3'?
        n3 = sum(pick 2 of [s0, s1, n2] each sep_conv3x3)
                                             ^~~~~~~~~~~
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class Span:
    """Where a piece of source stands: file, 1-based line and column, and length."""

    file: str
    line: int
    column: int
    length: int = 1
    source: str | None = None  # the whole text of the file, for quoting the line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def source_line(self) -> str | None:
        text = self.source
        if text is None:
            try:
                text = Path(self.file).read_text(encoding="utf-8")
            except (OSError, ValueError):  # ValueError: not UTF-8, or a NUL in the name
                return None
        # Lines as the parser counts them: only '\n' ends a line ('\r', '\f' and
        # the other characters str.splitlines() breaks at are whitespace inside one).
        lines = text.split("\n")
        if 1 <= self.line <= len(lines):
            return lines[self.line - 1].removesuffix("\r")
        return None


class NasdslError(Exception):
    """Base class of every error nasdsl raises on purpose."""


class NasError(NasdslError):
    """A mistake in a ``.nas`` file, located by a :class:`Span`."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def render(self) -> str:
        head = f"{self.span}: error: {self.message}" if self.span else f"error: {self.message}"
        if self.hint:
            head += f"; {self.hint}"
        # a message may quote the source: show its control characters as escapes, on one line
        head = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in head)
        if self.span is None:
            return head
        line = self.span.source_line()
        if line is None:
            return head
        # one visible character for each one of the source, so the caret stays in its column
        line = "".join(c if c.isprintable() or c == "\t" else " " for c in line)
        col = max(self.span.column, 1)
        width = max(1, min(self.span.length, max(1, len(line) - col + 1)))
        caret = " " * (col - 1) + "^" + "~" * (width - 1)
        # keep the caret under the text: tabs are kept as tabs
        caret = "".join("\t" if ch == "\t" and i < col - 1 else c for i, (ch, c) in enumerate(zip(line + " " * len(caret), caret)))
        return f"{head}\n    {line}\n    {caret}"

    def __str__(self) -> str:
        return self.render()


class GenotypeError(NasdslError):
    """A genotype that does not fit its space: names the decision, the value and what is allowed."""


class ArchitectureError(NasdslError):
    """An Architecture IR that breaks an invariant (found by ``lint``) or cannot be read."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
