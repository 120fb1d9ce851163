"""The operation registry: one entry per primitive (NumPy forward, VJP, SymPy form, labels, kinks)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


# Convention at kinks (declared in the README): the derivative takes the value of the branch
# that is *not* strictly active, as PyTorch and JAX do: relu'(0) = 0, abs'(0) = 0,
# leaky_relu'(0) = alpha, a hinge term with margin exactly 0 contributes 0, and max/min give a
# tie to their first argument.
KINK_CONVENTION = ("relu'(0) = 0, leaky_relu'(0) = alpha, abs'(0) = 0, a hinge term at margin 0 "
                   "contributes 0, max/min ties go to the first argument")


@dataclass(frozen=True)
class Op:
    """One primitive.  `forward(*xs, **attrs)`, `vjp(g, out, *xs, **attrs) -> grads per input`,
    `sym(*xs, **attrs)` builds the SymPy form from object arrays of SymPy expressions."""

    name: str
    arity: int                      # -1: any number of inputs
    forward: Callable[..., np.ndarray]
    vjp: Callable[..., tuple]
    sym: Callable[..., Any]
    label: str                      # short name for tables ("σ", "W·x + b")
    formula: str                    # forward template, {0} {1} … are input names
    local_text: tuple[str, ...]     # display of the local derivative per input ({out} = output)
    syntax: str | None = None       # function name in expressions (exp, max …)
    check: Callable[..., str | None] | None = None   # domain check -> message or None
    branch: Callable[..., np.ndarray] | None = None  # kink side of every kinked input: -1/0/+1
    local: Callable[..., tuple] | None = None        # local derivative per input (default: vjp of 1)
    sample: Callable[[np.random.Generator], tuple] | None = None  # random valid inputs (tests)
    attrs_sample: dict = field(default_factory=dict)

    def local_values(self, out, *xs, **attrs) -> tuple:
        """The local derivative of the output with respect to each input, for the tables."""
        if self.local is not None:
            return self.local(out, *xs, **attrs)
        return self.vjp(np.ones_like(out), out, *xs, **attrs)


REGISTRY: dict[str, Op] = {}
ACTIVATIONS: dict[str, str] = {}   # activation name in problem files -> op name
LOSSES: dict[str, str] = {}        # loss type in problem files -> op name


def register(op: Op) -> Op:
    REGISTRY[op.name] = op
    return op


def get(name: str) -> Op:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no operation named {name!r} in the registry") from None


def fill_attrs(text: str, attrs: dict) -> str:
    """Write an op's scalar attributes into a display template: "scale·Σ(y − t)²" -> "0.5·Σ…"."""
    import re
    for key, value in attrs.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = re.sub(rf"\b{key}\b", f"{float(value):g}", text)
    return text


def expression_functions() -> dict[str, int]:
    """Function names usable in expressions and their arity."""
    return {op.syntax: op.arity for op in REGISTRY.values() if op.syntax}


def _sp():
    import sympy
    return sympy


