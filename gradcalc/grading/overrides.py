"""Manual regrades that survive a re-run: overrides.yaml (student, question, points or credit,
comment, who), validated with one-line errors and applied to each graded student."""
from __future__ import annotations

from dataclasses import dataclass

from gradcalc.errors import ProblemError
from gradcalc.grading.results import StudentResult
from gradcalc.grading.rubric import Rubric

KEYS = ("student", "question", "points", "credit", "comment", "who")


@dataclass(frozen=True)
class Override:
    student: str
    question: str
    points: float | None       # the points given, or
    credit: float | None       # the fraction of the question's points
    comment: str
    who: str
    line: int | None


def load_overrides(path: str, rubric: Rubric, schema) -> list[Override]:
    """A YAML list of {student, question, points | credit, comment, who}; every value checked
    (the question is a rubric question, points within its points, credit in [0, 1])."""
    from gradcalc.problem.yamlio import field_name, load_yaml_file
    loc = load_yaml_file(path)
    data = loc.data

    def err(p: tuple, message: str) -> ProblemError:
        return ProblemError(message, file=path, field=field_name(p) or None, line=loc.line(p))

    if isinstance(data, dict) and list(data) == ["overrides"]:
        data, base = data["overrides"], ("overrides",)
    else:
        base = ()
    if data is None:
        return []
    if not isinstance(data, list):
        raise err(base, "expected a list of overrides (- student: …, question: …, points: …, "
                        "comment: …, who: …)")
    by_name = {q.name: q for q in rubric.questions}
    out: list[Override] = []
    seen: dict = {}
    for i, item in enumerate(data):
        p = base + (i,)
        if not isinstance(item, dict):
            raise err(p, "expected a mapping with student, question, points or credit, comment, who")
        for k in item:
            if k not in KEYS:
                raise err(p + (k,), f"unknown key '{k}' (expected one of: {', '.join(KEYS)})")
        for k in ("student", "question", "comment", "who"):
            v = item.get(k)
            if not isinstance(v, (str, int)) or isinstance(v, bool) or not str(v).strip():
                raise err(p + (k,), f"expected the {k} (text)" + (
                    ": every change says why and who made it" if k in ("comment", "who") else ""))
        written = str(item["question"]).strip()
        resolved = schema.resolve(written)
        q = by_name.get(resolved[0]) if resolved is not None and resolved[1] is None else None
        if q is None:
            raise err(p + ("question",), f"'{written}' is not a question of the rubric "
                                         f"(questions: {', '.join(by_name)})")
        if ("points" in item) == ("credit" in item):
            raise err(p, "expected either points or credit (one of the two)")
        points = credit = None
        if "points" in item:
            points = _number(item["points"], 0, q.points, lambda m: err(p + ("points",), m),
                             f"points between 0 and {q.points:g}")
        else:
            credit = _number(item["credit"], 0, 1, lambda m: err(p + ("credit",), m),
                             "a credit fraction between 0 and 1")
        key = (str(item["student"]).strip().casefold(), q.name)
        if key in seen:
            raise err(p, f"a second override of {q.name} for {item['student']} (the first is "
                         f"on line {seen[key]})")
        seen[key] = loc.line(p)
        out.append(Override(str(item["student"]).strip(), q.name, points, credit,
                            str(item["comment"]).strip(), str(item["who"]).strip(), loc.line(p)))
    return out


def _number(v, low, high, err, what) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
        raise err(f"expected {what}, got {v!r}")
    return float(v)


def apply_overrides(result: StudentResult, overrides: dict) -> None:
    """overrides: (student casefolded, question) -> Override. Sets the question's credit and
    records the change (feedback, grades.csv's adjustments column)."""
    sid = result.student.strip().casefold()
    for q in result.questions:
        o = overrides.get((sid, q.name))
        if o is None:
            continue
        before = q.score
        if o.points is not None:
            q.credit = o.points / q.points if q.points else 0.0
        else:
            q.credit = o.credit
        q.override = f"{o.comment} ({o.who})"
        result.adjustments.append(f"{q.name}: {_pts(before)} → {_pts(q.score)} by {o.who}: "
                                  f"{o.comment}")


def _pts(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") or "0"
