"""Check a student's own NumPy layer (the lecture's modular forward/backward) numerically.

This RUNS the user's code (it imports FILE.py): `gradcalc check --layer` says so in its help,
and grading never calls it.

Two styles are accepted (NAME in FILE.py:NAME):
  * a class (constructed without arguments) or an object with `forward(x)` and `backward(dout)`;
    `backward` returns dx (or a tuple whose first item is dx).  Parameters: the dict `params`
    with gradients in the dict `grads` after backward, or array attributes P with the gradient in
    an attribute dP (also P_grad or grad_P);
  * a pair of functions, NAME = "forward_fn,backward_fn" or NAME with NAME_forward and
    NAME_backward in the file, in the CS231n style: `out, cache = forward(x, *params)` and
    `backward(dout, cache)` returning dx or (dx, dparam1, …) in the order of forward's parameters;
    parameter shapes come from --shape NAME=AxB.

The check: x and the function-style parameters are standard normal (seeded), the upstream gradient
dout is a standard normal array of the output's shape (random, so that no mistake can hide behind
a uniform gradient), and every entry of the backward result is compared with the central
difference of Σ forward(x)·dout (numeric.gradient_of: the step policy of derive/numeric/policy.py).
"""
from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from gradcalc.errors import UsageError

DEFAULT_SHAPE = (4, 3)


@dataclass
class LayerEntry:
    index: tuple
    analytic: float
    numeric: float
    rel_err: float


@dataclass
class LayerResult:
    name: str
    shape: tuple
    max_rel: float
    max_abs: float
    ok: bool
    worst: list[LayerEntry] = field(default_factory=list)
    note: str = ""


@dataclass
class LayerReport:
    title: str
    spec: str
    x_shape: tuple
    out_shape: tuple
    seed: int
    h: float
    results: list[LayerResult]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_json(self) -> dict:
        return {"layer": self.spec, "ok": self.ok, "x_shape": list(self.x_shape),
                "out_shape": list(self.out_shape), "seed": self.seed, "h": self.h,
                "notes": self.notes,
                "results": [{"name": r.name, "shape": list(r.shape), "max_rel_error": r.max_rel,
                             "max_abs_error": r.max_abs, "ok": r.ok, "note": r.note,
                             "worst": [{"index": list(e.index), "analytic": e.analytic,
                                        "numeric": e.numeric, "rel_error": e.rel_err}
                                       for e in r.worst]}
                            for r in self.results]}


def parse_shapes(shapes) -> tuple[tuple | None, dict[str, tuple]]:
    """["4x3", "w=3x5"] -> ((4, 3), {"w": (3, 5)})."""
    x_shape, params = None, {}
    for text in shapes:
        name, _, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().replace("×", "x").split("x") if d.strip())
        except ValueError:
            raise UsageError(f"--shape {text}: expected [NAME=]AxB with whole numbers, "
                             f"e.g. 4x3 or w=3x5") from None
        if not shape or any(d < 1 for d in shape):
            raise UsageError(f"--shape {text}: every dimension must be at least 1")
        if name:
            params[name.strip()] = shape
        elif x_shape is not None:
            raise UsageError("--shape: the input shape is given twice (name parameters: w=3x5)")
        else:
            x_shape = shape
    return x_shape, params


# ---------------------------------------------------------------- loading the user's layer
def _import(path: str):
    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        raise UsageError(f"--layer {path}: expected an existing .py file")
    spec = importlib.util.spec_from_file_location(f"gradcalc_user_layer_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)       # runs the user's code, on purpose
    except Exception as exc:
        raise UsageError(f"--layer {path}: importing it raised {type(exc).__name__}: {exc}") \
            from None
    return module


class _ClassLayer:
    """An object with forward(x) and backward(dout)."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name
        params = getattr(obj, "params", None)
        if isinstance(params, dict):
            self.params = {k: v for k, v in params.items() if _is_float_array(v)}
        else:
            self.params = {k: v for k, v in vars(obj).items()
                           if _is_float_array(v) and not k.startswith("_")}

    def forward(self, x):
        return self.obj.forward(x)

    def backward(self, dout):
        dx = self.obj.backward(dout)
        if isinstance(dx, tuple):
            dx = dx[0]
        grads = {}
        store = getattr(self.obj, "grads", None)
        for k in self.params:
            for cand in ((store or {}).get(k) if isinstance(store, dict) else None,
                         getattr(self.obj, "d" + k, None), getattr(self.obj, k + "_grad", None),
                         getattr(self.obj, "grad_" + k, None)):
                if cand is not None:
                    grads[k] = cand
                    break
        return dx, grads


class _FunctionLayer:
    """CS231n style: out, cache = forward(x, *params); backward(dout, cache) -> dx, dparams…"""

    def __init__(self, fwd, bwd, params: dict):
        self.fwd, self.bwd, self.params = fwd, bwd, params
        self.cache = None

    def forward(self, x):
        res = self.fwd(x, *self.params.values())
        if isinstance(res, tuple) and len(res) == 2:
            out, self.cache = res
        else:
            raise UsageError("a function-style layer's forward must return (out, cache)")
        return out

    def backward(self, dout):
        res = self.bwd(dout, self.cache)
        res = res if isinstance(res, tuple) else (res,)
        grads = dict(zip(self.params, res[1:]))
        return res[0], grads


def _is_float_array(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind == "f"


def load_layer(spec: str, param_shapes: dict, rng):
    """FILE.py:NAME -> a layer adapter; runs the user's module."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"--layer {spec}: expected FILE.py:NAME (a class, or forward,backward)")
    module = _import(path)

    def get(n):
        if not hasattr(module, n):
            found = sorted(k for k, v in vars(module).items()
                           if not k.startswith("_") and (inspect.isclass(v) or callable(v)))
            raise UsageError(f"--layer {spec}: {path} has no '{n}' (it has: "
                             f"{', '.join(found) or 'nothing callable'})")
        return getattr(module, n)

    if "," in name:
        f, b = (get(n.strip()) for n in name.split(",", 1))
        return _functions(f, b, param_shapes, rng, spec), name
    if not hasattr(module, name) and hasattr(module, name + "_forward"):
        return _functions(get(name + "_forward"), get(name + "_backward"), param_shapes, rng,
                          spec), name
    obj = get(name)
    if inspect.isclass(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise UsageError(f"--layer {spec}: {name}() raised {type(exc).__name__}: {exc} "
                             f"(the class must be constructible without arguments)") from None
    if not (callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None))):
        raise UsageError(f"--layer {spec}: '{name}' has no forward(x) and backward(dout) methods")
    if param_shapes:
        raise UsageError("--shape NAME=…: only function-style layers take parameter shapes")
    return _ClassLayer(obj, name), name


