"""The computation of a problem, written once against a small backend ("leaf" and "apply")."""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from gradcalc import ops
from gradcalc.graph.gated import gated_layer, gated_names
from gradcalc.graph.normgraph import add_residual, norm_layer_graph, norm_names, residual_names
from gradcalc.problem.gatedlayers import GATED_TYPES
from gradcalc.problem.model import CONSTANTS, ExpressionProblem, NetworkProblem, Problem
from gradcalc.problem.normlayers import NORM_TYPES


class Backend(Protocol):
    """What a derivation method provides: autograd nodes, SymPy expressions or plain floats."""

    def leaf(self, name: str, value: np.ndarray, role: str) -> Any:
        """role: 'input', 'param' (differentiated), or 'const'."""

    def apply(self, op: str, inputs: list, name: str, attrs: dict, formula: str,
              field: tuple) -> Any:
        """Apply a registry operation; `field` locates the node in the problem file."""


def build(problem: Problem, be: Backend, values: dict[str, np.ndarray] | None = None) -> Any:
    """Run `problem` on backend `be`; returns the handle of the output (L, or y / the last step).

    `values` overrides leaf values by name (used to perturb parameters)."""
    values = values or {}
    if isinstance(problem, NetworkProblem):
        return _network(problem, be, values)
    return _expression(problem, be, values)


def leaf_values(problem: Problem) -> dict[str, np.ndarray]:
    """The differentiated leaves and their values, in order: x, W1, b1, … or the variables."""
    if isinstance(problem, NetworkProblem):
        out = {"x": problem.x}
        out.update(problem.parameters())
        return out
    return problem.parameters()


def forward_names(problem: Problem) -> list[str]:
    """Every named quantity, in the order of the computation."""
    if isinstance(problem, ExpressionProblem):
        return list(problem.values) + [name for name, _ in problem.steps]
    names = ["x"]
    n = len(problem.layers)
    for i in range(1, n + 1):
        layer = problem.layers[i - 1]
        if layer.type in NORM_TYPES:
            names += residual_names(norm_names(layer, i, f"h{i}" if i < n else "y"), layer, i)
            continue
        if layer.type in GATED_TYPES:
            names += gated_names(layer, i, n, time_steps(problem, i))
            continue
        if layer.type not in ("dense", "conv2d", "conv1d"):
            names += _typed_names(layer, i, n, time_steps(problem, i) if layer.type == "rnn" else 0)
            continue
        names += residual_names([f"W{i}", f"b{i}", f"z{i}", f"h{i}" if i < n else "y"], layer, i)
    if problem.loss is not None:
        names += ["L_data", "R", "L"] if problem.l2 else ["L"]
    return names


def _network(p: NetworkProblem, be: Backend, values: dict) -> Any:
    h = be.leaf("x", values.get("x", p.x), "input")
    h_name = "x"
    weights = []
    weight_names = []
    n = len(p.layers)
    named = {"x": h}                # what a later layer's `residual:` may add
    for i, layer in enumerate(p.layers, 1):
        if layer.type != "dense":
            h, h_name = _typed_layer(p, be, values, i, layer, h, h_name, weights, weight_names)
            h, h_name = add_residual(be, p, i, h, h_name, named)
            continue
        W = be.leaf(f"W{i}", values.get(f"W{i}", layer.W), "param")
        b = be.leaf(f"b{i}", values.get(f"b{i}", layer.b), "param")
        weights.append(W)
        weight_names.append(f"W{i}")
        field = ("layers", i - 1)
        formula = f"W{i}·{h_name} + b{i}" if not p.batch else f"{h_name}·W{i}ᵀ + b{i}"
        if p.layout == "in_out":        # W is in × out (CS231n): z = x·W + b
            formula = f"{h_name}·W{i} + b{i}"
        z = be.apply("affine_in_out" if p.layout == "in_out" else "affine", [W, h, b], f"z{i}", {},
                     formula, field + ("W",))
        out_name = f"f{i}" if layer.residual else f"h{i}" if i < n else "y"
        h = be.apply(layer.activation, [z], out_name, layer.attrs,
                     _act_formula(layer.activation, f"z{i}"), field + ("activation",))
        h, h_name = add_residual(be, p, i, h, out_name, named)
    if p.loss is None:
        return h
    loss_name = "L_data" if p.l2 else "L"
    formula = ops.fill_attrs(ops.get(p.loss.type).formula.format("y"), p.loss.attrs)
    if p.loss.type == "cross_entropy" and p.loss.label is None:     # soft targets
        formula = "−Σ t ⊙ log softmax(y)"
    over = {"mean": " (mean over the batch)" if p.batch else "",
            "sum": " (sum over the batch)" if p.batch else "",
            "mean_all": " (mean over all outputs)"}[p.loss.reduction]
    L = be.apply(p.loss.type, [h], loss_name, p.loss.attrs, formula + over, ("loss",))
    if not p.l2:
        return L
    names = " + ".join(f"‖{name}‖²" for name in weight_names)
    R = be.apply("l2", weights, "R", {"lam": p.l2}, f"λ·({names})", ("regularization", "l2"))
    return be.apply("add", [L, R], "L", {}, "L_data + R", ("regularization",))


