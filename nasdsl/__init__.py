"""nasdsl: neural architecture search built around a small language.

    >>> from nasdsl import Space
    >>> space = Space.from_file("spaces/nasbench201.nas")
    >>> space.size()
    15625
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public names load on first use (PEP 562), so `import nasdsl` costs nothing and the command line's
# entry point can catch a Ctrl-C while the rest loads (see nasdsl/_launch.py).
_WHERE = {"Architecture": "architecture", "lint": "architecture", "ArchitectureError": "errors",
          "GenotypeError": "errors", "NasdslError": "errors", "NasError": "errors", "Genotype": "genotype",
          "parse": "grammar", "hookimpl": "hookspecs", "Space": "space"}


def __getattr__(name: str) -> Any:
    if name == "load_space":
        value: Any = __getattr__("Space").from_file
    elif name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'nasdsl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = ["Architecture", "ArchitectureError", "Genotype", "GenotypeError", "NasError", "NasdslError",
           "Space", "hookimpl", "lint", "load_space", "parse", "__version__"]
