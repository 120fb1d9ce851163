"""The graph of batchnorm, layernorm, dropout and embedding layers, and of `residual:` sums."""
from __future__ import annotations

import numpy as np

from gradcalc.problem.model import Layer, NetworkProblem


def norm_names(layer: Layer, i: int, out: str) -> list[str]:
    """The quantities of layer i in computation order (`out`: h{i}, f{i} or y)."""
    if layer.type in ("batchnorm", "layernorm"):
        return [f"gamma{i}", f"beta{i}", f"xhat{i}", out]
    if layer.type == "dropout":
        return [out]            # the mask is a constant, printed in the formula of h{i}
    return [f"W{i}", out]      # embedding


def _norm_axes(layer: Layer, ndim: int, batch: bool) -> tuple[tuple, int]:
    """(the axes x̂ is taken over, the feature axis of γ and β counted from the end)."""
    if layer.type == "layernorm":
        return (-1,), -1
    shape = layer.out_shape
    if len(shape) == 1:                     # vectors: over the batch, one γ per feature
        return (0,), -1
    channel = 1 if batch else 0             # C×L, C×H×W: over N (and L, H×W), one γ per channel
    return tuple(a for a in range(ndim) if a != channel), -len(shape)


def norm_layer_graph(p: NetworkProblem, be, param, i: int, layer: Layer, h, h_name: str,
                     out_name: str, field: tuple):
    """Apply layer i to `h`; returns the handle of its output, named `out_name`."""
    kind = layer.type
    if kind == "embedding":
        W = param(f"W{i}", layer.W)
        ids = np.rint(p.x).astype(int)      # validated: whole numbers 0 … V − 1
        return be.apply("embedding", [W], out_name, {"ids": ids},
                        f"W{i}[{h_name}]", field + ("W",))
    if kind == "dropout":
        if layer.mode == "eval":
            return be.apply("linear", [h], out_name, {}, h_name, field + ("mode",))   # eval
        mask = be.leaf(f"mask{i}", layer.mask, "const")
        return be.apply("dropout", [h, mask], out_name, {"p": layer.p},
                        f"{h_name} ⊙ mask{i} / (1 − {layer.p:g}), mask{i} = {mask_text(layer.mask)}",
                        field + ("mask",))
    gamma, beta = param(f"gamma{i}", layer.gamma), param(f"beta{i}", layer.beta)
    ndim = len(layer.out_shape) + (1 if p.batch else 0)
    axes, axis = _norm_axes(layer, ndim, p.batch)
    # μ and σ² over the batch (batchnorm) or the features of each example (layernorm)
    xhat = be.apply(kind, [h], f"xhat{i}", {"axes": axes, "eps": layer.eps},
                    f"({h_name} − μ) / √(σ² + {layer.eps:g})", field)
    return be.apply("scale_shift", [xhat, gamma, beta], out_name, {"axis": axis},
                    f"gamma{i} ⊙ xhat{i} + beta{i}", field + ("gamma",))


def mask_text(mask) -> str:
    """A 0/1 mask on one line, rows separated by semicolons: [1 0 1; 1 1 0]."""
    m = np.asarray(mask, dtype=int)
    if m.ndim <= 1:
        return "[" + " ".join(map(str, m.ravel())) + "]"
    return "[" + "; ".join(mask_text(row)[1:-1] for row in m) + "]"


def residual_names(names: list[str], layer: Layer, i: int) -> list[str]:
    """With `residual:` the layer's own result is f{i}, and its output is f{i} + NAME."""
    return names[:-1] + [f"f{i}", names[-1]] if layer.residual else names


def add_residual(be, p: NetworkProblem, i: int, h, h_name: str, named: dict):
    """h{i} = f{i} + NAME when layer i has `residual: NAME`; remembers the layer's output."""
    layer = p.layers[i - 1]
    if layer.residual:
        out = f"h{i}" if i < len(p.layers) else "y"
        h = be.apply("add", [h, named[layer.residual]], out, {}, f"{h_name} + {layer.residual}",
                     ("layers", i - 1, "residual"))
        h_name = out
    named[h_name] = h
    return h, h_name
