"""The JSON contract of `gradcalc solve --format json`."""
from __future__ import annotations

import json

from ..solution import to_json_value


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


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False)