def _functions(f, b, param_shapes, rng, spec):
    try:
        names = list(inspect.signature(f).parameters)[1:]
    except (TypeError, ValueError):
        names = []
    missing = [n for n in names if n not in param_shapes]
    if missing:
        raise UsageError(f"--layer {spec}: give the shape of {', '.join(missing)} with "
                         + " ".join(f"--shape {n}=AxB" for n in missing))
    extra = [n for n in param_shapes if n not in names]
    if extra:
        raise UsageError(f"--layer {spec}: forward has no parameter {', '.join(extra)} "
                         f"(it takes x{''.join(', ' + n for n in names)})")
    params = {n: rng.standard_normal(param_shapes[n]) for n in names}
    return _FunctionLayer(f, b, params)


# ---------------------------------------------------------------- the check
def check_layer(spec: str, x_shape: tuple | None = None, param_shapes: dict | None = None, *,
                seed: int = 0, h: float | None = None, tolerances: tuple | None = None,
                worst: int = 3) -> LayerReport:
    from gradcalc.compare.methods import TOLERANCES, relative_error
    from gradcalc.derive.numeric import DEFAULT_H, gradient_of

    atol, rtol = tolerances or TOLERANCES["numeric"]
    rng = np.random.default_rng(seed)
    layer, name = load_layer(spec, param_shapes or {}, rng)
    x_shape = tuple(x_shape or DEFAULT_SHAPE)
    x = rng.standard_normal(x_shape)

    def run(what, fn, *args):
        try:
            with np.errstate(all="ignore"):
                return fn(*args)
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"--layer {spec}: {what} raised {type(exc).__name__}: {exc}") \
                from None

    out = np.asarray(run("forward", layer.forward, x), dtype=float)
    dout = rng.standard_normal(out.shape)          # random, non-uniform upstream gradient
    dx, grads = run("backward", layer.backward, dout.copy())

    def objective():
        return float(np.sum(np.asarray(layer.forward(x), dtype=float) * dout))

    results, notes = [], []
    targets = [("x", x, dx)] + [(k, v, grads.get(k)) for k, v in layer.params.items()]
    for pname, arr, analytic in targets:
        if analytic is None:
            notes.append(f"{pname}: no gradient found after backward (expected "
                         f"grads['{pname}'] or d{pname}); not checked")
            continue
        analytic = np.asarray(analytic, dtype=float)
        if analytic.shape != arr.shape:
            results.append(LayerResult(pname, arr.shape, np.inf, np.inf, False,
                                       note=f"backward gave shape {analytic.shape}, expected "
                                            f"{arr.shape}"))
            continue
        numeric = run(f"forward (perturbing {pname})", gradient_of, objective, arr, h)
        rel = relative_error(analytic, numeric)
        diff = np.abs(analytic - numeric)
        ok = bool(np.all(diff <= atol + rtol * np.abs(numeric)))
        order = np.argsort(-np.nan_to_num(rel, nan=np.inf), axis=None)[:worst]
        entries = [LayerEntry(tuple(int(i) for i in np.unravel_index(k, arr.shape)),
                              float(analytic.flat[k]), float(numeric.flat[k]), float(rel.flat[k]))
                   for k in order]
        results.append(LayerResult(pname, arr.shape, float(np.max(rel)) if rel.size else 0.0,
                                   float(np.max(diff)) if diff.size else 0.0, ok, entries))
    if not layer.params:
        notes.append("No parameters found (none, or not in self.params / array attributes).")
    notes.append("Kinks (relu at 0 …) inside your code are invisible from outside: if only a "
                 "few entries disagree, try another --seed.")
    title = f"Layer {name} from {spec.rpartition(':')[0]}: backward vs central differences"
    return LayerReport(title, spec, x_shape, out.shape, seed, DEFAULT_H if h is None else h,
                       results, notes)
