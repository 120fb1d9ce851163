"""One student's answers (Answer, Submission) and how a written value or entry lands in them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradcalc.csvsafe import printable
from gradcalc.errors import AnswerError
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.values import MAX_TEXT, PLAIN_NUMBER, parse_scalar, parse_value, shorten

MAX_BYTES = 5 * 1024 * 1024          # the same cap as problem files


@dataclass
class Answer:
    """One answered quantity: its value (float64, NaN for blank entries) or why it is unusable."""

    quantity: str
    written: str                      # the key as the student wrote it
    value: np.ndarray | None = None
    error: str | None = None
    text: str = ""                    # the expression as written, when it was not a plain number
    line: int | None = None
    source: str = ""                  # the value exactly as written (0.53705 stays 0.53705)


@dataclass
class Submission:
    """One student's answers; `problems` say what was wrong with the file (never fatal)."""

    student: str
    name: str
    source: str
    answers: dict[str, Answer] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unreadable: str | None = None     # the whole file could not be read
    id_missing: bool = False
    submitted: object = None          # datetime: the file's `submitted` field or the export's column
    mtime: float | None = None        # the file's modification time (duplicates: latest, last resort)
    not_graded: str = ""              # why the policy grades it 0 (duplicates: flag)


def broken_submission(path: Path | None, source: str, why: str, stem: str | None = None) -> Submission:
    stem = stem if stem is not None else (path.stem if path is not None else source)
    # a reason may quote the file (a YAML error naming a 5,000-digit value): clipped, one line
    return Submission(student=stem, name="", source=source, unreadable=printable(why, 300, lines=False),
                      id_missing=True)


