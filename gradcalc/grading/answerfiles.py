"""Finding students' answer files under folders and reading each into submissions by its suffix."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from gradcalc.errors import GradcalcError
from gradcalc.grading.csvanswers import read_csv_bytes
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


def _walk(folder: str, rel: tuple, out: list) -> None:
    """(relative parts, is a symlink) of every answer file under `folder`: what
    Path.rglob("*") yields that is_file(), without descending into symlinked folders (as
    rglob), skipping hidden files and folders."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                _walk(entry.path, rel + (name,), out)
            elif os.path.splitext(name)[1].lower() in ANSWER_SUFFIXES and entry.is_file():
                out.append((rel + (name,), entry.is_symlink()))
        except OSError:
            continue


def iter_answer_files(paths: Iterable[str | Path]) -> list[tuple[Path, Path | None]]:
    """Expand folders (recursively, sorted, answer suffixes only, hidden files skipped) and
    keep named files as given. Returns (file, the folder it was found in or None)."""
    files: list[tuple[Path, Path | None]] = []
    seen: set = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found: list = []
            _walk(str(p), (), found)
            found.sort()          # by path parts: the order of sorted(Path objects)
            # a file's real path is the folder's real path joined with its relative path
            # (the walk does not follow symlinked folders), unless the file is a symlink:
            # one resolve() per folder instead of one per file
            real = str(p.resolve())
            for parts, link in found:
                q = p.joinpath(*parts)
                key = str(q.resolve()) if link else os.path.join(real, *parts)
                if key not in seen:
                    seen.add(key)
                    files.append((q, p))
        elif p.exists():
            key = str(p.resolve())
            if key not in seen:
                seen.add(key)
                files.append((p, None))
        else:
            raise GradcalcError("no such file or folder", file=str(p))
    return files


def read_file(path: str | Path, schema: QuantitySchema, base: Path | None = None) -> list[Submission]:
    """One answer file -> its submissions (one for YAML/JSON, a row each for CSV).
    Never raises for a broken file: the submission records why."""
    path = Path(path)
    source = _source_name(path, base)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        return [broken_submission(path, source, f"cannot read the file ({exc.strerror or exc})")]
    if len(raw) > MAX_BYTES:
        return [broken_submission(path, source, "file too large (over 5 MB)")]
    if path.suffix.lower() in (".csv", ".tsv"):
        return read_csv_bytes(raw, schema, source, stem=path.stem)
    return [read_document_bytes(raw, schema, source, stem=path.stem)]


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
