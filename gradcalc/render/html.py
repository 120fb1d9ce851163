"""A self-contained HTML report of a solution: problem, graph (inline SVG), tables, MathML, plots."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.i18n import pick, words as table_words

WORDS = {
    "en": {
        "problem": "Problem", "source": "Problem file", "graph": "Computational graph",
        "graph_note": "Each wire carries its forward value above (green) and the gradient "
                      "∂{out}/∂· flowing back along it below (red).",
        "agreement": "Three independent derivations", "parameter": "parameter",
        "ok": "✓ autograd, symbolic and numeric gradients agree",
        "bad": "✗ the derivations disagree", "max_rel": "largest relative error",
        "kinks": "Near a kink (finite differences unreliable there)",
        "plots": "Plots", "generated": "Made by gradcalc {version}; opens without a network.",
        "output": "output", "method": {"autograd": "autograd", "symbolic": "symbolic (SymPy)",
                                       "numeric": "numeric (central differences)"},
        "equals": "=", "extra": "Further tables",
        "formulas": "Formulas (SymPy)", "local_formulas": "Local derivatives",
        "closed_forms": "Gradients in closed form", "definitions": "Common subexpressions",
        "pairs": "autograd compared with", "band": "band",
    },
    "zh": {
        "problem": "题目", "source": "题目文件", "graph": "计算图",
        "graph_note": "每条线上方为前向计算值（绿色），下方为沿该线反向传来的梯度 ∂{out}/∂·（红色）。",
        "agreement": "三种独立推导的对比", "parameter": "参数",
        "ok": "✓ 自动微分、符号微分与数值微分的结果一致",
        "bad": "✗ 三种方法的结果不一致", "max_rel": "最大相对误差",
        "kinks": "在折点附近（此处有限差分不可靠）",
        "plots": "图表", "generated": "由 gradcalc {version} 生成；无需联网即可打开。",
        "output": "输出", "method": {"autograd": "自动微分", "symbolic": "符号微分（SymPy）",
                                     "numeric": "数值微分（中心差分）"},
        "equals": "=", "extra": "其他表格",
        "formulas": "公式（SymPy）", "local_formulas": "局部导数",
        "closed_forms": "梯度的解析式", "definitions": "公共子表达式",
        "pairs": "自动微分对比", "band": "等级",
    },
}

CSS = """
:root { --green: #1b7a2f; --red: #c0262d; --ink: #1d2125; --muted: #5f6670; --rule: #d5d9de;
        --soft: #f5f7f9; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
       "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", sans-serif; }
main { max-width: 80rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .2rem;
     border-bottom: 1px solid var(--rule); }
p.sub { color: var(--muted); margin: 0 0 1rem; }
pre, .num { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
            font-size: .88rem; }
pre.source { background: var(--soft); border: 1px solid var(--rule); border-radius: 6px;
             padding: .75rem 1rem; overflow-x: auto; }
