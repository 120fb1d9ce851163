"""Elementwise ops: unary functions and activations, scalar binary arithmetic, max and min."""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.arrays import as_float, kink_side, lift_elementwise, sympy_module, unbroadcast
from gradcalc.ops.registry import ACTIVATIONS, Op, register

G, X, OUT = mx.V("g"), mx.V(0), mx.V("out")


def _f(name: str, latex: str, f):
    """An elementwise function of one term, printed name(…)."""
    return lambda t: mx.fn(name + "({0})", latex + r"\left({0}\right)", f, t)


def _ind(text: str, latex: str, f):
    """An indicator 1[… > 0] of one term."""
    return lambda t: mx.fn("1[{0} " + text + "]", r"\mathrm{1}[{0} " + latex + "]",
                           lambda a: f(a).astype(float), t)


_square = lambda t: mx.fn("{0}²", "{0}^{2}", np.square, t)     # noqa: E731
_cos, _sin = _f("cos", r"\cos", np.cos), _f("sin", r"\sin", np.sin)
_sign = _f("sign", r"\operatorname{sign}", np.sign)
_pos = _ind("> 0", "> 0", lambda a: a > 0)


# ---------------------------------------------------------------- elementwise unary ops
def _unary(name, forward, deriv, sym, label, formula, local_text, *, syntax=None, check=None,
           branch=None, low=-2.0, high=2.0, activation=None, attrs_sample=None, form=None,
           vjp=None, routes=False):
    """An elementwise op; `deriv(out, x, **attrs)` is its derivative, the VJP is g * deriv
    unless `vjp` gives the same product in fewer passes; the VJP takes an optional `into=`, a
    float64 array of x's shape that receives the product (it may be g itself, when the caller
    owns g: the training fast path reuses its buffers so);
    `form(attrs)` its matrix-form rule, δ ⊙ f′ written with δ = G, the input X and the output OUT."""
    if vjp is None:
        def vjp(g, out, x, *, into=None, **attrs):
            d = deriv(out, x, **attrs)
            return (g * d,) if into is None else (np.multiply(g, d, out=into),)

    def sample(rng):
        return (rng.uniform(low, high, size=(3,)),)

    op = register(Op(name, 1, forward, vjp, lift_elementwise(sym), label, formula, local_text,
                     syntax=syntax, check=check, branch=branch, sample=sample,
                     attrs_sample=attrs_sample or {},
                     matrix=lambda site: (form(site.attrs),), routes=routes))
    if activation:
        ACTIVATIONS[activation] = name
    return op


def _sigmoid(x):
    x = as_float(x)
    # numerically stable on both sides
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


_unary("linear", lambda x: as_float(x).copy(), lambda out, x: np.ones_like(as_float(x)), lambda x: x,
       "id", "{0}", ("1",), activation="linear", form=lambda a: G, routes=True)
_unary("neg", lambda x: -as_float(x), lambda out, x: -np.ones_like(as_float(x)), lambda x: -x,
       "−", "−{0}", ("−1",), form=lambda a: mx.neg(G))
_unary("exp", lambda x: np.exp(as_float(x)), lambda out, x: out, lambda x: sympy_module().exp(x),
       "exp", "exp({0})", ("exp({0})",), syntax="exp", form=lambda a: mx.had(G, OUT))
_unary("log", lambda x: np.log(as_float(x)), lambda out, x: 1.0 / as_float(x),
       lambda x: sympy_module().log(x),
       "log", "log({0})", ("1/{0}",), syntax="log", low=0.2, high=3.0, form=lambda a: mx.div(G, X),
       check=lambda x: None if np.all(as_float(x) > 0) else "log needs a positive input")
_unary("sqrt", lambda x: np.sqrt(as_float(x)), lambda out, x: 0.5 / out, lambda x: sympy_module().sqrt(x),
       "√", "sqrt({0})", ("1/(2·sqrt({0}))",), syntax="sqrt", low=0.2, high=3.0,
       form=lambda a: mx.div(G, mx.scale(2.0, OUT)),
       check=lambda x: None if np.all(as_float(x) > 0) else
       ("sqrt needs a non-negative input" if np.any(as_float(x) < 0)
        else "sqrt at 0 has no finite derivative"))
_unary("abs", lambda x: np.abs(as_float(x)), lambda out, x: np.sign(as_float(x)),
       lambda x: sympy_module().Abs(x),
       "|·|", "abs({0})", ("sign({0})",), syntax="abs", form=lambda a: mx.had(G, _sign(X)),
       branch=lambda x, tol=0.0: kink_side(x, 0.0, tol))
_unary("sin", lambda x: np.sin(as_float(x)), lambda out, x: np.cos(as_float(x)),
       lambda x: sympy_module().sin(x),
       "sin", "sin({0})", ("cos({0})",), syntax="sin", form=lambda a: mx.had(G, _cos(X)))
