"""The computational graph of a Solution as drawable data: nodes, wires and labels (GraphModel, from_solution)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.i18n import pick

LINE = 1.3              # line height of a label as a multiple of the font size
FULL_SIZE = 8           # vectors/matrices with at most this many entries are shown in full

WORDS = {
    "en": {"value": "forward value (above each wire)", "grad": "gradient of {out} (below each wire)",
           "shape": "{shape}, ‖·‖ = {norm}"},
    "zh": {"value": "前向计算值（线上方）", "grad": "{out} 的梯度（线下方）",
           "shape": "{shape}，‖·‖ = {norm}"},
}


@dataclass
class Label:
    """Text to draw: one or more lines, top-left corner (x, y) with y growing downward."""

    lines: list[str]
    size: float
    role: str                      # value | grad | gate | name | attr | leaf | output | title | legend
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    owner: str = ""                # node id or edge index, for tests and the .dot writer
    weight: str = "normal"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


@dataclass
class GNode:
    id: str
    kind: str                      # input | op | output | dummy | ref (a far use's copy)
    name: str                      # the quantity this node produces (x, W1, z1, t3, L …)
    label: str                     # what is written in the box: op symbol, or the name
    op: str | None = None
    value: np.ndarray | None = None
    grad: np.ndarray | None = None  # total gradient of the output with respect to `name`
    attrs: str = ""
    layer: int = 0
    order: float = 0.0
    x: float = 0.0                 # box centre
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    band: float = 0.0              # vertical room the node and its input wires' labels need
    labels: list[Label] = field(default_factory=list)


@dataclass
class GEdge:
    src: str
    dst: str
    name: str                      # the quantity carried by the wire
    value: np.ndarray
    grad: np.ndarray               # this wire's share of the gradient (upstream × local)
    count: int = 1                 # the same value used several times by one operation
    chain: list[str] = field(default_factory=list)   # dummy nodes of a long edge
    points: list[tuple[float, float]] = field(default_factory=list)
    value_label: Label | None = None
    grad_label: Label | None = None
    port: int = 0
    port_y: float = 0.0


@dataclass
class GraphModel:
    title: str
    output: str
    nodes: list[GNode]
    edges: list[GEdge]
    lang: str = "en"
    precision: int = 4
    width: float = 0.0
    height: float = 0.0
    header: list[Label] = field(default_factory=list)

    def node(self, node_id: str) -> GNode:
        return self._index[node_id]

    def __post_init__(self):
        self._index = {n.id: n for n in self.nodes}

    def labels(self) -> list[Label]:
        """Every text of the picture (header, node texts, wire labels)."""
        out = list(self.header)
        for n in self.nodes:
            out += n.labels
        for e in self.edges:
            out += [lab for lab in (e.value_label, e.grad_label) if lab is not None]
        return out


# ---------------------------------------------------------------- text of values
def value_lines(v, precision: int = 4, lang: str = "en") -> list[str]:
    """Small scalars, vectors and matrices in full (a matrix one row per line), large ones by shape."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return [fmt.num(a, precision)]
    if a.size <= FULL_SIZE and a.ndim <= 2:
        return fmt.value(a, precision, multiline=True).split("\n")
    shape = "×".join(str(n) for n in a.shape)
    with np.errstate(over="ignore"):    # a norm above 1e308 is shown as inf
        norm = fmt.num(float(np.linalg.norm(a)), 3)
    return [pick(WORDS, lang)["shape"].format(shape=shape, norm=norm)]


# ---------------------------------------------------------------- graph from a solution
_COMMUTATIVE_SYMBOL = {"add": "+", "mul": "×"}


def gate_label(op_name: str, inputs: list) -> str:
    """The text of a gate, with constant inputs folded in as the lecture draws them (+1, ×2, 1/•)."""
    from gradcalc import ops
    op = ops.get(op_name)
    consts = [n for n in inputs if n.role == "const"]
    if op_name == "neg":
        return "×(−1)"       # the lecture's "*-1" gate
    if not consts:
        return op.label
    if len(inputs) == 2 and len(consts) == 1 and op_name in _COMMUTATIVE_SYMBOL:
        return _COMMUTATIVE_SYMBOL[op_name] + consts[0].name
    if op_name == "sub" and len(consts) == 1 and inputs[1].role == "const":
        return "−" + inputs[1].name
    if op_name == "div" and len(consts) == 1 and inputs[1].role == "const":
        return "÷" + inputs[1].name
    try:
        return op.formula.format(*[n.name if n.role == "const" else "•" for n in inputs])
    except (IndexError, KeyError):
        return op.label


def _attrs_text(attrs: dict, precision: int) -> str:
    parts = []
    for key, v in attrs.items():
        a = np.asarray(v)
        if a.size > 4 or a.dtype.kind not in "iuf":
            continue
        parts.append(f"{key} = {fmt.value(a, precision) if a.dtype.kind == 'f' else a.tolist()}")
    return ", ".join(parts)


def from_solution(sol, lang: str = "en", precision: int = 4) -> GraphModel:
    """The graph of `sol.problem`: one node per input and per operation, one wire per use.

    The structure is that of the autograd graph (rebuilt from the problem, which is cheap);
    a wire's gradient is the consumer's downstream gradient for it — upstream × local —
    so wires leaving a value used twice each show their own share and the shares add up."""
    from gradcalc.derive import autograd
    graph, out, steps = autograd.run(sol.problem)
    order = [n for n in reversed(graph.nodes) if n.op is not None and n.grad is not None]
    step_of = {id(n): s for n, s in zip(order, steps)}

    def zeros(v):
        return np.zeros_like(np.asarray(v, dtype=float))

    nodes: list[GNode] = []
    ids: dict[int, str] = {}
    for i, n in enumerate(graph.nodes):
        if n.role == "const":
            continue
        nid = f"n{i}"
        ids[id(n)] = nid
        grad = n.grad if n.grad is not None else zeros(n.value)
        if n.op is None:
            nodes.append(GNode(nid, "input", n.name, n.name, None, n.value, grad))
        else:
            nodes.append(GNode(nid, "op", n.name, gate_label(n.op, n.inputs), n.op, n.value, grad,
                               attrs=_attrs_text(n.attrs, precision)))
    edges: list[GEdge] = []
    seen: dict[tuple[str, str], GEdge] = {}
    for n in graph.nodes:
        if n.op is None:
            continue
        step = step_of.get(id(n))
        for inp in n.inputs:
            if inp.role == "const":
                continue
            key = (ids[id(inp)], ids[id(n)])
            if key in seen:          # x·x: one wire, its gradient already sums both uses
                seen[key].count += 1
                continue
            share = step.downstream.get(inp.name) if step is not None else None
            edge = GEdge(key[0], key[1], inp.name, inp.value,
                         share if share is not None else zeros(inp.value))
            seen[key] = edge
            edges.append(edge)
    sink = GNode("out", "output", out.name, out.name, None, out.value, out.grad)
    nodes.append(sink)
    edges.append(GEdge(ids[id(out)], "out", out.name, out.value, np.ones_like(out.value)))
    model = GraphModel(sol.title, out.name, nodes, edges, lang, precision)
    return model
