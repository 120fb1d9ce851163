"""Reverse-mode autograd: nodes record their inputs, backward walks them in reverse order."""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gradcalc import ops
from gradcalc.errors import DomainError


class Node:
    """One value of the graph: a leaf (input, parameter, constant) or an operation's output."""

    __slots__ = ("name", "op", "inputs", "attrs", "value", "role", "formula", "field", "grad",
                 "saved", "routed")

    def __init__(self, name, op, inputs, attrs, value, role, formula="", field=()):
        self.name = name
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.value = value
        self.role = role
        self.formula = formula
        self.field = field
        self.grad = None
        self.saved = None       # what the op's forward_saving kept for its vjp_saved
        self.routed = False     # grad is one routing VJP's image of a gradient that is checked

    def __repr__(self) -> str:
        return f"Node({self.name}={self.value!r})"


@dataclass
class Step:
    """One backward step: upstream × local = downstream, per input."""

    node: str
    op: str
    value: np.ndarray
    upstream: np.ndarray
    local: dict[str, np.ndarray]
    downstream: Mapping[str, np.ndarray]
    formula: str = ""
    local_text: dict[str, str] = field(default_factory=dict)


COMPACT_MIN = 1000      # gradients of more entries than this are kept as their non-zero slices


class Downstream(Mapping):
    """A step's downstream gradients, read-only; a large one that is zero outside a few slices
    along one axis (an rnn step's T × D share of ∂L/∂x: only row t) is kept as those slices and
    rebuilt, bit for bit, each time it is read.  Kept dense, the T steps of an rnn held T²·D
    numbers (T = 5,000, D = 2: 400 MB)."""

    __slots__ = ("_data",)

    def __init__(self, values: dict):
        self._data = {name: _compact(g) for name, g in values.items()}

    def __getitem__(self, name):
        kept = self._data[name]
        if not isinstance(kept, tuple):
            return kept
        shape, axis, index, block = kept
        full = np.zeros(shape)
        where = [slice(None)] * len(shape)
        where[axis] = index
        full[tuple(where)] = block
        return full

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def kept(self, name):
        """(shape, axis, index, slices) when `name` is kept as slices, else None."""
        kept = self._data[name]
        return kept if isinstance(kept, tuple) else None

    def __repr__(self) -> str:
        return f"Downstream({dict(self.items())!r})"


def _compact(g: np.ndarray):
    """`g`, or (shape, axis, index, slices) when its non-zero slices hold at most a quarter."""
    if g.size <= COMPACT_MIN or g.ndim == 0 or g.dtype != np.float64:
        return g
    used = g.view(np.int64) != 0             # any bit set: −0.0 and NaN are kept (bit-identical)
    for axis in range(g.ndim):
        others = tuple(k for k in range(g.ndim) if k != axis)
        index = np.flatnonzero(used.any(axis=others) if others else used)
        if len(index) * 4 <= g.shape[axis]:
            return g.shape, axis, index, np.take(g, index, axis=axis)
    return g


class _ForwardPass:
    """Graph.forward_pass's context (a class: cheaper than a generator's)."""

    __slots__ = ("graph", "errstate")

    def __init__(self, graph):
        self.graph = graph
        self.errstate = np.errstate(all="ignore")

    def __enter__(self):
        self.graph._pending = []
        self.errstate.__enter__()
        return self.graph

    def __exit__(self, kind, exc, tb):
        graph = self.graph
        try:
            # also when a step failed (a domain check, a forward on inf): had every step been
            # checked as it was made, an earlier non-finite one would have been refused first
            graph._check_pending()
        finally:
            graph._pending = None
            self.errstate.__exit__(kind, exc, tb)
        return False


