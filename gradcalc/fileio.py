"""Writing files all-or-nothing: a temporary file in the same folder, then os.replace."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


def _default_mode(path: Path) -> int:
    """The mode a plain open() would give (mkstemp makes files private, 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, data: bytes | str, *, skip_unchanged: bool = False) -> bool:
    """Write `data` to `path` whole or not at all; returns False when skipped as unchanged.

    `skip_unchanged` leaves a file whose bytes are already `data` untouched (a re-run of a
    batch then costs no renames).  Errors become one-line UsageErrors naming the file."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if skip_unchanged:
        try:
            if path.stat().st_size == len(raw) and path.read_bytes() == raw:
                return False
        except OSError:
            pass
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"{path}: the folder {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, _default_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
