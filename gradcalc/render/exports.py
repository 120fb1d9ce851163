"""The grading CSV exports: grades.csv and the roster-shaped LMS upload."""
from __future__ import annotations

from gradcalc.csvsafe import csv_text
from gradcalc.grading.roster import match_roster
from gradcalc.render.gradetext import percent, points


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    return csv_text(rows, delimiter)          # THE CSV writer (gradcalc.csvsafe)


def grades_csv(report, display=lambda n: n) -> str:
    """student, name, one column per question, total, max, percent, status; the first row
    after the header ("(points)") gives each question's points."""
    names = [q.name for q in report.rubric.questions]
    # the audit column (late penalties, staff overrides) only when there is something in it
    audit = any(getattr(r, "adjustments", None) for r in report.results)   # (grade-code: none)
    rows = [["student", "name"] + [display(n) for n in names] + ["total", "max", "percent", "status"]
            + (["adjustments"] if audit else []),
            ["(points)", ""] + [points(q.points) for q in report.rubric.questions]
            + [points(report.rubric.max_points), points(report.rubric.max_points), "100.0", ""]
            + ([""] if audit else [])]
    for r in report.results:
        total, top = r.total, r.max_points
        pct = 100.0 * total / top if top else 0.0      # = r.percent, without summing again
        rows.append([r.student, r.name] + [points(q.score) for q in r.questions]
                    + [points(total), points(top), percent(pct), r.status]
                    + (["; ".join(r.adjustments)] if audit else []))
    return _csv(rows)


def roster_csv(roster, results, assignment: str, max_points: float,
               key_column: str | None = None) -> tuple[str, dict]:
    """The roster's identity columns verbatim (apart from formula escaping) plus the assignment
    column. A student id graded twice (duplicates: flag) or on two roster rows gets 0, never a
    blank, and is listed in summary.md for a person to
    decide. Returns (CSV text, {"not_on_roster": [...], "unmatched": [...], "key": column name,
    "duplicates": ids on more than one roster row})."""
    col, by_id = match_roster(roster, results, key_column)
    out = [[roster.header[i] for i in roster.identity] + [assignment]]
    matched = set()
    unmatched = []
    rows_of: dict[str, int] = {}
    for row in roster.rows:
        k = row[col].strip().casefold()
        if k and (row[0].strip() if row else "") != "Points Possible":
            rows_of[k] = rows_of.get(k, 0) + 1
    # an id on two roster rows: neither row gets the grade (a person decides), and it is reported
    duplicates = sorted({row[col].strip() for row in roster.rows
                         if rows_of.get(row[col].strip().casefold(), 0) > 1})
    for row in roster.rows:
        ident = [row[i] for i in roster.identity]
        first = row[0].strip() if row else ""
        key = row[col].strip().casefold()
        if first == "Points Possible":
            out.append(ident + [points(max_points)])
            continue
        group = by_id.get(key) if key else None
        if not group:
            out.append(ident + [""])
            if key:
                unmatched.append(row[col].strip())
            continue
        matched.add(key)
        out.append(ident + ([points(group[0].total)] if len(group) == 1 and rows_of[key] == 1
                            else ["0"]))
    extra = sorted({r.student for r in results if r.student.strip().casefold() not in matched})
    text = _csv(out, roster.delimiter)
    return ("\ufeff" + text if roster.bom else text), {
        "not_on_roster": extra, "unmatched": unmatched, "key": roster.header[col],
        "duplicates": duplicates}
