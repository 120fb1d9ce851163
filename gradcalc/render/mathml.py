"""MathML for the HTML report: formula text and SymPy's LaTeX as presentation MathML."""
from __future__ import annotations

import html
import re


def escape(text) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------- MathML from formula text
_TOKEN = re.compile(r"""
    (?P<words>[A-Za-z]{2,}(?:[ ][A-Za-z]{2,})+)
  | (?P<sp>\s+)
  | (?P<sub>_\{[^}]*\}|_\([^)]*\))
  | (?P<id>[A-Za-z]+[0-9]*(?:_[A-Za-z0-9]+)?)
  | (?P<num>[0-9]+(?:\.[0-9]+)?)
  | (?P<sup>[²³ᵀ])
  | (?P<greek>[α-ωΑ-Ω])
  | (?P<op>[-+−·×÷/()\[\]{},=<>≤≥≠‖|∂∑Σ;:!•])
  | (?P<other>.)
""", re.X)
_FUNCTION_NAMES = {"exp", "log", "sqrt", "sin", "cos", "tanh", "relu", "softmax", "max", "min",
                   "abs", "sign", "onehot"}
_SUP = {"²": "<mn>2</mn>", "³": "<mn>3</mn>", "ᵀ": '<mi mathvariant="normal">T</mi>'}
_FENCES = set("()[]{}‖|")


def mathml_identifier(name: str) -> str:
    """x -> <mi>x</mi>; W1 -> W with subscript 1; L_data -> L with subscript data."""
    m = re.fullmatch(r"([A-Za-z]+)([0-9]*)(?:_([A-Za-z0-9]+))?", name)
    if not m:
        return f"<mi>{escape(name)}</mi>"
    base, digits, under = m.groups()
    if under:                 # h0_1 -> (h0) sub 1, L_data -> L sub data
        tag = "mn" if under.isdigit() else "mi"
        return f"<msub>{mathml_identifier(base + digits)}<{tag}>{escape(under)}</{tag}></msub>"
    if digits and base not in _FUNCTION_NAMES:
        return f"<msub><mi>{escape(base)}</mi><mn>{escape(digits)}</mn></msub>"
    return f"<mi>{escape(name)}</mi>"


def mathml_row(text: str) -> str:
    """The MathML content (no <math>) of one line of plain formula text."""
    items: list[str] = []
    for m in _TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()
        if kind == "sp":
            continue
        if kind == "words":          # plain English inside a formula: "(mean over the batch)"
            items.append(f"<mtext>{escape(tok)}</mtext>")
            continue
        if kind == "sub" and items:
            items[-1] = f"<msub>{items[-1]}<mrow>{mathml_row(tok[2:-1])}</mrow></msub>"
        elif kind == "sup" and items:
            items[-1] = f"<msup>{items[-1]}{_SUP[tok]}</msup>"
        elif kind == "id":
            items.append(mathml_identifier(tok))
        elif kind == "num":
            items.append(f"<mn>{tok}</mn>")
        elif kind == "greek":
            items.append(f"<mi>{escape(tok)}</mi>")
        elif kind == "op":
            tok = "−" if tok == "-" else tok
            if tok in _FENCES:
                items.append(f'<mo stretchy="false">{escape(tok)}</mo>')
            else:
                items.append(f"<mo>{escape(tok)}</mo>")
        else:
            items.append(f"<mtext>{escape(tok)}</mtext>")
    return "".join(items)


def mathml(text: str, display: bool = False) -> str:
    """Plain formula text (as in the tables: W1·x + b1, σ(z1), xᵀ …) as inline MathML."""
    disp = ' display="block"' if display else ""
    return (f'<math{disp} xmlns="http://www.w3.org/1998/Math/MathML"><mrow>{mathml_row(text)}</mrow>'
            "</math>")


# ---------------------------------------------------------------- MathML from SymPy's LaTeX
_TEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[A-Za-z]|[0-9]+(?:\.[0-9]+)?|\s+|.", re.S)
_TEX_IDENT = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε",
              "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ",
              "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ",
              "infty": "∞", "ell": "ℓ"}
_TEX_FUNC = {"log", "ln", "exp", "sin", "cos", "tan", "tanh", "sinh", "cosh", "max", "min",
             "sign", "relu"}
_TEX_OP = {"partial": "∂", "cdot": "·", "times": "×", "sum": "∑", "prod": "∏", "neq": "≠",
           "ne": "≠", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "pm": "±", "dots": "…",
           "ldots": "…", "cdots": "⋯", "vee": "∨", "wedge": "∧", "to": "→", "in": "∈",
           "lbrace": "{", "rbrace": "}", "|": "‖", "{": "{", "}": "}", "mid": "|",
           "top": "⊤", "odot": "⊙", "oslash": "⊘", "star": "⋆", "ast": "∗"}   # matrix notation
_TEX_SPACE = {"quad": "1em", "qquad": "2em", ",": "0.17em", ":": "0.22em", ";": "0.28em",
              " ": "0.25em"}


class _TexError(ValueError):
    pass


