"""Check a student's own layer code numerically: every gradient its backward gives (or should
give) against central differences of its own forward.

This RUNS the user's code (it imports FILE.py): `gradcalc check --layer` says so in its help;
`gradcalc grade-code` runs it in separate, limited processes (grading/codeworker.py).
The conventions (class, CS231n pair, loss, torch.autograd.Function) live in conventions.py, the
arguments that are not float arrays in layerargs.py.

The check: float inputs and parameters are standard normal (seeded), each upstream gradient is a
standard normal array of its output's shape (random, so that no mistake can hide behind a uniform
gradient; 1 for a scalar loss), and every entry of the backward result is compared with the
central difference of Σₖ outₖ·doutₖ (numeric.gradient_of).  A gradient that backward should give
and does not is a failure.  A disagreeing entry is called "at a kink" only when the one-sided
slopes of the forward differ there (a kink was seen), never from the layer's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
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
    kinks: int = 0              # disagreeing entries where the forward has a kink (seen)
    missing: bool = False       # backward gave no gradient for it


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
    name: str = ""
    convention: str = ""
    error: str = ""             # the layer could not run (checking a whole file)

    @property
    def ok(self) -> bool:
        return not self.error and all(r.ok for r in self.results)

    def to_json(self) -> dict:
        return {"layer": self.spec, "name": self.name, "convention": self.convention,
                "ok": self.ok, "error": self.error, "x_shape": list(self.x_shape),
                "out_shape": list(self.out_shape), "seed": self.seed, "h": self.h,
                "notes": self.notes,
                "results": [{"name": r.name, "shape": list(r.shape), "max_rel_error": r.max_rel,
                             "max_abs_error": r.max_abs, "ok": r.ok, "note": r.note,
                             "missing": r.missing, "kinks": r.kinks,
                             "worst": [{"index": list(e.index), "analytic": e.analytic,
                                        "numeric": e.numeric, "rel_error": e.rel_err}
                                       for e in r.worst]}
                            for r in self.results]}


SHAPE_BYTES = 48        # an array entry of a layer check: value, gradients, central-difference copies


def _shape_budget(text: str, shape: tuple) -> None:
    """`--shape 100000x100000` is refused before NumPy tries to allocate it (was MemoryError)."""
    from math import prod

    from gradcalc.problem.budget import over
    entries = prod(shape)
    refusal = over(entries * SHAPE_BYTES)
    if refusal:
        raise UsageError(f"--shape {text}: an array of {entries:,} entries {refusal}")


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
        _shape_budget(text, shape)
        if name:
            params[name.strip()] = shape
        elif x_shape is not None:
            raise UsageError("--shape: the input shape is given twice (name parameters: w=3x5)")
        else:
            x_shape = shape
    return x_shape, params



# ---------------------------------------------------------------- the check
def check_layer(spec: str, x_shape: tuple | None = None, param_shapes: dict | None = None, *,
                seed: int = 0, h: float | None = None, tolerances: tuple | None = None,
                worst: int = 3, opts=None, convention: str = "auto") -> LayerReport:
    """FILE.py:NAME -> one layer's report; a layer that cannot run is a UsageError (exit 2)."""
    from gradcalc.compare.conventions import import_file, resolve

    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"--layer {spec}: expected FILE.py:NAME (a layer, a class, or "
                         f"forward,backward), or FILE.py for every layer in it")
    opts = _options(opts, x_shape, param_shapes)
    module = import_file(path)
    lname, conv, objs = resolve(module, name, convention, spec)
    return _check_one(spec, path, lname, conv, objs, opts, seed, h, tolerances, worst,
                      f"--layer {spec}")


def check_file(path: str, *, opts=None, seed: int = 0, h: float | None = None,
               tolerances: tuple | None = None, worst: int = 3, convention: str = "auto",
               module=None, names=None) -> list[LayerReport]:
    """Every recognisable layer of FILE.py (or those named), one report each; a layer that
    cannot run gets a report with its error (a failure) instead of stopping the others."""
    from gradcalc.compare.conventions import find_layers, import_file, resolve

    opts = _options(opts, None, None)
    module = module or import_file(path)
    if names is None:
        layers = [t for t in find_layers(module) if convention in ("auto", t[1])]
        if not layers:
            raise UsageError(f"--layer {path}: no layer found (a class with forward/backward, "
                             f"NAME_forward/NAME_backward functions, a *loss function or a "
                             f"torch.autograd.Function)")
    else:
        layers = []
        for n, conv in names:
            try:
                layers.append(resolve(module, n, conv, f"{path}:{n}"))
            except UsageError as exc:
                layers.append((n, conv, exc))
    reports = []
    for lname, conv, objs in layers:
        spec = f"{path}:{lname}"
        try:
            if isinstance(objs, Exception):
                raise objs
            reports.append(_check_one(spec, path, lname, conv, objs, opts, seed, h, tolerances,
                                      worst, f"{spec}"))
        except UsageError as exc:
            reports.append(_failed(spec, path, lname, conv, seed, h, exc.message))
    return reports


def _failed(spec, path, lname, conv, seed, h, message) -> LayerReport:
    from gradcalc.derive.numeric import DEFAULT_H
    return LayerReport(f"Layer {lname} from {path}", spec, (), (), seed,
                       DEFAULT_H if h is None else h, [], [], lname, conv, message)


