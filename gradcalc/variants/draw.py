"""Stable randomness: student ids, per-student generators, drawing and filling in the values."""
from __future__ import annotations

import hashlib
import math
import unicodedata
from typing import Any

import numpy as np

from gradcalc.variants.template import Spec, Template


def normalize_id(student) -> str:
    """Student ids are compared as NFC text without surrounding spaces."""
    return unicodedata.normalize("NFC", str(student)).strip()


def student_rng(seed: str, student: str, draw: int) -> np.random.Generator:
    """The generator of one draw: a pure function of (seed, student id, draw number).

    SHA-256 is the same on every machine and run (Python's hash() of text is salted per
    process by PYTHONHASHSEED, so it must never be used here)."""
    msg = "\x00".join(("gradcalc-variant-v1", seed, normalize_id(student), str(draw)))
    digest = hashlib.sha256(msg.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


def _uniform01(rng: np.random.Generator, n: int) -> np.ndarray:
    # From the raw 64-bit PCG64 stream (a fixed algorithm): the top 53 bits as a double in
    # [0, 1).  Written out so the numbers do not depend on how a NumPy version maps
    # bits to distributions.
    raw = rng.bit_generator.random_raw(n)
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _draw_spec(spec: Spec, u: np.ndarray) -> Any:
    """The spec's value from its share `u` of the draw's uniform numbers."""
    if spec.kind == "uniform":
        a, b = spec.args
        vals = [a + (b - a) * t for t in u.tolist()]
        if spec.decimals is not None:
            # Python's round() is correctly rounded (shortest repr), so 0.3 prints as 0.3;
            # the clamp keeps a rounded value inside [a, b]; + 0.0 turns −0.0 into 0.0
            lo = math.ceil(a * 10 ** spec.decimals - 1e-9) / 10 ** spec.decimals
            hi = math.floor(b * 10 ** spec.decimals + 1e-9) / 10 ** spec.decimals
            vals = [round(min(max(round(v, spec.decimals), lo), hi), spec.decimals) + 0.0
                    for v in vals]
    elif spec.kind == "integers":
        a, b = spec.args
        vals = [a + min(int(t * (b - a + 1)), b - a) for t in u.tolist()]
    else:
        n = len(spec.args)
        vals = [spec.args[min(int(t * n), n - 1)] for t in u.tolist()]
    if not spec.shape:
        return vals[0]
    arr = np.empty(spec.size, dtype=object)   # object: the entries stay plain int / float
    arr[:] = vals
    return arr.reshape(spec.shape).tolist()


def _substitute(value, path: tuple, drawn: dict, prefixes: frozenset):
    """A copy of the containers on the way to a spec; every other part is shared (read-only)."""
    if path in drawn:
        return drawn[path]
    if path not in prefixes:
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, path + (k,), drawn, prefixes) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, path + (i,), drawn, prefixes) for i, v in enumerate(value)]
    return value


def draw_values(template: Template, student: str, draw: int) -> dict:
    """path -> drawn value of every spec, for one draw."""
    rng = student_rng(template.options.seed, student, draw)
    # one read of the stream for all specs, in document order (the same numbers as reading
    # each spec's share in turn)
    u = _uniform01(rng, sum(spec.size for spec in template.specs))
    drawn, start = {}, 0
    for spec in template.specs:
        drawn[spec.path] = _draw_spec(spec, u[start:start + spec.size])
        start += spec.size
    return drawn


def fill(template: Template, drawn: dict) -> dict:
    """The concrete document with the drawn values (the `variants` section removed)."""
    doc = {k: v for k, v in template.located.data.items() if k != "variants"}
    if not drawn:
        return doc
    return {k: _substitute(v, (k,), drawn, template.prefixes) for k, v in doc.items()}


def nudged_values(template: Template, drawn: dict, whole: bool) -> dict:
    """The drawn values moved by a hair (relative 1e-7, a fixed pattern): far inside every
    margin, so no branch changes, but any zero that only these numbers made moves off 0.
    Whole-number draws (labels …) are kept unless `whole`."""
    out = {}
    for i, spec in enumerate(template.specs):
        v = drawn[spec.path]
        a = np.asarray(v, dtype=float)
        if not whole and np.all(a == np.round(a)):
            out[spec.path] = v
            continue
        a = a + 1e-7 * (1.0 + np.abs(a)) * _perturbation(a.shape, i)
        out[spec.path] = a.tolist() if a.ndim else float(a)
    return out


def _perturbation(shape: tuple, k: int) -> np.ndarray:
    """A fixed pattern in [-1, 1) per leaf (PCG64 with a constant seed: the same everywhere)."""
    n = math.prod(shape)
    rng = np.random.Generator(np.random.PCG64(0x9E3779B97F4A7C15 + k))
    return (2.0 * _uniform01(rng, n) - 1.0).reshape(shape)