.num { white-space: pre; }
figure.graph { margin: 0; }
figure.graph .scroll { overflow-x: auto; border: 1px solid var(--rule); border-radius: 6px;
                       background: #fff; }
figure.graph svg { display: block; height: auto; max-width: 100%; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; }
.green { color: var(--green); } .red { color: var(--red); }
table { border-collapse: collapse; margin: .25rem 0 .5rem; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
caption.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
th, td { border-bottom: 1px solid var(--rule); padding: .35rem .7rem; vertical-align: top;
         text-align: left; }
th { background: var(--soft); font-weight: 600; }
td.n { text-align: right; }
td div + div { margin-top: .3rem; }
p.note { color: var(--muted); font-size: .9rem; margin: .2rem 0 1rem; }
math { font-size: 1.05em; }
td math { math-style: normal; }   /* full-size fractions: ∂L/∂W stays legible in tables */
.ok { color: var(--green); font-weight: 600; } .bad { color: var(--red); font-weight: 600; }
details summary { cursor: pointer; font-weight: 600; margin: .4rem 0; }
.formulas div { margin: .45rem 0 .45rem 1rem; overflow-x: auto; overflow-y: hidden; }
.formulas math { math-style: normal; font-size: 1.1em; }
.plots figure { display: inline-block; margin: 0 1rem 1rem 0; vertical-align: top; }
.plots img, .plots svg { max-width: 100%; height: auto; }
footer { color: var(--muted); font-size: .85rem; margin-top: 2.5rem; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  table, figure, pre { break-inside: avoid; }
  figure.graph .scroll { overflow: visible; border: none; }
  figure.graph svg { max-width: 100%; min-width: 0 !important; }
  pre.source { white-space: pre-wrap; }
  @page { margin: 1.5cm; }
}
"""


def _w(lang: str) -> dict:
    return pick(WORDS, lang)


def _e(text) -> str:
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


def _mi(name: str) -> str:
    """x -> <mi>x</mi>; W1 -> W with subscript 1; L_data -> L with subscript data."""
    m = re.fullmatch(r"([A-Za-z]+)([0-9]*)(?:_([A-Za-z0-9]+))?", name)
    if not m:
        return f"<mi>{_e(name)}</mi>"
    base, digits, under = m.groups()
    if under:                 # h0_1 -> (h0) sub 1, L_data -> L sub data
        tag = "mn" if under.isdigit() else "mi"
        return f"<msub>{_mi(base + digits)}<{tag}>{_e(under)}</{tag}></msub>"
    if digits and base not in _FUNCTION_NAMES:
        return f"<msub><mi>{_e(base)}</mi><mn>{_e(digits)}</mn></msub>"
    return f"<mi>{_e(name)}</mi>"


def _mrow(text: str) -> str:
    """The MathML content (no <math>) of one line of plain formula text."""
    items: list[str] = []
    for m in _TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()
        if kind == "sp":
            continue
        if kind == "words":          # plain English inside a formula: "(mean over the batch)"
            items.append(f"<mtext>{_e(tok)}</mtext>")
            continue
        if kind == "sub" and items:
            items[-1] = f"<msub>{items[-1]}<mrow>{_mrow(tok[2:-1])}</mrow></msub>"
        elif kind == "sup" and items:
            items[-1] = f"<msup>{items[-1]}{_SUP[tok]}</msup>"
        elif kind == "id":
            items.append(_mi(tok))
        elif kind == "num":
            items.append(f"<mn>{tok}</mn>")
        elif kind == "greek":
            items.append(f"<mi>{_e(tok)}</mi>")
        elif kind == "op":
            tok = "−" if tok == "-" else tok
            if tok in _FENCES:
                items.append(f'<mo stretchy="false">{_e(tok)}</mo>')
            else:
                items.append(f"<mo>{_e(tok)}</mo>")
        else:
            items.append(f"<mtext>{_e(tok)}</mtext>")
    return "".join(items)


def mathml(text: str, display: bool = False) -> str:
    """Plain formula text (as in the tables: W1·x + b1, σ(z1), xᵀ …) as inline MathML."""
    disp = ' display="block"' if display else ""
    return (f'<math{disp} xmlns="http://www.w3.org/1998/Math/MathML"><mrow>{_mrow(text)}</mrow>'
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
           "lbrace": "{", "rbrace": "}", "|": "‖", "{": "{", "}": "}", "mid": "|"}
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
        return "" if t == "." else f"<mo>{_e(t)}</mo>"

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
                return f"<{tag}{attr}>{_e(text)}</{tag}>"
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
                return f"<mo>{_e(_TEX_OP[name])}</mo>"
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
        return f"<mo>{_e('−' if t == '-' else t)}</mo>"

    try:
        body = seq(stops=())
    except (_TexError, IndexError):
        return None
    disp = ' display="block"' if display else ""
    return (f'<math{disp} xmlns="http://www.w3.org/1998/Math/MathML"><mrow>{body}</mrow>'
            "</math>")


def _partial(top: str, bottom: str) -> str:
    """∂top/∂bottom as a MathML fraction (no <math>)."""
    return (f"<mfrac><mrow><mo>∂</mo>{_mi(top)}</mrow>"
            f"<mrow><mo>∂</mo>{_mi(bottom)}</mrow></mfrac>")


def _math(content: str) -> str:
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"><mrow>{content}</mrow></math>'


def _num(v, precision: int) -> str:
    return f'<span class="num">{_e(fmt.value(v, precision, multiline=True))}</span>'


# ---------------------------------------------------------------- sections
def _table(caption: str, heads: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           note: str = "", show_caption: bool = False) -> str:
    # the caption repeats the section heading for screen readers; shown only when it differs
    out = [f'<table><caption class="{"" if show_caption else "sr"}">{_e(caption)}</caption>'
           "<thead><tr>"]
    out += [f'<th scope="col">{_e(h)}</th>' for h in heads]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    if note:
        out.append(f'<p class="note">{_e(note)}</p>')
    return "".join(out)


def _forward(sol, lang, precision) -> str:
    w = table_words(lang)
    rows = []
    for name, v in sol.forward.items():
        formula = sol.formulas.get(name, name)
        if formula == name:
            shown = _math(_mi(name))
        elif re.match(rf"{re.escape(name)}\s*=", formula):    # already "z1 = …"
            shown = mathml(formula)
        else:
            shown = mathml(f"{name} = {formula}")
        rows.append([_math(_mi(name)), shown, _num(v, precision)])
    return _table(w["forward"], [w["name"], w["formula"], w["value"]], rows, {2})


def _backward(sol, lang, precision) -> str:
    w = table_words(lang)
    out = sol.output
    rows = []
    for s in sol.steps:
        locals_, downs = [], []
        for inp, g in s.downstream.items():
            text = s.local_text.get(inp, "")
            local = _partial(s.node, inp)
            if text and text != fmt.value(s.local[inp], precision):   # not "= 1 = 1"
                local += "<mo>=</mo>" + _mrow(text)
            locals_.append(f"<div>{_math(local)} = {_num(s.local[inp], precision)}</div>")
            chain = (_partial(out, inp) + "<mo>=</mo>" + _partial(out, s.node) + "<mo>·</mo>"
                     + _partial(s.node, inp))
            downs.append(f"<div>{_math(chain)} = {_num(g, precision)}</div>")
        op = mathml(f"{s.node} = {s.formula}") if s.formula else _e(s.op)
        rows.append([_math(_mi(s.node)), op,
                     f"{_math(_partial(out, s.node))} = {_num(s.upstream, precision)}",
                     "".join(locals_), "".join(downs)])
    return _table(w["backward"], [w["node"], w["operation"], w["upstream"], w["local"],
                                  w["downstream"]], rows, note=w["rule"])


def _gradients(sol, lang, precision) -> str:
    w = table_words(lang)
    rows = [[_math(_partial(sol.output, name)), _num(sol.gradients[name], precision)]
            for name in sol.leaves]
    return _table(w["gradients"], [w["name"], w["gradient"]], rows, {1}, note=w["layout"])


def _extra_tables(sol, lang, precision) -> str:
    """The tables other parts of gradcalc add to `solve` (update step, conv, rnn …), as text."""
    from gradcalc.render.tables import solve_tables
    parts = []
    for t in solve_tables(sol, lang, precision)[3:]:
        kinds = t.kinds or ["text"] * len(t.columns)
        rows = [[(f'<span class="num">{_e(c)}</span>' if k == "num" else
                  _e(c).replace("\n", "<br>")) for c, k in zip(row, kinds)] for row in t.rows]
        parts.append(_table(t.title, t.columns, rows,
                            {i for i, k in enumerate(kinds) if k == "num"}, t.note, True))
    return "".join(parts)


def _formulas(sol, lang) -> str:
    """SymPy's formulas (extras['formulas'], LaTeX) as MathML: local derivatives, closed forms."""
    f = sol.extras.get("formulas")
    if not isinstance(f, dict):
        return ""
    w = _w(lang)

    def show(tex: str) -> str:
        m = latex_mathml(tex, display=False)
        return m if m is not None else f"<code>{_e(tex)}</code>"

    parts = [f'<section id="formulas"><h2>{_e(w["formulas"])}</h2>']
    if f.get("layout"):
        parts.append(f'<p class="note">{_e(f["layout"])}</p>')
    groups = [(w["local_formulas"], [d.get("latex", "") for d in f.get("local", []) or []
                                     if isinstance(d, dict)]),
              (w["closed_forms"], [t for t in (f.get("gradients") or {}).values()
                                   if isinstance(t, str)]),
              (w["definitions"], [d.get("latex", "") for d in f.get("definitions", []) or []
                                  if isinstance(d, dict)])]
    for title, texts in groups:
        if texts:
            parts.append(f"<details open><summary>{_e(title)} ({len(texts)})</summary>"
                         '<div class="formulas">' + "".join(f"<div>{show(t)}</div>" for t in texts)
                         + "</div></details>")
    parts.append("</section>")
    return "".join(parts)


def _agreement(sol, lang, precision) -> str:
    """The three-way comparison when the solution carries it (extras 'methods', 'agreement')."""
    methods = sol.extras.get("methods")
    agreement = sol.extras.get("agreement")
    if not methods and not agreement:
        return ""
    w = _w(lang)
    parts = [f'<section id="agreement"><h2>{_e(w["agreement"])}</h2>']
    if isinstance(agreement, dict):
        ok = agreement.get("ok")
        cls, text = ("ok", w["ok"]) if ok else ("bad", w["bad"])
        line = f'<p><span class="{cls}">{_e(text)}</span>'
        if agreement.get("max_rel_error") is not None:
            line += f' — {_e(w["max_rel"])}: {_num(agreement["max_rel_error"], 3)}'
        parts.append(line + "</p>")
        pairs = agreement.get("pairs") or {}
        if isinstance(pairs, dict) and pairs:
            rows = []
            for key, pr in pairs.items():
                if not isinstance(pr, dict):
                    continue
                other = key.split("~", 1)[-1]
                mark = '<span class="ok">✓</span>' if pr.get("ok") else '<span class="bad">✗</span>'
                rows.append([_e(w["method"].get(other, other)), mark,
                             _num(pr["max_rel_error"] if pr.get("max_rel_error") is not None
                                  else float("nan"), 3),   # null: a method gave NaN
                             _e(pr.get("band", "")),
                             _e(f"atol {pr.get('atol')}, rtol {pr.get('rtol')}")])
            heads = [w["pairs"], "", w["max_rel"], w["band"], "tol"]
            parts.append(_table(w["pairs"], heads, rows, {2}))
        for notice in agreement.get("notices") or []:
            parts.append(f'<p class="note">{_e(notice)}</p>')
    if isinstance(methods, dict) and methods:
        names = [m for m in ("autograd", "symbolic", "numeric") if m in methods]
        names += [m for m in methods if m not in names]
        params = []
        for m in names:
            for p in (methods[m] or {}):
                if p not in params:
                    params.append(p)
        rows = []
        for p in params:
            row = [_math(_partial(sol.output, p))]
            for m in names:
                v = (methods[m] or {}).get(p)
                row.append(_num(np.asarray(v, dtype=float), precision) if v is not None else "—")
            rows.append(row)
        heads = [w["parameter"]] + [w["method"].get(m, m) for m in names]
        parts.append(_table(w["agreement"], heads, rows, set(range(1, len(names) + 1))))
    kinks = agreement.get("kinks") if isinstance(agreement, dict) else None
    if kinks:
        items = "".join(f"<li>{_e(k if isinstance(k, str) else _kink_text(k))}</li>" for k in kinks)
        parts.append(f'<p class="note">{_e(w["kinks"])}:</p><ul>{items}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _kink_text(k) -> str:
    if isinstance(k, dict) and "parameter" in k:
        index = "".join(f"[{i}]" for i in k.get("index") or [])
        return (f"{k['parameter']}{index} — {k.get('node', '')} ({k.get('op', '')}): "
                f"{k.get('reason', '')}")
    if isinstance(k, dict):
        return ", ".join(f"{a}: {b}" for a, b in k.items())
    return str(k)


# ---------------------------------------------------------------- plots
_PALETTE = ("#3763a6", "#c0262d", "#1b7a2f", "#b07d00", "#6f42c1", "#0f7c8a")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    start = np.ceil(lo / step) * step
    return [float(t) for t in np.arange(start, hi + step * 1e-9, step)]


def line_chart_svg(title: str, series: dict, x=None, xlabel: str = "", ylabel: str = "",
                   log: bool = False) -> str:
    """A small line chart as inline SVG (text stays text); `series` maps names to y lists."""
    W, H, L, R, T, B = 560, 300, 64, 16, 34, 46
    data = {k: np.asarray(v, dtype=float).ravel() for k, v in series.items() if len(v)}
    n = max((len(v) for v in data.values()), default=0)
    xs = np.asarray(x if x is not None else np.arange(n), dtype=float)
    ys = np.concatenate(list(data.values())) if data else np.zeros(1)
    finite = ys[np.isfinite(ys)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        finite = np.array([0.0, 1.0])
    f = (lambda v: np.log10(v)) if log else (lambda v: v)
    lo, hi = float(f(finite.min())), float(f(finite.max()))
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    x0, x1 = float(xs.min()) if xs.size else 0.0, float(xs.max()) if xs.size else 1.0
    if x1 - x0 < 1e-12:
        x1 = x0 + 1

    def px(v):
        return L + (v - x0) / (x1 - x0) * (W - L - R)

    def py(v):
        return T + (1 - (v - lo) / (hi - lo)) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
           f'height="{H}" role="img" aria-label="{_e(title)}" '
           'font-family="DejaVu Sans, sans-serif" font-size="11">',
           f'<text x="{L}" y="20" font-size="13" font-weight="bold">{_e(title)}</text>',
           f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" '
           'stroke="#9aa1a9"/>']
    for t in _ticks(lo, hi):
        y = py(t)
        label = fmt.num(10 ** t, 3) if log else fmt.num(t, 3)
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
                   f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(label)}</text>')
    for t in _ticks(x0, x1):
        xx = px(t)
        out.append(f'<text x="{xx:.1f}" y="{H - B + 16}" text-anchor="middle">'
                   f'{_e(fmt.num(t, 4))}</text>')
    if xlabel:
        out.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">'
                   f'{_e(xlabel)}</text>')
    if ylabel:
        out.append(f'<text transform="translate(14 {(T + H - B) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{_e(ylabel)}</text>')
    for i, (name, v) in enumerate(data.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        pts = [(px(xs[j]), py(f(v[j]))) for j in range(min(len(v), len(xs)))
               if np.isfinite(v[j]) and (v[j] > 0 or not log)]
        if pts:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       'stroke-width="1.8"/>')
            if len(pts) <= 40:
                out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.4" fill="{colour}"/>'
                        for a, b in pts]
        if len(data) > 1:
            ly = T + 14 + 15 * i
            out.append(f'<line x1="{W - R - 120}" x2="{W - R - 104}" y1="{ly - 4}" y2="{ly - 4}" '
                       f'stroke="{colour}" stroke-width="2"/>'
                       f'<text x="{W - R - 100}" y="{ly}">{_e(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _numeric_list(v) -> bool:
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.ndim == 1 and a.size >= 2


_PLOT_WORDS = ("loss", "norm", "lr", "accuracy")


def _plottable(key) -> bool:
    return isinstance(key, str) and any(word in key.lower() for word in _PLOT_WORDS)


def _plot_specs(extras: dict) -> list[dict]:
    """Plots a solution asks for (extras['plots']), then histories found in its JSON extras.

    A plot is {"title", "series": {name: [y…]}, "x"?, "xlabel"?, "ylabel"?, "log"?}, or
    {"title", "svg": "<svg…>"} or {"title", "png": base64 text}.  Found automatically: a list
    of numbers under a key naming a loss, norm, lr or accuracy (e.g. the rnn diagnostics'
    grad_norms), and such scalars across a list of records (e.g. the SGD steps' loss_after)."""
    specs = [p for p in extras.get("plots", []) or [] if isinstance(p, dict)]

    def add(title, key, ys, xs=None):
        a = np.asarray(ys, dtype=float)
        if not np.all(np.isfinite(a)) or np.ptp(a) == 0:     # a constant says nothing drawn
            return
        log = bool(np.all(a > 0)) and a.max() / a.min() > 100
        for spec in specs:          # loss_before and loss_after share one chart
            if spec.get("group") == (title.rsplit(" · ", 1)[0], "loss" in key.lower()) and \
                    "loss" in key.lower():
                spec["series"][key] = a
                spec["log"] = spec["log"] and log
                spec["title"] = title.rsplit(" · ", 1)[0] + " · loss"
                return
        specs.append({"title": title, "series": {key: a}, "x": xs, "log": log,
                      "xlabel": "t" if key == "grad_norms" else "step",
                      "group": (title.rsplit(" · ", 1)[0], "loss" in key.lower())})

    def walk(value, path, depth):
        if depth > 4:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                if _plottable(k) and _numeric_list(v):
                    add(" · ".join(path + [str(k)]), k, v)
                elif isinstance(v, (dict, list)):
                    label = str(value.get("states", k)) if isinstance(v, list) else str(k)
                    walk(v, path + [label] if isinstance(v, dict) else path + [str(k)], depth + 1)
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            if len(value) >= 2:
                keys = [k for k in value[0] if _plottable(k) and all(
                    isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                    for r in value)]
                xs = [r.get("step", r.get("epoch", i)) for i, r in enumerate(value)]
                for k in keys:
                    add(" · ".join(path + [str(k)]), k, [r[k] for r in value], xs)
            for i, r in enumerate(value):
                walk(r, path + [str(r.get("states", i + 1))] if len(value) > 1 else path, depth + 1)

    for key, value in extras.items():
        if key != "plots" and not str(key).startswith("table_"):
            walk(value, [str(key)], 0)
    return specs


def _plots(sol, lang) -> str:
    specs = _plot_specs(sol.extras)
    if not specs:
        return ""
    figs = []
    for p in specs:
        title = str(p.get("title", ""))
        if "svg" in p:
            svg = str(p["svg"])
            body = svg[svg.find("<svg"):] if "<svg" in svg else ""
            body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S | re.I)
        elif "png" in p:
            data = p["png"]
            b64 = base64.b64encode(data).decode() if isinstance(data, bytes) else str(data)
            body = f'<img alt="{_e(title)}" src="data:image/png;base64,{_e(b64)}">'
        elif "series" in p:
            body = line_chart_svg(title, p["series"], p.get("x"), p.get("xlabel", ""),
                                  p.get("ylabel", ""), bool(p.get("log")))
        else:
            continue
        figs.append(f"<figure>{body}</figure>")
    if not figs:
        return ""
    return (f'<section id="plots" class="plots"><h2>{_e(_w(lang)["plots"])}</h2>'
            + "".join(figs) + "</section>")


