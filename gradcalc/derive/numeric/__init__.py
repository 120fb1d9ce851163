"""Central finite differences from forward evaluations only; the step-size policy lives here.

    policy   the step-size policy (DEFAULT_H, step): the only place it is decided
    tape     a forward-only tape: a perturbed leaf re-runs only the operations after it
    chain    many perturbations through one stacked forward of the row-wise operations
    kinks    entries whose difference crosses (or sits on) a kink, or leaves the domain
    central  run: the central differences of every entry (or a sample), Richardson, a direction
    generic  gradient_of: central differences of any f() (the layer check)

This package never imports autograd or symbolic and never calls a VJP.
"""
from gradcalc.derive.numeric.central import DirectionCheck, NumericResult, run
from gradcalc.derive.numeric.generic import gradient_of
from gradcalc.derive.numeric.kinks import Kink
from gradcalc.derive.numeric.policy import DEFAULT_H, step

__all__ = ["DEFAULT_H", "DirectionCheck", "Kink", "NumericResult", "gradient_of", "run", "step"]
