"""The operation registry: one entry per primitive (NumPy forward, VJP, SymPy form, labels, kinks)."""
from __future__ import annotations

from gradcalc.ops.arrays import unbroadcast  # noqa: F401  (public: the adjoint of broadcasting)
from gradcalc.ops.registry import (ACTIVATIONS, KINK_CONVENTION, LOSSES, REGISTRY,  # noqa: F401
                                   Op, expression_functions, fill_attrs, get, register)

# One module per op family; importing them registers their ops.  The order is the registry's
# order, which the tables, the JSON schema and the snapshots follow: a new family goes last.
from gradcalc.ops import elementwise, linear, losses, conv, pool, recurrent  # noqa: E402,F401,I001
from gradcalc.ops import normalization, embedding  # noqa: E402,F401,I001
from gradcalc.ops import gates, attention  # noqa: E402,F401,I001
from gradcalc.ops import inout  # noqa: E402,F401,I001
from gradcalc.ops import exprarray  # noqa: E402,F401,I001
