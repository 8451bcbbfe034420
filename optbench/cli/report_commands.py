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
    """Print the ranked tables of runs of every status (finished, diverged, failed, not
    finished: each counted); epoch rows are read only for epoch-based metrics."""
    from optbench.report import stored
    from optbench.report.console import echo, make_console

    metric = get_metric(metric_name)
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if not 0.0 < alpha < 1.0:
        raise BadInput(f"--alpha must be between 0 and 1, got {alpha}")
    store = open_for_reading(db)
    try:
        rows = stored.run_rows(store, experiment, task)
        paper = stored.paper_of(store, experiment)
        if not any(c.task == task for c in paper.cells):  # else: its paper cells not run
            stored.check_task(store, rows, experiment, task)
        epochs = None
        if metric.needs_epochs:
            done = [r["id"] for r in rows if r.get("status", "done") == "done"]
            epochs = store.epoch_rows(run_ids=done, columns=EPOCH_COLUMNS)
    finally:
        store.close()
    if fmt == "table":
        from optbench.report.compare import render_compare

        console = make_console()
        # crop=False: on a console too narrow for the narrowest layout, lines wrap, never cut
        console.print(render_compare(rows, metric, epochs, alpha, paper, task), crop=False)
        return
    from optbench.report.export import export_compare

    echo(export_compare(rows, fmt, metric, epochs, alpha, paper, task))


def open_for_reading(db: str | None):
    """The results database, opened for reading only (nothing created or written, so a
    database on read-only media can be compared); a missing one says how to fill it."""
    from optbench.errors import DatabaseMissing
    from optbench.store.engine import open_store

    try:
        return open_store(db, read_only=True)
    except DatabaseMissing as e:
        raise DatabaseMissing(
            f"{e}: train some runs with 'optbench run PLAN.yaml', or pass --db"
        ) from None


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
