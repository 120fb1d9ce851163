"""What the readable matrix forms of an expression problem cost (issue 15 item 3): the closed
forms of the 200×20 least-squares problem of bench_exprarray.py, made in one process after a
solve, CPU time, first call (SymPy's lazy imports included) and min/median of the later ones;
with SymPy (matrix calculus and entrywise algebra: the default solve) and without it (the
SymPy-free simplifier: `solve --method autograd`).

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


def forms_cpu(sol, graph_out, sympy: bool) -> float:
    from gradcalc.solution import matrixforms
    t = time.process_time()
    forms = matrixforms.build(sol, *graph_out, sympy=sympy).forms
    spent = time.process_time() - t
    assert all(f.verified for f in forms.values())
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
    with_sympy, without = [], []
    for _ in range(args.runs):                 # interleaved
        with_sympy.append(forms_cpu(sol, (graph, out), True))
        without.append(forms_cpu(sol, (graph, out), False))
    sources = {k: f.source for k, f in matrixforms_of(sol, graph, out).items()}
    print(f"closed forms of least squares, X 200×20 ({args.runs} interleaved runs, CPU ms; "
          f"load {os.getloadavg()[0]:.1f})")
    print(f"  with SymPy's matrix calculus: first {first * 1e3:.1f}, "
          f"min {min(with_sympy) * 1e3:.1f}, median {statistics.median(with_sympy) * 1e3:.1f}")
    print(f"  without SymPy (--method autograd): min {min(without) * 1e3:.1f}, "
          f"median {statistics.median(without) * 1e3:.1f}")
    print(f"  shown: {sources}")


def matrixforms_of(sol, graph, out):
    from gradcalc.solution import matrixforms
    return matrixforms.build(sol, graph, out, sympy=True).forms


if __name__ == "__main__":
    main()
