"""Randomized per-student variants: random specs in templates, stable seeding, well-posed draws."""
from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradcalc.errors import GradcalcError, ProblemError, UsageError

# A mapping is a random spec when it holds exactly one of these keys ...
SPEC_KINDS = ("uniform", "integers", "choice")
# ... and otherwise only these.
SPEC_OPTIONS = ("decimals", "shape")
DEFAULT_DECIMALS = 2          # uniform draws are rounded: numbers a student can copy by hand
MAX_SPEC_SIZE = 10_000        # entries of one `shape`

# The `variants:` section of a template.
OPTION_KEYS = ("seed", "margin", "saturation", "probability", "max_draws")
DEFAULT_MARGIN = 0.05         # a kinked input must stay this far from its kink
DEFAULT_SATURATION = 4.0      # |input| of sigmoid/tanh at most this (σ'(4) ≈ 0.018, tanh'(4) ≈ 0.0013)
DEFAULT_PROBABILITY = 1e-3    # softmax / cross-entropy / bce probabilities within (ε, 1 − ε)
DEFAULT_MAX_DRAWS = 1000
EXACT_ZERO = 1e-12            # |value| below this counts as an exact 0

# Well-posedness constraints, in the order they are checked, with the option that relaxes each.
CONSTRAINTS = {
    "domain": "the ranges of the random numbers",
    "kink": "variants.margin",
    "saturation": "variants.saturation",
    "probability": "variants.probability",
    "answer": "the rubric's tolerance (grading.atol / rtol)",
}
SATURATING = ("sigmoid", "tanh")


# ---------------------------------------------------------------- templates and specs
@dataclass(frozen=True)
class Spec:
    """One random spec found at `path` of the template document."""

    path: tuple
    kind: str                  # uniform | integers | choice
    args: tuple                # (a, b) or the choices
    decimals: int | None
    shape: tuple

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Options:
    seed: str | None = None
    margin: float = DEFAULT_MARGIN
    saturation: float = DEFAULT_SATURATION
    probability: float = DEFAULT_PROBABILITY
    max_draws: int = DEFAULT_MAX_DRAWS


@dataclass(frozen=True)
class Template:
    """A problem document whose numbers may be random specs."""

    located: Any                           # yamlio.Located of the template
    specs: tuple[Spec, ...]
    options: Options
    prefixes: frozenset = frozenset()      # every path that leads to a spec (copied per draw)

    @property
    def file(self) -> str:
        return self.located.file

    @property
    def is_random(self) -> bool:
        return bool(self.specs)

    def line(self, path: tuple) -> int | None:
        return self.located.line(path)


@dataclass
class Variant:
    """One student's concrete problem and how many draws it took."""

    student: str
    problem: Any                           # NetworkProblem | ExpressionProblem
    data: dict                             # the concrete document (no `variants` section)
    draws: int                             # 1 = the first draw was well-posed
    rejections: dict[str, int] = field(default_factory=dict)   # constraint -> count
    _solution: Any = field(default=None, repr=False)
    # (graph, output node) from the well-posedness check, reused by the grader's answer key
    _built: Any = field(default=None, repr=False, compare=False)

    def solution(self):
        """The autograd solution of this variant (computed once)."""
        if self._solution is None:
            from gradcalc.api import solve
            self._solution = solve(self.problem)
        return self._solution


def _error(tmpl_or_loc, path: tuple, message: str, cls=ProblemError) -> GradcalcError:
    from gradcalc.problem.yamlio import field_name
    loc = getattr(tmpl_or_loc, "located", tmpl_or_loc)
    return cls(message, file=loc.file, field=field_name(path) or None, line=loc.line(path))


def load_template(path) -> Template:
    """Read a template (or a plain problem) file."""
    from gradcalc.problem.yamlio import load_yaml_file
    return template_from_located(load_yaml_file(path))


def parse_template(text: str | bytes, file: str = "<string>") -> Template:
    from gradcalc.problem.yamlio import load_yaml_text
    return template_from_located(load_yaml_text(text, file))


def template_from_located(loc) -> Template:
    """Find and validate the random specs and the `variants` options of a document."""
    doc = loc.data
    if not isinstance(doc, dict):
        from gradcalc.problem.load import problem_from_located
        problem_from_located(loc)        # raises the problem module's own message
    specs: list[Spec] = []
    for key, value in doc.items():
        if key in ("variants", "grading", "title", "description"):
            continue                      # not problem numbers
        _find_specs(loc, value, (key,), specs, top_values=(key == "values"))
    options = _options(loc, doc.get("variants"), bool(specs))
    prefixes = frozenset(spec.path[:k] for spec in specs for k in range(1, len(spec.path) + 1))
    return Template(loc, tuple(specs), options, prefixes)


