"""Time against size for solve (autograd), check (all three methods) and grade, whole process.

Each series doubles its size until one run takes longer than --max-seconds (30 s by default),
prints wall and CPU seconds per size, the largest size that stays under a second, and the
exponent p of a least-squares fit (time − t₀) ≈ c·sizeᵖ, t₀ being the series' smallest time
(its start-up), over the points that take at least twice t₀: how the work itself grows.  The
start-up of `gradcalc --version` is measured in the same run as the baseline.

    python bench/bench_scaling.py                      # a few minutes
    python bench/bench_scaling.py --max-seconds 3      # a quick run
    python bench/bench_scaling.py --plot docs/scaling.png
    python bench/bench_scaling.py --cpu      # fit and plot CPU seconds (a shared machine)
    python bench/bench_scaling.py --cpu --rnn   # only: solve of an rnn against its steps T

Sizes: solve and check run a 2-layer sigmoid network with n inputs and n hidden units
(n² + 3n + 1 differentiated entries; n grows by √2 so that the entries about double); check
runs with --symbolic-limit high enough that SymPy never skips; grade marks N answer files of
problems/hw1.yaml (the mix of right, rounded and wrong answers of bench_grade.py).  With --rnn,
only `solve --method autograd` of an rnn with H = 1 over T steps (bench_graph.rnn_problem), T
doubling from 500, in the text, json and markdown formats.  Below T ≈ 400 an rnn's output is
not comparable across sizes: every step's T × 1 gradient for x is printed in full up to 200
entries (fmt.MAX_SHOWN), and the matrix forms are composed up to 400 operations.
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_check import sigmoid_net     # bench/ is on the path when run as a script
from bench_grade import generate
from bench_graph import rnn_problem

ROOT = Path(__file__).resolve().parent.parent
GRADCALC = [sys.executable, "-m", "gradcalc"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class Refused(Exception):
    """gradcalc refused the input (exit 2), e.g. a problem file over its size limits."""


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, this child only) of one process; exit 0 or 1
    (a check or a grade that found a mismatch) is a finished run, exit 2 raises Refused."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) == 2:
        raise Refused(err.strip().splitlines()[-1] if err.strip() else "exit status 2")
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def net_sizes():
    """(n, differentiated entries) with the entries about doubling."""
    seen = set()
    for k in range(40):
        n = max(2, round(2 * math.sqrt(2) ** k))
        if n not in seen:
            seen.add(n)
            yield n, n * n + 3 * n + 1


def series(name: str, points, command, max_seconds: float) -> list[tuple[int, float, float]]:
    print(f"\n{name}")
    print(f"  {'size':>9}  {'wall s':>8}  {'CPU s':>8}")
    out = []
    for size, arg in points:
        try:
            wall, cpu = run(command(arg))
        except Refused as exc:
            print(f"  {size:>9,}  refused: {exc}")
            break
        out.append((size, wall, cpu))
        print(f"  {size:>9,}  {wall:8.3f}  {cpu:8.3f}", flush=True)
        if wall > max_seconds:
            break
    return out


def fit(points, col: int = 1, t0: float | None = None) -> float | None:
    """The exponent p of (time − t₀) ≈ c·sizeᵖ (least squares in log-log), t₀ the smallest time
    of the series (or the given start-up), over the points that take at least twice t₀; `col` 1
    is wall, 2 CPU time."""
    if t0 is None:
        t0 = min(p[col] for p in points)
    pts = [(p[0], p[col] - t0) for p in points if p[col] >= 2 * t0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def plot(results: dict, startup: float, path: Path, col: int = 1) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    for (name, unit), (points, p) in results.items():
        label = f"{name} (p = {p:.2f})" if p is not None else name
        ax.loglog([p[0] for p in points], [p[col] for p in points], "o-", label=label)
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.axhline(startup, color="grey", ls=":", lw=0.8)
    ax.text(ax.get_xlim()[0] * 1.1, 1.05, "1 s", color="grey", fontsize=8)
    ax.text(ax.get_xlim()[0] * 1.1, startup * 1.05, "start-up", color="grey", fontsize=8)
    ax.set_xlabel("size: differentiated entries (solve, check) or submissions (grade)")
    ax.set_ylabel(("wall" if col == 1 else "CPU") + " seconds, whole process")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"\nplot written to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-seconds", type=float, default=30.0,
                    help="stop a series after the first run longer than this (default 30)")
    ap.add_argument("--plot", type=Path, help="write a log-log plot of the curves here (PNG)")
    ap.add_argument("--cpu", action="store_true",
                    help="fit and plot CPU seconds (user + system) instead of wall seconds")
    ap.add_argument("--rnn", action="store_true",
                    help="only the series of an rnn's solve against its time steps T")
    args = ap.parse_args()
    col = 2 if args.cpu else 1
    run(GRADCALC + ["--version"])
    startup = min(run(GRADCALC + ["--version"])[col - 1] for _ in range(3))
    print(f"load average {os.getloadavg()[0]:.2f}; baseline: `gradcalc --version` "
          f"{startup:.3f} {'CPU' if args.cpu else 'wall'} s (best of 3)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def net(n: int) -> str:
            f = tmp / f"net{n}.yaml"
            if not f.exists():
                f.write_text(sigmoid_net(n))
            return str(f)

        if args.rnn:
            def rnn(T: int) -> str:
                f = tmp / f"rnn{T}.yaml"
                if not f.exists():
                    f.write_text(rnn_problem(T))
                return str(f)

            for fmt in ("text", "json", "markdown"):
                results[(f"rnn solve --format {fmt}", "steps")] = series(
                    f"solve --method autograd --format {fmt} of an rnn (time steps T)",
                    [(500 * 2 ** k, 500 * 2 ** k) for k in range(12)],
                    lambda T, fmt=fmt: GRADCALC + ["solve", rnn(T), "--method", "autograd",
                                                   "--format", fmt], args.max_seconds)
        else:
            results[("solve --method autograd", "entries")] = series(
                "solve --method autograd --format json (entries)", [(e, n) for n, e in net_sizes()],
                lambda n: GRADCALC + ["solve", net(n), "--method", "autograd", "--format", "json"],
                args.max_seconds)
            results[("check (all three)", "entries")] = series(
                "check, autograd + symbolic + numeric (entries)", [(e, n) for n, e in net_sizes()],
                lambda n: GRADCALC + ["check", net(n), "--symbolic-limit", str(10 ** 9)],
                args.max_seconds)

            def subs(n: int) -> list[str]:
                folder = tmp / f"subs{n}"
                generate(folder, n)
                return GRADCALC + ["grade", "problems/hw1.yaml", str(folder), "--output",
                                   str(tmp / f"out{n}")]

            results[("grade", "submissions")] = series(
                "grade problems/hw1.yaml (submissions)", [(2 ** k, 2 ** k) for k in range(4, 30)],
                subs, args.max_seconds)
    print("\nsummary (exponent p: time − t₀ ≈ c·sizeᵖ, t₀ the series' smallest time; for the "
          "rnn series the start-up above)")
    fitted = {}
    for key, points in results.items():
        # the rnn series starts at T = 500, not near start-up: t₀ is `gradcalc --version`'s
        p = fit(points, col, startup if key[1] == "steps" else None)
        fitted[key] = (points, p)
        under = [pt[0] for pt in points if pt[col] < 1.0]
        largest = f"{max(under):,} {key[1]}" if under else "none"
        print(f"  {key[0]:26s} p = {'n/a' if p is None else f'{p:.2f}':>5}   "
              f"largest size under 1 s: {largest}")
    if args.plot:
        plot(fitted, startup, args.plot, col)


if __name__ == "__main__":
    main()
