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
        _preload(sys.argv[1:])
    except KeyboardInterrupt:  # nothing has started yet
        print("interrupted", file=sys.stderr)
        return _leave_interrupted()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return cli_main()  # its own Ctrl-C handling closes the store and the workers and returns 130


BACKEND_COMMANDS = {"search", "train", "build", "export", "latency"}  # the commands that load the backends (torch)


def _preload(argv: list[str]) -> None:
    """Load the backends (torch) here, where a Ctrl-C ends quietly, for the commands that use them: a
    KeyboardInterrupt raised while torch loads can land in one of its C++ callbacks, which aborts the process
    ("terminate called after throwing an instance of 'pybind11::error_already_set'").  A plugin that fails to
    load is left for the command, which reports it."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in BACKEND_COMMANDS:
        from . import plugins

        try:
            plugins.backends.names()
        except Exception:  # noqa: BLE001 - the registry stays unfilled; the command loads it again and says why
            pass


def _leave_interrupted() -> int:
    """Exit with status 130 now, while only modules were loading.  (CPython 3.11 remembers a KeyboardInterrupt
    raised inside ``exec`` of a string, as ``dataclasses`` and ``namedtuple`` run while modules load, even
    after it is caught, and would end the process by SIGINT instead of with the status given.)"""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)
