"""Well-posedness of a drawn problem: domain, kinks, saturation, probabilities, answers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcalc.variants.template import Options

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
    gradcalc.grading.rubric.Question); their answers must not round to 0. `nudged()` gives the graph
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

