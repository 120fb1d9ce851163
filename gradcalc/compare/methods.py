"""Compare the three derivations (autograd, SymPy, finite differences) -> a report.

Per entry: absolute error |a − b|, relative error |a − b| / max(|a|, |b|) (two exact zeros agree:
relative error 0), and the verdict |a − b| ≤ atol + rtol·|b|, b being the independent method.
The relative error is also put on the CS231n bands (≤ 1e-7 good, ≤ 1e-4 acceptable only at a
kink, ≤ 1e-2 suspicious, > 1e-2 wrong).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradcalc.records import init

METHODS = ("autograd", "symbolic", "numeric")

# (atol, rtol).  autograd ↔ symbolic: two exact derivations that differ only by float64
# rounding.  autograd ↔ numeric: central differences with h = 1e-6 carry ~1e-10 of rounding and
# truncation error for |f| ≈ 1 (see derive/numeric/policy.py), so atol 1e-6 and rtol 1e-5 leave
# two orders of margin while a wrong rule (an O(1) relative error) or a coarse h (h = 0.1: ~1e-3)
# still fails.
TOLERANCES = {"symbolic": (1e-8, 1e-6), "numeric": (1e-6, 1e-5)}
BANDS = ((1e-7, "good"), (1e-4, "ok at kinks"), (1e-2, "suspicious"), (np.inf, "wrong"))


def relative_error(a, b) -> np.ndarray:
    """|a − b| / max(|a|, |b|), with 0 where both are exactly 0 ("both zero agrees")."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    den = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(den == 0, 0.0, np.abs(a - b) / np.where(den == 0, 1.0, den))
    return rel


def band(rel: float) -> str:
    """The CS231n band of a relative error."""
    if not np.isfinite(rel):
        return "wrong"
    for limit, name in BANDS:
        if rel <= limit:
            return name
    return "wrong"


@dataclass
class Entry:
    """One compared entry of a parameter: autograd (a) against another method (b)."""

    param: str
    index: tuple
    a: float
    b: float
    abs_err: float
    rel_err: float
    ok: bool
    kink: bool = False


@dataclass
class ParamCompare:
    """The largest errors of one parameter between autograd and another method."""

    param: str
    max_abs: float
    max_rel: float            # over the reliable entries above atol
    worst: tuple | None       # index of the largest relative error
    ok: bool
    checked: int
    kinks: int = 0


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class PairReport:
    """autograd against one independent method."""

    __init__ = init

    a: str
    b: str
    atol: float
    rtol: float
    params: dict[str, ParamCompare]
    failures: list[Entry]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.params.values())

    @property
    def max_rel(self) -> float:
        vals = [p.max_rel for p in self.params.values() if p.checked]
        return max(vals) if vals else 0.0


def compare(a: dict, b: dict, atol: float, rtol: float, names=None, kinks: dict | None = None,
            a_name: str = "autograd", b_name: str = "symbolic") -> PairReport:
    """Entry by entry; entries that are NaN in b (not sampled) are skipped, entries flagged in
    `kinks` (name -> bool mask) are reported but never fail."""
    params, failures = {}, []
    for name in names or list(a):
        x = np.asarray(a[name], dtype=float)
        y = np.asarray(b[name], dtype=float).reshape(x.shape)
        mask = ~np.isnan(y) if b_name == "numeric" else np.ones(x.shape, dtype=bool)
        km = kinks.get(name) if kinks else None
        km = np.zeros(x.shape, dtype=bool) if km is None else km
        diff = np.abs(x - y)
        rel = relative_error(x, y)
        with np.errstate(invalid="ignore"):
            ok = diff <= atol + rtol * np.abs(y)
        ok = ok & np.isfinite(diff)
        reliable = mask & ~km
        bad = reliable & ~ok
        for idx in (i for i in np.ndindex(bad.shape) if bad[i]):
            failures.append(Entry(name, tuple(int(i) for i in idx), float(x[idx]), float(y[idx]),
                                  float(diff[idx]), float(rel[idx]), False))
        # the relative error says something only where the values are not tiny: entries below
        # atol (vanishing gradients, exact zeros) are judged by their absolute error alone
        significant = reliable & ~(np.maximum(np.abs(x), np.abs(y)) <= atol)
        r = np.where(significant, np.nan_to_num(rel, nan=np.inf), -1.0)
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(r)), r.shape)) \
            if significant.any() else None
        params[name] = ParamCompare(
            name, float(np.max(np.where(reliable, np.nan_to_num(diff, nan=np.inf), 0.0)))
            if reliable.any() else 0.0,
            float(np.max(np.where(significant, np.nan_to_num(rel, nan=np.inf), 0.0)))
            if significant.any() else 0.0,
            worst, not bad.any(), int(mask.sum()), int((mask & km).sum()))
    return PairReport(a_name, b_name, atol, rtol, params, failures)


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class ForwardCompare:
    """autograd's forward values against the SymPy forms evaluated independently."""

    __init__ = init

    max_rel: float
    worst: str | None
    ok: bool
    mismatches: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass(eq=False, init=False)  # compared by identity; records.init (start-up time)
