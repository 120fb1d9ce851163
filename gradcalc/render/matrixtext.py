"""The backward pass in matrix notation for the write-ups: each step's products (W2ᵀ·δ, δ·xᵀ)
and each gradient's closed form (gradcalc.solution.matrixforms), as text, LaTeX and a table.

Every product shown here was evaluated from the operands it displays and compared with autograd
when the solution was made; one that did not conform or did not match is shown with ✗ and the
reason, never as if it held."""
from __future__ import annotations

from dataclasses import replace

from gradcalc.ops import matrix as mx
from gradcalc.render import fmt
from gradcalc.render.i18n import pick
from gradcalc.solution.matrixforms import TOLERANCE

WORDS = {
    "en": {
        "columns": "vectors are columns, · is a matrix product and ⊙ is elementwise; every "
                   "product was evaluated from its operands and equals autograd.",
        "title": "Gradients in matrix notation (composed along the graph, checked)",
        "form": "matrix form", "check": "max rel. error vs autograd",
        "ok": "✓ {err}", "bad": "✗ {why}",
        "zero": "✓ 0 up to rounding (|error| ≤ 1e-14)",
        "note": "Each formula was evaluated with NumPy from the forward values and compared with "
                "the autograd gradient.",
        "where": " A δ or a step shown by name is defined after 'where' (a δ by its recursion; "
                 "evaluated too).",
        "where_word": "; where ",
        "mismatch": "does not equal the autograd gradient (max rel. error {err})",
        "cut": " … (cut; see --format json)",
    },
    "zh": {
        "columns": "向量为列向量，· 为矩阵乘法，⊙ 为逐元素乘法；每个乘积都已由其操作数计算，"
                   "并与自动微分一致。",
        "title": "矩阵形式的梯度（沿计算图复合，已核对）",
        "form": "矩阵形式", "check": "与自动微分的最大相对误差",
        "ok": "✓ {err}", "bad": "✗ {why}",
        "zero": "✓ 舍入误差内为 0（|误差| ≤ 1e-14）",
        "note": "每个公式都用 NumPy 由前向计算的值算出，并与自动微分的梯度比较。",
        "where": "以名字出现的 δ 或步骤在“其中”之后给出定义（δ 为递推式；同样已计算核对）。",
        "where_word": "；其中 ",
        "mismatch": "与自动微分的梯度不一致（最大相对误差 {err}）",
        "cut": " …（已截断，完整公式见 --format json）",
    },
}
# the backward table's note: what δ is, then the notation ("columns")
WORDS["en"]["delta"] = "δ is the row's upstream gradient; " + WORDS["en"]["columns"]
WORDS["zh"]["delta"] = "δ 为该行的上游梯度；" + WORDS["zh"]["columns"]
# a scalar expression problem has no matrices: its notes say nothing of them
SCALAR = {
    "en": {"delta": "δ is the row's upstream gradient; every product was evaluated from its "
                    "operands and equals autograd.",
           "columns": "every product was evaluated from its operands and equals autograd.",
           "title": "Gradients composed along the graph (checked)", "form": "formula"},
    "zh": {"delta": "δ 为该行的上游梯度；每个乘积都已由其操作数计算，并与自动微分一致。",
           "columns": "每个乘积都已由其操作数计算，并与自动微分一致。",
           "title": "沿计算图复合的梯度（已核对）", "form": "公式"},
}
CLIP = 400      # characters of a closed form shown in a table cell


def delta_latex(sol) -> str:
    """The δ note of the LaTeX document (English, as the document is)."""
    if getattr(sol.problem, "kind", "") != "network":
        return (r"$\delta$ is the row's upstream gradient; every product was evaluated from its "
                r"operands and equals autograd.")
    return (r"$\delta$ is the row's upstream gradient; vectors are columns, $\cdot$ is a matrix "
            r"product and $\odot$ is elementwise; every product was evaluated from its operands "
            r"and equals autograd.")


def words(lang: str, sol=None) -> dict:
    """The words in `lang`; with `sol` a scalar expression problem's own (no matrices)."""
    w = pick(WORDS, lang)
    if sol is not None and getattr(sol.problem, "kind", "") != "network":
        w = {**w, **pick(SCALAR, lang)}
    return w


def products(sol, node: str) -> list:
    m = getattr(sol, "matrix", None)
    return m.products.get(node, []) if m is not None else []


