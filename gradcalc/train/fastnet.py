"""The networks a training loop evaluates: the fast registry path, the graph fallback, malloc tuning."""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from gradcalc import ops
from gradcalc.ops.linear import affine_param_vjp, l2_factor, l2_value
from gradcalc.ops.losses import ce_forward_with_vjp


def _arr(value, shape) -> np.ndarray:
    """A registry result as a float64 array of `shape`, as autograd stores it (no copy)."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == shape:
        return value
    return np.asarray(value, dtype=float).reshape(shape)


class FastNet:
    """The network of a NetworkProblem evaluated with the registry's forward/VJP functions
    directly, without building a Node graph or recording steps.

    It performs the arithmetic of `network.build` + `autograd.Graph.backward`, in the same order
    (the regularizer's gradient is accumulated before the layer's own, as the graph sweep does),
    so its gradients equal autograd.run's bit for bit (tests/train/test_train.py). Where the
    graph's steps are exact no-ops or constants it takes shortcuts that leave every number as
    it was: the identity activation is skipped, a scalar loss's L2 penalty is one value and one
    factor 2λ·1 per network (ops.linear.l2_value / l2_factor, the l2 op's own code) instead of
    the l2 and add ops, and a hidden activation's VJP is written over the affine VJP's new dL/dh
    (`into=`). The registry functions are looked up once, here, not per call."""

    def __init__(self, problem):
        self.problem = problem
        self.n_layers = len(problem.layers)
        affine = ops.get("affine")
        self.affine = affine
        self._aff_f, self._aff_b = affine.forward, affine.vjp
        self.acts = [ops.get(layer.activation) for layer in problem.layers]
        self.act_attrs = [layer.attrs for layer in problem.layers]
        # the identity activation ("linear": a copy forward, g·1 backward) is skipped: z is the
        # layer's output and g passes through unchanged, the same numbers without two passes
        self._layers = [(i, act.forward, act.vjp, attrs, act.name == "linear", _takes_into(act.vjp))
                        for i, (act, attrs) in enumerate(zip(self.acts, self.act_attrs))]
        self.loss = ops.get(problem.loss.type) if problem.loss is not None else None
        self._ce = self.loss is not None and self.loss.name == "cross_entropy"
        self.l2 = problem.l2
        self._l2 = ops.get("l2")
        self._add = ops.get("add")
        # the l2 VJP's factor 2λ·g at the seed g = 1: the same for every batch
        self._l2_factor = l2_factor(np.ones(()), self.l2) if self.l2 else None

    def loss_and_grads(self, params: list[np.ndarray], x: np.ndarray, loss_attrs: dict,
                       want_grads: bool = True, out: list | None = None):
        """params = [W1, b1, W2, b2, …]; returns (L, L_data, y, grads in the same order).

        `out` (optional, same order): arrays that receive the gradients (None: a new array),
        e.g. the views of SGD's flat gradient buffer; the returned grads are then those."""
        aff_f, aff_b = self._aff_f, self._aff_b
        hs = [x]
        zs = []
        h = x
        for i, act_f, _, attrs, identity, _ in self._layers:
            z = np.asarray(aff_f(params[2 * i], h, params[2 * i + 1]), dtype=float)
            h = z if identity else np.asarray(act_f(z, **attrs), dtype=float)
            zs.append(z)
            hs.append(h)
        y = h
        loss_vjp = None
        if self.loss is None:
            L_data = y
        elif self._ce:      # the same L; its VJP reuses the forward's exp(y − max)
            L_data, loss_vjp = ce_forward_with_vjp(y, **loss_attrs)
            L_data = np.asarray(L_data, dtype=float)
        else:
            L_data = np.asarray(self.loss.forward(y, **loss_attrs), dtype=float)
        Ws = params[0::2]
        # L = L_data + λ·Σ‖W‖² (the add and l2 ops); for a scalar loss their VJPs pass the seed 1
        # through to L_data and give the regularizer's part of dL/dW as the factor 2λ·1 times W
        fused = bool(self.l2) and np.ndim(L_data) == 0
        if fused:
            L = np.asarray(L_data + l2_value(Ws, self.l2), dtype=float)
        elif self.l2:
            R = np.asarray(self._l2.forward(*Ws, lam=self.l2), dtype=float)
            L = np.asarray(self._add.forward(L_data, R), dtype=float)
        else:
            R, L = None, L_data
        if not want_grads:
            return L, L_data, y, None
        # backward: seed dL/dL = 1, then the reverse of the forward order
        g = np.ones(L.shape)                # L is a float64 array: ones_like(L), faster
        reg: list[Any] = [None] * self.n_layers          # the regularizer's part of dL/dW_i
        factor = self._l2_factor if fused else None
        if self.l2 and not fused:
            gL, gR = self._add.vjp(g, L, L_data, R)
            for j, gw in enumerate(self._l2.vjp(_arr(gR, R.shape), R, *Ws, lam=self.l2)):
                reg[j] = _arr(gw, Ws[j].shape)
            g = _arr(gL, L_data.shape)
        if loss_vjp is not None:
            g = _arr(loss_vjp(g)[0], y.shape)
        elif self.loss is not None:
            g = _arr(self.loss.vjp(g, L_data, y, **loss_attrs)[0], y.shape)
        grads: list[Any] = [None] * len(params)
        dest = out if out is not None else grads
        owned = False                       # is g a new array of ours (the affine VJP's dL/dx)?
        for i, _, act_b, attrs, identity, into in reversed(self._layers):
            z, h_in, h_out = zs[i], hs[i], hs[i + 1]
            if identity:
                pass
            elif owned and into:            # the activation's VJP written over g, no new array
                g = act_b(g, h_out, z, into=g, **attrs)[0]
            else:
                g = _arr(act_b(g, h_out, z, **attrs)[0], z.shape)
            W, b = params[2 * i], params[2 * i + 1]
            if i:
                gW, gx, gb = aff_b(g, z, W, h_in, b)
            else:                           # dL/dx of the input layer is not needed
                gW, gb = affine_param_vjp(g, h_in, b)
            gW = _arr(gW, W.shape)
            gb = _arr(gb, b.shape)
            dW, db = dest[2 * i], dest[2 * i + 1]
            if factor is not None:          # 2λ·W + gW, the sum the graph sweep accumulates
                gW = np.add(np.multiply(W, factor, out=dW), gW, out=gW if dW is None else dW)
            elif reg[i] is not None:        # regularizer's part first, as the graph sweep
                gW = np.add(reg[i], gW, out=gW if dW is None else dW)
            elif dW is not None:
                np.copyto(dW, gW)
                gW = dW
            if db is not None:
                np.copyto(db, gb)
                gb = db
            grads[2 * i], grads[2 * i + 1] = gW, gb
            if i:
                g = _arr(gx, h_in.shape)
                owned = True
        return L, L_data, y, grads

    def predict(self, params, x: np.ndarray) -> np.ndarray:
        h = x
        for i in range(self.n_layers):
            z = self.affine.forward(params[2 * i], h, params[2 * i + 1])
            h = self.acts[i].forward(z, **self.act_attrs[i])
        return np.asarray(h, dtype=float)


class GraphNet:
    """The fallback for layer types the fast path does not cover (conv, pooling, rnn): the
    autograd graph, rebuilt for every batch without recording steps."""

    def __init__(self, problem):
        self.problem = problem
        self.names = list(problem.parameters())

    def _variant(self, x, loss_attrs, with_loss=True):
        import dataclasses
        p = self.problem
        loss = p.loss
        if loss is not None and with_loss:
            changes = {k: loss_attrs[k] for k in ("label", "target") if k in loss_attrs}
            loss = dataclasses.replace(loss, **changes)
        return dataclasses.replace(p, x=x, loss=loss if with_loss else None,
                                   l2=p.l2 if with_loss else 0.0)

    def loss_and_grads(self, params, x, loss_attrs, want_grads: bool = True, out=None):
        # `out` is accepted for FastNet's signature; SGD copies the gradients itself
        from gradcalc.derive.autograd import Graph
        from gradcalc.graph.network import build
        graph = Graph(self.problem.file, check_domain=False)
        out = build(self._variant(x, loss_attrs), graph, dict(zip(self.names, params)))
        y = graph.by_name["y"].value
        L_data = graph.by_name["L_data"].value if "L_data" in graph.by_name else out.value
        if not want_grads:
            return out.value, L_data, y, None
        graph.backward(out, record=False)
        grads = graph.gradients()
        return out.value, L_data, y, [grads[n] for n in self.names]

    def predict(self, params, x):
        from gradcalc.derive.autograd import Graph
        from gradcalc.graph.network import build
        graph = Graph(self.problem.file, check_domain=False)
        return build(self._variant(x, {}, with_loss=False), graph,
                     dict(zip(self.names, params))).value


def _takes_into(vjp) -> bool:
    """Does an op's VJP take `into=` (an array that receives the gradient, see ops.elementwise)?"""
    try:
        return "into" in inspect.signature(vjp).parameters
    except (TypeError, ValueError):
        return False


def make_net(problem):
    """FastNet when every layer is dense (W out × in), else the graph fallback."""
    if all(getattr(layer, "type", "dense") == "dense" for layer in problem.layers) and \
            getattr(problem, "layout", "out_in") == "out_in":
        return FastNet(problem)
    return GraphNet(problem)


def fast_gradients(problem, values: dict | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """L and dL/d(every parameter) via the fast path (compare: autograd.run(problem))."""
    net = FastNet(problem)
    values = values or {}
    params = [np.asarray(values.get(n, v), dtype=float) for n, v in problem.parameters().items()]
    L, _, _, grads = net.loss_and_grads(params, problem.x, problem.loss.attrs if problem.loss else {})
    return float(L), dict(zip(problem.parameters(), grads))


_TUNED = False


def tune_allocator() -> bool:
    """Keep freed memory in the process (glibc only) instead of returning it to the system.

    Every batch allocates and frees the same few arrays (the registry ops return new arrays);
    by default glibc gives arrays over 128 KB back to the OS at once, and touching fresh pages
    each batch can cost more than the arithmetic of a small network (on the spiral benchmark,
    untuned: ~200 page faults and 2–4× the time per epoch). Raising the mmap and trim
    thresholds only changes when memory is returned.
    Called by the CLI and the benchmark, not on import. Returns True if applied."""
    global _TUNED
    if _TUNED:
        return True
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        return False
    _TUNED = bool(ok)
    return _TUNED
