"""Benchmark of issue 15: a least-squares expression problem with X of 200×20,
L = ‖Xw − y‖² + λ‖w‖², checked with all three methods (`gradcalc check FILE`: autograd, SymPy
on the elementwise forward forms, central differences; 4,221 differentiated entries), whole
process, beside `python -c "import sympy"` under the check's process settings (the cyclic
garbage collector off, OPENBLAS_NUM_THREADS=1), timed alternately, median of the runs.
Target: under 2× that import.

    python bench/bench_exprarray.py            # about 20 s
    python bench/bench_exprarray.py --runs 3

The check's exit status and its verdict ("agree") are tested before anything is timed.
"""
from __future__ import annotations

import argparse
import os
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


def once(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
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
        ours, base = [], []
        for _ in range(args.runs):
            ours.append(once(check))
            base.append(once(IMPORT))
        phases = subprocess.run([PY, "-c", PHASES, str(path)], cwd=ROOT, env=ENV,
                                capture_output=True, text=True).stdout.strip()
    a, b = statistics.median(ours), statistics.median(base)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.runs} runs each, alternating")
    print(f"gradcalc check (X 200×20, three methods): median {a:.2f} s (min {min(ours):.2f})")
    print(f"python -c 'import sympy' (same settings):  median {b:.2f} s (min {min(base):.2f})")
    print(f"ratio {a / b:.2f}× (target < 2×): {'met' if a / b < 2 else 'NOT met'}")
    print(phases)


if __name__ == "__main__":
    main()
