"""Students' answer files (YAML, JSON, CSV) and answer values (numbers, fractions, safe expressions)."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from gradcalc.errors import AnswerError, GradcalcError

MAX_BYTES = 5 * 1024 * 1024          # the same cap as problem files
MAX_TEXT = 10_000                    # characters of one answer value
MAX_NDIM = 4                         # nested brackets / lists in one value
ANSWER_SUFFIXES = (".yaml", ".yml", ".json", ".csv", ".tsv")
ID_KEYS = ("student", "id", "student_id")
NAME_KEYS = ("name",)
# CSV headers that hold the student id / name (compared case- and space-insensitively)
CSV_ID_HEADERS = ("student", "id", "studentid", "student_id", "sisuserid", "username", "login",
                  "学号")
CSV_NAME_HEADERS = ("name", "studentname", "fullname", "姓名")

_PLAIN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_ENTRY = re.compile(r"^(.+?)((?:\[\s*\d+\s*(?:,\s*\d+\s*)*\])+)$")
# characters students paste from word processors, mapped to what the safe parser reads
_SYMBOLS = str.maketrans({"−": "-", "–": "-", "×": "*", "·": "*", "÷": "/", "π": "pi",
                          "（": "(", "）": ")", "［": "[", "］": "]"})


# ---------------------------------------------------------------- values
def _normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_SYMBOLS).strip()
    # a spreadsheet formula "=1/2" or a text-forced cell "'-0.5" means the same value
    if text[:1] in ("=", "'"):
        text = text[1:].strip()
    return text


def _finite(value: float, text: str) -> float:
    if not math.isfinite(value):
        raise AnswerError(f"'{_short(text)}' is not a finite number")
    return value


def _short(text: str, n: int = 40) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _evaluate(node, text: str) -> float:
    """Evaluate a Num/Var/Call tree with the registry's NumPy forwards (never eval)."""
    from gradcalc import ops
    from gradcalc.problem.exprparse import Call, Num, Var
    from gradcalc.problem.load import CONSTANTS

    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        if node.name in CONSTANTS:
            return CONSTANTS[node.name]
        raise AnswerError(f"unknown name '{node.name}' in '{_short(text)}' (only numbers, "
                          "pi, e and functions such as exp are allowed)")
    assert isinstance(node, Call)
    # recursion is bounded: the parser limits the tree depth to 200
    args = [np.float64(_evaluate(arg, text)) for arg in node.args]
    op = ops.get(node.op)
    if op.check is not None:
        problem = op.check(*args)
        if problem:
            raise AnswerError(f"'{_short(text)}': {problem}")
    with np.errstate(all="ignore"):
        value = float(op.forward(*args))
    return _finite(value, text)


