"""Problem files (YAML) -> validated, frozen problem objects; the format is a public contract."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gradcalc import ops
from gradcalc.problem.context import ValidationContext, freeze, unknown_message, value_kind
from gradcalc.problem.layers import (dims_text, first_layer_type, layer_activation, layer_type,
                                     refuse_typed_keys, source_text, typed_layer)
from gradcalc.problem.normlayers import apply_residuals, check_ids
from gradcalc.problem.model import (LAYER_KEYS, LOSS_KEYS, TOP_KEYS_EXPRESSION, TOP_KEYS_NETWORK,
                                    TOP_KEYS_OTHER, TYPE_KEYS, Layer, Loss, NetworkProblem, Problem)

# what one example is when the first layer has this type: allowed numbers of axes, and words
_INPUT_KINDS = {"conv2d": ((2, 3), "an image (H×W or C×H×W)"),
                "conv1d": ((1, 2), "a signal (L or C×L)"),
                "rnn": ((2,), "a sequence (T×D, rows are time steps)"),
                "flatten": ((1, 2, 3), "an array"),
                "embedding": ((1,), "a sequence of integer ids (0-based rows of W)"),
                "batchnorm": ((1, 2, 3), "a vector, or C×L / C×H×W"),
                "layernorm": ((1, 2), "a vector (or T×D: each row normalized)"),
                "dropout": ((1, 2, 3), "an array")}
for _t in ("lstm", "gru", "attention"):
    _INPUT_KINDS[_t] = _INPUT_KINDS["rnn"]
for _t in ("maxpool2d", "avgpool2d"):
    _INPUT_KINDS[_t] = _INPUT_KINDS["conv2d"]
for _t in ("maxpool1d", "avgpool1d"):
    _INPUT_KINDS[_t] = _INPUT_KINDS["conv1d"]


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file."""
    from gradcalc.problem.yamlio import load_yaml_file
    return problem_from_located(load_yaml_file(path))


def parse_problem(text: str | bytes, file: str = "<string>") -> Problem:
    """Validate a problem given as YAML text."""
    from gradcalc.problem.yamlio import load_yaml_text
    return problem_from_located(load_yaml_text(text, file))


def problem_from_located(loc) -> Problem:
    ctx = ValidationContext(loc)
    doc = loc.data
    if not isinstance(doc, dict):
        raise ctx.error((), f"expected a mapping of sections at the top, got {value_kind(doc)}")
    title = doc.get("title", Path(loc.file).stem if loc.file else "problem")
    if not isinstance(title, (str, int, float)):
        raise ctx.error(("title",), "expected a text title")
    if "expression" in doc:
        ctx.keys(doc, (), TOP_KEYS_EXPRESSION + TOP_KEYS_OTHER, "an expression problem")
        from gradcalc.problem.expression import expression_problem   # (start-up time)
        return expression_problem(ctx, doc, str(title))
    if "layers" in doc:
        ctx.keys(doc, (), TOP_KEYS_NETWORK + TOP_KEYS_OTHER, "a network problem")
        return _network_problem(ctx, doc, str(title))
    ctx.keys(doc, (), TOP_KEYS_NETWORK + TOP_KEYS_EXPRESSION + TOP_KEYS_OTHER, "a problem")
    raise ctx.error((), "a problem needs either 'layers' (a network) or 'expression' (a scalar graph)")


