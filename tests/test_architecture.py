"""The package layout, kept true with `ast`: layers, no import circles, small modules with docstrings.

The data flows problem file -> problem -> graph -> the three derivations -> solution ->
compare / train -> api -> grading -> variants -> render -> cli.  A module may import its own
layer and the layers below it, never a layer above (lazy imports inside functions count too);
the three derivations never import one another; nothing imports in a circle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gradcalc"

# lowest first; a module belongs to the longest prefix listed
LAYERS = [
    ("gradcalc.errors", "gradcalc.version", "gradcalc.csvsafe", "gradcalc.records",
     "gradcalc.completing"),
    ("gradcalc.fileio",),
    ("gradcalc.ops",),
    ("gradcalc.problem",),
    ("gradcalc.graph",),
    ("gradcalc.derive",),
    ("gradcalc.solution",),
    ("gradcalc.compare", "gradcalc.train"),
    ("gradcalc.api",),
    ("gradcalc.grading",),
    ("gradcalc.variants",),
    ("gradcalc.render",),
    ("gradcalc.cli",),
    ("gradcalc.__main__", "gradcalc"),      # the package itself: the lazy Python API
]
# the three derivations: each may import only itself (and the layers below derive/)
DERIVATIONS = ("gradcalc.derive.autograd", "gradcalc.derive.symbolic", "gradcalc.derive.numeric")
# the one upward import, and why it is not a layering fault
ALLOWED_UPWARD = {
    ("gradcalc.solution.model", "gradcalc.render.markdown"):
        "Jupyter's _repr_markdown_ hook: imported only when a notebook displays a Solution",
}
# modules longer than MAX_LINES that are one table of data (the reason is the exemption)
MAX_LINES = 420
LONG_TABLES: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree) -> set[int]:
    """Lines inside `if TYPE_CHECKING:` blocks (annotations only; nothing is imported at run time)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, sub.end_lineno + 1))
    return lines


def imports_of(source: str, name: str, is_package: bool, modules) -> list[tuple[str, int]]:
    """(imported gradcalc module, line) for every import in `source`, module level or not;
    `from pkg import mod` names the module mod, `from mod import f` names mod."""
    tree = ast.parse(source)
    skip = _type_checking_lines(tree)
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here[:len(here) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            if t == "gradcalc" or t.startswith("gradcalc."):
                while t not in modules and "." in t:   # `import gradcalc.x.y` of a name
                    t = t.rsplit(".", 1)[0]
                out.append((t, node.lineno))
    return out


def layer_of(name: str) -> int:
    best, rank = -1, None
    for r, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), r
    assert rank is not None, f"{name} is in no layer: add it to LAYERS"
    return rank


def unit_of(name: str) -> str:
    """The package that owns a module within its layer (siblings of a layer are independent)."""
    for prefixes in LAYERS:
        for p in sorted(prefixes, key=len, reverse=True):
            if name == p or name.startswith(p + "."):
                return p
    return name


def graph() -> dict[str, list[tuple[str, int]]]:
    mods = all_modules()
    return {name: imports_of(path.read_text(encoding="utf-8"), name,
                             path.name == "__init__.py", mods)
            for name, path in mods.items()}


def layering_faults(edges) -> list[str]:
    faults = []
    for src, targets in edges.items():
        for dst, line in targets:
            if dst == src or (src, dst) in ALLOWED_UPWARD:
                continue
            where = f"{src}:{line} imports {dst}"
            a, b = layer_of(src), layer_of(dst)
            if b > a:
                faults.append(f"{where}: an upward import")
            elif b == a and unit_of(src) != unit_of(dst):
                faults.append(f"{where}: siblings of one layer must not import each other")
            for d in DERIVATIONS:
                other = [e for e in DERIVATIONS if e != d]
                if (src == d or src.startswith(d + ".")) and any(
                        dst == o or dst.startswith(o + ".") for o in other):
                    faults.append(f"{where}: the three derivations never import one another")
    return faults


def cycles(edges) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    succ = {s: sorted({d for d, _ in ts if d != s and d in edges}) for s, ts in edges.items()}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in succ:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


# ---------------------------------------------------------------- the rules
def test_every_module_has_a_layer():
    for name in all_modules():
        layer_of(name)


def test_imports_flow_one_way():
    assert layering_faults(graph()) == []


def test_no_import_circles():
    edges = graph()
    for name in list(edges):     # the listed exception is a hook, not a dependency
        edges[name] = [(d, line) for d, line in edges[name] if (name, d) not in ALLOWED_UPWARD]
    assert cycles(edges) == []


def test_modules_are_small_and_say_what_they_are_for():
    faults = []
    for name, path in all_modules().items():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        if n > MAX_LINES and name not in LONG_TABLES:
            faults.append(f"{name}: {n} lines (more than {MAX_LINES}: split it by concern)")
        doc = ast.get_docstring(ast.parse(text))
        if not doc:
            faults.append(f"{name}: no module docstring")
    assert faults == []


# ---------------------------------------------------------------- the scanners can fail
def test_an_upward_import_is_caught():
    mods = {"gradcalc.ops": None, "gradcalc.render.fmt": None, "gradcalc.derive.numeric": None,
            "gradcalc.derive.autograd": None, "gradcalc.compare.methods": None,
            "gradcalc.train.loop": None}
    up = imports_of("def f():\n    from gradcalc.render import fmt\n", "gradcalc.ops", True, mods)
    assert up == [("gradcalc.render.fmt", 2)]
    assert layering_faults({"gradcalc.ops": up}) == [
        "gradcalc.ops:2 imports gradcalc.render.fmt: an upward import"]
    across = imports_of("from gradcalc.derive import autograd\n", "gradcalc.derive.numeric",
                        False, mods)
    assert layering_faults({"gradcalc.derive.numeric": across}) == [
        "gradcalc.derive.numeric:1 imports gradcalc.derive.autograd: "
        "the three derivations never import one another"]
    sibling = imports_of("from gradcalc.train.loop import train\n", "gradcalc.compare.methods",
                         False, mods)
    assert layering_faults({"gradcalc.compare.methods": sibling}) == [
        "gradcalc.compare.methods:1 imports gradcalc.train.loop: "
        "siblings of one layer must not import each other"]


def test_type_checking_imports_are_not_run_time_imports():
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gradcalc.render import fmt\n"
    assert imports_of(src, "gradcalc.ops", True, {"gradcalc.render.fmt": None}) == []


@pytest.mark.parametrize("edges, expected", [
    ({"a": [("b", 1)], "b": [("c", 1)], "c": [("a", 1)]}, [["a", "b", "c"]]),
    ({"a": [("b", 1)], "b": [("c", 1)], "c": []}, []),
    ({"a": [("b", 1)], "b": [("a", 1)], "c": [("c", 1)]}, [["a", "b"]]),
])
def test_the_circle_finder_finds_circles(edges, expected):
    assert cycles(edges) == expected
