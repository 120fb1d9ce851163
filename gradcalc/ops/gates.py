"""Gated recurrent ops: one LSTM time step (its cell c_t and its state h_t) and one GRU time step."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, sympy_module, unbroadcast
from gradcalc.ops.elementwise import _sigmoid
from gradcalc.ops.registry import Op, register

# LSTM, as torch.nn.LSTM:  z_t = Wxh x_t + Whh h_(t−1) + b  (4H rows: the gate stack)
#   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
#   c_t = f ⊙ c_(t−1) + i ⊙ g        (op lstm_cell)
#   h_t = o ⊙ tanh(c_t)               (op lstm_hidden)
# Two nodes per step, so the cell path c_(t−1) → c_t is its own edge of the graph (its gradient
# is shown per step and the vanishing-gradient diagnostics read it); the four gates stay inside
# the ops (one small SymPy form per step, not a dozen nodes per step).  `order` is the order of
# the gate blocks in the stack: "ifgo" (PyTorch, the default) or "ifog" (CS231n).
ORDERS = ("ifgo", "ifog")


def _xt(x, t, batch):
    return x[:, t] if batch else x[t]


def _blocks(z, order):
    H = z.shape[-1] // len(order)
    return {k: z[..., p * H:(p + 1) * H] for p, k in enumerate(order)}


def _stack(parts: dict, order, shape):
    return np.concatenate([np.broadcast_to(parts[k], shape) if k in parts else np.zeros(shape)
                           for k in order], axis=-1)


def _lstm_gates(Wxh, Whh, b, x, h, step, batch, order):
    z = _xt(x, step - 1, batch) @ Wxh.T + h @ Whh.T + b
    s = _blocks(z, order)
    return {"i": _sigmoid(s["i"]), "f": _sigmoid(s["f"]), "g": np.tanh(s["g"]),
            "o": _sigmoid(s["o"])}


def _floats(*vs):
    return tuple(as_float(v) for v in vs)


def _side_grads(dz, W, src, t=None, batch=False):
    """∂W = δ·srcᵀ summed over a batch, ∂src = δ·W (src = x: only row t of the T×D input)."""
    if t is None:                   # the state h_(t−1) (one shared h0 for a batch: summed)
        sb = np.broadcast_to(src, dz.shape[:-1] + src.shape[-1:])
        dW = np.outer(dz, sb) if dz.ndim == 1 else dz.T @ sb
        return dW, unbroadcast(dz @ W, src.shape)
    xt = _xt(src, t, batch)
    dW = np.outer(dz, xt) if dz.ndim == 1 else dz.T @ xt
    dx = np.zeros(src.shape)
    dx[(slice(None), t) if batch else t] = dz @ W
    return dW, dx


def _lstm_cell_forward(Wxh, Whh, b, x, h, c, *, step, batch=False, order="ifgo"):
    Wxh, Whh, b, x, h, c = _floats(Wxh, Whh, b, x, h, c)
    a = _lstm_gates(Wxh, Whh, b, x, h, step, batch, order)
    return a["f"] * c + a["i"] * a["g"]


def _lstm_cell_dz(g, c, a, order):
    # ∂c_t/∂z: i ⊙ (1 − i) ⊙ g, f ⊙ (1 − f) ⊙ c_(t−1), i ⊙ (1 − g²), nothing for o
    return _stack({"i": g * a["g"] * a["i"] * (1 - a["i"]), "f": g * c * a["f"] * (1 - a["f"]),
                   "g": g * a["i"] * (1 - a["g"] ** 2)}, order, a["i"].shape)


def _lstm_cell_vjp(g, out, Wxh, Whh, b, x, h, c, *, step, batch=False, order="ifgo"):
    Wxh, Whh, b, x, h, c, g = _floats(Wxh, Whh, b, x, h, c, g)
    a = _lstm_gates(Wxh, Whh, b, x, h, step, batch, order)
    dz = _lstm_cell_dz(g, c, a, order)
    dWxh, dx = _side_grads(dz, Wxh, x, step - 1, batch)
    dWhh, dh = _side_grads(dz, Whh, h)
    return dWxh, dWhh, unbroadcast(dz, b.shape), dx, dh, unbroadcast(g * a["f"], c.shape)


def _lstm_hidden_forward(Wxh, Whh, b, x, h, c, *, step, batch=False, order="ifgo"):
    Wxh, Whh, b, x, h, c = _floats(Wxh, Whh, b, x, h, c)
    return _lstm_gates(Wxh, Whh, b, x, h, step, batch, order)["o"] * np.tanh(c)


def _lstm_hidden_vjp(g, out, Wxh, Whh, b, x, h, c, *, step, batch=False, order="ifgo"):
    Wxh, Whh, b, x, h, c, g = _floats(Wxh, Whh, b, x, h, c, g)
    o = _lstm_gates(Wxh, Whh, b, x, h, step, batch, order)["o"]
    tc = np.tanh(c)
    dz = _stack({"o": g * tc * o * (1 - o)}, order, o.shape)
    dWxh, dx = _side_grads(dz, Wxh, x, step - 1, batch)
    dWhh, dh = _side_grads(dz, Whh, h)
    return dWxh, dWhh, unbroadcast(dz, b.shape), dx, dh, unbroadcast(g * o * (1 - tc ** 2), c.shape)


def _sym_gates(Wxh, Whh, b, x, h, step, batch, order):
    sp = sympy_module()
    Wxh, Whh, b, x, h = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, x, h))
    z = _xt(x, step - 1, batch).dot(Wxh.T) + h.dot(Whh.T) + b
    s = _blocks(np.asarray(z, dtype=object), order)
    sig = np.vectorize(lambda v: 1 / (1 + sp.exp(-v)), otypes=[object])
    return {"i": sig(s["i"]), "f": sig(s["f"]), "g": np.vectorize(sp.tanh, otypes=[object])(s["g"]),
            "o": sig(s["o"])}


def _lstm_cell_sym(Wxh, Whh, b, x, h, c, *, step, batch=False, order="ifgo"):
    a = _sym_gates(Wxh, Whh, b, x, h, step, batch, order)
    return np.asarray(a["f"] * np.asarray(c, dtype=object) + a["i"] * a["g"], dtype=object)


def _lstm_hidden_sym(Wxh, Whh, b, x, h, c, *, step, batch=False, order="ifgo"):
    sp = sympy_module()
    a = _sym_gates(Wxh, Whh, b, x, h, step, batch, order)
    tc = np.vectorize(sp.tanh, otypes=[object])(np.asarray(c, dtype=object))
    return np.asarray(a["o"] * tc, dtype=object)


def _pick(term, k: int, shape: tuple, batch: bool):
    """Row k of the T×D input (of every example of a batch), shown 1-based."""
    return mx.fn("{0}[%d]" % (k + 1), "{0}_{[%d]}" % (k + 1),
                 lambda a: a[:, k] if batch else a[k], term, shapes=(shape,))


def _side_terms(d, W_index: int, src_index: int, site, t=None):
    """The matrix forms of _side_grads: ∂W = δ·srcᵀ (a batch: δᵀ·src), ∂src = Wᵀ·δ (δ·W);
    for the input x only row t is reached (e_t·(Wᵀ·δ)ᵀ, or its column t in a batch)."""
    V = mx.V
    src = as_float(site.inputs[src_index])
    batch = site.attrs.get("batch", False)
    if t is None:
        if len(site.out_shape) == 1:
            return mx.dot(d, mx.T(V(src_index))), mx.dot(mx.T(V(W_index)), d)
        if src.ndim == 2:
            return mx.dot(mx.T(d), V(src_index)), mx.dot(d, V(W_index))
        n = site.out_shape[0]        # one h0 shared by the batch: its rows are copies
        return (mx.dot(mx.T(d), mx.dot(mx.ones(n), mx.T(V(src_index)))),
                mx.sum_rows(mx.dot(d, V(W_index))))
    xt = _pick(V(src_index), t, src.shape, batch)
    if not batch:
        e = np.zeros(src.shape[0])
        e[t] = 1.0
        et = mx.Leaf(f"e{t + 1}", e, f"e_{{{t + 1}}}")
        return mx.dot(d, mx.T(xt)), mx.dot(et, mx.T(mx.dot(mx.T(V(W_index)), d)))

    def place(v):
        out = np.zeros(src.shape)
        out[:, t] = v
        return out

    dx = mx.fn(f"{{0}} in column {t + 1}", rf"{{0}}\ \text{{in column {t + 1}}}", place,
               mx.dot(d, V(W_index)), shapes=((src.shape[0], src.shape[2]),))
    return mx.dot(mx.T(d), xt), dx


def _bias_term(d, site, index):
    return d if len(site.out_shape) == 1 else mx.sum_rows(d)


def _state_term(t, site, index):
    """A state input (h_(t−1), c_(t−1)) shared by a batch gets its rows summed."""
    if len(site.out_shape) == 2 and np.ndim(site.inputs[index]) == 1:
        return mx.sum_rows(t)
    return t


def _gate_text(parts: dict, order) -> tuple[str, str]:
    text = "[" + "; ".join(parts.get(k, ("0", "0"))[0] for k in order) + "]"
    latex = r"\begin{bmatrix}" + r" \\ ".join(parts.get(k, ("0", "0"))[1] for k in order) + \
        r"\end{bmatrix}"
    return text, latex


def _lstm_matrix(site, kind):
    """δ_z, the gradient of the gate stack (gate values i, f, g, o of step t by name), then the
    products of the RNN step: ∂Wxh = δ_z·x_tᵀ, ∂Whh = δ_z·h_(t−1)ᵀ, ∂b = δ_z, ∂x_t = Wxhᵀ·δ_z,
    ∂h_(t−1) = Whhᵀ·δ_z; and ∂c_(t−1) = δ ⊙ f (cell) or ∂c_t = δ ⊙ o ⊙ (1 − tanh²(c_t)) (state)."""
    Wxh, Whh, b, x, h, c = _floats(*site.inputs)
    at = site.attrs
    step, batch, order = at["step"], at.get("batch", False), at.get("order", "ifgo")
    a = _lstm_gates(Wxh, Whh, b, x, h, step, batch, order)
    G = mx.V("g")
    leaf = {k: mx.Leaf(f"{k}_{step}", v, f"{k}_{{{step}}}") for k, v in a.items()}
    if kind == "cell":
        parts = {"i": ("δ ⊙ g ⊙ i ⊙ (1 − i)", r"\delta \odot g \odot i \odot (1 - i)"),
                 "f": ("δ ⊙ c_(t−1) ⊙ f ⊙ (1 − f)", r"\delta \odot c_{t-1} \odot f \odot (1 - f)"),
                 "g": ("δ ⊙ i ⊙ (1 − g²)", r"\delta \odot i \odot (1 - g^{2})")}
        fn = lambda d: _lstm_cell_dz(d, c, a, order)                    # noqa: E731
        last = _state_term(mx.had(G, leaf["f"]), site, 5)
    else:
        parts = {"o": ("δ ⊙ tanh(c_t) ⊙ o ⊙ (1 − o)", r"\delta \odot \tanh(c_t) \odot o \odot (1 - o)")}
        fn = lambda d: _stack({"o": d * np.tanh(c) * a["o"] * (1 - a["o"])}, order,   # noqa: E731
                              a["o"].shape)
        tanh_c = mx.fn("tanh({0})", r"\tanh\left({0}\right)", np.tanh, mx.V(5))
        last = _state_term(mx.had(mx.had(G, leaf["o"]),
                                  mx.sub(mx.Num(1.0), mx.fn("{0}²", "{0}^{2}", np.square, tanh_c))),
                           site, 5)
    text, latex = _gate_text(parts, order)
    d = mx.fn(text.replace("δ", "{0}"), latex.replace(r"\delta", "{0}"), fn, G,
              shapes=(site.out_shape,))
    dWxh, dx = _side_terms(d, 0, 3, site, step - 1)
    dWhh, dh = _side_terms(d, 1, 4, site)
    return dWxh, dWhh, _bias_term(d, site, 2), dx, dh, last


def _lstm_sample(rng):
    H, D, T = 2, 3, 4
    return (rng.uniform(-1, 1, (4 * H, D)), rng.uniform(-1, 1, (4 * H, H)), rng.uniform(-1, 1, 4 * H),
            rng.uniform(-1, 1, (T, D)), rng.uniform(-1, 1, H), rng.uniform(-1, 1, H))


register(Op("lstm_cell", 6, _lstm_cell_forward, _lstm_cell_vjp, _lstm_cell_sym, "LSTM cell",
            "σ(f_t) ⊙ {5} + σ(i_t) ⊙ tanh(g_t)",
            ("δ_z·x_tᵀ with δ = 𝟙", "δ_z·h_(t−1)ᵀ with δ = 𝟙", "δ_z with δ = 𝟙",
             "{0}ᵀ·δ_z with δ = 𝟙 (row t only)", "{1}ᵀ·δ_z with δ = 𝟙", "f_t"),
            matrix=lambda site: _lstm_matrix(site, "cell"), sample=_lstm_sample,
            attrs_sample={"step": 2, "batch": False, "order": "ifgo"}))
register(Op("lstm_hidden", 6, _lstm_hidden_forward, _lstm_hidden_vjp, _lstm_hidden_sym,
            "LSTM state", "σ(o_t) ⊙ tanh({5})",
            ("δ_z·x_tᵀ with δ = 𝟙", "δ_z·h_(t−1)ᵀ with δ = 𝟙", "δ_z with δ = 𝟙",
             "{0}ᵀ·δ_z with δ = 𝟙 (row t only)", "{1}ᵀ·δ_z with δ = 𝟙", "o_t ⊙ (1 − tanh²({5}))"),
            matrix=lambda site: _lstm_matrix(site, "hidden"), sample=_lstm_sample,
            attrs_sample={"step": 3, "batch": False, "order": "ifog"}))


# GRU, as torch.nn.GRU (gate blocks r, u, n; u is PyTorch's z, renamed to keep z for the layer):
#   a = Wxh x_t + b,  s = Whh h_(t−1) + bh            (3H each)
#   r = σ(a_r + s_r),  u = σ(a_u + s_u),  n = tanh(a_n + r ⊙ s_n)
#   h_t = (1 − u) ⊙ n + u ⊙ h_(t−1)
def _gru_parts(Wxh, Whh, b, bh, x, h, step, batch):
    a = _blocks(_xt(x, step - 1, batch) @ Wxh.T + b, "run")
    s = _blocks(h @ Whh.T + bh, "run")
    r, u = _sigmoid(a["r"] + s["r"]), _sigmoid(a["u"] + s["u"])
    n = np.tanh(a["n"] + r * s["n"])
    return r, u, n, s["n"]


def _gru_forward(Wxh, Whh, b, bh, x, h, *, step, batch=False):
    Wxh, Whh, b, bh, x, h = _floats(Wxh, Whh, b, bh, x, h)
    r, u, n, _ = _gru_parts(Wxh, Whh, b, bh, x, h, step, batch)
    return (1 - u) * n + u * h


def _gru_deltas(g, h, r, u, n, sn):
    """(δ_a, δ_s): the gradients of the input-side and hidden-side pre-activations (3H each)."""
    dn = g * (1 - u) * (1 - n ** 2)
    du = g * (h - n) * u * (1 - u)
    dr = dn * sn * r * (1 - r)
    shape = dn.shape
    return (_stack({"r": dr, "u": du, "n": dn}, "run", shape),
            _stack({"r": dr, "u": du, "n": dn * r}, "run", shape))


def _gru_vjp(g, out, Wxh, Whh, b, bh, x, h, *, step, batch=False):
    Wxh, Whh, b, bh, x, h, g = _floats(Wxh, Whh, b, bh, x, h, g)
    r, u, n, sn = _gru_parts(Wxh, Whh, b, bh, x, h, step, batch)
    da, ds = _gru_deltas(g, h, r, u, n, sn)
    dWxh, dx = _side_grads(da, Wxh, x, step - 1, batch)
    dWhh, dh = _side_grads(ds, Whh, h)
    dh = dh + unbroadcast(g * u, h.shape)           # the direct path u ⊙ h_(t−1)
    return dWxh, dWhh, unbroadcast(da, b.shape), unbroadcast(ds, bh.shape), dx, dh


def _gru_sym(Wxh, Whh, b, bh, x, h, *, step, batch=False):
    sp = sympy_module()
    Wxh, Whh, b, bh, x, h = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, bh, x, h))
    a = _blocks(np.asarray(_xt(x, step - 1, batch).dot(Wxh.T) + b, dtype=object), "run")
    s = _blocks(np.asarray(h.dot(Whh.T) + bh, dtype=object), "run")
    sig = np.vectorize(lambda v: 1 / (1 + sp.exp(-v)), otypes=[object])
    r, u = sig(a["r"] + s["r"]), sig(a["u"] + s["u"])
    n = np.vectorize(sp.tanh, otypes=[object])(a["n"] + r * s["n"])
    return np.asarray((1 - u) * n + u * h, dtype=object)


def _gru_matrix(site):
    """δ_a = [δ_r; δ_u; δ_n] and δ_s = [δ_r; δ_u; r ⊙ δ_n] with δ_n = δ ⊙ (1 − u) ⊙ (1 − n²),
    δ_u = δ ⊙ (h_(t−1) − n) ⊙ u ⊙ (1 − u), δ_r = δ_n ⊙ s_n ⊙ r ⊙ (1 − r); then ∂Wxh = δ_a·x_tᵀ,
    ∂Whh = δ_s·h_(t−1)ᵀ, ∂b = δ_a, ∂bh = δ_s, ∂x_t = Wxhᵀ·δ_a, ∂h_(t−1) = Whhᵀ·δ_s + δ ⊙ u."""
    Wxh, Whh, b, bh, x, h = _floats(*site.inputs)
    step, batch = site.attrs["step"], site.attrs.get("batch", False)
    r, u, n, sn = _gru_parts(Wxh, Whh, b, bh, x, h, step, batch)
    G = mx.V("g")
    dn = ("δ ⊙ (1 − u) ⊙ (1 − n²)", r"\delta \odot (1 - u) \odot (1 - n^{2})")
    parts = {"r": ("δ_n ⊙ s_n ⊙ r ⊙ (1 − r)", r"\delta_n \odot s_n \odot r \odot (1 - r)"),
             "u": ("δ ⊙ (h_(t−1) − n) ⊙ u ⊙ (1 − u)", r"\delta \odot (h_{t-1} - n) \odot u \odot (1 - u)")}
    terms = []
    for k, side in enumerate(("a", "s")):
        p = dict(parts, n=dn if side == "a" else ("r ⊙ " + dn[0], r"r \odot " + dn[1]))
        text, latex = _gate_text(p, "run")
        terms.append(mx.fn(text.replace("δ ", "{0} ").replace("δ_n", "δ_n"),
                           latex.replace(r"\delta \odot", r"{0} \odot"),
                           lambda d, k=k: _gru_deltas(d, h, r, u, n, sn)[k], G,
                           shapes=(site.out_shape,)))
    da, ds = terms
    dWxh, dx = _side_terms(da, 0, 4, site, step - 1)
    dWhh, dh = _side_terms(ds, 1, 5, site)
    direct = _state_term(mx.had(G, mx.Leaf(f"u_{step}", u, f"u_{{{step}}}")), site, 5)
    return dWxh, dWhh, _bias_term(da, site, 2), _bias_term(ds, site, 3), dx, mx.add(dh, direct)


register(Op("gru_step", 6, _gru_forward, _gru_vjp, _gru_sym, "GRU step",
            "(1 − u_t) ⊙ n_t + u_t ⊙ {5}",
            ("δ_a·x_tᵀ with δ = 𝟙", "δ_s·h_(t−1)ᵀ with δ = 𝟙", "δ_a with δ = 𝟙",
             "δ_s with δ = 𝟙", "{0}ᵀ·δ_a with δ = 𝟙 (row t only)", "{1}ᵀ·δ_s + u_t with δ = 𝟙"),
            matrix=_gru_matrix,
            sample=lambda rng: (rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, (6, 2)),
                                rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 6),
                                rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, 2)),
            attrs_sample={"step": 2, "batch": False}))
