"""Number formatting for tables: scalars, vectors and matrices at a given precision."""
from __future__ import annotations

import math

import numpy as np


def num(x: float, precision: int = 4) -> str:
    """A number with `precision` significant digits, no exponent for ordinary magnitudes."""
    x = float(x)
    key = (x, precision)     # (tables repeat numbers: a vector in several rows, ones)
    text = _DONE.get(key)
    if text is None:
        text = _num(x, precision)
        if x == x:           # (a nan never finds itself)
            if len(_DONE) >= 4096:
                _DONE.clear()
            _DONE[key] = text
    return text


_DONE: dict = {}


def _num(x: float, precision: int) -> str:
    if x == 0:
        return "0"
    if not math.isfinite(x):   # (x is a Python float here: no NumPy call per number)
        return str(x)
    if x.is_integer() and -1e15 < x < 1e15:
        return str(int(x))          # whole numbers as written: 2, -3
    text = format(x, _SPEC.get(precision) or f".{precision}g")
    if "e" in text:
        if 1e-5 <= abs(x) < 1e6:
            text = f"{x:.{precision + 4}f}".rstrip("0").rstrip(".")
        else:
            return text
    if precision >= 2 and -100 < x < 100:
        # at least two decimals, as the lecture writes them: −0.20, 0.50, 1.50
        dot = text.find(".")
        if dot < 0 or len(text) - dot - 1 < 2:
            text = f"{x:.2f}"
    return text


_SPEC = {p: f".{p}g" for p in range(1, 17)}


# Arrays with more entries than this are summarized in tables (the JSON output has every entry).
MAX_SHOWN = 200


def value(v, precision: int = 4, multiline: bool = False) -> str:
    """A scalar, [a, b] vector or [[..], [..]] matrix; matrices one row per line if multiline.
    Arrays of more than MAX_SHOWN entries are summarized by shape, range and norm."""
    a = np.asarray(v)
    if a.ndim == 0:
        return num(a, precision)
    if a.size > MAX_SHOWN:
        af = a.astype(float)
        with np.errstate(all="ignore"):
            norm = float(np.sqrt(np.sum(af * af)))
        return (f"{'×'.join(map(str, a.shape))} array: min {num(af.min(), precision)}, "
                f"max {num(af.max(), precision)}, ‖·‖ {num(norm, precision)}")
    if a.ndim == 1:     # (tolist: Python numbers, the same values, read faster than NumPy's)
        return "[" + ", ".join([num(t, precision) for t in a.tolist()]) + "]"
    rows = [value(r, precision) for r in a]
    if multiline:
        return "[" + ",\n ".join(rows) + "]"
    return "[" + ", ".join(rows) + "]"
