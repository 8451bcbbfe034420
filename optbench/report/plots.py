"""Plots as PNG or SVG, drawn headless (a matplotlib ``Figure``, no pyplot, no display).

- ``plot_curves``: a metric over epochs per plan, the mean over seeds with a ±1 std band,
  one panel per task; the stage boundaries the runs actually took are dashed lines in the
  plan's colour (darker where more runs took them — a stage that ends on a plateau
  condition may end at a different epoch in each run).
- ``plot_lr``: the LR curve of one or more plans laid over the same epochs, as [ANN]
  Figure 1 compares annealing methods; stage boundaries dotted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from optbench.errors import BadInput
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import stage_epochs
from optbench.report.labels import short_label
from optbench.train.schedule import lr_curve

IMAGE_SUFFIXES = (".png", ".svg")
CURVES = {
    "val_acc": "validation accuracy",
    "val_loss": "validation loss",
    "train_acc": "training accuracy",
    "train_loss": "training loss",
    "lr": "learning rate",
}


def check_image_path(out: Path) -> None:
    """``BadInput`` unless ``out`` ends in .png or .svg (the format follows the suffix)."""
    if Path(out).suffix.lower() not in IMAGE_SUFFIXES:
        raise BadInput(f"the image must end in .png or .svg (the format follows it), got {out}")


def _save(figure: Figure, out: Path) -> Path:
    out = Path(out)
    check_image_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # no timestamp in the file, so that the same data gives the same image
        metadata = {"Date": None} if out.suffix.lower() == ".svg" else {}
        figure.savefig(out, metadata=metadata, bbox_inches="tight")
    except OSError as e:
        raise BadInput(f"cannot write {out}: {e.strerror or e}") from e
    return out


def _label_of(written: str) -> str:
    """A plan as the user writes it -> the label ``compare`` shows (defaults dropped)."""
    return short_label(format_plan(resolve(parse_plan(written))))


def plot_curves(
    frame: pd.DataFrame, out: Path, *, y: str = "val_acc", plans: Sequence[str] = ()
) -> Path:
    """Learning curves of ``load_results``'s frame: per task a panel, per plan the mean of
    ``y`` over its runs at each epoch with a ±1 std band, and its stage boundaries."""
    if y not in CURVES:
        raise BadInput(f"unknown curve {y!r} (one of {', '.join(CURVES)})")
    frame = frame[frame["epoch"].notna()]
    if plans:
        wanted = {_label_of(p) for p in plans}
        unknown = wanted - set(frame["label"])
        if unknown:
            stored = ", ".join(sorted(set(frame["label"]))) or "none"
            raise BadInput(f"no runs of {', '.join(sorted(unknown))} (stored plans: {stored})")
        frame = frame[frame["label"].isin(wanted)]
    if frame.empty:
        raise BadInput("no finished runs with epochs to plot: train some with 'optbench run'")
    tasks = sorted(frame["task"].unique())
    figure = Figure(figsize=(8, 3.6 * len(tasks)), layout="constrained")
    axes = figure.subplots(len(tasks), 1, squeeze=False)[:, 0]
    for ax, task in zip(axes, tasks, strict=True):
        per_task = frame[frame["task"] == task]
        for i, (label, runs) in enumerate(per_task.groupby("label", sort=True)):
            _curve(ax, runs, y, str(label), f"C{i % 10}")
        ax.set_title(
            f"{task}: {CURVES[y]}, mean ± std over seeds; dashed: stage boundaries", fontsize=10
        )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(CURVES[y])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(figure, out)


def _curve(ax, runs: pd.DataFrame, y: str, label: str, color: str) -> None:
    stats = runs.groupby("epoch")[y].agg(["mean", "std"]).sort_index()
    epochs = stats.index.to_numpy(dtype=float)
    mean, std = stats["mean"].to_numpy(), stats["std"].fillna(0.0).to_numpy()
    per_run = runs.drop_duplicates("run_id")
    ax.plot(epochs, mean, color=color, label=f"{label} (n={len(per_run)})", linewidth=1.5)
    ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    # where each stage began, as taken by each run: a line between epochs s and s+1
    taken = Counter(s for starts in per_run["stage_starts"] for s in (starts or ()) if s > 0)
    for start, count in sorted(taken.items()):
        share = count / len(per_run)
        ax.axvline(start + 0.5, color=color, linestyle="--", linewidth=1, alpha=0.25 + 0.65 * share)


def plot_lr(
    expressions: Sequence[str],
    out: Path,
    *,
    epochs: int = 100,
    steps_per_epoch: int = 100,
    log: bool = False,
) -> Path:
    """The LR over epochs of each plan expression (every hyperparameter at its default
    unless written), sampled per step, in one figure; stage boundaries dotted."""
    if not expressions:
        raise BadInput("give at least one plan expression")
    plans = [parse_plan(e) for e in expressions]
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    for i, plan in enumerate(plans):
        resolved = resolve(plan)
        curve = lr_curve(resolved, epochs, steps_per_epoch, points=max(400, 4 * epochs))
        color = f"C{i % 10}"
        ax.plot(
            [x for x, _ in curve],
            [lr for _, lr in curve],
            color=color,
            label=format_plan(plan),
            linewidth=1.5,
        )
        lengths = stage_epochs(resolved, epochs)
        for boundary in [sum(lengths[: j + 1]) for j in range(len(lengths) - 1)]:
            ax.axvline(boundary, color=color, linestyle=":", linewidth=1, alpha=0.6)
    if log:
        ax.set_yscale("log")
    ax.set_title(f"learning rate ({steps_per_epoch} steps per epoch)", fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(figure, out)
