"""Training data and initial weights: `data: file/generate` and `width`/`init` layers made explicit."""
from __future__ import annotations

import difflib

import numpy as np

from gradcalc.problem.datafiles import MAX_EXAMPLES, data_from_file, float_rows
from gradcalc.problem.generators import GENERATOR_FUNCS, init_weights

MAX_WIDTH = 100_000

GENERATE_KEYS = ("generate", "n", "classes", "noise", "seed")
INIT_KEYS = ("type", "seed", "std")
INIT_TYPES = ("he", "xavier", "normal")

# generator -> (default classes, default noise, whether `classes` may change)
GENERATORS = {
    "spiral": (3, 0.2, True),
    "xor": (2, 0.1, False),
    "circles": (2, 0.1, True),
    "blobs": (3, 0.3, True),
}


def materialize(ctx, doc: dict) -> dict:
    """A NEW document in which `data` is inline (X + labels/targets) and every layer has W and b.

    `ctx` is problem.context.ValidationContext (ctx.error(path, message) -> ProblemError,
    ctx.loc the Located file).  Keys this module does not own are copied unchanged and validated by problem.load."""
    out = dict(doc)
    n_features = None
    data = doc.get("data")
    if isinstance(data, dict) and ("file" in data or "generate" in data):
        if "file" in data and "generate" in data:
            raise ctx.error(("data",), "give either 'file' or 'generate', not both")
        if "file" in data:
            out["data"] = data_from_file(ctx, data, _loss_type(doc))
        else:
            out["data"] = _generate(ctx, data, _loss_type(doc), _output_width(doc))
    if isinstance(out.get("data"), dict) and isinstance(out["data"].get("X"), list):
        X = out["data"]["X"]
        if X and isinstance(X[0], list):
            n_features = len(X[0])
    elif isinstance(doc.get("input"), list):
        n_features = len(doc["input"])
    layers = doc.get("layers")
    if isinstance(layers, list):
        X = out["data"].get("X") if isinstance(out.get("data"), dict) else None
        n_rows = len(X) if isinstance(X, list) and X else 1
        out["layers"] = _layers(ctx, layers, n_features, n_rows)
    return out


def _loss_type(doc) -> str | None:
    loss = doc.get("loss")
    if isinstance(loss, str):
        return loss
    if isinstance(loss, dict) and isinstance(loss.get("type"), str):
        return loss["type"]
    return None


def _output_width(doc) -> int | None:
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers or not isinstance(layers[-1], dict):
        return None
    last = layers[-1]
    if isinstance(last.get("width"), int) and not isinstance(last.get("width"), bool):
        return last["width"]
    W = last.get("W")
    if isinstance(W, list):
        return len(W)
    return None


