"""Tables for `gradcalc check --layer`: one layer's gradients, or one verdict row per layer of a file."""
from __future__ import annotations

from gradcalc.render import fmt
from gradcalc.render.tables import Table


def _sci(x: float) -> str:
    if x is None or x != x:
        return "—"
    return "0" if x == 0 else ("inf" if x == float("inf") else f"{x:.1e}")


def result_band(r) -> str:
    """The CS231n band of a gradient's largest relative error; "ok at kinks" only when a kink
    was actually seen at a disagreeing entry (smooth layers never get it)."""
    from gradcalc.compare.methods import band
    if r.missing:
        return "missing"
    if r.ok:
        return f"ok at kinks ({r.kinks})" if r.kinks else "good"
    b = band(r.max_rel)
    return "suspicious" if b in ("good", "ok at kinks") else b


def result_verdict(r) -> str:
    if r.missing:
        return f"MISSING: {r.note}"
    if r.ok:
        return "agree" + (f" ({r.kinks} at kinks)" if r.kinks else "")
    return "DISAGREE" + (f": {r.note}" if r.note else "")


def _shape(shape) -> str:
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_shape(s) for s in shape)
    return "×".join(map(str, shape)) or "scalar"


def layer_tables(rep, precision: int = 6) -> list[Table]:
    """The max relative error per input and parameter, then the worst entries with the
    analytic and numeric values side by side."""
    rows = [[r.name, _shape(r.shape), _sci(r.max_rel), result_band(r), result_verdict(r)]
            for r in rep.results]
    note = (f"{rep.convention} convention; input: {_shape(rep.x_shape)}, output: "
            f"{_shape(rep.out_shape)}, seed {rep.seed}, h = {rep.h:g}·max(1, |θ|); the upstream "
            f"gradient is random (1 for a scalar loss). " + " ".join(rep.notes))
    tables = [Table("Backward against central differences", ["input / parameter", "shape",
                                                             "max rel. error", "band", "verdict"],
                    rows, note=note.strip(), kinds=["text", "text", "num", "text", "text"])]
    worst = []
    for r in rep.results:
        for e in (r.worst if not r.ok else r.worst[:1]):
            worst.append([f"d{r.name}[{', '.join(map(str, e.index))}]",
                          fmt.num(e.analytic, precision), fmt.num(e.numeric, precision),
                          _sci(e.rel_err)])
    if worst:
        tables.append(Table("Worst entries (0-based index)", ["entry", "your backward",
                                                             "central difference", "rel. error"],
                            worst, kinds=["text", "num", "num", "num"]))
    return tables


def layer_verdict(rep) -> str:
    """One cell: agree, or what failed (the gradients by name)."""
    if rep.error:
        # an argument gradcalc cannot make up: the layer was not run (still not a pass)
        word = "NOT CHECKED" if "give the value of" in rep.error else "ERROR"
        return f"{word}: {rep.error}"
    bad = [r for r in rep.results if not r.ok]
    if not bad:
        kinks = sum(r.kinks for r in rep.results)
        return "agree" + (f" ({kinks} at kinks)" if kinks else "")
    parts = [f"d{r.name} missing" if r.missing else f"d{r.name} wrong" for r in bad]
    return "DISAGREE: " + ", ".join(parts)


def file_table(reports, path: str) -> Table:
    """One verdict row per layer of a file."""
    rows = []
    for rep in reports:
        worst = max(rep.results, key=lambda r: r.max_rel, default=None)
        rows.append([rep.name, rep.convention or "—",
                     ", ".join("d" + r.name for r in rep.results) or "—",
                     _sci(worst.max_rel) if worst else "—", layer_verdict(rep)])
    ok = sum(r.ok for r in reports)
    notes = [f"{rep.name}: {n}" for rep in reports for n in rep.notes]
    return Table(f"Layers in {path}: backward vs central differences",
                 ["layer", "convention", "gradients", "max rel. error", "verdict"], rows,
                 note=f"{ok} of {len(reports)} layers agree."
                 + (" Notes: " + "; ".join(notes) + "." if notes else ""),
                 kinds=["text", "text", "text", "num", "text"])
