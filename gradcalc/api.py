"""The Python API behind the CLI: load_problem, solve and check (no click, no rich)."""
from __future__ import annotations

from pathlib import Path

from gradcalc.problem.load import load_problem, parse_problem  # noqa: F401  (re-exported)
from gradcalc.problem.model import Problem  # noqa: F401  (re-exported)
from gradcalc.solution.model import Solution


METHODS = {"autograd": (), "symbolic": ("symbolic",), "numeric": ("numeric",),
           "all": ("symbolic", "numeric")}


def solve(problem: Problem | str | Path, method: str = "autograd", *,
          symbolic_limit: int | None = None, exact: bool = False,
          h: float | None = None, update_steps: int | None = None) -> Solution:
    """Forward pass and reverse-mode autograd of `problem` (a Problem or a path to a YAML file).

    `method` "symbolic", "numeric" or "all" also runs the independent derivations (SymPy, central
    differences) into `comparison` (gradcalc.compare.methods).  With an `optimizer:` section,
    `update` holds the SGD update (`update_steps` full-batch steps, default 1;
    gradcalc.train.optim)."""
    from gradcalc.solution.solve import solve_autograd

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not hasattr(problem, "kind"):
        problem = load_problem(problem)
    sol = solve_autograd(problem)
    if "optimizer" in (problem.raw or {}):
        from gradcalc.train.optim import attach_update   # one step, or K full-batch steps
        attach_update(sol, update_steps)
    if METHODS[method]:
        from gradcalc.compare.methods import attach as attach_methods
        attach_methods(sol, METHODS[method], symbolic_limit=symbolic_limit, exact=exact, h=h)
    return sol


def check(problem: Problem | str | Path, **options):
    """Autograd against SymPy and central differences -> gradcalc.compare.methods.CheckReport
    (options: symbolic_limit, h, richardson, sample, seed, exact, tolerances)."""
    from gradcalc.compare.methods import check_problem
    if not hasattr(problem, "kind"):
        problem = load_problem(problem)
    if options.get("solution") is None:
        options["solution"] = solve(problem)   # with the optimizer section's update, if any
    return check_problem(problem, **options)
