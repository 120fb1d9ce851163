"""JSON text: a number that is not finite is written as null wherever it sits (JSON has no
NaN), every other value as json.dumps writes it."""
import json
import math

import numpy as np

from gradcalc.render.jsonout import dumps


def test_finite_values_are_written_as_json_writes_them():
    obj = {"a": [1.5, -2.0, [0.25, 3]], "b": (1, 2), "c": "∂L/∂w", "d": np.float64(0.1)}
    assert dumps(obj) == json.dumps(obj, ensure_ascii=False, indent=2)


def test_nan_and_inf_become_null_at_any_depth():
    obj = {"a": [1.0, math.nan, [math.inf, 2.0]], "b": {"c": -math.inf}, "d": np.float64("nan")}
    assert json.loads(dumps(obj)) == {"a": [1.0, None, [None, 2.0]], "b": {"c": None}, "d": None}
