"""A self-contained HTML report of a solution: problem, graph (inline SVG), tables, MathML, plots."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.charts import line_chart_svg, plot_specs
from gradcalc.render.i18n import in_out_words, is_network, layout_note, pick, words as table_words
from gradcalc.render.mathml import (escape, latex_mathml, math_element, mathml, mathml_identifier,
                                    mathml_partial, mathml_row)

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


def _num(v, precision: int) -> str:
    return f'<span class="num">{escape(fmt.value(v, precision, multiline=True))}</span>'


# ---------------------------------------------------------------- sections
def _table(caption: str, heads: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           note: str = "", show_caption: bool = False) -> str:
    # the caption repeats the section heading for screen readers; shown only when it differs
    out = [f'<table><caption class="{"" if show_caption else "sr"}">{escape(caption)}</caption>'
           "<thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in heads]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    if note:
        out.append(f'<p class="note">{escape(note)}</p>')
    return "".join(out)


def _forward(sol, lang, precision) -> str:
    w = table_words(lang)
    rows = []
    for name, v in sol.forward.items():
        formula = sol.formulas.get(name, name)
        if formula == name:
            shown = math_element(mathml_identifier(name))
        elif re.match(rf"{re.escape(name)}\s*=", formula):    # already "z1 = …"
            shown = mathml(formula)
        else:
            shown = mathml(f"{name} = {formula}")
        rows.append([math_element(mathml_identifier(name)), shown, _num(v, precision)])
    return _table(w["forward"], [w["name"], w["formula"], w["value"]], rows, {2})


def _matrix_forms(sol, lang) -> str:
    """The gradients in matrix notation (MathML), each with its check against autograd."""
    from gradcalc.render.matrixtext import forms_html, words as matrix_words
    made = forms_html(sol, lang)
    if made is None:
        return ""
    mw = matrix_words(lang, sol)
    return (f'<section id="matrix"><h2>{escape(mw["title"])}</h2>'
            f'{_table(mw["title"], [mw["form"], mw["check"]], made[0], note=made[1])}</section>')


def _backward(sol, lang, precision) -> str:
    from gradcalc.render.matrixtext import product_html, products, words as matrix_words
    w = table_words(lang)
    out = sol.output
    rows = []
    for s in sol.steps:
        locals_, downs = [], []
        for inp, g in s.downstream.items():
            text = s.local_text.get(inp, "")
            local = mathml_partial(s.node, inp)
            if text and text != fmt.value(s.local[inp], precision):   # not "= 1 = 1"
                local += "<mo>=</mo>" + mathml_row(text)
            locals_.append(f"<div>{math_element(local)} = {_num(s.local[inp], precision)}</div>")
            chain = (mathml_partial(out, inp) + "<mo>=</mo>" + mathml_partial(out, s.node) + "<mo>·</mo>"
                     + mathml_partial(s.node, inp))
            downs.append(f"<div>{math_element(chain)} = {_num(g, precision)}</div>")
        shown = products(sol, s.node)
        if shown:     # the step's rules in matrix notation, each evaluated and checked
            downs = [product_html(p, out, lambda v: _num(v, precision)) for p in shown]
        op = mathml(f"{s.node} = {s.formula}") if s.formula else escape(s.op)
        rows.append([math_element(mathml_identifier(s.node)), op,
                     f"{math_element(mathml_partial(out, s.node))} = {_num(s.upstream, precision)}",
                     "".join(locals_), "".join(downs)])
    return _table(w["backward"], [w["node"], w["operation"], w["upstream"], w["local"],
                                  w["downstream"]], rows,
                  note=w["rule"] + ("; " + matrix_words(lang, sol)["columns"]
                                    if sol.matrix else ""))


def _gradients(sol, lang, precision) -> str:
    w = table_words(lang)
    rows = [[math_element(mathml_partial(sol.output, name)), _num(sol.gradients[name], precision)]
            for name in sol.leaves]
    return _table(w["gradients"], [w["name"], w["gradient"]], rows, {1},
                  note=in_out_words(sol.problem, w["layout"]) if is_network(sol.problem) else "")


def _extra_tables(sol, lang, precision, methods: bool) -> str:
    """The tables beyond the first three (update step, conv, rnn, methods …), as text."""
    from gradcalc.render.check import words as check_words
    from gradcalc.render.matrixtext import words as matrix_words
    from gradcalc.render.solvetables import solve_tables
    cw = check_words(lang)
    # shown already: the methods side by side and the kinks (agreement), SymPy's formulas
    shown = {cw["methods"], cw["kinks"], cw["local"], cw["closed"], matrix_words(lang, sol)["title"]}
    parts = []
    for t in solve_tables(sol, lang, precision, methods)[3:]:
        if t.title in shown:
            continue
        kinds = t.kinds or ["text"] * len(t.columns)
        rows = [[(f'<span class="num">{escape(c)}</span>' if k == "num" else
                  escape(c).replace("\n", "<br>")) for c, k in zip(row, kinds)] for row in t.rows]
        parts.append(_table(t.title, t.columns, rows,
                            {i for i, k in enumerate(kinds) if k == "num"}, t.note, True))
    return "".join(parts)


def _formulas(sol, lang) -> str:
    """SymPy's formulas (LaTeX, when SymPy ran) as MathML: local derivatives, closed forms."""
    f = sol.comparison.formulas if sol.comparison is not None else None
    if not isinstance(f, dict):
        return ""
    w = _w(lang)

    def show(tex: str) -> str:
        m = latex_mathml(tex, display=False)
        return m if m is not None else f"<code>{escape(tex)}</code>"

    parts = [f'<section id="formulas"><h2>{escape(w["formulas"])}</h2>']
    layout = layout_note(sol.problem, lang, f.get("layout") or "")
    if layout:
        parts.append(f'<p class="note">{escape(layout)}</p>')
    groups = [(w["local_formulas"], [d.get("latex", "") for d in f.get("local", []) or []
                                     if isinstance(d, dict)]),
              (w["closed_forms"], [t for t in (f.get("gradients") or {}).values()
                                   if isinstance(t, str)]),
              (w["definitions"], [d.get("latex", "") for d in f.get("definitions", []) or []
                                  if isinstance(d, dict)])]
    for title, texts in groups:
        if texts:
            parts.append(f"<details open><summary>{escape(title)} ({len(texts)})</summary>"
                         '<div class="formulas">' + "".join(f"<div>{show(t)}</div>" for t in texts)
                         + "</div></details>")
    parts.append("</section>")
    return "".join(parts)


