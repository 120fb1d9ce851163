"""Mini-batch SGD on a network problem's data: the training loop, its records and evaluation."""
from __future__ import annotations

import math
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from gradcalc.errors import ProblemError, UsageError
from gradcalc.train.fastnet import FastNet, make_net
from gradcalc.train.optim import SGD, Optimizer, parse_optimizer, trained_names


# ---------------------------------------------------------------- records
@dataclass
class EpochRecord:
    epoch: int            # 0-based
    lr: float
    loss: float           # mean over the epoch's batches (weighted by batch size), before updates
    accuracy: float | None
    grad_norm: float      # mean over batches of ‖g‖ before clipping
    clipped: int          # number of batches whose gradient was clipped
    batches: int

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "lr": self.lr, "loss": self.loss, "accuracy": self.accuracy,
                "grad_norm": self.grad_norm, "clipped": self.clipped, "batches": self.batches}


@dataclass
class TrainResult:
    problem: Any
    optimizer: Optimizer
    params: dict[str, np.ndarray]       # the last finite parameters
    records: list[EpochRecord]
    final_loss: float | None            # full data set, with the final parameters
    final_accuracy: float | None
    stopped: str | None = None          # None, "nonfinite" or "interrupted"
    message: str = ""
    epochs: int = 0
    batch_size: int | str = "all"
    seed: int = 0
    label: str = ""                     # sweep: "layers[0].width=20"
    net: Any = field(default=None, repr=False)

    def to_json(self) -> dict:
        """The JSON value (render.jsonout.dumps writes a non-finite number as null)."""
        from gradcalc.solution.model import to_json_value
        return {"title": self.problem.title, "label": self.label or None,
                "epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed,
                "stopped": self.stopped, "message": self.message or None,
                "final": {"loss": self.final_loss, "accuracy": self.final_accuracy},
                "records": [r.to_json() for r in self.records],
                "params": to_json_value(self.params)}

    def predict(self, x: np.ndarray) -> np.ndarray:
        names = list(self.problem.parameters())
        return self.net.predict([self.params[n] for n in names], x)


def task(problem) -> str:
    """'classification' (cross_entropy/hinge, or bce with 0/1 targets), 'regression' or 'none'."""
    loss = problem.loss
    if loss is None:
        return "none"
    if loss.type in ("cross_entropy", "hinge"):
        return "classification"
    if loss.type == "bce" and np.all((loss.target == 0) | (loss.target == 1)):
        return "classification"
    return "regression"


def predicted_class(y: np.ndarray, loss_type: str) -> np.ndarray:
    """argmax of the scores, or y > 0.5 for a bce output with one unit."""
    if type(y) is not np.ndarray or y.ndim != 2:
        y = np.atleast_2d(y)
    if loss_type == "bce" and y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(int)
    return y.argmax(axis=1)


def true_class(problem) -> np.ndarray:
    loss = problem.loss
    if loss.type == "bce":
        t = np.atleast_2d(loss.target)
        return (t[:, 0] > 0.5).astype(int) if t.shape[1] == 1 else np.argmax(t, axis=1)
    if loss.label is None:         # cross-entropy with soft targets: the likeliest class
        return np.argmax(np.atleast_2d(loss.target), axis=1)
    return np.atleast_1d(loss.label).astype(int)


# ---------------------------------------------------------------- the training loop
class _Interrupt:
    """Ctrl-C sets a flag; the loop stops after the current batch. A second Ctrl-C aborts."""

    def __init__(self):
        self.flag = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def parse_batch_size(value) -> int | str:
    if value is None:
        return "all"
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise UsageError(f"--batch-size: expected a whole number ≥ 1 or 'all', got {value}")
        return value
    text = str(value).strip().lower()
    if text == "all":
        return "all"
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--batch-size: expected a whole number ≥ 1 or 'all', got '{value}'")
    return int(text)


def check_trainable(problem) -> None:
    from gradcalc.problem.model import NetworkProblem
    if not isinstance(problem, NetworkProblem):
        raise ProblemError("gradcalc train needs a network problem (layers + data); for gradient "
                           "descent on an expression use: gradcalc solve PROBLEM --steps K",
                           file=problem.file)


