"""Layer validation: the type, activation and counts of any layer; typed conv/pool/flatten/rnn layers."""
from __future__ import annotations

import math

import numpy as np

from gradcalc import ops
from gradcalc.problem.context import ValidationContext, freeze, unknown_message, value_kind
from gradcalc.problem.model import LAYER_KEYS, TYPE_KEYS, Layer
from gradcalc.problem.gatedlayers import GATED_TYPES, gated_layer
from gradcalc.problem.normlayers import NORM_TYPES, norm_layer


def dims_text(shape) -> str:
    return "×".join(map(str, shape)) if len(shape) else "a number"


def source_text(i: int) -> str:
    return "inputs" if i == 0 else f"outputs of layer {i - 1}"


def layer_type(ctx: ValidationContext, raw, path) -> str:
    """The validated `type` of a layer ("dense" when absent or when raw is not a mapping)."""
    if not isinstance(raw, dict) or "type" not in raw:
        return "dense"
    t = raw["type"]
    if not isinstance(t, str) or t not in TYPE_KEYS:
        raise ctx.error(path + ("type",), unknown_message("layer type", t, TYPE_KEYS))
    return t


def first_layer_type(ctx: ValidationContext, layers_raw) -> str:
    if isinstance(layers_raw, list) and layers_raw:
        return layer_type(ctx, layers_raw[0], ("layers", 0))
    return "dense"


def refuse_typed_keys(ctx: ValidationContext, raw: dict, path) -> None:
    """A key of another layer type on a layer without `type`: say what is missing."""
    for key in raw:
        if key in LAYER_KEYS:
            continue
        kinds = [t for t, keys in TYPE_KEYS.items() if t != "dense" and key in keys]
        if kinds:
            raise ctx.error(path + (key,), f"'{key}' belongs to {', '.join(kinds)} layers; this "
                                           f"layer has no 'type', so it is dense (add e.g. "
                                           f"type: {kinds[0]})")
        import difflib    # on the error path only (start-up time)
        if difflib.get_close_matches(str(key), ["type"], n=1) and \
                not difflib.get_close_matches(str(key), list(LAYER_KEYS), n=1):
            raise ctx.error(path + (key,), f"unknown key '{key}' in layer {path[1]} "
                                           f"(did you mean 'type'?)")


def _count(ctx: ValidationContext, raw: dict, path, key: str, default: int, least: int, what: str) -> int:
    if key not in raw:
        return default
    v = raw[key]
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or v != int(v) or v < least):
        got = v if isinstance(v, (int, float)) and not isinstance(v, bool) else value_kind(v)
        raise ctx.error(path + (key,), f"expected a whole number ≥ {least} ({what}), got {got}")
    return int(v)


def layer_activation(ctx: ValidationContext, raw: dict, path, default: str, ltype: str) -> tuple[str, float]:
    act = raw.get("activation", default)
    if not isinstance(act, str) or act not in ops.ACTIVATIONS:
        raise ctx.error(path + ("activation",), unknown_message("activation", act, ops.ACTIVATIONS))
    act = ops.ACTIVATIONS[act]
    if act == "softmax" and ltype != "dense":   # softmax only turns dense scores into probabilities
        raise ctx.error(path + ("activation",), f"softmax is for the scores of a dense layer, "
                                                f"not a {ltype} layer")
    alpha = 0.01
    if "alpha" in raw:
        if act != "leaky_relu":
            raise ctx.error(path + ("alpha",), "alpha is the slope of leaky_relu; this layer "
                                               f"uses {act}")
        alpha = ctx.number(raw["alpha"], path + ("alpha",))
    return act, alpha