def _is_spec(value) -> bool:
    return isinstance(value, dict) and any(k in value for k in SPEC_KINDS)


def _find_specs(loc, value, path, out, top_values=False):
    if isinstance(value, dict):
        if _is_spec(value) and not top_values:
            out.append(_spec(loc, value, path))
            return
        for k, v in value.items():
            _find_specs(loc, v, path + (k,), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _find_specs(loc, v, path + (i,), out)


def _num(loc, v, path, what="a number") -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _error(loc, path, f"expected {what}, got {v!r}")
    return float(v)


def _spec(loc, raw: dict, path: tuple) -> Spec:
    kinds = [k for k in SPEC_KINDS if k in raw]
    if len(kinds) > 1:
        raise _error(loc, path, f"a random spec takes one of {', '.join(SPEC_KINDS)}; "
                                f"got {' and '.join(kinds)}")
    for key in raw:
        if key not in SPEC_KINDS + SPEC_OPTIONS:
            hint = difflib.get_close_matches(str(key), list(SPEC_KINDS + SPEC_OPTIONS), n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else \
                f" (expected {kinds[0]}, decimals, shape)"
            raise _error(loc, path + (key,), f"unknown key '{key}' in a random spec{tip}")
    kind = kinds[0]
    arg = raw[kind]
    apath = path + (kind,)
    decimals = None
    if kind in ("uniform", "integers"):
        if not isinstance(arg, list) or len(arg) != 2:
            raise _error(loc, apath, f"expected [low, high] for {kind}, got {arg!r}")
        a, b = (_num(loc, v, apath + (i,)) for i, v in enumerate(arg))
        if kind == "integers":
            if a != int(a) or b != int(b):
                raise _error(loc, apath, f"expected whole numbers for integers, got {arg!r}")
            if a > b:
                raise _error(loc, apath, f"expected low ≤ high, got [{arg[0]}, {arg[1]}]")
            args = (int(a), int(b))
        else:
            if not a < b:
                raise _error(loc, apath, f"expected low < high, got [{arg[0]}, {arg[1]}]")
            args = (a, b)
            decimals = DEFAULT_DECIMALS
    else:
        if not isinstance(arg, list) or not arg:
            raise _error(loc, apath, "expected a non-empty list of numbers to choose from")
        args = tuple(v if isinstance(v, int) and not isinstance(v, bool) else
                     _num(loc, v, apath + (i,)) for i, v in enumerate(arg))
        for i, v in enumerate(args):
            _num(loc, v, apath + (i,))
    if "decimals" in raw:
        d = raw["decimals"]
        if kind != "uniform":
            raise _error(loc, path + ("decimals",), f"decimals applies to uniform draws, not {kind}")
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 12:
            raise _error(loc, path + ("decimals",), f"expected a whole number 0 … 12, got {d!r}")
        decimals = d
        step = 10.0 ** -d
        if math.floor(args[1] / step + 1e-9) < math.ceil(args[0] / step - 1e-9):
            raise _error(loc, apath, f"no number with {d} decimals lies in [{args[0]}, {args[1]}]")
    shape: tuple = ()
    if "shape" in raw:
        s = raw["shape"]
        s = [s] if isinstance(s, int) and not isinstance(s, bool) else s
        if (not isinstance(s, list) or len(s) > 4
                or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in s)):
            raise _error(loc, path + ("shape",), f"expected a shape like [2] or [2, 3] (at most 4 "
                                                 f"sizes), got {raw['shape']!r}")
        shape = tuple(s)
        if int(np.prod(shape)) > MAX_SPEC_SIZE:
            raise _error(loc, path + ("shape",), f"at most {MAX_SPEC_SIZE} entries per spec")
    return Spec(path, kind, args, decimals, shape)


def _options(loc, raw, random: bool) -> Options:
    if raw is None:
        if random:
            raise _error(loc, (), "a template with random numbers needs a seed: add "
                                  "`variants: {seed: \"course-2026-hw1\"}`")
        return Options()
    path = ("variants",)
    if not isinstance(raw, dict):
        raise _error(loc, path, "expected a mapping like {seed: \"hw1-2026\"}")
    for key in raw:
        if key not in OPTION_KEYS:
            hint = difflib.get_close_matches(str(key), list(OPTION_KEYS), n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(OPTION_KEYS)})"
            raise _error(loc, path + (key,), f"unknown key '{key}' in variants{tip}")
    seed = raw.get("seed")
    if seed is None:
        if random:
            raise _error(loc, path, "variants needs a seed (text or number), e.g. seed: \"hw1-2026\"")
    elif isinstance(seed, bool) or not isinstance(seed, (str, int)) or str(seed).strip() == "":
        raise _error(loc, path + ("seed",), f"expected a text or whole-number seed, got {seed!r}")
    kw: dict[str, Any] = {"seed": None if seed is None else str(seed)}
    for key, low in (("margin", 0.0), ("saturation", 0.0), ("probability", 0.0)):
        if key in raw:
            v = _num(loc, raw[key], path + (key,))
            if v < low or (key != "margin" and v == low) or (key == "probability" and v >= 0.5):
                bound = {"margin": "≥ 0", "saturation": "> 0", "probability": "in (0, 0.5)"}[key]
                raise _error(loc, path + (key,), f"expected a number {bound}, got {raw[key]!r}")
            kw[key] = v
    if "max_draws" in raw:
        v = raw["max_draws"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1_000_000:
            raise _error(loc, path + ("max_draws",), f"expected a whole number 1 … 1000000, got {v!r}")
        kw["max_draws"] = v
    return Options(**kw)


# ---------------------------------------------------------------- stable randomness
def normalize_id(student) -> str:
    """Student ids are compared as NFC text without surrounding spaces."""
    return unicodedata.normalize("NFC", str(student)).strip()


def student_rng(seed: str, student: str, draw: int) -> np.random.Generator:
    """The generator of one draw: a pure function of (seed, student id, draw number).

    SHA-256 is the same on every machine and run (Python's hash() of text is salted per
    process by PYTHONHASHSEED, so it must never be used here)."""
    msg = "\x00".join(("gradcalc-variant-v1", seed, normalize_id(student), str(draw)))
    digest = hashlib.sha256(msg.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


def _uniform01(rng: np.random.Generator, n: int) -> np.ndarray:
    # From the raw 64-bit PCG64 stream (a fixed algorithm): the top 53 bits as a double in
    # [0, 1).  Written out so the numbers do not depend on how a NumPy version maps
    # bits to distributions.
    raw = rng.bit_generator.random_raw(n)
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _draw_spec(spec: Spec, u: np.ndarray) -> Any:
    """The spec's value from its share `u` of the draw's uniform numbers."""
    if spec.kind == "uniform":
        a, b = spec.args
        vals = [a + (b - a) * t for t in u.tolist()]
        if spec.decimals is not None:
            # Python's round() is correctly rounded (shortest repr), so 0.3 prints as 0.3;
            # the clamp keeps a rounded value inside [a, b]; + 0.0 turns −0.0 into 0.0
            lo = math.ceil(a * 10 ** spec.decimals - 1e-9) / 10 ** spec.decimals
            hi = math.floor(b * 10 ** spec.decimals + 1e-9) / 10 ** spec.decimals
            vals = [round(min(max(round(v, spec.decimals), lo), hi), spec.decimals) + 0.0
                    for v in vals]
    elif spec.kind == "integers":
        a, b = spec.args
        vals = [a + min(int(t * (b - a + 1)), b - a) for t in u.tolist()]
    else:
        n = len(spec.args)
        vals = [spec.args[min(int(t * n), n - 1)] for t in u.tolist()]
    if not spec.shape:
        return vals[0]
    arr = np.empty(spec.size, dtype=object)   # object: the entries stay plain int / float
    arr[:] = vals
    return arr.reshape(spec.shape).tolist()


def _substitute(value, path: tuple, drawn: dict, prefixes: frozenset):
    """A copy of the containers on the way to a spec; every other part is shared (read-only)."""
    if path in drawn:
        return drawn[path]
    if path not in prefixes:
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, path + (k,), drawn, prefixes) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, path + (i,), drawn, prefixes) for i, v in enumerate(value)]
    return value


