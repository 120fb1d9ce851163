"""Training reports: the SGD update tables of solve, the epoch table, progress bar and PNG plots."""
from __future__ import annotations

import io
import math
import sys

import numpy as np

from gradcalc.render import fmt
from gradcalc.render.i18n import pick
from gradcalc.render.tables import Table

WORDS = {
    "en": {
        "update": "SGD update (step 1): W ← W − lr·g",
        "updates": "SGD steps (full batch)",
        "quantity": "quantity", "value": "value",
        "norm": "‖g‖ (global norm over all parameters)",
        "clip": "clipping (η)", "none": "none", "clipped": "clipped", "not_clipped": "not clipped",
        "scale": "scale = η/‖g‖", "lr": "learning rate", "momentum": "momentum μ",
        "epoch": "epoch", "param": "parameter", "before": "before", "grad": "gradient g",
        "grad_clipped": "g after clipping", "after": "after", "step": "step",
        "loss_before": "loss before", "loss_after": "loss after",
        "loss": "loss", "accuracy": "accuracy", "mean_norm": "mean ‖g‖",
        "epochs": "Training", "yes": "yes", "no": "no",
        "rule": "if ‖g‖ > η then g ← η·g/‖g‖; then W ← W − lr·g",
        "momentum_rule": "with momentum: v ← μ·v + g, W ← W − lr·v (v = g at step 1)",
        "shown": "one row every {k} epochs, and the last; --format json has all {n}",
        "value_col": "value", "final": "final", "sweep": "Sweep",
        "params_title": "Parameters after the step: W ← W − lr·g",
        "params_after": "Parameters after step {k}",
        "run_epochs": "{n} epochs", "run_epoch": "1 epoch", "final_loss": "final loss {v}",
        "run_accuracy": "accuracy {v}%", "wrote": "wrote {path}",
    },
    "zh": {
        "update": "SGD 更新（第 1 步）：W ← W − lr·g",
        "updates": "SGD 多步更新（全批量）",
        "quantity": "量", "value": "值",
        "norm": "‖g‖（所有参数梯度的全局范数）",
        "clip": "梯度裁剪（η）", "none": "无", "clipped": "已裁剪", "not_clipped": "未裁剪",
        "scale": "缩放 = η/‖g‖", "lr": "学习率", "momentum": "动量 μ",
        "epoch": "轮次", "param": "参数", "before": "更新前", "grad": "梯度 g",
        "grad_clipped": "裁剪后的 g", "after": "更新后", "step": "步",
        "loss_before": "更新前损失", "loss_after": "更新后损失",
        "loss": "损失", "accuracy": "准确率", "mean_norm": "平均 ‖g‖",
        "epochs": "训练", "yes": "是", "no": "否",
        "rule": "若 ‖g‖ > η，则 g ← η·g/‖g‖；然后 W ← W − lr·g",
        "momentum_rule": "动量：v ← μ·v + g，W ← W − lr·v（第 1 步 v = g）",
        "shown": "每 {k} 轮显示一行，另加最后一轮；--format json 含全部 {n} 轮",
        "value_col": "值", "final": "最终", "sweep": "参数扫描",
        "params_title": "更新后的参数：W ← W − lr·g",
        "params_after": "第 {k} 步后的参数",
        "run_epochs": "{n} 轮", "run_epoch": "1 轮", "final_loss": "最终损失 {v}",
        "run_accuracy": "准确率 {v}%", "wrote": "已写入 {path}",
    },
}


def run_summary(result, lang: str = "en") -> str:
    """One line after a training run: epochs, final loss, accuracy (and the sweep label)."""
    w = _w(lang)
    n = len(result.records)
    parts = [w["run_epoch"] if n == 1 else w["run_epochs"].format(n=n)]
    if result.final_loss is not None:
        parts.append(w["final_loss"].format(v=fmt.num(result.final_loss, 6)))
    if result.final_accuracy is not None:
        parts.append(w["run_accuracy"].format(v=f"{100 * result.final_accuracy:.1f}"))
    sep = "，" if lang == "zh" else ", "
    return (f"{result.label}: " if result.label else "") + sep.join(parts)


def wrote_line(path, lang: str = "en") -> str:
    return _w(lang)["wrote"].format(path=path)


def _w(lang: str) -> dict:
    return pick(WORDS, lang)


