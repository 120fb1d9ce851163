"""Grading: the rubric, the reference and the mistake variants (once per problem), follow-through, scores."""
from __future__ import annotations

import difflib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from gradcalc import ops
from gradcalc.grading.answers import QuantitySchema, Submission
from gradcalc.errors import ProblemError

DEFAULT_RTOL = 0.01
DEFAULT_ATOL = 1e-6
DEFAULT_FOLLOW_THROUGH = 1.0
DEFAULT_MISTAKE_CREDIT = 0.0
# A mistake is diagnosable only if its value lies at least this many tolerances from the right
# answer in some entry: otherwise a small slip could be "diagnosed" as that mistake.
DIAGNOSABLE = 3.0
GRADING_KEYS = ("rtol", "atol", "sigfigs", "follow_through", "mistake_credit", "questions")
QUESTION_KEYS = ("points", "rtol", "atol", "sigfigs", "follow_through", "mistake_credit")

# The catalogue of classic backprop mistakes: key -> (English, Chinese). Each is a variant of
# the reference derivation recomputed through the graph; {h} {z} {act} {W} {b} … name the place.
MISTAKES: dict[str, tuple[str, str]] = {
    "no_activation_derivative": (
        "forgot the derivative of the activation: d{z} = d{h}, without the factor {act}′({z})",
        "漏掉了激活函数的导数：d{z} 直接取了 d{h}，没有乘 {act}′({z})"),
    "activation_for_derivative": (
        "used {act}({z}) where the derivative {act}′({z}) belongs",
        "把 {act}({z}) 当成了导数 {act}′({z})"),
    "derivative_at_output": (
        "evaluated {act}′ at {h} instead of at {z}",
        "在 {h} 处而不是 {z} 处求了 {act}′"),
    "derivative_of_preactivation": (
        "used the pre-activation {z} where {h} belongs in the derivative (e.g. z(1 − z) for σ′)",
        "求导时把预激活值 {z} 当成了 {h}（例如把 σ′ 写成 z(1 − z)）"),
    "no_chain_rule": (
        "forgot to multiply by the upstream gradient d{h} (chain rule): d{z} = {act}′({z})",
        "漏乘上游梯度 d{h}（链式法则）：d{z} 只取了局部梯度 {act}′({z})"),
    "no_activation_forward": (
        "skipped the activation in the forward pass: {h} = {z}",
        "前向计算漏掉了激活函数：{h} = {z}"),
    "preactivation_in_dW": (
        "used the pre-activation {zprev} where the activation {hprev} belongs in d{W} = d{z}·{hprev}ᵀ",
        "计算 d{W} = d{z}·{hprev}ᵀ 时把预激活值 {zprev} 当成了激活值 {hprev}"),
    "no_bias_forward": (
        "forgot the bias {b} in {z}",
        "计算 {z} 时漏加了偏置 {b}"),
    "transposed_W_forward": (
        "multiplied by {W}ᵀ instead of {W} in {z}",
        "计算 {z} 时用了 {W}ᵀ 而不是 {W}"),
    "dx_not_transposed": (
        "used {W} instead of {W}ᵀ in d{x} = {W}ᵀ·d{z}",
        "计算 d{x} = {W}ᵀ·d{z} 时用了 {W} 而不是 {W}ᵀ"),
    "sign_flip": (
        "the sign of the gradient is flipped",
        "梯度的符号反了"),
    "transposed": (
        "transposed: d{W} must have the shape of {W}",
        "转置了：d{W} 应与 {W} 形状相同"),
    "mse_no_half": (
        "dropped the ½ of the MSE: the loss and every gradient doubled",
        "漏掉了均方误差的 ½：损失和所有梯度都变成了两倍"),
    "mse_no_two": (
        "forgot the factor 2 from differentiating the square (dL/d{y} halved)",
        "对平方求导时漏掉了系数 2（dL/d{y} 少了一半）"),
    "no_batch_mean": (
        "forgot the 1/N average over the batch (N = {n})",
        "漏掉了对批量取平均的 1/N（N = {n}）"),
    "bias_not_summed": (
        "did not sum d{b} over the batch (one row per example)",
        "d{b} 没有对批量求和（每个样本一行）"),
    "bias_mean": (
        "averaged d{b} over the batch instead of summing",
        "d{b} 对批量取了平均，而应求和"),
    "l2_lambda": (
        "took the L2 gradient as λW instead of 2λW",
        "正则化项的梯度写成了 λW，应为 2λW"),
    "l2_missing": (
        "left out the gradient 2λW of the L2 term",
        "漏掉了正则化项的梯度 2λW"),
    "softmax_no_onehot": (
        "did not subtract the one-hot label from the softmax (dL/d{y} = p − onehot)",
        "softmax 的梯度没有减去 one-hot 标签（dL/d{y} = p − onehot）"),
    "hinge_no_count": (
        "left out −(number of violated margins) at the true class of the hinge gradient",
        "hinge 损失的梯度在正确类别处漏掉了 −（违反间隔的类别数）"),
}