def _elementwise(fn: Callable) -> Callable:
    """Lift a scalar SymPy function to object arrays (and plain expressions)."""
    def lifted(*xs, **attrs):
        arrays = [np.asarray(x, dtype=object) for x in xs]
        if all(a.ndim == 0 for a in arrays):
            return np.asarray(fn(*[a.item() for a in arrays], **attrs), dtype=object)
        bx = np.broadcast_arrays(*arrays)
        out = np.empty(bx[0].shape, dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = fn(*[a[idx] for a in bx], **attrs)
        return out
    return lifted


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """The adjoint of broadcasting is summing: reduce `grad` back to `shape` (bias over a batch)."""
    grad = np.asarray(grad, dtype=float)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad.reshape(shape)


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ---------------------------------------------------------------- elementwise unary ops
def _unary(name, forward, deriv, sym, label, formula, local_text, *, syntax=None, check=None,
           branch=None, low=-2.0, high=2.0, activation=None, attrs_sample=None):
    """An elementwise op; `deriv(out, x, **attrs)` is its derivative, the VJP is g * deriv."""
    def vjp(g, out, x, **attrs):
        return (g * deriv(out, x, **attrs),)

    def sample(rng):
        return (rng.uniform(low, high, size=(3,)),)

    op = register(Op(name, 1, forward, vjp, _elementwise(sym), label, formula, local_text,
                     syntax=syntax, check=check, branch=branch, sample=sample,
                     attrs_sample=attrs_sample or {}))
    if activation:
        ACTIVATIONS[activation] = name
    return op


def _sigmoid(x):
    x = _f(x)
    # numerically stable on both sides
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def _kink_side(x, at=0.0, tol=0.0):
    d = _f(x) - at
    return np.where(np.abs(d) <= tol, 0, np.sign(d)).astype(int)


_unary("linear", lambda x: _f(x).copy(), lambda out, x: np.ones_like(_f(x)), lambda x: x,
       "id", "{0}", ("1",), activation="linear")
_unary("neg", lambda x: -_f(x), lambda out, x: -np.ones_like(_f(x)), lambda x: -x,
       "−", "−{0}", ("−1",))
_unary("exp", lambda x: np.exp(_f(x)), lambda out, x: out, lambda x: _sp().exp(x),
       "exp", "exp({0})", ("exp({0})",), syntax="exp")
_unary("log", lambda x: np.log(_f(x)), lambda out, x: 1.0 / _f(x), lambda x: _sp().log(x),
       "log", "log({0})", ("1/{0}",), syntax="log", low=0.2, high=3.0,
       check=lambda x: None if np.all(_f(x) > 0) else "log needs a positive input")
_unary("sqrt", lambda x: np.sqrt(_f(x)), lambda out, x: 0.5 / out, lambda x: _sp().sqrt(x),
       "√", "sqrt({0})", ("1/(2·sqrt({0}))",), syntax="sqrt", low=0.2, high=3.0,
       check=lambda x: None if np.all(_f(x) > 0) else
       ("sqrt needs a non-negative input" if np.any(_f(x) < 0)
        else "sqrt at 0 has no finite derivative"))
_unary("abs", lambda x: np.abs(_f(x)), lambda out, x: np.sign(_f(x)), lambda x: _sp().Abs(x),
       "|·|", "abs({0})", ("sign({0})",), syntax="abs",
       branch=lambda x, tol=0.0: _kink_side(x, 0.0, tol))
_unary("sin", lambda x: np.sin(_f(x)), lambda out, x: np.cos(_f(x)), lambda x: _sp().sin(x),
       "sin", "sin({0})", ("cos({0})",), syntax="sin")
_unary("cos", lambda x: np.cos(_f(x)), lambda out, x: -np.sin(_f(x)), lambda x: _sp().cos(x),
       "cos", "cos({0})", ("−sin({0})",), syntax="cos")
_unary("tanh", lambda x: np.tanh(_f(x)), lambda out, x: 1.0 - out ** 2, lambda x: _sp().tanh(x),
       "tanh", "tanh({0})", ("1 − tanh²({0})",), syntax="tanh", activation="tanh")
_unary("sigmoid", _sigmoid, lambda out, x: out * (1.0 - out),
       lambda x: 1 / (1 + _sp().exp(-x)),
       "σ", "σ({0})", ("σ({0})(1 − σ({0}))",), syntax="sigmoid", activation="sigmoid")


def _relu_sym(x):
    sp = _sp()
    return sp.Piecewise((x, x > 0), (0, True))


_unary("relu", lambda x: np.maximum(_f(x), 0.0), lambda out, x: (_f(x) > 0).astype(float),
       _relu_sym, "relu", "relu({0})", ("1[{0} > 0]",), syntax="relu", activation="relu",
       branch=lambda x, tol=0.0: _kink_side(x, 0.0, tol))


def _leaky_sym(x, alpha=0.01):
    sp = _sp()
    return sp.Piecewise((x, x > 0), (alpha * x, True))


_unary("leaky_relu", lambda x, alpha=0.01: np.where(_f(x) > 0, _f(x), alpha * _f(x)),
       lambda out, x, alpha=0.01: np.where(_f(x) > 0, 1.0, alpha), _leaky_sym,
       "leaky relu", "leaky_relu({0})", ("1 if {0} > 0 else α",), activation="leaky_relu",
       branch=lambda x, tol=0.0, alpha=0.01: _kink_side(x, 0.0, tol),
       attrs_sample={"alpha": 0.1})
ACTIVATIONS["identity"] = "linear"


# ---------------------------------------------------------------- scalar binary ops
def _binary(name, forward, vjp, sym, label, formula, local_text, *, check=None, branch=None,
            sample=None, syntax=None):
    return register(Op(name, 2, forward, vjp, _elementwise(sym), label, formula, local_text,
                       syntax=syntax, check=check, branch=branch,
                       sample=sample or (lambda rng: (rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3)))))


_binary("add", lambda a, b: _f(a) + _f(b),
        lambda g, out, a, b: (unbroadcast(g, np.shape(a)), unbroadcast(g, np.shape(b))),
        lambda a, b: a + b, "+", "{0} + {1}", ("1", "1"))
_binary("sub", lambda a, b: _f(a) - _f(b),
        lambda g, out, a, b: (unbroadcast(g, np.shape(a)), unbroadcast(-g, np.shape(b))),
        lambda a, b: a - b, "−", "{0} − {1}", ("1", "−1"))
_binary("mul", lambda a, b: _f(a) * _f(b),
        lambda g, out, a, b: (unbroadcast(g * _f(b), np.shape(a)), unbroadcast(g * _f(a), np.shape(b))),
        lambda a, b: a * b, "×", "{0} · {1}", ("{1}", "{0}"))
_binary("div", lambda a, b: _f(a) / _f(b),
        lambda g, out, a, b: (unbroadcast(g / _f(b), np.shape(a)),
                              unbroadcast(-g * _f(a) / _f(b) ** 2, np.shape(b))),
        lambda a, b: a / b, "÷", "{0} / {1}", ("1/{1}", "−{0}/{1}²"),
        check=lambda a, b: None if np.all(_f(b) != 0) else "division by zero",
        sample=lambda rng: (rng.uniform(-2, 2, 3), rng.uniform(0.5, 2, 3) * rng.choice([-1, 1], 3)))


def _pow_forward(a, b):
    return np.power(_f(a), _f(b))


