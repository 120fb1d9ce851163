"""Formulas for people: the local derivative of each backward step, closed forms per parameter."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gradcalc.derive.symbolic.backend import STAND_INS
from gradcalc.derive.symbolic.groups import Renamed, expr_of, same
from gradcalc.ops.arrays import sympy_module
from gradcalc.derive.symbolic.names import latex_name, pretty_name
from gradcalc.derive.symbolic.output_form import is_transcendental, rewrite_in_output
from gradcalc.derive.symbolic.patterns import generalize
from gradcalc.derive.symbolic.printing import FormulaPrinter, node_count

if TYPE_CHECKING:
    from gradcalc.derive.symbolic.backend import SymNode
    from gradcalc.derive.symbolic.engine import SymbolicResult

CLOSED_LIMIT = 3000          # partial derivatives in the graph; above it no closed forms
LAYOUT = ("Layout: every gradient has the shape of its parameter (∂L/∂W is out × in, like W); "
          "entry (i, j) of ∂L/∂W is ∂L/∂Wᵢⱼ. Indices are 1-based as in the lecture.")
LAYOUT_LATEX = (r"Layout: every gradient has the shape of its parameter "
                r"($\partial L/\partial W$ is out $\times$ in, like $W$); indices are 1-based.")
_BIG = 60                    # a closed form larger than this (tree nodes) gets a δ name
_SHOW = 4                    # entries listed when no index pattern is found


@dataclass
class FormulaLine:
    """One formula, as text (unicode) and LaTeX; `node`/`wrt` say what it differentiates."""

    node: str
    wrt: str
    text: str
    latex: str


class _LaterLatex(FormulaLine):
    """A FormulaLine whose LaTeX is printed when first read (given as a function of no
    arguments): a check prints only the text; JSON, HTML and LaTeX read it."""

    @property
    def latex(self) -> str:
        v = self.__dict__["_latex"]
        if callable(v):
            v = self.__dict__["_latex"] = v()
        return v

    @latex.setter
    def latex(self, v) -> None:
        self.__dict__["_latex"] = v


@dataclass
class Formulas:
    layout: str
    local: list[FormulaLine]        # one per (backward step, input): SymPy's local derivative
    gradients: list[FormulaLine] | None   # per parameter: closed form (None: not computed)
    definitions: list[FormulaLine]  # δ names and common subexpressions used above
    note: str = ""                  # why closed forms were left out, if they were

    def to_json(self) -> dict:
        return {"layout": self.layout,
                "local": [{"node": f.node, "wrt": f.wrt, "latex": f.latex} for f in self.local],
                "gradients": {f.wrt: f.latex for f in self.gradients or []},
                "definitions": [{"name": f.wrt, "latex": f.latex} for f in self.definitions],
                "note": self.note}


class FormulaBuilder:
    def __init__(self, res: SymbolicResult):
        self.res = res
        self.be = res.backend
        self.sp = sympy_module()
        self.pr = FormulaPrinter(self.be.network)
        self.pr.known(self.be.info)          # names made when a symbol is printed
        self.by_key = {key: s for s, key in self.be.info.items()}   # (name, index) -> symbol
        self.definitions: list[FormulaLine] = []
        self.cse_names: dict = {}         # common subexpression -> its name c1, c2 …
        self._outputs: dict = {}          # (form, derivative) over the stand-ins -> output form
        self._group_local: dict = {}      # id(group) -> [(position, shown, raw, free …)]

    # -- local derivatives, in the output's terms when SymPy finds such a form
    def _local(self, node: SymNode, k: int) -> list:
        where = node.where[k] if node.where else None
        if where is not None and not where[0].own:
            # the entry's group: its local derivatives are the group's, renamed (built lazily)
            g, r = where
            mapping = dict(zip(g.places, g.args[r]))
            mapping[STAND_INS.o] = node.syms.flat[k]
            out = []
            for p, shown, raw, free_s, free_r in self._of_group(g):
                rr = Renamed(raw, mapping, free_r)
                out.append((g.args[r][p], rr if shown is raw else Renamed(shown, mapping, free_s),
                            rr))
            return sorted(out, key=lambda t: self.be.order[t[0]])
        out = []
        form = node.forms.flat[k]
        s = node.syms.flat[k]
        for u, d in self.be.partials(node, k):
            shown = d
            if len(form.free_symbols) == 1 and is_transcendental(d):
                o = self._output_form(d, u, form, s)
                if o is not None:
                    shown = o
            out.append((u, shown, d))
        return out

    def _of_group(self, g) -> list:
        """The local derivatives of a group's template, over its places (and the stand-in
        output o when written in the output's terms)."""
        found = self._group_local.get(id(g))
        if found is None:
            found = []
            single = len(g.template.free_symbols) == 1
            for p, d in self.be.group_partials(g):
                shown = d
                if single and is_transcendental(d):
                    o = self._output_form(d, g.places[p], g.template, STAND_INS.o)
                    if o is not None:
                        shown = o
                found.append((p, shown, d, tuple(shown.free_symbols), tuple(d.free_symbols)))
            self._group_local[id(g)] = found
        return found

    def _output_form(self, d, u, form, o):
        """rewrite_in_output, found once per elementwise form: the derivative is written over the
        stand-in symbols (u, o) and the result renamed for each entry."""
        U, O = STAND_INS.u, STAND_INS.o
        if u.assumptions0 != U.assumptions0 or o.assumptions0 != O.assumptions0:
            return rewrite_in_output(d, u, form, o)
        key = (form.xreplace({u: U}), d.xreplace({u: U}))
        if key not in self._outputs:
            self._outputs[key] = rewrite_in_output(key[1], U, key[0], O)
        found = self._outputs[key]
        return None if found is None else found.xreplace({U: u, O: o})

    def build(self, closed: bool = True) -> Formulas:
        be = self.be
        local_lines = []
        cache: dict = {}
        for node in reversed(self.be.nodes):
            per_input: dict[str, list] = {}
            for k, out_idx in enumerate(np.ndindex(node.syms.shape)):   # k is the flat index
                out_idx = tuple(int(i) for i in out_idx)
                for u, shown, raw in self._local_cached(node, k, cache):
                    src, src_idx = be.info[u]
                    per_input.setdefault(src, []).append((out_idx + tuple(src_idx), shown, raw))
            for src, entries in per_input.items():
                if src in be.consts:    # targets are not differentiated
                    continue
                local_lines.append(self._local_line(node, src, entries))
        note = ""
        work = be.partial_count()
        if closed and work > CLOSED_LIMIT:
            # a batch or a wide layer: the closed forms would be long sums nobody reads
            note = (f"Closed forms left out: the graph has {work} partial derivatives "
                    f"(> {CLOSED_LIMIT}); the local derivatives above give every step.")
            grads = []
        else:
            grads = self._gradient_lines() if closed else None
        return Formulas(LAYOUT, local_lines, grads, self.definitions, note)

    def _local_cached(self, node, k, cache):
        key = (id(node), k)
        if key not in cache:
            cache[key] = self._local(node, k)
        return cache[key]

    def _local_line(self, node, src, entries) -> FormulaLine:
        pr = self.pr
        out_shape = node.syms.shape
        src_shape = self.be.by_name[src].shape
        npos = len(out_shape)
        pat = generalize([(key, shown) for key, shown, _ in entries], self.be.info, self.by_key)
        if pat is not None:
            expr, letters, gen = pat
            lhs_t = f"∂{pretty_name(node.name, letters[:npos], pr.network)}/" \
                    f"∂{pretty_name(src, letters[npos:], pr.network)}"
            lhs_l = (r"\frac{\partial " + latex_name(node.name, letters[:npos], pr.network) +
                     r"}{\partial " + latex_name(src, letters[npos:], pr.network) + "}")
            for g, (gname, gidx) in gen.items():
                pr.add(g, gname, gidx)
            raw_pat = None
            if any(not same(r, s) for _, s, r in entries):
                rp = generalize([(key, r) for key, _, r in entries], self.be.info, self.by_key)
                if rp is not None and rp[1] == letters:
                    raw_pat = rp[0]
                    for g, (gname, gidx) in rp[2].items():
                        pr.add(g, gname, gidx)
            text = f"{lhs_t} = " + (f"{pr.text(raw_pat)} = " if raw_pat is not None else "") + \
                pr.text(expr)
            tail = ""
            full = int(np.prod(out_shape)) * int(np.prod(src_shape))
            if letters[:npos] == letters[npos:] and len(out_shape) == len(src_shape) and full > 1:
                text += " (elementwise)"
                tail = r"\quad\text{(elementwise)}"
            elif len(entries) < full:
                text += " (other entries 0)"
                tail = r"\quad\text{(other entries 0)}"
            return _LaterLatex(node.name, src, text, lambda: f"{lhs_l} = " + (
                f"{pr.latex(raw_pat)} = " if raw_pat is not None else "") + pr.latex(expr) + tail)
        texts, latexes = [], []
        for key, shown, _ in entries[:_SHOW]:
            lhs_t = f"∂{pretty_name(node.name, key[:npos], pr.network)}/" \
                    f"∂{pretty_name(src, key[npos:], pr.network)}"
            lhs_l = (r"\frac{\partial " + latex_name(node.name, key[:npos], pr.network) +
                     r"}{\partial " + latex_name(src, key[npos:], pr.network) + "}")
            texts.append(f"{lhs_t} = {pr.text(expr_of(shown))}")
            latexes.append((lhs_l, shown))
        more = len(entries) - _SHOW
        tail = [rf"\dots\ \text{{({more} more)}}"] if more > 0 else []
        if more > 0:
            texts.append(f"… ({more} more)")
        return _LaterLatex(node.name, src, "; ".join(texts), lambda: r",\quad ".join(
            [f"{lhs} = {pr.latex(expr_of(shown))}" for lhs, shown in latexes] + tail))

    # -- closed forms per parameter, in the named quantities (unnamed gates are inlined)
    def _gradient_lines(self) -> list[FormulaLine]:
        sp, be, pr, res = self.sp, self.be, self.pr, self.res
        inline: dict = {}
        for node in be.nodes:
            if node.name not in res.named:
                for k, s in enumerate(node.syms.flat):
                    inline[s] = node.form(k).xreplace(inline)
        adj: dict = {s: sp.Integer(1) for s in res.out_handle.flat}
        cache: dict = {}
        for node in reversed(be.nodes):
            for k, s in enumerate(node.syms.flat):
                a = adj.get(s)
                if a is None or a == 0:
                    continue
                if node.name in res.named and _too_big(a):
                    d = sp.Symbol("δ" + s.name, real=True)
                    pr.text_names[d] = "δ" + pr.text_names[s]
                    pr.latex_names[d] = r"\delta " + pr.latex_names[s]
                    name = f"∂{pretty_name(res.output, (), pr.network)}/∂{pr.text_names[s]}"
                    self.definitions.append(FormulaLine(node.name, pr.text_names[d],
                                                        f"{pr.text_names[d]} = {name} = "
                                                        f"{pr.text(a)}",
                                                        f"{pr.latex_names[d]} = {pr.latex(a)}"))
                    a = d
                for u, shown, _ in self._local_cached(node, k, cache):
                    shown = expr_of(shown)
                    term = a * shown.xreplace(inline) if inline else a * shown
                    adj[u] = adj[u] + term if u in adj else term
        lines = []
        for name, h in be.leaves.items():
            entries = [(idx, adj.get(h[idx], sp.Integer(0))) for idx in np.ndindex(h.shape)]
            lines.append(self._gradient_line(name, h, entries))
        return lines

    def _gradient_line(self, name, h, entries) -> FormulaLine:
        sp, pr = self.sp, self.pr
        out_t = pretty_name(self.res.output, (), pr.network)
        out_l = latex_name(self.res.output, (), pr.network)
        pat = generalize(entries, self.be.info, self.by_key) if len(entries) > 1 else None
        if pat is not None:
            expr, letters, gen = pat
            for g, (gname, gidx) in gen.items():
                pr.add(g, gname, gidx)
            return FormulaLine(self.res.output, name,
                               f"∂{out_t}/∂{pretty_name(name, letters, pr.network)} = "
                               f"{pr.text(expr)}",
                               rf"\frac{{\partial {out_l}}}{{\partial "
                               rf"{latex_name(name, letters, pr.network)}}} = {pr.latex(expr)}")
        exprs = [e for _, e in entries]
        shown = entries[:_SHOW]
        if len(entries) > 1:
            try:   # local names c1, c2 … that cse picks; renamed to shared names below
                subs, reduced = sp.cse(exprs[:_SHOW], symbols=(
                    sp.Dummy(f"c{i}") for i in itertools.count(1)))
            except Exception:   # cse is a convenience only
                subs, reduced = [], exprs[:_SHOW]
            if subs and sum(node_count(e) for e in reduced) + sum(node_count(e) for _, e in subs) < \
                    sum(node_count(e) for e in exprs[:_SHOW]):
                rename = {}
                for c, e in subs:
                    e = e.xreplace(rename)
                    if e not in self.cse_names:      # one name per subexpression, problem-wide
                        k = len(self.cse_names) + 1
                        sym = sp.Symbol(f"c{k}", real=True)
                        self.cse_names[e] = sym
                        pr.text_names[sym] = sym.name
                        pr.latex_names[sym] = "c_{" + str(k) + "}"
                        self.definitions.append(FormulaLine(name, sym.name,
                                                            f"{sym.name} = {pr.text(e)}",
                                                            f"c_{{{k}}} = {pr.latex(e)}"))
                    rename[c] = self.cse_names[e]
                shown = list(zip([i for i, _ in entries[:_SHOW]],
                                 [r.xreplace(rename) for r in reduced]))
        texts = [f"∂{out_t}/∂{pretty_name(name, idx, pr.network)} = {pr.text(e)}"
                 for idx, e in shown]
        latexes = [rf"\frac{{\partial {out_l}}}{{\partial {latex_name(name, idx, pr.network)}}}"
                   rf" = {pr.latex(e)}" for idx, e in shown]
        if len(entries) > _SHOW:
            texts.append(f"… ({len(entries) - _SHOW} more)")
            latexes.append(rf"\dots\ \text{{({len(entries) - _SHOW} more)}}")
        return FormulaLine(self.res.output, name, "; ".join(texts), r",\quad ".join(latexes))


def _too_big(e) -> bool:
    from sympy import preorder_traversal
    for n, _ in enumerate(preorder_traversal(e)):
        if n > _BIG:
            return True
    return False
