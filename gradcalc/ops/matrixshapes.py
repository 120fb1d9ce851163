"""Shapes and kinds of matrix-form terms (gradcalc.ops.matrix) for the simplifier: the display
shape of a term inferred from its operands by the evaluation's own rules (so the many terms
tried while simplifying are not computed), and whether a term is a scalar, 𝟙 or I.
"""
from __future__ import annotations

import numpy as np

from gradcalc.ops import matrix as mx


def value(t: mx.Term):
    """The term's display-form value, or None when it cannot be evaluated."""
    try:
        return t.compute()
    except (mx.ShapeMismatch, ValueError, IndexError):
        return None


def shape(t):
    """The display shape of the term's value, None when it has none (a product that does not
    conform); inferred from the operands' shapes by the evaluation's own rules (so that the
    many terms tried while simplifying are not computed), kept on the term."""
    got = t.__dict__.get("_shape")
    if got is None:
        got = t.__dict__["_shape"] = (_infer(t),)
    return got[0]


def _infer(t):
    if "_value" in t.__dict__:
        return t.__dict__["_value"].shape
    if isinstance(t, mx.Num):
        return ()
    if isinstance(t, mx.Leaf):
        return mx.display(t.value).shape
    if isinstance(t, mx.Ref):
        return shape(t.term)
    if isinstance(t, mx.Un):
        a = shape(t.a)
        if a is None or t.op == "neg":
            return a
        return None if len(a) > 2 else tuple(reversed(a))
    if isinstance(t, mx.Bin):
        a, b = shape(t.a), shape(t.b)
        if a is None or b is None:
            return None
        if t.op == "dot":
            if not a or not b:
                return b if not a else a
            return (a[0], b[1]) if len(a) == 2 and len(b) == 2 and a[1] == b[0] else None
        if a != b and not (not a or not b or (t.op in ("add", "sub") and (
                a in ((), (1, 1)) or b in ((), (1, 1))))):
            return None
        try:
            return tuple(np.broadcast_shapes(a, b))
        except ValueError:
            return None
    v = value(t)                   # an Apply, a placeholder: evaluated
    return None if v is None else v.shape


def is_scalar(t: mx.Term) -> bool:
    return isinstance(t, mx.Num) or shape(t) == ()


def is_ones(t: mx.Term) -> bool:
    """𝟙 (a Leaf or the ones of an operand's shape), or 𝟙·𝟙ᵀ (a matrix of ones)."""
    if isinstance(t, mx.Bin) and t.op == "dot" and isinstance(t.b, mx.Un) and t.b.op == "T":
        return is_ones(t.a) and is_ones(t.b.a)
    return (isinstance(t, mx.Leaf) and t.name == "𝟙") or \
        (isinstance(t, mx.Apply) and t.text_fmt == "𝟙")


def is_eye(t: mx.Term) -> bool:
    if not (isinstance(t, mx.Apply) and t.text_fmt == "I"):
        return False
    v = value(t)
    return v is not None and v.ndim == 2 and np.array_equal(v, np.eye(v.shape[0]))


def subterms(term: mx.Term, into_refs: bool = True):
    """Every subterm of a term (itself first; a Ref's definition too if `into_refs`), a shared
    one once, in the order a depth-first walk meets them."""
    stack, walked = [term], set()
    while stack:
        t = stack.pop()
        if id(t) not in walked:
            walked.add(id(t))
            yield t
            if isinstance(t, mx.Ref) and not into_refs:
                continue
            stack.extend(c for c in (getattr(t, "a", None), getattr(t, "b", None),
                                     getattr(t, "term", None), *getattr(t, "args", ()))
                         if isinstance(c, mx.Term))


def entrywise(term: mx.Term) -> bool:
    """Whether a form (with its where-definitions) holds an entrywise operation on arrays: a
    Hadamard product or quotient of two arrays, or a function applied entry by entry."""
    return any((isinstance(t, mx.Bin) and t.op in ("had", "div") and
                not (is_scalar(t.a) or is_scalar(t.b))) or
               (isinstance(t, mx.Apply) and t.shapes is None and t.args and
                not all(is_scalar(a) for a in t.args)) for t in subterms(term))