def _pow_vjp(g, out, a, b):
    a, b = _f(a), _f(b)
    da = g * b * np.power(a, b - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # d/db a^b = a^b log a; 0 where a == 0 (and b > 0); undefined (nan) for a < 0
        db = np.where(a > 0, g * out * np.log(np.where(a > 0, a, 1.0)), np.where(a == 0, 0.0, np.nan))
    return unbroadcast(da, np.shape(a)), unbroadcast(db, np.shape(b))


def _pow_check(a, b):
    a, b = _f(a), _f(b)
    if np.any((a < 0) & (b != np.round(b))):
        return "a negative number to a non-integer power"
    if np.any((a == 0) & (b < 1)):
        return "0 to a power below 1 (division by zero or no finite derivative)"
    return None


_binary("pow", _pow_forward, _pow_vjp, lambda a, b: a ** b, "^", "{0}^{1}",
        ("{1}·{0}^({1}−1)", "{0}^{1}·log({0})"), check=_pow_check,
        sample=lambda rng: (rng.uniform(0.5, 2, 3), rng.uniform(-2, 2, 3)))


def _maxmin(name, pick_first, sym_rel, label):
    def forward(a, b):
        a, b = np.broadcast_arrays(_f(a), _f(b))
        return np.where(pick_first(a, b), a, b)

    def vjp(g, out, a, b):
        first = pick_first(*np.broadcast_arrays(_f(a), _f(b)))
        return (unbroadcast(np.where(first, g, 0.0), np.shape(a)),
                unbroadcast(np.where(first, 0.0, g), np.shape(b)))

    def sym(a, b):
        sp = _sp()
        return sp.Piecewise((a, sym_rel(a, b)), (b, True))

    return _binary(name, forward, vjp, sym, label, name + "({0}, {1})",
                   (f"1 if {{0}} is the {name} else 0", f"1 if {{1}} is the {name} else 0"),
                   syntax=name, branch=lambda a, b, tol=0.0: _kink_side(_f(a) - _f(b), 0.0, tol))


_maxmin("max", lambda a, b: a >= b, lambda a, b: a >= b, "max")
_maxmin("min", lambda a, b: a <= b, lambda a, b: a <= b, "min")


# ---------------------------------------------------------------- layers
def _affine_forward(W, x, b):
    W, x, b = _f(W), _f(x), _f(b)
    return W @ x + b if x.ndim == 1 else x @ W.T + b


def _affine_vjp(g, out, W, x, b):
    W, x, g = _f(W), _f(x), _f(g)
    if x.ndim == 1:
        return np.outer(g, x), W.T @ g, g.copy()
    return g.T @ x, g @ W, unbroadcast(g, np.shape(b))


def _affine_local(out, W, x, b):
    # ∂z_i/∂W_ij = x_j (shown as xᵀ), ∂z/∂x = W, ∂z/∂b = 1
    return _f(x), _f(W), np.ones_like(_f(b))


def _affine_sym(W, x, b):
    W, x, b = (np.asarray(v, dtype=object) for v in (W, x, b))
    return W.dot(x) + b if x.ndim == 1 else x.dot(W.T) + b


register(Op("affine", 3, _affine_forward, _affine_vjp, _affine_sym, "W·x + b", "{0}·{1} + {2}",
            ("{1}ᵀ", "{0}", "1"), local=_affine_local,
            sample=lambda rng: (rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (4, 3)),
                                rng.uniform(-1, 1, 2))))


# Rows of at most this many classes are reduced column by column: NumPy reduces a row of
# fewer than 8 numbers with a plain left-to-right loop, so the results are bit-identical, and a
# loop over 3 columns of a 300-row batch is about twice as fast as reducing 300 short rows.
_FEW_COLUMNS = 7


def _row_max(Y):
    if Y.ndim == 2 and 1 < Y.shape[1] <= _FEW_COLUMNS:
        m = Y[:, 0].copy()
        for j in range(1, Y.shape[1]):
            np.maximum(m, Y[:, j], out=m)
        return m[:, None]
    return Y.max(axis=-1, keepdims=True)


def _row_sum(E):
    if E.ndim == 2 and 1 < E.shape[1] <= _FEW_COLUMNS:
        s = E[:, 0].copy()
        for j in range(1, E.shape[1]):
            s += E[:, j]
        return s[:, None]
    return E.sum(axis=-1, keepdims=True)


def _softmax(z):
    z = _f(z)
    if z.ndim == 1:     # one vector: the same arithmetic without keepdims (faster)
        e = np.exp(z - z.max())
        return e / e.sum()
    e = np.exp(z - _row_max(z))
    return e / _row_sum(e)


def _softmax_vjp(g, out, z):
    return (out * (g - (g * out).sum(axis=-1, keepdims=True)),)


def _softmax_local(out, z):
    if out.ndim == 1:     # the Jacobian diag(s) − s sᵀ
        return (np.diag(out) - np.outer(out, out),)
    return (out * (1.0 - out),)   # batch: only the diagonal is shown


def _softmax_sym(z):
    sp = _sp()
    z = np.asarray(z, dtype=object)
    e = np.vectorize(sp.exp, otypes=[object])(z)
    return e / e.sum(axis=-1, keepdims=True)


register(Op("softmax", 1, _softmax, _softmax_vjp, _softmax_sym, "softmax", "softmax({0})",
            ("diag(s) − s sᵀ",), local=_softmax_local,
            sample=lambda rng: (rng.uniform(-2, 2, 4),)))
ACTIVATIONS["softmax"] = "softmax"


def _l2_forward(*Ws, lam):
    return np.asarray(lam * sum(float(np.sum(_f(W) ** 2)) for W in Ws))


def _l2_vjp(g, out, *Ws, lam):
    return tuple(2.0 * lam * _f(g) * _f(W) for W in Ws)


def _l2_sym(*Ws, lam):
    return np.asarray(lam * sum(sum(w ** 2 for w in np.asarray(W, dtype=object).ravel()) for W in Ws),
                      dtype=object)


register(Op("l2", -1, _l2_forward, _l2_vjp, _l2_sym, "λ·ΣW²", "λ·Σ‖W‖²", ("2λ{i}",),
            sample=lambda rng: (rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (1, 2))),
            attrs_sample={"lam": 0.1}))


# ---------------------------------------------------------------- losses (mean over a batch)
def _rows(y):
    y = _f(y)
    return (y[None, :], 1) if y.ndim == 1 else (y, y.shape[0])


def _mse_forward(y, target, scale=0.5):
    y = _f(y)
    if y.ndim == 1:     # one example: the same arithmetic without the batch axis (faster)
        t = target if np.shape(target) == y.shape else np.reshape(target, y.shape)
        return np.asarray(scale * ((y - t) ** 2).sum())      # / n with n = 1: exact
    Y, n = _rows(y)
    return np.asarray(scale * np.sum((Y - np.reshape(target, Y.shape)) ** 2) / n)


