"""Benchmark: train the spiral (300 points, 2–100–3 relu, softmax, full batch) with gradcalc's
fast path, beside the autograd graph, a hand-written NumPy loop and PyTorch CPU (if installed).

    python bench/bench_train.py                 # 1000 epochs, allocator tuned as the CLI does
    python bench/bench_train.py --no-tune       # glibc defaults (see train.tune_allocator)

Every figure is measured in this run; ratios are against gradcalc's fast path. All four
trainings start from the same weights and must end at the same loss (float64)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcalc.problem import parse_problem  # noqa: E402
from gradcalc import train as tr  # noqa: E402

PROBLEM = """title: spiral benchmark
data: {generate: spiral, n: 100, classes: 3, noise: 0.2, seed: 0}
layers:
  - {width: 100, activation: relu, init: {type: he, seed: 0}}
  - {width: 3, activation: linear, init: {type: xavier, seed: 1}}
loss: cross_entropy
regularization: {l2: 0.001}
optimizer: {type: sgd, lr: 1.0}
"""


def best_of(fn, repeat: int) -> tuple[float, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def ours(p, epochs):
    return tr.train(p, epochs=epochs, batch_size="all", interrupt=False).final_loss


def graph_path(p, epochs):
    """The same SGD through the recorded autograd graph (the path `solve` uses)."""
    from gradcalc import autograd
    from gradcalc.optim import SGD, parse_optimizer
    names = list(p.parameters())
    values = {n: np.array(v) for n, v in p.parameters().items()}
    sgd = SGD(parse_optimizer(p), [values[n] for n in names])
    for e in range(epochs):
        graph, out, _ = autograd.run(p, values=values, record=True)
        g = graph.gradients()
        sgd.step([np.array(g[n]) for n in names], e)
    graph, out, _ = autograd.run(p, values=values, record=False)
    return float(out.value)


def hand_numpy(p, epochs):
    """The floor: the same math written by hand with in-place NumPy."""
    X, y = p.x, p.loss.label
    n = len(y)
    rows = np.arange(n)
    W1, b1 = np.array(p.layers[0].W), np.array(p.layers[0].b)
    W2, b2 = np.array(p.layers[1].W), np.array(p.layers[1].b)
    lam, lr = p.l2, 1.0

    def loss():
        h = np.maximum(X @ W1.T + b1, 0)
        s = h @ W2.T + b2
        s -= s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return -logp[rows, y].mean() + lam * ((W1 ** 2).sum() + (W2 ** 2).sum())

    for _ in range(epochs):
        z1 = X @ W1.T
        z1 += b1
        h1 = np.maximum(z1, 0)
        s = h1 @ W2.T
        s += b2
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        s[rows, y] -= 1
        s /= n
        gW2 = s.T @ h1 + 2 * lam * W2
        gb2 = s.sum(axis=0)
        gh = s @ W2
        gh *= z1 > 0
        gW1 = gh.T @ X + 2 * lam * W1
        gb1 = gh.sum(axis=0)
        W1 -= lr * gW1
        b1 -= lr * gb1
        W2 -= lr * gW2
        b2 -= lr * gb2
    return float(loss())


def torch_loop(p, epochs):
    import torch
    X = torch.tensor(p.x, dtype=torch.float64)
    y = torch.tensor(np.asarray(p.loss.label), dtype=torch.long)
    W1 = torch.tensor(p.layers[0].W, dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor(p.layers[0].b, dtype=torch.float64, requires_grad=True)
    W2 = torch.tensor(p.layers[1].W, dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor(p.layers[1].b, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([W1, b1, W2, b2], lr=1.0)
    lam = p.l2

    def loss():
        s = torch.relu(X @ W1.T + b1) @ W2.T + b2
        return torch.nn.functional.cross_entropy(s, y) + lam * ((W1 ** 2).sum() + (W2 ** 2).sum())

    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        L = loss()
        L.backward()
        opt.step()
    with torch.no_grad():
        return float(loss())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-tune", action="store_true", help="keep glibc's malloc defaults")
    args = ap.parse_args()
    tuned = False if args.no_tune else tr.tune_allocator()
    p = parse_problem(PROBLEM, "spiral-bench.yaml")
    E = args.epochs
    print(f"spiral: {p.x.shape[0]} points, 2–100–3 relu, softmax CE, l2 {p.l2}, full batch, "
          f"{E} epochs, float64; allocator tuned: {tuned}")

    rows = []
    t_ours, L_ours = best_of(lambda: ours(p, E), args.repeat)
    rows.append(("gradcalc train (fast path)", t_ours, L_ours, 1.0))
    t_hand, L_hand = best_of(lambda: hand_numpy(p, E), args.repeat)
    rows.append(("hand-written NumPy loop", t_hand, L_hand, t_hand / t_ours))
    g_epochs = max(E // 10, 1)          # the graph path is slow: time a tenth, scale it up
    t_graph, _ = best_of(lambda: graph_path(p, g_epochs), 1)
    t_graph *= E / g_epochs
    L_graph = graph_path(p, E) if E <= 200 else float("nan")
    rows.append((f"autograd graph + recorded steps (×{E // g_epochs} of {g_epochs} epochs)",
                 t_graph, L_graph, t_graph / t_ours))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        t_torch, L_torch = best_of(lambda: torch_loop(p, E), args.repeat)
        rows.append((f"PyTorch {torch.__version__} CPU ({torch.get_num_threads()} threads)",
                     t_torch, L_torch, t_torch / t_ours))
    else:
        print("PyTorch is not installed: its row is skipped (pip install torch to compare)")

    print(f"\n{'method':<58} {'time':>9} {'per epoch':>10} {'final loss':>20} {'time / ours':>12}")
    for name, t, L, ratio in rows:
        shown = f"{L:20.15f}" if np.isfinite(L) else f"{'(not run to the end)':>20}"
        print(f"{name:<58} {t:8.3f}s {1e6 * t / E:8.1f}µs {shown} {ratio:11.2f}×")
    ref = L_ours
    for name, _, L, _ in rows[1:]:
        if np.isfinite(L) and abs(L - ref) > 1e-9 * max(1.0, abs(ref)):
            print(f"WARNING: {name} ends at loss {L!r}, ours {ref!r}")
    if torch is not None:
        verdict = "meets" if rows[-1][1] >= t_ours else "misses"
        print(f"\ntarget 'no slower than PyTorch': {verdict} ({rows[-1][1] / t_ours:.2f}×)")


if __name__ == "__main__":
    main()
