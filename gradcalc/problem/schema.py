"""JSON Schema (draft 2020-12) of the problem format, built from the registry and problem.model."""
from __future__ import annotations

from typing import Any

# What each key of the format means; keys without an entry (added by later extensions of
# problem/load.py) are still allowed, with no type constraint, so the schema never lags the loader.
_DOC = {
    "title": "Shown above the tables and in the JSON output.",
    "description": "Free text for the reader (ignored by gradcalc).",
    "input": "One example x: a list of numbers (deeper nesting for images or sequences).",
    "data": "A batch: X (rows are examples) with targets (regression) or labels (classification).",
    "layers": "Layers applied in order; each computes z = W·x + b, then its activation.",
    "loss": "The loss L; without it the (scalar) output itself is differentiated.",
    "regularization": "l2: λ adds λ·Σ‖W‖² over every weight matrix (biases excluded).",
    "expression": "One expression text (output f) or an ordered mapping of named steps "
                  "(the last step is the output).",
    "values": "The value of every variable of the expression.",
    "grading": "Grading rubric (validated by the grade command).",
    "optimizer": "Optimizer settings (validated by the train command).",
    "variants": "Per-student variant settings (validated by the variants command).",
}


def _number() -> dict:
    # YAML 1.1 reads 1e-3 as text and gradcalc accepts it as a number, so numeric text is allowed
    return {"anyOf": [
        {"type": "number"},
        {"type": "string",
         "pattern": r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"},
    ]}


def _vector() -> dict:
    return {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/number"}}


def _matrix() -> dict:
    return {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/vector"}}


def _open_object(key: str) -> dict:
    return {"type": "object", "description": _DOC.get(key, ""), "additionalProperties": True}


def _datasets():
    """The training-data extension (data files, generators, width/init layers), if installed."""
    try:
        from gradcalc.problem import datasets
    except ImportError:
        return None
    return datasets


_TYPED_KEYS = {   # keys of the layer types besides dense (convolution, pooling, recurrent)
    "stride": {"anyOf": [{"type": "integer", "minimum": 1},
                         {"type": "array", "items": {"type": "integer", "minimum": 1}}]},
    "padding": {"anyOf": [{"type": "integer", "minimum": 0},
                          {"type": "array", "items": {"type": "integer", "minimum": 0}}]},
    "size": {"anyOf": [{"type": "integer", "minimum": 1},
                       {"type": "array", "items": {"type": "integer", "minimum": 1}}]},
    "flip": {"type": "boolean", "description": "Flip the kernel: the mathematical convolution."},
    "Wxh": {"$ref": "#/$defs/array", "type": "array", "description": "Input-to-hidden weights."},
    "Whh": {"$ref": "#/$defs/array", "type": "array", "description": "Hidden-to-hidden weights."},
    "h0": {"$ref": "#/$defs/array", "description": "Initial hidden state (default zeros)."},
    "return": {"enum": ["last", "all"], "default": "last"},
    "c0": {"$ref": "#/$defs/array", "description": "lstm: initial cell state (default zeros)."},
    "bh": {"$ref": "#/$defs/array", "description": "gru: hidden-side bias (3H, default zeros)."},
    "gate_order": {"enum": ["ifgo", "ifog"], "default": "ifgo",
                   "description": "lstm: the order of the gate blocks in Wxh, Whh, b: ifgo as "
                                  "torch.nn.LSTM (input, forget, cell, output), ifog as CS231n."},
    "Wq": {"$ref": "#/$defs/array", "type": "array", "description": "attention: queries (d×D)."},
    "Wk": {"$ref": "#/$defs/array", "type": "array", "description": "attention: keys (d×D)."},
    "Wv": {"$ref": "#/$defs/array", "type": "array", "description": "attention: values (d×D)."},
    "Wo": {"$ref": "#/$defs/array", "type": "array",
           "description": "attention: optional output projection (out × d)."},
    "causal": {"type": "boolean", "default": False,
               "description": "attention: step t attends to steps 1 … t only."},
}


def _layer_schema(dense_props: dict) -> dict:
    """A dense layer (no `type`), or one object schema per layer type the loader knows."""
    from gradcalc.problem.model import TYPE_KEYS as type_keys
    dense_required = [{"required": ["W"]}] + (
        [{"required": ["width"]}] if "width" in dense_props else [])
    dense = {"type": "object", "properties": dict(dense_props), "additionalProperties": False,
             "anyOf": dense_required}
    dense["properties"]["type"] = {"const": "dense"}
    variants = [dense]
    for name, keys in type_keys.items():
        if name == "dense":
            continue
        props = {k: dense_props.get(k, _TYPED_KEYS.get(k, {})) for k in keys}
        props["type"] = {"const": name}
        variants.append({"type": "object", "required": ["type"], "properties": props,
                         "additionalProperties": False})
    return {"type": "object", "description": "A layer; 'type' defaults to dense.",
            "properties": {"type": {"enum": sorted(type_keys)}}, "anyOf": variants}


def problem_schema() -> dict[str, Any]:
    """The schema `gradcalc schema` prints: network problems and expression problems."""
    from gradcalc import ops
    from gradcalc.problem.model import (LAYER_KEYS, LOSS_KEYS, TOP_KEYS_EXPRESSION,
                                        TOP_KEYS_NETWORK, TOP_KEYS_OTHER)

    activations = sorted(ops.ACTIVATIONS)
    losses = sorted(ops.LOSSES)

    layer_props: dict[str, Any] = {
        "W": {"$ref": "#/$defs/array", "type": "array",
              "description": "Weights, shape (out, in): z = W·x + b (batch: Z = X·Wᵀ + b)."},
        "b": {"$ref": "#/$defs/array", "description": "Bias (out); defaults to zeros."},
        "activation": {"$ref": "#/$defs/activation", "default": "linear",
                       "description": "Activation after the affine map."},
        "alpha": {"$ref": "#/$defs/number", "default": 0.01,
                  "description": "Slope of leaky_relu for negative inputs."},
        "name": {"type": "string", "description": "A label for the reader."},
    }
    for key in LAYER_KEYS:               # keys added by extensions of the loader stay allowed
        layer_props.setdefault(key, {})
    data_props: dict[str, Any] = {
        "X": {"$ref": "#/$defs/array", "type": "array", "description": "Examples as rows."},
        "targets": {"$ref": "#/$defs/array",
                    "description": "One row (or one number) per example (mse, bce)."},
        "labels": {"type": "array", "minItems": 1, "items": {"type": ["integer", "string"]},
                   "description": "One 0-based class index per example (cross_entropy, hinge)."},
    }
    data_required = [{"required": ["X"]}]
    datasets = _datasets()
    if datasets is not None:             # training data from files/generators, width/init layers
        from gradcalc.problem.datafiles import DATA_FILE_KEYS
        names = {"type": ["string", "array"], "items": {"type": "string"}}
        data_props["labels"] = {"anyOf": [data_props["labels"], names]}
        data_props["targets"] = {"anyOf": [data_props["targets"], names]}
        for key, spec in {
            "file": {"type": "string", "description": "A .csv (with a header) or .npz file, "
                                                      "relative to the problem file."},
            "features": dict(names, description="Feature columns of the file."),
            "generate": {"enum": sorted(datasets.GENERATORS),
                         "description": "A built-in data set generator."},
            "n": {"type": "integer", "minimum": 1, "description": "Points per class."},
            "classes": {"type": "integer", "minimum": 2},
            "noise": {"$ref": "#/$defs/number"},
            "seed": {"type": "integer", "minimum": 0},
        }.items():
            if key in DATA_FILE_KEYS or key in datasets.GENERATE_KEYS:
                data_props[key] = spec
        data_required += [{"required": ["file"]}, {"required": ["generate"]}]
        layer_props["width"] = {"type": "integer", "minimum": 1,
                                "description": "Number of units; W is drawn by 'init'."}
        layer_props["init"] = {"anyOf": [
            {"enum": list(datasets.INIT_TYPES)},
            {"type": "object", "properties": {"type": {"enum": list(datasets.INIT_TYPES)},
                                              "seed": {"type": "integer", "minimum": 0},
                                              "std": {"$ref": "#/$defs/number"}},
             "additionalProperties": False}],
            "description": "Initial weights for a 'width' layer."}
    layer_schema = _layer_schema(layer_props)

    loss_field = {
        "type": {"enum": losses},
        "target": {"anyOf": [{"$ref": "#/$defs/number"}, {"$ref": "#/$defs/vector"}],
                   "description": "Target t (one example; a batch uses data.targets)."},
        "label": {"type": ["integer", "string"],
                  "description": "0-based class index (one example; a batch uses data.labels)."},
        "scale": {"$ref": "#/$defs/number", "default": 0.5,
                  "description": "MSE factor: L = scale·Σ(y − t)²."},
        "margin": {"$ref": "#/$defs/number", "default": 1.0,
                   "description": "Hinge margin: L = Σ_{j≠k} max(0, y_j − y_k + margin)."},
    }
    loss_variants = []
    for name in losses:
        keys = LOSS_KEYS.get(name, ("type",))
        props = {k: loss_field.get(k, {}) for k in keys}
        props["type"] = {"const": name}
        loss_variants.append({"type": "object", "required": ["type"], "properties": props,
                              "additionalProperties": False})

    network_props: dict[str, Any] = {
        "title": {"type": ["string", "number"], "description": _DOC["title"]},
        "description": {"type": "string", "description": _DOC["description"]},
        "input": {"$ref": "#/$defs/array", "description": _DOC["input"]},
        "data": {"type": "object", "description": _DOC["data"], "properties": data_props,
                 "additionalProperties": False, "anyOf": data_required},
        "layers": {"type": "array", "minItems": 1, "description": _DOC["layers"],
                   "items": layer_schema},
        "loss": {"description": _DOC["loss"],
                 "oneOf": [{"enum": losses}] + loss_variants},
        "regularization": {"type": "object", "description": _DOC["regularization"],
                           "properties": {"l2": {"$ref": "#/$defs/number", "minimum": 0}},
                           "additionalProperties": False},
    }
    expression_props: dict[str, Any] = {
        "title": network_props["title"],
        "description": network_props["description"],
        "expression": {
            "description": _DOC["expression"],
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "minProperties": 1,
                 "propertyNames": {"$ref": "#/$defs/name"},
                 "additionalProperties": {"type": ["string", "number"]}},
            ],
        },
        "values": {"type": "object", "description": _DOC["values"],
                   "propertyNames": {"$ref": "#/$defs/name"},
                   "additionalProperties": {"anyOf": [{"$ref": "#/$defs/number"},   # issue 15
                                                      _vector(), _matrix()]}},
    }
    for key in TOP_KEYS_NETWORK:
        network_props.setdefault(key, {"description": _DOC.get(key, "")})
    for key in TOP_KEYS_EXPRESSION:
        expression_props.setdefault(key, {"description": _DOC.get(key, "")})
    for key in TOP_KEYS_OTHER:          # sections validated by their own modules
        network_props[key] = _open_object(key)
        expression_props[key] = _open_object(key)

    network = {
        "title": "Network problem",
        "type": "object",
        "required": ["layers"],
        "properties": network_props,
        "additionalProperties": False,
        # exactly one of one example (input) or a batch (data)
        "oneOf": [{"required": ["input"], "not": {"required": ["data"]}},
                  {"required": ["data"], "not": {"required": ["input"]}}],
    }
    expression = {
        "title": "Expression problem",
        "type": "object",
        "required": ["expression"],
        "properties": expression_props,
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gradcalc problem",
        "description": "A backpropagation problem for `gradcalc solve`: a network "
                       "(input/data, layers, loss) or a scalar expression graph.",
        "oneOf": [{"$ref": "#/$defs/network"}, {"$ref": "#/$defs/expression"}],
        "$defs": {
            "number": _number(),
            "vector": _vector(),
            "matrix": _matrix(),
            # a number or a rectangular nested list of numbers of any depth (shapes are checked
            # by gradcalc itself, with the field and the line)
            "array": {"anyOf": [{"$ref": "#/$defs/number"},
                                {"type": "array", "minItems": 1,
                                 "items": {"$ref": "#/$defs/array"}}]},
            "name": {"type": "string", "pattern": "^(?!__)[A-Za-z_][A-Za-z0-9_]*$"},
            "activation": {"enum": activations},
            "network": network,
            "expression": expression,
        },
    }