def _mse_vjp(g, out, y, target, scale=0.5):
    y = _f(y)
    n = 1 if y.ndim == 1 else y.shape[0]
    return (g * 2.0 * scale * (y - np.reshape(target, y.shape)) / n,)


def _mse_sym(y, target, scale=0.5):
    y = np.asarray(y, dtype=object)
    n = 1 if y.ndim == 1 else y.shape[0]
    t = np.reshape(np.asarray(target, dtype=object), y.shape)
    return np.asarray(scale * sum(((y - t) ** 2).ravel()) / n, dtype=object)


def _labels(label, n):
    return np.reshape(np.asarray(label, dtype=int), (n,))


def _ce_forward(y, label):
    y = _f(y)
    if y.ndim == 1:     # one example: the same arithmetic without the batch axis (faster)
        k = np.asarray(label, dtype=int).reshape(1)[0]
        m = y.max()
        return np.asarray(m + np.log(np.exp(y - m).sum()) - y[k])
    Y, n = _rows(y)
    k = _labels(label, n)
    m = _row_max(Y)
    logz = (m + np.log(_row_sum(np.exp(Y - m))))[:, 0]
    return np.asarray(np.sum(logz - Y[np.arange(n), k]) / n)


def _ce_vjp(g, out, y, label):
    y = _f(y)
    Y, n = _rows(y)
    p = _softmax(Y)
    p[np.arange(n), _labels(label, n)] -= 1.0
    return (g * p.reshape(y.shape) / n,)


def _ce_sym(y, label):
    sp = _sp()
    Y = np.asarray(y, dtype=object)
    Y = Y[None, :] if Y.ndim == 1 else Y
    n = Y.shape[0]
    k = _labels(label, n)
    total = sum(sp.log(sum(sp.exp(v) for v in Y[i])) - Y[i, k[i]] for i in range(n))
    return np.asarray(total / n, dtype=object)


def _hinge_margins(y, label, margin):
    Y, n = _rows(y)
    k = _labels(label, n)
    M = Y - Y[np.arange(n), k][:, None] + margin
    M[np.arange(n), k] = -np.inf   # the true class is not a term
    return M, k, n


def _hinge_forward(y, label, margin=1.0):
    M, _, n = _hinge_margins(y, label, margin)
    return np.asarray(np.sum(np.maximum(M, 0.0)) / n)


def _hinge_vjp(g, out, y, label, margin=1.0):
    M, k, n = _hinge_margins(y, label, margin)
    active = (M > 0).astype(float)          # a term at margin exactly 0 contributes 0
    active[np.arange(n), k] = -active.sum(axis=1)
    return (g * active.reshape(np.shape(y)) / n,)


def _hinge_sym(y, label, margin=1.0):
    sp = _sp()
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
    return np.asarray(sum(terms) / n, dtype=object)


def _hinge_branch(y, label, margin=1.0, tol=0.0):
    M, k, n = _hinge_margins(y, label, margin)
    M[np.arange(n), k] = -1.0    # never a kink
    return _kink_side(M, 0.0, tol)


def _bce_check(y, target=None):   # called with the inputs only (the target is an attr)
    y = _f(y)
    return None if np.all((y > 0) & (y < 1)) else "bce needs outputs strictly between 0 and 1"


def _bce_forward(y, target):
    Y, n = _rows(y)
    T = np.reshape(target, Y.shape)
    return np.asarray(-np.sum(T * np.log(Y) + (1 - T) * np.log(1 - Y)) / n)


def _bce_vjp(g, out, y, target):
    y = _f(y)
    n = 1 if y.ndim == 1 else y.shape[0]
    t = np.reshape(target, y.shape)
    return (g * (y - t) / (y * (1 - y)) / n,)


def _bce_sym(y, target):
    sp = _sp()
    y = np.asarray(y, dtype=object)
    n = 1 if y.ndim == 1 else y.shape[0]
    t = np.reshape(np.asarray(target, dtype=object), y.shape)
    return np.asarray(-sum(ti * sp.log(yi) + (1 - ti) * sp.log(1 - yi)
                           for yi, ti in zip(y.ravel(), t.ravel())) / n, dtype=object)


def _loss(name, ptype, forward, vjp, sym, label, formula, local_text, attrs_sample, *,
          check=None, branch=None, low=-2.0, high=2.0):
    register(Op(name, 1, forward, vjp, sym, label, formula, local_text, check=check,
                branch=branch, sample=lambda rng: (rng.uniform(low, high, 4),),
                attrs_sample=attrs_sample))
    LOSSES[ptype] = name


_loss("mse", "mse", _mse_forward, _mse_vjp, _mse_sym, "MSE", "scale·Σ({0} − t)²",
      ("2·scale·({0} − t)",), {"target": np.array([0.3, -0.2, 0.5, 0.1]), "scale": 0.5})
_loss("cross_entropy", "cross_entropy", _ce_forward, _ce_vjp, _ce_sym, "softmax CE",
      "−log softmax({0})[label]", ("softmax({0}) − onehot(label)",), {"label": 2})
_loss("hinge", "hinge", _hinge_forward, _hinge_vjp, _hinge_sym, "hinge (SVM)",
      "Σ_{{j≠label}} max(0, {0}_j − {0}_label + margin)",
      ("1[margin_j > 0]; −count at label",), {"label": 1, "margin": 1.0}, branch=_hinge_branch)
_loss("bce", "bce", _bce_forward, _bce_vjp, _bce_sym, "BCE", "−Σ[t log {0} + (1 − t) log(1 − {0})]",
      ("({0} − t)/({0}(1 − {0}))",), {"target": np.array([1.0, 0.0, 1.0, 0.0])}, check=_bce_check,
      low=0.05, high=0.95)


