"""Validation of lstm, gru and attention layers: the gate stacks' shapes, initial states, options."""
from __future__ import annotations

import numpy as np

from gradcalc.problem.context import ValidationContext, freeze, value_kind
from gradcalc.problem.model import Layer

GATED_TYPES = ("lstm", "gru", "attention")
_GATES = {"lstm": (4, "input, forget, cell, output (torch.nn.LSTM)"),
          "gru": (3, "reset, update, new (torch.nn.GRU)")}


def _dims(shape) -> str:
    return "×".join(map(str, shape))


def gated_layer(ctx: ValidationContext, raw: dict, path, ltype: str, shape: tuple, src: str) -> Layer:
    if len(shape) != 2:
        raise ctx.error(path, f"an {ltype} layer needs a sequence (T×D, rows are time steps) as "
                              f"input, but the {src} have shape {_dims(shape) or 'a number'}")
    if ltype == "attention":
        return _attention(ctx, raw, path, shape, src)
    T, D = shape
    k, which = _GATES[ltype]
    for key in ("Wxh", "Whh"):
        if key not in raw:
            raise ctx.error(path, f"an {ltype} layer needs 'Wxh' ({k}H×D) and 'Whh' ({k}H×H), the "
                                  f"{k} gate blocks stacked in the order {which}")
    Wxh = ctx.array(raw["Wxh"], path + ("Wxh",), 2, f"Wxh ({k}H×D, the gate blocks stacked)")
    if Wxh.shape[0] % k or Wxh.shape[0] == 0:
        raise ctx.error(path + ("Wxh",), f"expected {k}H×D (the {k} gate blocks {which} stacked), "
                                         f"got {Wxh.shape[0]} rows, not a multiple of {k}")
    H = Wxh.shape[0] // k
    if Wxh.shape[1] != D:
        raise ctx.error(path + ("Wxh",), f"expected {k}H×D with H = {H}, D = {D} ({k * H}×{D}: "
                                         f"{D} columns for the {D} features per time step of "
                                         f"the {src}), got {_dims(Wxh.shape)}")
    Whh = ctx.array(raw["Whh"], path + ("Whh",), 2, f"Whh ({k}H×H)")
    if Whh.shape != (k * H, H):
        raise ctx.error(path + ("Whh",), f"expected {k}H×H with H = {H} ({k * H}×{H}; Wxh has "
                                         f"{k * H} rows), got {_dims(Whh.shape)}")
    params = {"Wxh": Wxh, "Whh": Whh}
    sizes = {"b": k * H, "bh": k * H, "h0": H, "c0": H}
    words = {"b": f"the bias b ({k}H)", "bh": f"the hidden-side bias bh ({k}H)",
             "h0": "the initial state h0 (H)", "c0": "the initial cell c0 (H)"}
    for key in ("b", "bh", "h0", "c0"):
        if key not in raw:
            continue
        v = ctx.array(raw[key], path + (key,), 1, words[key])
        if v.shape[0] != sizes[key]:
            what = f"{k}H with H = {H}" if sizes[key] != H else f"H = {H}"
            raise ctx.error(path + (key,), f"expected {sizes[key]} entries ({what}), got "
                                           f"{v.shape[0]}")
        params[key] = v
    params.setdefault("b", freeze(np.zeros(k * H)))
    params = {key: params[key] for key in ("Wxh", "Whh", "b", "bh", "h0", "c0") if key in params}
    ret = raw.get("return", "last")
    if ret not in ("last", "all"):
        raise ctx.error(path + ("return",), f"expected 'last' (h_T) or 'all' (every h_t), got "
                                            f"{value_kind(ret)}")
    opts = {}
    if ltype == "lstm":
        order = raw.get("gate_order", "ifgo")
        if order not in ("ifgo", "ifog"):
            raise ctx.error(path + ("gate_order",), f"expected 'ifgo' (torch.nn.LSTM: input, "
                                                    f"forget, cell, output) or 'ifog' (CS231n), got "
                                                    f"{order if isinstance(order, str) else value_kind(order)}")
        opts["gate_order"] = order
    return Layer(None, params["b"], "tanh", type=ltype, return_=ret, params=params, opts=opts,
                 out_shape=(H,) if ret == "last" else (T, H))


def _attention(ctx, raw, path, shape, src) -> Layer:
    T, D = shape
    for key in ("Wq", "Wk", "Wv"):
        if key not in raw:
            raise ctx.error(path, "an attention layer needs 'Wq', 'Wk' and 'Wv' (each d×D)")
    params = {}
    for key in ("Wq", "Wk", "Wv"):
        W = ctx.array(raw[key], path + (key,), 2, f"{key} (d×D)")
        if W.shape[1] != D:
            raise ctx.error(path + (key,), f"expected {D} columns to match the {D} features per "
                                           f"time step of the {src}, got {W.shape[1]}")
        if key == "Wk" and W.shape[0] != params["Wq"].shape[0]:
            raise ctx.error(path + (key,), f"expected {params['Wq'].shape[0]} rows (d×D with "
                                           f"d = {params['Wq'].shape[0]}, the rows of Wq: "
                                           f"Q·Kᵀ needs them equal), got {W.shape[0]}")
        params[key] = W
    d = params["Wv"].shape[0]
    width = d
    if "Wo" in raw:
        Wo = ctx.array(raw["Wo"], path + ("Wo",), 2, "Wo (out × d)")
        if Wo.shape[1] != d:
            raise ctx.error(path + ("Wo",), f"expected {d} columns to match the d = {d} rows of "
                                            f"Wv, got {Wo.shape[1]}")
        params["Wo"] = Wo
        width = Wo.shape[0]
    causal = raw.get("causal", False)
    if not isinstance(causal, bool):
        raise ctx.error(path + ("causal",), f"expected true or false, got {value_kind(causal)}")
    return Layer(None, None, "linear", type="attention", return_="all", params=params,
                 opts={"causal": causal}, out_shape=(T, width))
