"""Benchmarks of the three-way check; every figure is a ratio to a baseline measured in this run.

    python bench/bench_check.py            # about a minute
    python bench/bench_check.py --quick    # fewer repetitions
    python bench/bench_check.py --part 1   # only part 1 (repeatable)

1. `gradcalc check problems/hw1.yaml` (whole process) beside `python -c "import sympy"` run
   under the check's own process settings (the cyclic garbage collector off, frozen at exit,
   OPENBLAS_NUM_THREADS=1: gradcalc/cli/__init__.py), interleaved, median of several runs each.
   Target: at most 1.5× that import.  Also printed: the import with Python's defaults, and
   `import sympy, numpy` under the same settings (the floor: the check needs both).
2. Symbolic scaling: a 2-layer sigmoid network, n inputs and n hidden units, n = 2 … 64
   (`gradcalc solve --method symbolic --format json`, whole process, formulas included), beside
   the naive way: `sympy.diff` of the fully expanded loss with respect to every entry, evaluated
   (n ≤ 16).  Target: n = 64 (4,289 entries) under 3 s.  The naive time at n = 16 is
   extrapolated from a timed sample of entries (said so in the output) to keep the run short.
   Then `gradcalc check problems/spiral.yaml` (723 entries, a 300-row batch), all three methods
   under the default symbolic limit: target under 5 s whole process.
3. A numeric check (central differences of every entry) of a network with about 10,000
   parameters, with peak memory, beside `torch.autograd.gradcheck` (float64, default settings)
   on the same network when torch is installed, interleaved, five runs each (minimum and
   median wall time, minimum CPU time of this process).  Target: at least 5× faster than
   gradcheck.

Python's bytecode cache is on for the child processes, as on a user's machine
(PYTHONDONTWRITEBYTECODE is removed from their environment), and every command runs once before
it is timed (file cache, bytecode written).  The machine's load is printed: the figures vary
with it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


CPU: dict = {}      # -c code (or "check") -> CPU times of its runs (getrusage of the children)


def _once(cmd: list[str]) -> float:
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, env=SAME_ENV if cmd[1] == "-c" and "gc." in cmd[2] else ENV)
    elapsed = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    key = cmd[2] if cmd[1] == "-c" else cmd[-2]
    CPU.setdefault(key, []).append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return elapsed


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall time of a whole process (after one untimed run)."""
    _once(cmd)
    return statistics.median(_once(cmd) for _ in range(repeat))


def wall_alternating(cmds: list[list[str]], repeat: int) -> list[float]:
    """Median wall times of whole processes, run in turn (after one untimed run each): a
    change of the machine's load affects them alike."""
    for cmd in cmds:
        _once(cmd)
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(repeat):
        for cmd, t in zip(cmds, times):
            t.append(_once(cmd))
    return [statistics.median(t) for t in times]


def _mat(a) -> str:
    a = np.asarray(a)
    if a.ndim == 1:
        return "[" + ", ".join(f"{v:.3f}" for v in a) + "]"
    return "[" + ", ".join(_mat(r) for r in a) + "]"


def sigmoid_net(n: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return (f"title: 2-layer sigmoid network, n = {n}\n"
            f"input: {_mat(rng.uniform(-1, 1, n))}\n"
            f"layers:\n"
            f"  - W: {_mat(rng.uniform(-1, 1, (n, n)))}\n"
            f"    b: {_mat(rng.uniform(-0.5, 0.5, n))}\n"
            f"    activation: sigmoid\n"
            f"  - W: {_mat(rng.uniform(-1, 1, (1, n)))}\n"
            f"    b: [0.1]\n"
            f"loss: {{type: mse, target: [0.3]}}\n")


NAIVE = r"""
import sys, time
import numpy as np
import sympy
from gradcalc import ops
from gradcalc.graph.network import build
from gradcalc.problem.load import load_problem

class Expanded:
    # leaves are symbols, every op returns its SymPy form over its inputs: the loss written out
    def __init__(self):
        self.params, self.values = [], {}
    def leaf(self, name, value, role):
        value = np.asarray(value, dtype=float)
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            s = sympy.Symbol(name + "".join(f"_{i}" for i in idx), real=True)
            out[idx] = s
            self.values[s] = sympy.Float(float(value[idx]))
            if role != "const":
                self.params.append(s)
        return out
    def apply(self, op, inputs, name, attrs, formula, field):
        return np.asarray(ops.get(op).sym(*inputs, **attrs), dtype=object)

be = Expanded()
L = sympy.sympify(build(load_problem(sys.argv[1]), be).ravel()[0])
limit = int(sys.argv[2])
params = be.params[:limit]
t = time.perf_counter()
for p in params:
    float(sympy.diff(L, p).xreplace(be.values).evalf())
print(len(be.params), len(params), time.perf_counter() - t)
"""


# The check process turns the cyclic garbage collector off while it works and skips it at exit
# (gradcalc/cli/check.py); the same settings make the bare import faster too.  That second
# baseline is printed so that the share of the settings in the ratio is visible.
SYMPY_SAME_GC = "import atexit, gc; gc.disable(); atexit.register(gc.freeze); import sympy"
FLOOR = SYMPY_SAME_GC + ", numpy, click, yaml"     # what a check cannot do without
# ... and SymPy's own lazy imports on its first use (Add.flatten imports sympy.tensor.tensor and
# sympy.combinatorics, exp imports sympy.sets.setexpr, a derivative sympy.assumptions.wrapper)
FLOOR_USE = FLOOR + "; x, y = sympy.symbols('x y'); sympy.diff(sympy.exp(-x) + x * y + y, x)"
SAME_ENV = dict(ENV) if any(v in ENV for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                "GOTO_NUM_THREADS")) \
    else dict(ENV, OPENBLAS_NUM_THREADS="1")