def draw_values(template: Template, student: str, draw: int) -> dict:
    """path -> drawn value of every spec, for one draw."""
    rng = student_rng(template.options.seed, student, draw)
    # one read of the stream for all specs, in document order (the same numbers as reading
    # each spec's share in turn)
    u = _uniform01(rng, sum(spec.size for spec in template.specs))
    drawn, start = {}, 0
    for spec in template.specs:
        drawn[spec.path] = _draw_spec(spec, u[start:start + spec.size])
        start += spec.size
    return drawn


def fill(template: Template, drawn: dict) -> dict:
    """The concrete document with the drawn values (the `variants` section removed)."""
    doc = {k: v for k, v in template.located.data.items() if k != "variants"}
    if not drawn:
        return doc
    return {k: _substitute(v, (k,), drawn, template.prefixes) for k, v in doc.items()}


def _nudged(template: Template, drawn: dict, whole: bool) -> dict:
    """The drawn values moved by a hair (relative 1e-7, a fixed pattern): far inside every
    margin, so no branch changes, but any zero that only these numbers made moves off 0.
    Whole-number draws (labels …) are kept unless `whole`."""
    out = {}
    for i, spec in enumerate(template.specs):
        v = drawn[spec.path]
        a = np.asarray(v, dtype=float)
        if not whole and np.all(a == np.round(a)):
            out[spec.path] = v
            continue
        a = a + 1e-7 * (1.0 + np.abs(a)) * _perturbation(a.shape, i)
        out[spec.path] = a.tolist() if a.ndim else float(a)
    return out


