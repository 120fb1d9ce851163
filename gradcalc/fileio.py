"""Writing files all-or-nothing: a temporary file in the same folder, then os.replace."""
from __future__ import annotations

import os
import stat

from gradcalc.errors import UsageError

# A new file only (O_EXCL), never through a symlink planted under its name (O_NOFOLLOW).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
TEMP_PREFIX = ".gradcalc-"          # temporary files: .gradcalc-<16 random hex digits>.tmp


def _create_temp(folder: str) -> tuple[int, str]:
    """An unpredictable new file in `folder`, as tempfile.mkstemp makes one, but with mode
    0o666 (less the umask) as a plain open() gives, not mkstemp's 0o600."""
    for _ in range(100):
        tmp = os.path.join(folder, f"{TEMP_PREFIX}{os.urandom(8).hex()}.tmp")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError("no free temporary file name")


def write_atomic(path: str | os.PathLike, data: bytes | str, *, skip_unchanged: bool = False,
                 exists: bool = True) -> bool:
    """Write `data` to `path` whole or not at all; returns False when skipped as unchanged.

    A reader never sees a half-written file, and an interrupted run leaves the old file intact.
    `skip_unchanged` leaves a file that already holds exactly these bytes alone (a re-run of a
    batch touches nothing); `exists=False` tells it there is no such file yet (no look first).
    Plain os calls, as this runs once per student for 10,000 feedback files; the temporary file
    gets an unpredictable name and is created with O_EXCL|O_NOFOLLOW (a symlink planted in a
    shared folder is never written through; os.replace then replaces a link at `path` itself,
    never its target), with mode 0o666 so the umask gives it the mode a plain open() would.
    An error is one line naming the file (a UsageError, exit 2)."""
    path = os.fspath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if skip_unchanged and exists:
        try:
            st = os.lstat(path)      # a symlink or FIFO at `path` is replaced, never opened
            if stat.S_ISREG(st.st_mode) and st.st_size == len(raw):
                with open(path, "rb") as f:
                    if f.read() == raw:
                        return False
        except OSError:
            pass
    folder = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = _create_temp(folder or ".")
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return True
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            if folder and not os.path.isdir(folder):
                raise UsageError(f"the folder {folder} does not exist", file=path) from None
            raise UsageError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
        raise


def write_all_atomic(files: dict) -> None:
    """Write every file of `files` ({path: bytes or str}) or none: each is first written to a
    temporary file beside its target (as write_atomic does); only when all of them are whole
    are they renamed into place. An error is one line naming the file (UsageError, exit 2) and
    leaves no temporary file and no new file behind."""
    staged: list[tuple[str, str]] = []
    try:
        for path, data in files.items():
            path = os.fspath(path)
            raw = data.encode("utf-8") if isinstance(data, str) else data
            folder = os.path.dirname(path)
            if os.path.isdir(path) and not os.path.islink(path):   # the rename would fail
                raise UsageError("cannot write the file: a folder of that name is in the way",
                                 file=path)
            try:
                fd, tmp = _create_temp(folder or ".")
            except OSError as exc:
                raise UsageError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
            staged.append((tmp, path))
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view):]
            except OSError as exc:
                raise UsageError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
            finally:
                os.close(fd)
    except BaseException:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    for i, (tmp, path) in enumerate(staged):   # renames within one folder: they do not fail
        try:                                    # for lack of space or a bad name
            os.replace(tmp, path)
        except OSError as exc:
            for t, _ in staged[i:]:
                try:
                    os.unlink(t)
                except OSError:
                    pass
            raise UsageError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