# ---------------------------------------------------------------- convolution, pooling, recurrence
# Shapes.  A conv kernel W is (out_channels, in_channels, *k), or a plain k-vector (1-D) /
# kh×kw matrix (2-D) for one channel in and out.  An input x is (C, *S), or plain (*S) for one
# channel, with a leading batch axis when the attr batch=True.  The output keeps the caller's
# layout: (O, *So), or plain (*So) for a plain kernel on a plain input.  Pooling acts on the last
# one or two axes whatever comes before them.  Everything is vectorized with sliding windows (an
# im2col view); the only Python loops run over the kernel offsets, never over pixels.
from numpy.lib.stride_tricks import as_strided as _as_strided  # noqa: E402  (numpy)

KINK_CONVENTION += "; a max pool sends the gradient to the first maximum of its window (row-major)"


def _conv_canon(W, x, b, nd: int, batch: bool):
    """(W, x, b) -> W (O, C, *k), x (N, C, *S), b (O,) and whether the kernel was plain.

    Pure reshapes, so it serves float and SymPy object arrays alike."""
    plain = W.ndim == nd
    Wc = W.reshape((1, 1) + W.shape) if plain else W
    xc = x if batch else x[None]
    if xc.ndim == nd + 1:                  # no channel axis: one channel
        xc = xc[:, None]
    return Wc, xc, b.reshape(-1), plain


def _conv_uncanon(out, x_ndim: int, nd: int, batch: bool, plain: bool):
    """(N, O, *So) -> the caller's layout (drop the axes the caller did not write)."""
    if plain and x_ndim - int(batch) == nd:
        out = out[:, 0]
    return out if batch else out[0]


def _flip(W, nd):
    return W[(Ellipsis,) + (slice(None, None, -1),) * nd]


