"""Mini-batch SGD on a network problem's data: the fast training loop, sweeps, trained YAML output."""
from __future__ import annotations

import copy
import math
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gradcalc import ops
from gradcalc.errors import ProblemError, UsageError
from gradcalc.train.optim import SGD, Optimizer, parse_optimizer, trained_names


# ---------------------------------------------------------------- the fast path
def _arr(value, shape) -> np.ndarray:
    """A registry result as a float64 array of `shape`, as autograd stores it (no copy)."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == shape:
        return value
    return np.asarray(value, dtype=float).reshape(shape)


class FastNet:
    """The network of a NetworkProblem evaluated with the registry's forward/VJP functions
    directly, without building a Node graph or recording steps.

    It performs exactly the operations of `network.build` + `autograd.Graph.backward`, in the
    same order (the regularizer's gradient is accumulated before the layer's own, as the graph
    sweep does), so its gradients equal autograd.run's bit for bit (tests/test_train.py).
    The registry functions are looked up once, here, not per call."""

    def __init__(self, problem):
        self.problem = problem
        self.n_layers = len(problem.layers)
        affine = ops.get("affine")
        self.affine = affine
        self._aff_f, self._aff_b = affine.forward, affine.vjp
        self.acts = [ops.get(layer.activation) for layer in problem.layers]
        self.act_attrs = [layer.attrs for layer in problem.layers]
        self._layers = [(i, act.forward, act.vjp, attrs)
                        for i, (act, attrs) in enumerate(zip(self.acts, self.act_attrs))]
        self.loss = ops.get(problem.loss.type) if problem.loss is not None else None
        self.l2 = problem.l2
        self._l2 = ops.get("l2")
        self._add = ops.get("add")

    def loss_and_grads(self, params: list[np.ndarray], x: np.ndarray, loss_attrs: dict,
                       want_grads: bool = True, out: list | None = None):
        """params = [W1, b1, W2, b2, …]; returns (L, L_data, y, grads in the same order).

        `out` (optional, same order): arrays that receive the gradients (None: a new array),
        e.g. the views of SGD's flat gradient buffer; the returned grads are then those."""
        aff_f, aff_b = self._aff_f, self._aff_b
        hs = [x]
        zs = []
        h = x
        for i, act_f, _, attrs in self._layers:
            z = np.asarray(aff_f(params[2 * i], h, params[2 * i + 1]), dtype=float)
            h = np.asarray(act_f(z, **attrs), dtype=float)
            zs.append(z)
            hs.append(h)
        y = h
        if self.loss is None:
            L_data = y
        else:
            L_data = np.asarray(self.loss.forward(y, **loss_attrs), dtype=float)
        Ws = params[0::2]
        if self.l2:
            R = np.asarray(self._l2.forward(*Ws, lam=self.l2), dtype=float)
            L = np.asarray(self._add.forward(L_data, R), dtype=float)
        else:
            R, L = None, L_data
        if not want_grads:
            return L, L_data, y, None
        # backward: seed dL/dL = 1, then the reverse of the forward order
        g = np.ones_like(L)
        reg: list[Any] = [None] * self.n_layers          # the regularizer's part of dL/dW_i
        if self.l2:
            gL, gR = self._add.vjp(g, L, L_data, R)
            for j, gw in enumerate(self._l2.vjp(_arr(gR, R.shape), R, *Ws, lam=self.l2)):
                reg[j] = _arr(gw, Ws[j].shape)
            g = _arr(gL, L_data.shape)
        if self.loss is not None:
            g = _arr(self.loss.vjp(g, L_data, y, **loss_attrs)[0], y.shape)
        grads: list[Any] = [None] * len(params)
        dest = out if out is not None else grads
        for i, _, act_b, attrs in reversed(self._layers):
            z, h_in, h_out = zs[i], hs[i], hs[i + 1]
            g = _arr(act_b(g, h_out, z, **attrs)[0], z.shape)
            W, b = params[2 * i], params[2 * i + 1]
            gW, gx, gb = aff_b(g, z, W, h_in, b)
            gW = _arr(gW, W.shape)
            gb = _arr(gb, b.shape)
            dW, db = dest[2 * i], dest[2 * i + 1]
            if reg[i] is not None:          # regularizer's part first, as the graph sweep
                gW = np.add(reg[i], gW, out=gW if dW is None else dW)
            elif dW is not None:
                np.copyto(dW, gW)
                gW = dW
            if db is not None:
                np.copyto(db, gb)
                gb = db
            grads[2 * i], grads[2 * i + 1] = gW, gb
            if i:                           # dL/dx of the input layer is not needed
                g = _arr(gx, h_in.shape)
        return L, L_data, y, grads

    def predict(self, params, x: np.ndarray) -> np.ndarray:
        h = x
        for i in range(self.n_layers):
            z = self.affine.forward(params[2 * i], h, params[2 * i + 1])
            h = self.acts[i].forward(z, **self.act_attrs[i])
        return np.asarray(h, dtype=float)


