"""The rubric: the questions asked, their points, tolerances and credits, from the `grading:` section."""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from gradcalc.errors import ProblemError
from gradcalc.grading.mistakes import MISTAKES
from gradcalc.grading.quantities import QuantitySchema

DEFAULT_RTOL = 0.01
DEFAULT_ATOL = 1e-6
DEFAULT_FOLLOW_THROUGH = 1.0
DEFAULT_MISTAKE_CREDIT = 0.0
GRADING_KEYS = ("rtol", "atol", "sigfigs", "follow_through", "mistake_credit", "questions",
                "duplicates", "due", "late", "warn_below")
DUPLICATE_POLICIES = ("flag", "latest", "best")
DEFAULT_TRANSPOSED_CREDIT = 0.5     # the shape rule: a matrix answered transposed
DEFAULT_WARN_BELOW = 0.2            # a question whose class mean is under 20% of its points
QUESTION_KEYS = ("points", "rtol", "atol", "sigfigs", "follow_through", "mistake_credit")


@dataclass(frozen=True)
class Question:
    name: str                   # canonical quantity name: "z1", "dW1"
    points: float = 1.0
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    sigfigs: int | None = None
    follow_through: float = DEFAULT_FOLLOW_THROUGH
    mistake_credit: tuple = ()  # ((key, credit), …); "default" for the rest

    def credit_for(self, mistake: str) -> float:
        table = dict(self.mistake_credit)
        if mistake == "transposed" and mistake not in table:
            return DEFAULT_TRANSPOSED_CREDIT
        return table.get(mistake, table.get("default", DEFAULT_MISTAKE_CREDIT))

    def tolerance(self, ref: np.ndarray) -> np.ndarray:
        """Half-width of the accepted interval per entry: atol + rtol·|b|, or with `sigfigs`
        atol + half a unit in the last asked significant digit of b."""
        mag = np.abs(ref)
        if self.sigfigs is None:
            return self.atol + self.rtol * mag
        with np.errstate(divide="ignore"):
            exp = np.floor(np.log10(np.where(mag > 0, mag, 1.0)))
        unit = np.where(mag > 0, 0.5 * 10.0 ** (exp - self.sigfigs + 1), 0.0)
        return self.atol + unit


@dataclass(frozen=True)
class Rubric:
    questions: tuple[Question, ...]
    defaulted: bool = False     # no `grading:` section: every forward quantity and parameter gradient
    duplicates: str = "flag"    # several submissions of one id: flag (grade none), latest, best
    due: object = None          # datetime.datetime (naive = local time) or None
    late_per_day: float = 0.0   # fraction of the total taken per day (or part of one) late
    late_max_days: int | None = None   # later than this many days: not accepted (0)
    warn_below: float = DEFAULT_WARN_BELOW   # class mean under this fraction of a question's points

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    @property
    def names(self) -> list[str]:
        return [q.name for q in self.questions]


class _RubricCtx:
    def __init__(self, problem):
        self.problem = problem
        self.loc = getattr(problem, "source", None)

    def error(self, path: tuple, message: str) -> ProblemError:
        from gradcalc.problem.yamlio import field_name
        line = self.loc.line(("grading",) + path) if self.loc is not None else None
        return ProblemError(message, file=self.problem.file,
                            field=field_name(("grading",) + path), line=line)

    def number(self, value, path, low=0.0, high=math.inf, what="a number") -> float:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(path, f"expected {what}, got {value!r}")
        if not low <= value <= high:
            rng = f"between {low:g} and {high:g}" if high != math.inf else f"≥ {low:g}"
            raise self.error(path, f"expected {what} {rng}, got {value:g}")
        return float(value)

    def keys(self, mapping, path, allowed, what):
        if not isinstance(mapping, dict):
            raise self.error(path, f"expected a mapping ({what})")
        for key in mapping:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(allowed)})"
                raise self.error(path + (key,), f"unknown key '{key}' in {what}{tip}")
        return mapping


