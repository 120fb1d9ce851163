"""Tables and JSON for the three-way comparison (gradcalc check, and solve's method tables)."""
from __future__ import annotations

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.i18n import layout_note, localize, pick
from gradcalc.render.tables import Table

WORDS = {
    "en": {
        "parameter": "parameter", "ag_sym": "autograd↔symbolic", "ag_num": "autograd↔numeric",
        "verdict": "verdict", "agree": "agree", "disagree": "DISAGREE", "skipped": "skipped",
        "entry": "entry", "autograd": "autograd", "symbolic": "symbolic (SymPy)",
        "numeric": "numeric (central diff.)", "rel": "rel. error", "abs": "abs. error",
        "band": "band", "kinks": "Entries at a kink (finite differences unreliable here)",
        "node": "node", "reason": "reason", "failures": "Disagreements",
        "summary": "Summary", "problem": "problem", "max_rel": "max rel. error",
        "methods": "Three derivations", "agreement": "Agreement",
        "local": "Local derivatives derived by SymPy from each forward form",
        "closed": "Gradients in closed form (SymPy)", "formula": "formula",
        "exact": "Exact values (--exact: the problem's decimals read as fractions)",
        "exact_value": "exact", "decimal": "decimal", "forward": "forward values",
        "direction": "random direction",
        "kink_rule": "Kink convention: ",
        "ag": "autograd", "sym_short": "symbolic", "num_short": "numeric",
        "paren": " ({})", "sep": "; ", "unreliable": "unreliable at kinks",
        "unreliable_steps": "unreliable (the steps were too large)",
        "kink_entries": "{n} entries at a kink (unreliable for finite differences)",
        "only": "autograd only", "at_kinks": "{n} at kinks", "kinks_col": "kinks",
        "pair": "pair",
        "problems_note": "{n} problems: {ok} agree, {bad} disagree. Tolerances: |a − b| ≤ "
                         "atol + rtol·|b| with (atol, rtol) = {sym} for autograd↔symbolic and "
                         "{num} for autograd↔numeric.",
        "forward_differ": "Forward values differ: autograd (NumPy forward) vs the SymPy "
                          "forward forms",
        "name": "name", "more": "… {n} more",
    },
    "zh": {
        "parameter": "参数", "ag_sym": "自动微分↔符号", "ag_num": "自动微分↔数值",
        "verdict": "结论", "agree": "一致", "disagree": "不一致", "skipped": "跳过",
        "entry": "分量", "autograd": "自动微分", "symbolic": "符号 (SymPy)",
        "numeric": "数值 (中心差分)", "rel": "相对误差", "abs": "绝对误差",
        "band": "等级", "kinks": "位于不可导点的分量（有限差分在此不可靠）",
        "node": "节点", "reason": "原因", "failures": "不一致之处",
        "summary": "汇总", "problem": "题目", "max_rel": "最大相对误差",
        "methods": "三种推导", "agreement": "一致性",
        "local": "SymPy 由前向公式推导的局部梯度",
        "closed": "梯度的闭式表达 (SymPy)", "formula": "公式",
        "exact": "精确值（--exact：题目中的小数按分数处理）",
        "exact_value": "精确值", "decimal": "小数", "forward": "前向值",
        "direction": "随机方向",
        "kink_rule": "不可导点约定：",
        "ag": "自动微分", "sym_short": "符号", "num_short": "数值",
        "paren": "（{}）", "sep": "；", "unreliable": "在不可导点不可靠", "unreliable_steps": "不可靠（步长过大）",
        "kink_entries": "{n} 个分量位于不可导点（有限差分在此不可靠）",
        "only": "仅自动微分", "at_kinks": "{n} 个位于不可导点", "kinks_col": "不可导点",
        "pair": "比较",
        "problems_note": "共 {n} 道题：{ok} 道一致，{bad} 道不一致。容差：|a − b| ≤ atol + "
                         "rtol·|b|，自动微分↔符号取 (atol, rtol) = {sym}，自动微分↔数值取 {num}。",
        "forward_differ": "前向值不一致：自动微分（NumPy 前向）与 SymPy 前向表达式",
        "name": "名称", "more": "… 另有 {n} 个",
    },
}


