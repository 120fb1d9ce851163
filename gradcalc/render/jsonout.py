"""JSON text for machines: non-finite numbers as null, UTF-8 kept (the dicts come from to_dict/to_json)."""
from __future__ import annotations

import json
import math


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
    try:        # the common case, every number finite: no walk (json refuses nan and inf)
        return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(obj), ensure_ascii=False, indent=2, allow_nan=False)