def _agreement(sol, lang, precision) -> str:
    """The three-way comparison when the solution carries it (methods, agreement)."""
    comp = sol.comparison
    methods = comp.methods if comp is not None else None
    agreement = comp.agreement if comp is not None else None
    if not methods and not agreement:
        return ""
    w = _w(lang)
    parts = [f'<section id="agreement"><h2>{escape(w["agreement"])}</h2>']
    if isinstance(agreement, dict):
        ok = agreement.get("ok")
        cls, text = ("ok", w["ok"]) if ok else ("bad", w["bad"])
        line = f'<p><span class="{cls}">{escape(text)}</span>'
        if agreement.get("max_rel_error") is not None:
            line += f' — {escape(w["max_rel"])}: {_num(agreement["max_rel_error"], 3)}'
        parts.append(line + "</p>")
        pairs = agreement.get("pairs") or {}
        if isinstance(pairs, dict) and pairs:
            rows = []
            for key, pr in pairs.items():
                if not isinstance(pr, dict):
                    continue
                other = key.split("~", 1)[-1]
                mark = '<span class="ok">✓</span>' if pr.get("ok") else '<span class="bad">✗</span>'
                rows.append([escape(w["method"].get(other, other)), mark,
                             _num(pr["max_rel_error"] if pr.get("max_rel_error") is not None
                                  else float("nan"), 3),   # null: a method gave NaN
                             escape(pr.get("band", "")),
                             escape(f"atol {pr.get('atol')}, rtol {pr.get('rtol')}")])
            heads = [w["pairs"], "", w["max_rel"], w["band"], "tol"]
            parts.append(_table(w["pairs"], heads, rows, {2}))
        for notice in agreement.get("notices") or []:
            parts.append(f'<p class="note">{escape(notice)}</p>')
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
            row = [math_element(mathml_partial(sol.output, p))]
            for m in names:
                v = (methods[m] or {}).get(p)
                row.append(_num(np.asarray(v, dtype=float), precision) if v is not None else "—")
            rows.append(row)
        heads = [w["parameter"]] + [w["method"].get(m, m) for m in names]
        parts.append(_table(w["agreement"], heads, rows, set(range(1, len(names) + 1))))
    kinks = agreement.get("kinks") if isinstance(agreement, dict) else None
    if kinks:
        items = "".join(f"<li>{escape(k if isinstance(k, str) else _kink_text(k))}</li>" for k in kinks)
        parts.append(f'<p class="note">{escape(w["kinks"])}:</p><ul>{items}</ul>')
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


