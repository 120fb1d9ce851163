"""Validation of batchnorm, layernorm, dropout and embedding layers, embedding ids and `residual:`."""
from __future__ import annotations

import math

import numpy as np

from gradcalc.problem.context import ValidationContext, freeze, value_kind
from gradcalc.problem.model import Layer

NORM_TYPES = ("batchnorm", "layernorm", "dropout", "embedding")


def _dims(shape) -> str:
    return "×".join(map(str, shape)) if len(shape) else "a number"


def norm_layer(ctx: ValidationContext, raw: dict, path, i: int, ltype: str, shape: tuple,
               n: int | None, src: str) -> Layer:
    """`shape`: one example's input shape; `n`: the number of examples (None: one, no batch)."""
    if ltype == "embedding":
        return _embedding(ctx, raw, path, i, shape, src)
    if ltype == "dropout":
        return _dropout(ctx, raw, path, shape, n, src)
    if ltype == "batchnorm":
        if len(shape) not in (1, 2, 3):
            raise ctx.error(path, f"a batchnorm layer needs vectors or C×L / C×H×W examples, but "
                                  f"the {src} have shape {_dims(shape)}")
        count = (n or 1) * int(np.prod(shape[1:]))
        if count < 2:
            raise ctx.error(path, "batchnorm over a batch of one: the batch variance is zero, so "
                                  "every x̂ is 0 and no gradient reaches the input; give 'data' "
                                  "with at least 2 examples (or use layernorm)")
        features, what = shape[0], ("channels" if len(shape) > 1 else "features")
    else:
        if not shape or shape[-1] < 2:
            raise ctx.error(path, f"a layernorm layer normalizes the features of each example "
                                  f"(the last axis), but the {src} have shape {_dims(shape)}: "
                                  f"one feature has zero variance")
        features, what = shape[-1], "features (the last axis)"
    params = {}
    for key, default in (("gamma", 1.0), ("beta", 0.0)):
        if key in raw:
            v = ctx.array(raw[key], path + (key,), 1, f"{key} (one per {what.split()[0][:-1]})")
            if v.shape[0] != features:
                raise ctx.error(path + (key,), f"expected {features} entries to match the "
                                               f"{features} {what} of the {src}, got {v.shape[0]}")
            params[key] = v
        else:
            params[key] = freeze(np.full(features, default))
    eps = 1e-5
    if "eps" in raw:
        eps = ctx.number(raw["eps"], path + ("eps",))
        if not eps > 0:
            raise ctx.error(path + ("eps",), f"expected eps > 0 (added to the variance), got {eps:g}")
    return Layer(None, None, type=ltype, gamma=params["gamma"], beta=params["beta"], eps=eps,
                 out_shape=tuple(shape))


