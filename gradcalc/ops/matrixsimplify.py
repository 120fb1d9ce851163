"""Simplify matrix-form terms (gradcalc.ops.matrix) into what a student would write, value unchanged.

The composed closed forms read `lam ⊙ 2 ⊙ t^(2 − 1) ⊙ (w ⊘ t)` and `(I·Wᵀ·Aᵀ)ᵀ`; the rules here
turn them into `2·lam·w` and `A·W`: numbers folded (2 − 1 → 1, x^1 → x, 0.5·2 → 1), `𝟙 ⊙ a`,
`I·A`, `A·I` dropped where the shape stays, a scalar ⊙ written as a scalar product `2·a`,
(Aᵀ)ᵀ → A, (AB)ᵀ → BᵀAᵀ where that is shorter, −(−a) → a, equal factors cancelled in a
quotient, like terms of a sum collected (a + a → 2·a), a factor common to every term of a sum
taken out ((A·W + Aᵀ·W) → (A + Aᵀ)·W).  Shapes are read from the operands' values (every bound
term can be evaluated), so a rule never changes a shape.  A simplified form is not trusted: the
caller evaluates it and compares it with autograd like any other (gradcalc.solution.matrixforms).
"""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx
from gradcalc.ops.matrixalgebra import Budget, cost, in_region, power, rewrite
from gradcalc.ops.matrixshapes import is_eye, is_ones, is_scalar, shape as _shape

POW_DERIV = "{0}^({1} − 1)"     # b·a^(b−1), the pow op's rule (gradcalc.ops.elementwise)
POWER = "{0}^{1}"


def simplify(term: mx.Term, algebra: bool | Budget = False, shared: dict | None = None) -> mx.Term:
    """The simplified term (the same object when nothing applies; the input on any failure).
    With `algebra` (True, or a Budget shared by several calls), every region of entrywise
    ⊙ ⊘ + − is also cancelled and factored by SymPy (gradcalc.ops.matrixalgebra) and the
    result simplified again.  `shared` (a dict kept by the caller) lets the forms of one
    problem share the work on the parts they have in common."""
    try:
        first = shared.setdefault("simplifier", _Simplifier()) if shared is not None \
            else _Simplifier()
        out = first.run(term)
        if algebra:
            budget = algebra if isinstance(algebra, Budget) else Budget()
            out = _Simplifier().run(_regions(out, {}, budget))
        return out
    except (mx.ShapeMismatch, ValueError, ArithmeticError, RecursionError):
        return term


def _regions(t: mx.Term, memo: dict, budget: Budget) -> mx.Term:
    """`t` with each outermost entrywise region rewritten where that reads shorter."""
    done = memo.get(id(t))
    if done is not None:
        return done
    out = t
    if in_region(t):
        out = rewrite(t, lambda x: _Simplifier().run(x), budget) or t
    if out is t:
        if isinstance(t, mx.Ref):
            inner = _regions(t.term, memo, budget)
            out = t if inner is t.term else _ref_copy(t, inner)
        elif isinstance(t, mx.Bin):
            a, b = _regions(t.a, memo, budget), _regions(t.b, memo, budget)
            out = t if (a is t.a and b is t.b) else mx.Bin(t.op, a, b)
        elif isinstance(t, mx.Un):
            a = _regions(t.a, memo, budget)
            out = t if a is t.a else mx.Un(t.op, a)
        elif isinstance(t, mx.Apply):
            args = tuple(_regions(a, memo, budget) for a in t.args)
            out = t if all(x is y for x, y in zip(args, t.args)) else \
                mx.Apply(t.text_fmt, t.latex_fmt, t.fn, args, t.shapes)
    memo[id(t)] = out
    memo.setdefault("keep", []).append(t)
    return out


def _num(c: float) -> mx.Num:
    return mx.Num(float(c) + 0.0)          # no −0


