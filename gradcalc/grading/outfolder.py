"""An output folder of a class run: its lock, its manifest (what the last run wrote), stable file names.

`grade` and `variants` write many files into one folder that a TA may share or re-use. So that
nothing is lost or mixed up: one run at a time holds the folder's lock (fcntl.flock on a lock
file); the manifest lists the files the run wrote, so the next run removes those it no longer
writes (a withdrawn student's feedback) and never touches anything else; and a student's file
name is a pure function of the id (a safe id is its own name; any other gets a short hash of
the exact id), so a file always belongs to one id.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat

from gradcalc.errors import UsageError

MANIFEST = ".gradcalc-manifest.json"      # also marks a folder as gradcalc's output
LOCK = ".gradcalc.lock"
NAME_BYTES = 100                          # a stem's UTF-8 bytes: a name stays far below 255
_SAFE = re.compile(r"[^\w.\-]")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
# folders whose files a manifest may name (anything else in a manifest is ignored)
SUBFOLDERS = ("feedback", "problems", "handouts", "keys", "gradescope", "prairielearn")


def clip_bytes(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-8 form has at most `limit` bytes."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")


def id_hash(student: str) -> str:
    return hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def stable_stems(ids: list[str]) -> list[str]:
    """A file stem per id, in the given order. A safe id (letters of any script, digits, '.',
    '-', '_'; at most NAME_BYTES bytes; not a Windows device name; no other id equal to it up
    to case) is its own stem; any other id gets '<cleaned>~<8 hex of sha256(id)>'. '~' never
    occurs in a safe id, so the two kinds never collide; a second copy of one id gets '~2' …
    The stem depends on the id (and its case twins) only, not on who else is in the class."""
    folded: dict[str, set] = {}
    for s in ids:
        folded.setdefault(s.casefold(), set()).add(s)
    out, seen = [], {}
    for s in ids:
        base = _SAFE.sub("_", s).strip("._")
        plain = (base == s and len(s.encode("utf-8", "surrogatepass")) <= NAME_BYTES
                 and s.casefold() not in _WINDOWS_RESERVED and len(folded[s.casefold()]) == 1)
        if not plain:
            base = f"{clip_bytes(base, NAME_BYTES - 9) or 'student'}~{id_hash(s)}"
        k = seen.get(base, 0) + 1
        seen[base] = k
        out.append(base if k == 1 else f"{base}~{k}")
    return out


class FolderLock:
    """The output folder's lock: a second run into the same folder stops with one line (exit 2)
    or, with wait=True, waits for the first. Held until release() or the process ends."""

    def __init__(self, folder: str, wait: bool = False):
        self.fd = None
        try:
            import fcntl
        except ImportError:            # not POSIX: no lock (documented in the README)
            return
        path = os.path.join(folder, LOCK)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise UsageError(f"cannot lock the output folder: {exc.strerror or exc}",
                             file=folder) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise UsageError("another gradcalc run is writing to this folder; wait for it to "
                             "finish or add --wait", file=folder) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                return       # a file system without locks (some NFS mounts): run unlocked
            raise UsageError(f"cannot lock the output folder: {exc.strerror or exc}",
                             file=folder) from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)         # closing the descriptor releases the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _allowed(entry) -> bool:
    """A manifest entry gradcalc could have written: 'name' or '<subfolder>/name', no '..'."""
    if not isinstance(entry, str) or "\x00" in entry or "\\" in entry:
        return False
    parts = entry.split("/")
    if len(parts) == 2 and parts[0] not in SUBFOLDERS:
        return False
    return len(parts) <= 2 and all(p and not p.startswith(".") for p in parts)


def read_manifest(folder: str, kind: str | None = None) -> list[str]:
    """The files the previous run wrote (relative paths); [] when there is no usable manifest,
    or when `kind` is given and the previous run was another command's (a `grade` into the
    folder `variants` wrote must never remove the variants)."""
    path = os.path.join(folder, MANIFEST)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 1024 * 1024:
            return []
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(data, dict) or (kind is not None
                                      and data.get("written_by") != "gradcalc " + kind):
        return []
    files = data.get("files")
    return [e for e in files if _allowed(e)] if isinstance(files, list) else []


def manifest_json(kind: str, files) -> str:
    return json.dumps({"written_by": "gradcalc " + kind, "files": sorted(files)},
                      ensure_ascii=False, indent=0) + "\n"


def remove_stale(folder: str, previous: list[str], current) -> list[str]:
    """Remove the files the previous run wrote and this one did not (regular files only, never
    through a symlinked subfolder); returns what was removed."""
    keep = set(current)
    removed = []
    for entry in previous:
        if entry in keep:
            continue
        if "/" in entry and os.path.islink(os.path.join(folder, entry.split("/")[0])):
            continue
        path = os.path.join(folder, entry)
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                removed.append(entry)
        except OSError:
            continue
    return removed
