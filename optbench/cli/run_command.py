"""``optbench run``: plan file -> pending jobs -> live progress -> stored runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from optbench import jobs
from optbench.plan.planfile import load_plan_file
from optbench.train.record import Status

_MARK = {Status.DONE: "[green]done[/]", Status.DIVERGED: "[yellow]diverged[/]",
         Status.FAILED: "[red]failed[/]"}  # fmt: skip


def run_plan_file(
    path: Path,
    seeds: int | None,
    device: str,
    db: str | None,
    epochs: int | None,
    tasks: Sequence[str],
    data_dir: str | None,
    dry_run: bool,
    threads: int | None = None,
) -> int:
    """Train what is not stored yet; the exit status is 1 if any run failed, else 0."""
    from optbench.store.engine import open_store
    from optbench.train.config import RunConfig

    console = Console(highlight=False)
    plan_file = load_plan_file(path)
    all_jobs = jobs.expand(plan_file, tasks or plan_file.tasks, seeds or plan_file.seeds)
    missing = jobs.missing_data(all_jobs, data_dir)
    if not dry_run:
        if missing:
            from optbench.errors import DataMissing

            name, hint = next(iter(missing.items()))
            raise DataMissing(f"dataset {name!r} not found: {hint}")
        device = jobs.resolve_device(device)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
    config = RunConfig(epochs or plan_file.epochs, plan_file.batch_size, device)
    store = open_store(db)
    try:
        todo = jobs.pending(store, all_jobs, config.hash)
        if dry_run:
            _print_dry_run(console, plan_file.experiment, all_jobs, todo, missing, config)
            return 0
        jobs.link_done(store, plan_file.experiment, all_jobs, config.hash)
        console.print(
            f"[bold]{escape(plan_file.experiment)}[/]: {len(todo)} runs to train, "
            f"{len(all_jobs) - len(todo)} already stored; device {config.device}"
        )
        try:
            summary = _train_with_progress(
                console, store, plan_file.experiment, todo, config, data_dir
            )
        except KeyboardInterrupt:
            console.print(
                "[yellow]interrupted[/]: finished runs are stored and the one in progress is "
                "marked interrupted; run the same command again to go on"
            )
            return 130
    finally:
        store.close()
    failed = summary.count(Status.FAILED)
    console.print(
        f"trained {len(summary.trained)} runs: {summary.count(Status.DONE)} done, "
        f"{summary.count(Status.DIVERGED)} diverged, {failed} failed"
    )
    return 1 if failed else 0


def _train_with_progress(console, store, experiment, todo, config, data_dir) -> jobs.Summary:
    summary = jobs.Summary()
    total_epochs = len(todo) * config.epochs
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("training", total=total_epochs)

        def on_start(job: jobs.Job) -> None:
            progress.update(bar, description=f"{job.task} {escape(job.display)} seed {job.seed}")

        def on_done(job: jobs.Job, record) -> None:
            acc = (
                f"val acc {record.final.accuracy:.4f}"
                if record.final
                else escape(record.error or "")
            )
            progress.console.print(
                f"{_MARK[record.status]}  {job.task}  {escape(job.display)}  seed {job.seed}  {acc}"
            )
            # a run that stopped early still fills its share of the bar
            progress.update(bar, completed=(len(summary.trained) + 1) * config.epochs)

        for record in jobs.execute(
            store, experiment, todo, config, data_dir,
            on_start=on_start, on_epoch=lambda _: progress.advance(bar), on_done=on_done,
        ):  # fmt: skip
            summary.trained.append(record)
    return summary


def _print_dry_run(console, experiment, all_jobs, todo, missing, config) -> None:
    from rich.table import Table

    table = Table(title=f"{experiment}: {len(todo)} of {len(all_jobs)} runs to train "
                  f"({config.epochs} epochs, batch {config.batch_size})")  # fmt: skip
    for col in ("task", "plan", "seeds to run", "stored"):
        table.add_column(col)
    groups: dict[tuple[str, str], list[int]] = {}
    for job in all_jobs:
        groups.setdefault((job.task, job.display), [])
    for job in todo:
        groups[(job.task, job.display)].append(job.seed)
    per_key = {}
    for job in all_jobs:
        per_key[(job.task, job.display)] = per_key.get((job.task, job.display), 0) + 1
    for (task, plan), seeds in groups.items():
        shown = ", ".join(map(str, seeds)) if seeds else "-"
        table.add_row(task, escape(plan), shown, str(per_key[(task, plan)] - len(seeds)))
    console.print(table)
    for name, hint in missing.items():
        console.print(f"[yellow]missing data[/] {name}: {escape(hint)}")