def bench_hw1(repeat: int) -> None:
    print("1. gradcalc check problems/hw1.yaml, whole process")
    base, check, same, floor, floor_use = wall_alternating(
        [[PY, "-c", "import sympy"], [PY, "-m", "gradcalc", "check", "problems/hw1.yaml"],
         [PY, "-c", SYMPY_SAME_GC], [PY, "-c", FLOOR], [PY, "-c", FLOOR_USE]], repeat)
    print(f"   import sympy, the check's settings  {same:6.3f} s  (baseline)")
    print(f"   gradcalc check hw1.yaml             {check:6.3f} s  = {check / same:4.2f}× "
          f"the import (target ≤ 1.5×)")
    print(f"   (import sympy with Python's defaults: {base:.3f} s, the check is "
          f"{check / base:.2f}× that; import sympy, numpy, click, yaml with the check's settings: "
          f"{floor:.3f} s = {floor / same:.2f}× the baseline; with SymPy's first sum, exp and "
          f"derivative: {floor_use:.3f} s = {floor_use / same:.2f}×)")
    cpu = {k: min(v) for k, v in CPU.items()}
    c_same, c_check, c_floor, c_use = (cpu[k] for k in (SYMPY_SAME_GC, "check", FLOOR, FLOOR_USE))
    print(f"   CPU time (user + system, minimum of {repeat}): check {c_check:.3f} s, the import "
          f"{c_same:.3f} s, ratio {c_check / c_same:.2f}; floors {c_floor / c_same:.2f}× and "
          f"{c_use / c_same:.2f}×")
    print(f"   gradcalc's own CPU time above the second floor: {(c_check - c_use) * 1000:.0f} ms; "
          f"the target leaves {(1.5 * c_same - c_use) * 1000:.0f} ms for it")


def bench_symbolic(repeat: int, tmp: Path) -> None:
    print("2. symbolic: 2-layer sigmoid network, n inputs and n hidden units")
    print("      n  entries   gradcalc (process)   naive diff of the expanded loss (process)"
          "   ratio")
    for n in (2, 4, 8, 16, 32, 64):
        f = tmp / f"sigmoid{n}.yaml"
        f.write_text(sigmoid_net(n))
        ours = wall([PY, "-m", "gradcalc", "solve", str(f), "--method", "symbolic",
                     "--format", "json", "--symbolic-limit", "100000"], repeat)
        if n > 16:
            print(f"   {n:4d} {n * n + 3 * n + 1:8d}   {ours:12.2f} s")
            continue
        limit = 100000 if n <= 8 else 24
        t = time.perf_counter()
        out = subprocess.run([PY, "-c", NAIVE, str(f), str(limit)], cwd=ROOT, env=ENV,
                             capture_output=True, text=True, check=True).stdout.split()
        whole = time.perf_counter() - t
        total, timed, secs = int(out[0]), int(out[1]), float(out[2])
        naive = whole - secs + secs * total / timed      # whole process, all entries
        how = "" if timed == total else f" (extrapolated from {timed} entries)"
        print(f"   {n:4d} {total:8d}   {ours:12.2f} s   {naive:14.2f} s{how:>28}   "
              f"{naive / ours:6.1f}×")
    print("   target: n = 64 under 3 s whole process")
    cmd = [PY, "-m", "gradcalc", "check", "problems/spiral.yaml"]
    out = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True).stdout
    three = "autograd = symbolic" in out and "skipped" not in out
    spiral = wall(cmd, repeat)
    print(f"   gradcalc check problems/spiral.yaml (723 entries, batch of 300): {spiral:.2f} s, "
          f"{'all three methods' if three else 'NOT all three methods'} (target under 5 s)")


