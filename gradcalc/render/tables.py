"""Plain table data for the solve report; renderers turn these into rich, markdown or LaTeX."""
from __future__ import annotations

from dataclasses import dataclass, field

from gradcalc.render import fmt
from gradcalc.render.i18n import in_out_words, is_network, words


@dataclass
class Table:
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


def forward_table(sol, lang="en", precision=4) -> Table:
    w = words(lang)
    rows = [[name, sol.formulas.get(name, name), fmt.value(v, precision, multiline=True)]
            for name, v in sol.forward.items()]
    return Table(w["forward"], [w["name"], w["formula"], w["value"]], rows,
                 kinds=["text", "text", "num"])


def backward_table(sol, lang="en", precision=4) -> Table:
    from gradcalc.render.matrixtext import product_cell, products, words as matrix_words
    w = words(lang)
    rows = []
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
        rows.append([s.node, s.formula or s.op, fmt.value(s.upstream, precision),
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
