"""Recurrent ops: one vanilla RNN time step, stacking the steps' states, all pre-activations at once."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, unbroadcast
from gradcalc.ops.registry import REGISTRY, Op, register


# vanilla recurrent layer, one op per time step:  h_t = act(z_t),  z_t = Wxh x_t + Whh h_(t−1) + b
# (x_t is row t of the T×D input x, h_0 = h0).  Each step is its own graph node, so
# backpropagation through time is ordinary backprop over the unrolled graph: the backward table
# has one row per time step, the gradients reaching h_t from step t+1 and from the layers above
# add up, and SymPy sees one small form per step (no T-fold nested expression).
def _rnn_act(activation, alpha):
    return REGISTRY[activation], ({"alpha": alpha} if activation == "leaky_relu" else {})


def _rnn_x(x, t, batch):
    return x[:, t] if batch else x[t]


def _rnn_z(Wxh, Whh, b, x, h, t, batch):
    # row form: works for one example (vectors) and for a batch (rows are examples)
    return _rnn_x(x, t, batch) @ Wxh.T + h @ Whh.T + b


def _rnn_step_forward(Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    act, a = _rnn_act(activation, alpha)
    return act.forward(_rnn_z(as_float(Wxh), as_float(Whh), as_float(b), as_float(x), as_float(h),
                              step - 1, batch), **a)


def _rnn_step_vjp(g, out, Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    Wxh, Whh, b, x, h = as_float(Wxh), as_float(Whh), as_float(b), as_float(x), as_float(h)
    act, a = _rnn_act(activation, alpha)
    t = step - 1                                        # step is 1-based
    xt = _rnn_x(x, t, batch)
    z = xt @ Wxh.T + h @ Whh.T + b                      # z_t, as _rnn_z
    dz = as_float(act.vjp(as_float(g), as_float(out), z, **a)[0])        # δ_t = act′(z_t) ⊙ ∂L/∂h_t
    hb = h if h.shape == dz.shape else np.broadcast_to(h, dz.shape)     # h0 shared by a batch
    if dz.ndim == 1:
        col = dz[:, None]
        dWxh, dWhh = col * xt, col * hb                 # δ_t x_tᵀ, δ_t h_(t−1)ᵀ (outer products)
    else:
        dWxh, dWhh = dz.T @ xt, dz.T @ hb
    dx = np.zeros(x.shape)
    dx[(slice(None), t) if batch else t] = dz @ Wxh     # only x_t feeds this step
    dh = dz @ Whh
    return (dWxh, dWhh, dz if dz.shape == b.shape else unbroadcast(dz, b.shape), dx,
            dh if dh.shape == h.shape else unbroadcast(dh, h.shape))


def _rnn_step_local(out, Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    # ∂h_t/∂Wxh_ij = act′(z_i) x_j, ∂h_t/∂Whh_ij = act′(z_i) h_(t−1),j,
    # ∂h_t/∂b = act′(z_t),
    # ∂h_t/∂x_t = diag(act′(z_t)) Wxh, ∂h_t/∂h_(t−1) = diag(act′(z_t)) Whh
    Wxh, Whh, b, x, h = as_float(Wxh), as_float(Whh), as_float(b), as_float(x), as_float(h)
    act, a = _rnn_act(activation, alpha)
    t = step - 1                                        # step is 1-based
    z = _rnn_z(Wxh, Whh, b, x, h, t, batch)
    d = as_float(act.vjp(np.ones_like(z), as_float(out), z, **a)[0])
    col = d[..., :, None]
    return (col * _rnn_x(x, t, batch)[..., None, :],
            col * np.broadcast_to(h, d.shape)[..., None, :], d, col * Wxh, col * Whh)


def _rnn_step_branch(Wxh, Whh, b, x, h, tol=0.0, *, step, activation="tanh", alpha=0.01,
                     batch=False):
    """Kink side of every entry of z_t (relu, leaky_relu); +1 everywhere for smooth ones."""
    z = _rnn_z(as_float(Wxh), as_float(Whh), as_float(b), as_float(x), as_float(h), step - 1, batch)
    act = REGISTRY[activation]
    return act.branch(z, tol=tol) if act.branch is not None else np.ones(z.shape, dtype=int)


def _rnn_step_sym(Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    act, a = _rnn_act(activation, alpha)
    Wxh, Whh, b, x, h = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, x, h))
    xt = x[:, step - 1] if batch else x[step - 1]
    z = xt.dot(Wxh.T) + h.dot(Whh.T) + b
    return np.asarray(act.sym(z, **a), dtype=object)


def _pick(term, k: int, shape: tuple, batch: bool, name: str = "{0}[%d]"):
    """Row k (0-based, shown 1-based) of a T×… array, or of every example of a batch."""
    return mx.fn(name % (k + 1), (name % (k + 1)).replace("[", "_{[").replace("]", "]}"),
                 lambda a: a[:, k] if batch else a[k], term, shapes=(shape,))


def _rnn_step_matrix(site):
    """δ_t = δ ⊙ act′(z_t) (the activation's own rule); then ∂Wxh = δ_t·x_tᵀ, ∂Whh = δ_t·h_(t−1)ᵀ,
    ∂b = δ_t, ∂x = e_t·(Wxhᵀ·δ_t)ᵀ (only row t), ∂h_(t−1) = Whhᵀ·δ_t (a batch: rows, δ_tᵀ·X_t …)."""
    Wxh, Whh, b, x, h = (as_float(v) for v in site.inputs)
    a = site.attrs
    t, batch = a["step"] - 1, a.get("batch", False)
    act, act_attrs = _rnn_act(a.get("activation", "tanh"), a.get("alpha", 0.01))
    z = _rnn_z(Wxh, Whh, b, x, h, t, batch)
    zt = mx.Leaf(f"z[{t + 1}]", z, f"z_{{[{t + 1}]}}")
    d = act.matrix(mx.Site(act_attrs, (z,), site.out))[0].bind({0: zt})
    V = mx.V
    xt = _pick(V(3), t, x.shape, batch)
    if not batch:
        e = np.zeros(x.shape[0])
        e[t] = 1.0
        et = mx.Leaf(f"e{t + 1}", e, f"e_{{{t + 1}}}")
        return (mx.dot(d, mx.T(xt)), mx.dot(d, mx.T(V(4))), d,
                mx.dot(et, mx.T(mx.dot(mx.T(V(0)), d))), mx.dot(mx.T(V(1)), d))
    N = x.shape[0]
    hs = V(4) if h.ndim == 2 else mx.dot(mx.ones(N), mx.T(V(4)))     # h0 shared by the batch

    def place(v):
        out = np.zeros(x.shape)
        out[:, t] = v
        return out

    dx = mx.fn(f"{{0}} in column {t + 1}", rf"{{0}}\ \text{{in column {t + 1}}}", place,
               mx.dot(d, V(0)), shapes=((N, x.shape[2]),))
    dh = mx.dot(d, V(1)) if h.ndim == 2 else mx.sum_rows(mx.dot(d, V(1)))
    return (mx.dot(mx.T(d), xt), mx.dot(mx.T(d), hs), mx.sum_rows(d), dx, dh)


register(Op("rnn_step", 5, _rnn_step_forward, _rnn_step_vjp, _rnn_step_sym, "RNN step",
            "act({0}·{3}_t + {1}·{4} + {2})",
            ("act′(z_t)·x_tᵀ", "act′(z_t)·h_(t−1)ᵀ", "act′(z_t)",
             "diag(act′(z_t))·{0} (row t only)", "diag(act′(z_t))·{1}"),
            local=_rnn_step_local, branch=_rnn_step_branch, matrix=_rnn_step_matrix,
            sample=lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 3)),
                                rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 2)),
                                rng.uniform(-1, 1, 3)),
            attrs_sample={"step": 3, "activation": "tanh", "batch": False}))


def _stack_vjp(g, out, *hs):
    g = as_float(g)
    return tuple(g[..., k, :] for k in range(len(hs)))


# every h_t (or z_t) as one T×H array, rows in time order (batch: N×T×H)
register(Op("stack_steps", -1, lambda *hs: np.stack([as_float(h) for h in hs], axis=-2), _stack_vjp,
            lambda *hs: np.stack([np.asarray(h, dtype=object) for h in hs], axis=-2),
            "stack", "[{0}; …]", ("1 for its own row",),
            sample=lambda rng: (rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3),
                                rng.uniform(-2, 2, 3)),
            matrix=lambda site: tuple(_pick(mx.V("g"), k, site.out_shape, len(site.out_shape) == 3)
                                      for k in range(len(site.inputs)))))


def _rnn_pre_parts(h0, hs):
    """h_(t−1) for every step: h0, then every state but the last (N×T×H, batch first)."""
    lead = np.broadcast_to(h0, hs.shape[:-2] + (1, hs.shape[-1]))
    return np.concatenate([lead, hs[..., :-1, :]], axis=-2)


def _rnn_pre_forward(Wxh, Whh, b, x, h0, hs):
    Wxh, Whh, b, x, h0, hs = (as_float(v) for v in (Wxh, Whh, b, x, h0, hs))
    return x @ Wxh.T + _rnn_pre_parts(h0, hs) @ Whh.T + b


def _rnn_pre_vjp(g, out, Wxh, Whh, b, x, h0, hs):
    Wxh, Whh, b, x, h0, hs = (as_float(v) for v in (Wxh, Whh, b, x, h0, hs))
    g = as_float(g)
    prev = _rnn_pre_parts(h0, hs)
    H = g.shape[-1]
    flat = g.reshape(-1, H)
    dprev = g @ Whh
    dhs = np.zeros(hs.shape)
    dhs[..., :-1, :] = dprev[..., 1:, :]
    # g has one column per row of Wxh (4H for an lstm's gate stack); prev one per state unit
    return (flat.T @ x.reshape(-1, x.shape[-1]), flat.T @ prev.reshape(-1, prev.shape[-1]),
            unbroadcast(flat, b.shape), g @ Wxh, unbroadcast(dprev[..., 0, :], h0.shape), dhs)


def _rnn_pre_sym(Wxh, Whh, b, x, h0, hs):
    Wxh, Whh, b, x, h0, hs = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, x, h0, hs))
    lead = np.empty(hs.shape[:-2] + (1, hs.shape[-1]), dtype=object)
    lead[...] = h0
    prev = np.concatenate([lead, hs[..., :-1, :]], axis=-2)
    return x.dot(Wxh.T) + prev.dot(Whh.T) + b


def _rnn_pre_matrix(site):
    """Δ = ∂L/∂Z (T×H): ∂Wxh = Δᵀ·X, ∂Whh = Δᵀ·H_prev, ∂b = Σ_t δ_t, ∂X = Δ·Wxh,
    ∂h0 = Whhᵀ·δ_1, ∂H = S·(Δ·Whh) with S the shift up by one row (a batch: per example)."""
    Wxh, Whh, b, x, h0, hs = (as_float(v) for v in site.inputs)
    g, V = mx.V("g"), mx.V
    T_ = hs.shape[-2]
    prev = mx.Leaf("H_prev", _rnn_pre_parts(h0, hs), r"H_{\mathrm{prev}}")
    shift = mx.Leaf("S", np.eye(T_, k=1), "S")
    if hs.ndim == 2:
        return (mx.dot(mx.T(g), V(3)), mx.dot(mx.T(g), prev), mx.sum_rows(g), mx.dot(g, V(0)),
                mx.dot(mx.T(V(1)), _pick(g, 0, site.out_shape, False)),
                mx.dot(shift, mx.dot(g, V(1))))
    H, shape = hs.shape[-1], site.out_shape
    flat = mx.fn("{0}", "{0}", lambda a: a.reshape(-1, shape[-1]), g, shapes=(shape,))

    X = mx.fn("{0}", "{0}", lambda v: v.reshape(-1, v.shape[-1]), V(3), shapes=(x.shape,))
    prev = mx.Leaf("H_prev", prev.value.reshape(-1, H), prev.latex_name)
    first = mx.dot(_pick(g, 0, shape, True), V(1))
    return (mx.dot(mx.T(flat), X), mx.dot(mx.T(flat), prev), mx.sum_rows(flat),
            mx.fn("{0}", "{0}", lambda a, W: a @ W, g, V(0), shapes=(shape, Wxh.shape)),
            first if h0.ndim == 2 else mx.sum_rows(first),
            mx.fn("S·({0})", r"S \cdot \left({0}\right)", lambda a, W: np.einsum("st,nth->nsh", shift.value, a @ W),
                  g, V(1), shapes=(shape, Whh.shape)))


# every pre-activation z_t = Wxh x_t + Whh h_(t−1) + b at once, from the states (for the z{i}
# table entry: it reads the steps' results, the steps themselves carry the gradient)
register(Op("rnn_pre", 6, _rnn_pre_forward, _rnn_pre_vjp, _rnn_pre_sym, "Wxh·x_t + Whh·h_(t−1) + b",
            "{0}·{3}_t + {1}·h_(t−1) + {2}",
            ("x_tᵀ", "h_(t−1)ᵀ", "1", "{0}", "{1} (first step)", "{1} (next step)"),
            matrix=_rnn_pre_matrix,
            sample=lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 3)),
                                rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 2)),
                                rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 3)))))
