"""Problem files (YAML) -> validated, frozen problem objects; the format is a public contract."""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradcalc import ops
from gradcalc.errors import ExpressionError, ProblemError

TOP_KEYS_NETWORK = ("title", "description", "input", "data", "layers", "loss", "regularization")
TOP_KEYS_EXPRESSION = ("title", "description", "expression", "values")
# sections owned by other modules (grading rubric, optimizer, variants); validated there
TOP_KEYS_OTHER = ("grading", "optimizer", "variants")
LAYER_KEYS = ("W", "b", "activation", "alpha", "name")
LOSS_KEYS = {"mse": ("type", "target", "scale"), "cross_entropy": ("type", "label"),
             "hinge": ("type", "label", "margin"), "bce": ("type", "target")}
CONSTANTS = {"pi": math.pi, "e": math.e}
# keys of the layer types besides dense (`type:` on a layer); see _typed_layer
_CONV_KEYS = ("type", "W", "b", "stride", "padding", "flip", "activation", "alpha", "name")
_POOL_KEYS = ("type", "size", "stride", "name")
TYPE_KEYS = {"dense": LAYER_KEYS + ("type",), "conv2d": _CONV_KEYS, "conv1d": _CONV_KEYS,
             "maxpool2d": _POOL_KEYS, "avgpool2d": _POOL_KEYS, "maxpool1d": _POOL_KEYS,
             "avgpool1d": _POOL_KEYS, "flatten": ("type", "name"),
             "rnn": ("type", "Wxh", "Whh", "b", "h0", "activation", "alpha", "return", "name")}
# what one example is when the first layer has this type: allowed numbers of axes, and words
_INPUT_KINDS = {"conv2d": ((2, 3), "an image (H×W or C×H×W)"),
                "conv1d": ((1, 2), "a signal (L or C×L)"),
                "rnn": ((2,), "a sequence (T×D, rows are time steps)"),
                "flatten": ((1, 2, 3), "an array")}
for _t in ("maxpool2d", "avgpool2d"):
    _INPUT_KINDS[_t] = _INPUT_KINDS["conv2d"]
for _t in ("maxpool1d", "avgpool1d"):
    _INPUT_KINDS[_t] = _INPUT_KINDS["conv1d"]


