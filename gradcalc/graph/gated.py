"""The graph of lstm, gru and attention layers: unrolled steps (c_t and h_t per step) and Q, K, V, A."""
from __future__ import annotations

from typing import Callable

import numpy as np


def gated_names(layer, i: int, n: int, T: int) -> list[str]:
    """The quantities of an lstm, gru or attention layer, in computation order."""
    out = f"h{i}" if i < n else "y"
    P = layer.params
    names = [f"{k}_{i}" if k in ("h0", "c0") else f"{k}{i}" for k in P]
    if layer.type == "attention":
        mix = [f"m{i}"] if "Wo" in P else []
        return names + [f"q{i}", f"k{i}", f"v{i}", f"a{i}"] + mix + [out]
    names += [f"z{i}", f"c{i}"] if layer.type == "lstm" else []
    if layer.return_ == "last":
        return names + [f"h{i}", "y" if i == n else f"h{i}[{T}]"]
    return names + [out]


def gated_layer(p, be, values: dict, i: int, layer, h, h_name: str, weights: list,
                weight_names: list, T: int, step: Callable[[int], str]):
    """Build layer i on backend `be`; `step(t)` names the state h_t (1-based).  Returns the
    output handle and its name."""
    n = len(p.layers)
    field = ("layers", i - 1)
    P = layer.params

    def param(key):
        name = f"{key}_{i}" if key in ("h0", "c0") else f"{key}{i}"
        return be.leaf(name, values.get(name, P[key]), "param")

    if layer.type == "attention":
        return _attention(p, be, i, layer, h, h_name, param, weights, weight_names, field)
    Wxh, Whh, b = param("Wxh"), param("Whh"), param("b")
    weights += [Wxh, Whh]
    weight_names += [f"Wxh{i}", f"Whh{i}"]
    H = layer.params["Whh"].shape[1]

    def state(key):
        if key in P:
            return param(key), f"{key}_{i}"
        return be.leaf(f"{key}_{i}", np.zeros(H), "const"), "0"

    prev, prev_name = state("h0")
    h0 = prev
    states, cells = [], []
    if layer.type == "gru":
        bh = param("bh") if "bh" in P else be.leaf(f"bh{i}", np.zeros(3 * H), "const")
        for t in range(1, T + 1):
            name = step(t)
            prev = be.apply("gru_step", [Wxh, Whh, b, bh, h, prev], name,
                            {"step": t, "batch": p.batch},
                            f"GRU(Wxh{i}·{h_name}[{t}] + b{i}, Whh{i}·{prev_name} + bh{i}; "
                            f"{prev_name})", field)
            prev_name = name
            states.append(prev)
    else:
        c, c_name = state("c0")
        attrs = {"batch": p.batch, "order": layer.opts.get("gate_order", "ifgo")}
        order = attrs["order"]
        for t in range(1, T + 1):
            gates = f"a{i}[{t}]"
            a = be.apply("lstm_gates", [Wxh, Whh, b, h, prev], gates, {"step": t, **attrs},
                         f"[{'; '.join(order)}] = [{'; '.join('tanh' if k == 'g' else 'σ' for k in order)}]"
                         f"(Wxh{i}·{h_name}[{t}] + Whh{i}·{prev_name} + b{i})", field)
            c = be.apply("lstm_cell", [a, c], f"c{i}[{t}]", {"order": order},
                         f"{gates}_f ⊙ {c_name} + {gates}_i ⊙ {gates}_g", field)
            c_name = f"c{i}[{t}]"
            name = step(t)
            prev = be.apply("lstm_hidden", [a, c], name, {"order": order},
                            f"{gates}_o ⊙ tanh({c_name})", field)
            prev_name = name
            states.append(prev)
            cells.append(c)
    hs_name = f"h{i}" if (i < n or layer.return_ == "last") else "y"
    hs = be.apply("stack_steps", states, hs_name, {}, f"[{step(1)}; …; {prev_name}]", field)
    if cells:
        # read-outs for the tables (the gradient flows through the steps, never through these)
        be.apply("stack_steps", cells, f"c{i}", {}, f"[c{i}[1]; …; c{i}[{T}]]", field)
        be.apply("rnn_pre", [Wxh, Whh, b, h, h0, hs], f"z{i}", {},
                 f"z{i}[t] = Wxh{i}·{h_name}[t] + Whh{i}·h{i}[t−1] + b{i} (gate stack)", field)
    if layer.return_ == "all":
        return hs, hs_name
    return prev, prev_name


def _attention(p, be, i, layer, h, h_name, param, weights, weight_names, field):
    n = len(p.layers)
    out_name = f"h{i}" if i < n else "y"
    W = {k: param(k) for k in layer.params}
    weights += list(W.values())
    weight_names += [f"{k}{i}" for k in W]
    q, k, v = (be.apply("proj", [W[f"W{s}"], h], f"{s}{i}", {}, f"{h_name}·W{s}{i}ᵀ", field)
               for s in "qkv")
    d = layer.params["Wq"].shape[0]
    causal = layer.opts.get("causal", False)
    a = be.apply("attn_weights", [q, k], f"a{i}", {"causal": causal},
                 f"softmax(q{i}·k{i}ᵀ/√{d}" + (", causal)" if causal else ")"), field)
    if "Wo" not in W:
        return be.apply("attn_mix", [a, v], out_name, {}, f"a{i}·v{i}", field), out_name
    m = be.apply("attn_mix", [a, v], f"m{i}", {}, f"a{i}·v{i}", field)
    return be.apply("proj", [W["Wo"], m], out_name, {}, f"m{i}·Wo{i}ᵀ", field), out_name
