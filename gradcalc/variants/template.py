"""Variant templates: random specs and the `variants:` options, found and validated."""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcalc.errors import GradcalcError, ProblemError

# A mapping is a random spec when it holds exactly one of these keys ...
SPEC_KINDS = ("uniform", "integers", "choice")
# ... and otherwise only these.
SPEC_OPTIONS = ("decimals", "shape")
DEFAULT_DECIMALS = 2          # uniform draws are rounded: numbers a student can copy by hand
MAX_SPEC_SIZE = 10_000        # entries of one `shape`


# The `variants:` section of a template.
OPTION_KEYS = ("seed", "margin", "saturation", "probability", "max_draws")
DEFAULT_MARGIN = 0.05         # a kinked input must stay this far from its kink
DEFAULT_SATURATION = 4.0      # |input| of sigmoid/tanh at most this (σ'(4) ≈ 0.018, tanh'(4) ≈ 0.0013)
DEFAULT_PROBABILITY = 1e-3    # softmax / cross-entropy / bce probabilities within (ε, 1 − ε)
DEFAULT_MAX_DRAWS = 1000
MAX_DRAWS_CAP = 10_000        # each draw is a solve: more would take minutes per student


@dataclass(frozen=True)
class Spec:
    """One random spec found at `path` of the template document."""

    path: tuple
    kind: str                  # uniform | integers | choice
    args: tuple                # (a, b) or the choices
    decimals: int | None
    shape: tuple

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Options:
    seed: str | None = None
    margin: float = DEFAULT_MARGIN
    saturation: float = DEFAULT_SATURATION
    probability: float = DEFAULT_PROBABILITY
    max_draws: int = DEFAULT_MAX_DRAWS


@dataclass(frozen=True)
class Template:
    """A problem document whose numbers may be random specs."""

    located: Any                           # yamlio.Located of the template
    specs: tuple[Spec, ...]
    options: Options
    prefixes: frozenset = frozenset()      # every path that leads to a spec (copied per draw)

    @property
    def file(self) -> str:
        return self.located.file

    @property
    def is_random(self) -> bool:
        return bool(self.specs)

    def line(self, path: tuple) -> int | None:
        return self.located.line(path)



def error_at(tmpl_or_loc, path: tuple, message: str, cls=ProblemError) -> GradcalcError:
    from gradcalc.problem.yamlio import field_name
    loc = getattr(tmpl_or_loc, "located", tmpl_or_loc)
    return cls(message, file=loc.file, field=field_name(path) or None, line=loc.line(path))


def load_template(path) -> Template:
    """Read a template (or a plain problem) file."""
    from gradcalc.problem.yamlio import load_yaml_file
    return template_from_located(load_yaml_file(path))


def parse_template(text: str | bytes, file: str = "<string>") -> Template:
    from gradcalc.problem.yamlio import load_yaml_text
    return template_from_located(load_yaml_text(text, file))


def template_from_located(loc) -> Template:
    """Find and validate the random specs and the `variants` options of a document."""
    doc = loc.data
    if not isinstance(doc, dict):
        from gradcalc.problem.load import problem_from_located
        problem_from_located(loc)        # raises the problem module's own message
    specs: list[Spec] = []
    for key, value in doc.items():
        if key in ("variants", "grading", "title", "description"):
            continue                      # not problem numbers
        _find_specs(loc, value, (key,), specs, top_values=(key == "values"))
    options = _options(loc, doc.get("variants"), bool(specs))
    prefixes = frozenset(spec.path[:k] for spec in specs for k in range(1, len(spec.path) + 1))
    return Template(loc, tuple(specs), options, prefixes)


def _is_spec(value) -> bool:
    return isinstance(value, dict) and any(k in value for k in SPEC_KINDS)


