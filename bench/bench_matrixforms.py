"""Benchmark: `gradcalc solve problems/hw1.yaml` (all three methods, the matrix forms included)
against `python -c "import sympy"`, whole process, interleaved, median of several runs; target
at most 1.6× the bare SymPy import.  Also, in one process, what building the matrix notation
(every step's products and every closed form, evaluated and checked) adds to the autograd solve
of a few problems, and with --baseline REV the same solve with the package as committed at REV
(before the matrix forms) in the same run.

    python bench/bench_matrixforms.py [--runs 11] [--baseline cea6037]

Python's bytecode cache is on for the child processes (as on a user's machine) and every
command runs once before it is timed.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET = 1.6
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       cwd=cwd, env=ENV)
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed (exit {p.returncode}): {p.stderr[-300:]}")
    return time.perf_counter() - start


def _in_process(names: list[str], reps: int) -> None:
    from gradcalc.api import load_problem
    from gradcalc.derive import autograd
    from gradcalc.solution import matrixforms
    from gradcalc.solution.solve import solve_autograd
    print("\nin one process (best of %d): the autograd solve with the matrix notation, and the "
          "matrix notation alone" % reps)
    for name in names:
        problem = load_problem(ROOT / "problems" / f"{name}.yaml")
        best_solve = best_build = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            sol = solve_autograd(problem)
            best_solve = min(best_solve, time.perf_counter() - t)
            graph, out, _ = autograd.run(problem)
            t = time.perf_counter()
            report = matrixforms.build(sol, graph, out)
            best_build = min(best_build, time.perf_counter() - t)
        n = sum(len(v) for v in report.products.values())
        print(f"  {name:10s} solve {best_solve * 1e3:7.2f} ms, of which matrix notation "
              f"{best_build * 1e3:6.2f} ms ({best_build / best_solve:4.0%}); {n} products, "
              f"{len(report.forms)} closed forms, all verified: "
              f"{all(f.verified for f in report.forms.values()) and not report.mismatches()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="timed runs of each command (median)")
    ap.add_argument("--baseline", default=None,
                    help="a revision before the matrix forms, timed in the same run")
    args = ap.parse_args(argv)
    py = sys.executable
    hw1 = str(ROOT / "problems" / "hw1.yaml")
    # `python -m` imports the package of the folder it runs in: each command runs in its own
    cmds = {"import sympy": ([py, "-c", "import sympy"], ROOT),
            "solve hw1 (all methods, matrix forms)": ([py, "-m", "gradcalc", "solve", hw1], ROOT)}
    tmp = None
    if args.baseline:
        from bench._baseline import export
        tmp = tempfile.TemporaryDirectory()
        src = export(args.baseline, Path(tmp.name) / "src")
        cmds[f"solve hw1 at {args.baseline}"] = ([py, "-m", "gradcalc", "solve", hw1], src)
    for cmd, cwd in cmds.values():        # warm the caches, fail early
        _wall(cmd, cwd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):             # interleaved: machine load hits every command alike
        for k, (cmd, cwd) in cmds.items():
            times[k].append(_wall(cmd, cwd))
    med = {k: statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"whole process, median of {args.runs} interleaved runs (load average {load:.2f}):")
    base = med["import sympy"]
    for k, v in med.items():
        print(f"  {k:40s} {v * 1e3:7.1f} ms   {v / base:5.2f}× import sympy")
    ratio = med["solve hw1 (all methods, matrix forms)"] / base
    print(f"ratio solve/import sympy = {ratio:.2f} (target ≤ {TARGET}): "
          f"{'ok' if ratio <= TARGET else 'OVER'}")
    if tmp is not None:
        before = med[f"solve hw1 at {args.baseline}"]
        print(f"this tree / the tree at {args.baseline} (every change since, not only the matrix "
              f"forms): {med['solve hw1 (all methods, matrix forms)'] / before:.3f}×")
        tmp.cleanup()
    _in_process(["hw1", "batch_ce", "cnn_tiny", "rnn_T3", "rnn_T20", "spiral"], 20)
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