def parse_scalar(value: Any) -> float:
    """One number: 0.5, "1e-3", "3/5", "0,5" (decimal comma) or an expression such as
    "1/(1+exp(-0.6))" read by the safe parser. Raises AnswerError."""
    if isinstance(value, bool):
        raise AnswerError(f"expected a number, got {str(value).lower()}")
    if isinstance(value, (int, float)):
        try:
            return _finite(float(value), str(value))
        except OverflowError:
            raise AnswerError("number too large") from None
    if not isinstance(value, str):
        raise AnswerError(f"expected a number, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise AnswerError(f"answer too long ({len(value)} characters, limit {MAX_TEXT})")
    if _PLAIN.fullmatch(value):   # ASCII already: what the normalization below would give
        return _finite(float(value), value)
    text = _normalize_text(value)
    if not text:
        raise AnswerError("empty answer")
    if _PLAIN.fullmatch(text):
        return _finite(float(text), text)
    if _DECIMAL_COMMA.fullmatch(text):
        return _finite(float(text.replace(",", ".")), text)
    from gradcalc import ops
    from gradcalc.errors import ExpressionError
    from gradcalc.problem.exprparse import parse_expression
    try:
        tree = parse_expression(text, ops.expression_functions())
    except ExpressionError as exc:
        raise AnswerError(f"cannot read '{_short(text)}': {exc.message}") from None
    return _evaluate(tree, text)


def parse_value(value: Any) -> np.ndarray:
    """A scalar, a (nested) list, or a cell text such as "[0.6, -0.8]" -> float64 array.

    Blank entries (null) become NaN: the entry is unanswered. Raises AnswerError."""
    if isinstance(value, str):
        text = _normalize_text(value) if len(value) <= MAX_TEXT else value
        if text.startswith("["):
            plain = _plain_brackets(text) if len(text) <= MAX_TEXT else None
            return plain if plain is not None else _array(_brackets(text), "")
        return np.asarray(parse_scalar(value), dtype=float)
    if isinstance(value, list):
        return _array(value, "")
    if value is None:
        return np.asarray(np.nan)
    return np.asarray(parse_scalar(value), dtype=float)


_NUM = _PLAIN.pattern
_FLAT = re.compile(rf"\[\s*{_NUM}(?:\s*,\s*{_NUM})*\s*\]")
_ROWS = re.compile(rf"\[\s*{_FLAT.pattern}(?:\s*,\s*{_FLAT.pattern})*\s*\]")
_ROW = re.compile(r"\[([^\[\]]*)\]")


def _plain_brackets(text: str) -> np.ndarray | None:
    """"[0.6, -0.8]" or "[[1, 2], [3, 4]]" with plain numbers only (a quiz export's cells):
    what _brackets + _array give, without reading character by character; None for
    anything else (NumPy or MATLAB layout, expressions, blanks, ragged rows, overflow)."""
    if _FLAT.fullmatch(text):
        rows = [text[1:-1]]
        flat = True
    elif _ROWS.fullmatch(text):
        rows = _ROW.findall(text[1:-1])
        flat = False
    else:
        return None
    values = [[float(t) for t in row.split(",")] for row in rows]
    if len({len(r) for r in values}) != 1 or not all(map(math.isfinite, (v for r in values for v in r))):
        return None   # ragged, or a number too large: the full reader says why
    return np.array(values[0] if flat else values, dtype=float)


def _array(nested: Any, where: str) -> np.ndarray:
    """A rectangular nested list of answers -> float64 array (null entries -> NaN)."""
    def walk(v, depth):
        if isinstance(v, list):
            if depth >= MAX_NDIM:
                raise AnswerError(f"nested more than {MAX_NDIM} levels deep")
            if not v:
                raise AnswerError("empty list")
            return [walk(item, depth + 1) for item in v]
        if v is None:
            return math.nan
        return parse_scalar(v)

    data = walk(nested, 0)
    shape = []
    probe = data
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0]

    def check(v, depth):
        if depth == len(shape):
            if isinstance(v, list):
                raise AnswerError("ragged: found a list where a number was expected")
            return
        if not isinstance(v, list) or len(v) != shape[depth]:
            raise AnswerError(f"ragged: rows of different lengths (expected {shape[depth]} "
                              "entries like the first)")
        for item in v:
            check(item, depth + 1)

    check(data, 0)
    return np.asarray(data, dtype=float)


