"""Benchmarks of checking and grading students' layer code; figures measured in this run.

    python bench/bench_layercode.py            # about a minute
    python bench/bench_layercode.py --quick    # 60 submissions, fewer repetitions

1. `check --layer` of a CS231n-style layers file (affine, relu, conv, max pool, batchnorm,
   lstm_step: tests/compare/layers/cs231n_right.py, our own NumPy code) beside
   `torch.autograd.gradcheck` (float64, default settings) on the same layers with the same
   shapes: each NumPy pair wrapped in a torch.autograd.Function whose backward calls the
   student's backward, so both check the same code.  In-process compute time, best of
   several runs each, interleaved; plus the whole `gradcalc check --layer` process once.
2. `gradcalc grade-code` of 200 submissions (the right file and the buggy one, alternating) with
   a rubric of the same six layers, every submission in its own isolated process, on the
   machine's CPUs (2 here): submissions per second, whole command.  Target: at least 10/s.

The machine's load is printed: the figures vary with it (six people share it).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LAYERS = ROOT / "tests" / "compare" / "layers"
RIGHT = LAYERS / "cs231n_right.py"
BUGGY = LAYERS / "cs231n_buggy.py"
SIX = ["affine", "relu", "conv_naive", "max_pool_naive", "batchnorm", "lstm_step"]


def ours() -> float:
    from gradcalc.compare.layer import check_file
    t = time.perf_counter()
    reps = check_file(str(RIGHT), names=[(n, "auto") for n in SIX])
    dt = time.perf_counter() - t
    assert all(r.ok for r in reps), [r.name for r in reps if not r.ok]
    return dt


def gradcheck_setup():
    """The same six layers as torch.autograd.Functions around the NumPy forward/backward,
    with the inputs our check draws (same shapes)."""
    import importlib.util

    import numpy as np
    import torch

    from gradcalc.compare.conventions import find_layers
    from gradcalc.compare.layerargs import ArgOptions, make_arguments
    spec = importlib.util.spec_from_file_location("bench_layers", RIGHT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    layers = {n: objs for n, _, objs in find_layers(mod)}
    cases = []
    for name in SIX:
        fwd, bwd = layers[name]
        import inspect
        names = list(inspect.signature(fwd).parameters)
        args = make_arguments(name, names, set(), ArgOptions(), np.random.default_rng(0), name)
        floats = [i for i, a in enumerate(args) if a.kind == "float"]

        def make(fwd=fwd, bwd=bwd, args=args, floats=floats):
            class Wrapped(torch.autograd.Function):
                @staticmethod
                def forward(ctx, *tensors):
                    vals = [a.fresh() for a in args]
                    for i, t in zip(floats, tensors):
                        vals[i] = t.detach().numpy()
                    res = fwd(*vals)
                    ctx.cache = res[-1]
                    outs = [torch.from_numpy(np.asarray(o, dtype=float)) for o in res[:-1]]
                    return outs[0] if len(outs) == 1 else tuple(outs)

                @staticmethod
                def backward(ctx, *douts):
                    g = bwd(*[d.numpy() for d in douts], ctx.cache)
                    g = g if isinstance(g, tuple) else (g,)
                    return tuple(torch.from_numpy(np.asarray(x, dtype=float).reshape(t_shape))
                                 for x, t_shape in zip(g, [args[i].value.shape for i in floats]))
            return Wrapped
        inputs = tuple(torch.tensor(args[i].value, dtype=torch.float64, requires_grad=True)
                       for i in floats)
        cases.append((name, make(), inputs))
    return cases


def theirs(cases) -> float:
    import torch
    t = time.perf_counter()
    for name, fn, inputs in cases:
        assert torch.autograd.gradcheck(fn.apply, inputs), name
    return time.perf_counter() - t


def make_class(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copy(RIGHT if i % 2 == 0 else BUGGY, folder / f"s{i:04d}.py")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    reps = 3 if a.quick else 7
    n_subs = 60 if a.quick else 200
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; python {sys.version.split()[0]}")

    print("\n1. check --layer: affine, relu, conv_naive, max_pool_naive, batchnorm, lstm_step")
    ours()                                              # imports, caches
    try:
        cases = gradcheck_setup()
        theirs(cases)
    except ImportError:
        cases = None
    a_t, b_t = [], []
    for _ in range(reps):
        a_t.append(ours())
        if cases:
            b_t.append(theirs(cases))
    print(f"   gradcalc check (in process, best of {reps}): {min(a_t) * 1e3:.1f} ms")
    if cases:
        print(f"   torch.autograd.gradcheck (same layers, float64): {min(b_t) * 1e3:.1f} ms "
              f"-> gradcalc is {min(b_t) / min(a_t):.1f}x faster")
    else:
        print("   torch not installed: gradcheck skipped")
    with tempfile.TemporaryDirectory() as tmp:
        six = Path(tmp) / "layers.py"
        shutil.copy(RIGHT, six)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "gradcalc", "check", "--layer", str(six)],
                           cwd=ROOT, capture_output=True, text=True)
        dt = time.perf_counter() - t
        agree = next((ln for ln in p.stdout.splitlines() if "layers agree" in ln), "?").strip()
        print(f"   whole process `gradcalc check --layer layers.py` (every layer of the file: "
              f"{agree.split('.')[0]}): {dt:.2f} s, exit {p.returncode}")

        print(f"\n2. grade-code of {n_subs} submissions (six layers each), isolated, "
              f"{len(os.sched_getaffinity(0))} CPUs")
        rubric = Path(tmp) / "rubric.yaml"
        rubric.write_text("title: bench\ntime_limit: 10\nlayers:\n"
                          + "".join(f"  {n}: 1\n" for n in SIX))
        subs = Path(tmp) / "subs"
        make_class(subs, n_subs)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "gradcalc", "grade-code", str(rubric),
                            str(subs), "-o", str(Path(tmp) / "out"), "-q"], cwd=ROOT,
                           capture_output=True, text=True)
        dt = time.perf_counter() - t
        assert p.returncode == 0, p.stderr
        lines = (Path(tmp) / "out" / "grades.csv").read_text().splitlines()
        full = sum(1 for ln in lines[2:] if ln.split(",")[-2] == "100.0")
        print(f"   {dt:.2f} s for {n_subs} submissions: {n_subs / dt:.1f} submissions/s "
              f"(target >= 10/s); {full} with full marks (expected {(n_subs + 1) // 2})")


if __name__ == "__main__":
    main()
