"""The validation context: errors with file, field and line, and the value checks all sections share."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradcalc.errors import ProblemError


def freeze(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class ValidationContext:
    """Turns a path inside the document into an error with file, field and line."""

    def __init__(self, located):
        self.loc = located

    def error(self, path: tuple, message: str) -> ProblemError:
        from gradcalc.problem.yamlio import field_name
        return ProblemError(message, file=self.loc.file, field=field_name(path) or None,
                            line=self.loc.line(path))

    def keys(self, mapping: Any, path: tuple, allowed, what: str) -> dict:
        if not isinstance(mapping, dict):
            raise self.error(path, f"expected a mapping ({what}), got {value_kind(mapping)}")
        for key in mapping:
            if not isinstance(key, str) or key not in allowed:
                import difflib    # on the error path only (start-up time)
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                tip = (f" (did you mean '{hint[0]}'?)" if hint
                       else f" (expected one of: {', '.join(dict.fromkeys(allowed))})")
                raise self.error(path + (key,), f"unknown key '{key}' in {what}{tip}")
        return mapping

    def number(self, value: Any, path: tuple) -> float:
        if isinstance(value, dict) and {"uniform", "integers", "choice"} & set(value):
            raise self.error(path, "this is a random spec of a variant template; make a concrete "
                                   "problem first: gradcalc variant TEMPLATE --student ID")
        if isinstance(value, bool) or value is None:
            raise self.error(path, f"expected a number, got {value_kind(value)}")
        if isinstance(value, str):
            text = value.strip().replace(" ", "")
            try:
                value = float(text)
            except ValueError:
                raise self.error(path, f"expected a number, got '{value}'") from None
        if not isinstance(value, (int, float)):
            raise self.error(path, f"expected a number, got {value_kind(value)}")
        try:
            value = float(value)
        except OverflowError:            # an integer of more than 309 digits
            raise self.error(path, f"expected a finite number, got an integer of "
                                   f"{len(str(abs(value))) if value.bit_length() < 14000 else 'over 4,000'} "
                                   "digits (beyond 1.8e308)") from None
        if not math.isfinite(value):
            raise self.error(path, f"expected a finite number, got {value}")
        return value

    def array(self, value: Any, path: tuple, ndim: int | tuple[int, ...], what: str) -> np.ndarray:
        """A rectangular nested list of numbers with the given number of dimensions."""
        dims = (ndim,) if isinstance(ndim, int) else ndim
        arr = _plain_array(value)
        if arr is not None and arr.ndim in dims:
            return freeze(arr)

        def walk(v, p, depth):
            if isinstance(v, list):
                if depth >= MAX_NESTING:     # before NumPy's own limit of 64 dimensions
                    raise self.error(path, f"expected {what}, got lists nested "
                                           f"{_nesting(v) + depth} levels deep (at most "
                                           f"{MAX_NESTING})")
                if not v:
                    raise self.error(p, f"expected a non-empty list ({what})")
                return [walk(item, p + (i,), depth + 1) for i, item in enumerate(v)]
            return self.number(v, p)

        nested = walk(value, path, 0)
        shape = _shape_of(nested)
        self._ragged(nested, shape, path)
        arr = np.asarray(nested, dtype=float)
        if arr.ndim not in dims:
            want = " or ".join({0: "a number", 1: "a list", 2: "a matrix (list of rows)"}.get(d, f"{d}-D array")
                               for d in dims)
            raise self.error(path, f"expected {want} for {what}, got {_describe(arr)}")
        return freeze(arr)

    def _ragged(self, nested, shape, path):
        def check(v, p, depth):
            if depth == len(shape):
                if isinstance(v, list):
                    raise self.error(p, "ragged array: found a list where a number was expected")
                return
            if not isinstance(v, list):
                raise self.error(p, f"ragged array: expected a list of {shape[depth]}, got a number")
            if len(v) != shape[depth]:
                raise self.error(p, f"ragged array: expected {shape[depth]} entries like the first "
                                    f"row, got {len(v)}")
            for i, item in enumerate(v):
                check(item, p + (i,), depth + 1)
        check(nested, path, 0)


MAX_NESTING = 16        # no problem's array has more dimensions (NumPy stops at 64)
_NUMBER_TYPES = frozenset({float, int})


def _plain_array(value: Any) -> np.ndarray | None:
    """`value` as a float array when it is what array() accepts without a word to say: a
    rectangular, non-empty nested list of finite Python floats and ints (no bool, no text)
    at most MAX_NESTING - 1 deep; the same array array() builds from it entry by entry.
    None for anything else (array() then checks it entry by entry and says what is wrong)."""
    if not isinstance(value, list):
        return None
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    if not 1 <= arr.ndim < MAX_NESTING or arr.size == 0:
        return None
    rows = [value]
    for _ in range(arr.ndim - 1):     # NumPy made it rectangular: every row is a list
        rows = [r for row in rows for r in row]
    if not all(isinstance(row, list) and _NUMBER_TYPES.issuperset(map(type, row))
               for row in rows):
        return None
    if not np.isfinite(arr).all():
        return None
    return arr


def _nesting(v) -> int:
    """How deep the first entries of nested lists go (iteratively: no recursion limit)."""
    depth = 0
    while isinstance(v, list):
        depth += 1
        v = v[0] if v else None
    return depth


def _shape_of(nested) -> tuple:
    shape = []
    while isinstance(nested, list):
        shape.append(len(nested))
        nested = nested[0]
    return tuple(shape)


def value_kind(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"the text '{v}'"
    if isinstance(v, (int, float)):
        return f"a number ({v})"
    return type(v).__name__


def _describe(a: np.ndarray) -> str:
    return "a number" if a.ndim == 0 else f"shape {'×'.join(map(str, a.shape))}"


def unknown_message(what: str, name: Any, known) -> str:
    names = sorted(known)
    import difflib    # on the error path only (start-up time)
    hint = difflib.get_close_matches(str(name), names, n=1)
    tip = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown {what} '{name}'{tip}; expected one of: {', '.join(names)}"
