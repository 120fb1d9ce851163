"""Time against size for solve (autograd), check (all three methods) and grade, whole process.

Each series doubles its size until one run takes longer than --max-seconds (30 s by default),
prints wall and CPU seconds per size, the largest size that stays under a second, and the
exponent p of a least-squares fit time ≈ c·sizeᵖ over the points well above start-up (at least
twice the start-up of `gradcalc --version`, measured in the same run: the baseline).

    python bench/bench_scaling.py                      # a few minutes
    python bench/bench_scaling.py --max-seconds 3      # a quick run
    python bench/bench_scaling.py --plot docs/scaling.png

Sizes: solve and check run a 2-layer sigmoid network with n inputs and n hidden units
(n² + 3n + 1 differentiated entries; n grows by √2 so that the entries about double); check
runs with --symbolic-limit high enough that SymPy never skips; grade marks N answer files of
problems/hw1.yaml (the mix of right, rounded and wrong answers of bench_grade.py).
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

ROOT = Path(__file__).resolve().parent.parent
GRADCALC = [sys.executable, "-m", "gradcalc"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, this child only) of one process; exit 0 or 1
    (a check or a grade that found a mismatch) is a finished run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
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
        wall, cpu = run(command(arg))
        out.append((size, wall, cpu))
        print(f"  {size:>9,}  {wall:8.3f}  {cpu:8.3f}", flush=True)
        if wall > max_seconds:
            break
    return out


def fit(points, floor: float) -> float | None:
    """The exponent p of time ≈ c·sizeᵖ (least squares in log-log) over the points above floor."""
    pts = [(s, w) for s, w, _ in points if w >= floor]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def plot(results: dict, startup: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    for (name, unit), (points, p) in results.items():
        label = f"{name} (p = {p:.2f})" if p is not None else name
        ax.loglog([s for s, _, _ in points], [w for _, w, _ in points], "o-", label=label)
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.axhline(startup, color="grey", ls=":", lw=0.8)
    ax.text(ax.get_xlim()[0] * 1.1, 1.05, "1 s", color="grey", fontsize=8)
    ax.text(ax.get_xlim()[0] * 1.1, startup * 1.05, "start-up", color="grey", fontsize=8)
    ax.set_xlabel("size: differentiated entries (solve, check) or submissions (grade)")
    ax.set_ylabel("wall seconds, whole process")
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
    args = ap.parse_args()
    run(GRADCALC + ["--version"])
    startup = min(run(GRADCALC + ["--version"])[0] for _ in range(3))
    print(f"load average {os.getloadavg()[0]:.2f}; baseline: `gradcalc --version` "
          f"{startup:.3f} s (best of 3); exponents fitted over runs ≥ {2 * startup:.2f} s")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def net(n: int) -> str:
            f = tmp / f"net{n}.yaml"
            if not f.exists():
                f.write_text(sigmoid_net(n))
            return str(f)

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
    print("\nsummary (exponent p: time ≈ c·sizeᵖ above start-up)")
    fitted = {}
    for key, points in results.items():
        p = fit(points, 2 * startup)
        fitted[key] = (points, p)
        under = [s for s, w, _ in points if w < 1.0]
        print(f"  {key[0]:26s} p = {'n/a' if p is None else f'{p:.2f}':>5}   "
              f"largest size under 1 s: {max(under) if under else 'none':,} {key[1]}")
    if args.plot:
        plot(fitted, startup, args.plot)


if __name__ == "__main__":
    main()