# ---------------------------------------------------------------- solve: the update step
def update_tables(sol, lang="en", precision=4) -> list[Table]:
    """The SGD update of a solution (`sol.update`): the first step in detail, then K steps."""
    report = sol.update
    if report is None:
        return []
    w = _w(lang)
    opt = report.optimizer
    first = report.steps[0]
    info = first.info
    rows = [[w["norm"], fmt.num(info.grad_norm, precision)]]
    if opt.clip is None:
        rows.append([w["clip"], w["none"]])
    else:
        state = w["clipped"] if info.clipped else w["not_clipped"]
        rows.append([w["clip"], f"{fmt.num(opt.clip, precision)} ({state})"])
        rows.append([w["scale"] if info.clipped else "scale", fmt.num(info.scale, precision)])
    rows.append([w["lr"], f"{fmt.num(info.lr, precision)} ({w['epoch']} 0)"])
    if opt.momentum:
        rows.append([w["momentum"], fmt.num(opt.momentum, precision)])
    rows.append([w["loss_before"], fmt.num(first.loss_before, precision)])
    rows.append([w["loss_after"], fmt.num(first.loss_after, precision)])
    note = w["rule"] + (" — " + w["momentum_rule"] if opt.momentum else "")
    summary = Table(w["update"], [w["quantity"], w["value"]], rows, note=note,
                    kinds=["text", "num"])
    gname = w["grad_clipped"] if info.clipped else w["grad"]
    prow = [[n, fmt.value(report.start[n], precision, multiline=True),
             fmt.value(first.grads[n], precision, multiline=True),
             fmt.value(first.params[n], precision, multiline=True)] for n in report.names]
    params = Table(w["params_title"], [w["param"], w["before"], gname, w["after"]], prow,
                   kinds=["text", "num", "num", "num"])
    tables = [summary, params]
    if len(report.steps) > 1:
        srows = [[str(s.step), fmt.num(s.info.lr, precision), fmt.num(s.info.grad_norm, precision),
                  (f"{w['yes']} ×{fmt.num(s.info.scale, precision)}" if s.info.clipped else w["no"]),
                  fmt.num(s.loss_before, precision), fmt.num(s.loss_after, precision)]
                 for s in report.steps]
        tables.append(Table(w["updates"], [w["step"], w["lr"], "‖g‖", w["clipped"],
                                           w["loss_before"], w["loss_after"]], srows,
                            kinds=["num", "num", "num", "text", "num", "num"]))
        last = report.steps[-1]
        tables.append(Table(w["params_after"].format(k=last.step), [w["param"], w["value_col"]],
                            [[n, fmt.value(last.params[n], precision, multiline=True)]
                             for n in report.names], kinds=["text", "num"]))
    return tables


# ---------------------------------------------------------------- train: tables
def _clipped_text(r, w) -> str:
    if r.clipped == 0:
        return w["no"]
    if r.batches == 1:
        return w["yes"]
    return f"{r.clipped}/{r.batches}"


def shown_epochs(n: int, max_rows: int = 25) -> tuple[list[int], int]:
    """Indices of the records to show: all if few, else every k-th and the last."""
    if n <= max_rows:
        return list(range(n)), 1
    k = math.ceil(n / (max_rows - 1))
    idx = list(range(0, n, k))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return idx, k


def epoch_table(result, lang="en", precision=4, max_rows: int = 25) -> Table:
    w = _w(lang)
    records = result.records
    has_acc = result.final_accuracy is not None
    idx, k = shown_epochs(len(records), max_rows)
    cols = [w["epoch"], w["lr"], w["loss"]] + ([w["accuracy"]] if has_acc else []) + \
        [w["mean_norm"], w["clipped"]]
    rows = []
    for i in idx:
        r = records[i]
        row = [str(r.epoch), fmt.num(r.lr, precision), fmt.num(r.loss, precision)]
        if has_acc:
            row.append(_pct(r.accuracy))
        row += [fmt.num(r.grad_norm, precision), _clipped_text(r, w)]
        rows.append(row)
    final = [w["final"], "", fmt.num(result.final_loss, precision) if result.final_loss is not None
             else "—"]
    if has_acc:
        final.append(_pct(result.final_accuracy))
    final += ["", ""]
    rows.append(final)
    note = w["shown"].format(k=k, n=len(records)) if k > 1 else ""
    title = f"{w['epochs']}: {result.problem.title}" + (f" [{result.label}]" if result.label else "")
    return Table(title, cols, rows, note=note,
                 kinds=["num", "num", "num"] + (["num"] if has_acc else []) + ["num", "text"])


def sweep_table(results, key: str, lang="en", precision=4) -> Table:
    w = _w(lang)
    has_acc = any(r.final_accuracy is not None for r in results)
    has_stop = any(r.stopped for r in results)
    rows = []
    for r in results:
        row = [r.label.partition("=")[2], fmt.num(r.final_loss, precision)
               if r.final_loss is not None else "—"]
        if has_acc:
            row.append(_pct(r.final_accuracy))
        if has_stop:
            row.append(r.stopped or "")
        rows.append(row)
    cols = [key, f"{w['final']} {w['loss']}"] + ([w["accuracy"]] if has_acc else []) + \
        (["stopped"] if has_stop else [])
    return Table(f"{w['sweep']}: {key}", cols, rows,
                 kinds=["text", "num"] + (["num"] if has_acc else []) + (["text"] if has_stop else []))


def _pct(a) -> str:
    return "—" if a is None else f"{100 * a:.1f}%"


