"""Benchmark of issue 15: a least-squares expression problem with X of 200×20,
L = ‖Xw − y‖² + λ‖w‖², checked with all three methods (`gradcalc check FILE`: autograd, SymPy
on the elementwise forward forms, central differences; 4,221 differentiated entries), whole
process, beside `python -c "import sympy"` under the check's process settings (the cyclic
garbage collector off, OPENBLAS_NUM_THREADS=1), timed alternately, median of the runs: wall
time and CPU time (user + sys of the process), with the load average.  With --tree DIR the same
check in another checkout (e.g. `git worktree add /tmp/base REV`) is timed in the same rounds.
Target: under 2× that import.

    python bench/bench_exprarray.py            # about 20 s
    python bench/bench_exprarray.py --runs 3
    python bench/bench_exprarray.py --runs 7 --tree /tmp/base

The check's exit status and its verdict ("agree") are tested before anything is timed.
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
import gc, sys, time
gc.disable()
t0 = time.perf_counter()
import sympy, numpy
t1 = time.perf_counter()
from gradcalc.api import load_problem
from gradcalc.compare.methods import check_problem
t2 = time.perf_counter()
p = load_problem(sys.argv[1])
t3 = time.perf_counter()
check_problem(p)
t4 = time.perf_counter()
print(f"in one process: import sympy+numpy {t1 - t0:.2f} s, gradcalc {t2 - t1:.2f} s, "
      f"load the YAML {t3 - t2:.2f} s, the three methods {t4 - t3:.2f} s")
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
        done = subprocess.run(check, cwd=ROOT, env=ENV, capture_output=True, text=True)
        if done.returncode != 0 or "Agreement: agree" not in done.stdout:
            sys.exit(f"the check did not agree (exit {done.returncode}):\n{done.stdout[-2000:]}"
                     f"{done.stderr[-2000:]}")
        once(IMPORT)                        # bytecode and file cache warm for both
        if args.tree:
            once(check, args.tree)
        ours, base, other = [], [], []
        load0 = os.getloadavg()[0]
        for _ in range(args.runs):
            ours.append(once(check))
            base.append(once(IMPORT))
            if args.tree:
                other.append(once(check, args.tree))
        load1 = os.getloadavg()[0]
        phases = subprocess.run([PY, "-c", PHASES, str(path)], cwd=ROOT, env=ENV,
                                capture_output=True, text=True).stdout.strip()
    a, b = statistics.median(r[0] for r in ours), statistics.median(r[0] for r in base)
    print(f"load average {load0:.1f} -> {load1:.1f}; {args.runs} runs each, alternating")
    print(_line("gradcalc check (X 200×20, three methods)", ours, base))
    if args.tree:
        print(_line(f"the same in {args.tree}", other, base))
    print(_line("python -c 'import sympy' (same settings)", base, base))
    print(f"ratio {a / b:.2f}× (wall; target < 2×): {'met' if a / b < 2 else 'NOT met'}")
    print(phases)


if __name__ == "__main__":
    main()
