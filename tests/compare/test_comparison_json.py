"""The comparison's JSON parts (methods' gradients, SymPy's formulas) are made when first read,
once, and the gradients' JSON keeps shapes and writes an entry not computed (nan) as null."""
import math
from pathlib import Path

import numpy as np

from gradcalc.api import solve
from gradcalc.compare.methods import json_grads
from gradcalc.solution.model import Comparison

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"


def test_json_grads_keeps_shapes_and_writes_nan_as_null():
    out = json_grads({"W": np.array([[1.5, -2.0], [0.25, 3.0]]), "b": np.array([np.nan, 2.0]),
                      "s": np.float64(0.5)})
    assert out == {"W": [[1.5, -2.0], [0.25, 3.0]], "b": [None, 2.0], "s": 0.5}
    assert all(type(x) is float for row in out["W"] for x in row)


def test_the_parts_are_made_when_first_read_and_once():
    calls = []

    def make():
        calls.append(1)
        return {"autograd": {"x": 1.0}}

    comp = Comparison(None, make, {"ok": True})
    assert calls == [] and comp.formulas is None
    assert comp.methods == {"autograd": {"x": 1.0}} and comp.methods is comp.methods
    assert calls == [1]


def test_a_solve_carries_the_same_json_as_before():
    """Read lazily, the parts equal what the report holds: every method's gradients as lists,
    SymPy's formulas with their LaTeX."""
    sol = solve(PROBLEMS / "hw1.yaml", "all")
    rep = sol.comparison.report
    for method, grads in rep.methods.items():
        for name, g in grads.items():
            got = np.asarray(sol.comparison.methods[method][name], dtype=float)
            np.testing.assert_array_equal(got, np.asarray(g, dtype=float))
    f = sol.comparison.formulas
    assert isinstance(f, dict) and f["local"] and all("latex" in d for d in f["local"])
    assert not math.isnan(sol.to_dict()["methods"]["numeric"]["W1"][0][0])
