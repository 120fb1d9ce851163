"""The operation registry: one entry per primitive (NumPy forward, VJP, SymPy form, labels, kinks)."""
from __future__ import annotations

from gradcalc.ops.arrays import unbroadcast  # noqa: F401  (public: the adjoint of broadcasting)
from gradcalc.ops import registry as _registry
from gradcalc.ops.registry import (ACTIVATIONS, KINK_CONVENTION, LOSSES, REGISTRY,  # noqa: F401
                                   Op, expression_functions, fill_attrs, get, register)

# One module per op family; importing it registers its ops.  The order is the registry's order,
# which the tables, the JSON schema and the snapshots follow: a new family goes last (and into
# _import_the_others).  The first three hold the activations, the affine maps and the losses
# (ACTIVATIONS, LOSSES), which every network problem uses; the others are imported when the
# registry is first walked or asked for an op it does not hold yet (start-up time: ≈ 1.5 ms).
FAMILIES = ("elementwise", "linear", "losses", "conv", "pool", "recurrent", "normalization",
            "embedding", "gates", "attention", "inout", "exprarray")

from gradcalc.ops import elementwise, linear, losses  # noqa: E402,F401,I001


def _import_the_others() -> None:
    from gradcalc.ops import conv, pool, recurrent  # noqa: F401
    from gradcalc.ops import normalization, embedding  # noqa: F401
    from gradcalc.ops import gates, attention  # noqa: F401
    from gradcalc.ops import inout  # noqa: F401
    from gradcalc.ops import exprarray  # noqa: F401
    # a family imported on its own before (exprarray's helpers are) registered out of turn
    _registry.order_by_family([f"{__name__}.{f}" for f in FAMILIES])


_registry.COMPLETE.append(_import_the_others)
