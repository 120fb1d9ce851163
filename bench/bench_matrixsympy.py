"""What the readable matrix forms of an expression problem cost (issue 15 item 3): the closed
forms of the 200×20 least-squares problem of bench_exprarray.py, made in one process after a
solve, CPU time, first call (SymPy's lazy imports included) and min/median of the later ones:
as the default solve makes them (SymPy's entrywise algebra; its matrix calculus only for a form
that keeps entrywise operations, none here); with SymPy's matrix calculus asked for every
variable (as before session 5: `entrywise` forced true); and without SymPy (the SymPy-free
simplifier: `solve --method autograd`).

    python bench/bench_matrixsympy.py            # a few seconds
    python bench/bench_matrixsympy.py --runs 21
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def forms_cpu(sol, graph_out, sympy: bool, calculus: bool = False) -> float:
    from gradcalc.solution import matrixforms
    own = matrixforms.entrywise
    if calculus:
        matrixforms.entrywise = lambda term: True
    try:
        t = time.process_time()
        forms = matrixforms.build(sol, *graph_out, sympy=sympy).forms
        spent = time.process_time() - t
    finally:
        matrixforms.entrywise = own
    assert all(f.verified for f in forms.values())
    assert calculus == any(f.source == "sympy-matrix" for f in forms.values())
    return spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    args = ap.parse_args()
    import bench_exprarray
    from gradcalc.api import solve
    from gradcalc.derive import autograd

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ls.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(bench_exprarray.problem(), fh, sort_keys=False)
        sol = solve(path)
    graph, out, _ = autograd.run(sol.problem)
    first = forms_cpu(sol, (graph, out), True)
    first_calc = forms_cpu(sol, (graph, out), True, calculus=True)
    with_sympy, calc, without = [], [], []
    for _ in range(args.runs):                 # interleaved
        with_sympy.append(forms_cpu(sol, (graph, out), True))
        calc.append(forms_cpu(sol, (graph, out), True, calculus=True))
        without.append(forms_cpu(sol, (graph, out), False))
    sources = {k: f.source for k, f in matrixforms_of(sol, graph, out).items()}
    print(f"closed forms of least squares, X 200×20 ({args.runs} interleaved runs, CPU ms; "
          f"load {os.getloadavg()[0]:.1f})")
    print(f"  as the default solve (SymPy's algebra): first {first * 1e3:.1f}, "
          f"min {min(with_sympy) * 1e3:.1f}, median {statistics.median(with_sympy) * 1e3:.1f}")
    print(f"  SymPy's matrix calculus asked for every variable: first {first_calc * 1e3:.1f}, "
          f"min {min(calc) * 1e3:.1f}, median {statistics.median(calc) * 1e3:.1f}")
    print(f"  without SymPy (--method autograd): min {min(without) * 1e3:.1f}, "
          f"median {statistics.median(without) * 1e3:.1f}")
    print(f"  shown: {sources}")


def matrixforms_of(sol, graph, out):
    from gradcalc.solution import matrixforms
    return matrixforms.build(sol, graph, out, sympy=True).forms


if __name__ == "__main__":
    main()