def mistake_text(key: str, params: dict, lang: str = "en") -> str:
    en, zh = MISTAKES[key]
    return (zh if lang == "zh" else en).format(**params)


# ---------------------------------------------------------------- rubric
@dataclass(frozen=True)
class Question:
    name: str                   # canonical quantity name: "z1", "dW1"
    points: float = 1.0
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    sigfigs: int | None = None
    follow_through: float = DEFAULT_FOLLOW_THROUGH
    mistake_credit: tuple = ()  # ((key, credit), …); "default" for the rest

    def credit_for(self, mistake: str) -> float:
        table = dict(self.mistake_credit)
        return table.get(mistake, table.get("default", DEFAULT_MISTAKE_CREDIT))

    def tolerance(self, ref: np.ndarray) -> np.ndarray:
        """Half-width of the accepted interval per entry: atol + rtol·|b|, or with `sigfigs`
        atol + half a unit in the last asked significant digit of b."""
        mag = np.abs(ref)
        if self.sigfigs is None:
            return self.atol + self.rtol * mag
        with np.errstate(divide="ignore"):
            exp = np.floor(np.log10(np.where(mag > 0, mag, 1.0)))
        unit = np.where(mag > 0, 0.5 * 10.0 ** (exp - self.sigfigs + 1), 0.0)
        return self.atol + unit


@dataclass(frozen=True)
class Rubric:
    questions: tuple[Question, ...]
    defaulted: bool = False     # no `grading:` section: every forward quantity and parameter gradient

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    @property
    def names(self) -> list[str]:
        return [q.name for q in self.questions]


class _RubricCtx:
    def __init__(self, problem):
        self.problem = problem
        self.loc = getattr(problem, "source", None)

    def error(self, path: tuple, message: str) -> ProblemError:
        from gradcalc.problem.yamlio import field_name
        line = self.loc.line(("grading",) + path) if self.loc is not None else None
        return ProblemError(message, file=self.problem.file,
                            field=field_name(("grading",) + path), line=line)

    def number(self, value, path, low=0.0, high=math.inf, what="a number") -> float:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(path, f"expected {what}, got {value!r}")
        if not low <= value <= high:
            rng = f"between {low:g} and {high:g}" if high != math.inf else f"≥ {low:g}"
            raise self.error(path, f"expected {what} {rng}, got {value:g}")
        return float(value)

    def keys(self, mapping, path, allowed, what):
        if not isinstance(mapping, dict):
            raise self.error(path, f"expected a mapping ({what})")
        for key in mapping:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(allowed)})"
                raise self.error(path + (key,), f"unknown key '{key}' in {what}{tip}")
        return mapping


def default_questions(problem, schema: QuantitySchema) -> list[str]:
    """Every computed forward quantity and every parameter gradient (for expressions: the steps
    and the gradients of the values)."""
    from gradcalc.graph.network import forward_names, leaf_values
    leaves = set(leaf_values(problem))
    skip = set(leaves)
    if problem.kind == "network" and problem.layers[-1].activation == "linear":
        skip.add(f"z{len(problem.layers)}")   # y = z of a linear output layer: ask once
    names = [n for n in forward_names(problem) if n not in skip and n in schema.shapes]
    if problem.kind == "network":
        names += ["d" + p for p in problem.parameters()]
    else:
        names += ["d" + v for v in problem.values]
    return [n for n in names if n in schema.shapes]