def latex_mathml(tex: str, display: bool = True) -> str | None:
    r"""The LaTeX subset SymPy prints (\frac, scripts, \left( … \right), cases, \text …) as
    MathML; None when the text uses anything else (the caller then shows the LaTeX source)."""
    toks = _TEX_TOKEN.findall(tex)
    pos = [0]

    def peek():
        while pos[0] < len(toks) and toks[pos[0]].isspace():
            pos[0] += 1
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        t = peek()
        if t is None:
            raise _TexError("unexpected end")
        pos[0] += 1
        return t

    def raw_group() -> str:
        if take() != "{":
            raise _TexError("expected {")
        depth, out = 1, []
        while True:
            if pos[0] >= len(toks):
                raise _TexError("unclosed {")
            t = toks[pos[0]]
            pos[0] += 1
            if t == "{":
                depth += 1
            elif t == "}":
                depth -= 1
                if depth == 0:
                    return "".join(out)
            out.append(t[1:] if t in ("\\_", "\\{", "\\}", "\\ ", "\\%") else t)

    def seq(stops=("}",)) -> str:
        items = []
        while True:
            t = peek()
            if t is None or t in stops:
                return "".join(items)
            items.append(scripted())

    def scripted() -> str:
        base = atom()
        sub = sup = None
        while peek() in ("_", "^"):
            which = take()
            arg = atom()
            if which == "_":
                sub = arg
            else:
                sup = arg
        if sub and sup:
            return f"<msubsup>{base}{sub}{sup}</msubsup>"
        if sub:
            return f"<msub>{base}{sub}</msub>"
        if sup:
            return f"<msup>{base}{sup}</msup>"
        return base

    def delim(t) -> str:
        t = {"\\{": "{", "\\}": "}", "\\|": "‖", "\\lbrace": "{", "\\rbrace": "}"}.get(t, t)
        return "" if t == "." else f"<mo>{escape(t)}</mo>"

    def atom() -> str:
        t = take()
        if t == "{":
            inner = seq()
            take()
            return f"<mrow>{inner}</mrow>"
        if t.startswith("\\"):
            name = t[1:]
            if name == "frac":
                return f"<mfrac>{atom()}{atom()}</mfrac>"
            if name == "sqrt":
                return f"<msqrt>{atom()}</msqrt>"
            if name in ("left", "right"):
                return delim(take())
            if name in ("text", "mathrm", "operatorname", "textrm"):
                text = raw_group()
                tag = "mtext" if name in ("text", "textrm") else "mi"
                attr = ' mathvariant="normal"' if tag == "mi" and len(text) == 1 else ""
                return f"<{tag}{attr}>{escape(text)}</{tag}>"
            if name == "begin":
                env = raw_group()
                if env not in ("cases", "matrix", "pmatrix", "bmatrix"):
                    raise _TexError(env)
                rows, cells, cell = [], [], []
                while True:
                    nt = peek()
                    if nt is None:
                        raise _TexError("unclosed environment")
                    if nt == "\\end":
                        take()
                        raw_group()
                        break
                    if nt == "&":
                        take()
                        cells.append("".join(cell))
                        cell = []
                    elif nt == "\\\\":
                        take()
                        cells.append("".join(cell))
                        rows.append(cells)
                        cells, cell = [], []
                    else:
                        cell.append(scripted())
                if cell or cells:
                    cells.append("".join(cell))
                    rows.append(cells)
                table = "<mtable>" + "".join(
                    "<mtr>" + "".join(f'<mtd columnalign="left"><mrow>{c}</mrow></mtd>'
                                      for c in r) + "</mtr>" for r in rows) + "</mtable>"
                left, right = {"cases": ("{", ""), "pmatrix": ("(", ")"),
                               "bmatrix": ("[", "]")}.get(env, ("", ""))
                return (f"<mrow>{'<mo>' + left + '</mo>' if left else ''}{table}"
                        f"{'<mo>' + right + '</mo>' if right else ''}</mrow>")
            if name in _TEX_IDENT:
                return f"<mi>{_TEX_IDENT[name]}</mi>"
            if name in _TEX_FUNC:
                return f"<mi>{name}</mi>"
            if name in _TEX_OP:
                return f"<mo>{escape(_TEX_OP[name])}</mo>"
            if name in _TEX_SPACE:
                return f'<mspace width="{_TEX_SPACE[name]}"/>'
            if name == "_":
                return "<mi>_</mi>"
            raise _TexError(t)
        if t.isalpha():
            return f"<mi>{t}</mi>"
        if t[0].isdigit():
            return f"<mn>{t}</mn>"
        if t in "}&^_":
            raise _TexError(t)
        return f"<mo>{escape('−' if t == '-' else t)}</mo>"

    try:
        body = seq(stops=())
    except (_TexError, IndexError):
        return None
    disp = ' display="block"' if display else ""
    return (f'<math{disp} xmlns="http://www.w3.org/1998/Math/MathML"><mrow>{body}</mrow>'
            "</math>")


def mathml_partial(top: str, bottom: str) -> str:
    """∂top/∂bottom as a MathML fraction (no <math>)."""
    return (f"<mfrac><mrow><mo>∂</mo>{mathml_identifier(top)}</mrow>"
            f"<mrow><mo>∂</mo>{mathml_identifier(bottom)}</mrow></mfrac>")


def math_element(content: str) -> str:
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"><mrow>{content}</mrow></math>'
