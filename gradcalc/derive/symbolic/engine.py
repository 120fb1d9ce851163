"""Run the symbolic derivation of a problem: SymbolicResult, its size and the size limit."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.derive.symbolic.backend import SymBackend
from gradcalc.problem.model import ExpressionProblem, NetworkProblem

if TYPE_CHECKING:
    from gradcalc.derive.symbolic.formulas import Formulas

DEFAULT_LIMIT = 10000        # differentiated entries; beyond this `solve`/`check` skip SymPy
EXACT_LIMIT = 500            # the same with --exact (rational arithmetic, one entry at a time)


def size(problem) -> int:
    """The number of differentiated entries (x, W, b … or the expression's variables)."""
    from gradcalc.graph.network import leaf_values
    return int(sum(np.asarray(v).size for v in leaf_values(problem).values()))


@dataclass
class SymbolicResult:
    """Forward values and gradients from SymPy (float64 arrays), exact forms in --exact mode."""

    forward: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray]
    output: str
    backend: SymBackend
    out_handle: Any
    named: set
    exact: bool = False
    exact_forward: dict[str, np.ndarray] = field(default_factory=dict)
    exact_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    _formulas: Any = None

    def formulas(self, closed: bool = True) -> "Formulas":
        """Local derivatives per backward step and (with `closed`) closed forms per parameter;
        cached."""
        from gradcalc.derive.symbolic.formulas import FormulaBuilder
        if self._formulas is None or (closed and self._formulas.gradients is None):
            self._formulas = FormulaBuilder(self).build(closed)
        return self._formulas


def run(problem, exact: bool = False) -> SymbolicResult:
    """Build `problem` over SymPy symbols, evaluate it, differentiate the output."""
    from gradcalc.graph.network import build, forward_names, leaf_values

    network = isinstance(problem, NetworkProblem)
    be = SymBackend(exact=exact, network=network, file=problem.file)
    out = build(problem, be)
    adj = be.gradients(out)
    out_name = be.name_of[id(out)]
    names = forward_names(problem)
    names += [n.name for n in be.nodes if n.name not in names]
    forward, exact_fwd = {}, {}
    # a symbol's value: its SymPy number in --exact mode, else its float (the same float)
    known = be.values if exact else be.fval
    for name in names:
        h = be.by_name[name]
        if not exact:
            found = _known_floats(h, be.fval)
            if found is not None:
                forward[name] = found + 0.0
                continue
        vals = _values(h, lambda e: known.get(e, e) if isinstance(e, be.sp.Symbol) else e)
        # + 0.0: a SymPy number has no −0.0, so the float of a −0.0 value was always 0.0
        forward[name] = _floats(be, vals) if exact else _floats(be, vals) + 0.0
        if exact:
            exact_fwd[name] = vals
    gradients, exact_grads = {}, {}
    for name in leaf_values(problem):
        if not exact:       # the float of every entry's derivative (0.0 where none reached)
            h = be.leaves[name]
            gradients[name] = np.fromiter((adj.get(e, 0.0) for e in h.flat), dtype=float,
                                          count=h.size).reshape(h.shape)
            continue
        vals = _values(be.leaves[name], lambda e: adj.get(e, 0))
        gradients[name] = _floats(be, vals)
        if exact:
            exact_grads[name] = vals
    named = set(forward_names(problem)) if isinstance(problem, ExpressionProblem) else set(names)
    return SymbolicResult(forward, gradients, out_name, be, out, named, exact, exact_fwd,
                          exact_grads)


def _known_floats(h: np.ndarray, fval: dict) -> np.ndarray | None:
    """The float value of every entry of h when every entry is a symbol with one (what
    `_floats` makes of them), else None."""
    try:
        return np.fromiter(map(fval.__getitem__, h.flat), dtype=float,
                           count=h.size).reshape(h.shape)
    except (KeyError, TypeError):
        return None


def _values(h: np.ndarray, value) -> np.ndarray:
    """An object array of value(e) for every entry e of h (same shape)."""
    vals = np.empty(h.shape, dtype=object)
    flat = vals.reshape(-1)                  # a view: a new array is contiguous
    for i, e in enumerate(h.flat):
        flat[i] = value(e)
    return vals


def _floats(be: SymBackend, vals: np.ndarray) -> np.ndarray:
    """An object array of SymPy values as float64."""
    return np.fromiter((be.float_value(v) for v in vals.flat), dtype=float,
                       count=vals.size).reshape(vals.shape)