class CheckReport:
    """The check of one problem: the three methods' gradients and how they agree."""

    __init__ = init

    problem: Any
    file: str
    title: str
    output: str
    names: list[str]                         # differentiated leaves
    methods: dict[str, dict[str, np.ndarray]]
    pairs: dict[str, PairReport]             # "symbolic" / "numeric" -> autograd against it
    forward: ForwardCompare | None
    kinks: list                              # numeric.Kink
    notices: list[str]
    size: int
    symbolic: Any = None                     # symbolic.SymbolicResult
    numeric: Any = None                      # numeric.NumericResult
    direction: dict | None = None            # random-direction check
    solution: Any = None                     # the autograd Solution

    @property
    def ok(self) -> bool:
        return (all(p.ok for p in self.pairs.values()) and (self.forward is None or self.forward.ok)
                and (self.direction is None or self.direction["ok"]))

    @property
    def max_rel_error(self) -> float:
        vals = [p.max_rel for p in self.pairs.values()]
        if self.forward is not None:
            vals.append(self.forward.max_rel)
        return max(vals) if vals else 0.0

    def agreement(self) -> dict:
        """The "agreement" object of the JSON contract."""
        return clean_json({
            "ok": self.ok,
            "max_rel_error": self.max_rel_error,
            "methods": ["autograd"] + list(self.pairs),
            "pairs": {f"autograd~{k}": {"ok": p.ok, "max_rel_error": p.max_rel,
                                         "atol": p.atol, "rtol": p.rtol,
                                         "band": band(p.max_rel),
                                         "failures": [_entry_json(e) for e in p.failures]}
                      for k, p in self.pairs.items()},
            "forward_ok": None if self.forward is None else self.forward.ok,
            "direction": self.direction,
            "kinks": [{"parameter": k.param, "index": list(k.index), "node": k.node, "op": k.op,
                       "reason": k.reason} for k in self.kinks],
            "notices": list(self.notices),
        })


def clean_json(obj):
    """Non-finite numbers (a method that gave NaN) become null: JSON has no NaN."""
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _entry_json(e: Entry) -> dict:
    return {"parameter": e.param, "index": list(e.index), "autograd": e.a, "other": e.b,
            "abs_error": e.abs_err, "rel_error": e.rel_err}


def check_problem(problem, methods=("symbolic", "numeric"), *, symbolic_limit: int | None = None,
                  h: float | None = None, richardson: bool = False, sample: int | None = None,
                  seed: int = 0, exact: bool = False, tolerances: dict | None = None,
                  solution=None) -> CheckReport:
    """Run autograd and the chosen independent methods on `problem` and compare them."""
    from gradcalc.graph.network import leaf_values
    from gradcalc.solution.solve import solve_autograd

    if not hasattr(problem, "kind"):
        from gradcalc.problem.load import load_problem
        problem = load_problem(problem)
    tol = dict(TOLERANCES)
    tol.update(tolerances or {})
    sol = solution if solution is not None else solve_autograd(problem)
    names = list(leaf_values(problem))
    auto = {n: np.asarray(sol.gradients[n], dtype=float) for n in names}
    found: dict[str, dict] = {"autograd": auto}
    pairs: dict[str, PairReport] = {}
    notices: list[str] = []
    fwd = None
    sym_res = num_res = direction = None
    from gradcalc.derive.symbolic import DEFAULT_LIMIT, EXACT_LIMIT, size as problem_size
    n = problem_size(problem)
    limit = (EXACT_LIMIT if exact else DEFAULT_LIMIT) if symbolic_limit is None else symbolic_limit

    if "symbolic" in methods:
        if n > limit:
            notices.append(f"symbolic method skipped: {n} differentiated entries > the limit "
                           f"{limit} (raise it with --symbolic-limit)")
        else:
            from gradcalc.derive import symbolic
            try:
                sym_res = symbolic.run(problem, exact=exact)
            except symbolic.TooLarge as exc:
                notices.append(f"symbolic method skipped: {exc}")
            else:
                found["symbolic"] = sym_res.gradients
                pairs["symbolic"] = compare(auto, sym_res.gradients, *tol["symbolic"], names,
                                            b_name="symbolic")
                fwd = _compare_forward(sol.forward, sym_res.forward, *tol["symbolic"])
    if "numeric" in methods:
        from gradcalc.derive import numeric
        num_res = numeric.run(problem, h=h, richardson=richardson, sample=sample, seed=seed)
        found["numeric"] = num_res.gradients
        kmask = {nm: num_res.kink_mask(nm) for nm in names}
        pairs["numeric"] = compare(auto, num_res.gradients, *tol["numeric"], names, kinks=kmask,
                                   b_name="numeric")
        if num_res.direction is not None:
            d = num_res.direction
            vg = float(sum(np.sum(d.direction[nm] * auto[nm]) for nm in names))
            atol, rtol = tol["numeric"]
            rel = float(relative_error(vg, d.value))
            agree = bool(abs(vg - d.value) <= atol + rtol * abs(d.value))
            # a direction moves every entry at once: any kink makes it unreliable, not wrong
            direction = {"v_dot_grad": vg, "numeric": d.value, "eps": d.eps, "rel_error": rel,
                         "ok": agree or bool(num_res.kinks),
                         "unreliable": not agree and bool(num_res.kinks)}
        refined = _refine_numeric(problem, num_res, pairs, h, names, tol["numeric"], kmask, auto)
        if refined:
            found["numeric"] = num_res.gradients
            notices.append(f"numeric: {refined} entries re-estimated with smaller steps (the step "
                           "h·max(1, |θ|) moved the output beyond its linear range)")
            if direction is not None and not direction["ok"]:
                # the random direction used the same too-large steps
                direction.update(ok=True, unreliable=True, steps_too_large=True)
        if sample is not None:
            notices.append(f"numeric: {sample} random entries per parameter (seed {seed})")
    return CheckReport(problem, problem.file, problem.title, sol.output, names, found, pairs, fwd,
                       num_res.kinks if num_res else [], notices, n, sym_res, num_res, direction,
                       sol)


