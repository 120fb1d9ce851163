"""One graded student: a QuestionResult per question and the StudentResult with its status."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class QuestionResult:
    """One question of one student. kind: correct, partial, follow_through, mistake, wrong,
    shape, blank, unreadable."""

    name: str
    points: float
    credit: float = 0.0                      # fraction of the points
    kind: str = "blank"
    wrong_entries: tuple = ()                # 0-based indices wrong against the reference
    mistake: tuple | None = None             # (key, params) when a catalogued mistake matches
    upstream: tuple = ()                     # wrong earlier answers this one is consistent with
    rounding: bool = False                   # correct given the student's rounded earlier answers
    ft_full: bool = False                    # every entry consistent with the earlier answers
    given: np.ndarray | None = None
    text: str = ""
    error: str = ""
    interval: tuple | None = None            # (low, high) arrays of the accepted interval
    expected_shape: tuple = ()
    cluster: str = ""                        # identical-wrong-answer key (copying signal)
    wrong_value: str = ""                    # the wrong answer's value key (item analysis)
    override: str = ""                       # a staff override applied (overrides.yaml)
    source: str = ""                         # the answer exactly as written

    @property
    def score(self) -> float:
        return self.points * self.credit

    def release(self) -> None:
        """Drop the arrays once the feedback is written (10,000 students stay small)."""
        self.given = None
        self.interval = None
        self.source = ""


@dataclass
class StudentResult:
    student: str
    name: str
    source: str
    questions: list[QuestionResult]
    problems: list[str] = field(default_factory=list)
    unreadable: str | None = None
    ungraded: tuple = ()                     # valid quantities answered that the rubric does not ask
    duplicate: bool = False
    excluded: str = ""                       # why it is left out of the class statistics
    factor: float = 1.0                      # late penalty (or 0: not graded by the policy)
    adjustments: list = field(default_factory=list)   # late penalty, overrides: the audit trail
    submitted: object = None                 # datetime of the submission, when known

    @property
    def total(self) -> float:
        t = float(sum(q.score for q in self.questions))
        return t * self.factor if self.factor != 1.0 else t

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    @property
    def percent(self) -> float:
        m = self.max_points
        return 100.0 * self.total / m if m else 0.0

    @property
    def status(self) -> str:
        if self.unreadable:
            return f"unreadable: {self.unreadable}"
        parts = list(self.problems)
        blank = [q.name for q in self.questions if q.kind == "blank"]
        if blank and len(blank) == len(self.questions):
            parts.append("nothing answered")
        elif blank:
            parts.append(f"not answered: {', '.join(blank)}")
        bad = [q.name for q in self.questions if q.kind == "unreadable"]
        if bad:
            parts.append(f"unreadable: {', '.join(bad)}")
        return "; ".join(parts) if parts else "ok"
