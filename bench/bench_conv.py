"""Benchmark: forward + backward of a small CNN and an RNN in gradcalc's autograd, with baselines
measured in the same run (PyTorch CPU when importable; a per-pixel loop convolution always).

    python bench/bench_conv.py            # about 15 s (30 s with PyTorch)
    python bench/bench_conv.py --rounds 21
    python bench/bench_conv.py --tree /tmp/base   # the gradcalc of another checkout (a baseline:
                                                  # git worktree add /tmp/base REV), PyTorch as the
                                                  # yardstick in both runs; alternate the two runs

CNN: 1×28×28 input, conv2d with 8 3×3 filters + relu, 2×2 max pool, flatten, dense to 10,
cross-entropy.  RNN: T = 50, D = 16, H = 32, tanh, last state, dense to 1, squared error.
The same settings for every method: one BLAS/OpenMP thread (the environment variables are set
before NumPy or PyTorch is imported, and torch.set_num_threads(1)), the same garbage-collector
state.  Timing: interleaved rounds (every method once per round, so that load from other
processes falls on all of them alike); per round, the mean over a batch of calls of the
process CPU time and of the wall time.  The table shows min and median over the rounds; ratios
are ours / theirs (below 1: we are faster) from the CPU-time medians: on a loaded machine
(load above the core count) wall time mostly measures the scheduler."""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"          # before NumPy loads its BLAS: the same for both sides

import argparse     # noqa: E402
import statistics   # noqa: E402
import sys          # noqa: E402
import time         # noqa: E402

import numpy as np
import yaml

from _baseline import tree   # noqa: E402  (bench/ is on the path when run as a script)

sys.path.insert(0, tree(sys.argv))

from gradcalc.derive.autograd import run                    # noqa: E402
from gradcalc.problem.load import parse_problem           # noqa: E402


