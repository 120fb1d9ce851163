"""The Python API behind the CLI: load_problem and solve (no click, no rich)."""
from __future__ import annotations

from pathlib import Path

from .problem import Problem, load_problem, parse_problem  # noqa: F401  (re-exported)
from .solution import Solution


def solve(problem: Problem | str | Path) -> Solution:
    """Forward pass and reverse-mode autograd of `problem` (a Problem or a path to a YAML file)."""
    from . import autograd
    from .network import forward_names, leaf_values

    if not hasattr(problem, "kind"):
        problem = load_problem(problem)
    graph, out, steps = autograd.run(problem)
    # every named quantity, then the unnamed intermediate gates (t1, t2 …) of expressions
    names = forward_names(problem)
    names += [n.name for n in graph.nodes if n.role == "op" and n.name not in names]
    forward = {n: graph.by_name[n].value for n in names}
    formulas = {n: graph.by_name[n].formula for n in names}
    grads = graph.gradients()
    gradients = {n: grads[n] for n in names}
    return Solution(problem, forward, formulas, gradients, steps, out.name,
                    list(leaf_values(problem)))