def _plots(sol, lang) -> str:
    specs = plot_specs(sol.json_extras())
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
            body = f'<img alt="{escape(title)}" src="data:image/png;base64,{escape(b64)}">'
        elif "series" in p:
            body = line_chart_svg(title, p["series"], p.get("x"), p.get("xlabel", ""),
                                  p.get("ylabel", ""), bool(p.get("log")))
        else:
            continue
        figs.append(f"<figure>{body}</figure>")
    if not figs:
        return ""
    return (f'<section id="plots" class="plots"><h2>{escape(_w(lang)["plots"])}</h2>'
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
    return (f'<section id="graph"><h2 id="graph-title">{escape(w["graph"])}</h2>'
            f'<figure class="graph"><div class="scroll">{svg}</div>'
            f'<figcaption>{escape(w["graph_note"].format(out=sol.output))}</figcaption></figure>'
            "</section>")


def solution_html(sol, lang: str = "en", precision: int = 4, methods: bool = False) -> str:
    """One self-contained HTML page (no scripts, no external files or fonts) for `sol`;
    `methods` adds the three methods' tables (as `gradcalc solve` does)."""
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
            f"<title>{escape(sol.title)} — gradcalc</title>\n<style>{CSS}</style>\n</head>\n")
    body = ["<body><main>",
            f"<header><h1>{escape(sol.title)}</h1>",
            f'<p class="sub">{escape(w["output"])}: {math_element(mathml_identifier(sol.output))} = '
            f"{_num(sol.forward[sol.output], precision)}</p>",
            f"<p>{escape(desc)}</p>" if desc else "", "</header>",
            _graph_figure(sol, lang, precision),
            f'<section id="forward"><h2>{escape(table_words(lang)["forward"])}</h2>'
            f"{_forward(sol, lang, precision)}</section>",
            f'<section id="backward"><h2>{escape(table_words(lang)["backward"])}</h2>'
            f"{_backward(sol, lang, precision)}</section>",
            f'<section id="gradients"><h2>{escape(table_words(lang)["gradients"])}</h2>'
            f"{_gradients(sol, lang, precision)}</section>",
            _matrix_forms(sol, lang),
            _agreement(sol, lang, precision),
            _formulas(sol, lang)]
    extra = _extra_tables(sol, lang, precision, methods)
    if extra:
        body.append(f'<section id="more"><h2>{escape(w["extra"])}</h2>{extra}</section>')
    body += [_plots(sol, lang),
             f'<section id="problem"><h2>{escape(w["source"])}</h2>'
             f'<p class="note">{escape(Path(problem.file or "").name)}</p>'
             f'<pre class="source">{escape(_source_text(problem))}</pre></section>',
             f'<footer>{escape(w["generated"].format(version=__version__))}</footer>',
             "</main></body>\n</html>\n"]
    return head + "".join(body)


def write_html(sol, path, lang: str = "en", precision: int = 4, methods: bool = False) -> None:
    """Build the report first, then write it atomically (nothing half-written on failure)."""
    from gradcalc.fileio import write_atomic
    from gradcalc.render.graph import check_target
    check_target(path, (".html", ".htm"))
    write_atomic(path, solution_html(sol, lang, precision, methods))
