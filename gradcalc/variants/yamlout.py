"""A variant as YAML: flow-style number lists, short floats, header comments."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gradcalc.variants.maker import Variant
from gradcalc.variants.template import Template


def _yaml_dumper():
    """A safe dumper (libyaml's when present) with flow-style number lists and short floats."""
    import yaml
    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):
        pass

    def rep_list(dumper, data):
        flow = all(not isinstance(v, (dict, list)) for v in data) or \
            all(isinstance(v, list) and all(not isinstance(t, (dict, list)) for t in v) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def rep_float(dumper, value):
        # the shortest round-trip text (0.3, not 0.30000000000000004); an exponent keeps a dot
        # so YAML 1.1 readers see a float
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            text = {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}[text]
        elif "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)

    Dumper.add_representer(list, rep_list)
    Dumper.add_representer(float, rep_float)
    return Dumper


_DUMPER = None


def _dump(data: dict) -> str:
    import yaml
    global _DUMPER
    if _DUMPER is None:
        _DUMPER = _yaml_dumper()
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def variant_yaml(variant: Variant, template: Template | None = None, cache: dict | None = None) -> str:
    """The concrete problem as YAML: flow-style number lists, readable floats.

    With a `cache` (one dict per template), the top-level sections without random numbers
    (title, grading …) are dumped once: a block mapping is the concatenation of its keys."""
    head = []
    if template is not None and template.is_random:
        head.append(f"# Variant of {Path(template.file).name} for student {variant.student} "
                    f"(seed {template.options.seed!r}, draw {variant.draws})")
        if variant.rejections:
            head.append("# redrawn: " + ", ".join(f"{c} ×{n}" for c, n in variant.rejections.items()))
    if cache is None or template is None:
        body = _dump(_plain(variant.data))
    else:
        random_keys = {spec.path[0] for spec in template.specs}
        parts = []
        for key, value in variant.data.items():
            if key in random_keys:
                parts.append(_dump({key: _plain(value)}))
            else:
                if key not in cache:
                    cache[key] = _dump({key: _plain(value)})
                parts.append(cache[key])
        body = "".join(parts)
    return "\n".join(head + [body.rstrip("\n")]) + "\n"


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v

