"""The arguments of a student's layer that are not read from its own object: shapes, parameter
dicts, integer labels and ids, the train/test mode — from options or from the course's defaults.

Nothing here runs the student's code; values given on the command line are parsed with gradcalc's
own safe YAML loader (never eval).  Defaults follow the CS231n assignments' names and shapes, so
that `gradcalc check --layer layers.py` runs the usual layers with no option at all.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from gradcalc.errors import UsageError

# parameter dicts and scalars of the CS231n layers; dropout gets a fixed seed so that its
# forward pass is the same function on every call (finite differences need that)
DEFAULT_PARAMS = {
    "conv_param": {"stride": 1, "pad": 1},
    "pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2},
    "bn_param": {"mode": "train"},
    "ln_param": {},
    "gn_param": {},
    "dropout_param": {"mode": "train", "p": 0.5, "seed": 0},
    "G": 2,
    # Deep Learning from Scratch constructors: Pooling(pool_h, pool_w, …)
    "pool_h": 2, "pool_w": 2,
}
# arguments holding integer class labels: shape x.shape[:-1], values in range(x.shape[-1])
LABEL_NAMES = ("y", "t", "label", "labels", "target", "targets")

# default array shapes by layer family (the first family whose key is in the layer's name)
_FAMILIES = [
    ("spatial_groupnorm", {"x": (2, 4, 3, 3), "gamma": (1, 4, 1, 1), "beta": (1, 4, 1, 1)}),
    ("spatial_batchnorm", {"x": (2, 3, 4, 4), "gamma": (3,), "beta": (3,)}),
    # two examples (a dw from one example only must show), small enough for a naive loop
    ("conv", {"x": (2, 2, 4, 4), "w": (3, 2, 3, 3), "b": (3,)}),
    ("pool", {"x": (2, 3, 4, 4)}),
    ("lstm_step", {"x": (3, 4), "prev_h": (3, 5), "prev_c": (3, 5), "wx": (4, 20),
                   "wh": (5, 20), "b": (20,)}),
    ("lstm", {"x": (2, 3, 4), "h0": (2, 5), "wx": (4, 20), "wh": (5, 20), "b": (20,)}),
    ("rnn_step", {"x": (3, 4), "prev_h": (3, 5), "wx": (4, 5), "wh": (5, 5), "b": (5,)}),
    ("rnn", {"x": (2, 3, 4), "h0": (2, 5), "wx": (4, 5), "wh": (5, 5), "b": (5,)}),
    ("temporal_affine", {"x": (2, 3, 4), "w": (4, 5), "b": (5,)}),
    ("temporal_softmax", {"x": (2, 3, 5)}),
    ("embed", {"x": (2, 3), "w": (10, 4)}),
    ("loss", {"x": (4, 5)}),
]
_INT_DEFAULTS = {"embed": {"x": (0, 9)}}      # word ids index the rows of W (10 of them)


@dataclass
class ArgOptions:
    """What the command line says about a layer's arguments."""

    x_shape: tuple | None = None
    shapes: dict = field(default_factory=dict)       # name -> shape
    params: dict = field(default_factory=dict)       # name -> value (dict, number, text)
    labels: dict = field(default_factory=dict)       # name -> number of classes
    ints: dict = field(default_factory=dict)         # name -> (low, high), inclusive
    mode: str = "train"

    def used_names(self) -> set:
        return set(self.shapes) | set(self.params) | set(self.labels) | set(self.ints)


