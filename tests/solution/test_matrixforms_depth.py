"""A long rnn's matrix forms near the recursion limit: a solve's JSON is written or the forms are
left out (as `MatrixReport.forms` does on a RecursionError), never a failed solve.

Found with an rnn of H = 1 over T = 320 steps (bench/bench_graph.rnn_problem): since 54d894f
keeps a term's plain text once printed, the composed forms are made at a stack depth where
their LaTeX (MatrixForm.latex, printed recursively and not cached) is not, so
`gradcalc solve P --format json` and `--html` exited 2 ("nested too deeply"); the LaTeX is now
printed with more recursion room than the text it follows.  The depth at which
this happens depends on the stack left to the call, so the test asks for the JSON with a range
of recursion limits above the caller's depth."""
from __future__ import annotations

import sys

from gradcalc.api import parse_problem
from gradcalc.solution.solve import solve_autograd


def _rnn(T: int) -> str:
    rows = "\n".join(f"  - [{0.01 * (t % 7) - 0.03:.2f}]" for t in range(T))
    return (f"title: rnn T={T}\ninput:\n{rows}\nlayers:\n  - type: rnn\n    Wxh: [[0.5]]\n"
            "    Whh: [[0.9]]\n    b: [0.0]\n    h0: [0.1]\n    activation: tanh\n"
            "    return: last\n  - W: [[1.0]]\n    b: [0.0]\nloss:\n  type: mse\n"
            "  target: [0.5]\n")


def _depth() -> int:
    frame, n = sys._getframe(), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def test_json_of_a_long_rnn_at_any_stack_depth():
    problem = parse_problem(_rnn(320))
    old = sys.getrecursionlimit()
    made = 0
    try:
        for room in range(940, 1000, 3):       # frames left above this one
            sol = solve_autograd(problem)
            sys.setrecursionlimit(_depth() + room)
            try:
                out = sol.to_dict()
            finally:
                sys.setrecursionlimit(old)
            forms = out.get("matrix_forms", {})
            made += bool(forms)
            # the forms, when present, come with their LaTeX
            assert all(f["latex"] for f in forms.values())
    finally:
        sys.setrecursionlimit(old)
    assert made      # with room enough, the forms are made (the test reached them)