# ---------------------------------------------------------------- well-posedness
@dataclass(frozen=True)
class Rejection:
    constraint: str            # a key of CONSTRAINTS
    message: str


def _entry(a: np.ndarray, flat_index: int) -> str:
    """1-based entry index, as in the grading CSV convention: [2] or [1,3]."""
    if a.ndim == 0:
        return ""
    idx = np.unravel_index(flat_index, a.shape)
    return "[" + ",".join(str(i + 1) for i in idx) + "]"


def _g(x) -> str:
    return f"{float(x):.4g}"


def check_well_posed(problem, options: Options, questions=(), graph=None,
                     nudged=None) -> Rejection | None:
    """The first violated constraint of a concrete problem, or None when it is well-posed.

    `questions`: the rubric's questions (objects with `name` and `tolerance(ref)`, as
    gradcalc.grading.Question); their answers must not round to 0. `nudged()` gives the graph
    of the same problem with its drawn numbers moved by a hair (None when it cannot): an
    answer that is exactly 0 there too is a structural zero (a relu that is off, the smaller
    input of a max) and allowed; one that moves off 0 is 0 only because of these numbers.
    Without `nudged`, exact zeros are allowed."""
    from gradcalc.derive import autograd
    from gradcalc import ops
    from gradcalc.errors import DomainError

    if graph is None:
        try:
            graph, _, _ = autograd.run(problem, record=False)
        except DomainError as exc:
            return Rejection("domain", exc.message)
    margin = options.margin
    for node in graph.nodes:
        if node.op is None:
            continue
        op = ops.get(node.op)
        if op.branch is not None:
            # every op with kinks declares them (relu, leaky_relu, abs, max, min, hinge, and
            # pooling windows): side 0 means "within tol of a kink"
            xs = [n.value for n in node.inputs]
            side = np.asarray(op.branch(*xs, tol=margin, **node.attrs))
            if np.any(side == 0):
                k = int(np.flatnonzero(side == 0)[0])
                return Rejection("kink", _kink_message(node, op.name, xs, side, k, margin))
    for node in graph.nodes:
        if node.op in SATURATING:
            x = node.inputs[0].value
            bad = np.flatnonzero(np.abs(x) > options.saturation)
            if bad.size:
                k = int(bad[0])
                return Rejection("saturation",
                                 f"{node.op} input {node.inputs[0].name}{_entry(x, k)} = "
                                 f"{_g(x.flat[k])} is beyond the saturation bound ±{_g(options.saturation)}")
    eps = options.probability
    for node in graph.nodes:
        p = None
        if node.op == "softmax":
            p, what = node.value, f"softmax output {node.name}"
        elif node.op == "cross_entropy":
            p, what = ops.get("softmax").forward(node.inputs[0].value), \
                f"cross-entropy probability softmax({node.inputs[0].name})"
        elif node.op == "bce":
            p, what = node.inputs[0].value, f"bce probability {node.inputs[0].name}"
        if p is not None:
            bad = np.flatnonzero((p < eps) | (p > 1 - eps))
            if bad.size:
                k = int(bad[0])
                return Rejection("probability", f"{what}{_entry(p, k)} = {_g(p.flat[k])} is within "
                                                f"{_g(eps)} of {0 if p.flat[k] < 0.5 else 1}")
    if questions:
        return _answer_rejection(graph, questions, nudged)
    return None


def _answers_of(graph, questions) -> list[tuple[str, np.ndarray]]:
    """(name, value) of each question from a graph after backward: a forward quantity by its
    name, a gradient dX as the gradient of node X (0 where backward did not reach it)."""
    by_name = graph.by_name
    out = []
    for q in questions:
        node = by_name.get(q.name)
        if node is not None and node.role != "const":
            out.append((q.name, node.value))
            continue
        for prefix in ("dL/d", "∂L/∂", "d"):
            if q.name.startswith(prefix):
                node = by_name.get(q.name[len(prefix):])
                if node is not None and node.role != "const":
                    g = node.grad if node.grad is not None else np.zeros_like(node.value)
                    out.append((q.name, np.asarray(g, dtype=float)))
                    break
    return out


def _perturbation(shape: tuple, k: int) -> np.ndarray:
    """A fixed pattern in [-1, 1) per leaf (PCG64 with a constant seed: the same everywhere)."""
    n = math.prod(shape)
    rng = np.random.Generator(np.random.PCG64(0x9E3779B97F4A7C15 + k))
    return (2.0 * _uniform01(rng, n) - 1.0).reshape(shape)


