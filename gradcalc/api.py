"""The Python API behind the CLI: load_problem, solve and check (no click, no rich)."""
from __future__ import annotations

from pathlib import Path

from gradcalc.problem.load import Problem, load_problem, parse_problem  # noqa: F401  (re-exported)
from gradcalc.solution.model import Solution


METHODS = {"autograd": (), "symbolic": ("symbolic",), "numeric": ("numeric",),
           "all": ("symbolic", "numeric")}


def solve(problem: Problem | str | Path, method: str = "autograd", *,
          symbolic_limit: int | None = None, exact: bool = False,
          h: float | None = None, update_steps: int | None = None) -> Solution:
    """Forward pass and reverse-mode autograd of `problem` (a Problem or a path to a YAML file).

    `method` "symbolic", "numeric" or "all" also runs the independent derivations (SymPy, central
    differences) and puts "methods", "agreement" and "formulas" into `extras` (gradcalc.compare).
    With an `optimizer:` section, extras["update"] holds the SGD update (`update_steps` full-batch
    steps, default 1; gradcalc.optim)."""
    from gradcalc.derive import autograd
    from gradcalc.graph.network import forward_names, leaf_values

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not hasattr(problem, "kind"):
        problem = load_problem(problem)
    graph, out, steps = autograd.run(problem)
    # network problems: the named quantities; expressions: values, then every gate (named
    # steps and unnamed t1, t2 …) in creation order, which reads top-down like the lecture
    names = forward_names(problem)
    if problem.kind == "expression":
        names = list(problem.values) + [n.name for n in graph.nodes if n.role == "op"]
        names = list(dict.fromkeys(names))
    forward = {n: graph.by_name[n].value for n in names}
    formulas = {n: graph.by_name[n].formula for n in names}
    grads = graph.gradients()
    gradients = {n: grads[n] for n in names}
    sol = Solution(problem, forward, formulas, gradients, steps, out.name,
                   list(leaf_values(problem)))
    if problem.kind == "network" and any(layer.type != "dense" for layer in problem.layers):
        from gradcalc.solution.diagnostics import attach   # conv / pool / rnn: extra tables, rnn diagnostics
        attach(sol, graph)
    if "optimizer" in (problem.raw or {}):
        from gradcalc.train.optim import attach_update   # the SGD update: one step, or K full-batch steps
        attach_update(sol, update_steps)
    if METHODS[method]:
        from gradcalc.compare.methods import attach as attach_methods
        attach_methods(sol, METHODS[method], symbolic_limit=symbolic_limit, exact=exact, h=h)
    return sol


def check(problem: Problem | str | Path, **options):
    """Autograd against SymPy and central differences -> gradcalc.compare.CheckReport
    (options: symbolic_limit, h, richardson, sample, seed, exact, tolerances)."""
    from gradcalc.compare.methods import check_problem
    return check_problem(problem if hasattr(problem, "kind") else load_problem(problem),
                         **options)
