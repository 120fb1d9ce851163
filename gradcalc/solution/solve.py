"""The autograd solve: forward values, backward steps and gradients of a problem as a Solution."""
from __future__ import annotations

from gradcalc.derive import autograd
from gradcalc.graph.network import forward_names, leaf_values
from gradcalc.solution import diagnostics, matrixforms
from gradcalc.solution.model import Solution


MATRIX_MAX_STEPS = 400   # operations of a graph beyond which the matrix forms are left out


def solve_autograd(problem) -> Solution:
    """Forward pass and reverse-mode autograd of a loaded problem, with the rnn diagnostics of
    networks with rnn layers (the independent derivations and the SGD update are added by
    gradcalc.api.solve)."""
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
    diagnostics.attach(sol, graph)     # rnn layers: BPTT gradients, vanishing/exploding
    # the composed closed forms nest once per step: a chain of hundreds of steps (an rnn over
    # T = 1,000, a 500-step expression) is solved and drawn without them (trying cost 640 MB
    # and seconds before the recursion limit at T = 5,000)
    sol.matrix = None
    if sum(n.op is not None for n in graph.nodes) <= MATRIX_MAX_STEPS:
        try:
            sol.matrix = matrixforms.build(sol, graph, out)   # the steps in matrix notation
        except RecursionError:
            sol.matrix = None
    return sol
