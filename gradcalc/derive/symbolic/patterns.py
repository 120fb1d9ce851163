"""Index patterns: one formula with index letters (∂zᵢ/∂Wᵢⱼ = xⱼ) that rebuilds every entry."""
from __future__ import annotations

import itertools

import numpy as np

from gradcalc.derive.symbolic.backend import as_sympy
from gradcalc.derive.symbolic.groups import Renamed, expr_of, template_shape
from gradcalc.ops.arrays import sympy_module

_LETTERS = "ijklmnpqrs"
_ARRAYS = 64        # from this many entries on, keys are read as a matrix


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
    # many entries: their keys as one integer matrix (the same questions, asked as arrays)
    K = _key_matrix([k for k, _ in entries], nkey) if nkey and len(entries) >= _ARRAYS else None
    # tie classes of key positions
    cls = list(range(nkey))
    for p in range(nkey):
        for q in range(p):
            if cls[q] == q and (bool((K[:, p] == K[:, q]).all()) if K is not None else
                                all(k[p] == k[q] for k, _ in entries)):
                cls[p] = q
                break
    classes = sorted(set(cls))
    if len(classes) > len(_LETTERS):
        return None
    letter = {c: _LETTERS[i] for i, c in enumerate(classes)}
    key_letters = tuple(letter[cls[p]] for p in range(nkey))
    # reference entry: distinct class values, largest indices first (fewest collisions)
    if K is not None:
        at = _reference(K[:, classes])
        if at is None:
            return None
        ref_key, ref = entries[at]
    else:
        refs = [(k, e) for k, e in entries if len({k[c] for c in classes}) == len(classes)]
        if not refs:
            return None
        ref_key, ref = max(refs, key=lambda ke: sorted((ke[0][c] for c in classes),
                                                       reverse=True))
    val_letters: dict = {}
    for c in classes:
        val_letters.setdefault(ref_key[c], []).append(letter[c])
    # per entry: its key (a letter of class c stands for k[c]), its symbols (read, not changed)
    cols = _Columns.of(entries, ref, info, K)  # one template renamed: checked as arrays
    others = None if cols is not None else \
        [(k, getattr(e, "free_symbols", ()), e) for k, e in entries]
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
    made: list = [None] * len(syms)   # per chosen pattern: its symbol in every entry
    budget = [4000]

    def search(n):
        if n == len(syms):
            return True
        name = info[syms[n]][0]
        for pattern in choices[n]:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if cols is not None:
                ok = cols.fits(name, pattern, letter_cls,
                               [(info[syms[m]][0], chosen[m]) for m in range(n)])
                if ok:
                    chosen[n] = pattern
                    if search(n + 1):
                        return True
                continue
            ok = True
            ts = []
            for e, (key, free, _) in enumerate(others):
                t = inst(name, pattern, key)
                if t is None or t not in free:
                    ok = False
                    break
                for m in range(n):   # distinct pattern symbols stay distinct
                    if made[m][e] is t:
                        ok = False
                        break
                if not ok:
                    break
                ts.append(t)
            if ok:
                chosen[n], made[n] = pattern, ts
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
    if cols is not None:   # entries renamed alike for sure (as arrays); the rest one by one
        alike = cols.renamed_alike(ref, to_pattern, gen, letter_cls)
        others = [(k, None, e) for (k, e), a in zip(entries, alike.tolist()) if not a]
    for key, _, e in others:
        back = {g: inst(name, pattern, key) for g, (name, pattern) in gen.items()}
        if any(v is None for v in back.values()):
            return None
        if _renames_alike(ref, e, to_pattern, back):
            continue
        if as_sympy(expr).xreplace(back) != expr_of(e):
            return None
    return expr, key_letters, gen


def _key_matrix(keys: list, width: int) -> np.ndarray:
    """The keys (tuples of `width` ints) as an (entries × width) int64 matrix."""
    return np.fromiter(itertools.chain.from_iterable(keys), dtype=np.int64,
                       count=len(keys) * width).reshape(len(keys), width)


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


def _reference(C) -> int | None:
    """The position of the reference entry from the key matrix restricted to the tie classes:
    among rows with distinct values, the first whose values sorted from largest up are largest
    (as max over the rows would choose); None when no row has distinct values."""
    ok = np.ones(len(C), dtype=bool)
    for a in range(C.shape[1]):
        for b in range(a):
            ok &= C[:, a] != C[:, b]
    rows = np.flatnonzero(ok)
    if not len(rows):
        return None
    S = -np.sort(-C[rows], axis=1)
    for col in range(S.shape[1]):       # lexicographic maximum, the first of equals kept
        keep = S[:, col] == S[:, col].max()
        rows, S = rows[keep], S[keep]
    return int(rows[0])


