"""Partial derivatives of one forward form by SymPy: per symbol, only the terms of a sum holding it.

`_diff` is SymPy's own differentiation (the expression's `_eval_derivative`, i.e. the product, chain
and quotient rules of SymPy) without the bookkeeping of `sympy.diff`; every result is the very
expression `sympy.diff` builds.  Nothing here reads a hand-written backward rule."""
from __future__ import annotations

from gradcalc.derive.symbolic.groups import BULK, term_derivative
from gradcalc.ops.arrays import sympy_module


def _partials_of(form, order: dict, skip=frozenset()) -> list:
    """[(u, ∂form/∂u)] for every symbol u of `form` (in `order`) but those in `skip`, by SymPy;
    for a sum only the terms containing u are differentiated (the others give 0)."""
    sp = sympy_module()
    coeff, body = form.as_coeff_Mul() if form.is_Mul else (1, form)
    if coeff != 1 and body.is_Add:     # c·(a + b + …), a mean over a batch: ∂ is c·Σ ∂term
        return [(u, sp.Mul(coeff, d)) for u, d in _partials_of(body, order, skip)]
    terms: dict = {}
    for term in (form.args if form.is_Add else (form,)):
        for u in term.free_symbols:
            if u not in skip:
                terms.setdefault(u, []).append(term)
    if form.is_Add and len(form.args) >= BULK:    # terms of one shape: differentiated once
        return [(u, sp.Add(*[term_derivative(t, u, order, skip, _diff) for t in terms[u]]))
                for u in sorted(terms, key=order.__getitem__)]
    return [(u, sp.Add(*[_diff(t, u) for t in terms[u]]))
            for u in sorted(terms, key=order.__getitem__)]


def _diff(term, u):
    """∂term/∂u by SymPy.  `sympy.diff` dispatches to the expression's own `_eval_derivative`
    (the product, chain and quotient rules of SymPy); calling it directly skips the wrapper's
    bookkeeping and is about ten times faster.  Anything it cannot do goes to `sympy.diff`."""
    sp = sympy_module()
    if type(term) is sp.Pow and term.base.is_Add and term.exp.is_Number and \
            not term.base.has(sp.oo, sp.zoo, sp.nan, -sp.oo):
        # (Σ …)^c, a norm: SymPy's rule b^c·(c′·log b + b′·c/b), c′ = 0, b′ by the Add's rule
        # (the Add of its terms' derivatives) over the terms holding u only: the same result
        # without sympy.diff per term.  c′·log b is 0 (nan only for an infinite b or one known
        # to be 0); making it would ask SymPy's assumptions about each term (0.02 s for 20)
        db = sp.Add(*[_diff(a, u) for a in _holding(term.base).get(u, ())])
        return term * (db * term.exp / term.base)
    if type(term) is sp.Pow and term.exp.is_Number and term.base.is_Symbol and \
            term.base.is_finite is True and term.base.is_zero is not True:
        # x^c, x a finite symbol that may not be 0: SymPy's rule b^c·(c′·log b + b′·c/b) with
        # c′·log b = 0 (log x is finite: SymPy's Mul gives 0 for it) and b′ = ∂x/∂u; the same
        # expression without building log x and asking its assumptions
        db = sp.S.One if term.base == u else sp.S.Zero
        return term * (db * term.exp / term.base)
    try:
        d = term._eval_derivative(u)
    except Exception:   # not every object implements it the same way: use the public API
        d = None
    if d is None or d.has(sp.Derivative):
        d = sp.diff(term, u)
    return d


_HOLDING: list = [None, None]    # the last sum asked about, {symbol: its terms holding it}


def _holding(base) -> dict:
    """{u: the terms of the sum `base` whose free symbols hold u, in the sum's order}: one pass
    over the terms, remembered for the last sum (a norm is differentiated by each of its
    symbols in turn)."""
    if _HOLDING[0] is not base:
        found: dict = {}
        for a in base.args:
            for u in a.free_symbols:
                found.setdefault(u, []).append(a)
        _HOLDING[:] = [base, found]
    return _HOLDING[1]