def load_rubric(problem, schema: QuantitySchema) -> Rubric:
    """The `grading:` section of the problem file, validated (errors name file, line, field)."""
    raw = (problem.raw or {}).get("grading")
    if raw is None:
        return Rubric(tuple(Question(n) for n in default_questions(problem, schema)), True)
    ctx = _RubricCtx(problem)
    if not isinstance(raw, dict):
        raise ctx.error((), "expected a mapping of rubric settings (rtol, atol, sigfigs, "
                            "follow_through, mistake_credit, questions)")
    ctx.keys(raw, (), GRADING_KEYS, "grading")
    base = _settings(ctx, raw, (), {"rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL, "sigfigs": None,
                                    "follow_through": DEFAULT_FOLLOW_THROUGH, "mistake_credit": ()})
    spec = raw.get("questions")
    if spec is None:
        items = [(n, 1.0, ("questions",)) for n in default_questions(problem, schema)]
    elif isinstance(spec, list):
        items = [(n, 1.0, ("questions", i)) for i, n in enumerate(spec)]
    elif isinstance(spec, dict):
        items = [(n, v, ("questions", n)) for n, v in spec.items()]
    else:
        raise ctx.error(("questions",), "expected a mapping of quantity: points (or a list of names)")
    if not items:
        raise ctx.error(("questions",), "no questions to grade")
    questions, seen = [], {}
    for written, value, path in items:
        resolved = schema.resolve(written) if isinstance(written, str) else None
        if resolved is None or resolved[1] is not None:
            known = sorted(schema.shapes)
            hint = difflib.get_close_matches(str(written), known, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ctx.error(path, f"unknown quantity '{written}'{tip}; names are those of "
                                  f"`gradcalc solve --format json`, gradients as dW1 or dL/dW1")
        name = resolved[0]
        if name in seen:
            raise ctx.error(path, f"'{written}' is the same question as '{seen[name]}'")
        seen[name] = written
        settings = dict(base)
        if isinstance(value, dict):
            ctx.keys(value, path, QUESTION_KEYS, f"question {written}")
            settings = _settings(ctx, value, path, settings)
            points = ctx.number(value["points"], path + ("points",), what="points") \
                if "points" in value else 1.0
        else:
            points = ctx.number(value, path, what="points")
        questions.append(Question(name, points, settings["rtol"], settings["atol"],
                                  settings["sigfigs"], settings["follow_through"],
                                  settings["mistake_credit"]))
    if sum(q.points for q in questions) <= 0:
        raise ctx.error(("questions",), "the questions are worth 0 points in total")
    return Rubric(tuple(questions))


def _settings(ctx: _RubricCtx, raw: dict, path: tuple, inherited: dict) -> dict:
    out = dict(inherited)
    if "rtol" in raw:
        out["rtol"] = ctx.number(raw["rtol"], path + ("rtol",), what="a relative tolerance")
    if "atol" in raw:
        out["atol"] = ctx.number(raw["atol"], path + ("atol",), what="an absolute tolerance")
    if "sigfigs" in raw:
        s = raw["sigfigs"]
        if s is not None:
            s = ctx.number(s, path + ("sigfigs",), 1, 15, "a whole number of significant figures")
            if s != int(s):
                raise ctx.error(path + ("sigfigs",), f"expected a whole number, got {s:g}")
            s = int(s)
        out["sigfigs"] = s
    if "follow_through" in raw:
        out["follow_through"] = ctx.number(raw["follow_through"], path + ("follow_through",), 0, 1,
                                           "a credit fraction")
    if "mistake_credit" in raw:
        mc = raw["mistake_credit"]
        p = path + ("mistake_credit",)
        table = dict(inherited.get("mistake_credit", ()))
        if isinstance(mc, dict):
            for key, v in mc.items():
                if key != "default" and key not in MISTAKES:
                    hint = difflib.get_close_matches(str(key), list(MISTAKES), n=1)
                    tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                    raise ctx.error(p + (key,), f"unknown mistake '{key}'{tip}; known: "
                                                f"default, {', '.join(MISTAKES)}")
                table[key] = ctx.number(v, p + (key,), 0, 1, "a credit fraction")
        else:
            table = {"default": ctx.number(mc, p, 0, 1, "a credit fraction")}
        out["mistake_credit"] = tuple(sorted(table.items()))
    return out


# ---------------------------------------------------------------- the graph, evaluated with substitutions
@dataclass
class _Variant:
    key: str
    params: dict
    fwd: dict = field(default_factory=dict)   # node index -> fn(xs, vals) -> value
    vjp: dict = field(default_factory=dict)   # node index -> fn(g, out, xs, vals) -> grads


class Tape:
    """The problem's autograd graph as flat arrays, re-evaluated with substituted values.

    `run(fsub, gsub)` recomputes forward then backward; a node's value (or gradient) is replaced
    by fsub[i] (gsub[i]) for everything computed after it. It returns what each node would be
    *before* its own substitution: exactly what a student who wrote the substituted answers
    should get for it (follow-through)."""

    def __init__(self, problem, built: tuple | None = None):
        # built: (graph, output node) of this problem already made by network.build (the
        # variant maker has one for every student); the tape only reads it
        if built is None:
            from gradcalc.derive import autograd
            from gradcalc.graph.network import build
            graph = autograd.Graph(problem.file)
            out = build(problem, graph)
        else:
            graph, out = built
        nodes = graph.nodes
        index = {id(n): i for i, n in enumerate(nodes)}
        self.nodes = nodes
        self.out = index[id(out)]
        self.names = [n.name for n in nodes]
        self.inputs = [[index[id(x)] for x in n.inputs] for n in nodes]
        self.ops = [ops.get(n.op) if n.op else None for n in nodes]
        self.attrs = [n.attrs for n in nodes]
        self.leaf_values = [n.value if n.op is None else None for n in nodes]
        # quantity name -> node index, as the autograd graph names them (last op wins)
        self.by_name = {name: index[id(node)] for name, node in graph.by_name.items()
                        if node.role != "const"}
        self.ref_values, self.ref_grads = self.run({}, {})

    def run(self, fsub: dict, gsub: dict, variant: _Variant | None = None):
        n = len(self.nodes)
        vals: list = [None] * n
        exp_f: list = [None] * n
        fwd = variant.fwd if variant else {}
        vjps = variant.vjp if variant else {}
        with np.errstate(all="ignore"):
            for i in range(self.out + 1):
                op = self.ops[i]
                if op is None:
                    v = self.leaf_values[i]
                else:
                    xs = [vals[j] for j in self.inputs[i]]
                    fn = fwd.get(i)
                    v = fn(xs, vals) if fn else op.forward(*xs, **self.attrs[i])
                    v = np.asarray(v, dtype=float)
                exp_f[i] = v
                vals[i] = fsub.get(i, v)
            grads: list = [None] * n
            exp_g: list = [None] * n
            grads[self.out] = np.ones_like(vals[self.out])
            for i in range(self.out, -1, -1):
                g = grads[i]
                if g is None:
                    g = np.zeros_like(vals[i])
                exp_g[i] = g
                op = self.ops[i]
                if op is None:
                    continue
                g = gsub.get(i, g)
                xs = [vals[j] for j in self.inputs[i]]
                fn = vjps.get(i)
                gs = fn(g, vals[i], xs, vals) if fn else op.vjp(g, vals[i], *xs, **self.attrs[i])
                for j, gj in zip(self.inputs[i], gs):
                    gj = np.asarray(gj, dtype=float)
                    shape = np.shape(vals[j])
                    if gj.shape != shape:
                        gj = gj.reshape(shape)
                    grads[j] = gj if grads[j] is None else grads[j] + gj
        return exp_f, exp_g

    def vjp_uses_output(self, i: int) -> bool:
        """Does node i's VJP read its output value (σ, tanh, exp …)? Tested numerically once."""
        op = self.ops[i]
        xs = [self.ref_values[j] for j in self.inputs[i]]
        out = self.ref_values[i]
        g = np.ones_like(out)
        try:
            with np.errstate(all="ignore"):
                a = op.vjp(g, out, *xs, **self.attrs[i])
                b = op.vjp(g, out + 0.37, *xs, **self.attrs[i])
            return any(not np.array_equal(np.asarray(p), np.asarray(q)) for p, q in zip(a, b))
        except Exception:
            return True

    def dependencies(self) -> tuple[list[frozenset], list[frozenset]]:
        """F[i]: slots whose substitution changes node i's value; G[i]: the same for its gradient.
        A slot is ("f", j) for a value and ("g", j) for a gradient.

        They follow from the graph's wiring and from which VJPs read their output, so graphs
        wired alike (the variants of one template) share one computation."""
        n = self.out + 1
        uses_out = tuple(self.vjp_uses_output(c) for c in range(n) if self.ops[c] is not None)
        key = (tuple(tuple(self.inputs[i]) for i in range(n)),
               tuple(self.ops[i] is None for i in range(n)), uses_out)
        hit = _DEPENDENCIES.get(key)
        if hit is None:
            hit = self._dependencies(dict(zip((c for c in range(n) if self.ops[c] is not None),
                                              uses_out)))
            if len(_DEPENDENCIES) > 64:
                _DEPENDENCIES.clear()
            _DEPENDENCIES[key] = hit
        return hit

    def _dependencies(self, uses_out: dict) -> tuple[list[frozenset], list[frozenset]]:
        n = self.out + 1
        F: list[set] = [set() for _ in range(n)]
        for i in range(n):
            F[i].add(("f", i))
            for j in self.inputs[i]:
                F[i] |= F[j]
        consumers: list[list[int]] = [[] for _ in range(n)]
        for c in range(n):
            for j in set(self.inputs[c]):
                consumers[j].append(c)
        G: list[set] = [set() for _ in range(n)]
        for i in range(n - 1, -1, -1):
            for c in consumers[i]:
                G[i].add(("g", c))
                G[i] |= G[c]
                for j in self.inputs[c]:
                    G[i] |= F[j]
                if uses_out[c]:
                    G[i] |= F[c]
        return [frozenset(f) for f in F], [frozenset(g) for g in G]


# (inputs of each node, leaves, VJPs that read their output) -> Tape.dependencies()
_DEPENDENCIES: dict = {}


# ---------------------------------------------------------------- mistake variants
def _activation_ops() -> set:
    return {v for v in ops.ACTIVATIONS.values() if v != "linear"}


def _catalogue(tape: Tape, problem) -> list[_Variant]:
    """Every catalogued mistake that applies to this graph, as a variant of the derivation."""
    out: list[_Variant] = []
    names = tape.names
    acts = _activation_ops()
    batch = getattr(problem, "batch", False)
    for i, op in enumerate(tape.ops):
        if op is None or i > tape.out:
            continue
        attrs = tape.attrs[i]
        ins = tape.inputs[i]
        if op.name in acts:
            p = {"h": names[i], "z": names[ins[0]], "act": op.label}
            vjp = op.vjp
            fwd = op.forward
            out += [
                _Variant("no_activation_derivative", p, vjp={i: lambda g, o, xs, v: (g,)}),
                _Variant("activation_for_derivative", p, vjp={i: lambda g, o, xs, v: (g * o,)}),
                _Variant("derivative_at_output", p, vjp={
                    i: lambda g, o, xs, v, f=fwd, d=vjp, a=attrs: d(g, f(o, **a), o, **a)}),
                _Variant("derivative_of_preactivation", p, vjp={
                    i: lambda g, o, xs, v, d=vjp, a=attrs: d(g, xs[0], xs[0], **a)}),
                _Variant("no_chain_rule", p, vjp={
                    i: lambda g, o, xs, v, d=vjp, a=attrs: d(np.ones_like(g), o, *xs, **a)}),
                # a student who skips σ in the forward pass treats it as the identity backwards too
                _Variant("no_activation_forward", p, fwd={i: lambda xs, v: np.array(xs[0], dtype=float)},
                         vjp={i: lambda g, o, xs, v: (g,)}),
            ]
        elif op.name == "affine":
            iW, ix, ib = ins
            W = tape.ref_values[iW]
            p = {"W": names[iW], "x": names[ix], "b": names[ib], "z": names[i]}
            # (ops are bound as default arguments: a closure would see the loop's last op)
            out.append(_Variant("no_bias_forward", p, fwd={
                i: lambda xs, v, f=op.forward: f(xs[0], xs[1], np.zeros_like(xs[2]))}))
            if W.ndim == 2 and W.shape[0] == W.shape[1]:
                out.append(_Variant("transposed_W_forward", p, fwd={
                    i: lambda xs, v, f=op.forward: f(np.transpose(xs[0]), xs[1], xs[2])}))
                if tape.ops[ix] is not None:   # dx of an input that is not a leaf
                    def dx_plain(g, o, xs, v, f=op.vjp):
                        dW, dx, db = f(g, o, *xs)
                        dx = (xs[0] @ g) if np.ndim(g) == 1 else g @ np.transpose(xs[0])
                        return dW, dx, db
                    out.append(_Variant("dx_not_transposed", p, vjp={i: dx_plain}))
            prod = tape.ops[ix]
            if prod is not None and prod.name in acts:
                izprev = tape.inputs[ix][0]
                q = dict(p, hprev=names[ix], zprev=names[izprev])

                def pre_dW(g, o, xs, v, f=op.vjp, iz=izprev):
                    dW = f(g, o, xs[0], v[iz], xs[2])[0]
                    _, dx, db = f(g, o, *xs)
                    return dW, dx, db
                out.append(_Variant("preactivation_in_dW", q, vjp={i: pre_dW}))
        elif op.name in ops.LOSSES.values():
            y = tape.ref_values[ins[0]]
            p = {"y": names[ins[0]]}
            if op.name == "mse":
                if attrs.get("scale") == 0.5:
                    out.append(_Variant("mse_no_half", p,
                                        fwd={i: lambda xs, v, f=op.forward, a=attrs: 2.0 * f(*xs, **a)},
                                        vjp={i: lambda g, o, xs, v, f=op.vjp, a=attrs:
                                             tuple(2.0 * t for t in f(g, o, *xs, **a))}))
                out.append(_Variant("mse_no_two", p, vjp={
                    i: lambda g, o, xs, v, f=op.vjp, a=attrs: tuple(0.5 * t for t in f(g, o, *xs, **a))}))
            if op.name == "cross_entropy":
                def no_onehot(g, o, xs, v):
                    Y = np.asarray(xs[0], dtype=float)
                    n = 1 if Y.ndim == 1 else Y.shape[0]
                    e = np.exp(Y - Y.max(axis=-1, keepdims=True))
                    return (g * e / e.sum(axis=-1, keepdims=True) / n,)
                out.append(_Variant("softmax_no_onehot", p, vjp={i: no_onehot}))
            if op.name == "hinge":
                def no_count(g, o, xs, v, a=attrs):
                    Y = np.asarray(xs[0], dtype=float)
                    Y2 = Y[None, :] if Y.ndim == 1 else Y
                    n = Y2.shape[0]
                    k = np.reshape(np.asarray(a["label"], dtype=int), (n,))
                    M = Y2 - Y2[np.arange(n), k][:, None] + a.get("margin", 1.0)
                    act = (M > 0).astype(float)
                    act[np.arange(n), k] = 0.0
                    return (g * act.reshape(Y.shape) / n,)
                out.append(_Variant("hinge_no_count", p, vjp={i: no_count}))
            if batch and y.ndim == 2 and y.shape[0] > 1:
                n = y.shape[0]
                out.append(_Variant("no_batch_mean", dict(p, n=n),
                                    fwd={i: lambda xs, v, f=op.forward, a=attrs, n=n: n * f(*xs, **a)},
                                    vjp={i: lambda g, o, xs, v, f=op.vjp, a=attrs, n=n:
                                         tuple(n * t for t in f(g, o, *xs, **a))}))
        elif op.name == "l2":
            out.append(_Variant("l2_lambda", {}, vjp={
                i: lambda g, o, xs, v, f=op.vjp, a=attrs: tuple(0.5 * t for t in f(g, o, *xs, **a))}))
            out.append(_Variant("l2_missing", {}, vjp={
                i: lambda g, o, xs, v: tuple(np.zeros_like(x) for x in xs)}))
    return out


# ---------------------------------------------------------------- the answer key
@dataclass
class _Slot:
    kind: str          # "f" or "g"
    node: int


def _conform(a: np.ndarray, shape: tuple) -> np.ndarray | None:
    """The answer in the reference's shape, when it is the same array written differently
    (a number for a 1-vector, a flat list for a 1×n matrix); None when the shape is wrong."""
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


@dataclass
class QuestionResult:
    """One question of one student. kind: correct, partial, follow_through, mistake, wrong,
    shape, blank, unreadable."""

    name: str
    points: float
    credit: float = 0.0                      # fraction of the points
    kind: str = "blank"
    wrong_entries: tuple = ()                # 0-based indices wrong against the reference
    mistake: tuple | None = None             # (key, params) when a catalogued mistake matches
    upstream: tuple = ()                     # wrong earlier answers this one is consistent with
    rounding: bool = False                   # correct given the student's rounded earlier answers
    ft_full: bool = False                    # every entry consistent with the earlier answers
    given: np.ndarray | None = None
    text: str = ""
    error: str = ""
    interval: tuple | None = None            # (low, high) arrays of the accepted interval
    expected_shape: tuple = ()
    cluster: str = ""                        # identical-wrong-answer key (copying signal)

    @property
    def score(self) -> float:
        return self.points * self.credit

    def release(self) -> None:
        """Drop the arrays once the feedback is written (10,000 students stay small)."""
        self.given = None
        self.interval = None


@dataclass
class StudentResult:
    student: str
    name: str
    source: str
    questions: list[QuestionResult]
    problems: list[str] = field(default_factory=list)
    unreadable: str | None = None
    ungraded: tuple = ()                     # valid quantities answered that the rubric does not ask
    duplicate: bool = False

    @property
    def total(self) -> float:
        return float(sum(q.score for q in self.questions))

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    @property
    def percent(self) -> float:
        m = self.max_points
        return 100.0 * self.total / m if m else 0.0

    @property
    def status(self) -> str:
        if self.unreadable:
            return f"unreadable: {self.unreadable}"
        parts = list(self.problems)
        blank = [q.name for q in self.questions if q.kind == "blank"]
        if blank and len(blank) == len(self.questions):
            parts.append("nothing answered")
        elif blank:
            parts.append(f"not answered: {', '.join(blank)}")
        bad = [q.name for q in self.questions if q.kind == "unreadable"]
        if bad:
            parts.append(f"unreadable: {', '.join(bad)}")
        return "; ".join(parts) if parts else "ok"


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
        for variant in _catalogue(t, self.problem):
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
                found.append(("transposed", {"W": leaf}, ref.T))
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
            r.text = ans.text
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
                if kind in ("partial", "wrong", "shape") and r.given is not None and not r.mistake:
                    r.cluster = name + "=" + _value_key(r.given)
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
        for name in candidates:
            q = self._question(name)
            r = results[name]
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
        for (key, params, value), tol in zip(self.variants[q.name], self._variant_tolerances(q.name)):
            if value.shape == a.shape and self._close(q, a, value, tol).all():
                r.mistake = (key, params)
                credit = q.credit_for(key)
                if credit > r.credit or (credit == r.credit and r.kind != "follow_through"):
                    r.kind, r.credit, r.upstream = "mistake", credit, ()
                return

    def _off_shape(self, q: Question, r: QuestionResult, given: np.ndarray) -> None:
        """A wrong shape scores 0, unless it is a catalogued one (a transposed dW …)."""
        for (key, params, value), tol in zip(self.variants[q.name], self._variant_tolerances(q.name)):
            if value.shape == given.shape and value.shape != self.reference[q.name].shape \
                    and self._close(q, given, value, tol).all():
                r.mistake = (key, params)
                r.kind, r.credit = "mistake", q.credit_for(key)
                return


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


# ---------------------------------------------------------------- a class
@dataclass
class QuestionStats:
    name: str
    points: float
    n: int = 0
    total: float = 0.0
    counts: Counter = field(default_factory=Counter)     # kind -> students
    mistakes: Counter = field(default_factory=Counter)   # mistake key -> students

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def share(self, kind: str) -> float:
        return 100.0 * self.counts[kind] / self.n if self.n else 0.0


@dataclass
class ClassReport:
    """The graded class, sorted by student id: what the outputs are rendered from."""

    title: str
    rubric: Rubric
    results: list[StudentResult]
    stats: list[QuestionStats]
    clusters: list[tuple[str, list[str]]]      # (question=value, students) of identical wrong answers
    pairs: list[tuple[str, str, int]]          # students sharing several identical wrong answers

    @property
    def totals(self) -> list[float]:
        return [r.total for r in self.results]


def sort_key(r: StudentResult):
    return (r.student.casefold(), r.student, r.source)


def summarize(title: str, rubric: Rubric, results: list[StudentResult]) -> ClassReport:
    results = sorted(results, key=sort_key)
    stats = [QuestionStats(q.name, q.points) for q in rubric.questions]
    by_cluster: dict[str, list[str]] = {}
    for r in results:
        for st, qr in zip(stats, r.questions):
            st.n += 1
            st.total += qr.score
            st.counts[qr.kind] += 1
            if qr.mistake:
                st.mistakes[qr.mistake[0]] += 1
            if qr.cluster:
                by_cluster.setdefault(qr.cluster, [])
                if r.student not in by_cluster[qr.cluster]:
                    by_cluster[qr.cluster].append(r.student)
    order = {q.name: i for i, q in enumerate(rubric.questions)}
    clusters = [(k, v) for k, v in by_cluster.items() if len(v) >= 2]
    clusters.sort(key=lambda kv: (-len(kv[1]), order.get(kv[0].split("=", 1)[0], 0), kv[0]))
    shared: Counter = Counter()
    for _, members in clusters:
        if len(members) > 50:
            continue   # a very common wrong answer says nothing about pairs
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                shared[tuple(sorted((a, b)))] += 1
    pairs = sorted(((a, b, k) for (a, b), k in shared.items() if k >= 2),
                   key=lambda t: (-t[2], t[0], t[1]))
    return ClassReport(title, rubric, results, stats, clusters, pairs)


def grade_submissions(key: AnswerKey | Callable[[Submission], AnswerKey],
                      submissions: Iterable[Submission],
                      on_result: Callable[[StudentResult], Any] | None = None) -> list[StudentResult]:
    """Grade each submission; `key` may map a submission to its own answer key (per-student
    variants). `on_result` sees every result first (to write feedback, advance a progress bar)."""
    out = []
    for sub in submissions:
        k = key(sub) if callable(key) and not isinstance(key, AnswerKey) else key
        r = k.grade(sub)
        if on_result is not None:
            on_result(r)
        out.append(r)
    return out


def grade_paths(problem, paths, rubric: Rubric | None = None) -> ClassReport:
    """The Python API: grade every answer file under `paths` against `problem`."""
    from gradcalc.grading.answers import read_submissions
    from gradcalc.api import load_problem
    if not hasattr(problem, "kind"):
        problem = load_problem(problem)
    key = AnswerKey(problem, rubric)
    subs = read_submissions(paths, key.schema)
    return summarize(problem.title, key.rubric, grade_submissions(key, subs))