def _int(ctx, value, path, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ctx.error(path, f"expected a whole number ({what}), got {value!r}")
    if not low <= value <= high:
        raise ctx.error(path, f"expected {what} between {low} and {high}, got {value}")
    return value


def _float(ctx, value, path, what: str, low: float = 0.0) -> float:
    v = ctx.number(value, path)
    if v < low:
        raise ctx.error(path, f"expected {what} ≥ {low:g}, got {v:g}")
    return v


# ---------------------------------------------------------------- generators
def _generate(ctx, data: dict, loss_type: str | None, out_width: int | None) -> dict:
    base = ("data",)
    ctx.keys(data, base, GENERATE_KEYS, "generated data")
    name = data["generate"]
    if not isinstance(name, str) or name not in GENERATORS:
        hint = difflib.get_close_matches(str(name), list(GENERATORS), n=1)
        tip = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ctx.error(base + ("generate",), f"unknown generator '{name}'{tip}; expected one of: "
                                              f"{', '.join(GENERATORS)}")
    k_default, noise_default, k_free = GENERATORS[name]
    n = _int(ctx, data.get("n", 100), base + ("n",), 1, MAX_EXAMPLES, "points per class")
    k = k_default
    if "classes" in data:
        k = _int(ctx, data["classes"], base + ("classes",), 2, 1000, "the number of classes")
        if not k_free and k != k_default:
            raise ctx.error(base + ("classes",), f"{name} always has {k_default} classes, got {k}")
    if n * k > MAX_EXAMPLES:
        raise ctx.error(base + ("n",), f"too many points: {n}×{k} is over {MAX_EXAMPLES}")
    noise = _float(ctx, data.get("noise", noise_default), base + ("noise",), "the noise")
    seed = _int(ctx, data.get("seed", 0), base + ("seed",), 0, 2**32 - 1, "the seed")
    X, y = GENERATOR_FUNCS[name](n, k, noise, np.random.default_rng(seed))
    return _supervision(X, y, k, loss_type, out_width)


def _supervision(X, y, k, loss_type, out_width) -> dict:
    """Labels for classification losses; for mse/bce, targets: the label itself (0/1) when the
    network has one output and two classes, else one-hot rows."""
    if loss_type in ("mse", "bce"):
        if out_width == 1 and k == 2:
            return {"X": float_rows(X), "targets": float_rows(y.astype(float).reshape(-1, 1))}
        return {"X": float_rows(X), "targets": float_rows(np.eye(k)[y])}
    return {"X": float_rows(X), "labels": y.tolist()}


# ---------------------------------------------------------------- layers: width + init
def _layer_budget(ctx, path, n_out: int, n_in: int, n_rows: int) -> None:
    """Refuse a width layer whose weights (n_out × n_in) and activations (examples × n_out)
    do not fit the memory budget, before its weights are drawn: two layers of width 30,000
    reached 17.8 GB."""
    from gradcalc.problem.budget import ACTIVATION_BYTES, WEIGHT_BYTES, over
    refusal = over(n_out * n_in * WEIGHT_BYTES + n_rows * n_out * ACTIVATION_BYTES)
    if refusal:
        raise ctx.error(path + ("width",), f"a layer of {n_out:,} units on {n_in:,} inputs "
                                           f"(W {n_out:,}×{n_in:,}, {n_rows:,} example"
                                           f"{'s' if n_rows != 1 else ''}) {refusal}")


def _layers(ctx, layers: list, n_in: int | None, n_rows: int = 1) -> list:
    out = []
    width = n_in
    for i, raw in enumerate(layers):
        path = ("layers", i)
        if not isinstance(raw, dict) or ("width" not in raw and "init" not in raw):
            out.append(raw)
            if isinstance(raw, dict) and isinstance(raw.get("W"), list):
                width = len(raw["W"])
            else:
                width = None
            continue
        layer = {k: v for k, v in raw.items() if k not in ("width", "init")}
        if "W" in raw:
            raise ctx.error(path + ("W",), "give either an explicit W or width/init, not both")
        if "width" not in raw:
            raise ctx.error(path, "a layer with 'init' needs its number of units 'width'")
        n_out = _int(ctx, raw["width"], path + ("width",), 1, MAX_WIDTH, "the number of units")
        if width is None:
            raise ctx.error(path + ("width",), "cannot infer the input size of this layer: give "
                                               "the previous layer an explicit W or a width")
        _layer_budget(ctx, path, n_out, width, n_rows)      # before the weights are drawn
        act = raw.get("activation", "linear")
        kind, seed, std = _init_spec(ctx, raw.get("init"), path + ("init",), act, i)
        rng = np.random.default_rng(seed)
        layer["W"] = float_rows(init_weights(kind, n_out, width, rng, std))
        if "b" not in raw:
            layer["b"] = [0.0] * n_out
        # keep the key order readable: W and b first
        out.append({"W": layer.pop("W"), "b": layer.pop("b"), **layer})
        width = n_out
    return out


def _init_spec(ctx, raw, path, activation, index: int) -> tuple[str, int, float | None]:
    """Default: he for relu-like layers, xavier otherwise; the default seed is the layer index."""
    default = "he" if activation in ("relu", "leaky_relu") else "xavier"
    if raw is None:
        return default, index, None
    if isinstance(raw, str):
        raw = {"type": raw}
    ctx.keys(raw, path, INIT_KEYS, "init")
    kind = raw.get("type", default)
    if not isinstance(kind, str) or kind not in INIT_TYPES:
        hint = difflib.get_close_matches(str(kind), INIT_TYPES, n=1)
        tip = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ctx.error(path + ("type",), f"unknown init '{kind}'{tip}; expected one of: "
                                          f"{', '.join(INIT_TYPES)}")
    seed = _int(ctx, raw.get("seed", index), path + ("seed",), 0, 2**32 - 1, "the seed")
    std = None
    if "std" in raw:
        if kind != "normal":
            raise ctx.error(path + ("std",), f"std is for init type normal; {kind} sets its own")
        std = ctx.number(raw["std"], path + ("std",))
        if std <= 0:
            raise ctx.error(path + ("std",), f"expected std > 0, got {std:g}")
    return kind, seed, std
