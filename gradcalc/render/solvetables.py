"""The tables of a solve report: forward, backward, gradients, then what the solution carries."""
from __future__ import annotations

from gradcalc.render.tables import Table, backward_table, forward_table, gradient_table


def has_layer_tables(sol) -> bool:
    """A network with conv, pooling or rnn layers gets tables layer by layer."""
    problem = sol.problem
    return getattr(problem, "kind", "") == "network" and \
        any(layer.type != "dense" for layer in problem.layers)


def matrix_table(sol, lang="en", precision=4) -> Table | None:
    """The closed forms in matrix notation beside their check (None without a matrix report)."""
    from gradcalc.render.matrixtext import form_note, form_rows, words
    rows = form_rows(sol, lang, precision)
    if not rows:
        return None
    w = words(lang, sol)
    return Table(w["title"], [w["form"], w["check"]], rows, note=form_note(rows, lang),
                 kinds=["text", "text"])


def solve_tables(sol, lang="en", precision=4, methods: bool = False) -> list[Table]:
    """Forward, backward and gradient tables; then the conv/pool/rnn tables, the SGD update and
    (with `methods`, as `gradcalc solve` prints them) the three methods side by side."""
    tables = [forward_table(sol, lang, precision), backward_table(sol, lang, precision),
              gradient_table(sol, lang, precision)]
    matrix = matrix_table(sol, lang, precision)     # the closed forms in matrix notation
    if matrix is not None:
        tables.append(matrix)
    if has_layer_tables(sol):
        from gradcalc.render.conv import layer_tables
        tables += layer_tables(sol, lang, precision)
    if sol.update is not None:
        from gradcalc.render.train import update_tables
        tables += update_tables(sol, lang, precision)
    if methods and sol.comparison is not None:
        from gradcalc.render.check import methods_tables
        tables += methods_tables(sol, lang, precision)
    from gradcalc.render.i18n import localize
    return localize(tables, lang)