def words(lang: str) -> dict:
    return pick(WORDS, lang)


def _sci(x: float) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    return "0" if x == 0 else f"{x:.1e}"


def _net(rep) -> bool:
    return getattr(rep.problem, "kind", "") == "network"


def entry_name(param: str, index, network: bool = True) -> str:
    """W1, (0, 1) -> W⁽¹⁾₁₂ (the lecture's 1-based names)."""
    from gradcalc.derive.symbolic.names import pretty_name
    return pretty_name(param, tuple(index), network)


def _verdict(ok: bool, w: dict, kinks: int = 0) -> str:
    text = w["agree"] if ok else w["disagree"]
    return text + (w["paren"].format(w["at_kinks"].format(n=kinks)) if kinks else "")


def agreement_line(rep, lang: str = "en") -> str:
    """One line: which derivations agree, by how much, and what was left out."""
    w = words(lang)
    mark = {True: "✓", False: "✗"}
    short = {"symbolic": w["sym_short"], "numeric": w["num_short"]}
    parts = []
    for key, pair in rep.pairs.items():
        sign = "=" if key == "symbolic" else "≈"
        parts.append(f"{w['ag']} {sign if pair.ok else '≠'} {short.get(key, key)} "
                     f"{mark[pair.ok]}"
                     + w["paren"].format(f"{w['max_rel']} {_sci(pair.max_rel)}"))
    if rep.forward is not None:
        parts.append(f"{w['forward']} {mark[rep.forward.ok]}")
    if rep.direction is not None:
        state = (w["unreliable_steps"] if rep.direction.get("steps_too_large")
                 else w["unreliable"] if rep.direction.get("unreliable")
                 else mark[bool(rep.direction["ok"])])
        parts.append(f"{w['direction']} {state}"
                     + w["paren"].format(f"{w['rel']} {_sci(rep.direction['rel_error'])}"))
    head = f"{w['agreement']}: " + (w["agree"] if rep.ok else w["disagree"])
    text = head + " — " + w["sep"].join(parts) if parts else head + " — " + w["only"]
    if rep.kinks:
        text += w["sep"] + w["kink_entries"].format(n=len(rep.kinks))
    for note in rep.notices:
        text += w["sep"] + note
    return text


def parameter_table(rep, lang: str = "en") -> Table:
    """parameter · max rel. error autograd↔symbolic · autograd↔numeric · verdict."""
    w = words(lang)
    rows = []
    for name in rep.names:
        cells, ok, kinks = [name], True, 0
        for key in ("symbolic", "numeric"):
            pair = rep.pairs.get(key)
            if pair is None:
                cells.append(w["skipped"])
                continue
            p = pair.params[name]
            ok &= p.ok
            kinks += p.kinks
            cells.append(_sci(p.max_rel) + ("" if p.ok else " ✗"))
        cells.append(_verdict(ok, w, kinks))
        rows.append(cells)
    title = f"{rep.title} ({rep.file})"
    return Table(title, [w["parameter"], w["ag_sym"], w["ag_num"], w["verdict"]], rows,
                 note=agreement_line(rep, lang), kinds=["text", "num", "num", "text"])


def failure_table(rep, lang: str = "en", precision: int = 6, limit: int = 20) -> Table | None:
    """Each failing entry by name and index with the three values side by side."""
    w = words(lang)
    net = _net(rep)
    rows = []
    for key, pair in rep.pairs.items():
        for e in pair.failures[:limit]:
            vals = [fmt.num(rep.methods[m][e.param][e.index], precision)
                    if m in rep.methods and np.isfinite(rep.methods[m][e.param][e.index]) else "—"
                    for m in ("autograd", "symbolic", "numeric")]
            rows.append([f"{entry_name(e.param, e.index, net)}  [{e.param}{list(e.index)}]",
                         *vals, w["ag_sym" if key == "symbolic" else "ag_num"],
                         _sci(e.rel_err), _sci(e.abs_err)])
    if not rows:
        return None
    return Table(w["failures"], [w["entry"], w["autograd"], w["symbolic"], w["numeric"],
                                 w["pair"], w["rel"], w["abs"]], rows,
                 kinds=["text", "num", "num", "num", "text", "num", "num"])


