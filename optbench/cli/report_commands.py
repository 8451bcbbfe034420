"""Bodies of ``optbench compare`` and ``optbench plot ...``: read stored rows, report.

Imported inside the command bodies only, so ``optbench --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from optbench.errors import BadInput
from optbench.report.compare import FORMATS
from optbench.report.metrics import EPOCH_COLUMNS, get_metric


def compare_command(
    experiment: str | None,
    task: str | None,
    db: str | None,
    metric_name: str,
    fmt: str,
    alpha: float,
) -> None:
    """Print the ranked tables; epoch rows are read only for epoch-based metrics."""
    from optbench.store.engine import open_store

    metric = get_metric(metric_name)
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if not 0.0 < alpha < 1.0:
        raise BadInput(f"--alpha must be between 0 and 1, got {alpha}")
    store = open_store(db)
    try:
        rows = store.run_rows(experiment=experiment, task=task)
        epochs = None
        if metric.needs_epochs:
            epochs = store.epoch_rows(run_ids=[r["id"] for r in rows], columns=EPOCH_COLUMNS)
    finally:
        store.close()
    if fmt == "table":
        from rich.console import Console

        from optbench.report.compare import render_compare

        console = Console()
        if not console.is_terminal:  # a file or a pipe: no wrapping of wide tables
            console.width = 160
        console.print(render_compare(rows, metric, epochs, alpha))
        return
    from optbench.report.export import export_compare

    typer.echo(export_compare(rows, fmt, metric, epochs, alpha), nl=False)


def plot_curves_command(
    out: Path,
    experiment: str | None,
    task: str | None,
    db: str | None,
    y: str,
    plans: Sequence[str],
) -> None:
    from optbench.report.plots import check_image_path, plot_curves
    from optbench.report.results import load_results

    check_image_path(out)
    frame = load_results(db, experiment=experiment, task=task)
    written = plot_curves(frame, out, y=y, plans=plans)
    typer.echo(f"wrote {written}")


def plot_lr_command(
    expressions: Sequence[str], out: Path, epochs: int, steps_per_epoch: int, log: bool
) -> None:
    from optbench.report.plots import check_image_path, plot_lr

    check_image_path(out)
    written = plot_lr(expressions, out, epochs=epochs, steps_per_epoch=steps_per_epoch, log=log)
    typer.echo(f"wrote {written}")


def plot_track_command(expressions: Sequence[str], problem: str, steps: int, out: Path) -> None:
    from optbench.report.plots import check_image_path

    check_image_path(out)
    try:
        from optbench.report.track_plot import plot_tracks
    except ImportError as e:  # the toy problems are not part of this installation
        raise BadInput(f"optbench plot track is not available: {e}") from e
    written = plot_tracks(list(expressions), problem, steps, out)
    typer.echo(f"wrote {written}")