def typed_layer(ctx: ValidationContext, raw: dict, path, i: int, ltype: str, shape: tuple,
                n: int | None = None) -> Layer:
    """Validate a typed layer against the shape of one example's input (n: the batch size)."""
    ctx.keys(raw, path, TYPE_KEYS[ltype], f"layer {i} ({ltype})")
    src = source_text(i)
    if ltype in NORM_TYPES:
        return norm_layer(ctx, raw, path, i, ltype, shape, n, src)
    if ltype in GATED_TYPES:
        return gated_layer(ctx, raw, path, ltype, shape, src)
    if ltype in ("conv2d", "conv1d"):
        return _conv_layer(ctx, raw, path, ltype, 2 if ltype == "conv2d" else 1, shape, src)
    if ltype == "flatten":
        return Layer(None, None, type="flatten", out_shape=(int(np.prod(shape)),))
    if ltype == "rnn":
        return _rnn_layer(ctx, raw, path, shape, src)
    nd = 2 if ltype.endswith("2d") else 1
    if len(shape) < nd:
        raise ctx.error(path, f"a {ltype} layer needs {'an image' if nd == 2 else 'a signal'} "
                              f"input with {nd} spatial axes, but the {src} have shape "
                              f"{dims_text(shape)}")
    size = _count(ctx, raw, path, "size", 2, 1, "the pooling window")
    stride = _count(ctx, raw, path, "stride", size, 1, "the step between windows")
    spatial = shape[len(shape) - nd:]
    if size > min(spatial):
        raise ctx.error(path + ("size",), f"a window of {size} does not fit the {src} of shape "
                                          f"{dims_text(shape)}")
    out = shape[:len(shape) - nd] + tuple((s - size) // stride + 1 for s in spatial)
    return Layer(None, None, type=ltype, size=size, stride=stride, out_shape=out)


def _conv_layer(ctx, raw, path, ltype, nd, shape, src) -> Layer:
    if "W" not in raw:
        raise ctx.error(path, f"a {ltype} layer needs a kernel 'W' (out_channels × in_channels × "
                              + ("kh × kw, or a plain kh×kw matrix)" if nd == 2
                                 else "k, or a plain vector)"))
    what = ("the kernel W (out_channels × in_channels × kh × kw, or a plain kh×kw matrix)"
            if nd == 2 else "the kernel W (out_channels × in_channels × k, or a plain vector)")
    W = ctx.array(raw["W"], path + ("W",), (nd, nd + 2), what)
    if len(shape) not in (nd, nd + 1):
        kind = "an image (H×W or C×H×W)" if nd == 2 else "a signal (L or C×L)"
        raise ctx.error(path, f"a {ltype} layer needs {kind} as input, but the {src} have shape "
                              f"{dims_text(shape)}")
    channels = shape[0] if len(shape) == nd + 1 else 1
    plain = W.ndim == nd
    if plain and channels != 1:
        raise ctx.error(path + ("W",), f"a plain kernel works on one channel, but the {src} have "
                                       f"{channels} channels; give W as out_channels × "
                                       f"in_channels × {'kh × kw' if nd == 2 else 'k'}")
    if not plain and W.shape[1] != channels:
        raise ctx.error(path + ("W",), f"expected {channels} input channels (the second axis of "
                                       f"W) to match the {channels} channel"
                                       f"{'s' if channels != 1 else ''} of the {src}, got "
                                       f"{W.shape[1]}")
    stride = _count(ctx, raw, path, "stride", 1, 1, "the step of the kernel")
    padding = _count(ctx, raw, path, "padding", 0, 0, "zeros added on every side")
    flip = raw.get("flip", False)
    if not isinstance(flip, bool):
        raise ctx.error(path + ("flip",), f"expected true or false, got {value_kind(flip)}")
    spatial, kernel = shape[len(shape) - nd:], W.shape[W.ndim - nd:]
    for s, k in zip(spatial, kernel):
        if s + 2 * padding < k:
            raise ctx.error(path + ("W",), f"the kernel ({dims_text(kernel)}) is larger than the "
                                           f"padded {src} ({dims_text(tuple(n + 2 * padding for n in spatial))})")
    out_channels = 1 if plain else W.shape[0]
    _conv_budget(ctx, path, ltype, channels, out_channels, spatial, kernel, padding, stride)
    if "b" in raw:
        if plain:
            b = ctx.array(raw["b"], path + ("b",), (0, 1), "the bias b (a number)")
            if b.size != 1:
                raise ctx.error(path + ("b",), f"a plain kernel has one output channel, so b is "
                                               f"one number, got {b.size}")
        else:
            b = ctx.array(raw["b"], path + ("b",), 1, "the bias b (one per output channel)")
            if b.shape[0] != out_channels:
                raise ctx.error(path + ("b",), f"expected {out_channels} entries to match the "
                                               f"{out_channels} output channels of W, got "
                                               f"{b.shape[0]}")
    else:
        b = freeze(np.zeros(() if plain else (out_channels,)))
    act, alpha = layer_activation(ctx, raw, path, "linear", ltype)
    out = tuple((s + 2 * padding - k) // stride + 1 for s, k in zip(spatial, kernel))
    if not plain or len(shape) == nd + 1:
        out = (out_channels,) + out
    return Layer(W, b, act, alpha, type=ltype, stride=stride, padding=padding, flip=flip,
                 out_shape=out)


def _conv_budget(ctx, path, ltype, channels, out_channels, spatial, kernel, padding, stride):
    """Refuse before anything is allocated a conv whose padded input, windows and output do
    not fit the memory budget (padding 20,000 on a 3×3 image asked for 11.9 GiB)."""
    from math import prod

    from gradcalc.problem.budget import ACTIVATION_BYTES, over
    padded = prod(s + 2 * padding for s in spatial)
    out = prod((s + 2 * padding - k) // stride + 1 for s, k in zip(spatial, kernel))
    # the padded input, every window's patch (out positions × kernel × channels), the output
    entries = channels * padded + out * prod(kernel) * channels + out_channels * out
    refusal = over(entries * ACTIVATION_BYTES)
    if refusal:
        where = "padding" if padding else "W"
        raise ctx.error(path + (where,), f"this {ltype} layer (padded input "
                                         f"{dims_text(tuple(s + 2 * padding for s in spatial))}, "
                                         f"{channels} channel{'s' if channels != 1 else ''}) "
                                         f"{refusal}")


def _rnn_layer(ctx, raw, path, shape, src) -> Layer:
    if len(shape) != 2:
        raise ctx.error(path, f"an rnn layer needs a sequence (T×D, rows are time steps) as "
                              f"input, but the {src} have shape {dims_text(shape)}")
    T, D = shape
    for key in ("Wxh", "Whh"):
        if key not in raw:
            raise ctx.error(path, "an rnn layer needs 'Wxh' (hidden × input) and 'Whh' "
                                  "(hidden × hidden)")
    Wxh = ctx.array(raw["Wxh"], path + ("Wxh",), 2, "Wxh (hidden × input)")
    if Wxh.shape[1] != D:
        raise ctx.error(path + ("Wxh",), f"expected {D} columns to match the {D} features per "
                                         f"time step of the {src}, got {Wxh.shape[1]}")
    H = Wxh.shape[0]
    Whh = ctx.array(raw["Whh"], path + ("Whh",), 2, "Whh (hidden × hidden)")
    if Whh.shape != (H, H):
        raise ctx.error(path + ("Whh",), f"expected a {H}×{H} matrix (Wxh has {H} rows), got "
                                         f"{dims_text(Whh.shape)}")
    vectors = {}
    for key, words in (("b", "the bias b"), ("h0", "the initial state h0")):
        if key in raw:
            v = ctx.array(raw[key], path + (key,), 1, words)
            if v.shape[0] != H:
                raise ctx.error(path + (key,), f"expected {H} entries to match the {H} hidden "
                                               f"units (rows of Wxh), got {v.shape[0]}")
            vectors[key] = v
    b = vectors.get("b", freeze(np.zeros(H)))
    act, alpha = layer_activation(ctx, raw, path, "tanh", "rnn")
    ret = raw.get("return", "last")
    if ret not in ("last", "all"):
        raise ctx.error(path + ("return",), f"expected 'last' (h_T) or 'all' (every h_t), got "
                                            f"{value_kind(ret)}")
    return Layer(None, b, act, alpha, type="rnn", return_=ret, Wxh=Wxh, Whh=Whh,
                 h0=vectors.get("h0"), out_shape=(H,) if ret == "last" else (T, H))
