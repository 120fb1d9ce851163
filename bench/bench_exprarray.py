"""Benchmark of issue 15: a least-squares expression problem with X of 200×20,
L = ‖Xw − y‖² + λ‖w‖², solved with all three methods (`gradcalc solve FILE`, the default
--method all, text report piped: autograd, SymPy on the elementwise forward forms, central
differences over 4,221 differentiated entries, the tables, the matrix forms) and checked
(`gradcalc check FILE`, the same three methods without the report), whole process, beside
`python -c "import sympy"` under the commands' process settings (the cyclic garbage collector
off, OPENBLAS_NUM_THREADS=1), timed alternately, median of the runs: wall time and CPU time
(user + sys of the process), with the load average.  With --tree DIR the same commands in
another checkout (e.g. `git worktree add /tmp/base REV`) are timed in the same rounds.
Target (issue 15): the solve under 2× that import.

    python bench/bench_exprarray.py            # about 30 s
    python bench/bench_exprarray.py --runs 3
    python bench/bench_exprarray.py --runs 7 --tree /tmp/base

The check's exit status and verdict ("agree") and the solve's exit status and three-method
table are tested before anything is timed.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "OPENBLAS_NUM_THREADS": "1"}
IMPORT = [PY, "-c", "import gc; gc.disable(); import sympy"]


def problem(rows=200, cols=20, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols)).round(3)
    w_true = rng.normal(size=cols)
    y = (X @ w_true + 0.1 * rng.normal(size=rows)).round(3)
    return {"title": f"least squares, X {rows}×{cols}",
            "expression": {"r": "X @ w - y", "L": "sum(r^2) + lam * norm(w)**2"},
            "values": {"X": X.tolist(), "w": (0.5 * w_true).round(3).tolist(), "y": y.tolist(),
                       "lam": 0.1}}


PHASES = """
import gc, io, sys, time
gc.disable()
t0 = time.perf_counter()
import sympy, numpy
t1 = time.perf_counter()
import click, yaml
from gradcalc.api import load_problem, solve
from gradcalc.render.console import print_tables
from gradcalc.render.solvetables import solve_tables
t2 = time.perf_counter()
p = load_problem(sys.argv[1])
t3 = time.perf_counter()
sol = solve(p, "all")
t4 = time.perf_counter()
sol.matrix.forms
t5 = time.perf_counter()
print_tables(solve_tables(sol, "en", 4, True), file=io.StringIO())
t6 = time.perf_counter()
print(f"solve in one process: import sympy+numpy {t1 - t0:.3f} s, click+yaml+gradcalc "
      f"{t2 - t1:.3f} s, load the YAML {t3 - t2:.3f} s, the three methods {t4 - t3:.3f} s, "
      f"matrix forms {t5 - t4:.3f} s, tables and printing {t6 - t5:.3f} s")
"""


def once(cmd, cwd=ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + sys of the child)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def _line(label: str, runs: list, base: list) -> str:
    w, c = [r[0] for r in runs], [r[1] for r in runs]
    bw, bc = (statistics.median(r[i] for r in base) for i in (0, 1))
    return (f"{label}: wall median {statistics.median(w):.3f} s (min {min(w):.3f}), CPU median "
            f"{statistics.median(c):.3f} s (min {min(c):.3f}); ratio to the import: wall "
            f"{statistics.median(w) / bw:.2f}×, CPU {statistics.median(c) / bc:.2f}×")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tree", help="another checkout whose check is timed in the same rounds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "least_squares_200x20.yaml"
        path.write_text(yaml.safe_dump(problem(), sort_keys=False))
        check = [PY, "-m", "gradcalc", "check", str(path)]
        solve = [PY, "-m", "gradcalc", "solve", str(path)]
        done = subprocess.run(check, cwd=ROOT, env=ENV, capture_output=True, text=True)
        if done.returncode != 0 or "Agreement: agree" not in done.stdout:
            sys.exit(f"the check did not agree (exit {done.returncode}):\n{done.stdout[-2000:]}"
                     f"{done.stderr[-2000:]}")
        done = subprocess.run(solve, cwd=ROOT, env=ENV, capture_output=True, text=True)
        if done.returncode != 0 or "Three derivations" not in done.stdout or \
                "symbolic method skipped" in done.stdout:
            sys.exit(f"the solve failed (exit {done.returncode}):\n{done.stdout[-2000:]}"
                     f"{done.stderr[-2000:]}")
        once(IMPORT)                        # bytecode and file cache warm for both
        if args.tree:
            once(solve, args.tree)
        runs = {"solve": [], "check": [], "import": [], "tree solve": [], "tree check": []}
        load0 = os.getloadavg()[0]
        for _ in range(args.runs):
            runs["solve"].append(once(solve))
            runs["import"].append(once(IMPORT))
            runs["check"].append(once(check))
            if args.tree:
                runs["tree solve"].append(once(solve, args.tree))
                runs["tree check"].append(once(check, args.tree))
        load1 = os.getloadavg()[0]
        phases = subprocess.run([PY, "-c", PHASES, str(path)], cwd=ROOT, env=ENV,
                                capture_output=True, text=True)
    base = runs["import"]
    print(f"load average {load0:.1f} -> {load1:.1f}; {args.runs} runs each, alternating")
    print(_line("gradcalc solve (X 200×20, three methods, text report)", runs["solve"], base))
    print(_line("gradcalc check (X 200×20, three methods)", runs["check"], base))
    if args.tree:
        print(_line(f"solve in {args.tree}", runs["tree solve"], base))
        print(_line(f"check in {args.tree}", runs["tree check"], base))
    print(_line("python -c 'import sympy' (same settings)", base, base))
    for label in ("solve", "check"):
        w = statistics.median(r[0] for r in runs[label]) / statistics.median(r[0] for r in base)
        c = statistics.median(r[1] for r in runs[label]) / statistics.median(r[1] for r in base)
        verdict = "met" if w < 2 and c < 2 else "NOT met"
        print(f"{label}: ratio wall {w:.2f}×, CPU {c:.2f}× (target < 2×): {verdict}")
    print(phases.stdout.strip() or phases.stderr.strip()[-2000:])


if __name__ == "__main__":
    main()
