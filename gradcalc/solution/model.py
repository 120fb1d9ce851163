"""The result of solving a problem: forward values, gradients, backward steps and the optional parts."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from gradcalc.records import init

if TYPE_CHECKING:     # annotations only: the layers above fill these parts in
    from gradcalc.compare.methods import CheckReport
    from gradcalc.solution.diagnostics import Bptt
    from gradcalc.solution.matrixforms import MatrixReport
    from gradcalc.train.optim import UpdateReport


def to_json_value(value: Any) -> Any:
    """float64 arrays -> numbers / nested lists (scalars as numbers, shapes kept)."""
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) is float for v in value):      # numbers already (a gradient's row)
            return list(value)
        return [to_json_value(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
        if a.dtype.kind in "iub":
            return a.tolist()
        return float(a) if a.ndim == 0 else a.astype(float).tolist()
    if isinstance(value, float):
        return float(value)
    return value


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class RnnDiagnostics:
    """Vanishing/exploding gradients of the rnn layers (gradcalc.solution.diagnostics)."""

    __init__ = init

    summaries: list[dict]          # per rnn layer, JSON-ready: norms per step, ratio, verdict
    bptt: dict[int, Bptt]          # layer index -> the arrays of its BPTT table


class Comparison:
    """The independent derivations beside autograd, as `solve --method …` carries them.

    `methods` (JSON: method -> parameter -> gradient, null where not computed) and `formulas`
    (JSON: SymPy's formulas in LaTeX, None when SymPy did not run) may be given as functions
    that make them: they are called when first read (the text report reads neither; for the
    200×20 least-squares solve they cost ≈ 10 ms)."""

    def __init__(self, report: CheckReport, methods: dict | Callable[[], dict], agreement: dict,
                 formulas: dict | Callable[[], dict | None] | None = None,
                 exact: dict | None = None):
        self.report = report            # the whole comparison (its tables, the LaTeX derivation)
        self.agreement = agreement      # JSON: CheckReport.agreement()
        self.exact = exact              # JSON: exact gradients as text (--exact)
        self._made = {"methods": methods, "formulas": formulas}

    def _get(self, key: str):
        value = self._made[key]
        if callable(value):
            value = self._made[key] = value()
        return value

    methods = property(lambda self: self._get("methods"))
    formulas = property(lambda self: self._get("formulas"))


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class Solution:
    """What `gradcalc.solve` returns.  `forward` and `gradients` map names to float64 arrays;
    `steps` are the autograd backward steps in reverse topological order.  The optional parts
    are filled by the stages of `gradcalc.solve` that apply to the problem."""

    __init__ = init

    problem: Any
    forward: dict[str, np.ndarray]
    formulas: dict[str, str]
    gradients: dict[str, np.ndarray]
    steps: list
    output: str                      # "L", "y" or the last expression step
    leaves: list[str]                # differentiated inputs: x, W1, b1, … or the variables
    diagnostics: RnnDiagnostics | None = None      # networks with rnn layers
    update: UpdateReport | None = None              # an optimizer section: the SGD step(s)
    comparison: Comparison | None = None            # method "symbolic", "numeric" or "all"
    plots: list[dict] = field(default_factory=list)  # extra charts for the HTML report
    matrix: MatrixReport | None = None              # the steps and gradients in matrix notation

    @property
    def title(self) -> str:
        return self.problem.title

    def gradient(self, name: str) -> np.ndarray:
        return self.gradients[name]

    def json_extras(self) -> dict[str, Any]:
        """The optional parts as the JSON contract names them, in the order they are made."""
        out: dict[str, Any] = {}
        if self.diagnostics is not None:
            out["diagnostics"] = {"rnn": self.diagnostics.summaries}
        if self.update is not None:
            out["update"] = self.update.to_json()
        c = self.comparison
        if c is not None:
            out["methods"] = c.methods
            out["agreement"] = c.agreement
            if c.formulas is not None:
                out["formulas"] = c.formulas
            if c.exact is not None:
                out["exact"] = c.exact
        if self.plots:
            out["plots"] = self.plots
        if self.matrix is not None:
            out["matrix_forms"] = self.matrix.to_json()
        return out

    @property
    def extras(self) -> Mapping[str, Any]:
        """Read-only view of `json_extras()` (the name of session 1's API; set the fields)."""
        return MappingProxyType(self.json_extras())

    def to_dict(self) -> dict:
        """The JSON contract of `gradcalc solve --format json`."""
        out = {
            "title": self.title,
            "output": self.output,
            "forward": to_json_value(self.forward),
            "gradients": to_json_value(self.gradients),
            "steps": [self._step_json(s) for s in self.steps],
        }
        for key, value in self.json_extras().items():
            out[key] = to_json_value(value)
        return out

    @staticmethod
    def _step_json(s) -> dict:
        from gradcalc.solution.stepjson import step_downstream
        downstream, slices = step_downstream(s.downstream, to_json_value)
        out = {"node": s.node, "op": s.op, "value": to_json_value(s.value),
               "upstream": to_json_value(s.upstream), "local": to_json_value(s.local),
               "downstream": downstream}
        if slices:       # a large gradient zero outside these slices (gradcalc.solution.stepjson)
            out["downstream_slices"] = slices
        return out

    def _repr_markdown_(self) -> str:   # Jupyter
        from gradcalc.render.markdown import solution_markdown
        return solution_markdown(self)

    def __repr__(self) -> str:
        return f"<Solution {self.title!r}: {self.output} = {self.forward[self.output]!r}>"
