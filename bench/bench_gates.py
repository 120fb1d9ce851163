"""Benchmark: forward + backward of an LSTM (T = 50, D = 16, H = 32) and of a single-head
self-attention layer (T = 32, D = 32, d = 32) in gradcalc's autograd, against PyTorch CPU in
float64 measured in the same run with the same thread setting (1 thread for both: NumPy's BLAS
is limited through threadpoolctl when it is installed, else through the *_NUM_THREADS variables
set before NumPy is imported).

    python bench/bench_gates.py            # about 8 s; needs PyTorch for the ratios

Both sides compute the same thing: the loss (a dense read-out of h_T, squared error; for
attention a dense read-out of the flattened T×d output) and the gradient of every parameter and
of the input.  Times are medians of runs alternating ours and PyTorch's; ratios are ours / PyTorch (target ≤ 2)."""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from gradcalc.derive.autograd import run                    # noqa: E402
from gradcalc.problem.load import parse_problem           # noqa: E402


def timeit(fn, min_time=1.5, max_reps=2000) -> float:
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (time.perf_counter() - start < min_time or len(times) < 5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def paired(fa, fb, min_time=3.0, max_reps=2000) -> tuple[float, float]:
    """Median seconds per call of fa and of fb, timed alternately (a machine under load slows
    both alike, so their ratio is steadier than that of two separate runs)."""
    fa(), fb()
    ta, tb = [], []
    start = time.perf_counter()
    while len(ta) < max_reps and (time.perf_counter() - start < min_time or len(ta) < 5):
        for f, out in ((fa, ta), (fb, tb)):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def lstm_problem(rng, T=50, D=16, H=32):
    doc = {"title": "bench lstm", "input": rng.uniform(-1, 1, (T, D)).round(3).tolist(),
           "layers": [{"type": "lstm", "Wxh": rng.normal(0, 0.2, (4 * H, D)).round(4).tolist(),
                       "Whh": rng.normal(0, 0.15, (4 * H, H)).round(4).tolist(),
                       "b": rng.normal(0, 0.1, 4 * H).round(4).tolist()},
                      {"W": rng.normal(0, 0.2, (1, H)).round(4).tolist(), "b": [0.0]}],
           "loss": {"type": "mse", "target": [0.5]}}
    return parse_problem(yaml.safe_dump(doc), "bench_lstm.yaml")


def attention_problem(rng, T=32, D=32, d=32):
    doc = {"title": "bench attention", "input": rng.uniform(-1, 1, (T, D)).round(3).tolist(),
           "layers": [{"type": "attention", **{k: rng.normal(0, 0.2, (d, D)).round(4).tolist()
                                               for k in ("Wq", "Wk", "Wv")}},
                      {"type": "flatten"},
                      {"W": rng.normal(0, 0.05, (1, T * d)).round(4).tolist(), "b": [0.0]}],
           "loss": {"type": "mse", "target": [0.5]}}
    return parse_problem(yaml.safe_dump(doc), "bench_attention.yaml")


def ours(problem):
    def step():
        graph, out, _ = run(problem, record=False)
        return graph
    return step


def torch_lstm(problem):
    import torch
    dt = torch.float64
    layer, read = problem.layers
    P = layer.params
    H = P["Whh"].shape[1]
    cell = torch.nn.LSTM(P["Wxh"].shape[1], H, batch_first=True).to(dt)
    out = torch.nn.Linear(H, 1).to(dt)
    with torch.no_grad():
        cell.weight_ih_l0.copy_(torch.tensor(np.asarray(P["Wxh"])))
        cell.weight_hh_l0.copy_(torch.tensor(np.asarray(P["Whh"])))
        cell.bias_ih_l0.copy_(torch.tensor(np.asarray(P["b"])))
        cell.bias_hh_l0.zero_()
        out.weight.copy_(torch.tensor(np.asarray(read.W)))
        out.bias.copy_(torch.tensor(np.asarray(read.b)))
    xs = torch.tensor(np.asarray(problem.x)[None], dtype=dt)

    def step():
        xx = xs.clone().requires_grad_(True)
        hs, _ = cell(xx)
        loss = 0.5 * ((out(hs[:, -1]) - 0.5) ** 2).sum()
        cell.zero_grad()
        out.zero_grad()
        loss.backward()
        return float(loss.detach())
    return step


def torch_attention(problem):
    import torch
    dt = torch.float64
    layer, _, read = problem.layers
    W = {k: torch.tensor(np.asarray(v), dtype=dt, requires_grad=True) for k, v in layer.params.items()}
    Wr = torch.tensor(np.asarray(read.W), dtype=dt, requires_grad=True)
    br = torch.tensor(np.asarray(read.b), dtype=dt, requires_grad=True)
    x = torch.tensor(np.asarray(problem.x), dtype=dt)
    d = W["Wq"].shape[0]

    def step():
        xx = x.clone().requires_grad_(True)
        for t in list(W.values()) + [Wr, br]:
            t.grad = None
        q, k, v = xx @ W["Wq"].T, xx @ W["Wk"].T, xx @ W["Wv"].T
        a = torch.softmax(q @ k.T / d ** 0.5, dim=-1)
        y = Wr @ (a @ v).reshape(-1) + br
        loss = 0.5 * ((y - 0.5) ** 2).sum()
        loss.backward()
        return float(loss.detach())
    return step


def check_same(problem, torch_step, names):
    """Sanity: both sides compute the same loss (the timings compare the same work)."""
    graph, out, _ = run(problem, record=False)
    ref = torch_step()
    assert abs(float(out.value) - ref) < 1e-9 * max(1.0, abs(ref)), (float(out.value), ref)


def main() -> None:
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    lstm, att = lstm_problem(rng), attention_problem(rng)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None:
        print(f"LSTM T=50 D=16 H=32: gradcalc autograd  {timeit(ours(lstm)) * 1e3:9.3f} ms")
        print(f"attention T=32 D=32 d=32: gradcalc autograd  {timeit(ours(att)) * 1e3:9.3f} ms")
        print("PyTorch is not installed: the comparison is skipped (target: within 2×)")
        return
    torch.set_num_threads(1)
    tl, ta = torch_lstm(lstm), torch_attention(att)
    check_same(lstm, tl, "lstm")
    check_same(att, ta, "attention")
    ol, pl = paired(ours(lstm), tl)
    oa, pa = paired(ours(att), ta)
    rows = [("LSTM T=50 D=16 H=32: gradcalc autograd", ol),
            ("LSTM: PyTorch CPU (float64, 1 thread)", pl),
            ("attention T=32 D=32 d=32: gradcalc autograd", oa),
            ("attention: PyTorch CPU (float64, 1 thread)", pa)]
    width = max(len(r[0]) for r in rows)
    for name, t in rows:
        print(f"{name:<{width}}  {t * 1e3:9.3f} ms")
    print()
    print(f"LSTM gradcalc / PyTorch: {ol / pl:.2f}× (target ≤ 2)")
    print(f"attention gradcalc / PyTorch: {oa / pa:.2f}× (target ≤ 2)")

if __name__ == "__main__":
    main()