def _big_net(seed: int = 0):
    """x: 64, hidden 128 (tanh), 10 classes (cross-entropy): 9,674 differentiated entries."""
    rng = np.random.default_rng(seed)
    d, hdim, k = 64, 128, 10
    return (rng.standard_normal(d), rng.standard_normal((hdim, d)) / 8,
            rng.standard_normal(hdim) / 8, rng.standard_normal((k, hdim)) / 11,
            rng.standard_normal(k) / 11, 3)


def bench_numeric() -> None:
    from gradcalc.derive import numeric
    from gradcalc.problem.model import Layer, Loss, NetworkProblem

    print("3. numeric check of every entry of a network with about 10,000 parameters")
    x, W1, b1, W2, b2, label = _big_net()
    p = NetworkProblem("big", x, (Layer(W1, b1, "tanh"), Layer(W2, b2, "linear")),
                       Loss("cross_entropy", label=np.asarray(label)))
    n = x.size + W1.size + b1.size + W2.size + b2.size
    res = numeric.run(p, direction=False)
    assert all(np.isfinite(g).all() for g in res.gradients.values())
    peak = _peak(lambda: numeric.run(p, direction=False))     # a second run: tracing is slow
    try:
        import torch
    except ImportError:
        ours = _best(lambda: numeric.run(p, direction=False))
        print(f"   gradcalc numeric         {n} entries  {ours:6.2f} s  "
              f"({ours / n * 1e6:.0f} µs per entry), peak traced memory {peak:.1f} MiB")
        print("   torch.autograd.gradcheck: torch is not installed here; skipped "
              "(pip install torch to measure the ratio)")
        return
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
               for a in (x, W1, b1, W2, b2)]
    target = torch.tensor([label])

    def f(x, W1, b1, W2, b2):
        h = torch.tanh(W1 @ x + b1)
        return torch.nn.functional.cross_entropy((W2 @ h + b2)[None], target)

    ok = torch.autograd.gradcheck(f, tensors)
    # interleaved, best of five each: the machine is shared, the minimum is the least disturbed
    (ours, ours_med, ours_cpu), (theirs, theirs_med, theirs_cpu) = _best_pair(
        lambda: numeric.run(p, direction=False), lambda: torch.autograd.gradcheck(f, tensors))
    tpeak = _peak(lambda: torch.autograd.gradcheck(f, tensors))
    print(f"   gradcalc numeric         {n} entries  {ours:6.2f} s  "
          f"({ours / n * 1e6:.0f} µs per entry), peak traced memory {peak:.1f} MiB")
    print(f"   torch gradcheck (ok={ok})        {theirs:6.2f} s  "
          f"({theirs / n * 1e6:.0f} µs per entry), peak traced memory {tpeak:.1f} MiB "
          f"(Python allocations only)")
    print(f"   ratio: gradcalc is {theirs / ours:.1f}× faster (target ≥ 5×); median "
          f"{ours_med:.3f} s against {theirs_med:.3f} s = {theirs_med / ours_med:.1f}×; CPU time "
          f"{ours_cpu:.3f} s against {theirs_cpu:.3f} s = {theirs_cpu / ours_cpu:.1f}× "
          f"(torch threads: {torch.get_num_threads()})")


def _best(fn, repeat: int = 3) -> float:
    """The best of a few runs (the machine is shared: the minimum is the least disturbed)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _best_pair(a, b, repeat: int = 5) -> tuple[tuple, tuple]:
    """(minimum wall, median wall, minimum CPU time) of a and of b, run in turn."""
    ta, tb, ca, cb = [], [], [], []
    for _ in range(repeat):
        for fn, times, cpu in ((a, ta, ca), (b, tb, cb)):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return ((min(ta), statistics.median(ta), min(ca)),
            (min(tb), statistics.median(tb), min(cb)))


def _peak(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions per timing")
    ap.add_argument("--part", type=int, choices=(1, 2, 3), action="append",
                    help="run only this part (repeatable; default: all three)")
    args = ap.parse_args()
    parts = set(args.part or (1, 2, 3))
    repeat = 3 if args.quick else 11
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    if 1 in parts:
        bench_hw1(repeat)
    if 2 in parts:
        with tempfile.TemporaryDirectory() as tmp:
            bench_symbolic(1 if args.quick else 3, Path(tmp))
    if 3 in parts:
        bench_numeric()


if __name__ == "__main__":
    main()
