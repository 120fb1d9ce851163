"""Per-student handouts: the given numbers, the questions and a blank answer file, in markdown and HTML."""
from __future__ import annotations

import html

import numpy as np

from gradcalc.render.gradetext import md_text
from gradcalc.render.i18n import in_out_words, is_network, pick
from gradcalc.render import fmt

WORDS = {
    "en": {
        "student": "Student", "name": "Name", "given": "Given", "input": "Input",
        "batch": "Input batch X (rows are examples)", "params": "Parameters", "layer": "Layer {i}",
        "loss": "Loss", "mean": "mean over the batch", "reg": "L2 regularization",
        "values": "Values", "steps": "Computation", "questions": "Questions",
        "answer": "answer", "shape": "shape", "points": "points", "scalar": "a number",
        "vector": "vector of {n}", "matrix": "{r} × {c} matrix",
        "label": "label (0-based class index)", "labels": "labels (0-based class indices)",
        "targets": "targets (rows are examples)", "target": "target t",
        "grad_of": "∂{out}/∂{x}",
        "tolerance": "An answer within ±({atol} + {rtol}·|exact value|) of the exact value is "
                     "accepted, entry by entry; give at least {digits} significant digits.",
        "sigfigs": "Give every entry to {n} significant figures.",
        "layout": "A gradient has the shape of its parameter (W is out × in).",
        "layout_expr": "A gradient has the shape of its quantity.",
        "handin": "How to hand in",
        "handin_text": "Fill in this answer file (YAML) and hand it in.",
        "personal": "Every student has different numbers: compute with yours.",
        "key": "Answer key", "draws": "draws", "value": "value", "interval": "accepted",
        "solution": "Worked solution", "slope": "slope α = {a}",
        "stride": "stride {s}", "padding": "padding {p}", "flipped": "flipped kernel",
        "window": "window {k}", "array": "{dims} array",
    },
    "zh": {
        "student": "学号", "name": "姓名", "given": "已知", "input": "输入",
        "batch": "输入批量 X（每行一个样本）", "params": "参数", "layer": "第 {i} 层",
        "loss": "损失函数", "mean": "对批量取平均", "reg": "L2 正则化",
        "values": "取值", "steps": "计算过程", "questions": "题目",
        "answer": "答案", "shape": "形状", "points": "分值", "scalar": "标量",
        "vector": "{n} 维向量", "matrix": "{r} × {c} 矩阵",
        "label": "标签（类别下标，从 0 开始）", "labels": "标签（类别下标，从 0 开始）",
        "targets": "目标值（每行一个样本）", "target": "目标值 t",
        "grad_of": "∂{out}/∂{x}",
        "tolerance": "答案与精确值之差不超过 ±({atol} + {rtol}·|精确值|) 即判为正确（逐个元素判定）；"
                     "请至少保留 {digits} 位有效数字。",
        "sigfigs": "每个元素保留 {n} 位有效数字。",
        "layout": "梯度与对应参数形状相同（W 为 输出 × 输入）。",
        "layout_expr": "梯度与对应的量形状相同。",
        "handin": "提交方式",
        "handin_text": "填写下面的答案文件（YAML）后提交。",
        "personal": "每位同学的数值各不相同，请用你自己的数值计算。",
        "key": "参考答案", "draws": "抽取次数", "value": "值", "interval": "可接受范围",
        "solution": "完整解答", "slope": "斜率 α = {a}",
        "stride": "步长 {s}", "padding": "填充 {p}", "flipped": "卷积核翻转",
        "window": "窗口 {k}", "array": "{dims} 数组",
    },
}


def words(lang: str) -> dict:
    return pick(WORDS, lang)


# ---------------------------------------------------------------- blocks (shared by md and html)
# ("h1"|"h2"|"p"|"note", text) · ("math", name, array) · ("table", columns, rows, kinds)
# · ("code", text, language)

