"""`gradcalc train --sweep`: reading KEY=V1,V2,… and the problem with one key set."""
from __future__ import annotations

import copy
import re

from gradcalc.errors import ProblemError, UsageError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\[\d+\]")


def parse_key(key: str) -> tuple:
    """'layers[0].width' -> ('layers', 0, 'width')."""
    parts: list = []
    text = key.strip()
    pos = 0
    while pos < len(text):
        if parts and text[pos] == ".":
            pos += 1
        m = _KEY.match(text, pos)
        if not m:
            raise UsageError(f"--sweep: cannot read the key '{key}' (write e.g. layers[0].width "
                             f"or regularization.l2)")
        tok = m.group(0)
        parts.append(int(tok[1:-1]) if tok.startswith("[") else tok)
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise UsageError(f"--sweep: cannot read the key '{key}'")
    return tuple(parts)


def parse_sweep(text: str) -> tuple[str, tuple, list]:
    """'layers[0].width=3,6,20' -> (key text, path, [3, 6, 20]); values are read as YAML scalars."""
    from gradcalc.problem.yamlio import load_yaml_text
    if "=" not in text:
        raise UsageError(f"--sweep: expected KEY=V1,V2,… (e.g. layers[0].width=3,6,20), got '{text}'")
    key, _, vals = text.partition("=")
    path = parse_key(key)
    values = []
    for v in vals.split(","):
        v = v.strip()
        if not v:
            raise UsageError(f"--sweep: empty value in '{text}'")
        try:
            values.append(load_yaml_text(v, "--sweep").data)
        except ProblemError as e:
            raise UsageError(f"--sweep: cannot read the value '{v}': {e.message}") from None
    if len(values) > 12:
        raise UsageError(f"--sweep: at most 12 values, got {len(values)}")
    return key.strip(), path, values


def set_path(doc: dict, path: tuple, value, key_text: str) -> None:
    node = doc
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise UsageError(f"--sweep: {key_text}: there is no item [{part}]")
            if not isinstance(node[part], (dict, list)):
                raise UsageError(f"--sweep: {key_text}: item [{part}] is not a section")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise UsageError(f"--sweep: {key_text}: '{part}' is not inside a mapping")
            if part not in node or node[part] is None:
                if isinstance(nxt, int):
                    raise UsageError(f"--sweep: {key_text}: the problem has no '{part}' list")
                node[part] = {}
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise UsageError(f"--sweep: {key_text}: there is no item [{last}]")
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise UsageError(f"--sweep: {key_text}: '{last}' is not inside a mapping")
        node[last] = value
        # a new width replaces explicit weights of that layer
        if last == "width" and len(path) >= 2 and path[0] == "layers":
            node.pop("W", None)
            node.pop("b", None)


def variant(problem, path: tuple, value, key_text: str):
    """The problem re-read from its source document with one key set to `value`."""
    from gradcalc.problem.load import problem_from_located
    from gradcalc.problem.yamlio import Located
    src = problem.source
    doc = copy.deepcopy(src.data)
    set_path(doc, path, value, key_text)
    try:
        return problem_from_located(Located(doc, src.file, src.lines))
    except ProblemError as e:
        e.message = f"with --sweep {key_text}={value}: {e.message}"
        raise

