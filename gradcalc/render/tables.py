"""Plain table data for the solve report; renderers turn these into rich, markdown or LaTeX."""
from __future__ import annotations

from dataclasses import dataclass, field

from gradcalc.render import fmt
from gradcalc.render.i18n import in_out_words, is_network, words


@dataclass
class Table:
    """A table as plain data: title, column names, rows of cell texts, note, alignment."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    kinds: list[str] = field(default_factory=list)   # per column: "text" or "num" (alignment)


def _is_number_text(text: str) -> bool:
    try:
        float(text.replace("−", "-"))
        return True
    except ValueError:
        return False


def _with_shapes(sol) -> bool:
    """An expression problem over vectors or matrices (issue 15) shows every step's shape."""
    return getattr(sol.problem, "kind", "") == "expression" and \
        any(getattr(v, "ndim", 0) for v in sol.forward.values())


def _named(sol, name: str, shaped: bool) -> str:
    """The name, with its shape (3×2, 3, scalar) in an expression over arrays."""
    if not shaped or name not in sol.forward:
        return name
    shape = getattr(sol.forward[name], "shape", ())
    return f"{name} ({'×'.join(map(str, shape)) if shape else 'scalar'})"


def forward_table(sol, lang="en", precision=4) -> Table:
    w = words(lang)
    shaped = _with_shapes(sol)
    rows = [[_named(sol, name, shaped), sol.formulas.get(name, name),
             fmt.value(v, precision, multiline=True)] for name, v in sol.forward.items()]
    return Table(w["forward"], [w["name"], w["formula"], w["value"]], rows,
                 kinds=["text", "text", "num"])


def backward_table(sol, lang="en", precision=4) -> Table:
    from gradcalc.render.matrixtext import product_cell, products, words as matrix_words
    w = words(lang)
    rows = []
    shaped = _with_shapes(sol)
    for s in sol.steps:
        locals_, downs = [], []
        for inp, g in s.downstream.items():
            text = s.local_text.get(inp, "")
            shown = fmt.value(s.local[inp], precision)
            if _is_number_text(text):   # "1", "−1": the formula is already the value
                text = ""
            locals_.append(f"∂{s.node}/∂{inp} = {text} = {shown}" if text
                           else f"∂{s.node}/∂{inp} = {shown}")
            downs.append(f"{inp}: {fmt.value(g, precision)}")
        shown = products(sol, s.node)
        if shown:     # the step's rules in matrix notation, each evaluated and checked
            downs = [product_cell(p, sol.output, precision) for p in shown]
        rows.append([_named(sol, s.node, shaped), s.formula or s.op, fmt.value(s.upstream, precision),
                     "\n".join(locals_), "\n".join(downs)])
    return Table(w["backward"], [w["node"], w["operation"], w["upstream"], w["local"],
                                 w["downstream"]], rows,
                 note=w["rule"] + ("; " + matrix_words(lang, sol)["delta"] if sol.matrix else ""),
                 kinds=["text", "text", "num", "text", "text"])


def gradient_table(sol, lang="en", precision=4) -> Table:
    w = words(lang)
    rows = [[f"∂{sol.output}/∂{name}", fmt.value(sol.gradients[name], precision, multiline=True)]
            for name in sol.leaves]
    return Table(w["gradients"], [w["name"], w["gradient"]], rows,
                 note=in_out_words(sol.problem, w["layout"]) if is_network(sol.problem) else "",
                 kinds=["text", "num"])