def default_questions(problem, schema: QuantitySchema) -> list[str]:
    """Every computed forward quantity and every parameter gradient (for expressions: the steps
    and the gradients of the values)."""
    from gradcalc.graph.network import forward_names, leaf_values
    leaves = set(leaf_values(problem))
    skip = set(leaves)
    if problem.kind == "network" and problem.layers[-1].activation == "linear":
        skip.add(f"z{len(problem.layers)}")   # y = z of a linear output layer: ask once
    names = [n for n in forward_names(problem) if n not in skip and n in schema.shapes]
    if problem.kind == "network":
        names += ["d" + p for p in problem.parameters()]
    else:
        names += ["d" + v for v in problem.values]
    return [n for n in names if n in schema.shapes]


def load_rubric(problem, schema: QuantitySchema) -> Rubric:
    """The `grading:` section of the problem file, validated (errors name file, line, field)."""
    raw = (problem.raw or {}).get("grading")
    if raw is None:
        return Rubric(tuple(Question(n) for n in default_questions(problem, schema)), True)
    ctx = _RubricCtx(problem)
    if not isinstance(raw, dict):
        raise ctx.error((), "expected a mapping of rubric settings (rtol, atol, sigfigs, "
                            "follow_through, mistake_credit, questions)")
    ctx.keys(raw, (), GRADING_KEYS, "grading")
    base = _settings(ctx, raw, (), {"rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL, "sigfigs": None,
                                    "follow_through": DEFAULT_FOLLOW_THROUGH, "mistake_credit": ()})
    spec = raw.get("questions")
    if spec is None:
        items = [(n, 1.0, ("questions",)) for n in default_questions(problem, schema)]
    elif isinstance(spec, list):
        items = [(n, 1.0, ("questions", i)) for i, n in enumerate(spec)]
    elif isinstance(spec, dict):
        items = [(n, v, ("questions", n)) for n, v in spec.items()]
    else:
        raise ctx.error(("questions",), "expected a mapping of quantity: points (or a list of names)")
    if not items:
        raise ctx.error(("questions",), "no questions to grade")
    questions, seen = [], {}
    for written, value, path in items:
        resolved = schema.resolve(written) if isinstance(written, str) else None
        if resolved is None or resolved[1] is not None:
            known = sorted(schema.shapes)
            hint = difflib.get_close_matches(str(written), known, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ctx.error(path, f"unknown quantity '{written}'{tip}; names are those of "
                                  f"`gradcalc solve --format json`, gradients as dW1 or dL/dW1")
        name = resolved[0]
        if name in seen:
            raise ctx.error(path, f"'{written}' is the same question as '{seen[name]}'")
        seen[name] = written
        settings = dict(base)
        if isinstance(value, dict):
            ctx.keys(value, path, QUESTION_KEYS, f"question {written}")
            settings = _settings(ctx, value, path, settings)
            points = ctx.number(value["points"], path + ("points",), what="points") \
                if "points" in value else 1.0
        else:
            points = ctx.number(value, path, what="points")
        questions.append(Question(name, points, settings["rtol"], settings["atol"],
                                  settings["sigfigs"], settings["follow_through"],
                                  settings["mistake_credit"]))
    if sum(q.points for q in questions) <= 0:
        raise ctx.error(("questions",), "the questions are worth 0 points in total")
    return Rubric(tuple(questions), **_staff_settings(ctx, raw))


def _settings(ctx: _RubricCtx, raw: dict, path: tuple, inherited: dict) -> dict:
    out = dict(inherited)
    if "rtol" in raw:
        out["rtol"] = ctx.number(raw["rtol"], path + ("rtol",), what="a relative tolerance")
        if not 0 < out["rtol"] < 1:   # rtol: 5 accepts anything; rtol: 0 nothing but exact
            raise ctx.error(path + ("rtol",), f"expected a relative tolerance between 0 and 1 "
                                              f"(exclusive), e.g. 0.01, got {out['rtol']:g}")
    if "atol" in raw:
        out["atol"] = ctx.number(raw["atol"], path + ("atol",), what="an absolute tolerance")
    if "sigfigs" in raw:
        s = raw["sigfigs"]
        if s is not None:
            s = ctx.number(s, path + ("sigfigs",), 1, 15, "a whole number of significant figures")
            if s != int(s):
                raise ctx.error(path + ("sigfigs",), f"expected a whole number, got {s:g}")
            s = int(s)
        out["sigfigs"] = s
    if "follow_through" in raw:
        out["follow_through"] = ctx.number(raw["follow_through"], path + ("follow_through",), 0, 1,
                                           "a credit fraction")
    if "mistake_credit" in raw:
        mc = raw["mistake_credit"]
        p = path + ("mistake_credit",)
        table = dict(inherited.get("mistake_credit", ()))
        if isinstance(mc, dict):
            for key, v in mc.items():
                if key != "default" and key not in MISTAKES:
                    hint = difflib.get_close_matches(str(key), list(MISTAKES), n=1)
                    tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                    raise ctx.error(p + (key,), f"unknown mistake '{key}'{tip}; known: "
                                                f"default, {', '.join(MISTAKES)}")
                table[key] = ctx.number(v, p + (key,), 0, 1, "a credit fraction")
        else:
            table = {"default": ctx.number(mc, p, 0, 1, "a credit fraction")}
        out["mistake_credit"] = tuple(sorted(table.items()))
    return out


def fraction(ctx: _RubricCtx, value, path: tuple, what: str) -> float:
    """A fraction in [0, 1], written 0.1 or "10%"."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ctx.error(path, f"expected {what} such as 10% or 0.1, got {value!r}") from None
    return ctx.number(value, path, 0, 1, what)


def parse_time(text) -> object:
    """A date-time as written in a rubric, an answer file or an LMS export (ISO 8601:
    2026-10-01T23:59, 2026-10-01 23:59:00, with or without a zone) as a naive local datetime;
    None when it is not one."""
    import datetime as dt
    if isinstance(text, dt.datetime):
        t = text
    elif isinstance(text, dt.date):
        t = dt.datetime(text.year, text.month, text.day, 23, 59, 59)
    else:
        s = str(text).strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            t = dt.datetime.fromisoformat(s)
        except ValueError:
            return None
        if len(s) == 10:     # a date alone: due at the end of that day
            t = t.replace(hour=23, minute=59, second=59)
    if t.tzinfo is not None:
        t = t.astimezone().replace(tzinfo=None)
    return t


def _staff_settings(ctx: _RubricCtx, raw: dict) -> dict:
    """duplicates, due, late and warn_below of the `grading:` section."""
    out: dict = {}
    if "duplicates" in raw:
        v = raw["duplicates"]
        if v not in DUPLICATE_POLICIES:
            raise ctx.error(("duplicates",), f"expected one of {', '.join(DUPLICATE_POLICIES)}, "
                                             f"got {v!r}")
        out["duplicates"] = v
    if raw.get("due") is not None:
        due = parse_time(raw["due"])
        if due is None:
            raise ctx.error(("due",), f"expected a date and time such as 2026-10-01T23:59, "
                                      f"got {raw['due']!r}")
        out["due"] = due
    if "late" in raw:
        late = ctx.keys(raw["late"], ("late",), ("per_day", "max_days"), "late")
        if "due" not in out:
            raise ctx.error(("late",), "a late penalty needs a `due:` date")
        if "per_day" in late:
            out["late_per_day"] = fraction(ctx, late["per_day"], ("late", "per_day"),
                                           "a fraction of the total per day")
        if late.get("max_days") is not None:
            d = ctx.number(late["max_days"], ("late", "max_days"), 0, 3650, "a number of days")
            if d != int(d):
                raise ctx.error(("late", "max_days"), f"expected a whole number of days, got {d:g}")
            out["late_max_days"] = int(d)
    if "warn_below" in raw:
        out["warn_below"] = fraction(ctx, raw["warn_below"], ("warn_below",),
                                     "a fraction of a question's points")
    return out
