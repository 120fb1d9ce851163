"""Index patterns: one formula with index letters (∂zᵢ/∂Wᵢⱼ = xⱼ) that rebuilds every entry."""
from __future__ import annotations

import itertools

from gradcalc.derive.symbolic.backend import as_sympy
from gradcalc.derive.symbolic.groups import Renamed, expr_of, template_shape
from gradcalc.ops.arrays import sympy_module

_LETTERS = "ijklmnpqrs"


def generalize(entries: list, info: dict, by_name: dict | None = None):
    """Find one formula with index letters that reproduces every entry.

    `entries` are (key, expr) where key is a tuple of 0-based positions (output index followed
    by input index).  Positions that are equal in every entry share a letter (∂zᵢ/∂Wᵢⱼ).  Each
    indexed symbol of a reference entry is read as letters or literal indices — chosen by a
    small search so that every entry contains the instantiated symbols, distinct ones staying
    distinct — and the candidate is verified by rebuilding every entry exactly.  Returns
    (pattern expression, letters per key position, {pattern symbol: (name, letters)}) or None.
    `by_name` is the inverse of `info`, (name, index) -> symbol (built here when not given)."""
    sp = sympy_module()
    if not entries:
        return None
    nkey = len(entries[0][0])
    if any(len(k) != nkey for k, _ in entries):
        return None
    # tie classes of key positions
    cls = list(range(nkey))
    for p in range(nkey):
        for q in range(p):
            if cls[q] == q and all(k[p] == k[q] for k, _ in entries):
                cls[p] = q
                break
    classes = sorted(set(cls))
    if len(classes) > len(_LETTERS):
        return None
    letter = {c: _LETTERS[i] for i, c in enumerate(classes)}
    key_letters = tuple(letter[cls[p]] for p in range(nkey))
    # reference entry: distinct class values, largest indices first (fewest collisions)
    refs = [(k, e) for k, e in entries if len({k[c] for c in classes}) == len(classes)]
    if not refs:
        return None
    ref_key, ref = max(refs, key=lambda ke: sorted((ke[0][c] for c in classes), reverse=True))
    val_letters: dict = {}
    for c in classes:
        val_letters.setdefault(ref_key[c], []).append(letter[c])
    # per entry: its key (a letter of class c stands for k[c]), its symbols (read, not changed)
    others = [(k, getattr(e, "free_symbols", ()), e) for k, e in entries]
    if by_name is None:
        by_name = {key: s for s, key in info.items()}
    syms = sorted((s for s in getattr(ref, "free_symbols", ()) if s in info),
                  key=lambda s: s.name)
    choices = []
    for s in syms:
        name, idx = info[s]
        comp = [val_letters.get(i, []) + [i] for i in idx]
        choices.append(list(itertools.product(*comp)) if comp else [()])
    letter_cls = {letter[c]: c for c in classes}
    compiled: dict = {}     # pattern -> per index: (key position, None) for a letter, (None, i)

    def inst(name, pattern, k):
        parts = compiled.get(pattern)
        if parts is None:
            parts = compiled[pattern] = tuple((letter_cls[p], None) if isinstance(p, str) else
                                              (None, p) for p in pattern)
        return by_name.get((name, tuple(i if c is None else k[c] for c, i in parts)))

    chosen: list = [None] * len(syms)
    budget = [4000]

    def search(n):
        if n == len(syms):
            return True
        name = info[syms[n]][0]
        for pattern in choices[n]:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            ok = True
            for key, free, _ in others:
                t = inst(name, pattern, key)
                if t is None or t not in free:
                    ok = False
                    break
                for m in range(n):   # distinct pattern symbols stay distinct
                    if inst(info[syms[m]][0], chosen[m], key) is t:
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                chosen[n] = pattern
                if search(n + 1):
                    return True
        return False

    if not search(0):
        return None
    gen: dict = {}
    to_pattern = {}
    for s, pattern in zip(syms, chosen):
        name = info[s][0]
        if any(isinstance(p, str) for p in pattern):
            g = sp.Symbol(name + "_" + "_".join(str(p) for p in pattern) + "_pattern", real=True)
            gen[g] = (name, pattern)
            to_pattern[s] = g
    ref_expr = expr_of(ref)
    expr = ref_expr.xreplace(to_pattern) if to_pattern else ref_expr
    # verify: rebuilding every entry from the pattern must give that entry exactly
    for key, _, e in others:
        back = {g: inst(name, pattern, key) for g, (name, pattern) in gen.items()}
        if any(v is None for v in back.values()):
            return None
        if _renames_alike(ref, e, to_pattern, back):
            continue
        if as_sympy(expr).xreplace(back) != expr_of(e):
            return None
    return expr, key_letters, gen


def _renames_alike(ref, e, to_pattern: dict, back: dict) -> bool:
    """True when `ref` and `e` are one template renamed and the pattern, instantiated for e,
    renames every place of the template to e's symbol: then rebuilding e from the pattern gives
    e exactly, without building either expression.  False means: compare the expressions."""
    if not (isinstance(ref, Renamed) and isinstance(e, Renamed)):
        return False
    if ref.template is e.template:
        pairs = zip(ref.free, ref.free)
    else:   # two templates of one shape (∂z/∂x₁ = W₁, ∂z/∂x₂ = W₂): compare place by place
        (kr, pr), (ke, pe) = template_shape(ref.template), template_shape(e.template)
        if kr is None or kr != ke:
            return False
        pairs = zip(pr, pe)
    for ur, ue in pairs:
        s = ref.mapping.get(ur, ur)
        s = to_pattern.get(s, s)
        if back.get(s, s) is not e.mapping.get(ue, ue):
            return False
    return True
