"""SGD for problem files: the `optimizer:` section, step decay, global-norm clipping, update steps."""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcalc.errors import DomainError, ProblemError
from gradcalc.problem.context import value_kind

OPTIMIZER_KEYS = ("type", "lr", "momentum", "clip", "schedule", "params")
SCHEDULE_KEYS = ("type", "milestones", "gamma")
OPTIMIZER_TYPES = ("sgd",)
SCHEDULE_TYPES = ("step",)


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class StepSchedule:
    """Step decay: lr·γ^k where k counts the milestones already reached.

    Epochs are 0-based, as PyTorch's MultiStepLR: with milestones [30, 60, 90] epochs 0…29 use
    lr, epochs 30…59 use lr·γ, 60…89 lr·γ², and from epoch 90 on lr·γ³."""

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def factor(self, epoch: int) -> float:
        k = sum(1 for m in self.milestones if epoch >= m)
        return self.gamma ** k


@dataclass(frozen=True)
class Optimizer:
    """The validated `optimizer:` section."""

    type: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    clip: float | None = None             # η of the lecture: if ‖g‖ > η then g ← η g/‖g‖
    schedule: StepSchedule | None = None
    params: tuple[str, ...] | None = None  # names of the parameters to update (None: all)

    def lr_at(self, epoch: int) -> float:
        """The learning rate used during `epoch` (0-based)."""
        if self.schedule is None:
            return self.lr
        return self.lr * self.schedule.factor(epoch)


def _error(problem, path: tuple, message: str) -> ProblemError:
    from gradcalc.problem.yamlio import field_name
    src = getattr(problem, "source", None)
    line = src.line(path) if src is not None else None
    return ProblemError(message, file=getattr(problem, "file", None),
                        field=field_name(path) or None, line=line)


def _unknown(what: str, name: Any, known) -> str:
    hint = difflib.get_close_matches(str(name), list(known), n=1)
    tip = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown {what} '{name}'{tip}; expected one of: {', '.join(known)}"


def _number(problem, value, path, *, low=None, low_open=False, high=None, high_open=False,
            what="a number") -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _error(problem, path, f"expected {what}, got '{value}'") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(problem, path, f"expected {what}, got {value_kind(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise _error(problem, path, f"expected a finite number, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise _error(problem, path, f"expected {what} {'>' if low_open else '≥'} {low:g}, got {value:g}")
    if high is not None and (value >= high if high_open else value > high):
        raise _error(problem, path, f"expected {what} {'<' if high_open else '≤'} {high:g}, got {value:g}")
    return value


def _keys(problem, mapping, path, allowed, what) -> dict:
    if not isinstance(mapping, dict):
        raise _error(problem, path, f"expected a mapping ({what}), got {value_kind(mapping)}")
    for key in mapping:
        if not isinstance(key, str) or key not in allowed:
            hint = difflib.get_close_matches(str(key), list(allowed), n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(allowed)})"
            raise _error(problem, path + (key,), f"unknown key '{key}' in {what}{tip}")
    return mapping


def has_optimizer(problem) -> bool:
    raw = getattr(problem, "raw", None) or {}
    return "optimizer" in raw


def parse_optimizer(problem) -> Optimizer | None:
    """Validate `problem.raw["optimizer"]`; None when the problem has no optimizer section.

    Errors name the file, the field (optimizer.lr …) and its line."""
    raw = getattr(problem, "raw", None) or {}
    if "optimizer" not in raw:
        return None
    base = ("optimizer",)
    sec = _keys(problem, raw["optimizer"], base, OPTIMIZER_KEYS, "the optimizer")
    if "type" not in sec:
        raise _error(problem, base, "the optimizer needs a 'type' (sgd)")
    kind = sec["type"]
    if not isinstance(kind, str) or kind not in OPTIMIZER_TYPES:
        raise _error(problem, base + ("type",), _unknown("optimizer", kind, OPTIMIZER_TYPES))
    if "lr" not in sec:
        raise _error(problem, base, "the optimizer needs a learning rate 'lr' (e.g. lr: 0.1)")
    lr = _number(problem, sec["lr"], base + ("lr",), low=0.0, low_open=True,
                 what="a learning rate")
    momentum = 0.0
    if "momentum" in sec:
        momentum = _number(problem, sec["momentum"], base + ("momentum",), low=0.0, high=1.0,
                           high_open=True, what="a momentum μ")
    clip = None
    if "clip" in sec and sec["clip"] is not None:
        clip = _number(problem, sec["clip"], base + ("clip",), low=0.0, low_open=True,
                       what="a clipping threshold η")
    schedule = None
    if "schedule" in sec and sec["schedule"] is not None:
        schedule = _schedule(problem, sec["schedule"], base + ("schedule",))
    params = None
    if "params" in sec:
        params = _params(problem, sec["params"], base + ("params",))
    return Optimizer(kind, lr, momentum, clip, schedule, params)


