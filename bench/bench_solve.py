"""Benchmark: whole-process wall time of `gradcalc solve problems/hw1.yaml` against `import numpy`.

Both are measured in the same run, interleaved, as the median of several runs; the figure that
matters is the ratio to `import numpy` run under gradcalc's own process settings (target ≤ 1.3):
`gradcalc solve` sets OPENBLAS_NUM_THREADS=1 before NumPy is imported (unless the user chose a
thread count), turns the cyclic garbage collector off for the rest of the command and freezes
it at exit (gradcalc/cli/__init__.py, program_settings), which makes the NumPy import itself
faster; the baseline gets the same settings.  The import with Python's defaults is printed
beside it.  Peak memory is the largest resident set of a child process
(resource.getrusage(RUSAGE_CHILDREN).ru_maxrss).  Python's bytecode cache is on, as on a user's
machine: PYTHONDONTWRITEBYTECODE is removed for the children, so that gradcalc's modules are not
compiled from source on every run (numpy's are cached at install time).

    python bench/bench_solve.py [--runs 15] [--problem problems/hw1.yaml]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.3
# `import numpy` under the settings gradcalc's program_settings() gives a solve process
SAME_SETTINGS = "import atexit, gc; gc.disable(); atexit.register(gc.freeze); import numpy"
# the floor of the command: it cannot run without NumPy, click (its command line) and PyYAML
FLOOR = SAME_SETTINGS + ", click, yaml"
CPU: dict = {}      # command -> CPU times (user + system) of its runs, from getrusage


ENV = dict(os.environ)


def _same_env() -> dict:
    env = dict(ENV)
    if not any(v in env for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                  "GOTO_NUM_THREADS")):
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def _wall(cmd: list[str], env: dict | None = None) -> float:
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                       env=env or ENV)
    elapsed = time.perf_counter() - start
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(" ".join(cmd), []).append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    if p.returncode != 0:
        tail = p.stderr.strip().splitlines()[-1:] or [""]
        raise SystemExit(f"bench: {' '.join(cmd)} failed (exit {p.returncode}): {tail[0]}")
    return elapsed


def _peak_rss_mib(cmd: list[str]) -> float:
    """ru_maxrss of RUSAGE_CHILDREN is the largest child so far, so measure in a fresh process."""
    code = ("import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True,
                         text=True, cwd=ROOT, env=ENV).stdout
    kib = int(out.strip())
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20   # macOS reports bytes


def _solve_command(problem: str) -> list[str]:
    """`gradcalc solve PROBLEM` with the autograd method alone, when a method option exists."""
    script = Path(sys.executable).with_name("gradcalc")   # the console script, as users run it
    program = [str(script)] if script.exists() else [sys.executable, "-m", "gradcalc"]
    base = program + ["solve", problem]
    help_text = subprocess.run(base[:-1] + ["--help"], capture_output=True, text=True,
                               cwd=ROOT, env=ENV).stdout
    if "--method" in help_text:
        return base + ["--method", "autograd"]
    return base


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs of each command (median)")
    ap.add_argument("--problem", default="problems/hw1.yaml")
    args = ap.parse_args(argv)
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)

    baseline = [sys.executable, "-c", "import numpy"]
    same = [sys.executable, "-c", SAME_SETTINGS]
    floor = [sys.executable, "-c", FLOOR]
    solve = _solve_command(args.problem)
    # warm the file cache and fail early if the command does not work
    for cmd in (baseline, solve):
        _wall(cmd)
    _wall(same, _same_env())
    _wall(floor, _same_env())
    CPU.clear()
    base_t, same_t, solve_t = [], [], []
    for _ in range(args.runs):          # interleaved, so that machine load hits all alike
        base_t.append(_wall(baseline))
        same_t.append(_wall(same, _same_env()))
        solve_t.append(_wall(solve))
        _wall(floor, _same_env())
    b, s = statistics.median(base_t), statistics.median(solve_t)
    b_same = statistics.median(same_t)
    ratio = s / b_same
    rss_base, rss_solve = _peak_rss_mib(baseline), _peak_rss_mib(solve)

    shown = " ".join(["gradcalc"] + solve[solve.index("solve"):])
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs, {args.runs} runs each "
          f"(median wall time of the whole process)")
    numpy_cmd = 'python -c "import numpy"'
    print(f"  {numpy_cmd:<48} {b * 1000:8.1f} ms   peak RSS {rss_base:6.1f} MiB")
    same_label = "the same import under gradcalc's settings"
    print(f"  {same_label:<48} {b_same * 1000:8.1f} ms")
    print(f"  {shown:<48} {s * 1000:8.1f} ms   peak RSS {rss_solve:6.1f} MiB")
    print(f"  ratio solve / import numpy under the same settings: {ratio:.2f}  (target ≤ {TARGET}: "
          f"{'met' if ratio <= TARGET else 'NOT met'}); against the default import: {s / b:.2f}")
    cpu = {k: min(v) for k, v in CPU.items()}
    c_same, c_solve, c_floor = (cpu[" ".join(c)] for c in (same, solve, floor))
    print(f"  CPU time (user + system, minimum of {args.runs}; load average "
          f"{os.getloadavg()[0]:.1f}): solve {c_solve * 1000:.0f} ms, import numpy under the same "
          f"settings {c_same * 1000:.0f} ms, ratio {c_solve / c_same:.2f}; the floor "
          f"`import numpy, click, yaml` {c_floor * 1000:.0f} ms = {c_floor / c_same:.2f}×")
    # what is left for gradcalc itself (its modules, loading, solving, printing) under the target
    print(f"  gradcalc's own CPU time above that floor: {(c_solve - c_floor) * 1000:.1f} ms; the "
          f"target leaves {(TARGET * c_same - c_floor) * 1000:.1f} ms for it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
