"""The validated problem objects (layers, loss, network and expression problems) and the key tables."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcalc.records import init as _init

# The problem classes are frozen dataclasses whose __init__ is gradcalc.records.init and have no
# __eq__/__hash__ (eq=False: they compare and hash by identity; nothing compares two problems
# or layers, and a field-wise == of their arrays would raise): each method a dataclass
# generates is compiled at import, start-up time (≈ 0.1 ms each, Layer's __init__ more)
TOP_KEYS_NETWORK = ("title", "description", "input", "data", "layers", "loss", "regularization",
                    "layout")
TOP_KEYS_EXPRESSION = ("title", "description", "expression", "values")
# sections owned by other modules (grading rubric, optimizer, variants); validated there
TOP_KEYS_OTHER = ("grading", "optimizer", "variants")
LAYER_KEYS = ("W", "b", "activation", "alpha", "name", "residual")
LOSS_KEYS = {"mse": ("type", "target", "scale", "reduction"),
             "cross_entropy": ("type", "label", "target", "reduction"),
             "hinge": ("type", "label", "margin", "reduction"),
             "bce": ("type", "target", "reduction")}
CONSTANTS = {"pi": math.pi, "e": math.e}
# keys of the layer types besides dense (`type:` on a layer); see problem.layers
_CONV_KEYS = ("type", "W", "b", "stride", "padding", "flip", "activation", "alpha", "name",
              "residual")
_POOL_KEYS = ("type", "size", "stride", "name")
TYPE_KEYS = {"dense": LAYER_KEYS + ("type",), "conv2d": _CONV_KEYS, "conv1d": _CONV_KEYS,
             "maxpool2d": _POOL_KEYS, "avgpool2d": _POOL_KEYS, "maxpool1d": _POOL_KEYS,
             "avgpool1d": _POOL_KEYS, "flatten": ("type", "name"),
             "rnn": ("type", "Wxh", "Whh", "b", "h0", "activation", "alpha", "return", "name")}
# normalization, dropout and embedding layers (validated in problem.normlayers)
TYPE_KEYS.update({"batchnorm": ("type", "gamma", "beta", "eps", "name", "residual"),
                  "layernorm": ("type", "gamma", "beta", "eps", "name", "residual"),
                  "dropout": ("type", "p", "mask", "seed", "mode", "name", "residual"),
                  "embedding": ("type", "W", "name")})
# gated recurrent and attention layers (validated in problem.gatedlayers)
TYPE_KEYS.update({"lstm": ("type", "Wxh", "Whh", "b", "h0", "c0", "gate_order", "return", "name"),
                  "gru": ("type", "Wxh", "Whh", "b", "bh", "h0", "return", "name"),
                  "attention": ("type", "Wq", "Wk", "Wv", "Wo", "causal", "name")})


@dataclass(frozen=True, eq=False, init=False)
class Layer:
    """One layer of a network problem (dense, conv, pooling, rnn, normalization …)."""

    __init__ = _init

    W: np.ndarray | None             # None for pooling, flatten and rnn layers
    b: np.ndarray | None
    activation: str = "linear"      # an op name from ops.ACTIVATIONS
    alpha: float = 0.01             # leaky_relu slope
    type: str = "dense"             # a key of TYPE_KEYS: dense, conv2d, maxpool2d, rnn …
    stride: int = 1                 # conv and pooling (pooling: defaults to size)
    padding: int = 0                # conv: zeros on every side
    flip: bool = False              # conv: flip the kernel (the mathematical convolution)
    size: int = 2                   # pooling window
    return_: str = "last"           # rnn: "last" (h_T) or "all" (every h_t, T×H)
    Wxh: np.ndarray | None = None   # rnn: input weights (H × D)
    Whh: np.ndarray | None = None   # rnn: recurrent weights (H × H)
    h0: np.ndarray | None = None    # rnn: initial state (H); None means zeros (not a parameter)
    out_shape: tuple = ()           # shape of one example's output (no batch axis)
    gamma: np.ndarray | None = None  # batchnorm / layernorm: scale (one per feature or channel)
    beta: np.ndarray | None = None   # batchnorm / layernorm: shift
    eps: float = 1e-5               # batchnorm / layernorm: added to the (biased) variance
    p: float = 0.0                  # dropout: the probability of dropping a unit
    mask: np.ndarray | None = None  # dropout: 0/1, the shape of the layer's input (batch too)
    mode: str = "train"             # dropout: "train" (mask and 1/(1 − p)) or "eval" (identity)
    residual: str | None = None     # h{i} = f(z{i}) + this earlier quantity (x or h{j}, j < i)
    # lstm / gru / attention: the parameters given in the file, by key (Wxh, Whh, b, bh, h0, c0,
    # Wq, Wk, Wv, Wo), in file order; absent h0, c0, bh are zeros and not parameters
    params: dict = field(default_factory=dict)
    opts: dict = field(default_factory=dict)   # gate_order (lstm), causal (attention)

    @property
    def attrs(self) -> dict:
        return {"alpha": self.alpha} if self.activation == "leaky_relu" else {}

    def op_attrs(self, batch: bool) -> dict:
        """Attributes of the layer's own op (conv, pooling, flatten, rnn)."""
        t = self.type
        if t in ("conv2d", "conv1d"):
            return {"stride": self.stride, "padding": self.padding, "flip": self.flip,
                    "batch": batch}
        if t == "flatten":
            return {"batch": batch}
        if t == "rnn":
            return {"activation": self.activation, "batch": batch, **self.attrs}
        if t != "dense":
            return {"size": self.size, "stride": self.stride}
        return {}


