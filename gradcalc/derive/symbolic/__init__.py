"""The symbolic derivation: SymPy forward forms, derivatives by sympy.diff, formulas for people.

The package's face is the entry point `run` (and `size`, `DEFAULT_LIMIT`, `TooLarge`, which
decide whether to call it); SymPy itself is imported only when something is computed.

    backend      the SymPy backend for network.build: symbols, forward forms, partial derivatives
    partials     the partial derivatives of one form by SymPy (only the terms holding a symbol)
    engine       run, SymbolicResult, size and the default size limits
    groups       entries sharing one form up to renaming: differentiated once, evaluated in bulk
    names        names shown like the lecture (pretty_name, latex_name)
    printing     unicode and LaTeX printing of expressions, exact_text
    output_form  derivatives in terms of the step's output (σ′ = o(1 − o))
    direct       sums of products of places evaluated by NumPy as lambdify's code would
    patterns     one formula with index letters for many entries (generalize)
    formulas     Formulas: local derivatives and closed forms per parameter
"""
from gradcalc.derive.symbolic.backend import TooLarge
from gradcalc.derive.symbolic.engine import DEFAULT_LIMIT, EXACT_LIMIT, SymbolicResult, run, size

__all__ = ["DEFAULT_LIMIT", "EXACT_LIMIT", "SymbolicResult", "TooLarge", "run", "size"]
