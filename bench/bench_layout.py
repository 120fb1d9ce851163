"""Benchmark: the package layout costs nothing — whole-process time of the same commands run
with this working tree and with a committed revision (default: a0e8f09, the flat package before
the move into sub-packages), interleaved in one run; the figure is the ratio current / baseline.

Commands: `solve problems/hw1.yaml --method autograd`, `solve problems/hw1.yaml` (all three
methods), `check problems/hw1.yaml`, and `solve problems/cnn_tiny.yaml --method autograd`.
Both copies run as `python -m gradcalc` with the copy first on PYTHONPATH and the bytecode cache
on (warmed before timing), so only the code differs.  Wall times on a shared 2-core machine move
by ±10 % between runs, so where valgrind is installed the same commands are also counted in
instructions executed (callgrind, PYTHONHASHSEED=0): a count that does not depend on the load.

    python bench/bench_layout.py [--runs 15] [--baseline a0e8f09] [--no-instructions]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _baseline import export, with_path   # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "solve hw1 --method autograd": ["solve", "problems/hw1.yaml", "--method", "autograd"],
    "solve hw1 (three methods)": ["solve", "problems/hw1.yaml"],
    "check hw1": ["check", "problems/hw1.yaml"],
    "solve cnn_tiny --method autograd": ["solve", "problems/cnn_tiny.yaml", "--method",
                                         "autograd"],
}


def _wall(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "gradcalc", *argv], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode not in (0, 1):
        tail = (p.stderr.strip().splitlines() or [""])[-1]
        raise SystemExit(f"bench: gradcalc {' '.join(argv)} failed (exit {p.returncode}): {tail}")
    return elapsed


def _instructions(argv: list[str], env: dict) -> int:
    """Instructions executed by the whole process, counted by valgrind's callgrind."""
    env = dict(env, PYTHONHASHSEED="0")
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                        sys.executable, "-m", "gradcalc", *argv], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode not in (0, 1) or not m:
        raise SystemExit(f"bench: valgrind gradcalc {' '.join(argv)} failed (exit {p.returncode})")
    return int(m.group(1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs of each command (median)")
    ap.add_argument("--baseline", default="a0e8f09", help="the committed revision to compare")
    ap.add_argument("--no-instructions", action="store_true",
                    help="skip the instruction counts (valgrind)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        envs = {"current": with_path(ROOT),
                args.baseline: with_path(export(args.baseline, Path(tmp) / "baseline"))}
        for env in envs.values():
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs, {args.runs} runs "
              f"each, interleaved (median wall time of the whole process)")
        print(f"  {'command':<34} {'current':>10} {args.baseline:>10}   ratio")
        for name, cmd in COMMANDS.items():
            for env in envs.values():      # warm the bytecode and file caches
                _wall(cmd, env)
            times = {k: [] for k in envs}
            for _ in range(args.runs):
                for k, env in envs.items():
                    times[k].append(_wall(cmd, env))
            cur, base = (statistics.median(times[k]) for k in envs)
            print(f"  {name:<34} {cur * 1000:8.1f}ms {base * 1000:8.1f}ms   {cur / base:.3f}×")
        if args.no_instructions:
            return 0
        if not shutil.which("valgrind"):
            print("valgrind is not installed: no instruction counts")
            return 0
        print("instructions executed (valgrind --tool=callgrind, one run each)")
        print(f"  {'command':<34} {'current':>14} {args.baseline:>14}   ratio")
        for name, cmd in COMMANDS.items():
            cur, base = (_instructions(cmd, env) for env in envs.values())
            print(f"  {name:<34} {cur:14,d} {base:14,d}   {cur / base:.4f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
