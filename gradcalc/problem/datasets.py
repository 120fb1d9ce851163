"""Data sets and initial weights for training: CSV/.npz files, generators, he/xavier/normal init."""
from __future__ import annotations

import csv
import difflib
import io
import math
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_EXAMPLES = 1_000_000
MAX_WIDTH = 100_000

DATA_FILE_KEYS = ("file", "features", "labels", "targets")
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

    `ctx` is problem._Ctx (ctx.error(path, message) -> ProblemError, ctx.loc the Located file).
    Keys this module does not own are copied unchanged and validated by problem.py."""
    out = dict(doc)
    n_features = None
    data = doc.get("data")
    if isinstance(data, dict) and ("file" in data or "generate" in data):
        if "file" in data and "generate" in data:
            raise ctx.error(("data",), "give either 'file' or 'generate', not both")
        if "file" in data:
            out["data"] = _from_file(ctx, data, _loss_type(doc))
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
        out["layers"] = _layers(ctx, layers, n_features)
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


def _rows(a: np.ndarray) -> list:
    """float64 array -> nested lists of Python floats (what problem.py validates)."""
    return np.asarray(a, dtype=float).tolist()


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


def spiral(n: int, k: int, noise: float, rng: np.random.Generator):
    """The CS231n spiral: class j has n points at radius r ∈ linspace(0, 1) and angle
    t ∈ linspace(4j, 4(j+1)) + N(0, noise²); the point is (r sin t, r cos t)."""
    X = np.zeros((n * k, 2))
    y = np.zeros(n * k, dtype=int)
    for j in range(k):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rng.standard_normal(n) * noise
        X[n * j:n * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[n * j:n * (j + 1)] = j
    return X, y


def xor(n: int, k: int, noise: float, rng: np.random.Generator):
    """XOR: class 0 in the quadrants where x1·x2 > 0, class 1 where x1·x2 < 0; coordinates
    uniform in (0, 1] in magnitude, plus N(0, noise²) on each coordinate."""
    X = np.zeros((2 * n, 2))
    for j in range(2):
        s1 = rng.choice([-1.0, 1.0], n)
        s2 = s1 if j == 0 else -s1
        mag = 1.0 - rng.uniform(0.0, 1.0, (n, 2))          # (0, 1]
        X[n * j:n * (j + 1)] = np.c_[s1 * mag[:, 0], s2 * mag[:, 1]]
    X += rng.standard_normal(X.shape) * noise
    return X, np.repeat(np.arange(2), n)


def circles(n: int, k: int, noise: float, rng: np.random.Generator):
    """Concentric circles: class j lies on radius (j + 1)/k at uniform angles, plus
    N(0, noise²) on each coordinate (k = 2 is scikit-learn's make_circles with factor 0.5)."""
    X = np.zeros((n * k, 2))
    for j in range(k):
        t = rng.uniform(0.0, 2 * math.pi, n)
        r = (j + 1) / k
        X[n * j:n * (j + 1)] = np.c_[r * np.cos(t), r * np.sin(t)]
    X += rng.standard_normal(X.shape) * noise
    return X, np.repeat(np.arange(k), n)


def blobs(n: int, k: int, noise: float, rng: np.random.Generator):
    """Gaussian blobs: class j around the centre (cos 2πj/k, sin 2πj/k) with std `noise`."""
    X = np.zeros((n * k, 2))
    for j in range(k):
        c = np.array([math.cos(2 * math.pi * j / k), math.sin(2 * math.pi * j / k)])
        X[n * j:n * (j + 1)] = c + rng.standard_normal((n, 2)) * noise
    return X, np.repeat(np.arange(k), n)


GENERATOR_FUNCS = {"spiral": spiral, "xor": xor, "circles": circles, "blobs": blobs}


def _supervision(X, y, k, loss_type, out_width) -> dict:
    """Labels for classification losses; for mse/bce, targets: the label itself (0/1) when the
    network has one output and two classes, else one-hot rows."""
    if loss_type in ("mse", "bce"):
        if out_width == 1 and k == 2:
            return {"X": _rows(X), "targets": _rows(y.astype(float).reshape(-1, 1))}
        return {"X": _rows(X), "targets": _rows(np.eye(k)[y])}
    return {"X": _rows(X), "labels": y.tolist()}


# ---------------------------------------------------------------- files
def _resolve(ctx, name, path) -> Path:
    if not isinstance(name, str) or not name.strip():
        raise ctx.error(path, "expected a file name (relative to the problem file)")
    p = Path(name)
    if not p.is_absolute():
        here = ctx.loc.file if ctx.loc is not None else None
        if here and not here.startswith("<"):
            p = Path(here).parent / p
    return p


def _names(ctx, value, path, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ctx.error(path, f"expected a column name or a list of column names ({what})")
    return list(value)


def _from_file(ctx, data: dict, loss_type: str | None) -> dict:
    base = ("data",)
    ctx.keys(data, base, DATA_FILE_KEYS, "data from a file")
    if "labels" in data and "targets" in data:
        raise ctx.error(base, "give either 'labels' or 'targets', not both")
    path = _resolve(ctx, data["file"], base + ("file",))
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise ctx.error(base + ("file",), f"expected a .csv or .npz file, got '{path.name}'")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ctx.error(base + ("file",), f"{path.name} is too large (over "
                                              f"{MAX_FILE_BYTES // 2**20} MB)")
        raw = path.read_bytes()
    except OSError as e:
        raise ctx.error(base + ("file",), f"cannot read {path}: {e.strerror or e}") from None
    if suffix == ".csv":
        return _csv(ctx, data, raw, path.name)
    return _npz(ctx, data, raw, path.name)


def _csv(ctx, data: dict, raw: bytes, name: str) -> dict:
    """CSV with a header row.  `labels: COL` names the class-label column, `targets: [COLS]`
    the target columns; `features: [COLS]` the inputs (default: every other column)."""
    base = ("data",)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ctx.error(base + ("file",), f"{name} is not a UTF-8 text file") from None
    try:
        rows = [(i, r) for i, r in enumerate(csv.reader(io.StringIO(text)), 1)
                if r and any(c.strip() for c in r)]
    except csv.Error as e:
        raise ctx.error(base + ("file",), f"{name}: CSV error: {e}") from None
    if not rows:
        raise ctx.error(base + ("file",), f"{name} is empty")
    header = [c.strip() for c in rows[0][1]]
    body = rows[1:]
    if not body:
        raise ctx.error(base + ("file",), f"{name} has a header but no rows")
    if len(body) > MAX_EXAMPLES:
        raise ctx.error(base + ("file",), f"{name} has over {MAX_EXAMPLES} rows")
    dup = [h for h in header if header.count(h) > 1]
    if dup:
        raise ctx.error(base + ("file",), f"{name}: column '{dup[0]}' appears twice in the header")

    def index(col: str, key: str) -> int:
        if col not in header:
            hint = difflib.get_close_matches(col, header, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ctx.error(base + (key,), f"{name} has no column '{col}'{tip}; its columns are: "
                                           f"{', '.join(header)}")
        return header.index(col)

    label_cols = target_cols = []
    if "labels" in data:
        label_cols = _names(ctx, data["labels"], base + ("labels",), "the class labels")
        if len(label_cols) != 1:
            raise ctx.error(base + ("labels",), "expected one label column")
    if "targets" in data:
        target_cols = _names(ctx, data["targets"], base + ("targets",), "the targets")
    supervised = {index(c, "labels") for c in label_cols} | {index(c, "targets") for c in target_cols}
    if "features" in data:
        feat = [index(c, "features") for c in _names(ctx, data["features"], base + ("features",),
                                                     "the inputs")]
    else:
        feat = [i for i in range(len(header)) if i not in supervised]
    if not feat:
        raise ctx.error(base + ("file",), f"{name}: no input columns left")
    if not label_cols and not target_cols and _needs_supervision(ctx):
        raise ctx.error(base, f"name the label column (labels: COLUMN) or the target columns "
                              f"(targets: [COLUMNS]) of {name}")
    M = np.empty((len(body), len(header)))
    used = sorted(set(feat) | supervised)
    for r, (lineno, row) in enumerate(body):
        if len(row) != len(header):
            raise ctx.error(base + ("file",), f"{name}:{lineno}: expected {len(header)} values "
                                              f"like the header, got {len(row)}")
        for c in used:
            cell = row[c].strip()
            try:
                v = float(cell)
            except ValueError:
                raise ctx.error(base + ("file",), f"{name}:{lineno}: column '{header[c]}': "
                                                  f"expected a number, got '{cell}'") from None
            if not math.isfinite(v):
                raise ctx.error(base + ("file",), f"{name}:{lineno}: column '{header[c]}': "
                                                  f"expected a finite number, got '{cell}'")
            M[r, c] = v
    out = {"X": _rows(M[:, feat])}
    if label_cols:
        lab = M[:, index(label_cols[0], "labels")]
        _check_labels(ctx, lab, f"{name}: column '{label_cols[0]}'")
        out["labels"] = lab.astype(int).tolist()
    if target_cols:
        out["targets"] = _rows(M[:, [index(c, "targets") for c in target_cols]])
    return out


def _needs_supervision(ctx) -> bool:
    doc = ctx.loc.data if ctx.loc is not None else {}
    return isinstance(doc, dict) and "loss" in doc


def _check_labels(ctx, lab: np.ndarray, where: str) -> None:
    bad = np.nonzero((lab != np.round(lab)) | (lab < 0))[0]
    if bad.size:
        raise ctx.error(("data", "labels"), f"{where}: row {int(bad[0]) + 1}: expected a 0-based "
                                            f"whole-number class label, got {lab[bad[0]]:g}")


def _npz(ctx, data: dict, raw: bytes, name: str) -> dict:
    """.npz: array `features` (default 'X'), labels array (default 'labels' if present) or
    targets array (default 'targets' if present)."""
    import zipfile
    base = ("data",)

    def one_name(key: str) -> str:
        v = data[key]
        if not isinstance(v, str):
            raise ctx.error(base + (key,), "expected the name of an array in the .npz file")
        return v

    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ctx.error(base + ("file",), f"{name} is not a readable .npz file ({e})") from None
    with archive:
        keys = list(archive.files)

        def get(arr_name: str, key: str) -> np.ndarray:
            if arr_name not in keys:
                raise ctx.error(base + (key,), f"{name} has no array '{arr_name}'; it has: "
                                               f"{', '.join(keys) or 'nothing'}")
            try:
                a = archive[arr_name]
            except ValueError as e:   # object arrays need pickle, which is refused
                raise ctx.error(base + (key,), f"{name}: array '{arr_name}' cannot be read "
                                               f"safely ({e})") from None
            if a.dtype.kind not in "biuf":
                raise ctx.error(base + (key,), f"{name}: array '{arr_name}' is not numeric "
                                               f"(dtype {a.dtype})")
            return a.astype(float)

        X = get(one_name("features") if "features" in data else "X", "features")
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ctx.error(base + ("file",), f"{name}: X must be a non-empty matrix (rows are "
                                              f"examples), got shape {X.shape}")
        if X.shape[0] > MAX_EXAMPLES:
            raise ctx.error(base + ("file",), f"{name} has over {MAX_EXAMPLES} examples")
        if not np.all(np.isfinite(X)):
            raise ctx.error(base + ("file",), f"{name}: X contains nan or inf")
        out = {"X": _rows(X)}
        lab_name = one_name("labels") if "labels" in data else ("labels" if "labels" in keys
                                                                 and "targets" not in data else None)
        tgt_name = one_name("targets") if "targets" in data else ("targets" if "targets" in keys
                                                                  and lab_name is None else None)
        if lab_name:
            lab = get(lab_name, "labels").reshape(-1)
            _check_labels(ctx, lab, f"{name}: array '{lab_name}'")
            out["labels"] = lab.astype(int).tolist()
        elif tgt_name:
            t = get(tgt_name, "targets")
            if not np.all(np.isfinite(t)):
                raise ctx.error(base + ("targets",), f"{name}: targets contain nan or inf")
            out["targets"] = _rows(t.reshape(t.shape[0], -1) if t.ndim else t.reshape(1, 1))
        elif _needs_supervision(ctx):
            raise ctx.error(base, f"{name} has no 'labels' or 'targets' array; name one with "
                                  f"labels: ARRAY or targets: ARRAY")
    return out


# ---------------------------------------------------------------- layers: width + init
def _layers(ctx, layers: list, n_in: int | None) -> list:
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
        act = raw.get("activation", "linear")
        kind, seed, std = _init_spec(ctx, raw.get("init"), path + ("init",), act, i)
        rng = np.random.default_rng(seed)
        layer["W"] = _rows(init_weights(kind, n_out, width, rng, std))
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


def init_weights(kind: str, n_out: int, n_in: int, rng: np.random.Generator,
                 std: float | None = None) -> np.ndarray:
    """W (n_out × n_in) ~ N(0, s²) with s = sqrt(2/n_in) (he), sqrt(2/(n_in + n_out)) (xavier,
    Glorot normal) or `std` (normal, default 0.01 as in the CS231n notes)."""
    if kind == "he":
        s = math.sqrt(2.0 / n_in)
    elif kind == "xavier":
        s = math.sqrt(2.0 / (n_in + n_out))
    else:
        s = 0.01 if std is None else std
    return rng.standard_normal((n_out, n_in)) * s

