"""Training data read from a file (CSV with a header, or .npz): checked, made inline X + labels/targets."""
from __future__ import annotations

import csv
import difflib
import io
import math
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_EXAMPLES = 1_000_000      # rows of a file, and points of a generated data set

DATA_FILE_KEYS = ("file", "features", "labels", "targets")


def float_rows(a: np.ndarray) -> list:
    """float64 array -> nested lists of Python floats (what problem.load validates)."""
    return np.asarray(a, dtype=float).tolist()


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


def data_from_file(ctx, data: dict, loss_type: str | None) -> dict:
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
    out = {"X": float_rows(M[:, feat])}
    if label_cols:
        lab = M[:, index(label_cols[0], "labels")]
        _check_labels(ctx, lab, f"{name}: column '{label_cols[0]}'")
        out["labels"] = lab.astype(int).tolist()
    if target_cols:
        out["targets"] = float_rows(M[:, [index(c, "targets") for c in target_cols]])
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
            _check_header(ctx, raw, arr_name, base + (key,), name)   # before any allocation
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
        out = {"X": float_rows(X)}
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
            out["targets"] = float_rows(t.reshape(t.shape[0], -1) if t.ndim else t.reshape(1, 1))
        elif _needs_supervision(ctx):
            raise ctx.error(base, f"{name} has no 'labels' or 'targets' array; name one with "
                                  f"labels: ARRAY or targets: ARRAY")
    return out


MAX_NPZ_ENTRIES = 5_000_000     # entries of one array (then Python lists of floats: ≈ 160 MB)


def _check_header(ctx, raw: bytes, arr_name: str, path: tuple, name: str) -> None:
    """Read the shape and dtype from the .npy header inside the zip before NumPy allocates the
    array: a 2 MB archive can declare (and decompress to) gigabytes."""
    import zipfile
    from math import prod
    from numpy.lib import format as npy
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf, zf.open(f"{arr_name}.npy") as member:
            version = npy.read_magic(member)
            read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(
                version)
            if read is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = read(member, max_header_size=10_000)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ctx.error(path, f"{name}: array '{arr_name}' has no readable header ({e})") from None
    entries = prod(shape)
    if entries > MAX_NPZ_ENTRIES:
        raise ctx.error(path, f"{name}: array '{arr_name}' declares shape "
                              f"{'×'.join(map(str, shape))} ({entries:,} entries, "
                              f"{entries * dtype.itemsize / 2**20:,.0f} MiB); at most "
                              f"{MAX_NPZ_ENTRIES:,} entries are read")