def given_number(x) -> str:
    """A given (drawn) number exactly as drawn, the shortest text that reads back as the same
    float: 0.3, -1.5, 2, 0.00005 (not the tables' lecture style 0.30)."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    text = repr(x)
    if "e" not in text:
        return text[:-2] if text.endswith(".0") else text
    if 1e-6 <= abs(x) < 1e15:
        return np.format_float_positional(x, trim="-")
    return text


def shape_text(a, lang: str) -> str:
    w = words(lang)
    a = np.asarray(a)
    if a.ndim == 0:
        return w["scalar"]
    if a.ndim == 1:
        return w["vector"].format(n=a.shape[0])
    if a.ndim > 2:       # feature maps, kernels: every axis (not the first two only)
        return w["array"].format(dims=" × ".join(map(str, a.shape)))
    return w["matrix"].format(r=a.shape[0], c=a.shape[1])


def _layer_note(i: int, layer, w: dict) -> str | None:
    """Settings of a layer that the formulas do not show (pooling window, stride, slope …)."""
    kind = getattr(layer, "type", "dense")
    parts = []
    if kind in ("conv2d", "conv1d"):
        parts = [w["stride"].format(s=layer.stride), w["padding"].format(p=layer.padding)]
        if layer.flip:
            parts.append(w["flipped"])
    elif kind.startswith(("maxpool", "avgpool")):
        parts = [w["window"].format(k=layer.size), w["stride"].format(s=layer.stride)]
    if layer.activation == "leaky_relu":
        parts.append(w["slope"].format(a=given_number(layer.alpha)))
    if kind == "dense" and not parts:
        return None
    head = w["layer"].format(i=i) + ("" if kind == "dense" else f" ({kind})")
    return head + (": " + ", ".join(parts) if parts else "")


def given_blocks(problem, lang: str, solution=None) -> list:
    """What the student is given: the numbers and the computation, in the problem's own names.

    The computation lines are the graph's own formulas (solution.formulas), so every layer
    type the network module knows is described without a case here."""
    from gradcalc.graph.network import leaf_values
    w = words(lang)
    blocks: list = []
    if problem.kind == "expression":
        from gradcalc.problem.exprparse import to_text
        blocks.append(("h2", w["steps"]))
        blocks.append(("code", "\n".join(f"{name} = {to_text(node)}" for name, node in problem.steps), ""))
        blocks.append(("h2", w["values"]))
        numbers = [(k, v) for k, v in problem.values.items() if np.ndim(v) == 0]
        if numbers:
            blocks.append(("p", ", ".join(f"{k} = {given_number(v)}" for k, v in numbers)))
        # vectors and matrices (issue 15's expression problems) as arrays, like a network's
        blocks += [("math", k, np.asarray(v, dtype=float)) for k, v in problem.values.items()
                   if np.ndim(v) > 0]
        return blocks
    blocks.append(("h2", w["given"]))
    leaves = leaf_values(problem)
    blocks.append(("p", w["batch"] if problem.batch else w["input"]))
    blocks.append(("math", "X" if problem.batch else "x", leaves.pop("x")))
    for i, layer in enumerate(problem.layers, 1):
        note = _layer_note(i, layer, w)
        if note:
            blocks.append(("p", note))
    if leaves:
        blocks.append(("p", w["params"]))
    for name, value in leaves.items():
        blocks.append(("math", name, value))
    loss = problem.loss
    if loss is not None:
        if loss.target is not None:
            blocks.append(("p", w["targets"] if problem.batch else w["target"]))
            blocks.append(("math", "T" if problem.batch else "t", loss.target))
        if loss.label is not None:
            lab = np.asarray(loss.label)
            blocks.append(("p", f"{w['labels' if lab.ndim else 'label']}: "
                                + (", ".join(str(int(v)) for v in lab.ravel()) if lab.ndim else str(int(lab)))))
    if problem.l2:
        blocks.append(("p", f"{w['reg']}: λ = {given_number(problem.l2)}"))
    if solution is not None:
        lines = []
        for name, formula in solution.formulas.items():
            if name in solution.leaves or name not in solution.forward:
                continue
            if loss is not None:
                formula = formula.replace("scale·", given_number(loss.scale) + "·") \
                    .replace("+ margin", "+ " + given_number(loss.margin)) \
                    .replace("(mean over the batch)", f"({w['mean']})")
            if lang == "zh":
                from gradcalc.render.i18n import zh_text
                formula = zh_text(formula)
            lines.append(f"{name} = {formula}")
        if any("σ(" in line for line in lines):
            lines.append("σ(z) = 1 / (1 + exp(−z))")
        blocks.append(("p", w["steps"]))
        blocks.append(("code", "\n".join(lines), ""))
    return blocks


def question_label(name: str, output: str) -> str:
    """dW1 -> "dW1 = ∂L/∂W1"; forward names as they are."""
    if name.startswith("d") and len(name) > 1 and not name.startswith("dL/"):
        return f"{name} = ∂{output}/∂{name[1:]}"
    return name


def questions_block(questions, refs: dict, output: str, lang: str) -> tuple:
    w = words(lang)
    rows = []
    for i, q in enumerate(questions, 1):
        v = refs.get(q.name)
        rows.append([str(i), question_label(q.name, output),
                     shape_text(v, lang) if v is not None else "", fmt.num(q.points, 6)])
    return ("table", ["#", w["answer"], w["shape"], w["points"]], rows, ["num", "text", "text", "num"])


def tolerance_note(questions, lang: str, problem=None) -> str:
    """How answers are judged, and the problem's own shape rule (as `gradcalc template` states
    it): W is out × in, in × out under `layout: in_out`, no W for an expression problem."""
    w = words(lang)
    if problem is not None and not is_network(problem):
        layout = w["layout_expr"]
    else:
        layout = in_out_words(problem, w["layout"])
    kinds = {(q.atol, q.rtol, getattr(q, "sigfigs", None)) for q in questions}
    if len(kinds) == 1:
        atol, rtol, sigfigs = kinds.pop()
        if sigfigs:
            text = w["sigfigs"].format(n=sigfigs)
        else:
            digits = max(3, int(np.ceil(-np.log10(max(rtol, 1e-12)))) + 2)
            text = w["tolerance"].format(atol=fmt.num(atol, 6), rtol=fmt.num(rtol, 6), digits=digits)
        return text + " " + layout
    return layout


def answer_file_text(student: str, name: str, questions, refs: dict) -> str:
    """A blank answer file for this student: every asked name, with its shape as a comment."""
    import json
    lines = [f"student: {json.dumps(student, ensure_ascii=False)}"]
    if name:
        lines.append(f"name: {json.dumps(name, ensure_ascii=False)}")
    lines.append("answers:")
    for q in questions:
        v = refs.get(q.name)
        a = np.asarray(v) if v is not None else np.asarray(0.0)
        if a.ndim == 0:
            blank = "null"
        elif a.ndim == 1:
            blank = "[" + ", ".join(["null"] * a.shape[0]) + "]"
        else:
            blank = "[" + ", ".join("[" + ", ".join(["null"] * a.shape[1]) + "]"
                                    for _ in range(a.shape[0])) + "]"
        lines.append(f"  {q.name}: {blank}")
    return "\n".join(lines) + "\n"


def handout_blocks(variant, questions, refs: dict, output: str, lang: str = "en",
                   name: str = "", solution=None, personal: bool = True) -> list:
    w = words(lang)
    p = variant.problem
    blocks: list = [("h1", p.title)]
    who = f"{w['student']}: {variant.student}"
    if name:
        who += f"  ·  {w['name']}: {name}"
    blocks.append(("p", who, "user"))      # roster text: escaped in markdown (issue 17)
    desc = p.raw.get("description") if isinstance(p.raw, dict) else None
    if isinstance(desc, str) and desc.strip():
        blocks.append(("p", desc.strip()))
    blocks += given_blocks(p, lang, solution)
    blocks.append(("h2", w["questions"]))
    blocks.append(questions_block(questions, refs, output, lang))
    blocks.append(("note", tolerance_note(questions, lang, p)))
    blocks.append(("h2", w["handin"]))
    blocks.append(("p", w["handin_text"] + (" " + w["personal"] if personal else "")))
    blocks.append(("code", answer_file_text(variant.student, name, questions, refs), "yaml"))
    return blocks


# ---------------------------------------------------------------- markdown
def tex_number(x) -> str:
    """A given number in LaTeX: 1e-07 as 1\\times 10^{-7}."""
    text = given_number(x)
    if "e" in text and text not in ("inf", "-inf"):
        mant, exp = text.split("e")
        return rf"{mant}\times 10^{{{int(exp)}}}"
    return text


def tex_arrays(name: str, a) -> list[str]:
    """`name = …` in LaTeX, a vector as a column and a matrix as a bmatrix (never between plain
    vertical bars: |−1| reads as an absolute value); an image, one matrix per leading index.
    The name is written as in the computation and the answer file (W1, not W⁽¹⁾)."""
    a = np.asarray(a)
    tex = name.replace("_", r"\_")
    if a.ndim > 2:
        return [line for i in range(a.shape[0]) for line in tex_arrays(f"{name}[{i + 1}]", a[i])]
    return [f"{tex} = {tex_value(a, tex_number)}"]


def tex_value(a, number=tex_number) -> str:
    """A scalar as is, a vector as a column bmatrix, a matrix as a bmatrix (LaTeX)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return number(a)
    rows = a.reshape(-1, 1) if a.ndim == 1 else a.reshape(a.shape[0], -1)
    body = r" \\ ".join(" & ".join(number(v) for v in row) for row in rows)
    return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def blocks_markdown(blocks) -> str:
    out: list[str] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        kind = b[0]
        if kind == "h1":
            out += [f"# {b[1]}", ""]
        elif kind == "h2":
            out += [f"## {b[1]}", ""]
        elif kind == "h3":
            out += [f"### {b[1]}", ""]
        elif kind == "p":       # ("p", text, "user"): text from a roster, markdown escaped
            out += [md_text(b[1]) if len(b) > 2 else b[1], ""]
        elif kind == "note":
            out += [f"*{b[1]}*", ""]
        elif kind == "math":
            # display math: vectors as columns, matrices as bmatrix
            for line in tex_arrays(b[1], b[2]):
                out += ["$$", line, "$$", ""]
        elif kind == "table":
            _, cols, rows, kinds = b
            out.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
            out.append("|" + "|".join("---:" if k == "num" else "---" for k in kinds) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("")
        elif kind == "code":
            out += [f"```{b[2]}", b[1].rstrip("\n"), "```", ""]
        i += 1
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------- HTML (self-contained)
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC","PingFang SC",
"Microsoft YaHei",sans-serif;max-width:52em;margin:2em auto;padding:0 1em;line-height:1.5;color:#111}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .7em;border:1px solid #ccc}
th{background:#f4f4f4}td.num{text-align:right}
.arr{display:flex;align-items:center;gap:.5em;margin:.4em 0 .4em 1em;font-family:ui-monospace,
"SFMono-Regular",Menlo,Consolas,monospace}
table.m{border-left:2px solid #111;border-right:2px solid #111;margin:0;
border-image:linear-gradient(to right,#111 .4em,transparent .4em,transparent calc(100% - .4em),
#111 calc(100% - .4em)) 2;border-top:2px solid;border-bottom:2px solid}
table.m td{border:none;text-align:right;padding:.1em .6em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto}.note{color:#444;font-style:italic}
@media print{pre{white-space:pre-wrap}}
"""


def _html_array(name: str, a) -> str:
    """MathML of `name = [column]` (a bracketed table when MathML cannot show it)."""
    from gradcalc.render.mathml import latex_mathml
    a = np.asarray(a)
    if a.ndim > 2:
        return "".join(_html_array(f"{name}[{i + 1}]", a[i]) for i in range(a.shape[0]))
    m = latex_mathml(tex_arrays(name, a)[0], display=True)
    if m is not None:      # (HTML5 needs no namespace: the page names no address at all)
        m = m.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "")
        return f'<div class="arr">{m}</div>'
    e = html.escape
    if a.ndim == 0:
        return f'<div class="arr"><span>{e(name)} =</span><span>{e(given_number(a))}</span></div>'
    rows = a.reshape(-1, 1) if a.ndim == 1 else a
    body = "".join("<tr>" + "".join(f"<td>{e(given_number(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f'<div class="arr"><span>{e(name)} =</span><table class="m">{body}</table></div>'


def blocks_html(blocks, lang: str = "en", title: str = "") -> str:
    e = html.escape
    parts = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{e(b[1])}</p>")
        elif kind == "note":
            parts.append(f'<p class="note">{e(b[1])}</p>')
        elif kind == "math":
            parts.append(_html_array(b[1], b[2]))
        elif kind == "table":
            _, cols, rows, kinds = b
            head = "".join(f"<th>{e(c)}</th>" for c in cols)
            body = "".join("<tr>" + "".join(
                f'<td class="num">{e(c)}</td>' if k == "num" else f"<td>{e(c)}</td>"
                for c, k in zip(r, kinds)) + "</tr>" for r in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "code":
            parts.append(f"<pre><code>{e(b[1])}</code></pre>")
    html_lang = "zh-CN" if lang == "zh" else "en"
    return ("<!DOCTYPE html>\n"
            f'<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")