@dataclass(frozen=True, eq=False, init=False)
class Loss:
    """The loss of a network problem and its settings."""

    __init__ = _init

    type: str                       # an op name from ops.LOSSES
    target: np.ndarray | None = None
    label: np.ndarray | None = None  # int class indices (0-based)
    scale: float = 0.5
    margin: float = 1.0
    reduction: str = "mean"         # over the batch: mean, sum, or mean_all (every output; mse, bce)

    @property
    def attrs(self) -> dict:
        # the default reduction is left out: the ops' own default, and the tables stay as they were
        extra = {"reduction": self.reduction} if self.reduction != "mean" else {}
        if self.type == "mse":
            return {"target": self.target, "scale": self.scale, **extra}
        if self.type == "bce":
            return {"target": self.target, **extra}
        if self.type == "hinge":
            return {"label": self.label, "margin": self.margin, **extra}
        if self.label is None:         # cross-entropy with soft targets (probability vectors)
            return {"target": self.target, **extra}
        return {"label": self.label, **extra}


@dataclass(frozen=True, eq=False, init=False)
class NetworkProblem:
    """A network problem: the input (or batch), the layers and the loss."""

    __init__ = _init

    title: str
    x: np.ndarray                   # one example (1-D) or a batch (rows are examples)
    layers: tuple[Layer, ...]
    loss: Loss | None
    l2: float = 0.0
    file: str = "<string>"
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    source: Any = field(default=None, repr=False, compare=False)   # yamlio.Located
    batched: bool | None = None     # set when the layers are typed (x.ndim alone cannot tell)
    layout: str = "out_in"          # dense W: out × in (z = W·x + b) or in_out (z = x·W + b)

    kind = "network"

    @property
    def batch(self) -> bool:
        return self.batched if self.batched is not None else self.x.ndim == 2

    def parameters(self) -> dict[str, np.ndarray]:
        out = {}
        for i, layer in enumerate(self.layers, 1):
            if layer.type in ("lstm", "gru", "attention"):
                out.update({f"{k}_{i}" if k in ("h0", "c0") else f"{k}{i}": v
                            for k, v in layer.params.items()})
                continue
            if layer.type == "rnn":
                out[f"Wxh{i}"] = layer.Wxh
                out[f"Whh{i}"] = layer.Whh
                out[f"b{i}"] = layer.b
                if layer.h0 is not None:
                    out[f"h0_{i}"] = layer.h0
                continue
            if layer.gamma is not None:     # batchnorm, layernorm
                out[f"gamma{i}"] = layer.gamma
                out[f"beta{i}"] = layer.beta
                continue
            if layer.type == "embedding":
                out[f"W{i}"] = layer.W
                continue
            if layer.W is None:        # pooling, flatten and dropout have no parameters
                continue
            out[f"W{i}"] = layer.W
            out[f"b{i}"] = layer.b
        return out


@dataclass(frozen=True, eq=False, init=False)
class ExpressionProblem:
    """An expression problem: named steps over given values; the last step is the output."""

    __init__ = _init

    title: str
    steps: tuple[tuple[str, Any], ...]   # (name, exprparse node); the last is the output
    values: dict[str, float]
    file: str = "<string>"
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    source: Any = field(default=None, repr=False, compare=False)

    kind = "expression"

    @property
    def output(self) -> str:
        return self.steps[-1][0]

    def parameters(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=float) for k, v in self.values.items()}


Problem = NetworkProblem | ExpressionProblem
