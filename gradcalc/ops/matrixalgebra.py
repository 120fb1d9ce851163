"""Elementwise algebra of matrix-form terms with SymPy: a region of ⊙, ⊘, +, − over operands of
one shape is ordinary commutative algebra entry by entry, so SymPy may cancel and factor it.

Logistic regression composes ∂L/∂z = ((1 − y) ⊘ (1 − p) − y ⊘ p) ⊙ p ⊙ (1 − p)/4; each operand
that is not itself ⊙ ⊘ + − (p, y, σ(X·w), a matrix product …) becomes one SymPy symbol (equal
text, equal symbol), `sympy.factor(sympy.cancel(…))` gives (p − y)/4, and that is turned back
into a term over the same operands.  SymPy objects are built from the terms, never from text.
The result replaces the region only when it reads shorter; like every displayed form it is
evaluated from its operands and compared with autograd by the caller.
"""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx

MAX_ATOMS = 12          # larger regions are left as composed (SymPy time grows quickly)
MAX_NODES = 80
# cancel() expands numerator and denominator: a product of k sums has 2^k terms (a chain of 10
# sigmoids, σ ⊙ (1 − σ) each, took 20 s); regions whose expansion is estimated above this many
# monomials are left alone
MAX_TERMS = 64


class Budget:
    """How many regions SymPy may still be asked about (one budget per problem, so that a
    long chain of small regions costs a bounded time)."""

    def __init__(self, calls: int = 24):
        self.left = calls
REGION = ("had", "div", "add", "sub")


def power(base: mx.Term, n: float) -> mx.Term:
    """base^n elementwise (n a number): base itself for n = 1, base² for 2."""
    if n == 1:
        return base
    if n == 2:
        return mx.fn("{0}²", "{0}^{2}", np.square, base)
    return mx.fn("{0}^{1}", "{0}^{{1}}", lambda a, b: np.power(a, b), base, mx.Num(n))


def cost(text: str) -> tuple:
    """Shorter reads better, and every parenthesis costs as much as two more characters."""
    return len(text) + 2 * text.count("("), text.count("ᵀ")


class _Out(Exception):
    """The region holds something that is not entrywise algebra."""


def _shape(t):
    try:
        return t.compute().shape
    except (mx.ShapeMismatch, ValueError, IndexError):
        raise _Out() from None


def in_region(t: mx.Term) -> bool:
    """⊙ ⊘ + −, a number or scalar times an array, or −a: entrywise algebra."""
    try:
        return (isinstance(t, mx.Bin) and (t.op in REGION or (t.op == "dot" and (
            _shape(t.a) == () or _shape(t.b) == ())))) or \
            (isinstance(t, mx.Un) and t.op == "neg")
    except _Out:
        return False


def rewrite(t: mx.Term, tidy, budget: Budget) -> mx.Term | None:
    """The region rooted at `t` in its SymPy-factored form (`tidy(term)` makes it readable),
    or None when it is no region, too large, not shorter, or the budget is spent."""
    try:
        if budget.left <= 0 or not in_region(t) or _terms(t, {}) > MAX_TERMS:
            return None
        budget.left -= 1
        return _Algebra(_shape(t)).run(t, tidy)
    except (_Out, RecursionError, ValueError, TypeError, ZeroDivisionError):
        return None


def _terms(t: mx.Term, memo: dict) -> float:
    """How many monomials the region would expand to (sums add, products multiply)."""
    if id(t) in memo:
        return memo[id(t)]
    if isinstance(t, mx.Un) and t.op == "neg":
        n = _terms(t.a, memo)
    elif isinstance(t, mx.Bin) and in_region(t):
        a, b = _terms(t.a, memo), _terms(t.b, memo)
        n = a + b if t.op in ("add", "sub") else a * b
    else:
        n = 1.0
    memo[id(t)] = n
    return n


class _Algebra:
    def __init__(self, shape):
        import sympy
        self.sp, self.shape = sympy, shape
        self.atoms: dict[str, tuple] = {}        # text -> (symbol, term)
        self.nodes = 0

    def run(self, t: mx.Term, tidy) -> mx.Term | None:
        expr = self.to_sympy(t)
        if len(self.atoms) > MAX_ATOMS:
            return None
        sp = self.sp
        done = sp.factor(sp.cancel(expr))
        back = tidy(self.to_term(done))
        if _shape(back) != self.shape:
            return None
        return back if cost(back.text()) < cost(t.text()) else None

    def to_sympy(self, t: mx.Term):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Out()
        if isinstance(t, mx.Num):
            return self.number(t.c)
        if isinstance(t, mx.Un) and t.op == "neg":
            return -self.to_sympy(t.a)
        if in_region(t):
            a, b = self.to_sympy(t.a), self.to_sympy(t.b)
            return {"had": a * b, "dot": a * b, "div": a / b, "add": a + b,
                    "sub": a - b}[t.op]
        shape = _shape(t)
        if shape not in ((), self.shape):
            raise _Out()
        key = t.text()
        if key not in self.atoms:
            self.atoms[key] = (self.sp.Symbol(f"a{len(self.atoms)}"), t)
        return self.atoms[key][0]

    def number(self, c: float):
        from fractions import Fraction     # with SymPy only (fractions imports decimal: start-up)
        f = Fraction(c).limit_denominator(10 ** 6)
        return self.sp.Rational(f.numerator, f.denominator) if float(f) == c else self.sp.Float(c)

    def to_term(self, e) -> mx.Term:
        if e.is_Number:
            if not e.is_finite:
                raise _Out()
            return mx.Num(float(e))
        if e.is_Symbol:
            return next(term for sym, term in self.atoms.values() if sym == e)
        if e.is_Add:
            out = None
            for arg in e.args:
                out = self.to_term(arg) if out is None else mx.Bin("add", out, self.to_term(arg))
            return out
        if e.is_Mul:
            num, den = e.as_numer_denom()
            if den != 1:
                return mx.Bin("div", self.to_term(num), self.to_term(den))
            out = None
            for arg in e.args:
                t = self.to_term(arg)
                out = t if out is None else mx.Bin("had", out, t)
            return out
        if e.is_Pow and e.exp.is_Integer and e.exp > 0:
            return power(self.to_term(e.base), float(e.exp))
        if e.is_Pow and e.exp.is_Integer and e.exp < 0:
            return mx.Bin("div", mx.Num(1.0), self.to_term(e.base ** -e.exp))
        raise _Out()