class Graph:
    """A backend for network.build that records nodes in creation (= topological) order."""

    def __init__(self, file: str | None = None, check_domain: bool = True, source=None):
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.file = file
        self.check_domain = check_domain
        self.source = source      # yamlio.Located of the problem file: gives domain errors a line
        self._pending = None      # inside forward_pass(): the op nodes whose values are unchecked

    def leaf(self, name, value, role):
        node = Node(name, None, [], {}, np.asarray(value, dtype=float), role, name)
        self.nodes.append(node)
        self.by_name.setdefault(name, node)
        return node

    def apply(self, op_name, inputs, name, attrs, formula, field):
        op = ops.get(op_name)
        xs = [n.value for n in inputs]
        pending = self._pending
        if self.check_domain and op.check is not None:
            problem = op.check(*xs)
            if problem:     # (in forward_pass, an earlier non-finite step is refused first)
                raise self._domain(name, field, f"{problem} (got {_short(xs)})")
        forward = op.forward_saving or op.forward   # (value, what its VJP reuses) or value
        if pending is None:             # outside forward_pass(): its own errstate and check
            with np.errstate(all="ignore"):
                value = forward(*xs, **attrs)
        else:                           # inside it: the pass holds errstate (see forward_pass)
            value = forward(*xs, **attrs)
        saved = None
        if type(value) is tuple:
            value, saved = value
        node = Node(name, op_name, list(inputs), attrs, np.asarray(value, dtype=float), "op",
                    formula, field)
        node.saved = saved
        # a routing op (Op.routes) of op outputs, each checked itself: finite when they are
        if self.check_domain and not (_routes(op, attrs) and inputs and _all_ops(inputs)):
            if pending is None:
                self._check_finite(node)
            else:
                pending.append(node)
        self.nodes.append(node)
        self.by_name[name] = node
        return node

    def _check_finite(self, node):
        value = node.value
        # a finite sum means every entry is finite (one reduction, no mask); else look closer
        if not np.isfinite(np.add.reduce(value, axis=None)) and not np.all(np.isfinite(value)):
            xs = [n.value for n in node.inputs]
            raise self._domain(node.name, node.field,
                               f"{ops.get(node.op).name} gives a non-finite value (got {_short(xs)})")

    def forward_pass(self) -> "_ForwardPass":
        """`with graph.forward_pass(): build(...)`: the build inside one errstate, checking the
        forward values once at the end (one BLAS dot per step, see _finite) with the outcome
        of checking after every step: the first non-finite step is refused, with the same
        message, and before any later error of the build."""
        return _ForwardPass(self)

    def _check_pending(self):
        pending, self._pending = self._pending, []
        if pending and not _finite([n.value for n in pending]):
            for node in pending:        # in creation order: the first non-finite step
                self._check_finite(node)

    def _domain(self, name, field, message):
        from gradcalc.problem.yamlio import field_name
        line = self.source.line(field) if self.source is not None and field else None
        return DomainError(f"step {name}: {message}", file=self.file,
                           field=field_name(field) or None, line=line)

    def backward(self, output: Node, record: bool = True) -> list[Step]:
        """Seed d output/d output = 1 and sweep the nodes in reverse creation order.

        Gradients are accumulated (+=), so a value used by several operations is right.
        Creation order is a topological order because a node is made after its inputs."""
        # one errstate for the sweep; the overflow check runs once at the end (below)
        with np.errstate(all="ignore"):
            steps = self._sweep(output, record, check=False)
            if self.check_domain and not self._all_finite():
                # a gradient is inf or NaN somewhere: sweep again checking after every
                # accumulation, so that an overflow is refused at the step that made it
                steps = self._sweep(output, record, check=True)
        return steps

    def _all_finite(self) -> bool:
        """Every gradient a non-constant node holds is finite (an entry that was ever inf stays
        inf or becomes NaN as more is added, so this sees every overflow of the sweep)."""
        # a sum of squares that overflows only costs the second sweep; a routed gradient is
        # finite when the gradient it was routed from is, and that one is checked here
        return _finite([node.grad for node in self.nodes
                        if node.grad is not None and node.role != "const" and not node.routed])

    def _sweep(self, output: Node, record: bool, check: bool) -> list[Step]:
        nodes = self.nodes
        for node in nodes:
            node.grad = None
            node.routed = False
        output.grad = np.ones(output.value.shape)       # (the value is float64: ones_like's)
        steps: list[Step] = []
        for node in reversed(nodes[: nodes.index(output) + 1]):   # (index: by identity)
            if node.op is None or node.grad is None:
                continue
            op = ops.get(node.op)
            xs = [n.value for n in node.inputs]
            if node.saved is not None:
                grads = op.vjp_saved(node.grad, node.value, node.saved, *xs, **node.attrs)
            else:
                grads = op.vjp(node.grad, node.value, *xs, **node.attrs)
            if len(grads) != len(xs):
                raise RuntimeError(f"the VJP of '{op.name}' returned {len(grads)} gradients "
                                   f"for {len(xs)} inputs")
            routes = _routes(op, node.attrs)
            i = 0
            for inp, g in zip(node.inputs, grads):
                if type(g) is not np.ndarray or g.dtype != np.float64:
                    g = np.asarray(g, dtype=float)
                if g.shape != inp.value.shape:
                    g = g.reshape(inp.value.shape)
                if inp.grad is not None:
                    inp.grad = inp.grad + g
                    inp.routed = False          # a sum may overflow: checked
                else:
                    # kept without a copy when the VJP made it for this input alone
                    inp.grad = g if g.base is None and _own(g, node, xs, grads, i) else g.copy()
                    inp.routed = routes
                i += 1
                # an overflowing gradient is refused as an overflowing forward value is (NaN is
                # left: an undefined derivative, such as ∂(a^b)/∂b for a < 0, is reported)
                if check and inp.role != "const" and np.isinf(inp.grad).any():
                    raise self._domain(node.name, node.field,
                                       f"the gradient of {op.name} with respect to {inp.name} "
                                       f"overflows float64 (got {_short(xs)})")
            if record:
                steps.append(self._step(node, op, xs, grads))
        return steps

    def _step(self, node, op, xs, grads) -> Step:
        with np.errstate(all="ignore"):
            local = op.local_values(node.value, *xs, **node.attrs)
        local_d: dict[str, np.ndarray] = {}
        down: dict[str, np.ndarray] = {}
        texts: dict[str, str] = {}
        names = [n.name for n in node.inputs]
        for i, (inp, g) in enumerate(zip(node.inputs, grads)):
            if inp.role == "const":
                continue
            g = np.asarray(g, dtype=float).reshape(inp.value.shape)
            down[inp.name] = down[inp.name] + g if inp.name in down else g
            local_d.setdefault(inp.name, np.asarray(local[i], dtype=float))
            tmpl = op.local_text[i] if i < len(op.local_text) else op.local_text[-1]
            tmpl = tmpl(xs) if callable(tmpl) else tmpl
            texts.setdefault(inp.name, ops.fill_attrs(tmpl.replace("{i}", inp.name).format(*names),
                                                      node.attrs))
        return Step(node.name, op.name, node.value, node.grad.copy(), local_d, Downstream(down),
                    node.formula, texts)

    def gradients(self) -> dict[str, np.ndarray]:
        """d output / d name for every named node that was reached (zeros otherwise)."""
        out = {}
        for node in self.nodes:
            if node.role == "const":
                continue
            g = node.grad if node.grad is not None else np.zeros_like(node.value)
            out[node.name] = g
        return out