def product_text(p, output: str, upstream: str = "δ") -> str:
    """W2ᵀ·δ: the product with the upstream gradient ∂L/∂node written `upstream`."""
    name = f"∂{output}/∂{p.node}"
    return p.term.show(replace(mx.TEXT, leaf_fn=lambda lf: upstream if lf.name == name else None))


def product_cell(p, output: str, precision: int = 4) -> str:
    """"h1: W2ᵀ·δ = [-0.05518, 0.1379]" for the backward table (✗ and the reason if it failed)."""
    head = f"{p.input}: {product_text(p, output)}"
    if p.ok:
        return f"{head} = {fmt.value(p.value, precision)}"
    return f"{head} ✗ {p.error}"


def product_latex(p, valued) -> tuple[str, str]:
    """(the product in LaTeX, the same with the operands' values), `valued(array) -> LaTeX`."""
    return p.latex(), p.latex(valued)


def product_equation(p, valued) -> str:
    """"W^{⊤}·δ = [values] = [result]" in LaTeX (or the product and why it does not hold)."""
    tex, with_values = product_latex(p, valued)
    if not p.ok:
        return tex + r"\quad\text{(mismatch: " + _plain(p.error) + ")}"
    parts = [tex] + ([with_values] if with_values != tex else [])
    result = valued(p.value)
    return " = ".join(parts + ([result] if result != with_values else []))


def form_check_latex(f) -> str:
    if f.verified and f.max_rel_error > TOLERANCE:
        return r"\quad\text{(verified: 0 up to rounding, error at most 1e-14)}"
    if f.verified:
        return rf"\quad\text{{(verified: max rel.\ error {f.max_rel_error:.1e})}}"
    return r"\quad\text{(NOT verified: " + _plain(f.error or "values differ") + ")}"


def _plain(text: str) -> str:
    """Text safe inside \text{…}: ASCII only."""
    text = "".join(c if c.isascii() and c not in "\\{}$&%#_^~" else " " for c in text)
    return " ".join(text.split())


def form_rows(sol, lang: str = "en", precision: int = 4) -> list[list[str]]:
    w = words(lang, sol)
    rows = []
    for name, f in (sol.matrix.forms.items() if getattr(sol, "matrix", None) else []):
        text = f.text if len(f.text) <= CLIP else f.text[:CLIP] + w["cut"]
        if f.verified and f.max_rel_error > TOLERANCE:     # both 0 up to rounding
            check = w["zero"]
        elif f.verified:
            check = w["ok"].format(err=f"{f.max_rel_error:.1e}")
        else:
            why = f.error or w["mismatch"].format(err=f"{f.max_rel_error:.1e}")
            check = w["bad"].format(why=why)
        if lang == "zh":
            text = text.replace("; where ", w["where_word"])
        rows.append([text, check])
    return rows


def form_note(rows, lang: str = "en") -> str:
    w = words(lang)
    return w["note"] + (w["where"] if any(w["where_word"] in r[0] for r in rows) else "")


# ---------------------------------------------------------------- HTML (MathML)
def _mathml(tex: str, text: str) -> str:
    from gradcalc.render.mathml import escape, latex_mathml    # the HTML report only
    m = latex_mathml(tex, display=False) if len(tex) < 4000 else None
    return m if m is not None else f"<code>{escape(text)}</code>"


def product_html(p, out: str, num) -> str:
    """∂L/∂x = W1ᵀ·∂L/∂z1 = value (`num(value)` is the page's number markup)."""
    from gradcalc.solution.matrixforms import tex_name
    lhs = tex_name(f"∂{out}/∂{p.input}", p.network)
    shown = _mathml(f"{lhs} = {p.latex()}", f"∂{out}/∂{p.input} = {p.term.text()}")
    if not p.ok:
        from gradcalc.render.mathml import escape
        return f"<div>{shown} <strong>✗ {escape(p.error)}</strong></div>"
    return f"<div>{shown} = {num(p.value)}</div>"


def forms_html(sol, lang: str = "en") -> tuple[list[list[str]], str] | None:
    """Rows (the form as MathML, its check) and the note of the HTML report's table."""
    from gradcalc.render.mathml import escape
    rows = form_rows(sol, lang)
    if not rows:
        return None
    return ([[_mathml(f.latex, f.text), escape(check)]
             for f, (_, check) in zip(sol.matrix.forms.values(), rows)], form_note(rows, lang))
