"""Benchmark: whole-process time of drawing the graph and writing the HTML report, beside plain
`gradcalc solve` measured in the same run (so the ratios hold on any machine).

    python bench/bench_graph.py            # about 90 s on a busy 2-core machine

Each command runs REPEAT times, interleaved (so load changes hit all of them alike); the table
shows the median wall time and its ratio to `solve`.  The extra cost is importing matplotlib and
drawing; `solve` itself must not import matplotlib (checked here too).

A second table (issue 17 item 11) times `graph` and `solve --html` of long chains (100 and
1,000 gates) and of an rnn with H = 1 over T = 50 and 1,000 steps, beside `solve --method
autograd` of the same problem, 3 interleaved runs each (medians)."""
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
    print()
    large()
    return 0


def chain_problem(steps: int) -> str:
    """v_i = v_(i−1)·w + 0.1: 2·steps gates, the weight w feeding every step."""
    lines = ["title: chain", "expression:"]
    prev = "x"
    for i in range(steps):
        lines.append(f"  v{i}: {prev} * w + 0.1")
        prev = f"v{i}"
    return "\n".join(lines + ["values: {x: 0.5, w: 0.9}", ""])


def rnn_problem(T: int) -> str:
    """An rnn with H = 1 over T steps (the shape of the issue's report)."""
    rows = "\n".join(f"  - [{0.01 * (t % 7) - 0.03:.2f}]" for t in range(T))
    return (f"title: rnn T={T}\ninput:\n{rows}\nlayers:\n  - type: rnn\n    Wxh: [[0.5]]\n"
            "    Whh: [[0.9]]\n    b: [0.0]\n    h0: [0.1]\n    activation: tanh\n"
            "    return: last\n  - W: [[1.0]]\n    b: [0.0]\nloss:\n  type: mse\n"
            "  target: [0.5]\n")


def large(repeat: int = 3) -> None:
    """Issue 17 item 11: graph and solve --html of long chains and rnns, beside `solve
    --method autograd` of the same problem (the baseline: no picture), in one run."""
    gc = [sys.executable, "-m", "gradcalc"]
    cases = {"chain, 100 gates": chain_problem(50), "chain, 1,000 gates": chain_problem(500),
             "rnn H=1, T=50": rnn_problem(50), "rnn H=1, T=1,000": rnn_problem(1000)}
    print(f"{'problem':<20} {'solve s':>8} {'graph .svg s':>13} {'vs solve':>9} "
          f"{'solve --html s':>15} {'vs solve':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in cases.items():
            p = Path(tmp) / "p.yaml"
            p.write_text(text)
            runs = {"solve": gc + ["solve", str(p), "--method", "autograd"],
                    "graph": gc + ["graph", str(p), "-o", f"{tmp}/g.svg"],
                    "html": gc + ["solve", str(p), "--method", "autograd", "--html",
                                  f"{tmp}/r.html"]}
            t: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(repeat):
                for k, cmd in runs.items():
                    t0 = time.perf_counter()
                    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                    t[k].append(time.perf_counter() - t0)
            s, g, h = (statistics.median(t[k]) for k in ("solve", "graph", "html"))
            print(f"{name:<20} {s:8.2f} {g:13.2f} {g / s:8.1f}× {h:15.2f} {h / s:8.1f}×",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
