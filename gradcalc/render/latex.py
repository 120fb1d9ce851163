"""A derivation as LaTeX (article + amsmath) or as markdown with $…$ math.

Forward equations with the numbers substituted, every backward step as upstream × local =
downstream with numbers, SymPy's local derivatives and closed forms when they were computed, and
the final gradients (with exact values in --exact mode)."""
from __future__ import annotations

import re

import numpy as np

from gradcalc.render import fmt

MAX_SHOWN = 8           # larger arrays are shown by their shape only

_CHARS = {"·": r"\cdot ", "σ": r"\sigma ", "Σ": r"\sum ", "−": "-", "²": "^{2}", "ᵀ": r"^{\top}",
          "≠": r"\neq ", "λ": r"\lambda ", "‖": r"\|", "×": r"\times ", "÷": r"\div ",
          "⋆": r"\star ", "∗": r"\ast ", "…": r"\dots ", "α": r"\alpha ", "√": r"\surd ",
          "⊙": r"\odot ", "∂": r"\partial ", "≤": r"\le ", "≥": r"\ge ", "→": r"\to ",
          "{": r"{", "}": r"}", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "~": r"\sim ",
          "^": "^", "_": r"\_", "\\": r"\backslash "}
_FUNCS = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos", "tanh": r"\tanh",
          "max": r"\max", "min": r"\min", "sqrt": r"\operatorname{sqrt}",
          "relu": r"\operatorname{relu}", "abs": r"\operatorname{abs}",
          "softmax": r"\operatorname{softmax}", "sigmoid": r"\sigma",
          "leaky_relu": r"\operatorname{leaky\_relu}", "onehot": r"\operatorname{onehot}",
          "sign": r"\operatorname{sign}", "diag": r"\operatorname{diag}"}
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\s+|.", re.S)


def _network(sol) -> bool:
    return getattr(sol.problem, "kind", "") == "network"


def name_latex(name: str, network: bool = True) -> str:
    from gradcalc.derive.symbolic.names import latex_name
    return latex_name(name, (), network)


def number(x: float, precision: int = 4) -> str:
    text = fmt.num(x, precision)
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant}\times 10^{{{int(exp)}}}"
    return text


def array(v, precision: int = 4, row: bool = False) -> str:
    """A scalar, a column vector (a row with `row`) or a matrix as bmatrix (large arrays by
    their shape)."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return number(a, precision)
    if a.ndim > 2 or max(a.shape) > MAX_SHOWN:
        return r"\text{(" + r"$\times$".join(map(str, a.shape)) + " array)}"
    rows = (a.reshape(1, -1) if row else a.reshape(-1, 1)) if a.ndim == 1 else a
    body = r" \\ ".join(" & ".join(number(x, precision) for x in row) for row in rows)
    return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


def formula(text: str, names: dict[str, str]) -> str:
    """A formula of the tables (W1·x + b1, σ(z1), scale·Σ(y − t)²) as LaTeX; `names` maps the
    problem's names to their LaTeX (or to numbers, for "with numbers substituted")."""
    out = []
    prev_text = False
    for tok in _TOKEN.findall(text):
        if tok.isspace():
            out.append(" ")
            continue
        is_text = False
        if tok in names:
            piece = names[tok]
            if "^" in piece or piece.startswith("\\begin"):
                piece = "{" + piece + "}"        # W^{(1)}ᵀ needs braces: {W^{(1)}}^{\top}
        elif tok in _FUNCS:
            piece = _FUNCS[tok]
        elif re.fullmatch(r"[A-Za-z]", tok) or re.fullmatch(r"\d.*", tok):
            piece = tok
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            piece, is_text = r"\text{" + tok.replace("_", r"\_") + "}", True
        elif tok in _CHARS:
            piece = _CHARS[tok]
        elif ord(tok) < 128:
            piece = tok
        else:
            piece = r"\ast "          # a symbol standard LaTeX has no glyph for
        if is_text and prev_text and out and out[-1] == " ":
            out[-1] = r"\ "                      # words in \text{} keep their spaces
        out.append(piece)
        prev_text = is_text
    return "".join(out).strip()


