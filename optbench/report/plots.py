"""Plots as PNG or SVG, drawn headless (a matplotlib ``Figure``, no pyplot, no display).

- ``plot_curves``: a metric over epochs per plan, the mean over seeds with a ±1 std band,
  one panel per task and configuration (runs of different configurations are never
  pooled; the panel's title says which); the stage boundaries the runs actually took are
  dashed lines in the plan's colour (darker where more runs took them — a stage that ends
  on a plateau condition may end at a different epoch in each run). A plan keeps its
  colour whatever ``--plan`` selects: colours follow the plans' order among all plans of
  the runs read.
- ``plot_lr``: the LR curve of one or more plans laid over the same epochs, as [ANN]
  Figure 1 compares annealing methods; stage boundaries dotted. Curves that coincide over
  part of the epochs (``sig`` and ``warmup+sig`` after the warm-up) stay findable: each
  has its own line style, width and markers, at staggered places, and the legend names
  each plan as it was written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from optbench.errors import BadInput, OptbenchError
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import stage_epochs
from optbench.report import configs
from optbench.report.labels import short_label
from optbench.train.schedule import lr_curve

# a plan's colour: matplotlib's ten, then the lighter halves of tab20
PALETTE = [f"C{i}" for i in range(10)] + [
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]  # fmt: skip
# line styles, widths and markers, one per curve: overlapping curves stay visible
STYLES = ["-", "--", "-.", ":"]
WIDTHS = [3.0, 2.2, 1.6, 1.2]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

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


def _label_of(written: str) -> str | None:
    """A plan as the user writes it -> the label ``compare`` shows (defaults dropped);
    None when it does not parse."""
    try:
        return short_label(format_plan(resolve(parse_plan(written))))
    except OptbenchError:
        return None


def colours(labels) -> dict[str, str]:
    """A colour per label, by the labels' sorted order: the same plan gets the same colour
    whichever of them a plot shows."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def _select(frame: pd.DataFrame, plans: Sequence[str]) -> pd.DataFrame:
    """The runs of the plans named as ``compare`` labels them, as a plan file writes them,
    or as any text that parses to the same plan; ``BadInput`` naming the stored plans."""
    short = frame["plan"].map(short_label)
    keep = pd.Series(False, index=frame.index)
    unknown = []
    for written in plans:
        text = " ".join(written.split())
        label = _label_of(written)
        match = (frame["label"] == text) | (short == text)
        if label is not None:
            match |= short == label
        if not match.any():
            unknown.append(written)
        keep |= match
    if unknown:
        stored = ", ".join(sorted(set(frame["label"]))) or "none"
        raise BadInput(f"no runs of {', '.join(unknown)} (stored plans: {stored})")
    return frame[keep]


def plot_curves(
    frame: pd.DataFrame, out: Path, *, y: str = "val_acc", plans: Sequence[str] = ()
) -> Path:
    """Learning curves of ``load_results``'s frame: per task and configuration a panel,
    per plan the mean of ``y`` over its runs at each epoch with a ±1 std band, and its
    stage boundaries."""
    if y not in CURVES:
        raise BadInput(f"unknown curve {y!r} (one of {', '.join(CURVES)})")
    frame = frame[frame["epoch"].notna()]
    colour = colours(frame["label"])
    if plans:
        frame = _select(frame, plans)
    if frame.empty:
        raise BadInput("no finished runs with epochs to plot: train some with 'optbench run'")
    if "config" not in frame:
        frame = frame.assign(config="")
    panels = sorted(
        frame.groupby(["task", "config_hash"], sort=True),
        key=lambda kv: (kv[0][0], configs.order(kv[1].iloc[0].to_dict())),
    )
    figure = Figure(figsize=(8, 3.6 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, ((task, _), per_panel) in zip(axes, panels, strict=True):
        for label, runs in per_panel.groupby("label", sort=True):
            _curve(ax, runs, y, str(label), colour[label])
        config = per_panel["config"].iloc[0]
        ax.set_title(
            f"{task}: {CURVES[y]}, mean ± std over seeds; dashed: stage boundaries"
            + (f"\n{config}" if config else ""),
            fontsize=10,
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
    unless written), sampled per step, in one figure; stage boundaries dotted. Each curve
    has its own colour (by the plans' sorted order), line style, width and markers
    (placed at staggered epochs), so that curves that coincide stay visible."""
    if not expressions:
        raise BadInput("give at least one plan expression")
    written = [" ".join(e.split()) for e in expressions]
    plans = [parse_plan(e) for e in expressions]
    colour = colours(written)
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    count = len(plans)
    for i, (text, plan) in enumerate(zip(written, plans, strict=True)):
        resolved = resolve(plan)
        curve = lr_curve(resolved, epochs, steps_per_epoch, points=max(400, 4 * epochs))
        color = colour[text]
        spacing = max(1, len(curve) // 10)
        ax.plot(
            [x for x, _ in curve],
            [lr for _, lr in curve],
            color=color,
            label=text,
            linestyle=STYLES[i % len(STYLES)],
            linewidth=WIDTHS[i % len(WIDTHS)],
            marker=MARKERS[i % len(MARKERS)],
            markersize=5,
            markevery=(spacing * i // count, spacing),
            zorder=2 + i,  # later curves on top, thinner: the ones below show around them
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
