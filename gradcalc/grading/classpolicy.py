"""The course's policies applied to one grading run — duplicates, lateness, overrides, the roster —
in one place, so that `gradcalc grade` and the API's `gradcalc.grade` give the same grades."""
from __future__ import annotations

from gradcalc.grading.results import StudentResult
from gradcalc.grading.submissions import Submission


class ClassPolicy:
    """What the rubric, the overrides file and the roster ask of one grading run: `select` the
    submissions to grade (duplicates), `finish` each result (lateness, overrides, the name from
    the roster), then `mark_off_roster` (who is left out of the statistics)."""

    def __init__(self, rubric, schema, overrides_path: str | None = None, roster=None,
                 roster_key: str | None = None):
        self.rubric = rubric
        self.overrides: dict = {}
        self.unused: set = set()
        self.roster, self.roster_key = roster, roster_key
        self.names: dict[str, str] = {}
        if overrides_path:
            from gradcalc.grading.overrides import load_overrides
            for o in load_overrides(overrides_path, rubric, schema):
                self.overrides[(o.student.casefold(), o.question)] = o
            self.unused = {k[0] for k in self.overrides}

    def select(self, subs: list[Submission], key_for) -> tuple[list, list]:
        """The duplicates policy: (submissions to grade, [(student, file, why)] set aside).
        With a roster, its id column is chosen here from the submissions' ids (a --roster-key
        that is not a column stops the run before anything is graded)."""
        from gradcalc.grading.policy import resolve_duplicates

        def total(sub):
            return key_for(sub).grade(sub).total
        kept, aside = resolve_duplicates(subs, self.rubric.duplicates, total)
        if self.roster is not None:
            from gradcalc.grading.roster import match_roster, roster_names
            col, _ = match_roster(self.roster, subs, self.roster_key)
            self.names = roster_names(self.roster, col)
        return kept, [(s.student, s.source, why) for s, why in aside]

    def finish(self, result: StudentResult, sub: Submission) -> None:
        """The policy's grade for one result (before its feedback is written)."""
        from gradcalc.grading.policy import exclusion, late_penalty
        result.submitted = sub.submitted
        if sub.not_graded:        # grade none: every question 0, the status says why
            for q in result.questions:
                q.credit = 0.0
        else:
            late_penalty(result, self.rubric)
        if self.overrides:
            from gradcalc.grading.overrides import apply_overrides
            apply_overrides(result, self.overrides)
            self.unused.discard(result.student.strip().casefold())
        if not result.name:       # the file gave none: the roster's, if it has one
            result.name = self.names.get(result.student.strip().casefold(), "")
        result.excluded = exclusion(result)

    def mark_off_roster(self, results: list[StudentResult]) -> None:
        """Submissions whose id is not on the roster are left out of the statistics."""
        if self.roster is None:
            return
        from gradcalc.grading.roster import match_roster
        col, _ = match_roster(self.roster, results, self.roster_key)
        ids = {row[col].strip().casefold() for row in self.roster.rows if col < len(row)}
        for r in results:
            if not r.excluded and r.student.strip().casefold() not in ids:
                r.excluded = "not on the roster"


def grade_class(subs: list[Submission], key_for, policy: ClassPolicy
                ) -> tuple[list[StudentResult], list]:
    """Every submission graded under the policy: (results, set aside).  `gradcalc grade` runs
    the same steps in the same order, writing each student's feedback as it goes."""
    kept, set_aside = policy.select(subs, key_for)
    results = []
    for sub in kept:
        result = key_for(sub).grade(sub)
        policy.finish(result, sub)
        results.append(result)
    policy.mark_off_roster(results)
    return results, set_aside