class _Doc:
    """Sections of display equations, rendered as LaTeX or as markdown."""

    def __init__(self):
        self.parts: list[tuple[str, object]] = []

    def section(self, title):
        self.parts.append(("section", title))

    def text(self, t, latex: str | None = None):
        """Plain text; `latex` is a ready LaTeX version when the text has math in it."""
        self.parts.append(("text", (t, latex)))

    def equations(self, lines):
        if lines:
            self.parts.append(("eq", list(lines)))

    def latex(self, title: str) -> str:
        out = [r"\documentclass{article}", r"\usepackage{amsmath}",
               r"\setcounter{MaxMatrixCols}{20}",
               r"\allowdisplaybreaks", r"\begin{document}",
               r"\section*{" + _escape(title) + "}"]
        for kind, body in self.parts:
            if kind == "section":
                out.append(r"\subsection*{" + _escape(body) + "}")
            elif kind == "text":
                out.append((body[1] if body[1] is not None else _escape(body[0])) + "\n")
            else:
                out.append(r"\begin{align*}")
                out.append(" \\\\\n".join(body))
                out.append(r"\end{align*}")
        out.append(r"\end{document}")
        return "\n".join(out) + "\n"

    def markdown(self, title: str) -> str:
        out = [f"## {title}", ""]
        for kind, body in self.parts:
            if kind == "section":
                out += [f"### {body}", ""]
            elif kind == "text":
                out += [body[0], ""]
            else:
                out += ["$$", r"\begin{aligned}", " \\\\\n".join(body), r"\end{aligned}", "$$",
                        ""]
        return "\n".join(out)


def _escape(text: str) -> str:
    text = str(text)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                 ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\~{}"),
                 ("^", r"\^{}")):
        text = text.replace(a, b)
    # characters outside what a standard LaTeX font has become their plain meaning
    for a, b in (("·", "$\\cdot$"), ("−", "-"), ("σ", "$\\sigma$"), ("Σ", "$\\Sigma$"),
                 ("²", "$^2$"), ("ᵀ", "$^\\top$"), ("×", "$\\times$"), ("λ", "$\\lambda$"),
                 ("≠", "$\\neq$"), ("≤", "$\\le$"), ("✓", "(ok)"), ("—", "--"), ("…", "..."),
                 ("↔", "$\\leftrightarrow$"), ("α", "$\\alpha$"), ("‖", "$\\|$")):
        text = text.replace(a, b)
    return "".join(c if ord(c) < 128 else "?" for c in text)