_unary("cos", lambda x: np.cos(as_float(x)), lambda out, x: -np.sin(as_float(x)),
       lambda x: sympy_module().cos(x),
       "cos", "cos({0})", ("−sin({0})",), syntax="cos",
       form=lambda a: mx.neg(mx.had(G, _sin(X))))
_unary("tanh", lambda x: np.tanh(as_float(x)), lambda out, x: 1.0 - out ** 2,
       lambda x: sympy_module().tanh(x),
       "tanh", "tanh({0})", ("1 − tanh²({0})",), syntax="tanh", activation="tanh",
       form=lambda a: mx.had(G, mx.sub(mx.Num(1.0), _square(OUT))))
_unary("sigmoid", _sigmoid, lambda out, x: out * (1.0 - out),
       lambda x: 1 / (1 + sympy_module().exp(-x)),
       "σ", "σ({0})", ("σ({0})(1 − σ({0}))",), syntax="sigmoid", activation="sigmoid",
       form=lambda a: mx.had(mx.had(G, OUT), mx.sub(mx.Num(1.0), OUT)))


def _relu_sym(x):
    sp = sympy_module()
    return sp.Piecewise((x, x > 0), (0, True))


def _relu_vjp(g, out, x, *, into=None, **attrs):
    # g times the boolean mask directly (NumPy casts it to 1.0/0.0 inside the multiply): the
    # same products as g * 1[x > 0] without building the float indicator first
    return (np.multiply(g, as_float(x) > 0, out=into),)


_unary("relu", lambda x: np.maximum(as_float(x), 0.0), lambda out, x: (as_float(x) > 0).astype(float),
       _relu_sym, "relu", "relu({0})", ("1[{0} > 0]",), syntax="relu", activation="relu",
       form=lambda a: mx.had(G, _pos(X)),
       branch=lambda x, tol=0.0: kink_side(x, 0.0, tol), vjp=_relu_vjp, routes=True)


def _leaky_deriv(alpha):
    """1[x > 0] + α·1[x ≤ 0], the derivative of leaky relu with its α written in."""
    return mx.fn(f"(1[{{0}} > 0] + {alpha:g}·1[{{0}} ≤ 0])",
                 rf"\left(\mathrm{{1}}[{{0}} > 0] + {alpha:g}\,\mathrm{{1}}[{{0}} \le 0]\right)",
                 lambda x: np.where(x > 0, 1.0, alpha), X)


def _leaky_sym(x, alpha=0.01):
    sp = sympy_module()
    return sp.Piecewise((x, x > 0), (alpha * x, True))


_unary("leaky_relu", lambda x, alpha=0.01: np.where(as_float(x) > 0, as_float(x), alpha * as_float(x)),
       lambda out, x, alpha=0.01: np.where(as_float(x) > 0, 1.0, alpha), _leaky_sym,
       "leaky relu", "leaky_relu({0})", ("1 if {0} > 0 else α",), activation="leaky_relu",
       branch=lambda x, tol=0.0, alpha=0.01: kink_side(x, 0.0, tol),
       attrs_sample={"alpha": 0.1}, form=lambda a: mx.had(G, _leaky_deriv(a.get("alpha", 0.01))))
ACTIVATIONS["identity"] = "linear"


# ---------------------------------------------------------------- scalar binary ops
def _binary(name, forward, vjp, sym, label, formula, local_text, *, check=None, branch=None,
            sample=None, syntax=None, form=None):
    """A binary elementwise op; `form(A, B)` gives its two matrix-form rules (before the sums
    that undo broadcasting an input)."""
    def matrix(site):
        return tuple(mx.sum_to(t, site.out_shape, shape)
                     for t, shape in zip(form(mx.V(0), mx.V(1)), site.shapes))

    return register(Op(name, 2, forward, vjp, lift_elementwise(sym), label, formula, local_text,
                       syntax=syntax, check=check, branch=branch, matrix=matrix,
                       sample=sample or (lambda rng: (rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3)))))


_binary("add", lambda a, b: as_float(a) + as_float(b),
        lambda g, out, a, b: (unbroadcast(g, np.shape(a)), unbroadcast(g, np.shape(b))),
        lambda a, b: a + b, "+", "{0} + {1}", ("1", "1"), form=lambda A, B: (G, G))
_binary("sub", lambda a, b: as_float(a) - as_float(b),
        lambda g, out, a, b: (unbroadcast(g, np.shape(a)), unbroadcast(-g, np.shape(b))),
        lambda a, b: a - b, "−", "{0} − {1}", ("1", "−1"), form=lambda A, B: (G, mx.neg(G)))
_binary("mul", lambda a, b: as_float(a) * as_float(b),
        lambda g, out, a, b: (unbroadcast(g * as_float(b), np.shape(a)),
                              unbroadcast(g * as_float(a), np.shape(b))),
        lambda a, b: a * b, "×", "{0} · {1}", ("{1}", "{0}"),
        form=lambda A, B: (mx.had(G, B), mx.had(G, A)))