def _routes(op, attrs) -> bool:
    routes = op.routes
    return routes is True or (routes is not False and routes(**attrs))


def _all_ops(inputs) -> bool:
    for n in inputs:
        if n.op is None:        # a leaf: its value is not checked
            return False
    return True


def _own(g, node, xs, grads, i) -> bool:
    """`g` (the i-th gradient a VJP returned) is a new array no one else holds: it owns its data
    and is not the upstream gradient, the node's value, an input value or another gradient of
    the same call.  A graph never changes a gradient in place (it accumulates with a + b), so
    such an array can be kept without a copy; anything else (g itself, a view, a reshape) is
    copied, so that no two nodes share one gradient array."""
    if g.base is not None or g is node.grad or g is node.value:
        return False
    for x in xs:
        if g is x:
            return False
    for j, other in enumerate(grads):
        if j != i and g is other:
            return False
    return True


_dot = np.dot


def _finite(arrays) -> bool:
    """True when every entry of every float array is finite: one BLAS dot per array (the sum of
    squares is inf or NaN when an entry is).  False also when the sum overflows (entries beyond
    about 1e154): a false alarm that the caller settles entry by entry."""
    total = 0.0
    for a in arrays:
        r = a.reshape(-1)
        total += _dot(r, r)
    return math.isfinite(total)


def _short(xs) -> str:
    parts = []
    for x in xs:
        a = np.asarray(x)
        # one line (an error message is one line), large arrays summarised
        parts.append(f"{float(a):.6g}" if a.ndim == 0 else np.array2string(
            a, precision=4, max_line_width=sys.maxsize, threshold=12, edgeitems=3
        ).replace("\n", ""))
    return ", ".join(parts)


def run(problem, values: dict | None = None, record: bool = True) -> tuple[Graph, Node, list[Step]]:
    """Build the graph of `problem`, run backward; returns (graph, output node, steps)."""
    from gradcalc.graph.network import build
    graph = Graph(problem.file, source=getattr(problem, "source", None))
    with graph.forward_pass():
        out = build(problem, graph, values)
    steps = graph.backward(out, record=record)
    return graph, out, steps
