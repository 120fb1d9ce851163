"""The trained problem file: the problem's document with the trained weights written in."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from gradcalc.train.loop import TrainResult


def trained_document(problem, params: dict[str, np.ndarray], out_path: str | Path) -> dict:
    """The problem's own document with explicit trained W and b in every layer (width/init
    removed) and a relative data file path rewritten for the output's directory."""
    doc = copy.deepcopy(problem.source.data)
    for i, layer in enumerate(doc["layers"], 1):
        if not isinstance(layer, dict):
            continue
        # parameter name -> key in the layer: W1 -> W, b1 -> b, Wxh1 -> Wxh, h0_1 -> h0 …
        mine = {key: np.asarray(params[name]).tolist()
                for name, key in ((f"W{i}", "W"), (f"b{i}", "b"), (f"Wxh{i}", "Wxh"),
                                  (f"Whh{i}", "Whh"), (f"h0_{i}", "h0")) if name in params}
        if not mine:
            continue
        generated = "width" in layer or "init" in layer
        layer.pop("width", None)
        layer.pop("init", None)
        new = dict(mine) if generated else {}        # generated weights go first
        for k, v in layer.items():
            new[k] = mine.get(k, v)
        for k, v in mine.items():
            new.setdefault(k, v)
        layer.clear()
        layer.update(new)
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("file"), str):
        p = Path(data["file"])
        if not p.is_absolute():
            here = Path(problem.file).parent if problem.file and not problem.file.startswith("<") \
                else Path(".")
            target_dir = Path(out_path).resolve().parent
            data["file"] = os.path.relpath((here / p).resolve(), target_dir)
    return doc


def write_trained(result: TrainResult, out_path: str | Path) -> None:
    import yaml
    doc = trained_document(result.problem, result.params, out_path)
    head = (f"# Trained by gradcalc train from {result.problem.file}: {len(result.records)} "
            f"epoch{'s' if len(result.records) != 1 else ''}, batch size {result.batch_size}, "
            f"seed {result.seed}")
    if result.stopped:
        head += f"\n# Stopped early ({result.stopped}): " + result.message.replace("\n", " ")
    text = head + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None,
                                        allow_unicode=True, width=100)
    from gradcalc.fileio import write_atomic   # all or nothing; errors are one-line UsageErrors
    write_atomic(out_path, text)