def _schedule(problem, raw, path) -> StepSchedule:
    sec = _keys(problem, raw, path, SCHEDULE_KEYS, "the schedule")
    kind = sec.get("type")
    if kind is None:
        raise _error(problem, path, "the schedule needs a 'type' (step)")
    if not isinstance(kind, str) or kind not in SCHEDULE_TYPES:
        raise _error(problem, path + ("type",), _unknown("schedule", kind, SCHEDULE_TYPES))
    if "milestones" not in sec:
        raise _error(problem, path, "a step schedule needs 'milestones' (e.g. [30, 60, 90])")
    ms = sec["milestones"]
    mpath = path + ("milestones",)
    if isinstance(ms, int) and not isinstance(ms, bool):
        ms = [ms]
    if not isinstance(ms, list) or not ms:
        raise _error(problem, mpath, f"expected a list of epochs, got {value_kind(ms)}")
    out = []
    for i, m in enumerate(ms):
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise _error(problem, mpath + (i,), f"expected a whole epoch number ≥ 1, got {m!r}")
        if out and m <= out[-1]:
            raise _error(problem, mpath + (i,), f"milestones must increase: {m} comes after {out[-1]}")
        out.append(m)
    gamma = 0.1
    if "gamma" in sec:
        gamma = _number(problem, sec["gamma"], path + ("gamma",), low=0.0, low_open=True,
                        what="a factor γ")
    return StepSchedule(tuple(out), gamma)


def _params(problem, raw, path) -> tuple[str, ...]:
    known = list(problem.parameters())
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _error(problem, path, f"expected a list of parameter names, got {value_kind(raw)}")
    seen = []
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in known:
            raise _error(problem, path + (i,), _unknown("parameter", name, known))
        if name in seen:
            raise _error(problem, path + (i,), f"parameter '{name}' is listed twice")
        seen.append(name)
    return tuple(seen)


def trained_names(problem, opt: Optimizer) -> list[str]:
    """The parameters SGD updates: W1, b1, … (networks) or the values (expressions)."""
    names = list(problem.parameters())
    if opt.params is not None:
        return [n for n in names if n in opt.params]
    return names


# ---------------------------------------------------------------- the update rule
@dataclass
class StepInfo:
    """What one update did: the global gradient norm before clipping, the clip and lr used."""

    grad_norm: float
    clipped: bool
    scale: float
    lr: float


_ALIGN = 8          # doubles: each parameter starts on a 64-byte boundary in the flat buffers