def _brackets(text: str) -> Any:
    """Parse cell text "[0.6, -0.8]", "[[1, 2], [3, 4]]", "[1, 2; 3, 4]" or NumPy's
    "[ 0.6 -0.8]" into nested lists of entry texts (each read later by parse_scalar)."""
    if len(text) > MAX_TEXT:
        raise AnswerError(f"answer too long ({len(text)} characters, limit {MAX_TEXT})")
    pos = 0
    n = len(text)

    def skip():
        nonlocal pos
        while pos < n and text[pos].isspace():
            pos += 1

    def atom() -> list[str]:
        """Text up to the next , ; ] at parenthesis depth 0 (an entry or an expression)."""
        nonlocal pos
        start, depth = pos, 0
        while pos < n:
            ch = text[pos]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "[":
                raise AnswerError(f"unexpected '[' at column {pos + 1}")
            elif depth <= 0 and ch in ",;]":
                break
            pos += 1
        piece = text[start:pos].strip()
        if not piece:
            raise AnswerError(f"missing entry at column {pos + 1}")
        parts = piece.split()
        # NumPy prints vectors with spaces: "[ 0.6 -0.8]"; only plain numbers are split
        if len(parts) > 1 and all(_PLAIN.fullmatch(p) for p in parts):
            return parts
        return [piece]

    def lst(depth: int) -> Any:
        nonlocal pos
        if depth > MAX_NDIM:
            raise AnswerError(f"nested more than {MAX_NDIM} levels deep")
        pos += 1   # '['
        rows: list[list] = [[]]
        semicolons = False
        while True:
            skip()
            if pos >= n:
                raise AnswerError("unclosed '['")
            ch = text[pos]
            if ch == "]":
                pos += 1
                break
            if ch == "[":
                rows[-1].append(lst(depth + 1))
            else:
                rows[-1].extend(atom())
            skip()
            if pos < n and text[pos] == ",":
                pos += 1
                skip()
                if pos < n and text[pos] == "]":
                    raise AnswerError(f"missing entry at column {pos + 1}")
            elif pos < n and text[pos] == ";":
                pos += 1
                semicolons = True
                rows.append([])
        if semicolons:   # MATLAB rows: [1, 2; 3, 4]
            if any(not r for r in rows):
                raise AnswerError("empty row between ';'")
            return rows
        if not rows[0]:
            raise AnswerError("empty list")
        return rows[0]

    skip()
    result = lst(1)
    skip()
    if pos != n:
        raise AnswerError(f"unexpected text after ']' at column {pos + 1}")
    return result


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__


# ---------------------------------------------------------------- quantity names
class QuantitySchema:
    """The names a submission may use, with their shapes: forward quantities (x, z1, h1, …, L)
    and gradients ("dW1" for dL/dW1, also written dL/dW1 or ∂L/∂W1)."""

    def __init__(self, forward: dict[str, tuple], gradients: dict[str, tuple], output: str):
        self.output = output
        self.shapes: dict[str, tuple] = {}
        self.gradient_of: dict[str, str] = {}
        for name, shape in forward.items():
            self.shapes[name] = tuple(shape)
        for name, shape in gradients.items():
            key = "d" + name
            if key not in self.shapes:
                self.shapes[key] = tuple(shape)
                self.gradient_of[key] = name
        self._folded: dict[str, list[str]] = {}
        for key in self.shapes:
            self._folded.setdefault(key.casefold(), []).append(key)
        self._cache: dict[str, tuple | None] = {}

    def display(self, key: str) -> str:
        """"dW1" -> "dL/dW1" for feedback; forward names unchanged."""
        if key in self.gradient_of:
            return f"d{self.output}/d{self.gradient_of[key]}"
        return key

    def resolve(self, written: Any) -> tuple[str, tuple | None] | None:
        """(canonical name, 0-based entry index or None) or None when unknown."""
        if not isinstance(written, (str, int, float)) or isinstance(written, bool):
            return None
        written = str(written)
        if written in self._cache:
            return self._cache[written]
        result = self._resolve(written)
        if len(self._cache) < 10_000:
            self._cache[written] = result
        return result

    def _resolve(self, written: str) -> tuple[str, tuple | None] | None:
        text = unicodedata.normalize("NFKC", written).replace(" ", "").replace("\t", "")
        index = None
        m = _ENTRY.match(text)
        if m:
            text = m.group(1)
            numbers = [int(t) for t in re.findall(r"\d+", m.group(2))]
            if any(i < 1 for i in numbers):
                return None   # entries are numbered from 1, like the lecture
            index = tuple(i - 1 for i in numbers)
        name = self._name(text)
        if name is None:
            return None
        return name, index

    def _name(self, text: str) -> str | None:
        if text in self.shapes:
            return text
        out = re.escape(self.output)
        for pattern in (rf"^(?:d|∂){out}/(?:d|∂)(.+)$", rf"^(?:d|∂){out}_?d(.+)$",
                        r"^(?:∂|d)(.+)$", r"^grad_?(.+)$", r"^grad\((.+)\)$", r"^∇(.+)$"):
            m = re.match(pattern, text)
            if m and m.group(1) in self.shapes and "d" + m.group(1) in self.gradient_of:
                return "d" + m.group(1)
        folded = self._folded.get(text.casefold())
        if folded and len(folded) == 1:
            return folded[0]
        return None


