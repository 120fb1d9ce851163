"""Benchmark: whole-process time of drawing the graph and writing the HTML report, beside plain
`gradcalc solve` measured in the same run (so the ratios hold on any machine).

    python bench/bench_graph.py            # about 30 s on a busy 2-core machine

Each command runs REPEAT times, interleaved (so load changes hit all of them alike); the table
shows the median wall time and its ratio to `solve`.  The extra cost is importing matplotlib and
drawing; `solve` itself must not import matplotlib (checked here too)."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 7


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        gc = [sys.executable, "-m", "gradcalc"]
        hw1 = str(ROOT / "problems/hw1.yaml")
        commands = {
            "gradcalc solve problems/hw1.yaml": gc + ["solve", hw1],
            "gradcalc graph problems/hw1.yaml -o g.svg": gc + ["graph", hw1, "-o", f"{tmp}/g.svg"],
            "gradcalc graph problems/hw1.yaml -o g.png": gc + ["graph", hw1, "-o", f"{tmp}/g.png"],
            "gradcalc solve problems/hw1.yaml --html r.html": gc + ["solve", hw1, "--html",
                                                                  f"{tmp}/r.html"],
            "python -c 'import matplotlib.pyplot' (reference)":
                [sys.executable, "-c", "import matplotlib.pyplot"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(REPEAT):
            for name, cmd in commands.items():
                t = time.perf_counter()
                subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - t)
        probe = subprocess.run(
            [sys.executable, "-c", "import sys; from gradcalc.cli import cli; "
             "sys.argv = ['gradcalc', 'solve', 'problems/hw1.yaml']\n"
             "try:\n    cli()\nexcept SystemExit:\n    pass\n"
             "print('matplotlib' in sys.modules, file=sys.stderr)"],
            cwd=ROOT, capture_output=True, text=True, check=True)
    base = statistics.median(times["gradcalc solve problems/hw1.yaml"])
    width = max(len(k) for k in commands)
    print(f"{'command':<{width}}  {'median s':>9}  {'vs solve':>8}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<{width}}  {med:9.3f}  {med / base:7.2f}×")
    print(f"matplotlib imported by plain `solve`: {probe.stderr.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
