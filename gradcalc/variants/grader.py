"""Grading against variants: each student's own answer key, and the copying signal."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcalc.variants.draw import normalize_id
from gradcalc.variants.maker import VariantMaker
from gradcalc.variants.template import Template


PROBE_ID = "gradcalc-probe"   # any id: answer names and shapes do not depend on the numbers


@dataclass(frozen=True)
class CopySignal:
    """A submission closer to another student's variant than to its own (reported, never scored)."""

    student: str
    source: str
    other: str                 # the student whose variant it matches
    own: int                   # distinguishing entries that match the student's own variant
    matched: int               # … that match the other student's variant
    entries: int               # answered entries that tell the two variants apart

    def text(self) -> str:
        return (f"copying signal: the answers match the variant of student {self.other} better "
                f"than their own ({self.matched} vs {self.own} of {self.entries} entries that "
                f"differ between the two; or a mistyped id)")


class VariantGrader:
    """`gradcalc grade --variants`: the answer key of each student's own variant (reference and
    mistake variants built once per variant), and the copying signal."""

    def __init__(self, template: Template):
        from gradcalc.grading.key import AnswerKey
        self.template = template
        self.maker = VariantMaker(template)
        probe = self.maker.make(PROBE_ID)       # loads and validates the rubric once
        # without random numbers every student has this problem: the probe is everyone's key
        self.probe = AnswerKey(probe.problem, self.maker.rubric, lazy=template.is_random,
                               built=probe._built)
        self._refs: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # id -> (reference, tolerance)
        # (question, entries) in the rubric's order: the same for every variant
        self._sizes = [(q.name, self.probe.reference[q.name].size) for q in self.rubric.questions]
        self._last: tuple[str, Any] | None = None

    @property
    def schema(self):
        return self.probe.schema

    @property
    def rubric(self):
        return self.probe.rubric

    @property
    def problem(self):
        return self.probe.problem

    def key_for(self, submission):
        """The AnswerKey of the submission's own variant (regenerated from its student id)."""
        from gradcalc.grading.key import AnswerKey
        if not self.template.is_random:
            return self.probe
        sid = normalize_id(submission.student) or PROBE_ID
        if self._last is not None and self._last[0] == sid:
            return self._last[1]
        variant = self.maker.make(sid)
        key = AnswerKey(variant.problem, self.rubric, lazy=True, built=variant._built)
        self._refs.setdefault(sid, self._flat(key.reference, key.tolerance))
        self._last = (sid, key)
        return key

    def _flat(self, values: dict, tolerance: dict) -> tuple[np.ndarray, np.ndarray]:
        ref = np.concatenate([np.ravel(values[q.name]) for q in self.rubric.questions])
        tol = np.concatenate([np.ravel(tolerance[q.name]) for q in self.rubric.questions])
        return ref, tol

    def _answers(self, submission) -> np.ndarray:
        """The submission's answers in the rubric's order, NaN where not answered or unusable."""
        parts = []
        for name, size in self._sizes:
            ans = submission.answers.get(name)
            v = getattr(ans, "value", None)
            if v is not None and getattr(ans, "error", None) is None and np.size(v) == size:
                parts.append(np.asarray(v, dtype=float).ravel())
            else:   # a wrong shape (a transposed dW) says nothing about whose numbers were used
                parts.append(np.full(size, np.nan))
        return np.concatenate(parts)

    def copy_signals(self, submissions) -> list[CopySignal]:
        """Submissions that match another student's variant better than their own.

        Only entries on which the two variants differ (beyond the tolerance) count, so shared
        numbers and structural zeros are no evidence; the other variant must match at least
        2 such entries and half of them."""
        if not self.template.is_random:
            return []
        subs = [s for s in submissions if not getattr(s, "unreadable", None)]
        for s in subs:
            sid = normalize_id(s.student)
            if sid and sid not in self._refs:
                self.key_for(s)
        ids = sorted(self._refs)
        ids = [i for i in ids if i != PROBE_ID]
        if len(ids) < 2:
            return []
        R = np.stack([self._refs[i][0] for i in ids])
        T = np.stack([self._refs[i][1] for i in ids])
        row = {sid: k for k, sid in enumerate(ids)}
        out = []
        with np.errstate(invalid="ignore"):
            for s in subs:
                sid = normalize_id(s.student)
                if sid not in row:
                    continue
                a = self._answers(s)
                answered = ~np.isnan(a)
                if answered.sum() < 2:
                    continue
                k = row[sid]
                own_ok = np.abs(a - R[k]) <= T[k]                     # (E,)
                differ = np.abs(R - R[k]) > np.maximum(T, T[k])       # (n, E): tells them apart
                other_ok = np.abs(a - R) <= T                         # (n, E)
                mask = differ & answered
                n_other = (other_ok & mask).sum(axis=1)
                n_own = (own_ok & mask).sum(axis=1)
                total = mask.sum(axis=1)
                score = n_other - n_own
                score[k] = -1
                j = int(np.argmax(score))
                if score[j] > 0 and n_other[j] >= 2 and 2 * n_other[j] >= total[j]:
                    out.append(CopySignal(sid, s.source, ids[j], int(n_own[j]), int(n_other[j]),
                                          int(total[j])))
        return out


def copy_signals_csv(signals: list[CopySignal]) -> str:
    from gradcalc.csvsafe import csv_text   # THE CSV writer: formula escaping, CR quoted
    return csv_text([["student", "source", "matches_variant_of", "matching_own", "matching_other",
                      "distinguishing_entries"]]
                    + [[s.student, s.source, s.other, s.own, s.matched, s.entries]
                       for s in sorted(signals, key=lambda s: (s.student, s.source))],
                    newline="\n")