def _freeze(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Layer:
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


@dataclass(frozen=True)
class Loss:
    type: str                       # an op name from ops.LOSSES
    target: np.ndarray | None = None
    label: np.ndarray | None = None  # int class indices (0-based)
    scale: float = 0.5
    margin: float = 1.0

    @property
    def attrs(self) -> dict:
        if self.type == "mse":
            return {"target": self.target, "scale": self.scale}
        if self.type == "bce":
            return {"target": self.target}
        if self.type == "hinge":
            return {"label": self.label, "margin": self.margin}
        return {"label": self.label}


@dataclass(frozen=True)
class NetworkProblem:
    title: str
    x: np.ndarray                   # one example (1-D) or a batch (rows are examples)
    layers: tuple[Layer, ...]
    loss: Loss | None
    l2: float = 0.0
    file: str = "<string>"
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    source: Any = field(default=None, repr=False, compare=False)   # yamlio.Located
    batched: bool | None = None     # set when the layers are typed (x.ndim alone cannot tell)

    kind = "network"

    @property
    def batch(self) -> bool:
        return self.batched if self.batched is not None else self.x.ndim == 2

    def parameters(self) -> dict[str, np.ndarray]:
        out = {}
        for i, layer in enumerate(self.layers, 1):
            if layer.type == "rnn":
                out[f"Wxh{i}"] = layer.Wxh
                out[f"Whh{i}"] = layer.Whh
                out[f"b{i}"] = layer.b
                if layer.h0 is not None:
                    out[f"h0_{i}"] = layer.h0
                continue
            if layer.W is None:        # pooling and flatten have no parameters
                continue
            out[f"W{i}"] = layer.W
            out[f"b{i}"] = layer.b
        return out


@dataclass(frozen=True)
class ExpressionProblem:
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


class _Ctx:
    """Turns a path inside the document into an error with file, field and line."""

    def __init__(self, located):
        self.loc = located

    def error(self, path: tuple, message: str) -> ProblemError:
        from gradcalc.problem.yamlio import field_name
        return ProblemError(message, file=self.loc.file, field=field_name(path) or None,
                            line=self.loc.line(path))

    def keys(self, mapping: Any, path: tuple, allowed, what: str) -> dict:
        if not isinstance(mapping, dict):
            raise self.error(path, f"expected a mapping ({what}), got {_kind(mapping)}")
        for key in mapping:
            if not isinstance(key, str) or key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                tip = (f" (did you mean '{hint[0]}'?)" if hint
                       else f" (expected one of: {', '.join(dict.fromkeys(allowed))})")
                raise self.error(path + (key,), f"unknown key '{key}' in {what}{tip}")
        return mapping

    def number(self, value: Any, path: tuple) -> float:
        if isinstance(value, dict) and {"uniform", "integers", "choice"} & set(value):
            raise self.error(path, "this is a random spec of a variant template; make a concrete "
                                   "problem first: gradcalc variant TEMPLATE --student ID")
        if isinstance(value, bool) or value is None:
            raise self.error(path, f"expected a number, got {_kind(value)}")
        if isinstance(value, str):
            text = value.strip().replace(" ", "")
            try:
                value = float(text)
            except ValueError:
                raise self.error(path, f"expected a number, got '{value}'") from None
        if not isinstance(value, (int, float)):
            raise self.error(path, f"expected a number, got {_kind(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(path, f"expected a finite number, got {value}")
        return value

    def array(self, value: Any, path: tuple, ndim: int | tuple[int, ...], what: str) -> np.ndarray:
        """A rectangular nested list of numbers with the given number of dimensions."""
        dims = (ndim,) if isinstance(ndim, int) else ndim

        def walk(v, p, depth):
            if isinstance(v, list):
                if not v:
                    raise self.error(p, f"expected a non-empty list ({what})")
                return [walk(item, p + (i,), depth + 1) for i, item in enumerate(v)]
            return self.number(v, p)

        nested = walk(value, path, 0)
        shape = _shape_of(nested)
        self._ragged(nested, shape, path)
        arr = np.asarray(nested, dtype=float)
        if arr.ndim not in dims:
            want = " or ".join({0: "a number", 1: "a list", 2: "a matrix (list of rows)"}.get(d, f"{d}-D array")
                               for d in dims)
            raise self.error(path, f"expected {want} for {what}, got {_describe(arr)}")
        return _freeze(arr)

    def _ragged(self, nested, shape, path):
        def check(v, p, depth):
            if depth == len(shape):
                if isinstance(v, list):
                    raise self.error(p, "ragged array: found a list where a number was expected")
                return
            if not isinstance(v, list):
                raise self.error(p, f"ragged array: expected a list of {shape[depth]}, got a number")
            if len(v) != shape[depth]:
                raise self.error(p, f"ragged array: expected {shape[depth]} entries like the first "
                                    f"row, got {len(v)}")
            for i, item in enumerate(v):
                check(item, p + (i,), depth + 1)
        check(nested, path, 0)


def _shape_of(nested) -> tuple:
    shape = []
    while isinstance(nested, list):
        shape.append(len(nested))
        nested = nested[0]
    return tuple(shape)


def _kind(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"the text '{v}'"
    if isinstance(v, (int, float)):
        return f"a number ({v})"
    return type(v).__name__


def _describe(a: np.ndarray) -> str:
    return "a number" if a.ndim == 0 else f"shape {'×'.join(map(str, a.shape))}"


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file."""
    from gradcalc.problem.yamlio import load_yaml_file
    return problem_from_located(load_yaml_file(path))


def parse_problem(text: str | bytes, file: str = "<string>") -> Problem:
    """Validate a problem given as YAML text."""
    from gradcalc.problem.yamlio import load_yaml_text
    return problem_from_located(load_yaml_text(text, file))


def problem_from_located(loc) -> Problem:
    ctx = _Ctx(loc)
    doc = loc.data
    if not isinstance(doc, dict):
        raise ctx.error((), f"expected a mapping of sections at the top, got {_kind(doc)}")
    title = doc.get("title", Path(loc.file).stem if loc.file else "problem")
    if not isinstance(title, (str, int, float)):
        raise ctx.error(("title",), "expected a text title")
    if "expression" in doc:
        ctx.keys(doc, (), TOP_KEYS_EXPRESSION + TOP_KEYS_OTHER, "an expression problem")
        return _expression_problem(ctx, doc, str(title))
    if "layers" in doc:
        ctx.keys(doc, (), TOP_KEYS_NETWORK + TOP_KEYS_OTHER, "a network problem")
        return _network_problem(ctx, doc, str(title))
    ctx.keys(doc, (), TOP_KEYS_NETWORK + TOP_KEYS_EXPRESSION + TOP_KEYS_OTHER, "a problem")
    raise ctx.error((), "a problem needs either 'layers' (a network) or 'expression' (a scalar graph)")


# ---------------------------------------------------------------- network problems
def _network_problem(ctx: _Ctx, doc: dict, title: str) -> NetworkProblem:
    if _needs_materialize(doc):
        # data files, generated data sets and `width`/`init` layers become explicit arrays first
        from gradcalc.problem.datasets import materialize
        doc = materialize(ctx, doc)
    has_input, has_data = "input" in doc, "data" in doc
    if has_input == has_data:
        raise ctx.error((), "a network problem needs exactly one of 'input' (one example) or "
                            "'data' (a batch)")
    targets = labels = None
    first = _first_layer_type(ctx, doc.get("layers"))
    if has_input:
        if first in _INPUT_KINDS:
            dims, what = _INPUT_KINDS[first]
            x = ctx.array(doc["input"], ("input",), dims, f"the input x: {what}")
        else:
            x = ctx.array(doc["input"], ("input",), 1, "the input x")
    else:
        data = ctx.keys(doc["data"], ("data",), ("X", "targets", "labels"), "data")
        if "X" not in data:
            raise ctx.error(("data",), "data needs 'X' (rows are examples)")
        if first in _INPUT_KINDS:
            dims, what = _INPUT_KINDS[first]
            x = ctx.array(data["X"], ("data", "X"), tuple(d + 1 for d in dims),
                          f"the batch X: a list of examples, each {what}")
        else:
            x = ctx.array(data["X"], ("data", "X"), 2, "the batch X")
        if "targets" in data and "labels" in data:
            raise ctx.error(("data",), "give either 'targets' or 'labels', not both")
        if "targets" in data:
            targets = ctx.array(data["targets"], ("data", "targets"), (1, 2), "the targets")
            if targets.ndim == 1:
                targets = _freeze(targets.reshape(-1, 1).copy())
            if targets.shape[0] != x.shape[0]:
                raise ctx.error(("data", "targets"), f"expected {x.shape[0]} rows to match the "
                                                     f"{x.shape[0]} examples of X, got {targets.shape[0]}")
        if "labels" in data:
            labels = _labels(ctx, data["labels"], ("data", "labels"), x.shape[0])

    layers_raw = doc["layers"]
    if not isinstance(layers_raw, list) or not layers_raw:
        raise ctx.error(("layers",), "expected a non-empty list of layers")
    layers = []
    width = x.shape[-1]
    shape = x.shape[1:] if has_data else x.shape     # one example's shape, layer by layer
    for i, raw in enumerate(layers_raw):
        path = ("layers", i)
        ltype = _layer_type(ctx, raw, path)
        if ltype != "dense":
            layer = _typed_layer(ctx, raw, path, i, ltype, shape)
            layers.append(layer)
            shape = layer.out_shape
            width = shape[-1] if shape else 1
            continue
        if len(shape) != 1:
            raise ctx.error(path, f"a dense layer needs a vector input, but the "
                                  f"{_source(i)} have shape {_dims(shape)}; add a flatten layer "
                                  f"before it")
        if isinstance(raw, dict) and "type" not in raw:
            _refuse_typed_keys(ctx, raw, path)
        raw = ctx.keys(raw, path, TYPE_KEYS["dense"] if isinstance(raw, dict) and "type" in raw
                       else LAYER_KEYS, f"layer {i}")
        if "W" not in raw:
            raise ctx.error(path, "a layer needs a weight matrix 'W' (shape out × in)")
        W = ctx.array(raw["W"], path + ("W",), 2, "W (out × in)")
        if W.shape[1] != width:
            raise ctx.error(path + ("W",), f"expected {width} columns to match {width} "
                                           f"{_source(i)}, got {W.shape[1]}")
        if "b" in raw:
            b = ctx.array(raw["b"], path + ("b",), 1, "the bias b")
            if b.shape[0] != W.shape[0]:
                raise ctx.error(path + ("b",), f"expected {W.shape[0]} entries to match the "
                                               f"{W.shape[0]} rows of W, got {b.shape[0]}")
        else:
            b = _freeze(np.zeros(W.shape[0]))
        act, alpha = _activation(ctx, raw, path, "linear", "dense")
        layers.append(Layer(W, b, act, alpha, out_shape=(W.shape[0],)))
        width = W.shape[0]
        shape = (width,)

    typed = any(layer.type != "dense" for layer in layers)
    batch = has_data if typed else x.ndim == 2
    last = ("layers", len(layers) - 1) + (("W",) if layers[-1].W is not None else ())
    if typed and len(shape) != 1 and ("loss" in doc or has_data):
        raise ctx.error(("layers", len(layers) - 1),
                        f"the loss needs one vector per example, but the last layer gives shape "
                        f"{_dims(shape)}; add a flatten (and a dense) layer"
                        + (" or use return: last" if layers[-1].type == "rnn" else ""))
    loss = None
    if "loss" in doc:
        loss = _loss(ctx, doc["loss"], layers, targets, labels, out=width, batch=batch,
                     wpath=last)
    elif targets is not None or labels is not None:
        raise ctx.error(("data",), "data gives targets or labels but there is no 'loss' section")
    elif width != 1 or batch or len(shape) != 1:
        got = f"{width} outputs" if len(shape) == 1 else f"an output of shape {_dims(shape)}"
        raise ctx.error(last,
                        f"without a 'loss' the output itself is differentiated, so it must be a "
                        f"scalar (one example, one output unit); got {got}"
                        + (" for a batch" if batch else ""))

    l2 = 0.0
    if "regularization" in doc:
        reg = ctx.keys(doc["regularization"], ("regularization",), ("l2",), "regularization")
        if "l2" in reg:
            l2 = ctx.number(reg["l2"], ("regularization", "l2"))
            if l2 < 0:
                raise ctx.error(("regularization", "l2"), f"expected λ ≥ 0, got {l2}")
    return NetworkProblem(title, x, tuple(layers), loss, l2, ctx.loc.file, doc, ctx.loc,
                          batched=batch if typed else None)


def _needs_materialize(doc: dict) -> bool:
    data = doc.get("data")
    if isinstance(data, dict) and ("file" in data or "generate" in data):
        return True
    layers = doc.get("layers")
    return isinstance(layers, list) and any(
        isinstance(layer, dict) and ("width" in layer or "init" in layer) for layer in layers)


# ---------------------------------------------------------------- typed layers (conv, pool, rnn)
def _dims(shape) -> str:
    return "×".join(map(str, shape)) if len(shape) else "a number"


def _source(i: int) -> str:
    return "inputs" if i == 0 else f"outputs of layer {i - 1}"


def _layer_type(ctx: _Ctx, raw, path) -> str:
    """The validated `type` of a layer ("dense" when absent or when raw is not a mapping)."""
    if not isinstance(raw, dict) or "type" not in raw:
        return "dense"
    t = raw["type"]
    if not isinstance(t, str) or t not in TYPE_KEYS:
        raise ctx.error(path + ("type",), _unknown("layer type", t, TYPE_KEYS))
    return t


def _first_layer_type(ctx: _Ctx, layers_raw) -> str:
    if isinstance(layers_raw, list) and layers_raw:
        return _layer_type(ctx, layers_raw[0], ("layers", 0))
    return "dense"


def _refuse_typed_keys(ctx: _Ctx, raw: dict, path) -> None:
    """A key of another layer type on a layer without `type`: say what is missing."""
    for key in raw:
        if key in LAYER_KEYS:
            continue
        kinds = [t for t, keys in TYPE_KEYS.items() if t != "dense" and key in keys]
        if kinds:
            raise ctx.error(path + (key,), f"'{key}' belongs to {', '.join(kinds)} layers; this "
                                           f"layer has no 'type', so it is dense (add e.g. "
                                           f"type: {kinds[0]})")
        if difflib.get_close_matches(str(key), ["type"], n=1) and \
                not difflib.get_close_matches(str(key), list(LAYER_KEYS), n=1):
            raise ctx.error(path + (key,), f"unknown key '{key}' in layer {path[1]} "
                                           f"(did you mean 'type'?)")


def _count(ctx: _Ctx, raw: dict, path, key: str, default: int, least: int, what: str) -> int:
    if key not in raw:
        return default
    v = raw[key]
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or v != int(v) or v < least):
        got = v if isinstance(v, (int, float)) and not isinstance(v, bool) else _kind(v)
        raise ctx.error(path + (key,), f"expected a whole number ≥ {least} ({what}), got {got}")
    return int(v)


def _activation(ctx: _Ctx, raw: dict, path, default: str, ltype: str) -> tuple[str, float]:
    act = raw.get("activation", default)
    if not isinstance(act, str) or act not in ops.ACTIVATIONS:
        raise ctx.error(path + ("activation",), _unknown("activation", act, ops.ACTIVATIONS))
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


def _typed_layer(ctx: _Ctx, raw: dict, path, i: int, ltype: str, shape: tuple) -> Layer:
    """Validate a conv / pooling / flatten / rnn layer against the shape of its input."""
    ctx.keys(raw, path, TYPE_KEYS[ltype], f"layer {i} ({ltype})")
    src = _source(i)
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
                              f"{_dims(shape)}")
    size = _count(ctx, raw, path, "size", 2, 1, "the pooling window")
    stride = _count(ctx, raw, path, "stride", size, 1, "the step between windows")
    spatial = shape[len(shape) - nd:]
    if size > min(spatial):
        raise ctx.error(path + ("size",), f"a window of {size} does not fit the {src} of shape "
                                          f"{_dims(shape)}")
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
                              f"{_dims(shape)}")
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
        raise ctx.error(path + ("flip",), f"expected true or false, got {_kind(flip)}")
    spatial, kernel = shape[len(shape) - nd:], W.shape[W.ndim - nd:]
    for s, k in zip(spatial, kernel):
        if s + 2 * padding < k:
            raise ctx.error(path + ("W",), f"the kernel ({_dims(kernel)}) is larger than the "
                                           f"padded {src} ({_dims(tuple(n + 2 * padding for n in spatial))})")
    out_channels = 1 if plain else W.shape[0]
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
        b = _freeze(np.zeros(() if plain else (out_channels,)))
    act, alpha = _activation(ctx, raw, path, "linear", ltype)
    out = tuple((s + 2 * padding - k) // stride + 1 for s, k in zip(spatial, kernel))
    if not plain or len(shape) == nd + 1:
        out = (out_channels,) + out
    return Layer(W, b, act, alpha, type=ltype, stride=stride, padding=padding, flip=flip,
                 out_shape=out)


def _rnn_layer(ctx, raw, path, shape, src) -> Layer:
    if len(shape) != 2:
        raise ctx.error(path, f"an rnn layer needs a sequence (T×D, rows are time steps) as "
                              f"input, but the {src} have shape {_dims(shape)}")
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
                                         f"{_dims(Whh.shape)}")
    vectors = {}
    for key, words in (("b", "the bias b"), ("h0", "the initial state h0")):
        if key in raw:
            v = ctx.array(raw[key], path + (key,), 1, words)
            if v.shape[0] != H:
                raise ctx.error(path + (key,), f"expected {H} entries to match the {H} hidden "
                                               f"units (rows of Wxh), got {v.shape[0]}")
            vectors[key] = v
    b = vectors.get("b", _freeze(np.zeros(H)))
    act, alpha = _activation(ctx, raw, path, "tanh", "rnn")
    ret = raw.get("return", "last")
    if ret not in ("last", "all"):
        raise ctx.error(path + ("return",), f"expected 'last' (h_T) or 'all' (every h_t), got "
                                            f"{_kind(ret)}")
    return Layer(None, b, act, alpha, type="rnn", return_=ret, Wxh=Wxh, Whh=Whh,
                 h0=vectors.get("h0"), out_shape=(H,) if ret == "last" else (T, H))


def _labels(ctx: _Ctx, value, path, n: int) -> np.ndarray:
    arr = ctx.array(value, path, (0, 1), "class labels")
    if not np.all(arr == np.round(arr)):
        raise ctx.error(path, "expected whole-number class labels (0-based)")
    big = np.abs(arr) >= 2 ** 31            # no class number is that large (and no int64 cast)
    if np.any(big):
        raise ctx.error(path, f"label {arr[big].flat[0]:g} is out of range: expected a 0-based "
                              f"class number")
    arr = arr.astype(int)
    if arr.ndim == 1 and arr.shape[0] != n:
        raise ctx.error(path, f"expected {n} labels to match the {n} examples, got {arr.shape[0]}")
    return _freeze(arr)


def _loss(ctx: _Ctx, raw, layers, targets, labels, *, out: int, batch: bool,
          wpath: tuple) -> Loss:
    """The loss section; `out` is the output width, set at `wpath` (the last layer)."""
    path = ("loss",)
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or "type" not in raw:
        raise ctx.error(path, "expected a mapping with a 'type' (mse, cross_entropy, hinge, bce)")
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in ops.LOSSES:
        raise ctx.error(path + ("type",), _unknown("loss", kind, ops.LOSSES))
    ctx.keys(raw, path, LOSS_KEYS[kind], f"a {kind} loss")
    if kind == "cross_entropy" and layers[-1].activation == "softmax":
        raise ctx.error(("layers", len(layers) - 1, "activation"), "cross_entropy applies softmax to the raw scores itself; use "
                              "activation: linear on the last layer (softmax twice is wrong)")
    if kind in ("cross_entropy", "hinge") and out < 2:
        raise ctx.error(wpath, f"a {kind} loss needs at least 2 class scores, got {out}")
    if kind in ("mse", "bce"):
        if batch:
            if "target" in raw:
                raise ctx.error(path + ("target",), "with 'data', targets come from data.targets")
            if targets is None:
                raise ctx.error(("data",), f"a {kind} loss on a batch needs data.targets")
            target = targets
            if target.shape[1] != out:
                raise ctx.error(("data", "targets"), f"expected {out} columns to match the {out} "
                                                     f"outputs, got {target.shape[1]}")
        else:
            if "target" not in raw:
                raise ctx.error(path, f"a {kind} loss needs a 'target'")
            target = ctx.array(raw["target"], path + ("target",), (0, 1), "the target t")
            target = _freeze(target.reshape(-1).copy())
            if target.shape[0] != out:
                raise ctx.error(path + ("target",), f"expected {out} entries to match the {out} "
                                                    f"outputs of the last layer, got {target.shape[0]}")
        if kind == "bce" and np.any((target < 0) | (target > 1)):
            raise ctx.error(path + ("target",) if not batch else ("data", "targets"),
                            "bce targets must lie in [0, 1]")
        scale = ctx.number(raw["scale"], path + ("scale",)) if "scale" in raw else 0.5
        return Loss(ops.LOSSES[kind], target=target, scale=scale)
    # classification losses
    if batch:
        if "label" in raw:
            raise ctx.error(path + ("label",), "with 'data', labels come from data.labels")
        if labels is None:
            raise ctx.error(("data",), f"a {kind} loss on a batch needs data.labels")
        label, lpath = labels, ("data", "labels")
    else:
        if "label" not in raw:
            raise ctx.error(path, f"a {kind} loss needs a 'label' (0-based class index)")
        label = _labels(ctx, raw["label"], path + ("label",), 1)
        lpath = path + ("label",)
        if label.ndim != 0:
            raise ctx.error(lpath, "expected one class index for one example")
    bad = np.asarray(label).ravel()
    bad = bad[(bad < 0) | (bad >= out)]
    if bad.size:
        raise ctx.error(lpath, f"label {int(bad[0])} is out of range: expected 0 … {out - 1} "
                               f"(0-based, {out} classes)")
    margin = ctx.number(raw["margin"], path + ("margin",)) if "margin" in raw else 1.0
    return Loss(ops.LOSSES[kind], label=label, margin=margin)


def _unknown(what: str, name: Any, known) -> str:
    names = sorted(known)
    hint = difflib.get_close_matches(str(name), names, n=1)
    tip = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown {what} '{name}'{tip}; expected one of: {', '.join(names)}"


# ---------------------------------------------------------------- expression problems
def _expression_problem(ctx: _Ctx, doc: dict, title: str) -> ExpressionProblem:
    from gradcalc.problem.exprparse import parse_expression, variables
    raw_steps = doc["expression"]
    if isinstance(raw_steps, str):
        items = [("f", raw_steps, ("expression",))]
    elif isinstance(raw_steps, dict) and raw_steps:
        items = [(k, v, ("expression", k)) for k, v in raw_steps.items()]
    else:
        raise ctx.error(("expression",), "expected an expression text or a mapping of named steps")

    values_raw = doc.get("values", {})
    if not isinstance(values_raw, dict):
        raise ctx.error(("values",), f"expected a mapping (values), got {_kind(values_raw)}")
    values: dict[str, float] = {}
    for name, v in values_raw.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise ctx.error(("values", name), f"'{name}' is not a valid variable name")
        values[name] = ctx.number(v, ("values", name))

    functions = ops.expression_functions()
    steps = []
    defined = set(values)
    for name, text, path in items:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise ctx.error(path, f"'{name}' is not a valid step name")
        if name in values:
            raise ctx.error(path, f"'{name}' is both a step and a value")
        if name in functions:
            raise ctx.error(path, f"'{name}' is a function name; choose another step name")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = repr(text)
        if not isinstance(text, str):
            raise ctx.error(path, f"expected an expression text, got {_kind(text)}")
        try:
            node = parse_expression(text, functions)
        except ExpressionError as exc:
            raise ctx.error(path, exc.message) from None
        for var in variables(node):
            if var not in defined and var not in CONSTANTS:
                later = [n for n, _, _ in items if n == var]
                why = "is used before its step is defined" if later else "is not defined"
                hint = difflib.get_close_matches(var, sorted(defined), n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ctx.error(path, f"variable '{var}' {why}; give it under 'values'{tip}")
        steps.append((name, node))
        defined.add(name)
    return ExpressionProblem(title, tuple(steps), values, ctx.loc.file, doc, ctx.loc)
