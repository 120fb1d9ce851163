"""The result of solving a problem: forward values, gradients, backward steps, and extras."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def to_json_value(value: Any) -> Any:
    """float64 arrays -> numbers / nested lists (scalars as numbers, shapes kept)."""
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
        if a.dtype.kind in "iub":
            return a.tolist()
        return float(a) if a.ndim == 0 else a.astype(float).tolist()
    if isinstance(value, float):
        return float(value)
    return value


@dataclass
class Solution:
    """What `gradcalc.solve` returns.  `forward` and `gradients` map names to float64 arrays;
    `steps` are the autograd backward steps in reverse topological order."""

    problem: Any
    forward: dict[str, np.ndarray]
    formulas: dict[str, str]
    gradients: dict[str, np.ndarray]
    steps: list
    output: str                      # "L", "y" or the last expression step
    leaves: list[str]                # differentiated inputs: x, W1, b1, … or the variables
    extras: dict[str, Any] = field(default_factory=dict)   # methods, agreement, update, …

    @property
    def title(self) -> str:
        return self.problem.title

    def gradient(self, name: str) -> np.ndarray:
        return self.gradients[name]

    def to_dict(self) -> dict:
        """The JSON contract of `gradcalc solve --format json`."""
        from gradcalc.render.jsonout import solution_dict
        return solution_dict(self)

    def _repr_markdown_(self) -> str:   # Jupyter
        from gradcalc.render.markdown import solution_markdown
        return solution_markdown(self)

    def __repr__(self) -> str:
        return f"<Solution {self.title!r}: {self.output} = {self.forward[self.output]!r}>"