def timeit(fn, min_time=1.0, max_reps=2000) -> float:
    """Median wall seconds per call over repeated calls (about min_time in total)."""
    fn()                                              # warm up
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (time.perf_counter() - start < min_time or len(times) < 5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved(fns: dict, rounds: int, batch_time: float = 0.05) -> dict:
    """{name: (cpu list, wall list)}: seconds per call, one entry per round; in every round each
    function runs a batch of calls (about batch_time of CPU), the functions one after another."""
    reps = {}
    for name, fn in fns.items():                      # warm up and size the batches
        fn()
        c = time.process_time()
        fn()
        reps[name] = max(1, int(batch_time / max(time.process_time() - c, 1e-6)))
    out = {name: ([], []) for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = reps[name]
            c, w = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            out[name][0].append((time.process_time() - c) / n)
            out[name][1].append((time.perf_counter() - w) / n)
    return out


def cnn_problem(rng):
    doc = {
        "title": "bench cnn",
        "input": rng.uniform(0, 1, (1, 28, 28)).round(3).tolist(),
        "layers": [
            {"type": "conv2d", "W": rng.normal(0, 0.3, (8, 1, 3, 3)).round(4).tolist(),
             "b": rng.normal(0, 0.1, 8).round(4).tolist(), "activation": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"W": rng.normal(0, 0.05, (10, 8 * 13 * 13)).round(4).tolist(),
             "b": np.zeros(10).tolist()},
        ],
        "loss": {"type": "cross_entropy", "label": 3},
    }
    return parse_problem(yaml.safe_dump(doc), "bench_cnn.yaml")


def rnn_problem(rng, T=50, D=16, Hn=32):
    doc = {
        "title": "bench rnn",
        "input": rng.uniform(-1, 1, (T, D)).round(3).tolist(),
        "layers": [
            {"type": "rnn", "Wxh": rng.normal(0, 0.2, (Hn, D)).round(4).tolist(),
             "Whh": rng.normal(0, 0.15, (Hn, Hn)).round(4).tolist(),
             "b": np.zeros(Hn).tolist(), "activation": "tanh"},
            {"W": rng.normal(0, 0.2, (1, Hn)).round(4).tolist(), "b": [0.0]},
        ],
        "loss": {"type": "mse", "target": [0.5]},
    }
    return parse_problem(yaml.safe_dump(doc), "bench_rnn.yaml")


def ours(problem):
    def step():
        graph, out, _ = run(problem, record=False)
        return graph
    return step


def naive_conv_step(problem):
    """The same conv2d forward + backward with Python loops over every output pixel."""
    layer = problem.layers[0]
    W, b, x = np.asarray(layer.W), np.asarray(layer.b), np.asarray(problem.x)
    O, C, kh, kw = W.shape
    Ho, Wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    g = np.random.default_rng(0).normal(size=(O, Ho, Wo))

    def step():
        z = np.empty((O, Ho, Wo))
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    z[o, i, j] = np.sum(W[o] * x[:, i:i + kh, j:j + kw]) + b[o]
        dW, dx = np.zeros_like(W), np.zeros_like(x)
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    dW[o] += g[o, i, j] * x[:, i:i + kh, j:j + kw]
                    dx[:, i:i + kh, j:j + kw] += g[o, i, j] * W[o]
        return z, dW, dx
    return step


def conv_only(problem):
    from gradcalc import ops
    layer = problem.layers[0]
    W, b, x = np.asarray(layer.W), np.asarray(layer.b), np.asarray(problem.x)
    op = ops.get("conv2d")
    g = np.random.default_rng(0).normal(size=(8, 26, 26))

    def step():
        z = op.forward(W, x, b)
        return op.vjp(g, z, W, x, b)
    return step


def torch_steps(cnn, rnn):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    dt = torch.float64
    lc, ld = cnn.layers[0], cnn.layers[3]
    x = torch.tensor(np.asarray(cnn.x)[None], dtype=dt)
    conv = torch.nn.Conv2d(1, 8, 3).to(dt)
    dense = torch.nn.Linear(8 * 13 * 13, 10).to(dt)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(np.asarray(lc.W)))
        conv.bias.copy_(torch.tensor(np.asarray(lc.b)))
        dense.weight.copy_(torch.tensor(np.asarray(ld.W)))
        dense.bias.copy_(torch.tensor(np.asarray(ld.b)))
    label = torch.tensor([3])

    def cnn_step():
        xx = x.clone().requires_grad_(True)
        h = torch.nn.functional.max_pool2d(torch.relu(conv(xx)), 2)
        loss = torch.nn.functional.cross_entropy(dense(h.flatten(1)), label)
        conv.zero_grad()
        dense.zero_grad()
        loss.backward()
        return float(loss.detach())

    lr, lo = rnn.layers[0], rnn.layers[1]
    cell = torch.nn.RNN(lr.Wxh.shape[1], lr.Wxh.shape[0], nonlinearity="tanh",
                        batch_first=True, bias=True).to(dt)
    out = torch.nn.Linear(lr.Wxh.shape[0], 1).to(dt)
    with torch.no_grad():
        cell.weight_ih_l0.copy_(torch.tensor(np.asarray(lr.Wxh)))
        cell.weight_hh_l0.copy_(torch.tensor(np.asarray(lr.Whh)))
        cell.bias_ih_l0.copy_(torch.tensor(np.asarray(lr.b)))
        cell.bias_hh_l0.zero_()
        out.weight.copy_(torch.tensor(np.asarray(lo.W)))
        out.bias.copy_(torch.tensor(np.asarray(lo.b)))
    xs = torch.tensor(np.asarray(rnn.x)[None], dtype=dt)

    def rnn_step():
        xx = xs.clone().requires_grad_(True)
        hs, _ = cell(xx)
        y = out(hs[:, -1])
        loss = 0.5 * ((y - 0.5) ** 2).sum()
        cell.zero_grad()
        out.zero_grad()
        loss.backward()
        return float(loss.detach())

    return cnn_step, rnn_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--tree", metavar="DIR", help="time the gradcalc of this checkout instead")
    args = ap.parse_args()
    import gradcalc
    print(f"gradcalc from {os.path.dirname(os.path.dirname(gradcalc.__file__))}")
    rng = np.random.default_rng(0)
    cnn, rnn = cnn_problem(rng), rnn_problem(rng)
    torch_fns = None if args.no_torch else torch_steps(cnn, rnn)
    fns = {"CNN 1×28×28, 8 3×3 filters, pool, dense 10: gradcalc": ours(cnn)}
    if torch_fns is not None:
        fns["CNN: PyTorch CPU (float64, 1 thread)"] = torch_fns[0]
    fns["RNN T=50 D=16 H=32 tanh: gradcalc"] = ours(rnn)
    if torch_fns is not None:
        fns["RNN: PyTorch CPU (float64, 1 thread)"] = torch_fns[1]
    fns["conv2d layer alone (im2col): gradcalc"] = conv_only(cnn)
    load = os.getloadavg()[0]
    res = interleaved(fns, args.rounds)
    t_naive = timeit(naive_conv_step(cnn), min_time=0.5, max_reps=5)
    width = max(len(k) for k in fns)
    print(f"{'':<{width}}  {'CPU min':>9} {'CPU median':>11} {'wall min':>9} {'wall median':>12}")
    for name, (cpu, wall) in res.items():
        print(f"{name:<{width}}  {min(cpu) * 1e3:6.3f} ms {statistics.median(cpu) * 1e3:8.3f} ms"
              f" {min(wall) * 1e3:6.3f} ms {statistics.median(wall) * 1e3:9.3f} ms")
    print(f"{'conv2d layer alone, per-pixel Python loops (baseline)':<{width}}  "
          f"{'':>9} {'':>11} {'':>9} {t_naive * 1e3:9.3f} ms")
    print(f"({args.rounds} interleaved rounds; load average {load:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end, {os.cpu_count()} CPUs)")
    print()

    def med(name, k=0):
        return statistics.median(res[name][k])
    names = list(fns)
    t_conv = med(names[-1], 1)
    print(f"vectorized conv2d vs per-pixel loops: {t_naive / t_conv:.0f}× faster (wall)")
    if torch_fns is None:
        print("PyTorch is not installed: the PyTorch comparison is skipped")
        return
    for what, a, b, target in (("CNN", names[0], names[1], 1.5), ("RNN", names[2], names[3], 1.2)):
        r_cpu = med(a) / med(b)
        r_min = min(res[a][0]) / min(res[b][0])
        r_wall = med(a, 1) / med(b, 1)
        print(f"{what} gradcalc / PyTorch: {r_cpu:.2f}× CPU median ({r_min:.2f}× CPU min, "
              f"{r_wall:.2f}× wall median); target ≤ {target}: "
              f"{'met' if r_cpu <= target else 'not met'}")


if __name__ == "__main__":
    main()