class _Simplifier:
    def __init__(self):
        self.memo: dict[int, mx.Term] = {}
        self.keys: dict[int, str] = {}
        self.keep: list = []               # terms whose ids are memo keys stay alive

    def key(self, t: mx.Term) -> str:
        k = self.keys.get(id(t))
        if k is None:
            k = self.keys[id(t)] = t.text()
            self.keep.append(t)
        return k

    def run(self, t: mx.Term) -> mx.Term:
        done = self.memo.get(id(t))
        if done is not None:
            return done
        self.keep.append(t)
        if isinstance(t, mx.Ref):          # a named δ keeps its name; its definition is simplified
            inner = self.run(t.term)
            out = t if inner is t.term else _ref_copy(t, inner)
        elif isinstance(t, mx.Un):
            out = self.unary(t.op, self.run(t.a))
        elif isinstance(t, mx.Bin) and t.op in ("add", "sub"):
            out = self.sum_chain(t)
        elif isinstance(t, mx.Bin):
            out = self.binary(t.op, self.run(t.a), self.run(t.b))
        elif isinstance(t, mx.Apply):
            out = self.apply(t, tuple(self.run(a) for a in t.args))
        else:
            out = t
        self.memo[id(t)] = out
        return out

    # ------------------------------------------------------------ one node, children simplified
    def unary(self, op: str, a: mx.Term) -> mx.Term:
        if op == "neg":
            return self.product(mx.Un("neg", a))
        if is_scalar(a) or is_eye(a):                      # sᵀ = s, Iᵀ = I
            return a
        if isinstance(a, mx.Un) and a.op == "T":           # (Aᵀ)ᵀ = A
            return a.a
        if isinstance(a, mx.Un) and a.op == "neg":         # (−A)ᵀ = −Aᵀ
            return self.product(mx.Un("neg", self.unary("T", a.a)))
        coef, scalars, nums, dens = self.factors(a)
        if (coef != 1 or scalars) and len(nums) == 1 and not dens:       # (c·A)ᵀ = c·Aᵀ
            return self.build(coef, scalars, [self.unary("T", nums[0])], [])
        plain = mx.Un("T", a)
        if isinstance(a, mx.Bin) and a.op == "dot" and not is_scalar(a.a) and not is_scalar(a.b):
            swapped = self.binary("dot", self.unary("T", a.b), self.unary("T", a.a))
            if _cost(swapped) <= _cost(plain):                 # (AB)ᵀ = BᵀAᵀ where shorter
                return swapped
        return plain

    def binary(self, op: str, a: mx.Term, b: mx.Term) -> mx.Term:
        if isinstance(a, mx.Num) and isinstance(b, mx.Num):
            with np.errstate(all="ignore"):
                c = {"dot": a.c * b.c, "had": a.c * b.c, "add": a.c + b.c, "sub": a.c - b.c,
                     "div": a.c / b.c if b.c else float("nan")}[op]
            if np.isfinite(c):
                return _num(c)
        if op in ("add", "sub"):
            return self.sum(mx.Bin(op, a, b))
        if op == "dot" and not is_scalar(a) and not is_scalar(b):
            return self.matmul(a, b)
        return self.product(mx.Bin(op, a, b))

    def apply(self, t: mx.Apply, args: tuple) -> mx.Term:
        if t.text_fmt == POW_DERIV and isinstance(args[1], mx.Num):
            return power(args[0], args[1].c - 1.0)         # a^(2 − 1) → a
        if t.text_fmt == POWER and isinstance(args[1], mx.Num):
            return power(args[0], args[1].c)
        if all(x is y for x, y in zip(args, t.args)):
            return t
        return mx.Apply(t.text_fmt, t.latex_fmt, t.fn, args, t.shapes)

    # ------------------------------------------------------------ matrix products
    def matmul(self, a: mx.Term, b: mx.Term) -> mx.Term:
        if _shape(mx.Bin("dot", a, b)) is None:             # not a product: left as it is shown
            return mx.Bin("dot", a, b)
        if is_eye(a) and _shape(b) is not None:            # I·B = B
            return b
        if is_eye(b) and _shape(a) is not None:            # A·I = A
            return a
        plain = mx.Bin("dot", a, b)
        out, right, inner = self.pull(a, b)
        # a number inside a chain (Xᵀ·2·r) always moves to the front; from the left factor
        # only when that reads shorter
        if out is not None and (right or is_ones(inner) or _cost(out) < _cost(plain) or
                                out.text() == plain.text()):
            return out
        return plain

    def pull(self, a: mx.Term, b: mx.Term):
        """(c·A)·(d·B) = (c·d)·(A·B): (the product with its coefficient in front or None,
        whether B had one, A·B)."""
        ca, sa, na, da = self.factors(a)
        cb, sb, nb, db = self.factors(b)
        if (ca != 1 or cb != 1 or sa or sb) and not da and not db and na and nb:
            inner = mx.Bin("dot", self.join(na), self.join(nb))
            if _shape(inner) is not None:
                return self.build(ca * cb, sa + sb, [inner], []), bool(cb != 1 or sb), inner
        return None, False, None

    # ------------------------------------------------------------ elementwise products
    def factors(self, t: mx.Term):
        """(coefficient, scalar factors, array factors, denominators) of an elementwise product."""
        coef, scalars, nums, dens = 1.0, [], [], []

        def walk(t, up):
            nonlocal coef
            if isinstance(t, mx.Num):
                coef = coef * t.c if up else coef / t.c
            elif isinstance(t, mx.Un) and t.op == "neg":
                coef = -coef
                walk(t.a, up)
            elif isinstance(t, mx.Bin) and (t.op == "had" or (t.op == "dot" and (
                    is_scalar(t.a) or is_scalar(t.b)))):
                walk(t.a, up)
                walk(t.b, up)
            elif isinstance(t, mx.Bin) and t.op == "div":
                walk(t.a, up)
                walk(t.b, not up)
            elif up:
                (scalars if is_scalar(t) else nums).append(t)
            else:
                dens.append(t)

        walk(t, True)
        return coef, scalars, nums, dens

    def product(self, t: mx.Term) -> mx.Term:
        shape = _shape(t)
        if shape is None:
            return t
        coef, scalars, nums, dens = self.factors(t)
        if not np.isfinite(coef):
            return t
        for d in list(dens):                             # x ⊙ (y ⊘ x) = y
            match = next((n for n in nums + scalars if self.key(n) == self.key(d)
                          and _shape(n) == _shape(d)), None)
            if match is not None:
                (nums if match in nums else scalars).remove(match)
                dens.remove(d)
        real = [n for n in nums if not is_ones(n)]
        if real:                                         # 𝟙 ⊙ a = a
            nums = real
        dens = [d for d in dens if not (is_ones(d) and nums)]
        if coef == -1 and not scalars and not dens and len(nums) == 1 and \
                isinstance(nums[0], mx.Bin) and nums[0].op in ("add", "sub"):
            return self.sum(mx.Un("neg", nums[0]))       # −(y − t) = t − y
        out = self.build(coef, scalars, nums, dens)
        return out if _shape(out) == shape else t

    def join(self, arrays: list) -> mx.Term:
        out = arrays[0]
        for x in arrays[1:]:
            out = mx.Bin("had", out, x)
        return out

    def build(self, coef: float, scalars: list, nums: list, dens: list) -> mx.Term:
        """c·s1·s2·a ⊙ b ⊘ (d …): the coefficient and the scalars on the first array factor,
        a negative c as −2·a or −(…).  A c with no short exact decimal that is a small
        fraction p/q is written (p/q)·… or …/q (p = 1), the shorter; the rounded decimal
        (0.6667) only when it is shorter by more than three characters."""
        sign, c = (-1.0, -coef) if coef < 0 else (1.0, coef)
        if c == 1:
            return self._chain([], scalars, nums, dens, sign, None)
        decimal = self._chain([_num(sign * c)], scalars, nums, dens, 1.0, None)
        if float(f"{c:.4g}") == c:
            return decimal
        from fractions import Fraction    # here only (it imports decimal: start-up time)
        f = Fraction(c).limit_denominator(1000)
        if f.denominator == 1 or abs(float(f) - c) > 1e-12 * c:
            return decimal                          # 0.25, 0.02, 3: exact as shown
        q = _num(f.denominator)
        tries = [self._chain([mx.Bin("div", _num(sign * f.numerator), q)], scalars, nums, dens,
                             1.0, None)]
        if f.numerator == 1:
            tries.append(self._chain([], scalars, nums, dens, sign, q))
        best = min(tries, key=_cost)      # exact; the rounded decimal only when much shorter
        return decimal if _cost(decimal)[0] + 3 < _cost(best)[0] else best

    def _chain(self, lead: list, scalars: list, nums: list, dens: list, sign: float, over):
        parts = lead + list(scalars) + nums[:1]
        out = parts[0] if parts else _num(1.0)
        for p in parts[1:]:
            out = mx.Bin("dot", out, p)
        for x in nums[1:]:
            out = mx.Bin("had", out, x)
        if dens:
            den = dens[0]
            for d in dens[1:]:
                den = mx.Bin("dot" if is_scalar(d) or is_scalar(den) else "had", den, d)
            out = mx.Bin("div", out, den)
        if over is not None:
            out = mx.Bin("div", out, over)
        return mx.Un("neg", out) if sign < 0 else out

    # ------------------------------------------------------------ sums
    def sum_chain(self, t: mx.Bin) -> mx.Term:
        """A chain a ± b ± c … simplified once as a whole (not once per link: an rnn's
        closed form is a sum of T terms)."""
        parts, stack = [], [(t, 1.0)]
        while stack:
            u, sign = stack.pop()
            if isinstance(u, mx.Bin) and u.op in ("add", "sub") and id(u) not in self.memo:
                stack.append((u.b, sign if u.op == "add" else -sign))
                stack.append((u.a, sign))
            else:
                parts.append((sign, self.run(u)))
        sign, out = parts[0]
        out = mx.Un("neg", out) if sign < 0 else out
        for sign, p in parts[1:]:
            out = mx.Bin("add" if sign > 0 else "sub", out, p)
        return self.sum(out)           # two parts at least: t is a sum

    def sum(self, t: mx.Term) -> mx.Term:
        shape = _shape(t)
        if shape is None:
            return t
        terms: list = []                   # [coef, scalars, nums, dens, key]

        def walk(t, sign):
            if isinstance(t, mx.Bin) and t.op in ("add", "sub"):
                walk(t.a, sign)
                walk(t.b, sign if t.op == "add" else -sign)
            elif isinstance(t, mx.Un) and t.op == "neg":
                walk(t.a, -sign)
            else:
                if isinstance(t, mx.Bin) and t.op == "dot" and not is_scalar(t.a) and \
                        not is_scalar(t.b):
                    t = self.pull(t.a, t.b)[0] or t        # a term's sign shows: t − A·v
                coef, scalars, nums, dens = self.factors(t)
                rest = self.build(1.0, scalars, nums, dens)
                key = (self.key(rest), _shape(rest)) if (scalars or nums or dens) else None
                for row in terms:                        # a + a = 2·a
                    if row[4] == key:
                        row[0] += sign * coef
                        return
                terms.append([sign * coef, scalars, nums, dens, key])

        walk(t, 1.0)
        terms = [r for r in terms if r[0] != 0]
        if not terms:
            return t
        built = [(r[0], self.build(1.0, r[1], r[2], r[3]) if r[4] else None) for r in terms]
        first = next((i for i, (c, _) in enumerate(built) if c > 0), 0)
        built.insert(0, built.pop(first))                # a − b rather than −b + a
        outer = abs(built[0][0])
        if outer < 1 and round(1 / outer) == 1 / outer and len(built) > 1 and \
                all(abs(c) == outer for c, _ in built):
            inner = self.sum_of([(c / outer, b) for c, b in built])     # (a − b)/3
            out = self.build(outer, [], [inner], []) if not is_scalar(inner) else \
                self.build(outer, [inner], [], [])
            return out if _shape(out) == shape else t
        common = self.common_factor([b for _, b in built])
        if common is not None:
            side, f, rests = common
            inner = list(zip((c for c, _ in built), rests))
            if all(c > 0 for c, _ in inner):            # (A + Aᵀ)·W rather than (Aᵀ + A)·W
                inner.sort(key=lambda cr: cr[1].text().count("ᵀ"))
            inner = self.sum_of(inner)
            out = mx.Bin("dot", f, inner) if side == "left" else mx.Bin("dot", inner, f)
        else:
            out = self.sum_of(built)
        return out if _shape(out) == shape else t

    def sum_of(self, built: list) -> mx.Term:
        out = None
        for coef, rest in built:
            term = _num(abs(coef)) if rest is None else self.product(
                mx.Bin("dot", _num(abs(coef)), rest)) if abs(coef) != 1 else rest
            if out is None:
                out = self.product(mx.Un("neg", term)) if coef < 0 else term
            else:
                out = mx.Bin("sub" if coef < 0 else "add", out, term)
        return out

    def common_factor(self, rests: list):
        """A matrix factor on the same side of every term: A·W + Aᵀ·W → ("right", W, [A, Aᵀ])."""
        if len(rests) < 2 or any(not (isinstance(r, mx.Bin) and r.op == "dot") for r in rests):
            return None
        for side in ("right", "left"):
            pick = (lambda r: r.b) if side == "right" else (lambda r: r.a)
            other = (lambda r: r.a) if side == "right" else (lambda r: r.b)
            f = pick(rests[0])
            if is_scalar(f) or any(self.key(pick(r)) != self.key(f) for r in rests) or \
                    any(is_scalar(other(r)) for r in rests):
                continue
            shapes = {_shape(other(r)) for r in rests}
            if len(shapes) == 1:
                return side, f, [other(r) for r in rests]
        return None


def _ref_copy(ref: mx.Ref, term: mx.Term) -> mx.Ref:
    """A new Ref of the same name over `term` (the original stays as it was); `origin` is the
    Ref it was made from, other attributes (a caller's ordering) are kept."""
    new = mx.Ref(ref.name, ref.latex_name, term)
    for k, v in ref.__dict__.items():
        if k not in ("name", "latex_name", "term", "_value"):
            new.__dict__[k] = v
    new.origin = getattr(ref, "origin", ref)
    return new


def _cost(t: mx.Term) -> tuple:
    return cost(t.text())

