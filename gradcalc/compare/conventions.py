"""The conventions students write layers in, found in their file and wrapped in one interface.

  * class   — an object with forward(x, …) and backward(dout); built without arguments, or with
              constructor arguments (Deep Learning from Scratch: Affine(W, b) with dW/db
              attributes after backward; SoftmaxWithLoss.forward(x, t) and backward(dout=1));
  * pair    — CS231n functions NAME_forward / NAME_backward: `*outs, cache = forward(…)`,
              `backward(*douts, cache)` returning one gradient per float array argument, in order;
  * loss    — `loss, dx = NAME(x, y, …)` (softmax_loss, svm_loss, temporal_softmax_loss);
  * torch   — a torch.autograd.Function subclass, run through PyTorch's own autograd in float64.

Importing the file RUNS it (that is the point of checking one's own code).
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gradcalc.compare.layerargs import ArgOptions, make_arguments, seed_global
from gradcalc.errors import UsageError

CONVENTIONS = ("auto", "class", "pair", "loss", "torch")


@dataclass
class Prepared:
    """A layer ready to be checked: the arrays to differentiate (perturbed in place by the
    finite differences), a forward giving its outputs, a backward giving gradients by name."""

    name: str
    convention: str
    inputs: dict
    expects: list
    forward: Callable
    backward: Callable
    notes: list = field(default_factory=list)


def import_file(path: str, option: str = "--layer"):
    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        raise UsageError(f"{option} {path}: expected an existing .py file")
    spec = importlib.util.spec_from_file_location(f"gradcalc_user_layer_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module         # dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)       # runs the user's code, on purpose
    except ModuleNotFoundError as exc:
        if exc.name == "torch":
            raise UsageError(f"{option} {path}: the file imports torch and PyTorch is not "
                             f"installed; checking a torch.autograd.Function needs it (pip "
                             f"install torch; it stays optional for gradcalc)") from None
        raise UsageError(f"{option} {path}: importing it raised ModuleNotFoundError: "
                         f"{exc}") from None
    except Exception as exc:
        raise UsageError(f"{option} {path}: importing it raised {type(exc).__name__}: {exc}") \
            from None
    return module


# ---------------------------------------------------------------- finding layers in a file
def _own(module, v) -> bool:
    return getattr(v, "__module__", None) == module.__name__


def is_torch_function(obj) -> bool:
    return inspect.isclass(obj) and any(
        getattr(c, "__module__", "").startswith("torch.autograd")
        for c in inspect.getmro(obj)[1:])


def _has_methods(obj) -> bool:
    return callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None))


def find_layers(module) -> list[tuple[str, str, tuple]]:
    """Every recognisable layer defined in the module, in file order:
    (layer name, convention, objects)."""
    found = []
    items = [(k, v) for k, v in vars(module).items() if not k.startswith("_") and _own(module, v)]
    names = dict(items)
    for k, v in items:
        if inspect.isclass(v):
            if is_torch_function(v):
                found.append((k, "torch", (v,)))
            elif _has_methods(v):
                found.append((k, "class", (v,)))
        elif inspect.isfunction(v):
            if "backward" in k:
                fwd = _forward_for(k, names)
                if fwd is not None:
                    found.append((k.replace("_backward", "", 1).replace("backward", "", 1),
                                  "pair", (names[fwd], v)))
            elif "loss" in k.lower() and "forward" not in k:
                found.append((k, "loss", (v,)))
    return found


def _forward_for(bwd: str, names: dict) -> str | None:
    """conv_backward_naive -> conv_forward_naive; batchnorm_backward_alt -> batchnorm_forward."""
    cand = bwd.replace("backward", "forward", 1)
    while cand:
        if cand in names and inspect.isfunction(names[cand]):
            return cand
        head, sep, _ = cand.rpartition("_")
        if not sep or "forward" not in head:
            return None
        cand = head
    return None


def resolve(module, name: str, convention: str, spec: str) -> tuple[str, str, tuple]:
    """The layer NAME of FILE.py:NAME (a layer name, a class, a function, or fwd,bwd)."""
    def get(n):
        if not hasattr(module, n):
            found = [k for k, _, _ in find_layers(module)]
            raise UsageError(f"--layer {spec}: the file has no '{n}' (its layers: "
                             f"{', '.join(found) or 'none recognised'})")
        return getattr(module, n)

    if "," in name:
        f, b = (get(n.strip()) for n in name.split(",", 1))
        return name, _convention(convention, "pair"), (f, b)
    for lname, conv, objs in find_layers(module):
        if name in (lname, getattr(objs[0], "__name__", None)) and (
                convention in ("auto", conv) or (convention == "class" and conv == "torch")):
            return lname, conv, objs
    obj = get(name)
    if convention == "pair" or (convention == "auto" and inspect.isfunction(obj)
                                 and hasattr(module, name.replace("forward", "backward"))
                                 and "forward" in name):
        return name, "pair", (obj, get(name.replace("forward", "backward", 1)))
    if convention == "auto":
        convention = ("torch" if is_torch_function(obj) else
                      "loss" if inspect.isfunction(obj) else "class")
    return name, convention, (obj,)


def _convention(given: str, found: str) -> str:
    return found if given == "auto" else given


# ---------------------------------------------------------------- preparing one layer
def prepare(lname: str, convention: str, objs: tuple, opts: ArgOptions, rng,
            where: str) -> Prepared:
    if convention == "pair":
        return _pair(lname, objs[0], objs[1], opts, rng, where)
    if convention == "loss":
        return _loss(lname, objs[0], opts, rng, where)
    if convention == "torch":
        return _torch(lname, objs[0], opts, rng, where)
    return _class(lname, objs[0], opts, rng, where)


def _signature(fn, skip: int, where: str) -> tuple[list, set]:
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        raise UsageError(f"{where}: cannot read the arguments of {fn!r}") from None
    params = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [p.name for p in params], {p.name for p in params if p.default is not p.empty}


def _floats(args) -> list:
    return [a for a in args if a.kind == "float"]


def _zip_grads(names: list, res, notes: list, where: str) -> dict:
    res = res if isinstance(res, (tuple, list)) else (res,)
    grads = {n: g for n, g in zip(names, res) if g is not None}
    if len(res) > len(names):
        notes.append(f"backward returned {len(res)} values for {len(names)} float array "
                     f"arguments; the extra ones were not checked")
    return grads


def _pair(lname, f, b, opts, rng, where) -> Prepared:
    names, optional = _signature(f, 0, where)
    args = make_arguments(lname, names, optional, opts, rng, where)
    bnames, boptional = _signature(b, 0, where)
    n_out = max(len([n for n in bnames if n not in boptional]) - 1, 1)
    state = {}

    def forward():
        seed_global()
        res = f(*[a.fresh() for a in args])
        if not isinstance(res, tuple) or len(res) != n_out + 1:
            got = f"a tuple of {len(res)}" if isinstance(res, tuple) else type(res).__name__
            raise UsageError(f"{where}: {f.__name__} returned {got}; with {b.__name__} taking "
                             f"{n_out} upstream gradient(s) and the cache it must return "
                             f"{n_out} output(s) and the cache")
        state["cache"] = res[-1]
        return list(res[:-1])

    notes: list = []

    def backward(douts):
        return _zip_grads([a.name for a in _floats(args)], b(*douts, state["cache"]), notes,
                          where)

    floats = _floats(args)
    return Prepared(lname, "pair", {a.name: a.value for a in floats}, [a.name for a in floats],
                    forward, backward, notes)


def _loss(lname, f, opts, rng, where) -> Prepared:
    names, optional = _signature(f, 0, where)
    args = make_arguments(lname, names, optional, opts, rng, where)
    state = {}

    def forward():
        seed_global()
        res = f(*[a.fresh() for a in args])
        if not isinstance(res, tuple) or len(res) < 2:
            raise UsageError(f"{where}: a loss must return (loss, dx); {f.__name__} returned "
                             f"{type(res).__name__}")
        state["grads"] = res[1:]
        return [res[0]]

    notes: list = []

    def backward(douts):
        return _zip_grads([a.name for a in _floats(args)], tuple(state["grads"]), notes, where)

    floats = _floats(args)
    # a loss returns dx only: the gradient of its first float argument (x)
    return Prepared(lname, "loss", {a.name: a.value for a in floats[:1]},
                    [a.name for a in floats[:1]], forward, backward, notes)


def _class(lname, obj, opts, rng, where) -> Prepared:
    if inspect.isclass(obj):
        names, optional = _signature(obj.__init__, 1, where)
        ctor = make_arguments(lname, names, optional, opts, rng, where)
        try:
            obj = obj(**{a.name: a.fresh() for a in ctor})
        except Exception as exc:
            what = ", ".join(a.name for a in ctor)
            raise UsageError(f"{where}: {lname}({what}) raised {type(exc).__name__}: "
                             f"{exc}") from None
    if not _has_methods(obj):
        raise UsageError(f"{where}: '{lname}' has no forward(x) and backward(dout) methods")
    names, optional = _signature(obj.forward, 0, where)
    args = make_arguments(lname, names, optional, opts, rng, where)
    store = getattr(obj, "params", None)
    if isinstance(store, dict):
        params = {k: v for k, v in store.items() if _is_float_array(v)}
    else:
        params = {k: v for k, v in vars(obj).items() if _is_float_array(v) and not k.startswith("_")}
    floats = _floats(args)
    try:
        bparams = list(inspect.signature(obj.backward).parameters.values())
    except (TypeError, ValueError):
        bparams = []
    dout_default = bool(bparams) and bparams[0].default is not inspect.Parameter.empty

    def forward():
        seed_global()
        return [obj.forward(*[a.fresh() for a in args])]

    def backward(douts):
        d = douts[0]
        if np.ndim(d) == 0:          # a loss layer: backward(dout=1)
            res = obj.backward() if dout_default else obj.backward(1.0)
        else:
            res = obj.backward(d)
        res = res if isinstance(res, tuple) else (res,)
        grads = {a.name: g for a, g in zip(floats, res) if g is not None}
        grads.update(_param_grads(obj, params))
        return grads

    return Prepared(lname, "class", {**{a.name: a.value for a in floats}, **params},
                    [a.name for a in floats] + list(params), forward, backward)


def _param_grads(obj, params) -> dict:
    grads = {}
    store = getattr(obj, "grads", None)
    for k in params:
        for cand in ((store or {}).get(k) if isinstance(store, dict) else None,
                     getattr(obj, "d" + k, None), getattr(obj, k + "_grad", None),
                     getattr(obj, "grad_" + k, None)):
            if cand is not None:
                grads[k] = cand
                break
    return grads


def _is_float_array(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind == "f"


def _torch(lname, cls, opts, rng, where) -> Prepared:
    # the student's file imported PyTorch (its class derives from torch.autograd.Function):
    # gradcalc itself never imports it
    torch = sys.modules.get("torch")
    if torch is None:
        raise UsageError(f"{where}: '{lname}' looks like a torch.autograd.Function, but PyTorch "
                         f"is not loaded")
    names, optional = _signature(cls.forward, 1, where)          # after ctx
    args = make_arguments(lname, names, optional, opts, rng, where)
    floats = _floats(args)

    def tensors(grad: bool):
        out = []
        for a in args:
            if a.kind == "float":
                t = torch.from_numpy(a.value)           # shares memory: sees the perturbation
                out.append(t.detach().clone().requires_grad_() if grad else t)
            elif isinstance(a.value, np.ndarray):
                out.append(torch.from_numpy(a.value))
            else:
                out.append(a.fresh())
        return out

    def outputs(res) -> list:
        return list(res) if isinstance(res, (tuple, list)) else [res]

    def forward():
        seed_global()
        torch.manual_seed(0)
        with torch.no_grad():
            return [o.detach().numpy().astype(float) for o in outputs(cls.apply(*tensors(False)))]

    def backward(douts):
        ins = tensors(True)
        outs = outputs(cls.apply(*ins))
        leaves = [t for t, a in zip(ins, args) if a.kind == "float"]
        grads = torch.autograd.grad(outs, leaves, [torch.as_tensor(np.asarray(d, dtype=float))
                                                   for d in douts], allow_unused=True)
        return {a.name: g.detach().numpy() for a, g in zip(floats, grads) if g is not None}

    return Prepared(lname, "torch", {a.name: a.value for a in floats}, [a.name for a in floats],
                    forward, backward)