# ---------------------------------------------------------------- network problems
def _network_problem(ctx: ValidationContext, doc: dict, title: str) -> NetworkProblem:
    if _needs_materialize(doc):
        # data files, generated data sets and `width`/`init` layers become explicit arrays first
        from gradcalc.problem.datasets import materialize
        doc = materialize(ctx, doc)
    has_input, has_data = "input" in doc, "data" in doc
    if has_input == has_data:
        raise ctx.error((), "a network problem needs exactly one of 'input' (one example) or "
                            "'data' (a batch)")
    targets = labels = None
    first = first_layer_type(ctx, doc.get("layers"))
    if has_input:
        if first in _INPUT_KINDS:
            dims, what = _INPUT_KINDS[first]
            x = ctx.array(doc["input"], ("input",), dims, f"the input x: {what}")
        else:
            x = ctx.array(doc["input"], ("input",), 1, "the input x")
    else:
        data = ctx.keys(doc["data"], ("data",), ("X", "targets", "labels"), "data")
        if "X" not in data:
            raise ctx.error(("data",), "data needs 'X' (rows are examples)")
        if first in _INPUT_KINDS:
            dims, what = _INPUT_KINDS[first]
            x = ctx.array(data["X"], ("data", "X"), tuple(d + 1 for d in dims),
                          f"the batch X: a list of examples, each {what}")
        else:
            x = ctx.array(data["X"], ("data", "X"), 2, "the batch X")
        if "targets" in data and "labels" in data:
            raise ctx.error(("data",), "give either 'targets' or 'labels', not both")
        if "targets" in data:
            targets = ctx.array(data["targets"], ("data", "targets"), (1, 2), "the targets")
            if targets.ndim == 1:
                targets = freeze(targets.reshape(-1, 1).copy())
            if targets.shape[0] != x.shape[0]:
                raise ctx.error(("data", "targets"), f"expected {x.shape[0]} rows to match the "
                                                     f"{x.shape[0]} examples of X, got {targets.shape[0]}")
        if "labels" in data:
            labels = _labels(ctx, data["labels"], ("data", "labels"), x.shape[0])

    layout = doc.get("layout", "out_in")
    if layout not in ("out_in", "in_out"):
        raise ctx.error(("layout",), f"expected out_in (W is out × in, z = W·x + b: the lecture) "
                                     f"or in_out (W is in × out, z = x·W + b), got "
                                     f"{layout if isinstance(layout, str) else value_kind(layout)}")
    in_out = layout == "in_out"
    layers_raw = doc["layers"]
    if not isinstance(layers_raw, list) or not layers_raw:
        raise ctx.error(("layers",), "expected a non-empty list of layers")
    layers = []
    width = x.shape[-1]
    shape = x.shape[1:] if has_data else x.shape     # one example's shape, layer by layer
    for i, raw in enumerate(layers_raw):
        path = ("layers", i)
        ltype = layer_type(ctx, raw, path)
        if ltype != "dense":
            layer = typed_layer(ctx, raw, path, i, ltype, shape, x.shape[0] if has_data else None)
            if ltype == "embedding":
                check_ids(ctx, x, ("data", "X") if has_data else ("input",), layer.W.shape[0])
            layers.append(layer)
            shape = layer.out_shape
            width = shape[-1] if shape else 1
            continue
        if len(shape) != 1:
            raise ctx.error(path, f"a dense layer needs a vector input, but the "
                                  f"{source_text(i)} have shape {dims_text(shape)}; add a flatten layer "
                                  f"before it")
        if isinstance(raw, dict) and "type" not in raw:
            refuse_typed_keys(ctx, raw, path)
        raw = ctx.keys(raw, path, TYPE_KEYS["dense"] if isinstance(raw, dict) and "type" in raw
                       else LAYER_KEYS, f"layer {i}")
        if "W" not in raw:
            raise ctx.error(path, "a layer needs a weight matrix 'W' (shape out × in)")
        # layout: in_out (CS231n): W is in × out and z = x·W + b; the default is out × in
        W = ctx.array(raw["W"], path + ("W",), 2, "W (in × out)" if in_out else "W (out × in)")
        n_in, n_out = (W.shape[0], W.shape[1]) if in_out else (W.shape[1], W.shape[0])
        if n_in != width:
            what = "rows (layout: in_out)" if in_out else "columns"
            raise ctx.error(path + ("W",), f"expected {width} {what} to match {width} "
                                           f"{source_text(i)}, got {n_in}")
        if "b" in raw:
            b = ctx.array(raw["b"], path + ("b",), 1, "the bias b")
            if b.shape[0] != n_out:
                raise ctx.error(path + ("b",), f"expected {n_out} entries to match the "
                                               f"{n_out} {'columns' if in_out else 'rows'} of W, "
                                               f"got {b.shape[0]}")
        else:
            b = freeze(np.zeros(n_out))
        act, alpha = layer_activation(ctx, raw, path, "linear", "dense")
        layers.append(Layer(W, b, act, alpha, out_shape=(n_out,)))
        width = n_out
        shape = (width,)

    layers = apply_residuals(ctx, layers_raw, layers, x.shape[1:] if has_data else x.shape)
    typed = any(layer.type != "dense" for layer in layers)
    batch = has_data if typed else x.ndim == 2
    last = ("layers", len(layers) - 1) + (("W",) if layers[-1].W is not None else ())
    if typed and len(shape) != 1 and ("loss" in doc or has_data):
        raise ctx.error(("layers", len(layers) - 1),
                        f"the loss needs one vector per example, but the last layer gives shape "
                        f"{dims_text(shape)}; add a flatten (and a dense) layer"
                        + (" or use return: last" if layers[-1].type in ("rnn", "lstm", "gru") else ""))
    loss = None
    if "loss" in doc:
        loss = _loss(ctx, doc["loss"], layers, targets, labels, out=width, batch=batch,
                     wpath=last)
    elif targets is not None or labels is not None:
        raise ctx.error(("data",), "data gives targets or labels but there is no 'loss' section")
    elif width != 1 or batch or len(shape) != 1:
        got = f"{width} outputs" if len(shape) == 1 else f"an output of shape {dims_text(shape)}"
        raise ctx.error(last,
                        f"without a 'loss' the output itself is differentiated, so it must be a "
                        f"scalar (one example, one output unit); got {got}"
                        + (" for a batch" if batch else ""))

    l2 = 0.0
    if "regularization" in doc:
        reg = ctx.keys(doc["regularization"], ("regularization",), ("l2",), "regularization")
        if "l2" in reg:
            l2 = ctx.number(reg["l2"], ("regularization", "l2"))
            if l2 < 0:
                raise ctx.error(("regularization", "l2"), f"expected λ ≥ 0, got {l2}")
    return NetworkProblem(title, x, tuple(layers), loss, l2, ctx.loc.file, doc, ctx.loc,
                          batched=batch if typed else None, layout=layout)