def _answer_rejection(graph, questions, nudged) -> Rejection | None:
    answers = _answers_of(graph, questions)
    tol = {q.name: q for q in questions}
    zeros = []
    for name, v in answers:
        a = np.abs(v)
        # "rounds to 0": a non-zero reference that the answer 0 would match,
        # |0 − v| ≤ tolerance(v)
        bad = np.flatnonzero((a > EXACT_ZERO) & (a <= tol[name].tolerance(v)))
        if bad.size:
            k = int(bad[0])
            return Rejection("answer", f"the answer {name}{_entry(v, k)} = {_g(v.flat[k])} "
                                       f"rounds to 0 at the rubric's tolerance")
        if np.any(a <= EXACT_ZERO):
            zeros.append(name)
    if not zeros or nudged is None:
        return None
    graph2 = nudged()
    if graph2 is None:
        return None
    after = dict(_answers_of(graph2, [tol[n] for n in zeros]))
    before = dict(answers)
    for name in zeros:
        v, w = before[name], after.get(name)
        if w is None or w.shape != v.shape:
            continue
        bad = np.flatnonzero((np.abs(v) <= EXACT_ZERO) & (np.abs(w) > 1e-10))
        if bad.size:
            k = int(bad[0])
            return Rejection("answer", f"the answer {name}{_entry(v, k)} is 0 only because of "
                                       f"these numbers (it rounds to 0 at the rubric's tolerance)")
    return None


def _kink_message(node, op, xs, side, k, margin) -> str:
    names = [n.name for n in node.inputs]
    if op in ("max", "min") and len(xs) == 2:
        a, b = np.broadcast_arrays(xs[0], xs[1])
        return (f"{op}({names[0]}, {names[1]}) at {node.name}{_entry(side, k)}: the inputs "
                f"{_g(a.flat[k])} and {_g(b.flat[k])} are within {_g(margin)} of a tie")
    if op == "hinge":
        return (f"a hinge margin term of {node.name} (entry {_entry(side, k)}) lies within "
                f"{_g(margin)} of 0")
    x = np.asarray(xs[0])
    if x.shape == side.shape and len(xs) == 1:
        return (f"{op} input {names[0]}{_entry(x, k)} = {_g(x.flat[k])} lies within "
                f"{_g(margin)} of its kink")
    return f"{op} at {node.name}{_entry(side, k)}: an input lies within {_g(margin)} of its kink"


# ---------------------------------------------------------------- the asked answers
def answer_value(forward: dict, gradients: dict, name: str):
    """The reference value of a question name: a forward quantity, or dX for a gradient."""
    if name in forward:
        return forward[name]
    for prefix in ("dL/d", "∂L/∂", "d"):
        if name.startswith(prefix) and name[len(prefix):] in gradients:
            return gradients[name[len(prefix):]]
    return None


def reference_answers(variant: Variant, questions) -> dict:
    """name -> reference value of each question, from the variant's solution."""
    sol = variant.solution()
    out = {}
    for q in questions:
        v = answer_value(sol.forward, sol.gradients, q.name)
        if v is not None:
            out[q.name] = v
    return out


def rubric_of(problem):
    """The grading rubric of a concrete problem (gradcalc.grading validates it; its errors point
    at the template's lines). Numbers do not change it, so one per template is enough."""
    from gradcalc.grading.key import AnswerKey
    return AnswerKey(problem, lazy=True).rubric     # (no mistake variants needed for it)


# ---------------------------------------------------------------- making a variant
class VariantMaker:
    """Makes the well-posed variant of any student from one template (rubric loaded once)."""

    def __init__(self, template: Template, rubric=None):
        self.template = template
        self.rubric = rubric

    @property
    def questions(self) -> tuple:
        return tuple(self.rubric.questions) if self.rubric is not None else ()

    def make(self, student) -> Variant:
        """Redraw until every constraint holds; draws are numbered 1, 2, …"""
        from gradcalc.derive import autograd
        from gradcalc.errors import DomainError
        from gradcalc.problem.load import problem_from_located
        from gradcalc.problem.yamlio import Located

        tmpl = self.template
        student = normalize_id(student)
        if not student:
            raise UsageError("a student id cannot be empty")
        rejections: dict[str, int] = {}
        last: dict[str, str] = {}
        tries = tmpl.options.max_draws if tmpl.is_random else 1
        for draw in range(1, tries + 1):
            drawn = draw_values(tmpl, student, draw) if tmpl.is_random else {}
            data = fill(tmpl, drawn)
            # the template's line map: an error in a drawn document points at the template
            loc = Located(data=data, file=tmpl.file, lines=tmpl.located.lines)
            try:
                problem = problem_from_located(loc)
            except ProblemError as exc:
                if tmpl.is_random:
                    exc.message += f" (in the variant drawn for student {student})"
                raise
            if self.rubric is None:
                self.rubric = rubric_of(problem)
            if not tmpl.is_random:
                return Variant(student, problem, data, 1, {})
            try:
                graph, out, _ = autograd.run(problem, record=False)
            except DomainError as exc:
                rej = Rejection("domain", str(exc.message))
            else:
                rej = check_well_posed(problem, tmpl.options, self.questions, graph=graph,
                                       nudged=lambda: self._nudged_graph(drawn))
            if rej is None:
                return Variant(student, problem, data, draw, rejections, _built=(graph, out))
            rejections[rej.constraint] = rejections.get(rej.constraint, 0) + 1
            last.setdefault(rej.constraint, rej.message)
        raise _unsatisfiable(tmpl, student, rejections, last)

    def _nudged_graph(self, drawn: dict):
        """The graph of this draw with its drawn numbers moved by a hair, or None."""
        from gradcalc.derive import autograd
        from gradcalc.problem.load import problem_from_located
        from gradcalc.problem.yamlio import Located
        tmpl = self.template
        for whole in (True, False):      # whole-number draws may be labels: then keep them
            loc = Located(data=fill(tmpl, _nudged(tmpl, drawn, whole)), file=tmpl.file,
                          lines=tmpl.located.lines)
            try:
                return autograd.run(problem_from_located(loc), record=False)[0]
            except GradcalcError:
                continue
        return None


