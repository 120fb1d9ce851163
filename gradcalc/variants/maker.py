"""Making a student's variant: redraws until well-posed, reference answers and the rubric."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcalc.errors import GradcalcError, ProblemError, UsageError
from gradcalc.variants.draw import draw_values, fill, normalize_id, nudged_values
from gradcalc.variants.template import Template, error_at
from gradcalc.variants.wellposed import CONSTRAINTS, Rejection, check_well_posed


@dataclass
class Variant:
    """One student's concrete problem and how many draws it took."""

    student: str
    problem: Any                           # NetworkProblem | ExpressionProblem
    data: dict                             # the concrete document (no `variants` section)
    draws: int                             # 1 = the first draw was well-posed
    rejections: dict[str, int] = field(default_factory=dict)   # constraint -> count
    _solution: Any = field(default=None, repr=False)
    # (graph, output node) from the well-posedness check, reused by the grader's answer key
    _built: Any = field(default=None, repr=False, compare=False)

    def solution(self):
        """The autograd solution of this variant (computed once)."""
        if self._solution is None:
            from gradcalc.api import solve
            self._solution = solve(self.problem)
        return self._solution


# ---------------------------------------------------------------- the asked answers
def answer_value(forward: dict, gradients: dict, name: str):
    """The reference value of a question name: a forward quantity, or dX for a gradient."""
    if name in forward:
        return forward[name]
    for prefix in ("dL/d", "∂L/∂", "d"):
        if name.startswith(prefix) and name[len(prefix):] in gradients:
            return gradients[name[len(prefix):]]
    return None


def reference_answers(variant: Variant, questions) -> dict:
    """name -> reference value of each question, from the variant's solution."""
    sol = variant.solution()
    out = {}
    for q in questions:
        v = answer_value(sol.forward, sol.gradients, q.name)
        if v is not None:
            out[q.name] = v
    return out


def rubric_of(problem):
    """The grading rubric of a concrete problem (gradcalc.grading validates it; its errors point
    at the template's lines). Numbers do not change it, so one per template is enough."""
    from gradcalc.grading.key import AnswerKey
    return AnswerKey(problem, lazy=True).rubric     # (no mistake variants needed for it)


# ---------------------------------------------------------------- making a variant
class VariantMaker:
    """Makes the well-posed variant of any student from one template (rubric loaded once)."""

    def __init__(self, template: Template, rubric=None):
        self.template = template
        self.rubric = rubric

    @property
    def questions(self) -> tuple:
        return tuple(self.rubric.questions) if self.rubric is not None else ()

    def make(self, student) -> Variant:
        """Redraw until every constraint holds; draws are numbered 1, 2, …"""
        from gradcalc.derive import autograd
        from gradcalc.errors import DomainError
        from gradcalc.problem.load import problem_from_located
        from gradcalc.problem.yamlio import Located

        tmpl = self.template
        student = normalize_id(student)
        if not student:
            raise UsageError("a student id cannot be empty")
        rejections: dict[str, int] = {}
        last: dict[str, str] = {}
        tries = tmpl.options.max_draws if tmpl.is_random else 1
        for draw in range(1, tries + 1):
            drawn = draw_values(tmpl, student, draw) if tmpl.is_random else {}
            data = fill(tmpl, drawn)
            # the template's line map: an error in a drawn document points at the template
            loc = Located(data=data, file=tmpl.file, lines=tmpl.located.lines)
            try:
                problem = problem_from_located(loc)
            except ProblemError as exc:
                if tmpl.is_random:
                    exc.message += f" (in the variant drawn for student {student})"
                raise
            if self.rubric is None:
                self.rubric = rubric_of(problem)
            if not tmpl.is_random:
                return Variant(student, problem, data, 1, {})
            try:
                graph, out, _ = autograd.run(problem, record=False)
            except DomainError as exc:
                rej = Rejection("domain", str(exc.message))
            else:
                rej = check_well_posed(problem, tmpl.options, self.questions, graph=graph,
                                       nudged=lambda: self._nudged_graph(drawn))
            if rej is None:
                return Variant(student, problem, data, draw, rejections, _built=(graph, out))
            rejections[rej.constraint] = rejections.get(rej.constraint, 0) + 1
            last.setdefault(rej.constraint, rej.message)
        raise _unsatisfiable(tmpl, student, rejections, last)

    def _nudged_graph(self, drawn: dict):
        """The graph of this draw with its drawn numbers moved by a hair, or None."""
        from gradcalc.derive import autograd
        from gradcalc.problem.load import problem_from_located
        from gradcalc.problem.yamlio import Located
        tmpl = self.template
        for whole in (True, False):      # whole-number draws may be labels: then keep them
            loc = Located(data=fill(tmpl, nudged_values(tmpl, drawn, whole)), file=tmpl.file,
                          lines=tmpl.located.lines)
            try:
                return autograd.run(problem_from_located(loc), record=False)[0]
            except GradcalcError:
                continue
        return None


def _unsatisfiable(template, student, rejections, last) -> ProblemError:
    worst = max(rejections, key=lambda c: rejections[c])
    parts = [f"{c} ×{n}" for c, n in sorted(rejections.items(), key=lambda kv: -kv[1])]
    path = ("variants", "max_draws") if "max_draws" in (template.located.data.get("variants") or {}) \
        else ("variants",)
    return error_at(template, path,
                    f"no well-posed draw for student {student} in {template.options.max_draws} draws: "
                    f"the {worst} constraint failed most often, e.g. {last[worst]} "
                    f"(rejections: {', '.join(parts)}); widen the random ranges or relax "
                    f"{CONSTRAINTS[worst]}")