# ---------------------------------------------------------------- the page
def _source_text(problem) -> str:
    path = Path(getattr(problem, "file", "") or "")
    try:
        if path.is_file() and path.stat().st_size < 200_000:
            return path.read_text(encoding="utf-8")
    except OSError:
        pass
    import yaml
    return yaml.safe_dump(getattr(problem, "raw", {}) or {}, allow_unicode=True, sort_keys=False)


def _graph_figure(sol, lang, precision) -> str:
    from gradcalc.render.graph import graph_svg
    svg = graph_svg(sol, lang, precision)
    # 1 pt of the picture drawn as at most 1 px, shrunk to the page down to 0.7 px;
    # a wider graph scrolls inside its frame
    def scale(m):
        w, h = float(m.group(1)), float(m.group(2))
        return f'width="{w:.0f}" height="{h:.0f}" style="min-width: {0.7 * w:.0f}px"'
    svg = re.sub(r'width="([\d.]+)pt" height="([\d.]+)pt"', scale, svg, count=1)
    svg = svg.replace("<svg ", '<svg role="img" aria-labelledby="graph-title" ', 1)
    w = _w(lang)
    return (f'<section id="graph"><h2 id="graph-title">{_e(w["graph"])}</h2>'
            f'<figure class="graph"><div class="scroll">{svg}</div>'
            f'<figcaption>{_e(w["graph_note"].format(out=sol.output))}</figcaption></figure>'
            "</section>")