def _find_specs(loc, value, path, out, top_values=False):
    if isinstance(value, dict):
        if _is_spec(value) and not top_values:
            out.append(_spec(loc, value, path))
            return
        for k, v in value.items():
            _find_specs(loc, v, path + (k,), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _find_specs(loc, v, path + (i,), out)


def _num(loc, v, path, what="a number") -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise error_at(loc, path, f"expected {what}, got {v!r}")
    return float(v)


def _spec(loc, raw: dict, path: tuple) -> Spec:
    kinds = [k for k in SPEC_KINDS if k in raw]
    if len(kinds) > 1:
        raise error_at(loc, path, f"a random spec takes one of {', '.join(SPEC_KINDS)}; "
                                  f"got {' and '.join(kinds)}")
    for key in raw:
        if key not in SPEC_KINDS + SPEC_OPTIONS:
            hint = difflib.get_close_matches(str(key), list(SPEC_KINDS + SPEC_OPTIONS), n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else \
                f" (expected {kinds[0]}, decimals, shape)"
            raise error_at(loc, path + (key,), f"unknown key '{key}' in a random spec{tip}")
    kind = kinds[0]
    arg = raw[kind]
    apath = path + (kind,)
    decimals = None
    if kind in ("uniform", "integers"):
        if not isinstance(arg, list) or len(arg) != 2:
            raise error_at(loc, apath, f"expected [low, high] for {kind}, got {arg!r}")
        a, b = (_num(loc, v, apath + (i,)) for i, v in enumerate(arg))
        if kind == "integers":
            if a != int(a) or b != int(b):
                raise error_at(loc, apath, f"expected whole numbers for integers, got {arg!r}")
            if a > b:
                raise error_at(loc, apath, f"expected low ≤ high, got [{arg[0]}, {arg[1]}]")
            if max(abs(a), abs(b)) >= 2.0 ** 62:          # NumPy draws 64-bit integers
                raise error_at(loc, apath, f"expected integers within ±2^62, got [{arg[0]}, "
                                           f"{arg[1]}]")
            args = (int(a), int(b))
        else:
            if not a < b:
                raise error_at(loc, apath, f"expected low < high, got [{arg[0]}, {arg[1]}]")
            if b - a == float("inf"):                     # [-1e308, 1e308]: high − low overflows
                raise error_at(loc, apath, f"expected a range whose width high − low is a finite "
                                           f"number, got [{arg[0]}, {arg[1]}]")
            args = (a, b)
            decimals = DEFAULT_DECIMALS
    else:
        if not isinstance(arg, list) or not arg:
            raise error_at(loc, apath, "expected a non-empty list of numbers to choose from")
        args = tuple(v if isinstance(v, int) and not isinstance(v, bool) else
                     _num(loc, v, apath + (i,)) for i, v in enumerate(arg))
        for i, v in enumerate(args):
            _num(loc, v, apath + (i,))
    if "decimals" in raw:
        d = raw["decimals"]
        if kind != "uniform":
            raise error_at(loc, path + ("decimals",), f"decimals applies to uniform draws, not {kind}")
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 12:
            raise error_at(loc, path + ("decimals",), f"expected a whole number 0 … 12, got {d!r}")
        decimals = d
        step = 10.0 ** -d
        if math.floor(args[1] / step + 1e-9) < math.ceil(args[0] / step - 1e-9):
            raise error_at(loc, apath, f"no number with {d} decimals lies in [{args[0]}, {args[1]}]")
    shape: tuple = ()
    if "shape" in raw:
        s = raw["shape"]
        s = [s] if isinstance(s, int) and not isinstance(s, bool) else s
        if (not isinstance(s, list) or len(s) > 4
                or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in s)):
            raise error_at(loc, path + ("shape",), f"expected a shape like [2] or [2, 3] (at most 4 "
                                                   f"sizes), got {raw['shape']!r}")
        shape = tuple(s)
        if int(np.prod(shape)) > MAX_SPEC_SIZE:
            raise error_at(loc, path + ("shape",), f"at most {MAX_SPEC_SIZE} entries per spec")
    return Spec(path, kind, args, decimals, shape)


def _options(loc, raw, random: bool) -> Options:
    if raw is None:
        if random:
            raise error_at(loc, (), "a template with random numbers needs a seed: add "
                                    "`variants: {seed: \"course-2026-hw1\"}`")
        return Options()
    path = ("variants",)
    if not isinstance(raw, dict):
        raise error_at(loc, path, "expected a mapping like {seed: \"hw1-2026\"}")
    for key in raw:
        if key not in OPTION_KEYS:
            hint = difflib.get_close_matches(str(key), list(OPTION_KEYS), n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(OPTION_KEYS)})"
            raise error_at(loc, path + (key,), f"unknown key '{key}' in variants{tip}")
    seed = raw.get("seed")
    if seed is None:
        if random:
            raise error_at(loc, path, "variants needs a seed (text or number), e.g. seed: \"hw1-2026\"")
    elif isinstance(seed, bool) or not isinstance(seed, (str, int)) or str(seed).strip() == "":
        raise error_at(loc, path + ("seed",), f"expected a text or whole-number seed, got {seed!r}")
    kw: dict[str, Any] = {"seed": None if seed is None else str(seed)}
    for key, low in (("margin", 0.0), ("saturation", 0.0), ("probability", 0.0)):
        if key in raw:
            v = _num(loc, raw[key], path + (key,))
            if v < low or (key != "margin" and v == low) or (key == "probability" and v >= 0.5):
                bound = {"margin": "≥ 0", "saturation": "> 0", "probability": "in (0, 0.5)"}[key]
                raise error_at(loc, path + (key,), f"expected a number {bound}, got {raw[key]!r}")
            kw[key] = v
    if "max_draws" in raw:
        v = raw["max_draws"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DRAWS_CAP:
            raise error_at(loc, path + ("max_draws",),
                           f"expected a whole number 1 … {MAX_DRAWS_CAP} (each draw is a full "
                           f"solve; if {MAX_DRAWS_CAP} draws find no well-posed variant, widen "
                           f"the ranges or relax margin/saturation), got {shorten_repr(v)}")
        kw["max_draws"] = v
    return Options(**kw)


def shorten_repr(v) -> str:
    """repr of a value from the file, clipped (a 5,000-digit number is not echoed in full)."""
    if isinstance(v, int) and abs(v) >= 10 ** 30:     # no str() of a huge int (Python's limit)
        return f"a number of about {int(v.bit_length() * 0.30103) + 1} digits"
    text = repr(v)
    return text if len(text) <= 40 else text[:39] + "…"
