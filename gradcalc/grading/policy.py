"""The course's policies on a graded class: several submissions of one student, lateness, and which
results are left out of the class statistics (and why)."""
from __future__ import annotations

import datetime as dt
import math
from typing import Callable

from gradcalc.grading.results import StudentResult
from gradcalc.grading.rubric import Rubric
from gradcalc.grading.submissions import Submission

DUPLICATE = "duplicate student id"      # the problem text flag_duplicates puts first
NOT_GRADED = "not graded (duplicates: flag; set grading: {duplicates: latest|best})"


def _when(sub: Submission):
    """The submission's time: its `submitted` field or the export's column, else the file time."""
    if sub.submitted is not None:
        return sub.submitted
    if sub.mtime is not None:
        return dt.datetime.fromtimestamp(sub.mtime)
    return None


def duplicate_groups(subs: list[Submission]) -> list[list[Submission]]:
    """The submissions sharing a student id (the rule of flag_duplicates: a file that could not
    be read and has no id of its own is nobody's copy)."""
    by_id: dict[str, list[Submission]] = {}
    for s in subs:
        if not s.unreadable or not s.id_missing:
            by_id.setdefault(s.student, []).append(s)
    return [g for g in by_id.values() if len(g) > 1]


def resolve_duplicates(subs: list[Submission], policy: str,
                       total: Callable[[Submission], float] | None = None
                       ) -> tuple[list[Submission], list[tuple[Submission, str]]]:
    """Apply `grading: {duplicates: …}` to submissions already flagged by flag_duplicates.

    flag: every copy stays, is graded 0 (`not_graded`) and listed; latest: the copy with the
    latest time (the `submitted` field, the export's timestamp column, or the file time, in
    that order) is graded, the others are set aside; best: the copy with the highest total
    (`total(sub)`; ties go to the latest). A group whose copies cannot be told apart (no times,
    or two at the same time) falls back to flag. Returns (submissions to grade, [(set aside,
    why)])."""
    aside: list[tuple[Submission, str]] = []
    drop: set[int] = set()
    for group in duplicate_groups(subs):
        keep = None
        if policy == "latest":
            times = [_when(s) for s in group]
            if all(t is not None for t in times) and len(set(times)) == len(times):
                keep = group[max(range(len(group)), key=lambda i: times[i])]
        elif policy == "best" and total is not None:
            times = [_when(s) for s in group]
            order = [(total(s), times[i] or dt.datetime.min, -i) for i, s in enumerate(group)]
            best = max(range(len(group)), key=lambda i: order[i])
            if sum(1 for o in order if o[:2] == order[best][:2]) == 1:
                keep = group[best]
        if keep is None:
            for s in group:
                s.not_graded = NOT_GRADED
                s.problems.append(NOT_GRADED)
            continue
        others = [s for s in group if s is not keep]
        keep.problems = [p for p in keep.problems if not p.startswith(DUPLICATE)]
        keep.problems.insert(0, f"{len(group)} submissions: graded this one (duplicates: "
                                f"{policy}); set aside: {', '.join(o.source for o in others)}")
        for o in others:
            drop.add(id(o))
            aside.append((o, f"set aside (duplicates: {policy}): {keep.source} is graded"))
    return [s for s in subs if id(s) not in drop], aside


def late_penalty(result: StudentResult, rubric: Rubric) -> None:
    """`grading: {due: …, late: {per_day: 10%, max_days: 3}}`: each day or part of a day after
    the due time takes per_day of the total; later than max_days, the submission is not
    accepted (0). Only a `submitted` field or the export's timestamp column counts (a file's
    time changes when it is copied or downloaded)."""
    if rubric.due is None or result.submitted is None or result.submitted <= rubric.due:
        return
    days = math.ceil((result.submitted - rubric.due).total_seconds() / 86400.0)
    if rubric.late_max_days is not None and days > rubric.late_max_days:
        result.factor = 0.0
        result.adjustments.append(f"late {days} day(s), more than {rubric.late_max_days}: "
                                  f"not accepted (0)")
        return
    cut = min(1.0, days * rubric.late_per_day)
    result.factor *= 1.0 - cut
    result.adjustments.append(f"late {days} day(s): −{100 * cut:g}%")


def exclusion(result: StudentResult, not_on_roster: bool = False) -> str:
    """Why a result is left out of the class statistics ("" when it counts): unreadable,
    a duplicate the policy does not grade, not on the roster, or nothing answered."""
    if result.unreadable:
        return "unreadable"
    if result.duplicate:
        return "duplicate"
    if not_on_roster:
        return "not on the roster"
    if result.questions and all(q.kind == "blank" for q in result.questions):
        return "empty (nothing answered)"
    return ""