def _needs_materialize(doc: dict) -> bool:
    data = doc.get("data")
    if isinstance(data, dict) and ("file" in data or "generate" in data):
        return True
    layers = doc.get("layers")
    return isinstance(layers, list) and any(
        isinstance(layer, dict) and ("width" in layer or "init" in layer) for layer in layers)


def _labels(ctx: ValidationContext, value, path, n: int) -> np.ndarray:
    arr = ctx.array(value, path, (0, 1), "class labels")
    if not np.all(arr == np.round(arr)):
        raise ctx.error(path, "expected whole-number class labels (0-based)")
    big = np.abs(arr) >= 2 ** 31            # no class number is that large (and no int64 cast)
    if np.any(big):
        raise ctx.error(path, f"label {arr[big].flat[0]:g} is out of range: expected a 0-based "
                              f"class number")
    arr = arr.astype(int)
    if arr.ndim == 1 and arr.shape[0] != n:
        raise ctx.error(path, f"expected {n} labels to match the {n} examples, got {arr.shape[0]}")
    return freeze(arr)


def _loss(ctx: ValidationContext, raw, layers, targets, labels, *, out: int, batch: bool,
          wpath: tuple) -> Loss:
    """The loss section; `out` is the output width, set at `wpath` (the last layer)."""
    path = ("loss",)
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or "type" not in raw:
        raise ctx.error(path, "expected a mapping with a 'type' (mse, cross_entropy, hinge, bce)")
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in ops.LOSSES:
        raise ctx.error(path + ("type",), unknown_message("loss", kind, ops.LOSSES))
    ctx.keys(raw, path, LOSS_KEYS[kind], f"a {kind} loss")
    if kind == "cross_entropy" and layers[-1].activation == "softmax":
        raise ctx.error(("layers", len(layers) - 1, "activation"), "cross_entropy applies softmax to the raw scores itself; use "
                              "activation: linear on the last layer (softmax twice is wrong)")
    if kind in ("cross_entropy", "hinge") and out < 2:
        raise ctx.error(wpath, f"a {kind} loss needs at least 2 class scores, got {out}")
    reduction = raw.get("reduction", "mean")
    allowed = ("mean", "sum", "mean_all") if kind in ("mse", "bce") else ("mean", "sum")
    if reduction not in allowed:
        raise ctx.error(path + ("reduction",), f"expected one of {', '.join(allowed)} (over the "
                                               f"batch; mean_all: over every output, as PyTorch's "
                                               f"mean), got {value_kind(reduction) if not isinstance(reduction, str) else reduction}")
    if kind == "cross_entropy" and ("target" in raw or (batch and targets is not None)):
        return Loss(ops.LOSSES[kind], target=_soft_targets(ctx, raw, targets, batch, out),
                    reduction=reduction)
    if kind in ("mse", "bce"):
        if batch:
            if "target" in raw:
                raise ctx.error(path + ("target",), "with 'data', targets come from data.targets")
            if targets is None:
                raise ctx.error(("data",), f"a {kind} loss on a batch needs data.targets")
            target = targets
            if target.shape[1] != out:
                raise ctx.error(("data", "targets"), f"expected {out} columns to match the {out} "
                                                     f"outputs, got {target.shape[1]}")
        else:
            if "target" not in raw:
                raise ctx.error(path, f"a {kind} loss needs a 'target'")
            target = ctx.array(raw["target"], path + ("target",), (0, 1), "the target t")
            target = freeze(target.reshape(-1).copy())
            if target.shape[0] != out:
                raise ctx.error(path + ("target",), f"expected {out} entries to match the {out} "
                                                    f"outputs of the last layer, got {target.shape[0]}")
        if kind == "bce" and np.any((target < 0) | (target > 1)):
            raise ctx.error(path + ("target",) if not batch else ("data", "targets"),
                            "bce targets must lie in [0, 1]")
        scale = ctx.number(raw["scale"], path + ("scale",)) if "scale" in raw else 0.5
        return Loss(ops.LOSSES[kind], target=target, scale=scale, reduction=reduction)
    # classification losses
    if batch:
        if "label" in raw:
            raise ctx.error(path + ("label",), "with 'data', labels come from data.labels")
        if labels is None:
            raise ctx.error(("data",), f"a {kind} loss on a batch needs data.labels")
        label, lpath = labels, ("data", "labels")
    else:
        if "label" not in raw:
            raise ctx.error(path, f"a {kind} loss needs a 'label' (0-based class index)")
        label = _labels(ctx, raw["label"], path + ("label",), 1)
        lpath = path + ("label",)
        if label.ndim != 0:
            raise ctx.error(lpath, "expected one class index for one example")
    bad = np.asarray(label).ravel()
    bad = bad[(bad < 0) | (bad >= out)]
    if bad.size:
        raise ctx.error(lpath, f"label {int(bad[0])} is out of range: expected 0 … {out - 1} "
                               f"(0-based, {out} classes)")
    margin = ctx.number(raw["margin"], path + ("margin",)) if "margin" in raw else 1.0
    return Loss(ops.LOSSES[kind], label=label, margin=margin, reduction=reduction)