_binary("div", lambda a, b: as_float(a) / as_float(b),
        lambda g, out, a, b: (unbroadcast(g / as_float(b), np.shape(a)),
                              unbroadcast(-g * as_float(a) / as_float(b) ** 2, np.shape(b))),
        lambda a, b: a / b, "÷", "{0} / {1}", ("1/{1}", "−{0}/{1}²"),
        form=lambda A, B: (mx.div(G, B), mx.neg(mx.div(mx.had(G, A), _square(B)))),
        check=lambda a, b: None if np.all(as_float(b) != 0) else "division by zero",
        sample=lambda rng: (rng.uniform(-2, 2, 3), rng.uniform(0.5, 2, 3) * rng.choice([-1, 1], 3)))


def _pow_forward(a, b):
    return np.power(as_float(a), as_float(b))


def _pow_vjp(g, out, a, b):
    a, b = as_float(a), as_float(b)
    da = g * b * np.power(a, b - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # d/db a^b = a^b log a; 0 where a == 0 (and b > 0); undefined (nan) for a < 0
        db = np.where(a > 0, g * out * np.log(np.where(a > 0, a, 1.0)), np.where(a == 0, 0.0, np.nan))
    return unbroadcast(da, np.shape(a)), unbroadcast(db, np.shape(b))


def _pow_check(a, b):
    a, b = as_float(a), as_float(b)
    if np.any((a < 0) & (b != np.round(b))):
        return "a negative number to a non-integer power"
    if np.any((a == 0) & (b < 1)):
        return "0 to a power below 1 (division by zero or no finite derivative)"
    return None


def _pow_form(A, B):
    # d/da a^b = b·a^(b−1); d/db a^b = a^b·log a, taken as 0 where a = 0 (0^b with b > 0)
    power = mx.fn("{0}^({1} − 1)", "{0}^{{1} - 1}", lambda a, b: np.power(a, b - 1.0), A, B)
    log0 = mx.fn("log({0})", r"\log\left({0}\right)",
                 lambda a: np.where(a > 0, np.log(np.where(a > 0, a, 1.0)),
                                    np.where(a == 0, 0.0, np.nan)), A)
    return mx.had(mx.had(G, B), power), mx.had(mx.had(G, OUT), log0)


_binary("pow", _pow_forward, _pow_vjp, lambda a, b: a ** b, "^", "{0}^{1}",
        ("{1}·{0}^({1}−1)", "{0}^{1}·log({0})"), check=_pow_check, form=_pow_form,
        sample=lambda rng: (rng.uniform(0.5, 2, 3), rng.uniform(-2, 2, 3)))


def _maxmin(name, wins, label):
    """max / min: `wins(a, b)` is a strictly winning first argument; a tie (a = b) splits the
    gradient evenly, ½ to each argument, as torch.maximum / torch.minimum and jnp.maximum /
    jnp.minimum do (and as a central difference across the tie measures)."""
    def share(a, b):           # the first argument's share of the gradient: 1, ½ or 0
        a, b = np.broadcast_arrays(as_float(a), as_float(b))
        return np.where(a == b, 0.5, wins(a, b).astype(float))

    def forward(a, b):
        a, b = np.broadcast_arrays(as_float(a), as_float(b))
        return np.where(wins(a, b), a, b)

    def vjp(g, out, a, b):
        s = share(a, b)
        return (unbroadcast(g * s, np.shape(a)), unbroadcast(g * (1.0 - s), np.shape(b)))

    def sym(a, b):
        sp = sympy_module()
        return sp.Piecewise((a, wins(a, b)), (b, wins(b, a)), ((a + b) / 2, True))

    def form(A, B):
        rel = ">" if name == "max" else "<"
        tex = ">" if name == "max" else "<"
        first = mx.fn(f"(1[{{0}} {rel} {{1}}] + ½·1[{{0}} = {{1}}])",
                      rf"\left(\mathrm{{1}}[{{0}} {tex} {{1}}] + \tfrac12\,\mathrm{{1}}[{{0}} = {{1}}]\right)",
                      lambda a, b: share(a, b), A, B)
        return mx.had(G, first), mx.had(G, mx.sub(mx.Num(1.0), first))

    return _binary(name, forward, vjp, sym, label, name + "({0}, {1})",
                   (f"1 if {{0}} is the {name}, ½ at a tie, else 0",
                    f"1 if {{1}} is the {name}, ½ at a tie, else 0"),
                   syntax=name, form=form, branch=lambda a, b, tol=0.0: kink_side(as_float(a) - as_float(b), 0.0, tol))


_maxmin("max", lambda a, b: a > b, "max")
_maxmin("min", lambda a, b: a < b, "min")
