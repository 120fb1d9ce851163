"""The layered layout of a GraphModel: layers, ordering, vertical placement, wire routes and label positions."""
from __future__ import annotations

from typing import Callable

from gradcalc.render.graphmodel import (LINE, WORDS, GEdge, GNode, GraphModel, Label, from_solution,
                                        value_lines)
from gradcalc.render.i18n import pick

# Sizes in points (1/72 inch); the renderer draws at exactly these coordinates.
SIZE_GATE, SIZE_NAME, SIZE_ATTR, SIZE_WIRE, SIZE_LEAF = 13.0, 8.5, 8.0, 9.0, 12.0
SIZE_TITLE, SIZE_LEGEND = 12.0, 9.0
BOLD_SIZES = frozenset((SIZE_GATE, SIZE_LEAF, SIZE_TITLE))   # the sizes of the bold texts
PAD_X, PAD_Y = 8.0, 5.0  # padding inside a node box
GAP_COL = 34.0          # free band between columns where the connectors bend (no labels there)
CONVERGE = 14.0         # wires converge from their label band into the node box over this width
GAP_NODE = 14.0         # vertical gap between the bands of two nodes of one column
WIRE_PAD = 4.0          # gap between a wire and the text above/below it
MARGIN = 12.0
MAX_SPAN = 6            # a wire crosses at most this many columns; a longer one starts at a reference box

Measure = Callable[[str, float], float]   # (text, font size) -> width in points


def approx_width(text: str, size: float) -> float:
    """A font-free estimate (used when no renderer measures text): wide glyphs count double."""
    return sum(1.0 if ord(ch) > 0x2E80 else 0.62 for ch in text) * size


# ---------------------------------------------------------------- layered layout
def _layers(model: GraphModel) -> None:
    """Longest-path layering, then inputs are pulled right next to their first consumer."""
    preds: dict[str, list[str]] = {n.id: [] for n in model.nodes}
    succs: dict[str, list[str]] = {n.id: [] for n in model.nodes}
    for e in model.edges:
        preds[e.dst].append(e.src)
        succs[e.src].append(e.dst)
    # model.nodes is in creation order, a topological order (the sink is last)
    for n in model.nodes:
        n.layer = 1 + max((model.node(p).layer for p in preds[n.id]), default=-1)
    for n in model.nodes:
        if n.kind == "input" and succs[n.id]:
            n.layer = min(model.node(s).layer for s in succs[n.id]) - 1
    low = min(n.layer for n in model.nodes)
    for n in model.nodes:
        n.layer -= low


def _cut_long_edges(model: GraphModel) -> None:
    """A wire that would cross more than MAX_SPAN columns starts instead at a reference box (the
    quantity's name, drawn dashed) one column before its consumer, as the lecture redraws a
    weight next to each use.  This keeps the picture legible and its size linear: a weight
    used by every step of a long chain would otherwise need one bend point per column crossed
    per use, quadratic in the length."""
    for k, e in enumerate(model.edges):
        a, b = model.node(e.src), model.node(e.dst)
        if b.layer - a.layer <= MAX_SPAN:
            continue
        ref = GNode(f"r{k}", "ref", a.name, a.name, None, a.value, a.grad, layer=b.layer - 1)
        model.nodes.append(ref)
        model._index[ref.id] = ref
        e.src = ref.id


def _split_long_edges(model: GraphModel) -> None:
    """A wire spanning several layers passes through one dummy node per layer crossed."""
    for k, e in enumerate(model.edges):
        a, b = model.node(e.src), model.node(e.dst)
        for layer in range(a.layer + 1, b.layer):
            d = GNode(f"d{k}_{layer}", "dummy", e.name, "", layer=layer)
            model.nodes.append(d)
            model._index[d.id] = d
            e.chain.append(d.id)


def _segments(model: GraphModel) -> list[tuple[str, str]]:
    segs = []
    for e in model.edges:
        path = [e.src] + e.chain + [e.dst]
        segs += list(zip(path, path[1:]))
    return segs