def _soft_targets(ctx: ValidationContext, raw: dict, targets, batch: bool, out: int) -> np.ndarray:
    """Cross-entropy against probability vectors (`target:` for one example, data.targets for a
    batch) instead of class labels: entries in [0, 1], each vector summing to 1."""
    if "label" in raw:
        raise ctx.error(("loss", "target"), "give either 'label' (a class) or 'target' (a "
                                            "probability vector), not both")
    if batch:
        if "target" in raw:
            raise ctx.error(("loss", "target"), "with 'data', targets come from data.targets")
        target, tpath = targets, ("data", "targets")
        if target.shape[1] != out:
            raise ctx.error(tpath, f"expected {out} columns to match the {out} class scores, got "
                                   f"{target.shape[1]}")
    else:
        tpath = ("loss", "target")
        target = ctx.array(raw["target"], tpath, 1, "the target probabilities t")
        if target.shape[0] != out:
            raise ctx.error(tpath, f"expected {out} probabilities to match the {out} class "
                                   f"scores, got {target.shape[0]}")
    sums = np.atleast_2d(target).sum(axis=1)
    if np.any((target < 0) | (target > 1)) or np.any(np.abs(sums - 1) > 1e-9):
        bad = sums[np.abs(sums - 1) > 1e-9]
        raise ctx.error(tpath, "expected probabilities: entries in [0, 1] summing to 1 per example"
                        + (f", got a sum of {bad[0]:g}" if bad.size else ""))
    return target