def _dropout(ctx, raw, path, shape, n, src) -> Layer:
    p = ctx.number(raw["p"], path + ("p",)) if "p" in raw else 0.5
    if not 0 <= p < 1:
        raise ctx.error(path + ("p",), f"expected a drop probability p with 0 ≤ p < 1, got {p:g}")
    mode = raw.get("mode", "train")
    if mode not in ("train", "eval"):
        raise ctx.error(path + ("mode",), f"expected 'train' (mask and 1/(1 − p)) or 'eval' "
                                          f"(dropout off), got {value_kind(mode)}")
    full = ((n,) if n is not None else ()) + tuple(shape)
    if "mask" in raw and "seed" in raw:
        raise ctx.error(path + ("seed",), "give either 'mask' or 'seed', not both")
    mask = None
    if "mask" in raw:
        mask = ctx.array(raw["mask"], path + ("mask",), len(full), f"the mask (0/1, shape "
                                                                   f"{_dims(full)})")
        if mask.shape != full:
            raise ctx.error(path + ("mask",), f"expected a mask of shape {_dims(full)} to match "
                                              f"the {src}" + (" (one row per example)" if n else "")
                            + f", got {_dims(mask.shape)}")
        bad = mask[(mask != 0) & (mask != 1)]
        if bad.size:
            raise ctx.error(path + ("mask",), f"expected only 0 (dropped) and 1 (kept) in the "
                                              f"mask, got {bad.flat[0]:g}")
    elif "seed" in raw:
        seed = raw["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, float)) or \
                not math.isfinite(seed) or seed != int(seed) or not 0 <= seed < 2 ** 63:
            raise ctx.error(path + ("seed",), f"expected a whole number ≥ 0, got {value_kind(seed)}")
        # keep a unit when its uniform draw is ≥ p: P(keep) = 1 − p
        mask = freeze((np.random.default_rng(int(seed)).random(full) >= p).astype(float))
    elif mode == "train":
        raise ctx.error(path, "a dropout layer in train mode needs a 'mask' (0/1, the shape of "
                              f"its input, {_dims(full)}) or a 'seed'")
    return Layer(None, None, type="dropout", p=p, mode=mode, mask=mask, out_shape=tuple(shape))


def _embedding(ctx, raw, path, i, shape, src) -> Layer:
    if i != 0:
        raise ctx.error(path + ("type",), "an embedding layer reads integer ids, so it must be "
                                          "the first layer (the input holds the ids)")
    if "W" not in raw:
        raise ctx.error(path, "an embedding layer needs 'W' (vocabulary size × dimension, V×D)")
    W = ctx.array(raw["W"], path + ("W",), 2, "W (vocabulary size × dimension, V×D)")
    return Layer(W, None, type="embedding", out_shape=tuple(shape) + (W.shape[1],))


def check_ids(ctx: ValidationContext, x: np.ndarray, xpath: tuple, vocab: int) -> None:
    """The ids of an embedding input: whole numbers 0 … V − 1."""
    flat = x.ravel()
    bad = flat[flat != np.round(flat)]
    if bad.size:
        raise ctx.error(xpath, f"expected integer ids (0-based rows of W), got {bad[0]:g}")
    bad = flat[(flat < 0) | (flat >= vocab)]
    if bad.size:
        raise ctx.error(xpath, f"id {bad[0]:g} is out of range: expected 0 … {vocab - 1} "
                               f"(W has {vocab} rows)")


def apply_residuals(ctx: ValidationContext, layers_raw: list, layers: list, in_shape: tuple) -> list:
    """`residual: NAME` on layer i (0-based): NAME is x or h{j} of an earlier layer j ≤ i whose
    output (one example) has the shape of layer i's output."""
    import re
    from dataclasses import replace

    shapes = {"x": tuple(in_shape)}
    out = []
    for i, (raw, layer) in enumerate(zip(layers_raw, layers)):
        if isinstance(raw, dict) and "residual" in raw:
            ref, path = raw["residual"], ("layers", i, "residual")
            earlier = "x" + "".join(f", h{j}" for j in range(1, i + 1) if f"h{j}" in shapes)
            if not isinstance(ref, str) or ref not in shapes:
                m = re.fullmatch(r"h(\d+)", ref) if isinstance(ref, str) else None
                if m and int(m.group(1)) > i:
                    raise ctx.error(path, f"{ref} is the output of layer {int(m.group(1)) - 1}, "
                                          f"which comes later; layer {i} can add {earlier}")
                raise ctx.error(path, f"expected the name of an earlier layer's output "
                                      f"({earlier}), got {value_kind(ref) if not isinstance(ref, str) else ref}")
            if shapes[ref] != tuple(layer.out_shape):
                raise ctx.error(path, f"{ref} has shape {_dims(shapes[ref])} but the output of "
                                      f"layer {i} has shape {_dims(layer.out_shape)}; a residual "
                                      f"adds quantities of the same shape")
            layer = replace(layer, residual=ref)
        if layer.type not in ("rnn", "lstm", "gru"):       # their outputs are named otherwise
            shapes[f"h{i + 1}"] = tuple(layer.out_shape)
        out.append(layer)
    return out