def train(problem, *, epochs: int = 100, batch_size: int | str = "all", seed: int = 0,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          interrupt: bool = True, label: str = "") -> TrainResult:
    """Mini-batch SGD on the problem's data with its `optimizer:` section.

    Each epoch shuffles the examples with numpy's default_rng(seed) (one permutation per
    epoch) and splits them into batches of `batch_size` (the last may be smaller); with
    batch_size "all" (or ≥ the number of examples) there is one batch in file order, so K
    epochs equal `gradcalc solve --steps K`. The loss of a batch is its mean, as in the
    problem file. Loss and accuracy per epoch are averaged over its batches, each measured
    before that batch's update. A non-finite loss stops training; the result keeps the last
    parameters whose loss was finite."""
    check_trainable(problem)
    opt = parse_optimizer(problem)
    if opt is None:
        raise ProblemError("gradcalc train needs an 'optimizer' section "
                           "(e.g. optimizer: {type: sgd, lr: 0.1})", file=problem.file)
    if epochs < 0:
        raise UsageError(f"--epochs: expected a whole number ≥ 0, got {epochs}")
    batch_size = parse_batch_size(batch_size)
    net = make_net(problem)
    names = list(problem.parameters())
    params = [np.array(v, dtype=float, copy=True) for v in problem.parameters().values()]
    train_names = trained_names(problem, opt)
    train_idx = [names.index(n) for n in train_names]
    # the trained parameters live in SGD's flat buffer (one-operation update and backup), and
    # the fast path writes their gradients straight into SGD's flat gradient buffer
    sgd = SGD(opt, [params[i] for i in train_idx], packed=True)
    grad_out: list = [None] * len(params)
    for j, i in enumerate(train_idx):
        params[i] = sgd.params[j]
        grad_out[i] = sgd.grad_views[j]
    backup = sgd.flat.copy()          # the last parameters whose loss was finite

    loss = problem.loss
    x_all = problem.x
    batched = problem.batch
    n = x_all.shape[0] if batched else 1
    B = n if batch_size == "all" or not batched else min(batch_size, n)
    full = B >= n
    kind = task(problem)
    truth = true_class(problem) if kind == "classification" else None
    if loss is None:
        sup_key, sup_all = None, None
    elif loss.type in ("mse", "bce") or loss.label is None:     # soft cross-entropy targets too
        sup_key, sup_all = "target", loss.target
    else:
        sup_key, sup_all = "label", loss.label
    attrs_all = dict(loss.attrs) if loss is not None else {}

    # preallocated batch buffers: a full one and, if n % B, one for the last smaller batch
    rng = np.random.default_rng(seed)
    buffers = {}
    if not full:
        for m in {B, n % B} - {0}:
            xb = np.empty((m,) + x_all.shape[1:])
            sb = None if sup_all is None else np.empty((m,) + np.shape(sup_all)[1:],
                                                       dtype=np.asarray(sup_all).dtype)
            tb = None if truth is None else np.empty(m, dtype=truth.dtype)
            attrs = dict(attrs_all)
            if sup_key:
                attrs[sup_key] = sb
            buffers[m] = (xb, sb, tb, attrs)

    records: list[EpochRecord] = []
    stopped, message = None, ""
    guard = _Interrupt() if interrupt else None
    if guard:
        guard.__enter__()
    errstate = np.errstate(all="ignore")   # overflow is detected below, as a non-finite loss
    errstate.__enter__()
    try:
        for epoch in range(epochs):
            loss_sum = 0.0
            correct = 0
            norm_sum = 0.0
            clipped = 0
            nb = 0
            count = 0
            order = None if full else rng.permutation(n)
            start = 0
            while start < n:
                if full:
                    xb, attrs, tb, m = x_all, attrs_all, truth, n
                else:
                    idx = order[start:start + B]
                    m = idx.shape[0]
                    xb, sb, tb, attrs = buffers[m]
                    np.take(x_all, idx, axis=0, out=xb)
                    if sb is not None:
                        np.take(sup_all, idx, axis=0, out=sb)
                    if tb is not None:
                        np.take(truth, idx, axis=0, out=tb)
                start += m
                L, _, y, grads = net.loss_and_grads(params, xb, attrs, out=grad_out)
                Lf = float(L)
                if not math.isfinite(Lf):
                    np.copyto(sgd.flat, backup)          # back to the last finite parameters
                    stopped = "nonfinite"
                    message = (f"epoch {epoch}: the loss became {Lf} (batch {nb + 1}); training "
                               f"stopped. Try a smaller learning rate (optimizer.lr, now "
                               f"{opt.lr_at(epoch):g}) or gradient clipping (optimizer.clip)")
                    break
                np.copyto(backup, sgd.flat)
                info = sgd.step([grads[i] for i in train_idx], epoch)
                loss_sum += Lf * m
                count += m
                norm_sum += info.grad_norm
                clipped += info.clipped
                nb += 1
                if tb is not None:
                    correct += int(np.count_nonzero(predicted_class(y, loss.type) == tb))
                if guard is not None and guard.flag:
                    break
            if nb:
                records.append(EpochRecord(epoch, opt.lr_at(epoch), loss_sum / count,
                                           correct / count if truth is not None else None,
                                           norm_sum / nb, clipped, nb))
                if on_epoch is not None:
                    on_epoch(records[-1])
            if stopped:
                break
            if guard is not None and guard.flag:
                stopped = "interrupted"
                message = (f"interrupted in epoch {epoch} after {nb} batch"
                           f"{'es' if nb != 1 else ''}; keeping what was trained so far")
                break
    finally:
        errstate.__exit__(None, None, None)
        if guard:
            guard.__exit__(None, None, None)

    final = {n: np.array(v, copy=True) for n, v in zip(names, params)}   # not views of sgd's buffer
    L_final, acc_final = evaluate(problem, net, params)
    return TrainResult(problem, opt, final, records, L_final, acc_final, stopped, message,
                       epochs, batch_size, seed, label, net)


def evaluate(problem, net: FastNet, params: list[np.ndarray]) -> tuple[float | None, float | None]:
    """Loss and accuracy on the whole data set."""
    attrs = problem.loss.attrs if problem.loss is not None else {}
    with np.errstate(all="ignore"):
        L, _, y, _ = net.loss_and_grads(params, problem.x, attrs, want_grads=False)
    Lf = float(np.sum(L))
    acc = None
    if task(problem) == "classification":
        acc = float(np.mean(predicted_class(y, problem.loss.type) == true_class(problem)))
    return Lf, acc