REFINE_MAX = 64          # entries re-estimated at most (each costs up to 220 forward passes)


def _refine_numeric(problem, num_res, pairs, h, names, tol, kmask, auto) -> int:
    """With the default step, entries where numeric disagrees are re-estimated with shrinking
    steps (forward values only: gradcalc.derive.numeric.refine, which converges to the true
    derivative, so a wrong VJP still disagrees); the numeric pair is compared again.  Returns
    how many entries got a settled new estimate."""
    failures = pairs["numeric"].failures
    if not failures or h is not None:    # a step the user chose is used as chosen (--h 0.1
        return 0                         # shows a coarse step being caught)
    from gradcalc.derive.numeric.refine import refine
    better = refine(problem, [(e.param, e.index) for e in failures[:REFINE_MAX]], h)
    if not better:
        return 0
    grads = {k: np.array(v, dtype=float, copy=True) for k, v in num_res.gradients.items()}
    for (name, idx), d in better.items():
        grads[name][idx] = d
    num_res.gradients = grads
    pairs["numeric"] = compare(auto, grads, *tol, names, kinks=kmask, b_name="numeric")
    return len(better)


def _compare_forward(auto: dict, sym: dict, atol: float, rtol: float) -> ForwardCompare:
    worst, worst_rel, bad = None, 0.0, []
    for name, a in auto.items():
        if name not in sym:
            continue
        a = np.asarray(a, dtype=float)
        b = np.asarray(sym[name], dtype=float).reshape(a.shape)
        rel = float(np.max(relative_error(a, b))) if a.size else 0.0
        if rel > worst_rel:
            worst, worst_rel = name, rel
        if not np.all(np.abs(a - b) <= atol + rtol * np.abs(b)):
            bad.append((name, a, b))
    return ForwardCompare(worst_rel, worst, not bad, bad)


def attach(sol, methods=("symbolic", "numeric"), **kw) -> CheckReport:
    """Run the comparison for a solved problem into `sol.comparison`: methods, agreement and
    SymPy's formulas (LaTeX) of the JSON contract of `gradcalc solve`, and the report."""
    from gradcalc.solution.model import Comparison

    rep = check_problem(sol.problem, methods, solution=sol, **kw)
    sym = rep.symbolic       # the JSON parts are made when first read (the text report does not)
    comp = Comparison(rep, lambda: {m: json_grads(g) for m, g in rep.methods.items()},
                      rep.agreement(), (lambda: sym.formulas().to_json()) if sym else None)
    if rep.symbolic is not None:
        if rep.symbolic.exact:
            from gradcalc.derive.symbolic.printing import exact_text
            net = rep.symbolic.backend.network
            comp.exact = {
                name: _nested(vals, lambda e: exact_text(e, net)[1])
                for name, vals in rep.symbolic.exact_gradients.items()}
    sol.comparison = comp
    return rep


def json_grads(grads: dict) -> dict:
    """Gradients as nested lists; entries not computed (sampling) become null."""
    out = {}
    for k, v in grads.items():
        a = np.asarray(v, dtype=float)
        # float64 entries are Python floats in tolist(); only a nan needs the walk
        out[k] = a.tolist() if not np.isnan(a).any() else \
            _nested(a, lambda x: None if np.isnan(x) else float(x))
    return out


def _nested(a: np.ndarray, f):
    """f applied to every entry, as nested lists of the array's shape."""
    def rec(x):
        return [rec(v) for v in x] if isinstance(x, list) else f(x)
    return rec(np.asarray(a).tolist())


def collect_paths(paths) -> list[Path]:
    """Problem files from files and folders (folders: *.yaml / *.yml, recursively, sorted)."""
    from gradcalc.errors import UsageError
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(q for q in path.rglob("*")
                           if q.suffix in (".yaml", ".yml") and q.is_file())
            if not found:
                raise UsageError(f"{p}: no .yaml problem files in this folder")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return out
