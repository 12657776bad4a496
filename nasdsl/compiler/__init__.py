"""The compiler: a ``.nas`` program -> Space IR, and Space IR + genotype -> Architecture IR.

Modules, in the order a file goes through them:

    program.py   files and imports: parse everything a file reaches into one table of definitions
    values.py    what the walker computes with: tensors, cells, op sets, families, scopes
    walker.py    the language's meaning, the one place decisions are named; readings implement its hooks
    explore.py   reading 1: decisions with domains and guards, one template per definition
    realize.py   reading 2: a genotype followed to the Architecture IR (the reference realization)
    supernet.py  reading 3: every option emitted, resolved and shaped: the supernet IR, and fast
                 realization by selecting a genotype's options in it
    passes.py    lowering steps as named functions (strided skip, zero inputs, merge alignment, dead nodes)
"""

from __future__ import annotations

from .explore import Explore
from .program import BUILTINS, Program, load_program, packaged_spaces_dir, read_source
from .realize import Realize
from .walker import (MAX_INT, MAX_LOOP, MAX_OPSET_DEPTH, MAX_STEPS, MERGES, METRICS, CellCall, PickSite, Walker,
                     guarded)

MAX_NODES = 200_000

__all__ = ["BUILTINS", "MAX_INT", "MAX_LOOP", "MAX_NODES", "MAX_OPSET_DEPTH", "MAX_STEPS", "MERGES", "METRICS",
           "CellCall", "Explore", "PickSite", "Program", "Realize", "Walker", "guarded", "load_program",
           "packaged_spaces_dir", "read_source"]