def _options(opts, x_shape, param_shapes):
    from gradcalc.compare.layerargs import ArgOptions
    if opts is None:
        opts = ArgOptions(x_shape=tuple(x_shape) if x_shape else None,
                          shapes=dict(param_shapes or {}))
    return opts


def _check_one(spec, path, lname, conv, objs, opts, seed, h, tolerances, worst,
               where) -> LayerReport:
    from gradcalc.compare.conventions import prepare
    from gradcalc.compare.methods import TOLERANCES
    from gradcalc.derive.numeric import DEFAULT_H

    atol, rtol = tolerances or TOLERANCES["numeric"]
    rng = np.random.default_rng(seed)
    prep = prepare(lname, conv, objs, opts, rng, where)

    def run(what, fn, *args):
        try:
            with np.errstate(all="ignore"):
                return fn(*args)
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"{where}: {what} raised {type(exc).__name__}: {exc}") from None

    outs = [np.asarray(o, dtype=float) for o in run("forward", prep.forward)]
    douts = [rng.standard_normal(o.shape) if o.ndim else np.float64(1.0) for o in outs]
    grads = run("backward", prep.backward, [np.copy(d) for d in douts])

    def objective():
        return float(sum(np.sum(np.asarray(o, dtype=float) * d)
                         for o, d in zip(prep.forward(), douts)))

    step = DEFAULT_H if h is None else h
    results, notes = [], list(prep.notes)
    for pname in prep.expects:
        arr = prep.inputs[pname]
        analytic = grads.get(pname)
        if analytic is None:
            results.append(LayerResult(pname, arr.shape, np.inf, np.inf, False, missing=True,
                                       note=f"backward gave no d{pname}"))
            continue
        analytic = np.asarray(analytic, dtype=float)
        if analytic.shape != arr.shape:
            if analytic.size == arr.size and np.squeeze(analytic).shape == np.squeeze(arr).shape:
                notes.append(f"d{pname}: backward gave shape {analytic.shape} for "
                             f"{arr.shape}; compared after squeezing")
                analytic = analytic.reshape(arr.shape)
            else:
                results.append(LayerResult(pname, arr.shape, np.inf, np.inf, False,
                                           note=f"backward gave shape {analytic.shape}, "
                                                f"expected {arr.shape}"))
                continue
        numeric = run(f"forward (perturbing {pname})", _gradient, objective, arr, h)
        results.append(_compare(pname, arr, analytic, numeric, atol, rtol, worst,
                                lambda idx: _at_kink(objective, arr, idx, step, analytic[idx],
                                                     atol, rtol)))
    if any(r.kinks for r in results):
        notes.append("Entries marked at a kink: the forward's slopes left and right of the "
                     "point differ there and your value lies between them; try another --seed.")
    out_shape = outs[0].shape if len(outs) == 1 else tuple(o.shape for o in outs)
    x_shape = next(iter(prep.inputs.values())).shape if prep.inputs else ()
    title = f"Layer {lname} ({conv}) from {path}: backward vs central differences"
    return LayerReport(title, spec, x_shape, out_shape, seed, step, results, notes, lname, conv)


def _gradient(objective, arr, h):
    from gradcalc.derive.numeric import gradient_of
    return gradient_of(objective, arr, h)


def _compare(pname, arr, analytic, numeric, atol, rtol, worst, kink) -> LayerResult:
    from gradcalc.compare.methods import relative_error
    rel = relative_error(analytic, numeric)
    diff = np.abs(analytic - numeric)
    bad = ~(diff <= atol + rtol * np.abs(numeric))
    kinks = 0
    for k in np.flatnonzero(bad)[:10]:            # a few probes; the rest stay failures
        idx = np.unravel_index(k, arr.shape)
        if kink(idx):
            bad[idx] = False
            kinks += 1
    ok = not bool(np.any(bad))
    order = np.argsort(-np.nan_to_num(np.where(bad, rel + 1.0, rel), nan=np.inf),
                       axis=None)[:worst]
    entries = [LayerEntry(tuple(int(i) for i in np.unravel_index(k, arr.shape)),
                          float(analytic.flat[k]), float(numeric.flat[k]), float(rel.flat[k]))
               for k in order]
    return LayerResult(pname, arr.shape, float(np.max(rel)) if rel.size else 0.0,
                       float(np.max(diff)) if diff.size else 0.0, ok, entries, kinks=kinks)


def _at_kink(objective, arr, idx, h, analytic, atol, rtol) -> bool:
    """A kink was seen at arr[idx]: the one-sided slopes differ by far more than a smooth
    function's curvature would make them (h·f″), and the analytic value lies between them."""
    old = arr[idx]
    hk = h * max(1.0, abs(float(old)))
    try:
        with np.errstate(all="ignore"):
            f0 = objective()
            arr[idx] = old + hk
            fp = objective()
            arr[idx] = old - hk
            fm = objective()
    except Exception:
        return False
    finally:
        arr[idx] = old
    right, left = (fp - f0) / hk, (f0 - fm) / hk
    tol = atol + rtol * max(abs(right), abs(left))
    if abs(right - left) <= 1e3 * tol:
        return False
    return min(left, right) - tol <= analytic <= max(left, right) + tol