def _crossings(by_layer: list[list[GNode]], segs) -> int:
    """Pairs of segments that cross: (s1 − s2)(t1 − t2) < 0 in the orders of their columns.

    Every segment joins two adjacent columns, so the pairs are counted per column as the
    inversions of the targets' positions once the segments are sorted by (source, target)
    position — O(S log S) with a Fenwick tree instead of comparing all S² pairs."""
    pos = {n.id: i for layer in by_layer for i, n in enumerate(layer)}
    layer_of = {n.id: k for k, layer in enumerate(by_layer) for n in layer}
    groups: dict[int, list[tuple[int, int]]] = {}
    for s, t in segs:
        groups.setdefault(layer_of[s], []).append((pos[s], pos[t]))
    count = 0
    for pairs in groups.values():
        pairs.sort()
        size = max(t for _, t in pairs) + 2
        tree = [0] * (size + 1)
        seen = 0
        for _, t in pairs:
            # earlier segments (smaller source, or same source) with a larger target cross it
            # (a shared source never counts: same source sorts by target, so no inversion)
            i, not_above = t + 1, 0
            while i > 0:
                not_above += tree[i]
                i -= i & -i
            count += seen - not_above
            i = t + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
            seen += 1
    return count


def _order(model: GraphModel) -> list[list[GNode]]:
    """Barycentric ordering: sweep down and up a few times, keep the order with fewest crossings."""
    nlayers = 1 + max(n.layer for n in model.nodes)
    by_layer: list[list[GNode]] = [[] for _ in range(nlayers)]
    for n in model.nodes:
        by_layer[n.layer].append(n)
    segs = _segments(model)
    preds: dict[str, list[str]] = {n.id: [] for n in model.nodes}
    succs: dict[str, list[str]] = {n.id: [] for n in model.nodes}
    for s, t in segs:
        preds[t].append(s)
        succs[s].append(t)

    pos = {n.id: i for lay in by_layer for i, n in enumerate(lay)}

    def sweep(layers, neighbours):
        for layer in layers:
            nodes = by_layer[layer]
            keys = []
            for i, n in enumerate(nodes):
                nb = neighbours[n.id]
                keys.append((sum(pos[m] for m in nb) / len(nb)) if nb else float(i))
            by_layer[layer] = [n for _, _, n in sorted(zip(keys, range(len(nodes)), nodes),
                                                       key=lambda t: (t[0], t[1]))]
            pos.update((n.id, i) for i, n in enumerate(by_layer[layer]))

    best = [list(lay) for lay in by_layer]
    best_c = _crossings(by_layer, segs)
    for _ in range(6):
        sweep(range(1, nlayers), preds)
        sweep(range(nlayers - 2, -1, -1), succs)
        c = _crossings(by_layer, segs)
        if c < best_c:
            best, best_c = [list(lay) for lay in by_layer], c
    for layer in best:
        for i, n in enumerate(layer):
            n.order = i
    return best


