"""Reading and writing files so that bad input cannot hang or exhaust the process, nor leave half a file.

* :func:`read_bounded` reads a regular file of at most ``limit`` bytes, checked while reading (a device such
  as ``/dev/zero``, a FIFO or a folder is refused before a byte is read).
* :func:`atomic` gives a temporary path beside the target; the target appears, complete, only when the
  block ends without error (``os.replace``); on any error, a full disk included, the temporary file is
  removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterator

from .errors import NasdslError


class FileError(NasdslError):
    """A file that cannot be read or written as asked, in words."""


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``; :class:`FileError` past ``limit`` bytes or for anything else."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
                raise FileError(f"cannot read {what} '{p}': it is {kind}")
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise FileError(f"cannot read {what} '{p}': it is a folder") from None
    except FileNotFoundError:
        raise FileError(f"no such {what} '{p}'") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise FileError(f"cannot read {what} '{p}': {getattr(e, 'strerror', None) or e}") from None
    if len(data) > limit:
        raise FileError(f"{what} '{p}' is larger than {limit:,} bytes")
    return data


@contextlib.contextmanager
def atomic(path: str | Path, what: str = "file") -> Iterator[Path]:
    """``with atomic(out) as tmp: write(tmp)``: ``out`` is replaced by ``tmp`` only once it is complete."""
    out = Path(path)
    if out.is_dir():
        raise FileError(f"cannot write {what} '{out}': it is a folder; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(f"cannot write {what} '{out}': {e.strerror or e}") from None
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as e:
        _unlink(tmp)
        raise FileError(f"cannot write {what} '{out}': {e.strerror or e}") from None
    except BaseException:
        _unlink(tmp)
        raise


def read_json(path: str | Path, what: str, error: type[Exception], hint: str = "") -> Any:
    """A JSON file (plain data: nothing in it runs), or ``error`` naming ``what`` and the path when it is missing
    (with ``hint``: how to make one) or unreadable."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise error(f"{what} {p} does not exist" + (f" ({hint})" if hint else "")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{what} {p} cannot be read: {e}") from None


def write_atomic(path: str | Path, data: bytes | str, what: str = "file") -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic`."""
    with atomic(path, what) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass


__all__ = ["FileError", "read_bounded", "atomic", "write_atomic"]