# ---------------------------------------------------------------- submissions
@dataclass
class Answer:
    """One answered quantity: its value (float64, NaN for blank entries) or why it is unusable."""

    quantity: str
    written: str                      # the key as the student wrote it
    value: np.ndarray | None = None
    error: str | None = None
    text: str = ""                    # the expression as written, when it was not a plain number
    line: int | None = None


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
        return [_broken(path, source, f"cannot read the file ({exc.strerror or exc})")]
    if len(raw) > MAX_BYTES:
        return [_broken(path, source, "file too large (over 5 MB)")]
    if path.suffix.lower() in (".csv", ".tsv"):
        return read_csv_bytes(raw, schema, source, stem=path.stem)
    return [read_document_bytes(raw, schema, source, stem=path.stem)]


def _broken(path: Path | None, source: str, why: str, stem: str | None = None) -> Submission:
    stem = stem if stem is not None else (path.stem if path is not None else source)
    return Submission(student=stem, name="", source=source, unreadable=why, id_missing=True)


def _text(raw: bytes) -> str:
    if not raw.strip():
        raise AnswerError("the file is empty")
    if b"\x00" in raw:
        raise AnswerError("not a text file (binary)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnswerError("not a text file (binary or not UTF-8)") from None


def read_document_bytes(raw: bytes, schema: QuantitySchema, source: str,
                        stem: str = "") -> Submission:
    """A YAML or JSON answer file: {student: ID, name: …, answers: {quantity: value}}."""
    stem = stem or Path(source).stem
    try:
        text = _text(raw)
        located = None
        if text.lstrip()[:1] == "{":
            try:
                data = json.loads(text)
            except (ValueError, RecursionError):
                data = None       # not JSON after all: YAML flow mappings look alike
        else:
            data = None
        if data is None:
            from gradcalc.problem.yamlio import load_yaml_text
            located = load_yaml_text(text, file=source, fast=True)   # libyaml when installed
            data = located.data
    except GradcalcError as exc:
        why = exc.message + (f" (line {exc.line})" if exc.line else "")
        return _broken(None, source, why, stem)
    return _from_mapping(data, schema, source, stem, located)


def _from_mapping(data: Any, schema: QuantitySchema, source: str, stem: str,
                  located=None) -> Submission:
    if not isinstance(data, dict):
        return _broken(None, source, f"expected a mapping with 'student' and 'answers', got "
                                     f"{_kind(data)}", stem)
    sub = Submission(student="", name="", source=source)
    student = next((data[k] for k in ID_KEYS if k in data), None)
    if isinstance(student, (int, str)) and not isinstance(student, bool) and str(student).strip():
        sub.student = str(student).strip()
    else:
        sub.student = stem
        sub.id_missing = True
        sub.problems.append(f"missing student id (used the file name '{stem}')")
    name = next((data[k] for k in NAME_KEYS if k in data), "")
    sub.name = str(name).strip() if isinstance(name, (str, int, float)) and name is not None else ""
    if "answers" in data:
        answers, prefix = data["answers"], ("answers",)
        extra = [k for k in data if k not in ID_KEYS + NAME_KEYS + ("answers",)]
        if extra:
            sub.problems.append("ignored key" + ("s" if len(extra) > 1 else "") + " "
                                + ", ".join(f"'{_short(k, 20)}'" for k in extra[:5]))
        if answers is None:
            answers = {}
        if not isinstance(answers, dict):
            sub.problems.append(f"'answers' should be a mapping of quantity: value, got {_kind(answers)}")
            answers = {}
    else:   # a flat file: every other top-level key is a quantity
        answers = {k: v for k, v in data.items() if k not in ID_KEYS + NAME_KEYS}
        prefix = ()
    unknown = []
    for key, value in answers.items():
        line = located.line(prefix + (key,)) if located is not None else None
        resolved = schema.resolve(key)
        if resolved is None:
            unknown.append(str(key))
            continue
        qname, index = resolved
        if index is not None:
            _set_entry(sub, schema, qname, index, str(key), value, line)
        else:
            _add(sub, qname, str(key), value, line)
    if unknown:
        sub.problems.append(_unknown_text(unknown))
    return sub


def _unknown_text(unknown: list[str]) -> str:
    shown = ", ".join(f"'{_short(u, 20)}'" for u in unknown[:5])
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    return f"unknown quantit{'ies' if len(unknown) > 1 else 'y'} {shown}{more} ignored"


def _add(sub: Submission, qname: str, written: str, value: Any, line: int | None) -> None:
    if qname in sub.answers:
        sub.problems.append(f"{written}: given twice (kept the first)")
        return
    ans = Answer(qname, written, line=line)
    if value is None or (isinstance(value, str) and not value.strip()):
        return   # left blank: not answered
    plain = _numbers(value)
    if plain is not None:   # the common case: numbers only, nothing to parse or report
        ans.value = plain
        sub.answers[qname] = ans
        return
    try:
        ans.value = parse_value(value)
        if isinstance(value, str) and not _PLAIN.fullmatch(value.strip()):
            ans.text = _short(value.strip(), 80)
        elif isinstance(value, list) and _has_text(value):
            ans.text = _short(_list_text(value), 80)
    except AnswerError as exc:
        ans.error = exc.message
        ans.text = _short(value, 80) if isinstance(value, str) else ""
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


def _has_text(v) -> bool:
    """Does a nested list hold an entry written as an expression (not a plain number)?"""
    if isinstance(v, list):
        return any(_has_text(item) for item in v)
    return isinstance(v, str) and not _PLAIN.fullmatch(v.strip())


def _list_text(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_list_text(item) for item in v) + "]"
    return "_" if v is None else str(v).strip()


def _set_entry(sub: Submission, schema: QuantitySchema, qname: str, index: tuple, written: str,
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


# ---------------------------------------------------------------- CSV
def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _header_key(h: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", h)).casefold()


def read_csv_bytes(raw: bytes, schema: QuantitySchema, source: str, stem: str = "") -> list[Submission]:
    """A quiz export: a row per student; `student`, optional `name`, then one column per
    quantity (a whole vector in one cell) or per entry (`dW1[1,2]`, 1-based)."""
    stem = stem or Path(source).stem
    try:
        text = _text(raw)
    except AnswerError as exc:
        return [_broken(None, source, exc.message, stem)]
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first))
    try:
        rows = list(reader)
    except csv.Error as exc:
        return [_broken(None, source, f"CSV error: {exc}", stem)]
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return [_broken(None, source, "the file is empty", stem)]
    header = [h.strip() for h in rows[0]]
    keys = [_header_key(h) for h in header]
    id_col = next((keys.index(k) for k in CSV_ID_HEADERS if k in keys), None)
    name_col = next((keys.index(k) for k in CSV_NAME_HEADERS if k in keys), None)
    columns: list[tuple[int, str, tuple | None, str]] = []
    unknown, repeated = [], []
    taken: set = set()
    for i, h in enumerate(header):
        if i in (id_col, name_col) or not h:
            continue
        resolved = schema.resolve(h)
        if resolved is None:
            unknown.append(h)
            continue
        if resolved in taken:
            repeated.append(h)
            continue
        taken.add(resolved)
        columns.append((i, resolved[0], resolved[1], h))
    file_notes = []
    if id_col is None:
        file_notes.append("no 'student' column")
    if unknown:
        file_notes.append(_unknown_text(unknown).replace("quantit", "column quantit", 1))
    if repeated:
        file_notes.append("repeated column" + ("s " if len(repeated) > 1 else " ")
                          + ", ".join(f"'{_short(r, 20)}'" for r in repeated[:5]) + " ignored")
    out = []
    for rownum, row in enumerate(rows[1:], 2):
        where = f"{source}:{rownum}"
        sub = Submission(student="", name="", source=where, problems=list(file_notes))
        sid = row[id_col].strip() if id_col is not None and id_col < len(row) else ""
        if sid:
            sub.student = sid
        else:
            sub.student = f"{stem}-row{rownum}"
            sub.id_missing = True
            sub.problems.append(f"missing student id (used '{sub.student}')")
        if name_col is not None and name_col < len(row):
            sub.name = row[name_col].strip()
        if len(row) > len(header):
            sub.problems.append(f"{len(row) - len(header)} cell(s) beyond the header ignored")
        for i, qname, index, written in columns:
            cell = row[i] if i < len(row) else ""
            if index is None:
                _add(sub, qname, written, cell, rownum)
            else:
                _set_entry(sub, schema, qname, index, written, cell, rownum)
        for qname in list(sub.answers):   # entry columns all left blank
            ans = sub.answers[qname]
            if ans.value is not None and np.all(np.isnan(ans.value)):
                del sub.answers[qname]
        out.append(sub)
    if not out:
        return [_broken(None, source, "the CSV has a header but no rows", stem)]
    return out


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


# ---------------------------------------------------------------- rosters (LMS exports)
# Identity columns copied verbatim into the upload file (Canvas, Moodle, Blackboard, generic).
ROSTER_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section",
                   "First name", "Last name", "Surname", "First Name", "Last Name", "ID number",
                   "Username", "Email address", "Email", "Student ID", "Name", "学号", "姓名", "班级")


