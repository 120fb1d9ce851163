"""What each grading platform imports: Gradescope's and PrairieLearn's results.json, Moodle's and Blackboard's grade CSV.

The formats, as documented by each platform (the tests hold a schema written from the same pages):
- Gradescope autograder results (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
  {score, output, visibility, stdout_visibility, tests: [{name, score, max_score, status,
  output, visibility}]}, with visibility one of visible, hidden, after_due_date, after_published;
- PrairieLearn external grading (https://prairielearn.readthedocs.io/en/latest/externalGrading/):
  {gradable, score in [0, 1], message, output, tests: [{name, points, max_points, message,
  output}]};
- Moodle grade import (https://docs.moodle.org/en/Grade_import): a CSV with an identifier column
  (mapped to the user's ID number at import), one grade column and its feedback column;
- Blackboard Grade Center upload (http://library.blackboard.com/ref/3ea64795-6ecc-4abd-b595-
  0a9a8dfdec94/Content/_instructor_grade_center/grade_center_upload_download.htm): a header row,
  the Username column (the one identifier it needs), a grade column; in a comma-delimited file
  every value inside quote characters. A column without a Column ID becomes a new column.
"""
from __future__ import annotations

import json

from gradcalc.csvsafe import csv_text, printable
from gradcalc.render.feedback import given_text, interval_text, status_text, why
from gradcalc.render.gradetext import points, words

PLATFORMS = ("gradescope", "prairielearn", "moodle", "blackboard", "canvas")
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")


def _number(x: float) -> float:
    """A score as JSON: at most 6 decimals (no 0.30000000000000004)."""
    return round(float(x), 6) + 0.0


def question_output(q, lang: str = "en", hide_answers: bool = False, precision: int = 4) -> str:
    """One question's feedback as plain text lines: the answer given, the accepted interval
    (unless hidden) and why it earned its credit (the words of feedback/<student>.md)."""
    w = words(lang)
    lines = [f"{w['given']}: {given_text(q, precision)}"]
    if q.interval is not None and q.kind != "blank":
        shown = w["hidden"] if hide_answers else interval_text(q.name, *q.interval, precision)
        lines.append(f"{w['accepted']}: {shown}")
    lines.append(f"{w['why']}: {why(q, lang)}")
    return "\n".join(lines)


def _overall(r, lang: str) -> str:
    w = words(lang)
    top = r.max_points
    text = (f"{w['score']}: {points(r.total)} / {points(top)}\n"
            f"{w['status']}: {printable(status_text(r.status, lang), 2000, lines=False)}")
    return text


def gradescope_results(r, lang: str = "en", hide_answers: bool = False, precision: int = 4,
                       visibility: str = "visible", stdout_visibility: str = "hidden",
                       outputs: list[str] | None = None) -> dict:
    """Gradescope's results.json of one graded submission: one test per question (score out
    of the question's points). `outputs` are the questions' texts when they were made before
    the arrays were released (see question_output)."""
    if visibility not in VISIBILITY or stdout_visibility not in VISIBILITY:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITY)}")
    tests = []
    for i, q in enumerate(r.questions):
        text = outputs[i] if outputs is not None else question_output(q, lang, hide_answers,
                                                                      precision)
        tests.append({"name": q.name, "number": str(i + 1), "score": _number(q.score),
                      "max_score": _number(q.points),
                      "status": "passed" if q.credit >= 1 else "failed",
                      "output": text, "visibility": visibility})
    return {"score": _number(r.total), "output": _overall(r, lang), "visibility": visibility,
            "stdout_visibility": stdout_visibility, "tests": tests}


def prairielearn_results(r, lang: str = "en", hide_answers: bool = False, precision: int = 4,
                         outputs: list[str] | None = None) -> dict:
    """PrairieLearn's external-grader results.json of one graded submission: `score` the
    fraction of the points (0–1), one test per question with its points. An unreadable
    answer file is not gradable (PrairieLearn then does not count the attempt)."""
    top = r.max_points
    tests = []
    for i, q in enumerate(r.questions):
        text = outputs[i] if outputs is not None else question_output(q, lang, hide_answers,
                                                                      precision)
        tests.append({"name": q.name, "points": _number(q.score), "max_points": _number(q.points),
                      "message": why(q, lang), "output": text})
    score = min(1.0, max(0.0, r.total / top)) if top else 0.0
    out = {"gradable": not r.unreadable, "score": _number(score),
           "message": _overall(r, lang), "tests": tests}
    return out


def results_json(data: dict) -> str:
    """Compact JSON (json's C encoder; an indent would take the pure-Python one, 5× slower
    over a class), one line and a newline."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


# ---------------------------------------------------------------- class-wide CSV files
def uploadable(results) -> tuple[list, list[tuple[str, str]]]:
    """The results that go into an LMS file (one row per student id) and those left out with
    the reason. An unreadable file has no id to upload under. Copies of one id that the
    duplicates policy graded alike (`flag`: every copy 0) are one row with that value, never a
    blank; copies with different totals (graded before any policy chose) are left out for a
    person to decide."""
    groups: dict[str, list] = {}
    for r in results:
        if not r.unreadable:
            groups.setdefault(r.student.strip().casefold(), []).append(r)
    keep, left = [], []
    for r in results:
        if r.unreadable:
            left.append((r.source, "unreadable"))
            continue
        group = groups[r.student.strip().casefold()]
        if len(group) == 1:
            keep.append(r)
        elif len({points(g.total) for g in group}) > 1:
            left.append((r.source, f"student id {r.student} graded more than once"))
        elif r is group[0]:
            keep.append(r)
    return keep, left


def feedback_line(r, lang: str = "en") -> str:
    """A one-paragraph feedback for a gradebook cell: the score and each question's points."""
    w = words(lang)
    parts = [f"{q.name} {points(q.score)}/{points(q.points)}" for q in r.questions]
    return (f"{w['score']}: {points(r.total)}/{points(r.max_points)}. " + "; ".join(parts)
            + (f". {w['status']}: {status_text(r.status, lang)}" if r.status != "ok" else ""))


def moodle_csv(results, assignment: str, lang: str = "en") -> str:
    """Moodle's grade import: 'ID number' (map it to the user's ID number), the grade column
    named as the grade item and 'Feedback for <item>' (Moodle's own export names it so)."""
    rows = [["ID number", assignment, f"Feedback for {assignment}"]]
    for r in results:
        rows.append([r.student, points(r.total), feedback_line(r, lang)])
    return csv_text(rows)


def blackboard_csv(results, assignment: str, max_points: float) -> str:
    """Blackboard's Grade Center upload: Username and the grade column (without a Column ID
    Blackboard makes it a new column, whose points possible are then set by hand to
    `max_points`); every value inside quotes, as its documentation asks of comma files."""
    rows = [["Username", assignment]]
    for r in results:
        rows.append([r.student, points(r.total)])
    return csv_text(rows, quote_all=True)