def _place(desired: list[float], seps: list[float]) -> list[float]:
    """Positions closest (least squares) to `desired`, in order, with p[i+1] − p[i] ≥ seps[i].

    Substituting q_i = p_i − offset_i turns it into isotonic regression, solved by
    pooling adjacent violators."""
    offsets = [0.0]
    for s in seps:
        offsets.append(offsets[-1] + s)
    target = [d - o for d, o in zip(desired, offsets)]
    blocks: list[list[float]] = []       # [mean, count]
    for t in target:
        blocks.append([t, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    q = []
    for m, c in blocks:
        q += [m] * int(c)
    return [a + o for a, o in zip(q, offsets)]


def layout(model: GraphModel, measure: Measure | None = None) -> GraphModel:
    """Layer, order and place every node, route the wires and place every label (in points)."""
    measure = measure or approx_width
    lang, prec = model.lang, model.precision

    def text_box(lines, size):
        return max(measure(t, size) for t in lines), len(lines) * size * LINE

    _layers(model)
    _cut_long_edges(model)
    _split_long_edges(model)
    by_layer = _order(model)

    # -- node boxes and their texts (positions relative to the box, fixed later)
    for n in model.nodes:
        if n.kind == "dummy":
            n.w, n.h = 0.0, 4.0
            continue
        if n.kind == "op":
            parts = [(n.label, SIZE_GATE, "gate", "bold"), (n.name, SIZE_NAME, "name", "normal")]
            if n.attrs:
                parts.append((n.attrs, SIZE_ATTR, "attr", "normal"))
        else:
            parts = [(n.name, SIZE_LEAF, "output" if n.kind == "output" else "leaf", "bold")]
        n.labels = []
        for text, size, role, weight in parts:
            w, h = text_box([text], size)
            n.labels.append(Label([text], size, role, w=w, h=h, owner=n.id, weight=weight))
        n.w = max(28.0, max(lab.w for lab in n.labels) + 2 * PAD_X)
        n.h = max(24.0, sum(lab.h for lab in n.labels) + 2 * PAD_Y)

    # -- wire labels and input ports
    incoming: dict[str, list[GEdge]] = {n.id: [] for n in model.nodes}
    for e in model.edges:
        e.value_label = Label(value_lines(e.value, prec, lang), SIZE_WIRE, "value", owner=e.name)
        e.grad_label = Label(value_lines(e.grad, prec, lang), SIZE_WIRE, "grad", owner=e.name)
        for lab in (e.value_label, e.grad_label):
            lab.w, lab.h = text_box(lab.lines, lab.size)
        incoming[e.dst].append(e)
    pitch: dict[str, float] = {}
    for n in model.nodes:
        ins = incoming[n.id]
        if n.kind == "dummy" or not ins:
            n.band = n.h
            continue
        pitch[n.id] = (max(e.value_label.h for e in ins) + max(e.grad_label.h for e in ins)
                       + 2 * WIRE_PAD + 6.0)
        n.band = max(n.h, len(ins) * pitch[n.id])

    # -- columns: [connector gap][label band][converge][node boxes]
    label_w = [0.0] * len(by_layer)
    node_w = [0.0] * len(by_layer)
    for k, layer in enumerate(by_layer):
        for n in layer:
            node_w[k] = max(node_w[k], n.w)
            for e in incoming[n.id]:
                label_w[k] = max(label_w[k], e.value_label.w + 8, e.grad_label.w + 8)
    col_start, box_left, col_end = [], [], []
    x = MARGIN
    for k in range(len(by_layer)):
        if k > 0:
            x += GAP_COL
        col_start.append(x)
        if label_w[k] > 0:
            x += max(label_w[k], 36.0) + CONVERGE
        box_left.append(x)
        x += node_w[k]
        col_end.append(x)

    # -- vertical placement: barycentres of neighbours, order kept, bands never overlap
    seg_pred: dict[str, list[tuple[str, GEdge]]] = {n.id: [] for n in model.nodes}
    seg_succ: dict[str, list[tuple[str, GEdge]]] = {n.id: [] for n in model.nodes}
    for e in model.edges:
        path = [e.src] + e.chain + [e.dst]
        for s, t in zip(path, path[1:]):
            seg_pred[t].append((s, e))
            seg_succ[s].append((t, e))

    def port_offsets(n: GNode) -> dict[int, float]:
        ins = incoming[n.id]
        if not ins or n.kind == "dummy":
            return {}
        p = pitch[n.id]
        top = -len(ins) * p / 2
        return {id(e): top + (e.port + 0.5) * p for e in ins}

    pos = {n.id: float(i) for layer in by_layer for i, n in enumerate(layer)}
    for n in model.nodes:       # ports top to bottom in the order of their sources
        ins = sorted(incoming[n.id], key=lambda e: pos[([e.src] + e.chain)[-1]])
        for i, e in enumerate(ins):
            e.port = i
    offs = {n.id: port_offsets(n) for n in model.nodes}

    def seps(layer):
        return [(a.band + b.band) / 2 + GAP_NODE for a, b in zip(layer, layer[1:])]

    for layer in by_layer:
        y = 0.0
        for i, n in enumerate(layer):
            if i:
                y += (layer[i - 1].band + n.band) / 2 + GAP_NODE
            n.y = y

    def arrive(n: GNode, e: GEdge) -> float:
        return offs[n.id].get(id(e), 0.0)

    for it in range(8):
        forward = it % 2 == 0
        layers = by_layer if forward else list(reversed(by_layer))
        for layer in layers:
            desired = []
            for n in layer:
                if forward:
                    nb = [model.node(s).y - arrive(n, e) for s, e in seg_pred[n.id]]
                else:
                    nb = [model.node(t).y + arrive(model.node(t), e) for t, e in seg_succ[n.id]]
                desired.append(sum(nb) / len(nb) if nb else n.y)
            for n, y in zip(layer, _place(desired, seps(layer))):
                n.y = y

    # -- header (title and legend) above the graph
    words = pick(WORDS, lang)
    header = [Label([model.title], SIZE_TITLE, "title", weight="bold"),
              Label([words["value"]], SIZE_LEGEND, "legend_value"),
              Label([words["grad"].format(out=model.output)], SIZE_LEGEND, "legend_grad")]
    for lab in header:
        lab.w, lab.h = text_box(lab.lines, lab.size)
    header[0].x, header[0].y = MARGIN, MARGIN
    header[1].x, header[1].y = MARGIN + 22, header[0].y + header[0].h + 4
    header[2].x = header[1].x + header[1].w + 40
    header[2].y = header[1].y
    head_h = header[1].y + header[1].h + 14

    top = min(n.y - n.band / 2 for n in model.nodes)
    shift = head_h - top
    for n in model.nodes:
        n.y += shift
    bottom = max(n.y + n.band / 2 for n in model.nodes)

    # -- final coordinates: boxes, node texts, wires, wire labels
    for k, layer in enumerate(by_layer):
        for n in layer:
            if n.kind == "dummy":
                n.x = (col_start[k] + col_end[k]) / 2
                continue
            n.x = box_left[k] + n.w / 2
            y = n.y - sum(lab.h for lab in n.labels) / 2
            for lab in n.labels:
                lab.x, lab.y = n.x - lab.w / 2, y
                y += lab.h
    for e in model.edges:
        src, dst = model.node(e.src), model.node(e.dst)
        pts = [(src.x + src.w / 2, src.y), (col_end[src.layer], src.y)]
        for d_id in e.chain:
            d = model.node(d_id)
            pts += [(col_start[d.layer], d.y), (col_end[d.layer], d.y)]
        e.port_y = dst.y + arrive(dst, e)
        k = dst.layer
        # the wire enters the box at a point spread over the box's height
        n_in = len(incoming[dst.id])
        inner = dst.h * 0.7
        box_y = dst.y + (0.0 if n_in == 1 else -inner / 2 + inner * e.port / (n_in - 1))
        stub_end = box_left[k] - CONVERGE
        pts += [(col_start[k], e.port_y), (stub_end, e.port_y), (dst.x - dst.w / 2, box_y)]
        e.points = pts
        mid = (col_start[k] + stub_end) / 2
        v, g = e.value_label, e.grad_label
        v.x, v.y = mid - v.w / 2, e.port_y - WIRE_PAD - v.h
        g.x, g.y = mid - g.w / 2, e.port_y + WIRE_PAD
    model.header = header
    model.width = max(col_end[-1], header[2].x + header[2].w, header[0].x + header[0].w) + MARGIN
    model.height = bottom + MARGIN
    return model


def build(sol, lang: str = "en", precision: int = 4, measure: Measure | None = None) -> GraphModel:
    """The laid-out graph of a solution."""
    return layout(from_solution(sol, lang, precision), measure)


def overlaps(labels: list[Label], pad: float = 0.0) -> list[tuple[Label, Label]]:
    """Pairs of labels whose boxes intersect (used by tests; empty on a good layout)."""
    out = []
    for i in range(len(labels)):
        a = labels[i].box()
        for j in range(i + 1, len(labels)):
            b = labels[j].box()
            if a[0] < b[2] - pad and b[0] < a[2] - pad and a[1] < b[3] - pad and b[1] < a[3] - pad:
                out.append((labels[i], labels[j]))
    return out
