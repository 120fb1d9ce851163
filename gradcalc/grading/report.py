"""A graded class: per-question statistics, identical wrong answers, and grading many submissions."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gradcalc.grading.key import AnswerKey, StudentResult
from gradcalc.grading.rubric import Rubric


MATCH_MIN = 3     # answered submissions before "nothing matched" is an error (exit 1)


@dataclass
class QuestionStats:
    name: str
    points: float
    n: int = 0
    total: float = 0.0
    counts: Counter = field(default_factory=Counter)     # kind -> students
    mistakes: Counter = field(default_factory=Counter)   # mistake key -> students
    wrong: Counter = field(default_factory=Counter)      # wrong value key -> students
    diagnosis: dict = field(default_factory=dict)        # wrong value key -> mistake key or ""
    discrimination: float | None = None   # correlation of the score with the rest of the total

    def common_wrong(self) -> tuple[str, int, str] | None:
        """(value, students, mistake key or "") of the most common wrong answer."""
        if not self.wrong:
            return None
        key, n = min(self.wrong.items(), key=lambda kv: (-kv[1], kv[0]))
        return key.split("=", 1)[1], n, self.diagnosis.get(key, "")

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def share(self, kind: str) -> float:
        return 100.0 * self.counts[kind] / self.n if self.n else 0.0


@dataclass
class ClassReport:
    """The graded class, sorted by student id: what the outputs are rendered from."""

    title: str
    rubric: Rubric
    results: list[StudentResult]
    stats: list[QuestionStats]
    clusters: list[tuple[str, list[str]]]      # (question=value, students) of identical wrong answers
    pairs: list[tuple[str, str, int]]          # students sharing several identical wrong answers
    set_aside: list = field(default_factory=list)   # (student, file, why): duplicates not graded

    @property
    def counted(self) -> list[StudentResult]:
        """The results the statistics are made of (not excluded: see grading.policy)."""
        return [r for r in self.results if not r.excluded]

    @property
    def excluded(self) -> list[StudentResult]:
        return [r for r in self.results if r.excluded]

    @property
    def totals(self) -> list[float]:
        return [r.total for r in self.results if not r.excluded]

    def nothing_matched(self) -> bool:
        """A wrong problem file, key or tolerance: no submission answered any question of this
        problem although some named quantities it does not have, or at least MATCH_MIN
        submissions answered and not one answer is right, partly right or consistent."""
        readable = [r for r in self.results if not r.unreadable and not r.duplicate]
        answered = [r for r in readable if any(q.kind != "blank" for q in r.questions)]
        if not answered:
            return any(p.startswith("unknown quantit") for r in readable for p in r.problems)
        ok = ("correct", "partial", "follow_through")
        return len(answered) >= MATCH_MIN and not any(
            q.kind in ok for r in answered for q in r.questions)

    def low_questions(self) -> list[QuestionStats]:
        """Questions whose class mean is under warn_below of their points."""
        low = self.rubric.warn_below
        return [st for st in self.stats if st.n and st.points > 0 and st.mean < low * st.points]


def sort_key(r: StudentResult):
    return (r.student.casefold(), r.student, r.source)


def summarize(title: str, rubric: Rubric, results: list[StudentResult]) -> ClassReport:
    results = sorted(results, key=sort_key)
    stats = [QuestionStats(q.name, q.points) for q in rubric.questions]
    by_cluster: dict[str, list[str]] = {}
    for r in results:
        if r.excluded:
            continue        # listed apart; never in the statistics (nor a copying cluster)
        for st, qr in zip(stats, r.questions):
            st.n += 1
            st.total += qr.score
            st.counts[qr.kind] += 1
            if qr.mistake:
                st.mistakes[qr.mistake[0]] += 1
            if qr.wrong_value:
                st.wrong[qr.wrong_value] += 1
                if qr.wrong_value not in st.diagnosis:
                    st.diagnosis[qr.wrong_value] = qr.mistake[0] if qr.mistake else ""
            if qr.cluster:
                by_cluster.setdefault(qr.cluster, [])
                if r.student not in by_cluster[qr.cluster]:
                    by_cluster[qr.cluster].append(r.student)
    order = {q.name: i for i, q in enumerate(rubric.questions)}
    clusters = [(k, v) for k, v in by_cluster.items() if len(v) >= 2]
    clusters.sort(key=lambda kv: (-len(kv[1]), order.get(kv[0].split("=", 1)[0], 0), kv[0]))
    shared: Counter = Counter()
    for _, members in clusters:
        if len(members) > 50:
            continue   # a very common wrong answer says nothing about pairs
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                shared[tuple(sorted((a, b)))] += 1
    pairs = sorted(((a, b, k) for (a, b), k in shared.items() if k >= 2),
                   key=lambda t: (-t[2], t[0], t[1]))
    _discrimination(stats, [r for r in results if not r.excluded])
    return ClassReport(title, rubric, results, stats, clusters, pairs)


def _discrimination(stats: list[QuestionStats], counted: list[StudentResult]) -> None:
    """Per question, the correlation (Pearson) of its score with the rest of the total over the
    counted students: high when the students who do well overall get it right. None for
    fewer than 3 students or when either side does not vary."""
    import numpy as np
    if len(counted) < 3 or not stats:
        return
    S = np.array([[q.score for q in r.questions] for r in counted], dtype=float)
    rest = S.sum(axis=1, keepdims=True) - S
    for j, st in enumerate(stats):
        a, b = S[:, j] - S[:, j].mean(), rest[:, j] - rest[:, j].mean()
        den = float(np.sqrt((a * a).sum() * (b * b).sum()))
        st.discrimination = float((a * b).sum() / den) if den > 1e-12 else None


def grade_paths(problem, paths, rubric: Rubric | None = None, *, overrides=None, roster=None,
                roster_key: str | None = None) -> ClassReport:
    """The Python API: grade every answer file under `paths` against `problem`, under the same
    policies as `gradcalc grade`: the rubric's duplicates, due date and late penalty, an
    `overrides` file (manual regrades) and a `roster` (a path or a parsed grading.roster.Roster:
    names for files without one; students not on it are left out of the statistics).  The
    report's `set_aside` lists the copies the duplicates policy did not grade."""
    from gradcalc.grading.answerfiles import find_answer_files, read_file
    from gradcalc.grading.classpolicy import ClassPolicy, grade_class
    from gradcalc.grading.submissions import flag_duplicates
    from gradcalc.api import load_problem
    problem_path = None
    if not hasattr(problem, "kind"):
        problem_path, problem = problem, load_problem(problem)
    key = AnswerKey(problem, rubric)
    inputs = {p: what for p, what in ((problem_path, "the problem file"),
                                      (overrides, "the overrides file"), (roster, "the roster"))
              if isinstance(p, (str, Path))}
    if isinstance(roster, (str, Path)):
        from gradcalc.grading.roster import parse_roster, read_roster_bytes
        roster = parse_roster(read_roster_bytes(str(roster)), str(roster))
    policy = ClassPolicy(key.rubric, key.schema, overrides and str(overrides), roster, roster_key)
    files, _ = find_answer_files(paths, inputs=inputs)   # never the roster or overrides file
    subs = [s for path, base in files for s in read_file(path, key.schema, base)]
    flag_duplicates(subs)
    results, set_aside = grade_class(subs, lambda sub: key, policy)
    report = summarize(problem.title, key.rubric, results)
    report.set_aside = set_aside
    return report
