"""Array helpers shared by the op families: float arrays, unbroadcasting, kink sides, SymPy lifting."""
from __future__ import annotations

from typing import Callable

import numpy as np


def sympy_module():
    import sympy
    return sympy


def lift_elementwise(fn: Callable) -> Callable:
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
    lifted.scalar = fn     # the symbolic backend builds one form and renames it per entry
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


def as_float(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def kink_side(x, at=0.0, tol=0.0):
    d = as_float(x) - at
    return np.where(np.abs(d) <= tol, 0, np.sign(d)).astype(int)