def _build(sol, precision: int, lang: str = "en") -> _Doc:
    from gradcalc.render.check import words as check_words
    from gradcalc.render.i18n import in_out_words, words
    w = words(lang)
    net = _network(sol)
    doc = _Doc()
    latex_names = {n: name_latex(n, net) for n in sol.forward}
    values = {n: array(v, precision) for n, v in sol.forward.items()}
    grad_of = r"\frac{\partial %s}{\partial %s}"
    out = latex_names.get(sol.output, sol.output)

    # forward: name = formula = formula with numbers = value
    doc.section(w["forward"])
    lines = []
    leaves = set(sol.leaves)
    for name, v in sol.forward.items():
        lhs = latex_names[name]
        text = sol.formulas.get(name, name)
        if name in leaves or text == name:
            lines.append(f"{lhs} &= {values[name]}")
            continue
        sym = formula(text, latex_names)
        subst = formula(text, {n: values[n] for n in sol.forward if n != name})
        parts = [sym]
        if subst != sym and subst != values[name]:
            parts.append(subst)
        lines.append(f"{lhs} &= " + " = ".join(parts + [values[name]]))
    loss = getattr(sol.problem, "loss", None)
    if loss is not None:
        for key, val in loss.attrs.items():
            if key in ("target", "scale", "margin") and val is not None:
                sym = "t" if key == "target" else r"\mathrm{" + key + "}"
                lines.append(f"{sym} &= {array(val, precision)}")
    doc.equations(lines)

    # backward: upstream × local = downstream, per input
    doc.section(w["backward"])
    doc.text(w["rule"])
    from gradcalc.render import matrixtext
    if sol.matrix is not None:
        doc.text(matrixtext.words(lang, sol)["delta"], matrixtext.delta_latex(sol))
    lines = []
    for s in sol.steps:
        node = latex_names.get(s.node, name_latex(s.node, net))
        shown = matrixtext.products(sol, s.node)
        for p in shown:       # the step's rules in matrix notation, evaluated and checked
            lhs = grad_of % (out, latex_names.get(p.input, name_latex(p.input, net)))
            lines.append(f"{lhs} &= " + matrixtext.product_equation(
                p, lambda v: array(v, precision)))
        for inp, down in ({} if shown else s.downstream).items():
            x = latex_names.get(inp, name_latex(inp, net))
            up = np.asarray(s.upstream)
            loc = np.asarray(s.local.get(inp, np.nan))
            elementwise = up.shape == loc.shape == np.shape(down) and up.ndim > 0
            op = r"\odot" if elementwise else r"\cdot"
            local_text = s.local_text.get(inp, "")
            local_sym = formula(local_text, latex_names) if local_text else \
                grad_of % (node, x)
            lines.append(
                f"{grad_of % (out, x)} &= \\underbrace{{{grad_of % (out, node)}}}"
                f"_{{\\text{{upstream}}}} {op} \\underbrace{{{local_sym}}}_{{\\text{{local}}}}"
                f" = {array(up, precision)} {op} "
                f"{array(loc, precision, row=local_text.endswith('ᵀ'))} = "
                f"{array(down, precision)}")
    doc.equations(lines)

    rep = sol.comparison.report if sol.comparison is not None else None
    if rep is not None and rep.symbolic is not None:
        F = rep.symbolic.formulas()
        doc.section(check_words(lang)["local"])
        from gradcalc.derive.symbolic.formulas import LAYOUT_LATEX
        from gradcalc.render.i18n import layout_note
        if layout_note(sol.problem, lang, F.layout):   # none for a scalar expression
            doc.text(layout_note(sol.problem, lang, F.layout), LAYOUT_LATEX)
        doc.equations([_align(f.latex) for f in F.local])
        doc.section(check_words(lang)["closed"])
        if F.note:
            from gradcalc.render.i18n import zh_text
            doc.text(zh_text(F.note) if lang == "zh" else F.note)
        doc.equations([_align(f.latex) for f in (F.gradients or []) + F.definitions])

    if sol.matrix is not None and sol.matrix.forms:
        mw = matrixtext.words(lang, sol)
        doc.section(mw["title"])
        doc.text(mw["note"])
        doc.equations([_align(f.latex) + matrixtext.form_check_latex(f)
                       for f in sol.matrix.forms.values()])

    doc.section(w["gradients"])
    if net:
        doc.text(in_out_words(sol.problem, w["layout"]))
    lines = []
    exact = rep.symbolic.exact_gradients if rep is not None and rep.symbolic is not None \
        and rep.symbolic.exact else {}
    for name in sol.leaves:
        g = sol.gradients[name]
        line = f"{grad_of % (out, name_latex(name, net))} &= {array(g, precision)}"
        if name in exact:
            line += " = " + _exact_array(exact[name], net)
        lines.append(line)
    doc.equations(lines)
    if rep is not None:
        from gradcalc.render.check import agreement_line
        doc.text(agreement_line(rep, lang))
    return doc


def _align(latex: str) -> str:
    """Put the alignment point at the first '=' outside braces."""
    depth = 0
    for i, c in enumerate(latex):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "=" and depth == 0:
            return latex[:i] + "&" + latex[i:]
    return "&" + latex


def _exact_array(vals, network: bool) -> str:
    from gradcalc.derive.symbolic.printing import exact_text
    a = np.asarray(vals, dtype=object)
    if a.ndim == 0:
        return exact_text(a[()], network)[1]
    if max(a.shape) > MAX_SHOWN or a.ndim > 2:
        return r"\text{(exact values: see JSON)}"
    rows = a.reshape(-1, 1) if a.ndim == 1 else a
    body = r" \\ ".join(" & ".join(exact_text(e, network)[1] for e in row) for row in rows)
    return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


def latex_document(sol, precision: int = 4) -> str:
    """A complete LaTeX document (article, amsmath) with the derivation."""
    return _build(sol, precision, "en").latex(sol.title)


def derivation_markdown(sol, precision: int = 4, lang: str = "en") -> str:
    """The same derivation as markdown with $$…$$ math blocks."""
    text = _build(sol, precision, lang).markdown(sol.title)
    if lang == "zh":     # the words inside the formulas too: \text{(other entries 0)} …
        from gradcalc.render.i18n import zh_latex
        text = zh_latex(text)
    return text
