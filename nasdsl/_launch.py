"""The ``nasdsl`` command's entry point: a Ctrl-C while the modules load ends quietly, as later ones do."""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = 130


def _quit_while_loading(signum: int, frame: object) -> None:
    """Ctrl-C while the modules load: nothing has started, so leave at once.  (A KeyboardInterrupt raised
    here could land in an import lock's clean-up callback, where Python ignores it and carries on.)"""
    print("interrupted", file=sys.stderr)
    _leave_interrupted()


def main() -> int:
    try:
        previous = signal.signal(signal.SIGINT, _quit_while_loading)
    except ValueError:  # not the main thread: no handler of ours
        previous = None
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:  # nothing has started yet
        print("interrupted", file=sys.stderr)
        return _leave_interrupted()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return cli_main()  # its own Ctrl-C handling closes the store and the workers and returns 130


def _leave_interrupted() -> int:
    """Exit with status 130 now, while only modules were loading.  (CPython 3.11 remembers a KeyboardInterrupt
    raised inside ``exec`` of a string, as ``dataclasses`` and ``namedtuple`` run while modules load, even
    after it is caught, and would end the process by SIGINT instead of with the status given.)"""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)
