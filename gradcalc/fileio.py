"""Writing files all-or-nothing: a temporary file in the same folder, then os.replace."""
from __future__ import annotations

import os

from gradcalc.errors import UsageError

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


def write_atomic(path: str | os.PathLike, data: bytes | str, *, skip_unchanged: bool = False,
                 exists: bool = True) -> bool:
    """Write `data` to `path` whole or not at all; returns False when skipped as unchanged.

    A reader never sees a half-written file, and an interrupted run leaves the old file intact.
    `skip_unchanged` leaves a file that already holds exactly these bytes alone (a re-run of a
    batch touches nothing); `exists=False` tells it there is no such file yet (no look first).
    Plain os calls, as this runs once per student for 10,000 feedback files; the temporary file
    is created with mode 0o666 so the umask gives it the mode a plain open() would.  An error is
    one line naming the file (a UsageError, exit 2)."""
    path = os.fspath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if skip_unchanged and exists:
        try:
            if os.stat(path).st_size == len(raw):
                with open(path, "rb") as f:
                    if f.read() == raw:
                        return False
        except OSError:
            pass
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, _CREATE, 0o666)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return True
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            if folder and not os.path.isdir(folder):
                raise UsageError(f"the folder {folder} does not exist", file=path) from None
            raise UsageError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
        raise
