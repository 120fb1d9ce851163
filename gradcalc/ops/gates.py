"""Gated recurrent ops: one LSTM time step (its cell c_t and its state h_t) and one GRU time step."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, sympy_module, unbroadcast
from gradcalc.ops.registry import Op, register

# LSTM, as torch.nn.LSTM:  z_t = Wxh x_t + Whh h_(t−1) + b  (4H rows: the gate stack)
#   a_t = [i; f; g; o] = [σ(z_i); σ(z_f); tanh(z_g); σ(z_o)]   (op lstm_gates)
#   c_t = f ⊙ c_(t−1) + i ⊙ g                                   (op lstm_cell)
#   h_t = o ⊙ tanh(c_t)                                         (op lstm_hidden)
# Three nodes per step: the gates are computed once (their VJP reads the activations from the
# node's own output), and the cell path c_(t−1) → c_t is its own edge of the graph (its gradient
# is shown per step and the vanishing-gradient diagnostics read it).  `order` is the order of
# the gate blocks in the stack: "ifgo" (PyTorch, the default) or "ifog" (CS231n).
ORDERS = ("ifgo", "ifog")


def _xt(x, t, batch):
    return x[:, t] if batch else x[t]


def _blocks(z, order):
    H = z.shape[-1] // len(order)
    return {k: z[..., p * H:(p + 1) * H] for p, k in enumerate(order)}


def _stack(parts: dict, order, shape):
    H = shape[-1]
    out = np.zeros(shape[:-1] + (H * len(order),))
    for p, k in enumerate(order):
        if k in parts:
            out[..., p * H:(p + 1) * H] = parts[k]
    return out


def _sig(z):
    # σ(z) = (1 + tanh(z/2))/2: one ufunc, no overflow for any z
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def _floats(*vs):
    return tuple(as_float(v) for v in vs)


def _side_grads(dz, W, src, t=None, batch=False):
    """∂W = δ·srcᵀ summed over a batch, ∂src = δ·W (src = x: only row t of the T×D input)."""
    if t is None:                   # the state h_(t−1) (one shared h0 for a batch: summed)
        sb = np.broadcast_to(src, dz.shape[:-1] + src.shape[-1:])
        dW = dz[:, None] * sb if dz.ndim == 1 else dz.T @ sb
        return dW, unbroadcast(dz @ W, src.shape)
    xt = _xt(src, t, batch)
    dW = dz[:, None] * xt if dz.ndim == 1 else dz.T @ xt
    dx = np.zeros(src.shape)
    dx[(slice(None), t) if batch else t] = dz @ W
    return dW, dx


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


def _gates_forward(Wxh, Whh, b, x, h, *, step, batch=False, order="ifgo"):
    Wxh, Whh, b, x, h = _floats(Wxh, Whh, b, x, h)
    z = _xt(x, step - 1, batch) @ Wxh.T + h @ Whh.T + b
    a = _sig(z)                          # σ of every block, then tanh of the cell block
    H = z.shape[-1] // 4
    p = order.index("g")
    a[..., p * H:(p + 1) * H] = np.tanh(z[..., p * H:(p + 1) * H])
    return a


def _gates_deriv(a, order):
    """act′(z) from the activations: σ′ = σ(1 − σ), tanh′ = 1 − tanh²."""
    d = a * (1.0 - a)
    H = a.shape[-1] // 4
    p = order.index("g")
    g = a[..., p * H:(p + 1) * H]
    d[..., p * H:(p + 1) * H] = 1.0 - g * g
    return d


def _gates_vjp(g, out, Wxh, Whh, b, x, h, *, step, batch=False, order="ifgo"):
    Wxh, Whh, b, x, h, g = _floats(Wxh, Whh, b, x, h, g)
    dz = g * _gates_deriv(as_float(out), order)
    dWxh, dx = _side_grads(dz, Wxh, x, step - 1, batch)
    dWhh, dh = _side_grads(dz, Whh, h)
    return dWxh, dWhh, unbroadcast(dz, b.shape), dx, dh


def _gates_sym(Wxh, Whh, b, x, h, *, step, batch=False, order="ifgo"):
    sp = sympy_module()
    Wxh, Whh, b, x, h = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, x, h))
    z = np.asarray(_xt(x, step - 1, batch).dot(Wxh.T) + h.dot(Whh.T) + b, dtype=object)
    s = _blocks(z, order)
    sig = np.vectorize(lambda v: 1 / (1 + sp.exp(-v)), otypes=[object])
    act = {k: (np.vectorize(sp.tanh, otypes=[object])(v) if k == "g" else sig(v))
           for k, v in s.items()}
    return np.concatenate([act[k] for k in order], axis=-1)


def _gates_matrix(site):
    """δ_z = δ ⊙ act′(z) with act′ read from the output a = [i; f; g; o] (σ′ = σ(1 − σ) on
    i, f, o; tanh′ = 1 − g² on g); then ∂Wxh = δ_z·x_tᵀ, ∂Whh = δ_z·h_(t−1)ᵀ, ∂b = δ_z,
    ∂x_t = Wxhᵀ·δ_z, ∂h_(t−1) = Whhᵀ·δ_z (a batch: rows)."""
    at = site.attrs
    step, order = at["step"], at.get("order", "ifgo")
    blocks = {"i": ("i ⊙ (1 − i)", r"i \odot (1 - i)"), "f": ("f ⊙ (1 − f)", r"f \odot (1 - f)"),
              "g": ("1 − g²", "1 - g^{2}"), "o": ("o ⊙ (1 − o)", r"o \odot (1 - o)")}
    text, latex = _gate_text(blocks, order)
    deriv = mx.fn(text, latex, lambda a: _gates_deriv(a, order),
                  mx.V("out"), shapes=(site.out_shape,))
    d = mx.had(mx.V("g"), deriv)
    dWxh, dx = _side_terms(d, 0, 3, site, step - 1)
    dWhh, dh = _side_terms(d, 1, 4, site)
    return dWxh, dWhh, _bias_term(d, site, 2), dx, dh


register(Op("lstm_gates", 5, _gates_forward, _gates_vjp, _gates_sym, "LSTM gates",
            "[σ; σ; tanh; σ]({0}·{3}_t + {1}·{4} + {2})",
            ("act′(z_t)·x_tᵀ", "act′(z_t)·h_(t−1)ᵀ", "act′(z_t)",
             "diag(act′(z_t))·{0} (row t only)", "diag(act′(z_t))·{1}"),
            local=lambda out, Wxh, Whh, b, x, h, *, step, batch=False, order="ifgo":
            _gates_local(out, Wxh, Whh, x, h, step, batch, order),
            matrix=_gates_matrix,
            sample=lambda rng: (rng.uniform(-1, 1, (8, 3)), rng.uniform(-1, 1, (8, 2)),
                                rng.uniform(-1, 1, 8), rng.uniform(-1, 1, (4, 3)),
                                rng.uniform(-1, 1, 2)),
            attrs_sample={"step": 2, "batch": False, "order": "ifgo"}))


def _gates_local(out, Wxh, Whh, x, h, step, batch, order):
    # as rnn_step: ∂a/∂Wxh_ij = act′(z_i) x_j, ∂a/∂Whh_ij = act′(z_i) h_j, ∂a/∂b = act′(z),
    # ∂a/∂x_t = diag(act′(z)) Wxh, ∂a/∂h = diag(act′(z)) Whh
    Wxh, Whh, x, h = _floats(Wxh, Whh, x, h)
    d = _gates_deriv(as_float(out), order)
    col = d[..., :, None]
    return (col * _xt(x, step - 1, batch)[..., None, :],
            col * np.broadcast_to(h, d.shape[:-1] + h.shape[-1:])[..., None, :], d, col * Wxh,
            col * Whh)


def _gate(a, k, order):
    H = a.shape[-1] // 4
    p = order.index(k)
    return a[..., p * H:(p + 1) * H]


def _cell_forward(a, c, *, order="ifgo"):
    a, c = as_float(a), as_float(c)
    return _gate(a, "f", order) * c + _gate(a, "i", order) * _gate(a, "g", order)


def _cell_vjp(g, out, a, c, *, order="ifgo"):
    a, c, g = as_float(a), as_float(c), as_float(g)
    i, f, gg = (_gate(a, k, order) for k in "ifg")
    da = _stack({"i": g * gg, "f": g * c, "g": g * i}, order, i.shape)
    return da, unbroadcast(g * f, c.shape)


def _hidden_forward(a, c, *, order="ifgo"):
    return _gate(as_float(a), "o", order) * np.tanh(as_float(c))


def _hidden_vjp(g, out, a, c, *, order="ifgo"):
    a, c, g = as_float(a), as_float(c), as_float(g)
    o, tc = _gate(a, "o", order), np.tanh(c)
    return _stack({"o": g * tc}, order, o.shape), unbroadcast(g * o * (1.0 - tc * tc), c.shape)


def _cell_sym(a, c, *, order="ifgo"):
    a, c = np.asarray(a, dtype=object), np.asarray(c, dtype=object)
    return np.asarray(_gate(a, "f", order) * c + _gate(a, "i", order) * _gate(a, "g", order),
                      dtype=object)


def _hidden_sym(a, c, *, order="ifgo"):
    sp = sympy_module()
    a, c = np.asarray(a, dtype=object), np.asarray(c, dtype=object)
    return np.asarray(_gate(a, "o", order) * np.vectorize(sp.tanh, otypes=[object])(c),
                      dtype=object)


def _block_term(k, order, site):
    """One gate block of the gate stack a (input 0), printed a_k."""
    return mx.fn("{0}_" + k, "{0}_{" + k + "}", lambda a: _gate(a, k, order), mx.V(0),
                 shapes=(site.shapes[0],))


def _cell_matrix(site):
    """∂a = [δ ⊙ g; δ ⊙ c_(t−1); δ ⊙ i; 0] (blocks i, f, g, o), ∂c_(t−1) = δ ⊙ f."""
    order = site.attrs.get("order", "ifgo")
    c = as_float(site.inputs[1])
    parts = {"i": ("{0} ⊙ g", r"{0} \odot g"), "f": ("{0} ⊙ c_(t−1)", r"{0} \odot c_{t-1}"),
             "g": ("{0} ⊙ i", r"{0} \odot i")}
    text, latex = _gate_text(parts, order)
    da = mx.fn(text, latex, lambda d, a: _cell_vjp(d, None, a, c, order=order)[0], mx.V("g"),
               mx.V(0), shapes=(site.out_shape, site.shapes[0]))
    return da, _state_term(mx.had(mx.V("g"), _block_term("f", order, site)), site, 1)


def _hidden_matrix(site):
    """∂a = [0; 0; 0; δ ⊙ tanh(c_t)] (the o block), ∂c_t = δ ⊙ o ⊙ (1 − tanh²(c_t))."""
    order = site.attrs.get("order", "ifgo")
    tanh_c = mx.fn("tanh({0})", r"\tanh\left({0}\right)", np.tanh, mx.V(1))
    text, latex = _gate_text({"o": ("{0} ⊙ tanh(c_t)", r"{0} \odot \tanh(c_t)")}, order)
    c = as_float(site.inputs[1])
    da = mx.fn(text, latex, lambda d: _stack({"o": d * np.tanh(c)}, order, d.shape), mx.V("g"),
               shapes=(site.out_shape,))
    dc = mx.had(mx.had(mx.V("g"), _block_term("o", order, site)),
                mx.sub(mx.Num(1.0), mx.fn("{0}²", "{0}^{2}", np.square, tanh_c)))
    return da, _state_term(dc, site, 1)


def _cell_sample(rng):
    return rng.uniform(0.05, 0.95, 8), rng.uniform(-1, 1, 2)


register(Op("lstm_cell", 2, _cell_forward, _cell_vjp, _cell_sym, "LSTM cell", "f ⊙ {1} + i ⊙ g",
            ("[g; c_(t−1); i; 0] by block", "f"), matrix=_cell_matrix, sample=_cell_sample,
            attrs_sample={"order": "ifgo"}))
register(Op("lstm_hidden", 2, _hidden_forward, _hidden_vjp, _hidden_sym, "LSTM state",
            "o ⊙ tanh({1})", ("[0; 0; 0; tanh(c_t)] by block", "o ⊙ (1 − tanh²({1}))"),
            matrix=_hidden_matrix, sample=_cell_sample, attrs_sample={"order": "ifog"}))


# GRU, as torch.nn.GRU (gate blocks r, u, n; u is PyTorch's z, renamed to keep z for the layer):
#   a = Wxh x_t + b,  s = Whh h_(t−1) + bh            (3H each)
#   r = σ(a_r + s_r),  u = σ(a_u + s_u),  n = tanh(a_n + r ⊙ s_n)
#   h_t = (1 − u) ⊙ n + u ⊙ h_(t−1)
def _gru_parts(Wxh, Whh, b, bh, x, h, step, batch):
    a = _blocks(_xt(x, step - 1, batch) @ Wxh.T + b, "run")
    s = _blocks(h @ Whh.T + bh, "run")
    r, u = _sig(a["r"] + s["r"]), _sig(a["u"] + s["u"])
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
