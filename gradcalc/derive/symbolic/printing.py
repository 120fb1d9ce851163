"""Expressions printed for people: text and LaTeX with the lecture's names; exact values."""
from __future__ import annotations

from gradcalc.derive.symbolic.backend import as_sympy
from gradcalc.ops.arrays import sympy_module
from gradcalc.derive.symbolic.names import latex_name, pretty_name


def _positive_first(terms):
    """y − t rather than −t + y: terms without a minus sign first (a stable reordering)."""
    return sorted(terms, key=lambda t: t.could_extract_minus_sign())


class _Names(dict):
    """symbol -> its printed name; a symbol of `source` ({symbol: (name, index)}) gets its name
    from `make` when first printed (a problem can have thousands; few are printed)."""

    def __init__(self, make):
        super().__init__()
        self.make = make
        self.source: dict = {}

    def __missing__(self, sym):
        made = self[sym] = self.make(*self.source[sym])     # KeyError: not a symbol we name
        return made

    def __contains__(self, sym) -> bool:
        return dict.__contains__(self, sym) or sym in self.source

    def get(self, sym, default=None):
        return self[sym] if sym in self else default


class FormulaPrinter:
    """Unicode and LaTeX printing with the lecture's names for our symbols."""

    def __init__(self, network: bool):
        from sympy.printing.latex import LatexPrinter
        from sympy.printing.str import StrPrinter
        self.network = network
        self.text_names = _Names(lambda name, idx: pretty_name(name, idx, network))
        self.latex_names = _Names(lambda name, idx: latex_name(name, idx, network))
        names = self.text_names
        # a sum's terms in printing order, per (sum, order): SymPy's ordering (monomial sort
        # keys) is most of the cost of printing a long sum, and a table prints one sum many
        # times (the norm under every ∂‖w‖/∂wₖ), as text and as LaTeX alike
        ordered: dict = {}

        def terms_of(printer, expr, order, parent):
            key = (expr, order or printer.order)
            found = ordered.get(key)
            if found is None:
                found = ordered[key] = _positive_first(parent(expr, order))
            return list(found)

        def printed_sum(memo, expr, order, parent):
            # a sum prints the same wherever it stands (its parentheses are its caller's)
            key = (expr, order)
            found = memo.get(key)
            if found is None:
                found = memo[key] = parent(expr, order)
            return found

        latex_sums: dict = {}
        text_sums: dict = {}

        class L(LatexPrinter):
            def _as_ordered_terms(self, expr, order=None):
                return terms_of(self, expr, order, super()._as_ordered_terms)

            def _print_Add(self, expr, order=None):
                return printed_sum(latex_sums, expr, order, super()._print_Add)

        self._latex = L({"symbol_names": self.latex_names, "mul_symbol": None,
                         "full_prec": False})

        class P(StrPrinter):
            def _as_ordered_terms(self, expr, order=None):
                return terms_of(self, expr, order, super()._as_ordered_terms)

            def _print_Add(self, expr, order=None):
                return printed_sum(text_sums, expr, order, super()._print_Add)

            def _print_Symbol(self, s):
                return names.get(s, s.name)

            def _print_Piecewise(self, e):
                pieces = [(self._print(v), c) for v, c in e.args]
                last_true = bool(pieces[-1][1] == True)  # noqa: E712  (SymPy's true)
                if len(pieces) == 2 and last_true and pieces[1][0] == "0":
                    return (f"1[{self._print(pieces[0][1])}]" if pieces[0][0] == "1"
                            else f"({pieces[0][0]} if {self._print(pieces[0][1])} else 0)")
                parts = [f"{v} if {self._print(c)}" for v, c in pieces[:-1]]
                return "(" + " else ".join(parts) + f" else {pieces[-1][0]})"

        self._str = P({"full_prec": False})

    def known(self, info: dict) -> None:
        """Name every symbol of `info` ({symbol: (name, index)}) like `add`, when printed."""
        self.text_names.source = self.latex_names.source = info

    def add(self, sym, name, idx):
        self.text_names[sym] = pretty_name(name, idx, self.network)
        self.latex_names[sym] = latex_name(name, idx, self.network)

    def text(self, e) -> str:
        s = _deep(lambda: self._str.doprint(_tidy(e)), TOO_DEEP[0])
        return s.replace("**", "^").replace("*", "·").replace(" - ", " − ").replace("-", "−")

    def latex(self, e) -> str:
        return _deep(lambda: self._latex.doprint(_tidy(e)), TOO_DEEP[1])


# SymPy's printers recurse about five Python frames per level of nesting: a derivative of the
# parser's deepest expression (200 levels) needs more than Python's default 1,000 frames
PRINT_RECURSION = 8000
TOO_DEEP = ("(too deeply nested to print)", r"\text{(too deeply nested to print)}")


def _deep(make, fallback: str) -> str:
    """make() with room for PRINT_RECURSION frames; the fallback text past that."""
    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, PRINT_RECURSION))
    try:
        return make()
    except RecursionError:
        return fallback
    finally:
        sys.setrecursionlimit(limit)


def _tidy(e):
    """Integer-valued floats (1.0 from 2 · 0.5) print as integers."""
    sp = sympy_module()
    if not isinstance(e, sp.Basic):
        return e
    rep = {f: sp.Integer(int(f)) for f in e.atoms(sp.Float) if float(f).is_integer()}
    return e.xreplace(rep) if rep else e


def exact_text(e, network: bool = True) -> tuple[str, str]:
    """An exact value as (text, LaTeX), lightly simplified."""
    pr = FormulaPrinter(network)
    e = _simplest(as_sympy(e))
    return pr.text(e), pr.latex(e)


def _simplest(e):
    """A cheap tidy-up of an exact value: together/cancel when that makes it shorter."""
    sp = sympy_module()
    if e.is_Rational or node_count(e) > 400:
        return e
    best = e
    for f in (sp.together, sp.cancel):
        try:
            c = f(e)
        except Exception:   # a tidy-up only
            continue
        if node_count(c) < node_count(best):
            best = c
    return best


def node_count(e) -> int:
    from sympy import preorder_traversal
    return sum(1 for _ in preorder_traversal(e)) if hasattr(e, "args") else 1
