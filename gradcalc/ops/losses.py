"""Loss ops (mean over a batch): MSE, softmax cross entropy, multiclass hinge, binary cross entropy."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, kink_side, sympy_module
from gradcalc.ops.linear import row_max, row_sum, softmax
from gradcalc.ops.registry import LOSSES, Op, register


def _rows(y):
    y = as_float(y)
    return (y[None, :], 1) if y.ndim == 1 else (y, y.shape[0])


def _den(shape, reduction="mean"):
    """What the summed loss is divided by: the batch size (mean, the default), 1 (sum), or every
    output of every example (mean_all: PyTorch's BCELoss / MSELoss mean)."""
    if reduction == "mean":
        return 1 if len(shape) <= 1 else shape[0]
    return {"sum": 1, "mean_all": int(np.prod(shape)) or 1}[reduction]


def _mse_forward(y, target, scale=0.5, reduction="mean"):
    y = as_float(y)
    if y.ndim == 1 and reduction != "mean_all":     # one example: the same arithmetic without
        t = target if np.shape(target) == y.shape else np.reshape(target, y.shape)   # (faster)
        return np.asarray(scale * ((y - t) ** 2).sum())      # / n with n = 1: exact
    Y, _ = _rows(y)
    if reduction == "none":     # one loss per row (the numeric check's stacked perturbations)
        return scale * ((Y - np.reshape(target, Y.shape)) ** 2).sum(axis=1)
    return np.asarray(scale * np.sum((Y - np.reshape(target, Y.shape)) ** 2) / _den(y.shape, reduction))


def _mse_vjp(g, out, y, target, scale=0.5, reduction="mean"):
    y = as_float(y)
    n = _den(y.shape, reduction)
    return (g * 2.0 * scale * (y - np.reshape(target, y.shape)) / n,)


def _mse_sym(y, target, scale=0.5, reduction="mean"):
    y = np.asarray(y, dtype=object)
    n = _den(y.shape, reduction)
    t = np.reshape(np.asarray(target, dtype=object), y.shape)
    return np.asarray(scale * sum(((y - t) ** 2).ravel()) / n, dtype=object)


def _labels(label, n):
    return np.asarray(label, dtype=int).reshape((n,))


# cross-entropy with a class index per example (label) or, for soft targets, a probability
# vector per example (target): L = Σ_i (log Σ_k exp y_ik − Σ_k t_ik y_ik) / n
def _ce_forward(y, label=None, target=None, reduction="mean"):
    y = as_float(y)
    if y.ndim == 1 and target is None and reduction == "mean":   # one example (faster)
        k = np.asarray(label, dtype=int).reshape(1)[0]
        m = y.max()
        return np.asarray(m + np.log(np.exp(y - m).sum()) - y[k])
    Y, n = _rows(y)
    m = row_max(Y)
    logz = (m + np.log(row_sum(np.exp(Y - m))))[:, 0]
    picked = (np.reshape(as_float(target), Y.shape) * Y).sum(axis=1) if target is not None \
        else Y[np.arange(n), _labels(label, n)]
    if reduction == "none":     # one loss per row (the numeric check's stacked perturbations)
        return logz - picked
    return np.asarray(np.sum(logz - picked) / _den(y.shape, reduction))


def _ce_vjp(g, out, y, label=None, target=None, reduction="mean"):
    y = as_float(y)
    return _ce_grad(g, softmax(_rows(y)[0]), y, label, target, reduction)


def ce_forward_with_vjp(y, label=None, target=None, reduction="mean"):
    """(L, vjp) for a batch: L as `_ce_forward` computes it and vjp(g) = `_ce_vjp(g, L, y, …)`
    bit for bit, reusing the forward's exp(y − max) for the softmax instead of computing it
    again (a training loop's forward and backward of the same batch)."""
    y = as_float(y)
    if y.ndim != 2 or reduction == "none":
        L = _ce_forward(y, label, target, reduction)
        return L, lambda g: _ce_vjp(g, L, y, label, target, reduction)
    n = y.shape[0]
    m = row_max(y)
    E = y - m
    np.exp(E, out=E)                    # exp(y − max) in the new difference
    s = row_sum(E)
    logz = (m + np.log(s))[:, 0]
    picked = (np.reshape(as_float(target), y.shape) * y).sum(axis=1) if target is not None \
        else y[np.arange(n), _labels(label, n)]
    L = np.asarray((logz - picked).sum() / _den(y.shape, reduction))     # the sum np.sum takes
    return L, lambda g: _ce_grad(g, E / s, y, label, target, reduction)


def _ce_grad(g, p, y, label, target, reduction):
    """g · (softmax(y) − target) / den, given p = softmax(y) as rows (a new array, changed here)."""
    Y, n = _rows(y)
    if target is not None:
        p = p - np.reshape(as_float(target), Y.shape)
    else:
        p[np.arange(n), _labels(label, n)] -= 1.0
    p = p.reshape(y.shape)
    if np.ndim(g) == 0 and p.dtype == np.float64:     # g · p / den written into p (ours)
        np.multiply(g, p, out=p)
        return (np.divide(p, _den(y.shape, reduction), out=p),)
    return (g * p / _den(y.shape, reduction),)


def _ce_sym(y, label=None, target=None, reduction="mean"):
    sp = sympy_module()
    Y = np.asarray(y, dtype=object)
    Y = Y[None, :] if Y.ndim == 1 else Y
    n = Y.shape[0]
    if target is not None:
        T = np.reshape(np.asarray(target, dtype=object), Y.shape)
        total = sum(sp.log(sum(sp.exp(v) for v in Y[i])) - sum(T[i] * Y[i]) for i in range(n))
    else:
        k = _labels(label, n)
        total = sum(sp.log(sum(sp.exp(v) for v in Y[i])) - Y[i, k[i]] for i in range(n))
    return np.asarray(total / _den(np.shape(y), reduction), dtype=object)


def _hinge_margins(y, label, margin):
    Y, n = _rows(y)
    k = _labels(label, n)
    M = Y - Y[np.arange(n), k][:, None] + margin
    M[np.arange(n), k] = -np.inf   # the true class is not a term
    return M, k, n


def _hinge_forward(y, label, margin=1.0, reduction="mean"):
    M, _, n = _hinge_margins(y, label, margin)
    return np.asarray(np.sum(np.maximum(M, 0.0)) / _den(np.shape(y), reduction))


def _hinge_vjp(g, out, y, label, margin=1.0, reduction="mean"):
    M, k, n = _hinge_margins(y, label, margin)
    active = (M > 0).astype(float)          # a term at margin exactly 0 contributes 0
    active[np.arange(n), k] = -active.sum(axis=1)
    return (g * active.reshape(np.shape(y)) / _den(np.shape(y), reduction),)


def _hinge_sym(y, label, margin=1.0, reduction="mean"):
    sp = sympy_module()
    Y = np.asarray(y, dtype=object)
    Y = Y[None, :] if Y.ndim == 1 else Y
    n = Y.shape[0]
    k = _labels(label, n)
    terms = []
    for i in range(n):
        for j in range(Y.shape[1]):
            if j != k[i]:
                m = Y[i, j] - Y[i, k[i]] + margin
                terms.append(sp.Piecewise((m, m > 0), (0, True)))
    return np.asarray(sum(terms) / _den(np.shape(y), reduction), dtype=object)


def _hinge_branch(y, label, margin=1.0, tol=0.0, reduction="mean"):
    M, k, n = _hinge_margins(y, label, margin)
    M[np.arange(n), k] = -1.0    # never a kink
    return kink_side(M, 0.0, tol)


def _bce_check(y, target=None):   # called with the inputs only (the target is an attr)
    y = as_float(y)
    return None if np.all((y > 0) & (y < 1)) else "bce needs outputs strictly between 0 and 1"


def _bce_forward(y, target, reduction="mean"):
    Y, n = _rows(y)
    T = np.reshape(target, Y.shape)
    return np.asarray(-np.sum(T * np.log(Y) + (1 - T) * np.log(1 - Y)) / _den(np.shape(y), reduction))


def _bce_vjp(g, out, y, target, reduction="mean"):
    y = as_float(y)
    n = _den(y.shape, reduction)
    t = np.reshape(target, y.shape)
    return (g * (y - t) / (y * (1 - y)) / n,)


def _bce_sym(y, target, reduction="mean"):
    sp = sympy_module()
    y = np.asarray(y, dtype=object)
    n = _den(y.shape, reduction)
    t = np.reshape(np.asarray(target, dtype=object), y.shape)
    return np.asarray(-sum(ti * sp.log(yi) + (1 - ti) * sp.log(1 - yi)
                           for yi, ti in zip(y.ravel(), t.ravel())) / n, dtype=object)


# ---------------------------------------------------------------- matrix forms
# The loss is a number, so its rule is δ (a scalar, 1 at the seed) times a matrix shaped like y,
# divided by the batch size n.  t, onehot(label) are leaves with their values.
def _n(site):
    return _den(site.shapes[0], site.attrs.get("reduction", "mean"))


def _per_example(site, term):
    n = _n(site)
    return (mx.dot(mx.V("g"), mx.scale(1.0 / n, term) if n > 1 else term),)


def _target(site):
    return mx.Leaf("t", np.reshape(as_float(site.attrs["target"]), site.shapes[0]))


def _onehot(site):
    shape = site.shapes[0]
    Y = np.zeros((1,) + shape if len(shape) == 1 else shape)
    Y[np.arange(Y.shape[0]), _labels(site.attrs["label"], Y.shape[0])] = 1.0
    return mx.Leaf("onehot(label)", Y.reshape(shape), r"\operatorname{onehot}(\mathrm{label})")


def _mse_matrix(site):
    c = 2.0 * site.attrs.get("scale", 0.5)
    return _per_example(site, mx.scale(c, mx.sub(mx.V(0), _target(site))))


def _row_softmax(Y):
    """softmax along the last axis, written out here: exp(y − max) / Σ exp(y − max)."""
    e = np.exp(Y - Y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ce_matrix(site):
    p = mx.fn("softmax({0})", r"\operatorname{softmax}\left({0}\right)", _row_softmax, mx.V(0),
              shapes=(site.shapes[0],))
    if site.attrs.get("target") is not None:          # soft targets: softmax(y) − t
        return _per_example(site, mx.sub(p, _target(site)))
    return _per_example(site, mx.sub(p, _onehot(site)))


def _hinge_matrix(site):
    margin = site.attrs.get("margin", 1.0)

    def active(y):
        Y = y[None, :] if y.ndim == 1 else y
        n = Y.shape[0]
        k = _labels(site.attrs["label"], n)
        A = ((Y - Y[np.arange(n), k][:, None] + margin) > 0).astype(float)
        A[np.arange(n), k] = 0.0                        # the true class is not a term
        A[np.arange(n), k] = -A.sum(axis=1)             # … it loses one per active term
        return A.reshape(y.shape)

    # m({0}) are the margins y_j − y_label + margin; # counts the active ones of the example
    a = mx.fn("(1[m({0}) > 0] − onehot(label)·#[m({0}) > 0])",
              r"\left(\mathrm{1}[m({0}) > 0] - \operatorname{onehot}(\mathrm{label})\,"
              r"\#[m({0}) > 0]\right)", active, mx.V(0), shapes=(site.shapes[0],))
    return _per_example(site, a)


def _bce_matrix(site):
    y, t = mx.V(0), _target(site)
    return _per_example(site, mx.div(mx.sub(y, t), mx.had(y, mx.sub(mx.Num(1.0), y))))


def _loss(name, ptype, forward, vjp, sym, label, formula, local_text, attrs_sample, *,
          check=None, branch=None, low=-2.0, high=2.0, matrix=None):
    register(Op(name, 1, forward, vjp, sym, label, formula, local_text, check=check,
                branch=branch, sample=lambda rng: (rng.uniform(low, high, 4),),
                attrs_sample=attrs_sample, matrix=matrix))
    LOSSES[ptype] = name


_loss("mse", "mse", _mse_forward, _mse_vjp, _mse_sym, "MSE", "scale·Σ({0} − t)²",
      ("2·scale·({0} − t)",), {"target": np.array([0.3, -0.2, 0.5, 0.1]), "scale": 0.5},
      matrix=_mse_matrix)
_loss("cross_entropy", "cross_entropy", _ce_forward, _ce_vjp, _ce_sym, "softmax CE",
      "−log softmax({0})[label]", ("softmax({0}) − onehot(label)",), {"label": 2},
      matrix=_ce_matrix)
_loss("hinge", "hinge", _hinge_forward, _hinge_vjp, _hinge_sym, "hinge (SVM)",
      "Σ_{{j≠label}} max(0, {0}_j − {0}_label + margin)",
      ("1[margin_j > 0]; −count at label",), {"label": 1, "margin": 1.0}, branch=_hinge_branch,
      matrix=_hinge_matrix)
_loss("bce", "bce", _bce_forward, _bce_vjp, _bce_sym, "BCE", "−Σ[t log {0} + (1 − t) log(1 − {0})]",
      ("({0} − t)/({0}(1 − {0}))",), {"target": np.array([1.0, 0.0, 1.0, 0.0])}, check=_bce_check,
      low=0.05, high=0.95, matrix=_bce_matrix)
