"""The JSON contract of `gradcalc solve --format json`."""
from __future__ import annotations

import json
import math

from gradcalc.solution.model import to_json_value


def solution_dict(sol) -> dict:
    out = {
        "title": sol.title,
        "output": sol.output,
        "forward": to_json_value(sol.forward),
        "gradients": to_json_value(sol.gradients),
        "steps": [
            {"node": s.node, "op": s.op, "value": to_json_value(s.value),
             "upstream": to_json_value(s.upstream), "local": to_json_value(s.local),
             "downstream": to_json_value(s.downstream)}
            for s in sol.steps
        ],
    }
    for key, value in sol.extras.items():
        if not key.startswith("table_"):
            out[key] = to_json_value(value)
    return out


def _finite(obj):
    """JSON has no NaN or infinity: a number that is not finite (an undefined derivative,
    such as ∂(a^b)/∂b for a < 0) is written as null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj) -> str:
    return json.dumps(_finite(obj), ensure_ascii=False, indent=2, allow_nan=False)