class _Columns:
    """Entries that are all one template renamed (Renamed), read as arrays: per place of the
    template, the entries' symbols as a name code and an index matrix, and the entries' keys.
    The search and the verification of generalize ask the same questions of these arrays that
    they ask entry by entry otherwise (does the instantiated symbol occur, are two distinct,
    does the pattern rename every place to the entry's symbol)."""

    def __init__(self, keys, places, codes, names, idx, lens, syms):
        self.keys, self.places, self.codes, self.names = keys, places, codes, names
        self.idx, self.lens, self.syms = idx, lens, syms

    @classmethod
    def of(cls, entries: list, ref, info: dict, keys=None) -> "_Columns | None":
        if not isinstance(ref, Renamed) or len(entries) < 2 or not entries[0][0]:
            return None
        # templates of one shape (∂z/∂x₁ = W₁, ∂z/∂x₂ = W₂): places matched in shape order
        kr, places = template_shape(ref.template)
        if kr is None or set(places) != set(ref.free) or len(places) != len(ref.free):
            return None
        order: dict = {id(ref.template): places}
        es = [e for _, e in entries]
        for e in es:
            if not isinstance(e, Renamed):
                return None
            if id(e.template) not in order:
                ke, pe = template_shape(e.template)
                if ke != kr or set(pe) != set(e.free) or len(pe) != len(e.free):
                    return None
                order[id(e.template)] = pe
        if keys is None:
            keys = _key_matrix([k for k, _ in entries], len(entries[0][0]))
        codes: dict = {}
        names, idx, lens, syms = [], [], [], []
        maps = [e.mapping for e in es]
        at = None if len(order) == 1 else [order[id(e.template)] for e in es]
        for j in range(len(places)):
            if at is None:          # one template: its place j in every entry
                pj = places[j]
                col = [m.get(pj, pj) for m in maps]
            else:
                col = [m.get(o[j], o[j]) for m, o in zip(maps, at)]
            read = list(map(info.get, col))
            widths = set(map(len, (r[1] for r in read))) if None not in read else None
            if widths is not None and len(widths) <= 1:                     # one array each
                width = max(widths, default=0)
                # names coded in order of appearance (as one setdefault per entry would)
                nms = [r[0] for r in read]
                for nmv in dict.fromkeys(nms):
                    codes.setdefault(nmv, len(codes))
                nm = np.fromiter(map(codes.__getitem__, nms), dtype=np.int64, count=len(col))
                ix = np.fromiter(itertools.chain.from_iterable(r[1] for r in read),
                                 dtype=np.int64, count=len(col) * width).reshape(len(col), width)
                ln = np.full(len(col), width, dtype=np.int64)
            else:
                width = max((len(r[1]) for r in read if r is not None), default=0)
                nm = np.full(len(col), -1, dtype=np.int64)
                ix = np.full((len(col), width), -1, dtype=np.int64)
                ln = np.full(len(col), -1, dtype=np.int64)
                for r, found in enumerate(read):
                    if found is not None:
                        nm[r] = codes.setdefault(found[0], len(codes))
                        ix[r, :len(found[1])] = found[1]
                        ln[r] = len(found[1])
            names.append(nm)
            idx.append(ix)
            lens.append(ln)
            syms.append(col)
        return cls(keys, places, codes, names, idx, lens, syms)

    def _want(self, pattern, letter_cls: dict):
        """The index matrix a pattern stands for in every entry (a letter: that key position)."""
        return np.stack([self.keys[:, letter_cls[p]] if isinstance(p, str) else
                         np.full(len(self.keys), p, dtype=np.int64) for p in pattern], axis=1) \
            if pattern else np.zeros((len(self.keys), 0), dtype=np.int64)

    def _match(self, u: int, name: str, want) -> np.ndarray:
        """Per entry: place u holds the symbol (name, want)."""
        code, n = self.codes.get(name), want.shape[1]
        if code is None or self.idx[u].shape[1] < n:
            return np.zeros(len(self.keys), dtype=bool)
        return (self.names[u] == code) & (self.lens[u] == n) & \
            (self.idx[u][:, :n] == want).all(axis=1)

    def fits(self, name: str, pattern, letter_cls: dict, before: list) -> bool:
        """Every entry holds the instantiated symbol, and it differs from those chosen before."""
        want = self._want(pattern, letter_cls)
        held = np.zeros(len(self.keys), dtype=bool)
        for u in range(len(self.places)):
            held |= self._match(u, name, want)
        if not held.all():
            return False
        for other, p in before:
            if other == name and len(p) == len(pattern) and \
                    (self._want(p, letter_cls) == want).all(axis=1).any():
                return False
        return True

    def renamed_alike(self, ref, to_pattern: dict, gen: dict, letter_cls: dict) -> np.ndarray:
        """Per entry: the pattern, instantiated for it, renames every place to its symbol
        (what _renames_alike finds for one entry); False: compare that entry one by one."""
        ok = np.ones(len(self.keys), dtype=bool)
        for u, place in enumerate(self.places):
            s = ref.mapping.get(place, place)
            g = to_pattern.get(s, s)
            if g in gen:
                name, pattern = gen[g]
                ok &= self._match(u, name, self._want(pattern, letter_cls))
            else:
                ok &= np.fromiter((x is g for x in self.syms[u]), dtype=bool,
                                  count=len(self.syms[u]))
        return ok
