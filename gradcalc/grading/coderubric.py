"""The rubric of `gradcalc grade-code`: which layers of the students' code, how written, how many
points, and the limits every submission runs under.

    title: "HW3: layers"
    file: layers.py            # the file in each student's folder (a lone .py is taken as is)
    time_limit: 10             # seconds per layer (and for importing the file)
    memory_mb: 1024            # address space a submission may add to the warm worker
    layers:
      affine: 2                # NAME: points (the convention is detected)
      relu: 1
      conv_naive: {points: 4, param: {conv_param: {stride: 1, pad: 1}}}
      lstm_step: {points: 3, convention: pair}
      SoftmaxWithLoss: {points: 2, labels: {t: 5}, shape: {x: 4x5}}

Loaded with gradcalc's safe YAML loader; every problem is one line with file, line and field.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gradcalc.errors import ProblemError

CONVENTIONS = ("auto", "class", "pair", "loss", "torch")
_ITEM_KEYS = ("points", "convention", "shape", "param", "labels", "ints", "mode")
_TOP_KEYS = ("title", "file", "time_limit", "memory_mb", "layers")


@dataclass
class CodeQuestion:
    """One layer of the rubric (named `questions` like the answer rubric, for the CSV writers)."""

    name: str
    points: float
    convention: str = "auto"
    options: dict = field(default_factory=dict)     # JSON-able: shapes, params, labels, ints, mode


@dataclass
class CodeRubric:
    title: str
    questions: list[CodeQuestion]
    file: str | None = None
    time_limit: float = 10.0
    memory_mb: int = 1024

    @property
    def max_points(self) -> float:
        return sum(q.points for q in self.questions)


def load_code_rubric(path: str) -> CodeRubric:
    from gradcalc.problem.yamlio import load_yaml_file
    loc = load_yaml_file(path)
    data = loc.data

    def fail(where: tuple, message: str):
        from gradcalc.problem.yamlio import field_name
        return ProblemError(message, file=str(path), line=loc.line(where),
                            field=field_name(where) or None)

    if not isinstance(data, dict):
        raise fail((), "expected a mapping with 'layers:' (NAME: points)")
    for k in data:
        if k not in _TOP_KEYS:
            raise fail((k,), f"unknown key; expected one of: {', '.join(_TOP_KEYS)}")
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise fail(("layers",), "expected a mapping NAME: points (e.g. affine: 2)")
    questions = [_question(str(name), spec, fail) for name, spec in layers.items()]
    title = data.get("title", str(path))
    file = data.get("file")
    if file is not None and (not isinstance(file, str) or not file.endswith(".py")
                             or "/" in file or "\\" in file):
        raise fail(("file",), "expected a file name ending in .py (no folders)")
    limit = _number(data.get("time_limit", 10.0), ("time_limit",), fail, 0.1, 3600)
    memory = _number(data.get("memory_mb", 1024), ("memory_mb",), fail, 64, 1 << 20)
    return CodeRubric(str(title), questions, file, float(limit), int(memory))


def _number(v, where, fail, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise fail(where, f"expected a number from {lo:g} to {hi:g}")
    return v


def _question(name: str, spec, fail) -> CodeQuestion:
    where = ("layers", name)
    if not isinstance(spec, dict):
        spec = {"points": spec}
    for k in spec:
        if k not in _ITEM_KEYS:
            raise fail(where + (k,), f"unknown key; expected one of: {', '.join(_ITEM_KEYS)}")
    points = _number(spec.get("points", 1), where + ("points",), fail, 0, 1e6)
    conv = spec.get("convention", "auto")
    if conv not in CONVENTIONS:
        raise fail(where + ("convention",), f"expected one of: {', '.join(CONVENTIONS)}")
    opts: dict = {"shapes": {}, "params": {}, "labels": {}, "ints": {}, "mode": "train"}
    for arg, shape in (spec.get("shape") or {}).items():
        opts["shapes"][str(arg)] = _shape(shape, where + ("shape", arg), fail)
    params = spec.get("param") or {}
    if not isinstance(params, dict):
        raise fail(where + ("param",), "expected a mapping NAME: VALUE")
    opts["params"] = {str(k): v for k, v in params.items()}
    for arg, k in (spec.get("labels") or {}).items():
        opts["labels"][str(arg)] = int(_number(k, where + ("labels", arg), fail, 1, 1e6))
    for arg, text in (spec.get("ints") or {}).items():
        lo, sep, hi = str(text).partition("..")
        try:
            bounds = [int(lo), int(hi)]
        except ValueError:
            bounds = None
        if not sep or bounds is None or bounds[0] > bounds[1]:
            raise fail(where + ("ints", arg), "expected LOW..HIGH, e.g. 0..9")
        opts["ints"][str(arg)] = bounds
    mode = spec.get("mode", "train")
    if mode not in ("train", "test"):
        raise fail(where + ("mode",), "expected train or test")
    opts["mode"] = mode
    return CodeQuestion(name, float(points), conv, opts)


def _shape(v, where, fail) -> list:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    elif isinstance(v, str):
        try:
            v = [int(d) for d in v.lower().replace("×", "x").split("x")]
        except ValueError:
            v = None
    if not isinstance(v, list) or not v or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in v):
        raise fail(where, "expected a shape such as 4x3 or [4, 3]")
    return v


def arg_options(opts: dict):
    """The JSON-able options of a rubric item -> compare.layerargs.ArgOptions."""
    from gradcalc.compare.layerargs import ArgOptions
    shapes = {k: tuple(v) for k, v in opts.get("shapes", {}).items()}
    return ArgOptions(x_shape=shapes.get("x"), shapes=shapes,
                      params=dict(opts.get("params", {})), labels=dict(opts.get("labels", {})),
                      ints={k: tuple(v) for k, v in opts.get("ints", {}).items()},
                      mode=opts.get("mode", "train"))
