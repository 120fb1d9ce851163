"""Finding students' answer files under folders and reading each into submissions by its suffix."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

from gradcalc.errors import GradcalcError
from gradcalc.grading.csvanswers import read_csv_bytes
from gradcalc.grading.outfolder import MANIFEST
from gradcalc.grading.documents import read_document_bytes
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.submissions import MAX_BYTES, Submission, broken_submission, flag_duplicates

ANSWER_SUFFIXES = (".yaml", ".yml", ".json", ".csv", ".tsv")


def _source_name(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _kind(mode: int) -> str:
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
            stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def _gradcalc_output(path: str) -> str | None:
    """'grades.csv' or 'copy_signals.csv' when a CSV is one gradcalc wrote (by its header)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            head = os.read(fd, 4096) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        finally:
            os.close(fd)
    except OSError:
        return None
    lines = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()
    if len(lines) >= 2 and lines[0].endswith((",total,max,percent,status",
                                              ",total,max,percent,status,adjustments")) \
            and lines[1].startswith("(points),"):
        return "grades.csv"
    if lines and lines[0].startswith("student,source,matches_variant_of,"):
        return "copy_signals.csv"
    if lines and lines[0] == "signal,student,source,other_student,detail":
        return "signals.csv"
    return None


class _Finder:
    """Every path under the folders given: an answer file, or skipped with its reason."""

    def __init__(self, exclude):
        self.exclude = {os.path.realpath(e) for e in exclude}
        self.skipped: list[tuple[str, str]] = []
        self.inputs: dict = {}

    def walk(self, folder: str, real_root: str, rel: tuple, out: list) -> None:
        """(relative parts, is a symlink) of the answer files under `folder` (hidden ones
        skipped); symlinked folders are not followed, nor symlinks that leave the folder
        given, and a FIFO or device is never opened."""
        shown = folder        # as the path was given, joined with what was found under it
        if rel and os.path.realpath(folder) in self.exclude:
            self.skipped.append((shown, "the output folder of this run (not read)"))
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.skipped.append((shown, f"cannot read the folder ({exc.strerror or exc})"))
            return
        if any(e.name == MANIFEST for e in entries):
            self.skipped.append((shown, "an output folder of gradcalc (not read)"))
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            where = os.path.join(folder, name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    self.walk(entry.path, real_root, rel + (name,), out)
                    continue
                answer = os.path.splitext(name)[1].lower() in ANSWER_SUFFIXES
                link = entry.is_symlink()
                if link and not os.path.exists(entry.path):
                    self.skipped.append((where, "a symlink to a missing file"))
                    continue
                if link and os.path.isdir(entry.path):
                    self.skipped.append((where, "a symlink to a folder (not followed)"))
                    continue
                if not answer:     # listed too: a student's answers.txt or .pdf is worth a look
                    suffix = os.path.splitext(name)[1]
                    self.skipped.append((where, f"not an answer file ({suffix or 'no suffix'}; "
                                                "expected .yaml .yml .json .csv .tsv)"))
                    continue
                if link:
                    target = os.path.realpath(entry.path)
                    if os.path.commonpath([target, real_root]) != real_root:
                        self.skipped.append((where, "a symlink leading out of the submissions "
                                                    "folder (not followed)"))
                        continue
                st = entry.stat()
                if not stat.S_ISREG(st.st_mode):
                    self.skipped.append((where, _kind(st.st_mode) + " (not opened)"))
                    continue
                what = self.inputs.get((st.st_dev, st.st_ino))
                if what:
                    self.skipped.append((where, f"{what} of this run (not read)"))
                    continue
                if name.lower().endswith((".csv", ".tsv")):
                    made = _gradcalc_output(entry.path)
                    if made:
                        self.skipped.append((where, f"a {made} written by gradcalc (not read)"))
                        continue
                out.append((rel + (name,), link))
            except OSError as exc:
                self.skipped.append((where, f"cannot read ({exc.strerror or exc})"))


def find_answer_files(paths: Iterable[str | Path], exclude: Iterable = (),
                      inputs: dict | None = None) -> tuple[list, list]:
    """(answer files, skipped): the files as iter_answer_files returns them, and (path,
    reason) for every other path given or found that could have been one: output folders
    (`exclude`, any folder holding gradcalc's manifest) and CSVs gradcalc wrote are never
    read as submissions; unreadable folders, dangling symlinks, symlinks leaving the folder,
    FIFOs and devices are listed, not opened. `inputs` ({path: what it is}) are the run's
    other input files (the roster): never read as submissions either."""
    finder = _Finder(exclude)
    for path, what in (inputs or {}).items():      # by (device, inode): no realpath per file
        try:
            st = os.stat(path)
            finder.inputs[(st.st_dev, st.st_ino)] = what
        except OSError:
            pass
    files: list[tuple[Path, Path | None]] = []
    seen: set = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            real = str(p.resolve())
            if real in finder.exclude:
                finder.skipped.append((str(p), "the output folder of this run (not read)"))
                continue
            found: list = []
            finder.walk(str(p), real, (), found)
            found.sort()          # by path parts: the order of sorted(Path objects)
            # a file's real path is the folder's real path joined with its relative path
            # (the walk does not follow symlinked folders), unless the file is a symlink:
            # one resolve() per folder instead of one per file
            for parts, link in found:
                q = p.joinpath(*parts)
                key = str(q.resolve()) if link else os.path.join(real, *parts)
                if key not in seen:
                    seen.add(key)
                    files.append((q, p))
        elif p.exists():
            mode = p.stat().st_mode
            made = _gradcalc_output(str(p)) if stat.S_ISREG(mode) else None
            st = p.stat()
            what = finder.inputs.get((st.st_dev, st.st_ino))
            if what:
                finder.skipped.append((str(p), f"{what} of this run (not read)"))
            elif not stat.S_ISREG(mode):
                finder.skipped.append((str(p), _kind(mode) + " (not opened)"))
            elif made or os.path.realpath(p.parent) in finder.exclude:
                finder.skipped.append((str(p), f"a {made or 'file'} written by gradcalc (not read)"))
            else:
                key = str(p.resolve())
                if key not in seen:
                    seen.add(key)
                    files.append((p, None))
        elif p.is_symlink():
            finder.skipped.append((str(p), "a symlink to a missing file"))
        else:
            raise GradcalcError("no such file or folder", file=str(p))
    return files, finder.skipped


def iter_answer_files(paths: Iterable[str | Path]) -> list[tuple[Path, Path | None]]:
    """Expand folders (recursively, sorted, answer suffixes only, hidden files skipped) and
    keep named files as given. Returns (file, the folder it was found in or None)."""
    return find_answer_files(paths)[0]


def read_file(path: str | Path, schema: QuantitySchema, base: Path | None = None) -> list[Submission]:
    """One answer file -> its submissions (one for YAML/JSON, a row each for CSV).
    Never raises for a broken file: the submission records why."""
    path = Path(path)
    source = _source_name(path, base)
    try:      # never blocks on a FIFO and never reads one: only a regular file is read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb", closefd=True) as f:
            st = os.fstat(fd)
            mode, mtime = st.st_mode, st.st_mtime
            if not stat.S_ISREG(mode):
                return [broken_submission(path, source, _kind(mode) + " (not opened)")]
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        return [broken_submission(path, source, f"cannot read the file ({exc.strerror or exc})")]
    if len(raw) > MAX_BYTES:
        return [broken_submission(path, source, "file too large (over 5 MB)")]
    if path.suffix.lower() in (".csv", ".tsv"):
        subs = read_csv_bytes(raw, schema, source, stem=path.stem)
    else:
        subs = [read_document_bytes(raw, schema, source, stem=path.stem)]
    for s in subs:     # the last resort of duplicates: latest
        s.mtime = mtime
    return subs


def read_submissions(paths: Iterable[str | Path], schema: QuantitySchema,
                     progress=None) -> list[Submission]:
    """Every submission under `paths`; duplicate ids are flagged on each copy."""
    files = iter_answer_files(paths)
    subs: list[Submission] = []
    for path, base in files:
        subs.extend(read_file(path, schema, base))
        if progress is not None:
            progress(1)
    flag_duplicates(subs)
    return subs