def _typed_names(layer, i: int, n: int, T: int = 0) -> list[str]:
    """Names of a pooling, flatten or rnn layer (T: its time steps), in computation order."""
    out = f"h{i}" if i < n else "y"
    if layer.type != "rnn":
        return [out]
    names = [f"Wxh{i}", f"Whh{i}", f"b{i}"] + ([f"h0_{i}"] if layer.h0 is not None else [])
    if layer.return_ == "last":      # the last state goes on (y when it is the output)
        return names + [f"z{i}", f"h{i}", "y" if i == n else f"h{i}[{T}]"]
    return names + [f"z{i}", out]


def _act_formula(activation: str, z: str) -> str:
    label = {"linear": "{0}", "sigmoid": "σ({0})"}.get(activation, activation + "({0})")
    return label.format(z)


def _typed_layer(p: NetworkProblem, be: Backend, values: dict, i: int, layer, h, h_name: str,
                 weights: list, weight_names: list):
    """Conv, pooling, flatten and rnn layers; returns the output handle and its name."""
    n = len(p.layers)
    field = ("layers", i - 1)
    out_name = f"f{i}" if layer.residual else f"h{i}" if i < n else "y"   # f{i}: before + NAME
    kind = layer.type
    attrs = layer.op_attrs(p.batch)

    def param(name, value):
        return be.leaf(name, values.get(name, value), "param")

    if kind in ("conv2d", "conv1d"):
        W, b = param(f"W{i}", layer.W), param(f"b{i}", layer.b)
        weights.append(W)
        weight_names.append(f"W{i}")
        how = [f"stride {layer.stride}"] if layer.stride != 1 else []
        how += [f"padding {layer.padding}"] if layer.padding else []
        # ⋆ is cross-correlation (PyTorch's Conv); ∗ the flipped-kernel (mathematical) convolution
        formula = (f"W{i} {'∗' if layer.flip else '⋆'} {h_name} + b{i}"
                   + (f" ({', '.join(how)})" if how else ""))
        z = be.apply(kind, [W, h, b], f"z{i}", attrs, formula, field + ("W",))
        out = be.apply(layer.activation, [z], out_name, layer.attrs,
                       _act_formula(layer.activation, f"z{i}"), field + ("activation",))
        return out, out_name
    if kind in GATED_TYPES:
        T = time_steps(p, i)
        return gated_layer(p, be, values, i, layer, h, h_name, weights, weight_names, T,
                           lambda t: step_name(p, i, t, T))
    if kind == "flatten":
        return be.apply(kind, [h], out_name, attrs, f"flatten({h_name})", field), out_name
    if kind in NORM_TYPES:
        return norm_layer_graph(p, be, param, i, layer, h, h_name, out_name, field), out_name
    if kind != "rnn":
        nd = 2 if kind.endswith("2d") else 1
        window = "×".join([str(layer.size)] * nd)
        what = "max" if kind.startswith("max") else "mean"
        formula = f"{what} of each {window} window of {h_name} (stride {layer.stride})"
        return be.apply(kind, [h], out_name, attrs, formula, field), out_name
    # rnn: one node per time step, h{i}[t] = act(Wxh x_t + Whh h{i}[t−1] + b), unrolled in time
    Wxh, Whh = param(f"Wxh{i}", layer.Wxh), param(f"Whh{i}", layer.Whh)
    b = param(f"b{i}", layer.b)
    if layer.h0 is not None:
        h0, h0_name = param(f"h0_{i}", layer.h0), f"h0_{i}"
    else:
        h0, h0_name = be.leaf(f"h0_{i}", np.zeros(layer.Wxh.shape[0]), "const"), "0"
    weights += [Wxh, Whh]
    weight_names += [f"Wxh{i}", f"Whh{i}"]
    T = time_steps(p, i)
    states, prev, prev_name = [], h0, h0_name
    for t in range(T):
        name = step_name(p, i, t + 1, T)
        xt = f"{h_name}[{t + 1}]"
        pre = f"Wxh{i}·{xt} + Whh{i}·{prev_name} + b{i}"
        prev = be.apply("rnn_step", [Wxh, Whh, b, h, prev], name,
                        {"step": t + 1, **attrs}, _act_formula(layer.activation, pre), field)
        prev_name = name
        states.append(prev)
    # the T×H views: h{i} stacks the states; z{i} recomputes every z_t from them (a read-out
    # for the tables: the gradient flows through the steps, never through z{i})
    hs_name = f"h{i}" if (i < n or layer.return_ == "last") else "y"
    hs = be.apply("stack_steps", states, hs_name, {}, f"[{step_name(p, i, 1, T)}; …; {prev_name}]",
                  field)
    be.apply("rnn_pre", [Wxh, Whh, b, h, h0, hs], f"z{i}", {},
             f"z{i}[t] = Wxh{i}·{h_name}[t] + Whh{i}·h{i}[t−1] + b{i}", field)
    if layer.return_ == "all":
        return hs, hs_name
    return prev, prev_name