def _unsatisfiable(template, student, rejections, last) -> ProblemError:
    worst = max(rejections, key=lambda c: rejections[c])
    parts = [f"{c} ×{n}" for c, n in sorted(rejections.items(), key=lambda kv: -kv[1])]
    path = ("variants", "max_draws") if "max_draws" in (template.located.data.get("variants") or {}) \
        else ("variants",)
    return _error(template, path,
                  f"no well-posed draw for student {student} in {template.options.max_draws} draws: "
                  f"the {worst} constraint failed most often, e.g. {last[worst]} "
                  f"(rejections: {', '.join(parts)}); widen the random ranges or relax "
                  f"{CONSTRAINTS[worst]}")


# ---------------------------------------------------------------- YAML output
def _yaml_dumper():
    """A safe dumper (libyaml's when present) with flow-style number lists and short floats."""
    import yaml
    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):
        pass

    def rep_list(dumper, data):
        flow = all(not isinstance(v, (dict, list)) for v in data) or \
            all(isinstance(v, list) and all(not isinstance(t, (dict, list)) for t in v) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def rep_float(dumper, value):
        # the shortest round-trip text (0.3, not 0.30000000000000004); an exponent keeps a dot
        # so YAML 1.1 readers see a float
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            text = {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}[text]
        elif "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)

    Dumper.add_representer(list, rep_list)
    Dumper.add_representer(float, rep_float)
    return Dumper


_DUMPER = None


def _dump(data: dict) -> str:
    import yaml
    global _DUMPER
    if _DUMPER is None:
        _DUMPER = _yaml_dumper()
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def variant_yaml(variant: Variant, template: Template | None = None, cache: dict | None = None) -> str:
    """The concrete problem as YAML: flow-style number lists, readable floats.

    With a `cache` (one dict per template), the top-level sections without random numbers
    (title, grading …) are dumped once: a block mapping is the concatenation of its keys."""
    head = []
    if template is not None and template.is_random:
        head.append(f"# Variant of {Path(template.file).name} for student {variant.student} "
                    f"(seed {template.options.seed!r}, draw {variant.draws})")
        if variant.rejections:
            head.append("# redrawn: " + ", ".join(f"{c} ×{n}" for c, n in variant.rejections.items()))
    if cache is None or template is None:
        body = _dump(_plain(variant.data))
    else:
        random_keys = {spec.path[0] for spec in template.specs}
        parts = []
        for key, value in variant.data.items():
            if key in random_keys:
                parts.append(_dump({key: _plain(value)}))
            else:
                if key not in cache:
                    cache[key] = _dump({key: _plain(value)})
                parts.append(cache[key])
        body = "".join(parts)
    return "\n".join(head + [body.rstrip("\n")]) + "\n"


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


# ---------------------------------------------------------------- rosters
# Header names (case, spaces, '_' and '-' ignored) that hold the student id, best first.
# "student" alone comes last: in Canvas exports it is the *name* column, next to ID columns.
ID_HEADERS = ("student id", "studentid", "student number", "student no", "学号", "学生学号",
              "学生编号", "sis user id", "sis login id", "login id", "user id", "id", "username",
              "用户名", "student", "学生")
NAME_HEADERS = ("name", "student name", "full name", "姓名", "学生姓名", "student", "学生",
                "sortable name", "display name")


def _norm_header(h: str) -> str:
    return " ".join(h.replace("_", " ").replace("-", " ").split()).casefold()


@dataclass
class Roster:
    """An LMS roster export: every column kept, the id and name columns detected."""

    file: str
    columns: list[str]
    id_column: str
    name_column: str | None
    rows: list[dict]                       # column -> cell text, in file order
    lines: list[int]                       # line of each row
    skipped: list[str] = field(default_factory=list)   # why rows were skipped

    def ids(self) -> list[str]:
        return [normalize_id(r[self.id_column]) for r in self.rows]

    def name(self, row: dict) -> str:
        return row.get(self.name_column, "") if self.name_column else ""


def _decode_roster(raw: bytes, file: str) -> str:
    from gradcalc.grading.answers import decode_roster     # one rule for every roster gradcalc reads
    try:
        return decode_roster(raw)
    except ValueError as exc:
        raise UsageError(str(exc), file=file) from None


def read_roster(path, id_column: str | None = None) -> Roster:
    """Read a roster CSV (comma, semicolon or tab separated; UTF-8 with or without BOM)."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the roster: {exc.strerror or exc}", file=file) from None
    return parse_roster(_decode_roster(raw, file), file, id_column)


def parse_roster(text: str, file: str = "<roster>", id_column: str | None = None) -> Roster:
    from gradcalc.grading.answers import _sniff_delimiter
    text = text[1:] if text.startswith("\ufeff") else text
    delim = _sniff_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError("the roster is empty", file=file) from None
    except csv.Error as exc:
        raise UsageError(f"the roster is not valid CSV: {exc}", file=file, line=1) from None
    header = [h.strip() for h in header]
    if not any(header):
        raise UsageError("the roster's first line must name the columns", file=file, line=1)
    seen = set()
    for h in header:
        if h and h in seen:
            raise UsageError(f"column '{h}' appears twice in the header", file=file, line=1)
        seen.add(h)
    id_col = _pick_id_column(header, id_column, file)
    normed = {_norm_header(h): h for h in reversed(header)}
    name_col = next((normed[n] for n in NAME_HEADERS if n in normed and normed[n] != id_col), None)
    rows, lines, skipped = [], [], []
    where: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            row = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
            sid = normalize_id(row[id_col])
            if not sid:
                label = next((c.strip() for c in cells if c.strip()), "")
                skipped.append(f"line {line}: no {id_col} ({label})")
                continue
            if sid in where:
                raise UsageError(f"student id '{sid}' appears twice (lines {where[sid]} and {line})",
                                 file=file, line=line, field=id_col)
            where[sid] = line
            rows.append(row)
            lines.append(line)
    except csv.Error as exc:
        raise UsageError(f"the roster is not valid CSV: {exc}", file=file, line=reader.line_num) from None
    if not rows:
        raise UsageError(f"the roster has no students (no row with a {id_col})", file=file)
    return Roster(file, header, id_col, name_col, rows, lines, skipped)


def _pick_id_column(header: list[str], wanted: str | None, file: str) -> str:
    if wanted is not None:
        for h in header:
            if h == wanted.strip() or _norm_header(h) == _norm_header(wanted):
                return h
        raise UsageError(f"no column '{wanted}' in the roster; columns: {', '.join(header)}",
                         file=file, line=1)
    normed = {}
    for h in header:
        normed.setdefault(_norm_header(h), h)
    for cand in ID_HEADERS:
        if cand in normed:
            return normed[cand]
    raise UsageError("cannot tell which column holds the student id (looked for "
                     f"{', '.join(repr(c) for c in ID_HEADERS[:6])}, 'ID' …); name it with "
                     f"--id-column; columns: {', '.join(header)}", file=file, line=1)


def safe_filename(student: str, taken: set | None = None) -> str:
    """A file name for a student id: letters (any script), digits, '.', '-', '_' kept."""
    name = "".join(c if (c.isalnum() or c in "._-") else "_" for c in student).strip(".") or "_"
    name = name[:80]
    if taken is not None:
        if name.casefold() in taken:   # case-insensitive file systems
            name = f"{name}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"
        taken.add(name.casefold())
    return name


# ---------------------------------------------------------------- grading against variants
PROBE_ID = "gradcalc-probe"   # any id: answer names and shapes do not depend on the numbers


@dataclass(frozen=True)
class CopySignal:
    """A submission closer to another student's variant than to its own (reported, never scored)."""

    student: str
    source: str
    other: str                 # the student whose variant it matches
    own: int                   # distinguishing entries that match the student's own variant
    matched: int               # … that match the other student's variant
    entries: int               # answered entries that tell the two variants apart

    def text(self) -> str:
        return (f"copying signal: the answers match the variant of student {self.other} better "
                f"than their own ({self.matched} vs {self.own} of {self.entries} entries that "
                f"differ between the two; or a mistyped id)")


class VariantGrader:
    """`gradcalc grade --variants`: the answer key of each student's own variant (reference and
    mistake variants built once per variant), and the copying signal."""

    def __init__(self, template: Template):
        from gradcalc.grading.key import AnswerKey
        self.template = template
        self.maker = VariantMaker(template)
        probe = self.maker.make(PROBE_ID)       # loads and validates the rubric once
        # without random numbers every student has this problem: the probe is everyone's key
        self.probe = AnswerKey(probe.problem, self.maker.rubric, lazy=template.is_random,
                               built=probe._built)
        self._refs: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # id -> (reference, tolerance)
        # (question, entries) in the rubric's order: the same for every variant
        self._sizes = [(q.name, self.probe.reference[q.name].size) for q in self.rubric.questions]
        self._last: tuple[str, Any] | None = None

    @property
    def schema(self):
        return self.probe.schema

    @property
    def rubric(self):
        return self.probe.rubric

    @property
    def problem(self):
        return self.probe.problem

    def key_for(self, submission):
        """The AnswerKey of the submission's own variant (regenerated from its student id)."""
        from gradcalc.grading.key import AnswerKey
        if not self.template.is_random:
            return self.probe
        sid = normalize_id(submission.student) or PROBE_ID
        if self._last is not None and self._last[0] == sid:
            return self._last[1]
        variant = self.maker.make(sid)
        key = AnswerKey(variant.problem, self.rubric, lazy=True, built=variant._built)
        self._refs.setdefault(sid, self._flat(key.reference, key.tolerance))
        self._last = (sid, key)
        return key

    def _flat(self, values: dict, tolerance: dict) -> tuple[np.ndarray, np.ndarray]:
        ref = np.concatenate([np.ravel(values[q.name]) for q in self.rubric.questions])
        tol = np.concatenate([np.ravel(tolerance[q.name]) for q in self.rubric.questions])
        return ref, tol

    def _answers(self, submission) -> np.ndarray:
        """The submission's answers in the rubric's order, NaN where not answered or unusable."""
        parts = []
        for name, size in self._sizes:
            ans = submission.answers.get(name)
            v = getattr(ans, "value", None)
            if v is not None and getattr(ans, "error", None) is None and np.size(v) == size:
                parts.append(np.asarray(v, dtype=float).ravel())
            else:   # a wrong shape (a transposed dW) says nothing about whose numbers were used
                parts.append(np.full(size, np.nan))
        return np.concatenate(parts)

    def copy_signals(self, submissions) -> list[CopySignal]:
        """Submissions that match another student's variant better than their own.

        Only entries on which the two variants differ (beyond the tolerance) count, so shared
        numbers and structural zeros are no evidence; the other variant must match at least
        2 such entries and half of them."""
        if not self.template.is_random:
            return []
        subs = [s for s in submissions if not getattr(s, "unreadable", None)]
        for s in subs:
            sid = normalize_id(s.student)
            if sid and sid not in self._refs:
                self.key_for(s)
        ids = sorted(self._refs)
        ids = [i for i in ids if i != PROBE_ID]
        if len(ids) < 2:
            return []
        R = np.stack([self._refs[i][0] for i in ids])
        T = np.stack([self._refs[i][1] for i in ids])
        row = {sid: k for k, sid in enumerate(ids)}
        out = []
        with np.errstate(invalid="ignore"):
            for s in subs:
                sid = normalize_id(s.student)
                if sid not in row:
                    continue
                a = self._answers(s)
                answered = ~np.isnan(a)
                if answered.sum() < 2:
                    continue
                k = row[sid]
                own_ok = np.abs(a - R[k]) <= T[k]                     # (E,)
                differ = np.abs(R - R[k]) > np.maximum(T, T[k])       # (n, E): tells them apart
                other_ok = np.abs(a - R) <= T                         # (n, E)
                mask = differ & answered
                n_other = (other_ok & mask).sum(axis=1)
                n_own = (own_ok & mask).sum(axis=1)
                total = mask.sum(axis=1)
                score = n_other - n_own
                score[k] = -1
                j = int(np.argmax(score))
                if score[j] > 0 and n_other[j] >= 2 and 2 * n_other[j] >= total[j]:
                    out.append(CopySignal(sid, s.source, ids[j], int(n_own[j]), int(n_other[j]),
                                          int(total[j])))
        return out


def copy_signals_csv(signals: list[CopySignal]) -> str:
    from gradcalc.csvsafe import escape_cell as _csv_cell   # against CSV formula injection
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", "source", "matches_variant_of", "matching_own", "matching_other",
                "distinguishing_entries"])
    for s in sorted(signals, key=lambda s: (s.student, s.source)):
        w.writerow([_csv_cell(s.student), _csv_cell(s.source), _csv_cell(s.other), s.own,
                    s.matched, s.entries])
    return buf.getvalue()
