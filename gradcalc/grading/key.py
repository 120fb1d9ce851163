"""The answer key, made once per problem (reference, tolerances, mistake variants), and one student's grade."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcalc.grading.possible import impossible_answers
from gradcalc.grading.mistakes import catalogue
from gradcalc.grading.quantities import QuantitySchema
from gradcalc.grading.rubric import Question, Rubric, load_rubric
from gradcalc.grading.submissions import Submission
from gradcalc.grading.tape import Tape
from gradcalc.grading.results import QuestionResult, StudentResult  # noqa: F401 (re-exported)

# A mistake is diagnosable only if its value lies at least this many tolerances from the right
# answer in some entry: otherwise a small slip could be "diagnosed" as that mistake.
DIAGNOSABLE = 3.0
# A one-number answer is named as a mistake only within this fraction of the tolerance of the
# mistake's value (a number merely inside the interval may be there by coincidence), and a
# mistake is named only when every other catalogued mistake is at least AMBIGUOUS times
# farther (in tolerances): otherwise the answer is "wrong" without a guess.
SCALAR_MARGIN = 0.5
AMBIGUOUS = 2.0


@dataclass
class _Slot:
    kind: str          # "f" or "g"
    node: int


def _conform(a: np.ndarray, shape: tuple) -> np.ndarray | None:
    """The answer in the reference's shape, when it is the same array written differently;
    None when the shape is wrong. The shape rule (README, "Scoring"): a vector of the problem
    (one axis) may be written flat, as a row or as a column, and a number as a 1-entry list; a
    matrix (two axes, even 1×n) in its own shape, or flat when one axis is 1 (a flat list has
    no orientation); its transpose is the `transposed` mistake; any other shape is wrong."""
    if a.shape == shape:
        return a
    size = 1
    for s in shape:
        size *= s
    if a.size != size:
        return None
    if len(shape) <= 1:
        if a.ndim <= 1 or (a.ndim == 2 and 1 in a.shape):
            return a.reshape(shape)
        return None
    if len(shape) == 2 and a.ndim <= 1 and 1 in shape:
        return a.reshape(shape)
    return None


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    # np.allclose(a, b, rtol=1e-9, atol=1e-12) for finite arrays, without its overhead
    # (this runs thousands of times per answer key; one key per student with --variants)
    return a.shape == b.shape and bool((np.abs(a - b) <= 1e-12 + 1e-9 * np.abs(b)).all())


class AnswerKey:
    """Everything computed once per problem: rubric, reference, follow-through dependencies and
    the mistake variants of every question."""

    def __init__(self, problem, rubric: Rubric | None = None, lazy: bool = False,
                 built: tuple | None = None):
        # lazy: build the mistake variants on first use (one key per student with --variants,
        # where most students never need a diagnosis); built: see Tape
        self.problem = problem
        self.tape = Tape(problem, built)
        self.schema = _schema(problem, self.tape)
        self.rubric = rubric if rubric is not None else load_rubric(problem, self.schema)
        t = self.tape
        self._by_name = {q.name: q for q in self.rubric.questions}
        self.slots: dict[str, _Slot] = {}
        for q in self.rubric.questions:
            self.slots[q.name] = self._slot(q.name)
        self.reference = {name: self._read(slot, t.ref_values, t.ref_grads)
                          for name, slot in self.slots.items()}
        F, G = t.dependencies()
        self.deps = {name: (F if s.kind == "f" else G)[s.node] for name, s in self.slots.items()}
        self.tolerance = {q.name: q.tolerance(self.reference[q.name]) for q in self.rubric.questions}
        # one accepted interval per question, shared by every student's result
        self.intervals = {n: (self.reference[n] - t, self.reference[n] + t)
                          for n, t in self.tolerance.items()}
        # per question, what every student is compared with
        self._plan = [(q, q.name, self.reference[q.name], self.reference[q.name].shape,
                       self.tolerance[q.name], self.intervals[q.name])
                      for q in self.rubric.questions]
        self._graded = frozenset(self.slots)
        self._variant_tols: dict[str, list] = {}
        self._mistake_variants = None if lazy else self._variants()

    @property
    def variants(self) -> dict[str, list[tuple[str, dict, np.ndarray]]]:
        """Per question: (mistake key, params, value) of every catalogued mistake that changes it."""
        if self._mistake_variants is None:
            self._mistake_variants = self._variants()
        return self._mistake_variants

    # -- construction
    def _slot(self, name: str) -> _Slot:
        grad = self.schema.gradient_of.get(name)
        if grad is not None:
            return _Slot("g", self.tape.by_name[grad])
        return _Slot("f", self.tape.by_name[name])

    @staticmethod
    def _read(slot: _Slot, values, grads) -> np.ndarray:
        return np.asarray((values if slot.kind == "f" else grads)[slot.node], dtype=float)

    def _variants(self) -> dict[str, list[tuple[str, dict, np.ndarray]]]:
        """Per question: (mistake key, params, value) for every variant that changes it."""
        t = self.tape
        candidates: dict[str, list] = {name: [] for name in self.slots}
        for variant in catalogue(t, self.problem):
            try:
                vals, grads = t.run({}, {}, variant)
            except (ValueError, TypeError, IndexError, FloatingPointError):
                continue   # the variant does not fit this graph's shapes
            for name, slot in self.slots.items():
                candidates[name].append((variant.key, variant.params,
                                         self._read(slot, vals, grads)))
        # mistakes on the final answer itself: sign, transposition, bias over a batch
        for name, slot in self.slots.items():
            if slot.kind != "g":
                continue
            ref = self.reference[name]
            leaf = t.names[slot.node]
            found = candidates[name]
            found.append(("sign_flip", {}, -ref))
            if ref.ndim == 2 and t.ops[slot.node] is None:
                found.append(("transposed", {"Q": name, "W": leaf}, ref.T))
            for c, op in enumerate(t.ops):
                if op is not None and op.name == "affine" and t.inputs[c][2] == slot.node \
                        and np.ndim(t.ref_grads[c]) == 2:
                    rows = t.ref_grads[c].shape[0]
                    found.append(("bias_not_summed", {"b": leaf}, t.ref_grads[c]))
                    found.append(("bias_mean", {"b": leaf}, ref / rows))
        return {name: self._distinct(name, found) for name, found in candidates.items()}

    def _distinct(self, name: str, candidates: list) -> list[tuple[str, dict, np.ndarray]]:
        """The candidates, in order, that are finite, differ from the right answer by more than
        DIAGNOSABLE tolerances somewhere, and differ from every earlier one kept (_same).

        The candidates of the reference's shape are compared all at once (one array each
        question instead of a handful of tiny ones per pair); the result is the one-by-one rule."""
        ref = self.reference[name]
        cands = [(key, params, np.asarray(value, dtype=float)) for key, params, value in candidates]
        rows = [i for i, (_, _, v) in enumerate(cands) if v.shape == ref.shape]
        row_of = {i: k for k, i in enumerate(rows)}
        if rows:
            V = np.stack([cands[i][2] for i in rows]).reshape(len(rows), -1)
            R = ref.reshape(-1)
            T = np.broadcast_to(self.tolerance[name], ref.shape).reshape(-1)
            with np.errstate(all="ignore"):
                D = np.abs(V - R)
                usable = (np.isfinite(V).all(axis=1)
                          & ~(D <= 1e-12 + 1e-9 * np.abs(R)).all(axis=1)      # not _same(v, ref)
                          & ~(D < DIAGNOSABLE * T).all(axis=1)).tolist()       # not all near
        kept: list = []
        like: list = []     # per kept row of the reference's shape: which rows are _same as it
        for i, cand in enumerate(cands):
            k = row_of.get(i)
            if k is not None:
                if not usable[k] or any(row[k] for row in like):
                    continue
                with np.errstate(all="ignore"):   # _same(v, kept) for every row v at once
                    like.append((np.abs(V - V[k]) <= 1e-12 + 1e-9 * np.abs(V[k])).all(axis=1)
                                .tolist())
                kept.append(cand)
                continue
            value = cand[2]   # another shape (a transposed or unsummed gradient): never near
            if not np.all(np.isfinite(value)) or any(_same(value, v) for _, _, v in kept):
                continue
            kept.append(cand)
        return kept

    # -- grading
    @property
    def questions(self) -> tuple[Question, ...]:
        return self.rubric.questions

    def grade(self, sub: Submission) -> StudentResult:
        result = StudentResult(sub.student, sub.name, sub.source, [], list(sub.problems),
                               sub.unreadable, duplicate=any(p.startswith("duplicate student id")
                                                             for p in sub.problems))
        answers = sub.answers
        result.ungraded = tuple(sorted(n for n in answers if n not in self._graded))
        conformed: dict[str, np.ndarray] = {}
        results: dict[str, QuestionResult] = {}
        wrong = []
        for q, name, ref, shape, tol, _ in self._plan:
            r = QuestionResult(name, q.points, expected_shape=shape)
            results[name] = r
            ans = answers.get(name)
            if ans is None:
                continue
            r.text, r.source = ans.text, ans.source
            if ans.error is not None or ans.value is None:
                r.kind, r.error = "unreadable", ans.error or "unreadable"
                continue
            r.given = ans.value
            a = _conform(ans.value, shape)
            if a is None:
                r.kind = "shape"
                self._off_shape(q, r, ans.value)
                continue
            ok = np.abs(a - ref) <= tol      # NaN (a blank entry) compares False: never close
            if ok.all():                     # (so a fully accepted answer has no NaN)
                conformed[name] = a
                r.kind, r.credit = "correct", 1.0
            else:
                if not np.isnan(a).any():
                    conformed[name] = a
                frac = float(np.count_nonzero(ok)) / ok.size
                r.credit = frac
                r.kind = "partial" if frac > 0 else "wrong"
                r.wrong_entries = tuple(tuple(int(k) for k in idx) for idx in np.argwhere(~ok))
                wrong.append(name)
        if wrong and conformed:
            self._follow_through(results, conformed, wrong)
        for name in wrong:
            self._diagnose(self._question(name), results[name], conformed.get(name))
        for q, name, _, _, _, interval in self._plan:
            r = results[name]
            kind = r.kind
            if kind != "blank":
                if kind in ("partial", "wrong", "shape", "mistake", "follow_through") \
                        and r.given is not None:
                    r.wrong_value = name + "=" + _value_key(r.given)
                    if kind != "mistake" and not r.mistake:
                        r.cluster = r.wrong_value
                r.interval = interval
            result.questions.append(r)
        return result

    def _question(self, name: str) -> Question:
        return self._by_name[name]

    @staticmethod
    def _close(q: Question, a: np.ndarray, b: np.ndarray, tol: np.ndarray | None = None) -> np.ndarray:
        if tol is None:
            tol = q.tolerance(b)
        return np.abs(a - b) <= tol   # NaN (a blank entry) compares False: never close

    def _follow_through(self, results: dict, conformed: dict, wrong: list[str]) -> None:
        """Recompute every wrong answer from the student's own earlier answers (error carried
        forward): one run of the graph with all of them substituted."""
        t = self.tape
        fsub, gsub = {}, {}
        slot_of: dict[tuple, str] = {}
        for name, a in conformed.items():
            s = self.slots[name]
            (fsub if s.kind == "f" else gsub)[s.node] = a
            slot_of[(s.kind, s.node)] = name
        wrong_set = set(wrong)

        def upstream_of(name):
            own = (self.slots[name].kind, self.slots[name].node)
            return [slot_of[k] for k in slot_of if k != own and k in self.deps[name]]

        candidates = [n for n in wrong if n in conformed and upstream_of(n)]
        if not candidates:
            return
        vals, grads = t.run(fsub, gsub)
        # no credit from an earlier answer that no input gives (h1 = 1 for a sigmoid) or that
        # is not what the student's own inputs give: it is left out, and the graph run again
        bad = impossible_answers(t, self.slots, conformed, wrong_set, vals, self.deps,
                                 lambda n, a, b: self._close(self._question(n), a, b),
                                 self._catalogued)
        if bad:
            for name in bad:
                s = self.slots[name]
                (fsub if s.kind == "f" else gsub).pop(s.node, None)
                slot_of.pop((s.kind, s.node), None)
            candidates = [n for n in candidates if upstream_of(n)]
            if not candidates:
                return
            vals, grads = t.run(fsub, gsub)
        for name in candidates:
            q = self._question(name)
            r = results[name]
            if self.slots[name].kind == "g" and not conformed[name].any() \
                    and not (np.abs(self.reference[name]) <= self.tolerance[name]).all():
                continue        # an all-zero gradient follows from nothing unless 0 is right
            upstream = set(upstream_of(name))
            wrong_up = tuple(u for u in self.rubric.names if u in upstream and u in wrong_set)
            expected = self._read(self.slots[name], vals, grads)
            if not np.all(np.isfinite(expected)):
                continue
            ok = self._close(q, conformed[name], expected)
            frac = np.count_nonzero(ok) / ok.size     # = ok.mean(), without its overhead
            if frac == 0:
                continue
            if not wrong_up:
                # every earlier answer it rests on was right: the difference is their rounding
                if frac == 1.0:
                    r.kind, r.credit, r.rounding, r.wrong_entries = "correct", 1.0, True, ()
                continue
            credit = q.follow_through * frac
            # keep the better score; a fully consistent answer is explained by follow-through
            if credit > r.credit or (frac == 1.0 and credit >= r.credit):
                r.kind, r.credit, r.upstream = "follow_through", credit, wrong_up
                r.ft_full = frac == 1.0

    def _variant_tolerances(self, name: str) -> list:
        """The accepted half-widths around each mistake variant's value (made once)."""
        tols = self._variant_tols.get(name)
        if tols is None:
            q = self._question(name)
            tols = self._variant_tols[name] = [q.tolerance(v) for _, _, v in self.variants[name]]
        return tols

    def _diagnose(self, q: Question, r: QuestionResult, a: np.ndarray | None) -> None:
        if a is None or r.kind not in ("partial", "wrong", "follow_through") or r.ft_full:
            return
        found = self._explained(q, a, self.variants[q.name], self._variant_tolerances(q.name))
        if found is not None:
            key, params = found
            r.mistake = (key, params)
            credit = q.credit_for(key)
            if credit > r.credit or (credit == r.credit and r.kind != "follow_through"):
                r.kind, r.credit, r.upstream = "mistake", credit, ()

    def _explained(self, q: Question, a: np.ndarray, variants, tols) -> tuple | None:
        """(key, params) of the one catalogued mistake that explains `a`, or None.

        Distances are in tolerances (the largest |a − v| / tol over the entries). A mistake is
        named only when its value is within the tolerance in every entry (within
        SCALAR_MARGIN of it for a one-number answer), it is closer than the reference, and
        every other mistake is at least AMBIGUOUS times farther."""
        ref = self.reference[q.name]
        ref_tol = self.tolerance[q.name]
        with np.errstate(all="ignore"):
            d_ref = float(np.nanmax(np.abs(a - ref) / ref_tol)) if a.shape == ref.shape \
                else np.inf
            best, best_d, second = None, np.inf, np.inf
            for (key, params, value), tol in zip(variants, tols):
                if value.shape != a.shape:
                    continue
                diff = np.abs(a - value)
                if not (diff <= tol).all():      # NaN (a blank entry) never matches
                    d = np.inf
                else:
                    d = float(np.max(diff / np.where(tol > 0, tol, np.inf)))
                if d < best_d:
                    best, best_d, second = (key, params), d, best_d
                elif d < second:
                    second = d
        if best is None or best_d == np.inf:
            return None
        if a.size == 1 and best_d > SCALAR_MARGIN:
            return None          # one number merely inside the interval: perhaps coincidence
        if not best_d < d_ref or (second < np.inf and second < AMBIGUOUS * max(best_d, 1e-9)):
            return None
        return best

    def _catalogued(self, name: str, a: np.ndarray) -> bool:
        q = self._question(name)
        return any(value.shape == a.shape and self._close(q, a, value, tol).all()
                   for (_, _, value), tol in zip(self.variants[name], self._variant_tolerances(name)))

    def _off_shape(self, q: Question, r: QuestionResult, given: np.ndarray) -> None:
        """A wrong shape scores 0, unless it is a catalogued one: the transpose of a matrix
        (the shape rule: `transposed` credit, whatever the quantity), an unsummed bias …"""
        ref = self.reference[q.name]
        if ref.ndim == 2 and given.shape == ref.shape[::-1] \
                and self._close(q, given.T, ref, self.tolerance[q.name]).all():
            leaf = self.schema.gradient_of.get(q.name)
            shape = "×".join(map(str, ref.shape))
            r.mistake = ("transposed", {"Q": q.name, "W": leaf if leaf is not None
                                        else f"{q.name} ({shape})"})
            r.kind, r.credit = "mistake", q.credit_for("transposed")
            return
        off = [(k, p, v) for k, p, v in self.variants[q.name] if v.shape != ref.shape]
        tols = [q.tolerance(v) for _, _, v in off]
        found = self._explained(q, given, off, tols) if off else None
        if found is not None:
            r.mistake = found
            r.kind, r.credit = "mistake", q.credit_for(found[0])


def _value_key(a: np.ndarray) -> str:
    flat = np.asarray(a, dtype=float).ravel()
    return "×".join(map(str, np.shape(a))) + ":" + ",".join(f"{v:.6g}" for v in flat)


def _schema(problem, tape: Tape) -> QuantitySchema:
    """Names and shapes of every quantity of the graph, and of its gradients."""
    forward, grads = {}, {}
    for name, i in tape.by_name.items():
        if i > tape.out:
            continue
        forward[name] = tuple(np.shape(tape.ref_values[i]))
        grads[name] = forward[name]
    return QuantitySchema(forward, grads, tape.names[tape.out])
