"""The ``nasdsl`` command's entry point: a Ctrl-C while the modules load ends quietly, as later ones do."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:  # nothing has started yet
        print("interrupted", file=sys.stderr)
        return 130
    return cli_main()
