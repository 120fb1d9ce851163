"""Answer values: numbers, fractions, decimal commas, safe expressions and bracketed vectors (never eval)."""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import numpy as np

from gradcalc.errors import AnswerError

MAX_TEXT = 10_000                    # characters of one answer value
MAX_NDIM = 4                         # nested brackets / lists in one value

PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
# characters students paste from word processors, mapped to what the safe parser reads
_SYMBOLS = str.maketrans({"−": "-", "–": "-", "×": "*", "·": "*", "÷": "/", "π": "pi",
                          "（": "(", "）": ")", "［": "[", "］": "]"})


def _normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_SYMBOLS).strip()
    # a spreadsheet formula "=1/2" or a text-forced cell "'-0.5" means the same value
    if text[:1] in ("=", "'"):
        text = text[1:].strip()
    return text


def _finite(value: float, text: str) -> float:
    if not math.isfinite(value):
        raise AnswerError(f"'{shorten(text)}' is not a finite number")
    return value


def shorten(text: str, n: int = 40) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _evaluate(node, text: str) -> float:
    """Evaluate a Num/Var/Call tree with the registry's NumPy forwards (never eval)."""
    from gradcalc import ops
    from gradcalc.problem.exprparse import Call, Num, Var
    from gradcalc.problem.model import CONSTANTS

    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        if node.name in CONSTANTS:
            return CONSTANTS[node.name]
        raise AnswerError(f"unknown name '{node.name}' in '{shorten(text)}' (only numbers, "
                          "pi, e and functions such as exp are allowed)")
    assert isinstance(node, Call)
    # recursion is bounded: the parser limits the tree depth to 200
    args = [np.float64(_evaluate(arg, text)) for arg in node.args]
    op = ops.get(node.op)
    if op.check is not None:
        problem = op.check(*args)
        if problem:
            raise AnswerError(f"'{shorten(text)}': {problem}")
    try:
        with np.errstate(all="ignore"):
            value = float(op.forward(*args, **dict(node.attrs)))
    except (ValueError, TypeError, IndexError):   # an array operation (@, trace …) of numbers
        raise AnswerError(f"'{shorten(text)}': {node.op} does not apply to a number") from None
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
        raise AnswerError(f"expected a number, got {answer_kind(value)}")
    if len(value) > MAX_TEXT:
        raise AnswerError(f"answer too long ({len(value)} characters, limit {MAX_TEXT})")
    if PLAIN_NUMBER.fullmatch(value):   # ASCII already: what the normalization below would give
        return _finite(float(value), value)
    text = _normalize_text(value)
    if not text:
        raise AnswerError("empty answer")
    if PLAIN_NUMBER.fullmatch(text):
        return _finite(float(text), text)
    if _DECIMAL_COMMA.fullmatch(text):
        return _finite(float(text.replace(",", ".")), text)
    from gradcalc import ops
    from gradcalc.errors import ExpressionError
    from gradcalc.problem.exprparse import parse_expression
    try:
        tree = parse_expression(text, ops.expression_functions())
    except ExpressionError as exc:
        raise AnswerError(f"cannot read '{shorten(text)}': {exc.message}") from None
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


_NUM = PLAIN_NUMBER.pattern
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
        if len(parts) > 1 and all(PLAIN_NUMBER.fullmatch(p) for p in parts):
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


def answer_kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__