def decode_export(raw: bytes) -> str:
    """Text as LMS, Excel and editors save it, for rosters and answer files alike: UTF-16 with
    its BOM ("Unicode text"), UTF-8 with or without the BOM, or GB18030 (Excel's "CSV" on
    Chinese Windows). ValueError("binary") for NUL bytes, ValueError("encoding") otherwise."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise ValueError("encoding") from None
        if "\x00" in text:
            raise ValueError("binary")
        return text
    if b"\x00" in raw:
        raise ValueError("binary")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError("encoding") from None


def decode_text(raw: bytes) -> str:
    """An answer file's text (decode_export, the rosters' rule); AnswerError when unusable."""
    try:
        text = decode_export(raw)
    except ValueError as exc:
        raise AnswerError("not a text file (binary)" if str(exc) == "binary" else
                          "not a text file (binary or not UTF-8)") from None
    if not text.strip():
        raise AnswerError("the file is empty")
    return text


def unknown_quantities_text(unknown: list[str]) -> str:
    shown = ", ".join(f"'{shorten(u, 20)}'" for u in unknown[:5])
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    return f"unknown quantit{'ies' if len(unknown) > 1 else 'y'} {shown}{more} ignored"


def add_answer(sub: Submission, qname: str, written: str, value: Any, line: int | None,
               source: str = "") -> None:
    if qname in sub.answers:
        sub.problems.append(f"{written}: given twice (kept the first)")
        return
    ans = Answer(qname, written, line=line, source=source)
    if value is None or (isinstance(value, str) and not value.strip()):
        return   # left blank: not answered
    plain = _numbers(value)
    if plain is not None:   # the common case: numbers only, nothing to parse or report
        if not source:
            ans.source = written_numbers(value)
        ans.value = plain
        sub.answers[qname] = ans
        return
    try:
        ans.value = parse_value(value)
        if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value.strip()):
            ans.text = shorten(value.strip(), 80)
        elif isinstance(value, list) and _has_text(value):
            ans.text = shorten(_list_text(value), 80)
    except AnswerError as exc:
        ans.error = exc.message
        ans.text = shorten(value, 80) if isinstance(value, str) else ""
    if ans.value is not None and np.all(np.isnan(ans.value)):
        return   # every entry blank (a template left as is)
    sub.answers[qname] = ans


_NUMBER_TYPES = (float, int)


def _numbers(value: Any) -> np.ndarray | None:
    """A YAML/JSON number, or a non-empty rectangular list (of lists) of numbers, as a finite
    float64 array; None for anything else (text, blanks, booleans, ragged or too deep lists,
    non-finite numbers), which parse_value then reads or reports. The same value as
    parse_value, without its per-entry work."""
    t = type(value)
    if t is list:
        if not value or len(value) > MAX_TEXT:
            return None
        t0 = type(value[0])
        if t0 is list:
            width = len(value[0])
            for row in value:
                if type(row) is not list or len(row) != width or not width:
                    return None
                for v in row:
                    if type(v) not in _NUMBER_TYPES:
                        return None
        else:
            for v in value:
                if type(v) not in _NUMBER_TYPES:
                    return None
    elif t not in _NUMBER_TYPES:
        return None
    try:
        a = np.array(value, dtype=float)
    except (OverflowError, ValueError):
        return None
    if not np.isfinite(a).all():
        return None
    return a


def written_numbers(v, texts: dict | None = None, path: tuple = ()) -> str:
    """A YAML/JSON number (or list of them) as the student wrote it: the loader's source text
    of each scalar when known (`texts`, path -> text), else the shortest text that reads back
    as the same float (which is what a JSON file or a plain decimal says)."""
    if type(v) is list:
        return "[" + ", ".join([written_numbers(x, texts, path + (i,)) for i, x in enumerate(v)]) \
            + "]"
    if texts is not None:
        t = texts.get(path)
        if t is not None:
            return t
    return repr(v) if type(v) is float else str(v)


def _has_text(v) -> bool:
    """Does a nested list hold an entry written as an expression (not a plain number)?"""
    if isinstance(v, list):
        return any(_has_text(item) for item in v)
    return isinstance(v, str) and not PLAIN_NUMBER.fullmatch(v.strip())


def _list_text(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_list_text(item) for item in v) + "]"
    return "_" if v is None else str(v).strip()


def set_entry(sub: Submission, schema: QuantitySchema, qname: str, index: tuple, written: str,
              value: Any, line: int | None) -> None:
    """One entry column such as dW1[1,2] (1-based) of a quantity."""
    shape = schema.shapes[qname]
    if value is None or (isinstance(value, str) and not value.strip()):
        return
    eff = _entry_index(shape, index)
    if eff is None:
        sub.problems.append(f"{written}: no such entry (shape {_shape_text(shape)})")
        return
    ans = sub.answers.get(qname)
    if ans is None:
        ans = Answer(qname, qname, value=np.full(shape, np.nan), line=line)
        sub.answers[qname] = ans
    if ans.value is None:
        return   # the whole quantity was also given and is unreadable
    try:
        v = parse_scalar(value)
    except AnswerError as exc:
        ans.error = f"{written}: {exc.message}"
        ans.value = None
        return
    if not np.isnan(ans.value[eff]):
        sub.problems.append(f"{written}: given twice (kept the first)")
        return
    ans.value[eff] = v


def _entry_index(shape: tuple, index: tuple) -> tuple | None:
    if len(index) == len(shape) and all(0 <= i < n for i, n in zip(index, shape)):
        return index
    # a single index into a 1×n or n×1 matrix, or [1, j] into a vector shown as a row
    if len(index) == 1 and len(shape) == 2 and 1 in shape:
        flat = index[0]
        if flat < shape[0] * shape[1]:
            return (0, flat) if shape[0] == 1 else (flat, 0)
    if len(index) == 2 and len(shape) == 1 and index[0] == 0 and index[1] < shape[0]:
        return (index[1],)
    if len(index) == 1 and shape == () and index[0] == 0:
        return ()
    return None


def _shape_text(shape: tuple) -> str:
    return "a number" if not shape else "×".join(map(str, shape))


def flag_duplicates(subs: list[Submission]) -> None:
    by_id: dict[str, list[Submission]] = {}
    for s in subs:
        if not s.unreadable or not s.id_missing:
            by_id.setdefault(s.student, []).append(s)
    for sid, group in by_id.items():
        if len(group) > 1:
            for s in group:
                others = ", ".join(o.source for o in group if o is not s)
                s.problems.insert(0, f"duplicate student id (also in {others})")