@dataclass
class Roster:
    """An LMS export: its header, rows, which columns identify a student, and its BOM."""

    file: str
    header: list[str]
    rows: list[list[str]]
    identity: list[int]          # indices of the identity columns, in roster order
    bom: bool = False
    delimiter: str = ","


def decode_roster(raw: bytes) -> str:
    """A roster as LMS and Excel save it: UTF-16 ("Unicode text"), UTF-8 with or without the
    BOM, or GB18030 (Excel's "CSV" on Chinese Windows).  ValueError says why it is unreadable."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if b"\x00" in raw:
        raise ValueError("the roster is not a text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError("the roster is not UTF-8 text; save it as 'CSV UTF-8'") from None


def parse_roster(raw: bytes, file: str) -> Roster:
    """Read a roster CSV; raises AnswerError (exit 2) when it has no identity column."""
    if len(raw) > 50 * MAX_BYTES:
        raise AnswerError("roster too large", file=file)
    try:
        text = decode_roster(raw)
    except ValueError as exc:
        raise AnswerError(str(exc), file=file) from None
    text = text[1:] if text.startswith("\ufeff") else text
    # upload.csv gets a BOM when the roster had one (UTF-16 rosters come from Excel too)
    bom = raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    first = text.split("\n", 1)[0]
    delimiter = _sniff_delimiter(first)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise AnswerError(f"CSV error: {exc}", file=file) from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise AnswerError("the roster is empty", file=file)
    header = rows[0]
    wanted = {_header_key(h) for h in ROSTER_IDENTITY}
    identity = [i for i, h in enumerate(header) if _header_key(h) in wanted]
    if not identity:
        raise AnswerError("no identity column in the roster header (expected some of: "
                          + ", ".join(ROSTER_IDENTITY[:6]) + " …)", file=file, line=1)
    width = len(header)
    body = [r + [""] * (width - len(r)) if len(r) < width else r for r in rows[1:]]
    return Roster(file, header, body, identity, bom, delimiter)