class GraphNet:
    """The fallback for layer types the fast path does not cover (conv, pooling, rnn): the
    autograd graph, rebuilt for every batch without recording steps."""

    def __init__(self, problem):
        self.problem = problem
        self.names = list(problem.parameters())

    def _variant(self, x, loss_attrs, with_loss=True):
        import dataclasses
        p = self.problem
        loss = p.loss
        if loss is not None and with_loss:
            changes = {k: loss_attrs[k] for k in ("label", "target") if k in loss_attrs}
            loss = dataclasses.replace(loss, **changes)
        return dataclasses.replace(p, x=x, loss=loss if with_loss else None,
                                   l2=p.l2 if with_loss else 0.0)

    def loss_and_grads(self, params, x, loss_attrs, want_grads: bool = True, out=None):
        # `out` is accepted for FastNet's signature; SGD copies the gradients itself
        from gradcalc.derive.autograd import Graph
        from gradcalc.graph.network import build
        graph = Graph(self.problem.file, check_domain=False)
        out = build(self._variant(x, loss_attrs), graph, dict(zip(self.names, params)))
        y = graph.by_name["y"].value
        L_data = graph.by_name["L_data"].value if "L_data" in graph.by_name else out.value
        if not want_grads:
            return out.value, L_data, y, None
        graph.backward(out, record=False)
        grads = graph.gradients()
        return out.value, L_data, y, [grads[n] for n in self.names]

    def predict(self, params, x):
        from gradcalc.derive.autograd import Graph
        from gradcalc.graph.network import build
        graph = Graph(self.problem.file, check_domain=False)
        return build(self._variant(x, {}, with_loss=False), graph,
                     dict(zip(self.names, params))).value


def make_net(problem):
    """FastNet when every layer is dense, else the graph fallback."""
    if all(getattr(layer, "type", "dense") == "dense" for layer in problem.layers):
        return FastNet(problem)
    return GraphNet(problem)