# ---------------------------------------------------------------- train: progress bar
class TrainProgress:
    """A rich progress bar on stderr (only on a terminal); `update(record)` after each epoch."""

    def __init__(self, total: int, description: str = "training", enabled: bool = True):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None
        self.description = description if len(description) <= 40 else description[:39] + "…"
        self._last = 0.0

    def __enter__(self):
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)
            from gradcalc.render.console import make_console
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                                      TimeRemainingColumn(), console=make_console(file=sys.stderr),
                                      transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, status="")
        return self

    def update(self, record) -> None:
        if self._progress is None:
            return
        import time
        now = time.monotonic()
        if now - self._last < 0.1 and record.epoch + 1 < self.total:
            return                       # redraw at most 10 times a second: epochs are µs
        self._last = now
        status = f"loss {fmt.num(record.loss, 4)}"
        if record.accuracy is not None:
            status += f"  acc {_pct(record.accuracy)}"
        self._progress.update(self._task, completed=record.epoch + 1, status=status)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False


# ---------------------------------------------------------------- PNG plots (matplotlib, Agg)
def _figure(width: float, height: float):
    # the Agg canvas directly: no pyplot, no global backend switch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> None:
    from gradcalc.fileio import write_atomic   # all or nothing; errors are one-line UsageErrors
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())


def _log_if_wide(ax, values) -> None:
    """A log y axis when positive values span more than a factor 20."""
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")


def plot_curves(result, path) -> None:
    """Loss (and accuracy) and learning rate per epoch."""
    recs = result.records
    epochs = [r.epoch for r in recs]
    has_acc = result.final_accuracy is not None
    n = 3 if has_acc else 2
    fig = _figure(4.0 * n, 3.4)
    ax = fig.add_subplot(1, n, 1)
    losses = [r.loss for r in recs]
    ax.plot(epochs, losses, color="tab:blue")
    _log_if_wide(ax, losses)
    ax.set_xlabel("epoch")
    ax.set_title("loss (mean over the epoch)")
    ax.grid(alpha=0.3)
    if has_acc:
        ax = fig.add_subplot(1, n, 2)
        ax.plot(epochs, [r.accuracy for r in recs], color="tab:green")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("epoch")
        ax.set_title("accuracy")
        ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, n, n)
    lrs = [r.lr for r in recs]
    ax.step(epochs, lrs, where="post", color="tab:orange")
    _log_if_wide(ax, lrs)
    ax.set_xlabel("epoch")
    ax.set_title("learning rate")
    ax.grid(alpha=0.3)
    fig.suptitle(result.problem.title + (f" [{result.label}]" if result.label else ""))
    fig.tight_layout()
    _save(fig, path)


def _boundary(ax, result, grid: int = 200) -> None:
    from gradcalc.train.loop import predicted_class, true_class
    X = np.asarray(result.problem.x, dtype=float)
    y = true_class(result.problem)
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.c_[gx.ravel(), gy.ravel()]
    with np.errstate(all="ignore"):
        scores = result.predict(pts)
    cls = predicted_class(scores, result.problem.loss.type).reshape(gx.shape)
    from matplotlib.colors import ListedColormap
    scores = np.atleast_2d(scores)
    k = scores.shape[1] if scores.shape[1] > 1 else 2     # one bce output: two classes
    base = [f"C{i % 10}" for i in range(k)]
    ax.contourf(gx, gy, cls, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(base), alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=ListedColormap(base), vmin=-0.5, vmax=k - 0.5,
               s=14, edgecolors="black", linewidths=0.4)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])


def _boundary_title(result) -> str:
    parts = [result.label] if result.label else []
    if result.final_accuracy is not None:
        parts.append(f"accuracy {_pct(result.final_accuracy)}")
    if result.final_loss is not None:
        parts.append(f"loss {fmt.num(result.final_loss, 3)}")
    return ", ".join(parts)


def plot_boundary(result, path) -> None:
    """Decision regions of a 2-D classification problem with its data points."""
    fig = _figure(5.2, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    _boundary(ax, result)
    ax.set_title(result.problem.title + "\n" + _boundary_title(result), fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_sweep(results, key: str, path) -> None:
    """The decision regions of every sweep value, side by side."""
    k = len(results)
    fig = _figure(3.6 * k, 4.0)
    for i, r in enumerate(results, 1):
        ax = fig.add_subplot(1, k, i)
        _boundary(ax, r)
        ax.set_title(_boundary_title(r), fontsize=9)
    fig.suptitle(f"{results[0].problem.title}: sweep of {key}")
    fig.tight_layout()
    _save(fig, path)


def plot_sweep_curves(results, key: str, path) -> None:
    """The loss per epoch of every sweep value in one plot."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for r in results:
        ax.plot([x.epoch for x in r.records], [x.loss for x in r.records], label=r.label)
    _log_if_wide(ax, [x.loss for r in results for x in r.records])
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{results[0].problem.title}: sweep of {key}")
    fig.tight_layout()
    _save(fig, path)
