"""nasdsl: neural architecture search built around a small language.

    >>> from nasdsl import Space
    >>> space = Space.from_file("spaces/nasbench201.nas")
    >>> space.size()
    15625
"""

from .architecture import Architecture, lint
from .errors import ArchitectureError, GenotypeError, NasdslError, NasError
from .genotype import Genotype
from .grammar import parse
from .hookspecs import hookimpl
from .space import Space

__version__ = "0.1.0"

load_space = Space.from_file

__all__ = ["Architecture", "ArchitectureError", "Genotype", "GenotypeError", "NasError", "NasdslError",
           "Space", "hookimpl", "lint", "load_space", "parse", "__version__"]