def _layout(shapes) -> tuple[list[int], int]:
    """Offsets of each array in one flat float64 buffer (each start rounded up to _ALIGN)."""
    offsets, total = [], 0
    for shape in shapes:
        total = -(-total // _ALIGN) * _ALIGN
        offsets.append(total)
        total += math.prod(shape)
    return offsets, total


def _flat_zeros(n: int) -> np.ndarray:
    """A zeroed float64 vector of length n whose data starts on a 64-byte boundary."""
    buf = np.zeros(n + _ALIGN)
    skip = (-buf.ctypes.data % (8 * _ALIGN)) // 8
    return buf[skip:skip + n]


def _views(flat: np.ndarray, shapes, offsets) -> list[np.ndarray]:
    return [flat[o:o + math.prod(s)].reshape(s) for s, o in zip(shapes, offsets)]


def _pack(arrays) -> np.ndarray:
    """The arrays laid out in one flat buffer (zeros between them), as SGD keeps gradients."""
    shapes = [np.shape(a) for a in arrays]
    offsets, total = _layout(shapes)
    flat = _flat_zeros(total)
    for v, a in zip(_views(flat, shapes, offsets), arrays):
        v[...] = a
    return flat


def _sum_of_squares(flat: np.ndarray, work: np.ndarray) -> float:
    np.multiply(flat, flat, out=work)
    return float(np.add.reduce(work, axis=None))      # work.sum() without its wrapper


def global_norm(grads) -> float:
    """‖g‖ = sqrt(Σ over every parameter of Σ g²): one norm over all parameter gradients.

    Summed over the gradients laid out in one flat buffer, exactly as SGD.step does, so the
    two agree to the last bit."""
    flat = _pack(grads)
    return math.sqrt(_sum_of_squares(flat, np.empty_like(flat)))


class SGD:
    """Stochastic gradient descent, updating the parameter arrays in place.

    Per step:  ‖g‖ over all parameters; if clip η is set and ‖g‖ > η then g ← η g/‖g‖
    (the lecture's rule, i.e. every gradient is multiplied by scale = η/‖g‖);
    with momentum μ (PyTorch's form) v ← μ v + g, d = v, else d = g;  W ← W − lr·d,
    with lr the scheduled learning rate of the current 0-based epoch.

    The gradients are copied into one preallocated flat buffer (`grad`, with `grad_views` in
    the parameters' shapes; a caller may write gradients straight into the views), so the norm,
    the clipping, the momentum and the update are one array operation each, with no
    temporaries. With packed=True the parameters themselves are copied into one flat buffer
    (`flat`, views in `params`) and the update is a single subtraction; otherwise the caller's
    arrays are updated one by one. Every step is elementwise except the norm, which is always
    summed over the same flat layout, so both forms give the same numbers bit for bit.

    The same class is used by `gradcalc solve --steps` and by `gradcalc train`, so one
    full-batch epoch of training and one solve step give the same numbers, bit for bit."""

    def __init__(self, opt: Optimizer, params: list[np.ndarray], packed: bool = False):
        self.opt = opt
        shapes = [np.shape(p) for p in params]
        offsets, total = _layout(shapes)
        if packed:
            self.flat: np.ndarray | None = _flat_zeros(total)
            self.params = _views(self.flat, shapes, offsets)
            for v, p in zip(self.params, params):
                v[...] = p
        else:
            self.flat = None
            self.params = params
        self.grad = _flat_zeros(total)
        self.grad_views = _views(self.grad, shapes, offsets)
        self.velocity: np.ndarray | None = None
        self._tmp = _flat_zeros(total)
        self._tmp_views = _views(self._tmp, shapes, offsets)

    def step(self, grads: list[np.ndarray], epoch: int) -> StepInfo:
        """Apply one update.  After it, `grad_views` hold the gradients as used (clipped)."""
        opt = self.opt
        G, T = self.grad, self._tmp
        for g, v in zip(grads, self.grad_views):
            if g is not v:
                np.copyto(v, np.reshape(g, v.shape))
        norm = math.sqrt(_sum_of_squares(G, T))
        clipped = opt.clip is not None and norm > opt.clip
        scale = 1.0
        if clipped:
            scale = opt.clip / norm
            np.multiply(G, scale, out=G)
        lr = opt.lr_at(epoch)
        if opt.momentum:
            if self.velocity is None:          # first step: v = g (as PyTorch)
                self.velocity = G.copy()
            else:
                np.multiply(self.velocity, opt.momentum, out=self.velocity)
                np.add(self.velocity, G, out=self.velocity)
            direction = self.velocity
        else:
            direction = G
        np.multiply(direction, lr, out=T)      # lr·d, then W ← W − lr·d
        if self.flat is not None:
            np.subtract(self.flat, T, out=self.flat)
        else:
            for p, t in zip(self.params, self._tmp_views):
                np.subtract(p, t, out=p)
        return StepInfo(norm, bool(clipped), scale, lr)


# ---------------------------------------------------------------- `gradcalc solve` integration
@dataclass
class UpdateStep:
    step: int                 # 1-based step number (epoch step - 1 in the schedule)
    info: StepInfo
    loss_before: float
    loss_after: float
    grads: dict[str, np.ndarray]       # after clipping
    params: dict[str, np.ndarray]      # after the update


@dataclass
class UpdateReport:
    optimizer: Optimizer
    names: list[str]
    start: dict[str, np.ndarray]
    steps: list[UpdateStep] = field(default_factory=list)

    def to_json(self) -> dict:
        first = self.steps[0]
        out = {"grad_norm": first.info.grad_norm, "clipped": first.info.clipped,
               "scale": first.info.scale, "lr": first.info.lr,
               "loss_before": first.loss_before, "loss_after": first.loss_after,
               "params": {n: first.params[n] for n in self.names}}
        if len(self.steps) > 1:
            out["steps"] = [{"step": s.step, "lr": s.info.lr, "grad_norm": s.info.grad_norm,
                             "clipped": s.info.clipped, "scale": s.info.scale,
                             "loss_before": s.loss_before, "loss_after": s.loss_after,
                             "params": {n: s.params[n] for n in self.names}}
                            for s in self.steps]
        return out


def _loss_value(problem, values) -> tuple[float, dict]:
    from gradcalc.derive import autograd
    graph, out, _ = autograd.run(problem, values=values, record=False)
    return float(np.sum(out.value)), graph.gradients()


def update_steps(problem, steps: int = 1, first_grads: dict | None = None,
                 first_loss: float | None = None) -> UpdateReport:
    """K successive full-batch SGD steps from the problem's parameters (autograd gradients).

    Step k (1-based) runs in epoch k − 1 of the schedule."""
    opt = parse_optimizer(problem)
    if opt is None:
        raise ProblemError("this problem has no 'optimizer' section (e.g. optimizer: {type: sgd, "
                           "lr: 0.1})", file=getattr(problem, "file", None))
    if steps < 1:
        raise ValueError("steps must be at least 1")
    names = trained_names(problem, opt)
    start = {n: np.array(v, dtype=float) for n, v in problem.parameters().items()}
    values = {n: v.copy() for n, v in start.items()}
    sgd = SGD(opt, [values[n] for n in names])
    report = UpdateReport(opt, names, {n: start[n] for n in names})
    if first_grads is None or first_loss is None:
        loss, grads = _loss_value(problem, values)
    else:
        loss, grads = first_loss, first_grads
    for k in range(steps):
        with np.errstate(all="ignore"):   # an overflow is refused below (a non-finite value)
            info = sgd.step([grads[n] for n in names], k)
        g = [v.copy() for v in sgd.grad_views]         # as used: after clipping
        try:
            loss_after, grads = _loss_value(problem, values)
        except DomainError as exc:
            raise DomainError(f"after update step {k + 1} (lr {info.lr:g}): {exc.message}; try a "
                              f"smaller optimizer.lr or set optimizer.clip",
                              file=exc.file, field=exc.field, line=exc.line) from None
        if not math.isfinite(loss_after):
            raise DomainError(f"after update step {k + 1} the loss is {loss_after}; try a smaller "
                              "optimizer.lr or set optimizer.clip", file=problem.file,
                              field="optimizer.lr")
        report.steps.append(UpdateStep(k + 1, info, loss, loss_after,
                                       dict(zip(names, g)),
                                       {n: values[n].copy() for n in names}))
        loss = loss_after
    return report


def attach_update(sol, steps: int | None = None) -> None:
    """Add the SGD update of a problem with an optimizer to a Solution (`sol.update`)."""
    problem = sol.problem
    if not has_optimizer(problem):
        return
    out = sol.output
    grads = dict(sol.gradients)
    loss = float(np.sum(sol.forward[out]))
    report = update_steps(problem, steps or 1, first_grads=grads, first_loss=loss)
    sol.update = report