def _split(option: str, text: str, example: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UsageError(f"{option} {text}: expected NAME=VALUE, e.g. {example}")
    return name.strip(), value.strip()


def parse_param(text: str):
    """conv_param='{stride: 1, pad: 1}' or G=2 -> (name, value), read as YAML flow syntax."""
    from gradcalc.errors import GradcalcError
    from gradcalc.problem.yamlio import load_yaml_text
    name, value = _split("--param", text, "conv_param='{stride: 1, pad: 1}' or G=2")
    try:
        data = load_yaml_text(value, file="--param").data
    except GradcalcError as exc:
        raise UsageError(f"--param {text}: {exc.message} (expected YAML such as "
                         f"'{{stride: 1, pad: 1}}' or 2)") from None
    return name, data


def parse_labels(text: str):
    """y=5 -> ("y", 5): integer labels drawn from 0..4."""
    name, value = _split("--labels", text, "y=5")
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--labels {text}: expected NAME=K with K ≥ 1 classes, e.g. y=5")
    return name, int(value)


def parse_ints(text: str):
    """x=0..9 -> ("x", (0, 9)): integer inputs (not differentiated)."""
    name, value = _split("--ints", text, "x=0..9")
    lo, sep, hi = value.partition("..")
    try:
        bounds = (int(lo), int(hi))
    except ValueError:
        bounds = None
    if not sep or bounds is None or bounds[0] > bounds[1]:
        raise UsageError(f"--ints {text}: expected NAME=LOW..HIGH with whole numbers, e.g. x=0..9")
    return name, bounds


def options_from_cli(x_shape, shapes, params=(), labels=(), ints=(), mode="train") -> ArgOptions:
    return ArgOptions(x_shape=x_shape, shapes=dict(shapes),
                      params=dict(parse_param(p) for p in params),
                      labels=dict(parse_labels(t) for t in labels),
                      ints=dict(parse_ints(t) for t in ints), mode=mode)


def family_shapes(layer_name: str, x_shape: tuple | None) -> dict:
    """Default shapes for a layer's arrays, keyed by lower-case argument name."""
    key = layer_name.lower()
    for fam, shapes in _FAMILIES:
        if fam in key:
            out = dict(shapes)
            if x_shape is not None:
                out["x"] = tuple(x_shape)
            return out
    x = tuple(x_shape or (4, 3))
    d = math.prod(x[1:]) if len(x) > 1 else x[0]
    # affine-like: x (N, D) -> (N, 5); normalisation over the last axis
    return {"x": x, "w": (d, 5), "b": (5,), "gamma": (x[-1],), "beta": (x[-1],)}


@dataclass
class Argument:
    """One argument of a layer's forward (or constructor): how it is made."""

    name: str
    kind: str              # "float" (differentiated), "labels", "ints", "mask", "value"
    value: object

    def fresh(self):
        """The value to pass on a call: parameter dicts are copied (layers write into them)."""
        return copy.deepcopy(self.value) if self.kind == "value" else self.value


def make_arguments(layer_name: str, names: list[str], optional: set, opts: ArgOptions, rng,
                   where: str) -> list[Argument]:
    """Values for the arguments `names` (in order) of a forward function or constructor.
    Arguments with a default in the signature (`optional`) are passed only when an option
    names them.  Raises UsageError naming the option to give when a shape is unknown."""
    shapes = family_shapes(layer_name, opts.x_shape)
    ints_default = next((v for k, v in _INT_DEFAULTS.items() if k in layer_name.lower()), {})
    out: list[Argument] = []
    first_float = None
    for name in names:
        low = name.lower()
        if name in opts.params:
            out.append(Argument(name, "value", _with_mode(opts.params[name], opts.mode)))
        elif name in opts.shapes:
            out.append(Argument(name, "float", rng.standard_normal(opts.shapes[name])))
        elif name in opts.ints or (low in ints_default and name not in opts.labels):
            lo, hi = opts.ints.get(name) or ints_default[low]
            shape = opts.shapes.get(name) or shapes.get(low) or (4,)
            out.append(Argument(name, "ints", rng.integers(lo, hi + 1, size=shape)))
        elif name in opts.labels or (low in LABEL_NAMES and name not in optional):
            out.append(Argument(name, "labels", opts.labels.get(name)))    # sized after x
        elif low == "mask" and name not in optional:
            out.append(Argument(name, "mask", None))                       # sized after x
        elif name in DEFAULT_PARAMS and name not in optional:
            out.append(Argument(name, "value", _with_mode(DEFAULT_PARAMS[name], opts.mode)))
        elif low in ("train_flg", "train", "training") and name in optional:
            out.append(Argument(name, "value", opts.mode == "train"))
        elif name in optional:
            continue
        elif low in shapes or (name == names[0] and first_float is None):
            shape = shapes.get(low, shapes["x"])
            out.append(Argument(name, "float", rng.standard_normal(shape)))
        else:
            raise UsageError(f"{where}: give the value of '{name}' with --shape {name}=AxB "
                             f"(an array), --param {name}=VALUE, --labels {name}=K or "
                             f"--ints {name}=LOW..HIGH")
        if out[-1].kind == "float" and first_float is None:
            first_float = out[-1]
    _size_after_x(out, first_float, rng)
    return out


def _size_after_x(args: list[Argument], x: Argument | None, rng) -> None:
    """Labels and masks take the shape of x without its last axis (the classes or features)."""
    xs = x.value.shape if x is not None else (4, 5)
    lead, classes = (xs[:-1] or (1,)), xs[-1] if xs else 1
    for a in args:
        if a.kind == "labels":
            a.value = rng.integers(0, a.value or classes, size=lead)
        elif a.kind == "mask":
            a.value = rng.random(lead) < 0.7
            a.value.flat[0] = True                   # at least one counted entry


def _with_mode(value, mode: str):
    """--mode sets the 'mode' of the parameter dicts that have one (bn_param, dropout_param)."""
    if isinstance(value, dict) and "mode" in value:
        value = dict(value, mode=mode)
    return value


def seed_global(seed: int = 0) -> None:
    """Layers that draw from NumPy's global generator in forward (a dropout mask) draw the same
    numbers on every call: the forward pass stays one function of its inputs."""
    np.random.seed(seed)