def forward_failure_table(rep, lang: str = "en", precision: int = 6) -> Table | None:
    if rep.forward is None or rep.forward.ok:
        return None
    rows = [[name, fmt.value(a, precision), fmt.value(b, precision)]
            for name, a, b in rep.forward.mismatches]
    w = words(lang)
    return Table(w["forward_differ"], [w["name"], w["autograd"], w["symbolic"]], rows,
                 kinds=["text", "num", "num"])


def kink_table(rep, lang: str = "en", precision: int = 6, limit: int = 20) -> Table | None:
    from gradcalc.ops import KINK_CONVENTION
    w = words(lang)
    if not rep.kinks:
        return None
    net = _net(rep)
    rows = []
    for k in rep.kinks[:limit]:
        a = rep.methods["autograd"][k.param][k.index]
        n = rep.methods["numeric"][k.param][k.index]
        rows.append([entry_name(k.param, k.index, net), k.node, fmt.num(a, precision),
                     fmt.num(n, precision), k.reason])
    if len(rep.kinks) > limit:
        rows.append([w["more"].format(n=len(rep.kinks) - limit), "", "", "", ""])
    return Table(w["kinks"], [w["entry"], w["node"], w["autograd"], w["numeric"], w["reason"]],
                 rows, note=w["kink_rule"] + KINK_CONVENTION,
                 kinds=["text", "text", "num", "num", "text"])


def formula_tables(rep, lang: str = "en", closed: bool = True) -> list[Table]:
    """SymPy's local derivative of every backward step (and the closed forms per parameter)."""
    w = words(lang)
    if rep.symbolic is None:
        return []
    F = rep.symbolic.formulas(closed)
    out = [Table(w["local"], [w["node"], w["formula"]],
                 [[f.node, _clip(f.text)] for f in F.local],
                 note=layout_note(rep.problem, lang, F.layout))]
    if closed:
        rows = [[f.wrt, _clip(f.text)] for f in F.gradients or []]
        rows += [[f.wrt, _clip(f.text)] for f in F.definitions]
        if rows:
            out.append(Table(w["closed"], [w["parameter"], w["formula"]], rows, note=F.note))
        elif F.note:
            out[0].note += " " + F.note
    return out


def _clip(text: str, limit: int = 400) -> str:
    """Long formulas are cut in tables (JSON and LaTeX keep them whole)."""
    return text if len(text) <= limit else text[:limit].rstrip() + " … (cut; see --format json)"


def exact_table(rep, lang: str = "en", precision: int = 10) -> Table | None:
    from gradcalc.derive.symbolic.printing import exact_text
    w = words(lang)
    if rep.symbolic is None or not rep.symbolic.exact:
        return None
    net = _net(rep)
    rows = []
    for name, vals in rep.symbolic.exact_gradients.items():
        for idx in np.ndindex(vals.shape):
            rows.append([f"∂{rep.output}/∂{entry_name(name, idx, net)}",
                         exact_text(vals[idx], net)[0],
                         fmt.num(rep.symbolic.gradients[name][idx], precision)])
    return Table(w["exact"], [w["entry"], w["exact_value"], w["decimal"]], rows,
                 kinds=["text", "text", "num"])


def check_tables(rep, lang: str = "en", precision: int = 6, formulas: bool = True) -> list[Table]:
    """Everything `gradcalc check` prints for one problem."""
    tables = [parameter_table(rep, lang)]
    for t in (forward_failure_table(rep, lang, precision), failure_table(rep, lang, precision),
              kink_table(rep, lang, precision), exact_table(rep, lang)):
        if t is not None:
            tables.append(t)
    if formulas:
        tables += formula_tables(rep, lang, closed=False)
    return localize(tables, lang)


