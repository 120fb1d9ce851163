"""Benchmark: train the spiral (300 points, 2–100–3 relu, softmax, full batch) with gradcalc's
fast path, beside the registry ops called one by one, the autograd graph, a hand-written NumPy
loop and PyTorch CPU (if installed) with its default thread count and with one thread.

    python bench/bench_train.py                 # 1000 epochs, allocator tuned as the CLI does
    python bench/bench_train.py --no-tune       # glibc defaults (see train.tune_allocator)
    python bench/bench_train.py --no-torch      # skip PyTorch
    python bench/bench_train.py --tree /tmp/base    # the gradcalc of another checkout, e.g.
                                                # `git worktree add /tmp/base <older commit>`

Every figure is measured in this run, over --repeat rounds in which every method runs once
(interleaved, so that load from other processes falls on all of them alike): the best wall time
and the CPU time of the process (user + sys, min and median over the rounds; on a loaded machine
CPU time is the steadier figure: a descheduled process does not count it). The target (≤ 1.2×
the hand-written loop) is judged on the minimum CPU time, and the wall-time ratio is printed
beside it; PyTorch with several threads adds the CPU time of all its threads, so it is compared
by wall time. All trainings start from the same weights and must end at the same loss
(float64)."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from _baseline import tree   # noqa: E402  (bench/ is on the path when run as a script)

sys.path.insert(0, tree(sys.argv))

from gradcalc.problem.load import parse_problem  # noqa: E402
from gradcalc.train import loop as tr  # noqa: E402
from gradcalc.train.fastnet import tune_allocator  # noqa: E402

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
    from gradcalc.derive import autograd
    from gradcalc.train.optim import SGD, parse_optimizer
    names = list(p.parameters())
    values = {n: np.array(v) for n, v in p.parameters().items()}
    sgd = SGD(parse_optimizer(p), [values[n] for n in names])
    for e in range(epochs):
        graph, out, _ = autograd.run(p, values=values, record=True)
        g = graph.gradients()
        sgd.step([np.array(g[n]) for n in names], e)
    graph, out, _ = autograd.run(p, values=values, record=False)
    return float(out.value)


def registry_only(p, epochs):
    """The registry ops called one by one (affine, relu, linear, cross_entropy, l2, add and their
    VJPs, each returning a new array) with the update W ← W − lr·g written in place, and nothing
    else (no loss record, accuracy, norm or finiteness check). The fast path computes the same
    numbers with the L2 penalty in one step, the identity activation skipped and relu's VJP
    written over its input gradient."""
    from gradcalc import ops
    aff, relu, lin = ops.get("affine"), ops.get("relu"), ops.get("linear")
    ce, l2, add = ops.get("cross_entropy"), ops.get("l2"), ops.get("add")
    X, lab, lam, lr = p.x, p.loss.label, p.l2, 1.0
    W1, b1 = np.array(p.layers[0].W), np.array(p.layers[0].b)
    W2, b2 = np.array(p.layers[1].W), np.array(p.layers[1].b)
    tmp = [np.empty_like(a) for a in (W1, b1, W2, b2)]

    def loss():
        y = lin.forward(aff.forward(W2, relu.forward(aff.forward(W1, X, b1)), b2))
        return add.forward(ce.forward(y, label=lab), l2.forward(W1, W2, lam=lam))

    for _ in range(epochs):
        z1 = aff.forward(W1, X, b1)
        h1 = relu.forward(z1)
        z2 = aff.forward(W2, h1, b2)
        y = lin.forward(z2)
        Ld = ce.forward(y, label=lab)
        R = l2.forward(W1, W2, lam=lam)
        L = add.forward(Ld, R)
        gL, gR = add.vjp(np.ones_like(L), L, Ld, R)
        rW1, rW2 = l2.vjp(gR, R, W1, W2, lam=lam)
        gz2 = lin.vjp(ce.vjp(gL, Ld, y, label=lab)[0], y, z2)[0]
        gW2, gh1, gb2 = aff.vjp(gz2, z2, W2, h1, b2)
        gz1 = relu.vjp(gh1, h1, z1)[0]
        gW1, _, gb1 = aff.vjp(gz1, z1, W1, X, b1)
        for w, g, t in zip((W1, b1, W2, b2), (rW1 + gW1, gb1, rW2 + gW2, gb2), tmp):
            np.multiply(g, lr, out=t)
            np.subtract(w, t, out=w)
    return float(loss())


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


def torch_threads(n: int):
    """A torch_loop with torch's intra-op thread count set to n for the run (restored after)."""
    def run(p, epochs):
        import torch
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return torch_loop(p, epochs)
        finally:
            torch.set_num_threads(before)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-tune", action="store_true", help="keep glibc's malloc defaults")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--tree", metavar="DIR", help="time the gradcalc of this checkout (a baseline "
                    "worktree) with this benchmark's methods; default: this file's checkout")
    args = ap.parse_args()
    tuned = False if args.no_tune else tune_allocator()
    p = parse_problem(PROBLEM, "spiral-bench.yaml")
    E = args.epochs
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"spiral: {p.x.shape[0]} points, 2–100–3 relu, softmax CE, l2 {p.l2}, full batch, "
          f"{E} epochs, float64; allocator tuned: {tuned}; {os.cpu_count()} CPUs, "
          f"load average {load:.2f}")
    import gradcalc
    print(f"gradcalc timed: {Path(gradcalc.__file__).resolve().parent}")

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: its rows are skipped (pip install torch to compare)")
    # (label, function); timed in interleaved rounds (every method once per round, best of
    # `repeat` rounds) so that load from other processes falls on all of them alike
    methods = [("gradcalc train (fast path)", lambda: ours(p, E)),
               ("registry ops one by one, bare update", lambda: registry_only(p, E)),
               ("hand-written NumPy loop", lambda: hand_numpy(p, E))]
    torch_rows = []
    if torch is not None:
        default = torch.get_num_threads()      # torch's default: one thread per core
        for n in sorted({default, 1}, reverse=True):
            label = (f"PyTorch {torch.__version__} CPU, {n} thread{'s' if n > 1 else ''}"
                     f"{' (default)' if n == default else ''}")
            methods.append((label, (lambda f: lambda: f(p, E))(torch_threads(n))))
            torch_rows.append(label)
    best = {label: float("inf") for label, _ in methods}
    cpu = {label: [] for label, _ in methods}
    final = {}
    ours(p, 20), registry_only(p, 20), hand_numpy(p, 20)   # warm-up: imports, pools, allocator
    if torch is not None:
        torch_loop(p, 20)
    for _ in range(args.repeat):
        for label, fn in methods:
            c, t = time.process_time(), time.perf_counter()
            final[label] = fn()
            best[label] = min(best[label], time.perf_counter() - t)
            cpu[label].append(time.process_time() - c)
    ours_label = methods[0][0]
    t_ours = best[ours_label]
    c_ours = min(cpu[ours_label])

    rows = [(label, best[label], min(cpu[label]), statistics.median(cpu[label]), final[label])
            for label, _ in methods]
    g_epochs = max(E // 10, 1)          # the graph path is slow: time a tenth, scale it up
    c = time.process_time()
    t_graph, _ = best_of(lambda: graph_path(p, g_epochs), 1)
    c_graph = (time.process_time() - c) * E / g_epochs
    t_graph *= E / g_epochs
    L_graph = graph_path(p, E) if E <= 200 else float("nan")
    rows.insert(3, (f"autograd graph + recorded steps (×{E // g_epochs} of {g_epochs} epochs)",
                    t_graph, c_graph, c_graph, L_graph))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    print(f"\n{'method':<52} {'wall':>8} {'CPU min':>9} {'CPU med':>9} {'CPU/epoch':>10} "
          f"{'final loss':>19} {'CPU / ours':>10} {'wall / ours':>11}")
    for name, t, cmin, cmed, L in rows:
        shown = f"{L:19.15f}" if np.isfinite(L) else f"{'(not run to the end)':>19}"
        print(f"{name:<52} {t:7.3f}s {cmin:8.3f}s {cmed:8.3f}s {1e6 * cmin / E:8.1f}µs "
              f"{shown} {cmin / c_ours:9.2f}× {t / t_ours:10.2f}×")
    print(f"(wall: best of {args.repeat} interleaved rounds; CPU: user + sys of this process, "
          f"min and median of the same rounds; load average {load_end:.2f} at the end)")
    ref = final[ours_label]
    for name, _, _, _, L in rows[1:]:
        if np.isfinite(L) and abs(L - ref) > 1e-9 * max(1.0, abs(ref)):
            print(f"WARNING: {name} ends at loss {L!r}, ours {ref!r}")
    hand = "hand-written NumPy loop"
    c_hand = min(cpu[hand])
    ratio = c_ours / c_hand
    print(f"\ngradcalc fast path / hand-written NumPy loop: {ratio:.2f}× CPU time (min; median "
          f"{statistics.median(cpu[ours_label]) / statistics.median(cpu[hand]):.2f}×, wall "
          f"{t_ours / best[hand]:.2f}×) — target ≤ 1.2: {'met' if ratio <= 1.2 else 'not met'}; "
          f"the registry ops one by one: {min(cpu[methods[1][0]]) / c_hand:.2f}×")
    if torch_rows:
        fastest = min(torch_rows, key=lambda label: best[label])
        ratio = best[fastest] / t_ours
        verdict = "meets" if ratio >= 1.0 else "misses"
        print(f"\ntarget 'no slower than PyTorch' (its faster setting: {fastest.split(', ')[-1]}): "
              f"{verdict} — PyTorch takes {ratio:.2f}× our wall time")

if __name__ == "__main__":
    main()