def time_steps(p: NetworkProblem, i: int) -> int:
    """T, the number of time steps reaching rnn layer i (its input is T×D)."""
    shape = p.x.shape[1:] if p.batch else p.x.shape
    if i > 1:
        shape = p.layers[i - 2].out_shape
    return shape[0]


def step_name(p: NetworkProblem, i: int, t: int, T: int) -> str:
    """The node of h_t (1-based t) of rnn layer i; the last state of a final layer is y."""
    layer = p.layers[i - 1]
    if t == T and layer.return_ == "last" and i == len(p.layers):
        return "y"
    return f"h{i}[{t}]"


def _expression(p: ExpressionProblem, be: Backend, values: dict) -> Any:
    from gradcalc.problem.exprparse import Call, Num, Var

    env: dict[str, Any] = {}
    for name, v in p.values.items():
        env[name] = be.leaf(name, np.asarray(values.get(name, v), dtype=float), "param")
    taken = set(p.values) | {name for name, _ in p.steps}
    counter = [0]

    def fresh() -> str:
        while True:
            counter[0] += 1
            name = f"t{counter[0]}"
            if name not in taken:
                taken.add(name)
                return name

    consts: dict[str, Any] = {}

    def const(text: str, value: float):
        if text not in consts:
            consts[text] = be.leaf(text, np.asarray(value, dtype=float), "const")
        return consts[text]

    shapes = {name: np.shape(v) for name, v in p.values.items()}

    def walk(node, name: str | None, field: tuple) -> tuple[Any, str]:
        """Returns (handle, the name shown for it in formulas)."""
        # recursion is safe: the parser bounds the nesting depth (≤ 200)
        if isinstance(node, Num):
            return const(node.text, node.value), node.text
        if isinstance(node, Var):
            if node.name in env:
                return env[node.name], node.name
            return const(node.name, CONSTANTS[node.name]), node.name
        assert isinstance(node, Call)
        children = [walk(arg, None, field) for arg in node.args]
        own = name or fresh()       # named after its inputs: t1, t2 … read bottom-up
        attrs = dict(node.attrs)      # sum(A, axis=0): {"axis": 0}
        ins = [shapes.get(c[1], ()) for c in children]
        from gradcalc.ops.exprarray import out_shape     # expressions only (start-up time)
        shapes[own] = out_shape(node.op, ins, attrs)
        template = ops.get(node.op).formula
        if node.op == "mul" and all(ins):      # two arrays: the elementwise product, not A·B
            template = "{0} ⊙ {1}"
        formula = ops.fill_attrs(template.format(*[c[1] for c in children]), attrs)
        handle = be.apply(node.op, [c[0] for c in children], own, attrs, formula, field)
        return handle, own

    out = None
    for step, node in p.steps:
        field = ("expression", step) if len(p.steps) > 1 or step != "f" else ("expression",)
        if not isinstance(node, Call):   # a step that is a bare name or number: identity
            inner, shown = walk(node, None, field)
            shapes[step] = shapes.get(shown, ())
            out = be.apply("linear", [inner], step, {}, shown, field)
        else:
            out, _ = walk(node, step, field)
        env[step] = out
    return out


def layer_output_name(problem: NetworkProblem, i: int) -> str:
    """The name of what layer i (1-based) hands to the next layer ("x" for i = 0)."""
    if i == 0:
        return "x"
    n = len(problem.layers)
    layer = problem.layers[i - 1]
    if layer.type in ("rnn", "lstm", "gru") and layer.return_ == "last":
        return "y" if i == n else f"h{i}[{time_steps(problem, i)}]"
    return "y" if i == n else f"h{i}"


def rnn_state_name(problem: NetworkProblem, i: int) -> str:
    """The name of the T×H hidden states of rnn layer i (h{i}, or y for a last `return: all`)."""
    layer = problem.layers[i - 1]
    return "y" if i == len(problem.layers) and layer.return_ == "all" else f"h{i}"
