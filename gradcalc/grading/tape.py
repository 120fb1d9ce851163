"""The problem's autograd graph as flat arrays, re-evaluated with substituted values or a mistake variant."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gradcalc import ops

if TYPE_CHECKING:
    from gradcalc.grading.mistakes import MistakeVariant


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

    def run(self, fsub: dict, gsub: dict, variant: MistakeVariant | None = None):
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
