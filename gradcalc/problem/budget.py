"""The memory budget: the work a problem asks for is estimated before anything is allocated.

A seven-line problem can ask for gigabytes (two layers of width 30,000; a conv2d with padding
20,000; `check --layer --shape 100000x100000`).  Each such place estimates its bytes first and
refuses above the budget, naming the layer and the size, instead of swapping the machine to a
halt or ending in a MemoryError.

The budget is `--max-memory` (gradcalc's top-level option, or GRADCALC_MAX_MEMORY), by default
DEFAULT_FRACTION of the machine's memory (or of the address-space limit, when one is set)."""
from __future__ import annotations

import os
import re

DEFAULT_FRACTION = 0.5
# what one weight entry costs on its way from YAML lists to the autograd steps: the Python
# float and its list slot at load (32), the array (8), its gradient (8), a backward step's
# local and downstream copies (16)
WEIGHT_BYTES = 64
# one activation entry of a layer (value, gradient, one step copy), float64
ACTIVATION_BYTES = 24

_chosen: list[int | None] = [None]


def machine_bytes() -> int:
    """Physical memory, or the address-space limit of this process if that is lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and 0 < soft < total:
            total = soft
    except (ImportError, ValueError, OSError):
        pass
    return int(total)


def budget() -> int:
    """The budget in bytes: the chosen one, else DEFAULT_FRACTION of the machine."""
    if _chosen[0] is not None:
        return _chosen[0]
    env = os.environ.get("GRADCALC_MAX_MEMORY")
    if env:
        try:
            return parse_size(env)
        except ValueError:
            pass            # the CLI reports a bad value; the library falls back to the default
    return int(machine_bytes() * DEFAULT_FRACTION)


def set_budget(nbytes: int | None) -> None:
    """Choose the budget (None: back to the default)."""
    _chosen[0] = None if nbytes is None else int(nbytes)


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
          "tib": 1 << 40}


def parse_size(text: str) -> int:
    """'2G', '500 MB', '1.5GiB', '4096', or '50%' (of the machine) -> bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(%|[a-zA-Z]*)\s*", str(text))
    if not m:
        raise ValueError(f"expected a size such as 2G, 500M or 50%, got '{text}'")
    number, unit = float(m.group(1)), m.group(2).lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise ValueError(f"a percentage of the machine's memory must be in (0, 100], got {text}")
        return int(machine_bytes() * number / 100)
    if unit not in _UNITS:
        raise ValueError(f"unknown unit '{m.group(2)}' in '{text}' (use K, M, G or T)")
    value = int(number * _UNITS[unit])
    if value <= 0:
        raise ValueError(f"expected a positive size, got '{text}'")
    return value


def human(nbytes: float) -> str:
    """1.2 GiB, 340 MiB, 12 KiB."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def over(nbytes: float) -> str | None:
    """None within the budget, else the end of a refusal: 'needs about X, over the memory
    budget of Y (--max-memory)'."""
    limit = budget()
    if nbytes <= limit:
        return None
    return (f"needs about {human(nbytes)}, over the memory budget of {human(limit)} "
            "(raise it with gradcalc --max-memory SIZE)")
