"""Benchmark: forward + backward of a small CNN and an RNN in gradcalc's autograd, with baselines
measured in the same run (PyTorch CPU when importable; a per-pixel loop convolution always).

    python bench/bench_conv.py            # about 5 s (10 s with PyTorch)

CNN: 1×28×28 input, conv2d with 8 3×3 filters + relu, 2×2 max pool, flatten, dense to 10,
cross-entropy.  RNN: T = 50, D = 16, H = 32, tanh, last state, dense to 1, squared error.
Times are the median of repeated runs; ratios are ours / theirs (below 1: we are faster)."""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import yaml

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from gradcalc.derive.autograd import run                    # noqa: E402
from gradcalc.problem.load import parse_problem           # noqa: E402


def timeit(fn, min_time=1.0, max_reps=2000) -> float:
    """Median seconds per call over repeated calls (about min_time in total)."""
    fn()                                              # warm up
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (time.perf_counter() - start < min_time or len(times) < 5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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
    rng = np.random.default_rng(0)
    cnn, rnn = cnn_problem(rng), rnn_problem(rng)
    rows = []
    t_cnn = timeit(ours(cnn))
    t_rnn = timeit(ours(rnn))
    t_conv = timeit(conv_only(cnn))
    t_naive = timeit(naive_conv_step(cnn), min_time=0.5, max_reps=5)
    rows.append(("CNN 1×28×28, 8 3×3 filters, pool, dense 10: gradcalc", t_cnn))
    rows.append(("RNN T=50 D=16 H=32 tanh: gradcalc", t_rnn))
    rows.append(("conv2d layer alone (im2col): gradcalc", t_conv))
    rows.append(("conv2d layer alone, per-pixel Python loops (baseline)", t_naive))
    torch_fns = torch_steps(cnn, rnn)
    if torch_fns is not None:
        t_tcnn, t_trnn = timeit(torch_fns[0]), timeit(torch_fns[1])
        rows.append(("CNN: PyTorch CPU (float64, 1 thread)", t_tcnn))
        rows.append(("RNN: PyTorch CPU (float64, 1 thread)", t_trnn))
    width = max(len(r[0]) for r in rows)
    for name, t in rows:
        print(f"{name:<{width}}  {t * 1e3:9.3f} ms")
    print()
    print(f"vectorized conv2d vs per-pixel loops: {t_naive / t_conv:.0f}× faster")
    if torch_fns is None:
        print("PyTorch is not installed: the PyTorch comparison is skipped (target: within 3×)")
    else:
        print(f"CNN gradcalc / PyTorch: {t_cnn / t_tcnn:.2f}× (target ≤ 3)")
        print(f"RNN gradcalc / PyTorch: {t_rnn / t_trnn:.2f}× (target ≤ 3)")


if __name__ == "__main__":
    main()