def fast_gradients(problem, values: dict | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """L and dL/d(every parameter) via the fast path (compare: autograd.run(problem))."""
    net = FastNet(problem)
    values = values or {}
    params = [np.asarray(values.get(n, v), dtype=float) for n, v in problem.parameters().items()]
    L, _, _, grads = net.loss_and_grads(params, problem.x, problem.loss.attrs if problem.loss else {})
    return float(L), dict(zip(problem.parameters(), grads))


_TUNED = False


def tune_allocator() -> bool:
    """Keep freed memory in the process (glibc only) instead of returning it to the system.

    Every batch allocates and frees the same few arrays (the registry ops return new arrays);
    by default glibc gives arrays over 128 KB back to the OS at once, and touching fresh pages
    each batch can cost more than the arithmetic of a small network (on the spiral benchmark,
    untuned: ~200 page faults and 2–4× the time per epoch). Raising the mmap and trim
    thresholds only changes when memory is returned.
    Called by the CLI and the benchmark, not on import. Returns True if applied."""
    global _TUNED
    if _TUNED:
        return True
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        return False
    _TUNED = bool(ok)
    return _TUNED


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
    y = np.atleast_2d(y)
    if loss_type == "bce" and y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(int)
    return np.argmax(y, axis=1)


def true_class(problem) -> np.ndarray:
    loss = problem.loss
    if loss.type == "bce":
        t = np.atleast_2d(loss.target)
        return (t[:, 0] > 0.5).astype(int) if t.shape[1] == 1 else np.argmax(t, axis=1)
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


def _check_trainable(problem) -> None:
    from gradcalc.problem.load import NetworkProblem
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
    _check_trainable(problem)
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
    elif loss.type in ("mse", "bce"):
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


# ---------------------------------------------------------------- sweeps
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\[\d+\]")


def parse_key(key: str) -> tuple:
    """'layers[0].width' -> ('layers', 0, 'width')."""
    parts: list = []
    text = key.strip()
    pos = 0
    while pos < len(text):
        if parts and text[pos] == ".":
            pos += 1
        m = _KEY.match(text, pos)
        if not m:
            raise UsageError(f"--sweep: cannot read the key '{key}' (write e.g. layers[0].width "
                             f"or regularization.l2)")
        tok = m.group(0)
        parts.append(int(tok[1:-1]) if tok.startswith("[") else tok)
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise UsageError(f"--sweep: cannot read the key '{key}'")
    return tuple(parts)


def parse_sweep(text: str) -> tuple[str, tuple, list]:
    """'layers[0].width=3,6,20' -> (key text, path, [3, 6, 20]); values are read as YAML scalars."""
    from gradcalc.problem.yamlio import load_yaml_text
    if "=" not in text:
        raise UsageError(f"--sweep: expected KEY=V1,V2,… (e.g. layers[0].width=3,6,20), got '{text}'")
    key, _, vals = text.partition("=")
    path = parse_key(key)
    values = []
    for v in vals.split(","):
        v = v.strip()
        if not v:
            raise UsageError(f"--sweep: empty value in '{text}'")
        try:
            values.append(load_yaml_text(v, "--sweep").data)
        except ProblemError as e:
            raise UsageError(f"--sweep: cannot read the value '{v}': {e.message}") from None
    if len(values) > 12:
        raise UsageError(f"--sweep: at most 12 values, got {len(values)}")
    return key.strip(), path, values


def set_path(doc: dict, path: tuple, value, key_text: str) -> None:
    node = doc
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise UsageError(f"--sweep: {key_text}: there is no item [{part}]")
            if not isinstance(node[part], (dict, list)):
                raise UsageError(f"--sweep: {key_text}: item [{part}] is not a section")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise UsageError(f"--sweep: {key_text}: '{part}' is not inside a mapping")
            if part not in node or node[part] is None:
                if isinstance(nxt, int):
                    raise UsageError(f"--sweep: {key_text}: the problem has no '{part}' list")
                node[part] = {}
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise UsageError(f"--sweep: {key_text}: there is no item [{last}]")
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise UsageError(f"--sweep: {key_text}: '{last}' is not inside a mapping")
        node[last] = value
        # a new width replaces explicit weights of that layer
        if last == "width" and len(path) >= 2 and path[0] == "layers":
            node.pop("W", None)
            node.pop("b", None)


def variant(problem, path: tuple, value, key_text: str):
    """The problem re-read from its source document with one key set to `value`."""
    from gradcalc.problem.load import problem_from_located
    from gradcalc.problem.yamlio import Located
    src = problem.source
    doc = copy.deepcopy(src.data)
    set_path(doc, path, value, key_text)
    try:
        return problem_from_located(Located(doc, src.file, src.lines))
    except ProblemError as e:
        e.message = f"with --sweep {key_text}={value}: {e.message}"
        raise


# ---------------------------------------------------------------- trained problem file
def trained_document(problem, params: dict[str, np.ndarray], out_path: str | Path) -> dict:
    """The problem's own document with explicit trained W and b in every layer (width/init
    removed) and a relative data file path rewritten for the output's directory."""
    doc = copy.deepcopy(problem.source.data)
    for i, layer in enumerate(doc["layers"], 1):
        if not isinstance(layer, dict):
            continue
        # parameter name -> key in the layer: W1 -> W, b1 -> b, Wxh1 -> Wxh, h0_1 -> h0 …
        mine = {key: np.asarray(params[name]).tolist()
                for name, key in ((f"W{i}", "W"), (f"b{i}", "b"), (f"Wxh{i}", "Wxh"),
                                  (f"Whh{i}", "Whh"), (f"h0_{i}", "h0")) if name in params}
        if not mine:
            continue
        generated = "width" in layer or "init" in layer
        layer.pop("width", None)
        layer.pop("init", None)
        new = dict(mine) if generated else {}        # generated weights go first
        for k, v in layer.items():
            new[k] = mine.get(k, v)
        for k, v in mine.items():
            new.setdefault(k, v)
        layer.clear()
        layer.update(new)
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("file"), str):
        p = Path(data["file"])
        if not p.is_absolute():
            here = Path(problem.file).parent if problem.file and not problem.file.startswith("<") \
                else Path(".")
            target_dir = Path(out_path).resolve().parent
            data["file"] = os.path.relpath((here / p).resolve(), target_dir)
    return doc


def write_trained(result: TrainResult, out_path: str | Path) -> None:
    import yaml
    doc = trained_document(result.problem, result.params, out_path)
    head = (f"# Trained by gradcalc train from {result.problem.file}: {len(result.records)} "
            f"epoch{'s' if len(result.records) != 1 else ''}, batch size {result.batch_size}, "
            f"seed {result.seed}")
    if result.stopped:
        head += f"\n# Stopped early ({result.stopped}): " + result.message.replace("\n", " ")
    text = head + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None,
                                        allow_unicode=True, width=100)
    from gradcalc.fileio import write_atomic   # all or nothing; errors are one-line UsageErrors
    write_atomic(out_path, text)