def solution_html(sol, lang: str = "en", precision: int = 4) -> str:
    """One self-contained HTML page (no scripts, no external files or fonts) for `sol`."""
    from gradcalc.version import __version__
    w = _w(lang)
    problem = sol.problem
    raw = getattr(problem, "raw", {}) or {}
    desc = raw.get("description") if isinstance(raw, dict) else None
    head = (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n'
            '<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">\n"
            f"<title>{_e(sol.title)} — gradcalc</title>\n<style>{CSS}</style>\n</head>\n")
    body = ["<body><main>",
            f"<header><h1>{_e(sol.title)}</h1>",
            f'<p class="sub">{_e(w["output"])}: {_math(_mi(sol.output))} = '
            f"{_num(sol.forward[sol.output], precision)}</p>",
            f"<p>{_e(desc)}</p>" if desc else "", "</header>",
            _graph_figure(sol, lang, precision),
            f'<section id="forward"><h2>{_e(table_words(lang)["forward"])}</h2>'
            f"{_forward(sol, lang, precision)}</section>",
            f'<section id="backward"><h2>{_e(table_words(lang)["backward"])}</h2>'
            f"{_backward(sol, lang, precision)}</section>",
            f'<section id="gradients"><h2>{_e(table_words(lang)["gradients"])}</h2>'
            f"{_gradients(sol, lang, precision)}</section>",
            _agreement(sol, lang, precision),
            _formulas(sol, lang)]
    extra = _extra_tables(sol, lang, precision)
    if extra:
        body.append(f'<section id="more"><h2>{_e(w["extra"])}</h2>{extra}</section>')
    body += [_plots(sol, lang),
             f'<section id="problem"><h2>{_e(w["source"])}</h2>'
             f'<p class="note">{_e(problem.file)}</p>'
             f'<pre class="source">{_e(_source_text(problem))}</pre></section>',
             f'<footer>{_e(w["generated"].format(version=__version__))}</footer>',
             "</main></body>\n</html>\n"]
    return head + "".join(body)


def write_html(sol, path, lang: str = "en", precision: int = 4) -> None:
    """Build the report first, then write it atomically (nothing half-written on failure)."""
    from gradcalc.fileio import write_atomic
    from gradcalc.render.graph import check_target
    check_target(path, (".html", ".htm"))
    write_atomic(path, solution_html(sol, lang, precision))