def summary_table(reports, lang: str = "en") -> Table:
    from gradcalc.compare.methods import TOLERANCES
    w = words(lang)
    tol = {k: f"({a:g}, {r:g})".replace("e-0", "e-") for k, (a, r) in TOLERANCES.items()}
    rows = [[r.file, _sci(r.pairs["symbolic"].max_rel) if "symbolic" in r.pairs else w["skipped"],
             _sci(r.pairs["numeric"].max_rel) if "numeric" in r.pairs else w["skipped"],
             str(len(r.kinks)), w["agree"] if r.ok else w["disagree"]] for r in reports]
    bad = sum(not r.ok for r in reports)
    note = w["problems_note"].format(n=len(reports), ok=len(reports) - bad, bad=bad,
                                     sym=tol["symbolic"], num=tol["numeric"])
    return localize([Table(w["summary"], [w["problem"], w["ag_sym"], w["ag_num"],
                                          w["kinks_col"], w["verdict"]],
                           rows, note=note, kinds=["text", "num", "num", "num", "text"])],
                    lang)[0]


def methods_tables(sol, lang: str = "en", precision: int = 4) -> list[Table]:
    """For `gradcalc solve`: the gradients of the methods side by side, then the formulas."""
    rep = sol.comparison.report if sol.comparison is not None else None
    if rep is None:
        return []
    w = words(lang)
    cols = [w["parameter"]] + [w[m] for m in rep.methods]
    rows = []
    for name in rep.names:
        values = [g[name] for g in rep.methods.values()]
        texts = [fmt.value(v, precision, multiline=True) for v in values]
        # a value equal to autograd's at the shown digits is written as autograd's
        # (−3.9999999 from central differences is −4 there, not −4.00); rounded only
        # where the texts differ (a text equal to autograd's is autograd's already)
        first = None
        for k in range(1, len(texts)):
            if texts[k] != texts[0]:
                first = _shown(values[0], precision) if first is None else first
                shown = _shown(values[k], precision)
                if shown is not None and shown == first:
                    texts[k] = texts[0]
        rows.append([f"∂{rep.output}/∂{name}"] + texts)
    tables = [Table(w["methods"], cols, rows, note=agreement_line(rep, lang),
                    kinds=["text"] + ["num"] * len(rep.methods))]
    for t in (failure_table(rep, lang), kink_table(rep, lang)):
        if t is not None:
            tables.append(t)
    tables += formula_tables(rep, lang)
    t = exact_table(rep, lang)
    if t is not None:
        tables.append(t)
    return tables


def _shown(v, precision: int) -> tuple | None:
    """The entries of `v` rounded to `precision` significant digits (None: not comparable)."""
    a = np.asarray(v, dtype=float)
    if not np.all(np.isfinite(a)):
        return None
    return a.shape, tuple(float(f"{x:.{precision}g}") + 0.0 for x in a.ravel())


def report_json(rep) -> dict:
    """One problem of `gradcalc check --format json`."""
    from gradcalc.compare.methods import json_grads
    out = {"file": rep.file, "title": rep.title, "output": rep.output, "ok": rep.ok,
           "entries": rep.size,
           "methods": {m: json_grads(g) for m, g in rep.methods.items()},
           "agreement": rep.agreement(),
           "parameters": {name: {key: {"max_rel_error": p.params[name].max_rel,
                                       "max_abs_error": p.params[name].max_abs,
                                       "worst_index": (list(p.params[name].worst)
                                                       if p.params[name].worst is not None
                                                       else None),
                                       "ok": p.params[name].ok,
                                       "checked": p.params[name].checked,
                                       "kinks": p.params[name].kinks}
                                 for key, p in rep.pairs.items()}
                          for name in rep.names}}
    if rep.symbolic is not None:
        out["formulas"] = rep.symbolic.formulas().to_json()
    return out


def check_json(reports) -> dict:
    from gradcalc.compare.methods import clean_json
    return clean_json({"ok": all(r.ok for r in reports),
            "problems": [report_json(r) for r in reports],
            "summary": {"problems": len(reports), "agree": sum(r.ok for r in reports),
                        "disagree": sum(not r.ok for r in reports)}})