def _conv_windows(xc, K, stride, padding, nd):
    """Every input patch: (N, C, *So, *k), a strided view of the zero-padded input (no copy)."""
    if padding:
        xc = np.pad(xc, [(0, 0), (0, 0)] + [(padding, padding)] * nd)
    xc = np.ascontiguousarray(xc)
    st = xc.strides
    So = tuple((s - k) // stride + 1 for s, k in zip(xc.shape[2:], K))
    win = _as_strided(xc, xc.shape[:2] + So + tuple(K),
                      st[:2] + tuple(s * stride for s in st[2:]) + st[2:], writeable=False)
    return win, xc.shape


def _im2col(win, nd):
    """(N, C, *So, *k) -> the im2col matrix (N·P, C·k…): one row per output position."""
    N, C, So, K = win.shape[0], win.shape[1], win.shape[2:2 + nd], win.shape[2 + nd:]
    order = (0,) + tuple(range(2, 2 + nd)) + (1,) + tuple(range(2 + nd, 2 + 2 * nd))
    return win.transpose(order).reshape(N * int(np.prod(So)), C * int(np.prod(K)))


def _conv_forward(W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    W, x, b = _f(W), _f(x), _f(b)
    Wc, xc, bc, plain = _conv_canon(W, x, b, nd, batch)
    Wk = _flip(Wc, nd) if flip else Wc     # flip: the mathematical convolution
    win, _ = _conv_windows(xc, Wk.shape[2:], stride, padding, nd)
    # out[n, o, p] = Σ_c Σ_k W[o, c, k] · x[n, c, p·stride + k]: one matrix product (im2col)
    out = _im2col(win, nd) @ Wk.reshape(Wk.shape[0], -1).T + bc          # (N·P, O)
    out = np.moveaxis(out.reshape(win.shape[:1] + win.shape[2:2 + nd] + (-1,)), -1, 1)
    return _conv_uncanon(out, x.ndim, nd, batch, plain)


def _conv_vjp(g, out, W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    W, x, b = _f(W), _f(x), _f(b)
    Wc, xc, bc, plain = _conv_canon(W, x, b, nd, batch)
    Wk = _flip(Wc, nd) if flip else Wc
    K = Wk.shape[2:]
    win, padded = _conv_windows(xc, K, stride, padding, nd)
    N, C, O, So = xc.shape[0], xc.shape[1], Wk.shape[0], win.shape[2:2 + nd]
    # the upstream gradient as an (N·P, O) matrix, rows in the order of the im2col rows
    Gm = np.moveaxis(_f(g).reshape((N, O) + So), 1, -1).reshape(-1, O)
    # ∂L/∂W: the correlation of the input with the upstream gradient
    dWk = (Gm.T @ _im2col(win, nd)).reshape(Wk.shape)
    dW = _flip(dWk, nd) if flip else dWk
    db = Gm.sum(axis=0)
    # ∂L/∂x: every output scatters upstream × kernel back onto its patch (col2im); for stride 1
    # this is the full convolution of the upstream gradient with the flipped kernel
    cols = (Gm @ Wk.reshape(O, -1)).reshape((N,) + So + (C,) + K)
    cols = cols.transpose(tuple(range(2 + nd, 2 + 2 * nd)) + (0, 1 + nd) + tuple(range(1, 1 + nd)))
    dxp = np.zeros(padded)                                             # cols: (*k, N, C, *So)
    for off in np.ndindex(*K):
        where = (slice(None), slice(None)) + tuple(
            slice(o, o + stride * (n - 1) + 1, stride) for o, n in zip(off, So))
        dxp[where] += cols[off]
    dx = dxp[(slice(None), slice(None)) + tuple(slice(padding, padding + s) for s in xc.shape[2:])]
    return (dW.reshape(W.shape), dx.reshape(x.shape), db.reshape(b.shape))


def _conv_local(out, W, x, b, **attrs):
    # as for W·x + b: each output entry uses its input patch (∂z/∂W) and the kernel (∂z/∂x)
    return _f(x), _f(W), np.ones_like(_f(b))


def _conv_sym(W, x, b, *, nd, stride=1, padding=0, flip=False, batch=False):
    """The definition, index by index: z[n,o,p] = b[o] + Σ_c Σ_k W[o,c,k] x[n,c,p·s+k−padding]."""
    W, x, b = (np.asarray(v, dtype=object) for v in (W, x, b))
    Wc, xc, bc, plain = _conv_canon(W, x, b, nd, batch)
    N, C, S = xc.shape[0], xc.shape[1], xc.shape[2:]
    O, K = Wc.shape[0], Wc.shape[2:]
    So = tuple((s + 2 * padding - k) // stride + 1 for s, k in zip(S, K))
    out = np.empty((N, O) + So, dtype=object)
    for n, o in np.ndindex(N, O):
        for p in np.ndindex(*So):
            total = bc[o]
            for c in range(C):
                for k in np.ndindex(*K):
                    src = tuple(pi * stride + ki - padding for pi, ki in zip(p, k))
                    if all(0 <= si < s for si, s in zip(src, S)):     # outside: zero padding
                        wk = tuple(kk - 1 - ki for kk, ki in zip(K, k)) if flip else k
                        total = total + Wc[(o, c) + wk] * xc[(n, c) + src]
            out[(n, o) + p] = total
    return _conv_uncanon(out, x.ndim, nd, batch, plain)


def _conv_op(name, nd, sample, attrs_sample):
    def forward(W, x, b, **a):
        return _conv_forward(W, x, b, nd=nd, **a)

    def vjp(g, out, W, x, b, **a):
        return _conv_vjp(g, out, W, x, b, nd=nd, **a)

    def sym(W, x, b, **a):
        return _conv_sym(W, x, b, nd=nd, **a)

    return register(Op(name, 3, forward, vjp, sym, f"W ⋆ x + b ({name})", "{0} ⋆ {1} + {2}",
                       ("the input patch of each output: ∂L/∂W = {1} ⋆ upstream (correlation)",
                        "{0}: ∂L/∂x = upstream ∗ rot180({0}) (full convolution)",
                        "1: ∂L/∂b = Σ upstream"),
                       local=_conv_local, sample=sample, attrs_sample=attrs_sample))


_conv_op("conv2d", 2,
         lambda rng: (rng.uniform(-1, 1, (2, 2, 2, 2)), rng.uniform(-1, 1, (2, 4, 4)),
                      rng.uniform(-1, 1, 2)),
         {"stride": 2, "padding": 1, "flip": True, "batch": False})
_conv_op("conv1d", 1,
         lambda rng: (rng.uniform(-1, 1, (2, 2, 3)), rng.uniform(-1, 1, (2, 6)),
                      rng.uniform(-1, 1, 2)),
         {"stride": 2, "padding": 1, "flip": True, "batch": False})


# pooling: windows of `size` (per axis) every `stride` (default: size) over the last nd axes.
# Each window offset (row-major) is one strided view of x: the loops run over the size**nd
# offsets of a window, never over the windows themselves.
def _pool_offsets(shape, nd, size, stride) -> list:
    """For every window offset, the index of the entries at that offset of every window."""
    s = stride or size
    So = tuple((n - size) // s + 1 for n in shape[len(shape) - nd:])
    return [(Ellipsis,) + tuple(slice(o, o + s * (n - 1) + 1, s) for o, n in zip(off, So))
            for off in np.ndindex(*(size,) * nd)]


def _first_argmax(x, where):
    """The max of every window and the offset of its first maximum (row-major: the tie rule)."""
    best = x[where[0]].copy()
    arg = np.zeros(best.shape, dtype=int)
    for j, w in enumerate(where[1:], 1):
        v = x[w]
        better = v > best                     # strict: a tie keeps the earlier maximum
        best = np.where(better, v, best)
        arg[better] = j
    return best, arg


def _maxpool_forward(x, *, nd, size=2, stride=None):
    x = _f(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    out = x[where[0]].copy()
    for w in where[1:]:
        np.maximum(out, x[w], out=out)
    return out


def _maxpool_vjp(g, out, x, *, nd, size=2, stride=None):
    x, g = _f(x), _f(g)
    where = _pool_offsets(x.shape, nd, size, stride)
    _, arg = _first_argmax(x, where)
    dx = np.zeros(x.shape)
    for j, w in enumerate(where):             # += : overlapping windows may share a winner
        dx[w] += np.where(arg == j, g, 0.0)
    return (dx,)


def _maxpool_branch(x, tol=0.0, *, nd, size=2, stride=None):
    """Per input entry: +1 wins a window outright, −1 loses, 0 is tied (within tol) for a max."""
    x = _f(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    top, arg = _first_argmax(x, where)
    second = np.full(top.shape, -np.inf)
    for j, w in enumerate(where):
        second = np.maximum(second, np.where(arg == j, -np.inf, x[w]))
    tied = (top - second) <= tol
    kink, wins = np.zeros(x.shape, dtype=bool), np.zeros(x.shape, dtype=bool)
    for j, w in enumerate(where):
        kink[w] |= tied & (x[w] >= top - tol)
        wins[w] |= arg == j
    return np.where(kink, 0, np.where(wins, 1, -1)).astype(int)


def _avgpool_forward(x, *, nd, size=2, stride=None):
    x = _f(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    out = x[where[0]].copy()
    for w in where[1:]:
        out += x[w]
    return out / len(where)


def _avgpool_vjp(g, out, x, *, nd, size=2, stride=None):
    x = _f(x)
    where = _pool_offsets(x.shape, nd, size, stride)
    share = _f(g) / len(where)
    dx = np.zeros(x.shape)
    for w in where:
        dx[w] += share
    return (dx,)


def _first_max_sym(vals):
    """max of the values as a Piecewise whose pieces pick the *first* maximum (the tie rule)."""
    sp = _sp()
    if len(vals) == 1:
        return vals[0]
    pieces = []
    for j, v in enumerate(vals[:-1]):
        conds = [v > u for u in vals[:j]] + [v >= u for u in vals[j + 1:]]
        pieces.append((v, sp.And(*conds)))
    pieces.append((vals[-1], True))
    return sp.Piecewise(*pieces)


def _pool_sym(x, *, nd, size, stride, reduce):
    """Index by index: out[…, p] = reduce(x[…, p·stride + k] for k in the window)."""
    x = np.asarray(x, dtype=object)
    s = stride or size
    lead, S = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    So = tuple((n - size) // s + 1 for n in S)
    out = np.empty(lead + So, dtype=object)
    for li in np.ndindex(*lead):
        for p in np.ndindex(*So):
            vals = [x[li + tuple(pi * s + ki for pi, ki in zip(p, k))]
                    for k in np.ndindex(*(size,) * nd)]
            out[li + p] = reduce(vals)
    return out


def _pool_op(name, nd, kind, sample, attrs_sample):
    if kind == "max":
        fwd, vjp, reduce = _maxpool_forward, _maxpool_vjp, _first_max_sym
        text = ("1 at the first maximum of each window, 0 elsewhere (the gradient is routed there)",)
        label, formula = f"max pool ({name})", "max over each window of {0}"
    else:
        fwd, vjp = _avgpool_forward, _avgpool_vjp
        text = (f"1/size{'²' if nd == 2 else ''} for every entry of its window",)
        label, formula = f"average pool ({name})", "mean over each window of {0}"

        def reduce(vals):
            return sum(vals[1:], vals[0]) / len(vals)

    def branch(x, tol=0.0, **a):
        return _maxpool_branch(x, tol, nd=nd, **a)

    return register(Op(name, 1, lambda x, **a: fwd(x, nd=nd, **a),
                       lambda g, out, x, **a: vjp(g, out, x, nd=nd, **a),
                       lambda x, size=2, stride=None: _pool_sym(x, nd=nd, size=size, stride=stride,
                                                                reduce=reduce),
                       label, formula, text, branch=branch if kind == "max" else None,
                       sample=sample, attrs_sample=attrs_sample))


_pool_op("maxpool2d", 2, "max", lambda rng: (rng.uniform(-2, 2, (2, 4, 4)),),
         {"size": 2, "stride": 1})
_pool_op("avgpool2d", 2, "avg", lambda rng: (rng.uniform(-2, 2, (2, 4, 4)),),
         {"size": 2, "stride": 2})
_pool_op("maxpool1d", 1, "max", lambda rng: (rng.uniform(-2, 2, (2, 7)),),
         {"size": 3, "stride": 2})
_pool_op("avgpool1d", 1, "avg", lambda rng: (rng.uniform(-2, 2, (2, 6)),),
         {"size": 2, "stride": 1})


def _flatten_shape(shape, batch):
    return (shape[0], -1) if batch else (-1,)


register(Op("flatten", 1,
            lambda x, batch=False: _f(x).reshape(_flatten_shape(np.shape(x), batch)),
            lambda g, out, x, batch=False: (_f(g).reshape(np.shape(x)),),
            lambda x, batch=False: np.asarray(x, dtype=object).reshape(
                _flatten_shape(np.shape(x), batch)),
            "flatten", "flatten({0})", ("1 (a reshape: each gradient goes back to its entry)",),
            sample=lambda rng: (rng.uniform(-2, 2, (2, 3, 2)),), attrs_sample={"batch": False}))


# vanilla recurrent layer, one op per time step:  h_t = act(z_t),  z_t = Wxh x_t + Whh h_(t−1) + b
# (x_t is row t of the T×D input x, h_0 = h0).  Each step is its own graph node, so
# backpropagation through time is ordinary backprop over the unrolled graph: the backward table
# has one row per time step, the gradients reaching h_t from step t+1 and from the layers above
# add up, and SymPy sees one small form per step (no T-fold nested expression).
def _rnn_act(activation, alpha):
    return REGISTRY[activation], ({"alpha": alpha} if activation == "leaky_relu" else {})


def _rnn_x(x, t, batch):
    return x[:, t] if batch else x[t]


def _rnn_z(Wxh, Whh, b, x, h, t, batch):
    # row form: works for one example (vectors) and for a batch (rows are examples)
    return _rnn_x(x, t, batch) @ Wxh.T + h @ Whh.T + b


def _rnn_step_forward(Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    act, a = _rnn_act(activation, alpha)
    return act.forward(_rnn_z(_f(Wxh), _f(Whh), _f(b), _f(x), _f(h), step - 1, batch), **a)


def _rnn_step_vjp(g, out, Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    Wxh, Whh, b, x, h = _f(Wxh), _f(Whh), _f(b), _f(x), _f(h)
    act, a = _rnn_act(activation, alpha)
    t = step - 1                                        # step is 1-based
    z = _rnn_z(Wxh, Whh, b, x, h, t, batch)
    dz = _f(act.vjp(_f(g), _f(out), z, **a)[0])        # δ_t = act′(z_t) ⊙ ∂L/∂h_t
    xt = _rnn_x(x, t, batch)
    hb = np.broadcast_to(h, dz.shape)                   # h0 is shared by a batch
    if dz.ndim == 1:
        dWxh, dWhh = np.outer(dz, xt), np.outer(dz, hb)  # δ_t x_tᵀ, δ_t h_(t−1)ᵀ
    else:
        dWxh, dWhh = dz.T @ xt, dz.T @ hb
    dx = np.zeros(x.shape)
    dx[(slice(None), t) if batch else t] = dz @ Wxh     # only x_t feeds this step
    return (dWxh, dWhh, unbroadcast(dz, b.shape), dx, unbroadcast(dz @ Whh, h.shape))


def _rnn_step_local(out, Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    # ∂h_t/∂Wxh_ij = act′(z_i) x_j, ∂h_t/∂Whh_ij = act′(z_i) h_(t−1),j,
    # ∂h_t/∂b = act′(z_t),
    # ∂h_t/∂x_t = diag(act′(z_t)) Wxh, ∂h_t/∂h_(t−1) = diag(act′(z_t)) Whh
    Wxh, Whh, b, x, h = _f(Wxh), _f(Whh), _f(b), _f(x), _f(h)
    act, a = _rnn_act(activation, alpha)
    t = step - 1                                        # step is 1-based
    z = _rnn_z(Wxh, Whh, b, x, h, t, batch)
    d = _f(act.vjp(np.ones_like(z), _f(out), z, **a)[0])
    col = d[..., :, None]
    return (col * _rnn_x(x, t, batch)[..., None, :],
            col * np.broadcast_to(h, d.shape)[..., None, :], d, col * Wxh, col * Whh)


def _rnn_step_branch(Wxh, Whh, b, x, h, tol=0.0, *, step, activation="tanh", alpha=0.01,
                     batch=False):
    """Kink side of every entry of z_t (relu, leaky_relu); +1 everywhere for smooth ones."""
    z = _rnn_z(_f(Wxh), _f(Whh), _f(b), _f(x), _f(h), step - 1, batch)
    act = REGISTRY[activation]
    return act.branch(z, tol=tol) if act.branch is not None else np.ones(z.shape, dtype=int)


def _rnn_step_sym(Wxh, Whh, b, x, h, *, step, activation="tanh", alpha=0.01, batch=False):
    act, a = _rnn_act(activation, alpha)
    Wxh, Whh, b, x, h = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, x, h))
    xt = x[:, step - 1] if batch else x[step - 1]
    z = xt.dot(Wxh.T) + h.dot(Whh.T) + b
    return np.asarray(act.sym(z, **a), dtype=object)


register(Op("rnn_step", 5, _rnn_step_forward, _rnn_step_vjp, _rnn_step_sym, "RNN step",
            "act({0}·{3}_t + {1}·{4} + {2})",
            ("act′(z_t)·x_tᵀ", "act′(z_t)·h_(t−1)ᵀ", "act′(z_t)",
             "diag(act′(z_t))·{0} (row t only)", "diag(act′(z_t))·{1}"),
            local=_rnn_step_local, branch=_rnn_step_branch,
            sample=lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 3)),
                                rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 2)),
                                rng.uniform(-1, 1, 3)),
            attrs_sample={"step": 3, "activation": "tanh", "batch": False}))


def _stack_vjp(g, out, *hs):
    g = _f(g)
    return tuple(g[..., k, :] for k in range(len(hs)))


# every h_t (or z_t) as one T×H array, rows in time order (batch: N×T×H)
register(Op("stack_steps", -1, lambda *hs: np.stack([_f(h) for h in hs], axis=-2), _stack_vjp,
            lambda *hs: np.stack([np.asarray(h, dtype=object) for h in hs], axis=-2),
            "stack", "[{0}; …]", ("1 for its own row",),
            sample=lambda rng: (rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3),
                                rng.uniform(-2, 2, 3))))


def _rnn_pre_parts(h0, hs):
    """h_(t−1) for every step: h0, then every state but the last (N×T×H, batch first)."""
    lead = np.broadcast_to(h0, hs.shape[:-2] + (1, hs.shape[-1]))
    return np.concatenate([lead, hs[..., :-1, :]], axis=-2)


def _rnn_pre_forward(Wxh, Whh, b, x, h0, hs):
    Wxh, Whh, b, x, h0, hs = (_f(v) for v in (Wxh, Whh, b, x, h0, hs))
    return x @ Wxh.T + _rnn_pre_parts(h0, hs) @ Whh.T + b


def _rnn_pre_vjp(g, out, Wxh, Whh, b, x, h0, hs):
    Wxh, Whh, b, x, h0, hs = (_f(v) for v in (Wxh, Whh, b, x, h0, hs))
    g = _f(g)
    prev = _rnn_pre_parts(h0, hs)
    H = g.shape[-1]
    flat = g.reshape(-1, H)
    dprev = g @ Whh
    dhs = np.zeros(hs.shape)
    dhs[..., :-1, :] = dprev[..., 1:, :]
    return (flat.T @ x.reshape(-1, x.shape[-1]), flat.T @ prev.reshape(-1, H),
            unbroadcast(flat, b.shape), g @ Wxh, unbroadcast(dprev[..., 0, :], h0.shape), dhs)


def _rnn_pre_sym(Wxh, Whh, b, x, h0, hs):
    Wxh, Whh, b, x, h0, hs = (np.asarray(v, dtype=object) for v in (Wxh, Whh, b, x, h0, hs))
    lead = np.empty(hs.shape[:-2] + (1, hs.shape[-1]), dtype=object)
    lead[...] = h0
    prev = np.concatenate([lead, hs[..., :-1, :]], axis=-2)
    return x.dot(Wxh.T) + prev.dot(Whh.T) + b


# every pre-activation z_t = Wxh x_t + Whh h_(t−1) + b at once, from the states (for the z{i}
# table entry: it reads the steps' results, the steps themselves carry the gradient)
register(Op("rnn_pre", 6, _rnn_pre_forward, _rnn_pre_vjp, _rnn_pre_sym, "Wxh·x_t + Whh·h_(t−1) + b",
            "{0}·{3}_t + {1}·h_(t−1) + {2}",
            ("x_tᵀ", "h_(t−1)ᵀ", "1", "{0}", "{1} (first step)", "{1} (next step)"),
            sample=lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 3)),
                                rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 2)),
                                rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 3)))))
