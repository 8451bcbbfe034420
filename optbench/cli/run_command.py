"""``optbench run``: plan file -> run specifications -> claimed, trained, stored runs."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rich.markup import escape

from optbench.errors import BadInput, DatabaseMissing, DataMissing, DeviceUnavailable
from optbench.execute.planning import Planned, expand, paper_values, stacking
from optbench.execute.runner import trains
from optbench.plan.planfile import load_plan_file
from optbench.report.console import make_console
from optbench.tasks.registry import DATASETS, get_task
from optbench.train.config import RunConfig
from optbench.train.record import Status


@dataclass(frozen=True)
class RunOptions:
    seeds: int | None = None
    device: str = "auto"
    db: str | None = None
    epochs: int | None = None
    tasks: Sequence[str] = ()
    data_dir: str | None = None
    dry_run: bool = False
    threads: int = 1
    stack: bool = True
    no_stack: str = "--no-stack"  # why seeds do not stack when ``stack`` is false
    stack_size: int | None = None
    retry_diverged: bool = False
    checkpoints: str | None = None
    executor: str = "local"  # or "ray"
    address: str | None = None  # of the Ray cluster's head


def run_plan_file(path: Path, options: RunOptions) -> int:
    """Train what is not stored yet; the exit status is 1 if any run failed, else 0."""
    console = make_console()
    plan_file = load_plan_file(path)
    for task in options.tasks:
        if task not in plan_file.tasks:
            raise BadInput(
                f"--task {task!r} is not a task of {path} (its tasks: {', '.join(plan_file.tasks)})"
            )
    tasks = tuple(options.tasks) or plan_file.tasks
    cluster = None
    if options.executor == "ray" and not options.dry_run:
        from optbench.execute.ray import connect

        for task in tasks:  # fail on a wrong name or a bad database before connecting
            get_task(task)
        _check_database(options.db)
        try:
            cluster = connect(options.address)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/] while connecting to Ray: nothing was trained")
            return 130
    try:
        if cluster is not None:
            device = cluster.device(options.device, options.threads)
        else:
            device = resolve_device(options.device, probe_only=options.dry_run)
        config = RunConfig(options.epochs or plan_file.epochs, plan_file.batch_size, device,
                           options.threads)  # fmt: skip
        planned = expand(plan_file, tasks, options.seeds or plan_file.seeds, config)
        paper = paper_values(plan_file)
        if options.stack and not plan_file.stack:
            options = replace(options, stack=False, no_stack="the plan file says stack: false")
        missing = missing_data(planned, options.data_dir)
        if options.dry_run:
            _print_dry_run(console, plan_file.experiment, planned, missing, config, options)
            if paper is not None:
                source = f" from {paper['source']}" if paper.get("source") else ""
                count = len(paper["cells"])
                values = "value" if count == 1 else "values"
                console.print(f"paper: {count} reported {values}{escape(source)}")
            return 0
        if missing and not (cluster is not None and cluster.remote):  # workers have their own
            (name, hint), *others = missing.items()
            also = ""
            if others:
                names = ", ".join(other for other, _ in others)
                also = f" (also missing: {names}; --dry-run says how to get each)"
            raise DataMissing(f"dataset {name!r} not found: {hint}{also}")
        return _train(console, plan_file, planned, paper, config, options, cluster)
    finally:
        if cluster is not None:
            cluster.close()


def _check_database(db: str | None) -> None:
    """Raise what opening ``db`` would (a file that is not a database, a bad URL, a
    server that refuses), reading only: a database not there yet is created later."""
    from optbench.store.engine import open_store

    with contextlib.suppress(DatabaseMissing):
        open_store(db, read_only=True).close()


def resolve_device(requested: str, probe_only: bool = False) -> str:
    """``auto`` -> ``cuda`` when a CUDA device works, else ``cpu``; ``cuda`` without one is
    an error. ``probe_only`` (dry runs) decides without importing torch: an NVIDIA
    driver on the machine counts as a working device."""
    if probe_only:
        if requested != "auto":
            return requested
        nvidia = Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi")
        return "cuda" if nvidia else "cpu"
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("--device cuda: no CUDA device is available on this machine")
    return requested


def missing_data(planned: Sequence[Planned], data_dir: str | None) -> dict[str, str]:
    """Datasets the runs need that are not found: name -> how to get them."""
    needed = {get_task(p.spec.task).dataset for p in planned}
    return {d: DATASETS[d].hint for d in sorted(needed) if not DATASETS[d].available(data_dir)}


def _train(console, plan_file, planned, paper, config, options: RunOptions, cluster=None) -> int:
    from optbench.cli.progress import LiveProgress, LogProgress, describe
    from optbench.execute.checkpoints import Checkpoints, default_folder
    from optbench.execute.local import LocalExecutor, check_groups
    from optbench.execute.runner import Runner
    from optbench.store.engine import open_store, resolve_url

    folder = (
        Path(options.checkpoints)
        if options.checkpoints
        else default_folder(resolve_url(options.db))
    )
    labels = {p.spec.key: p.label for p in planned}
    if cluster is not None:
        from optbench.execute.ray import RayExecutor

        def retried(job, what: str) -> None:
            console.print(f"[yellow]retried[/]  {escape(describe(job, labels))}: {escape(what)}")

        executor = RayExecutor(cluster, config.device, config.threads, options.data_dir,
                               options.stack_size, retried=retried)  # fmt: skip
    else:
        executor = LocalExecutor(config.device, config.threads, options.data_dir,
                                 options.stack_size)  # fmt: skip
    # everything that can be checked is, before the database is opened or created
    if cluster is None:
        executor.prepare({p.spec.task for p in planned})
    check_groups(planned, config.device if cluster is None else "cpu", options.data_dir,
                 getattr(executor, "cache", {}))  # fmt: skip
    checkpoints = Checkpoints(folder)
    checkpoints.check_writable()
    store = open_store(options.db)
    try:
        specs = [p.spec for p in planned]
        states = store.plan_runs(
            plan_file.experiment,
            specs,
            labels=[p.label for p in planned],
            paper=paper if paper is not None else {},  # the file is the truth: none clears
        )
        todo = sum(trains(s.status, options.retry_diverged) for s in states)
        console.print(
            f"[bold]{escape(plan_file.experiment)}[/]: {_runs(todo)} to train, "
            f"{len(planned) - todo} already stored; {config.describe()}"
        )
        watch = LiveProgress if sys.stdout.isatty() else LogProgress
        with watch(console, todo * config.epochs, labels) as progress:
            runner = Runner(store, checkpoints, stack=options.stack,
                            retry_diverged=options.retry_diverged, progress=progress,
                            width=executor.width)  # fmt: skip
            try:
                summary = runner.train(planned, states, executor)
            except KeyboardInterrupt:
                console.print(
                    "[yellow]interrupted[/]: finished epochs and runs are stored, the runs in "
                    "progress are marked interrupted and keep their checkpoints; run the same "
                    "command again to go on"
                )
                return 130
    finally:
        store.close()
    failed = summary.count(Status.FAILED)
    console.print(
        f"trained {_runs(len(summary.finished))}: {summary.count(Status.DONE)} done, "
        f"{summary.count(Status.DIVERGED)} diverged, {failed} failed"
        + (f"; {summary.elsewhere} held by other runners" if summary.elsewhere else "")
        + (f"; {summary.lost} taken over by other runners" if summary.lost else "")
    )
    return 1 if failed else 0


def _runs(n: int) -> str:
    return f"{n} run" + ("s" if n != 1 else "")


def _print_dry_run(console, experiment, planned, missing, config, options: RunOptions) -> None:
    from rich.table import Table

    statuses = _stored_statuses(options.db, planned)
    groups: dict[tuple[str, str], list[Planned]] = {}
    for p in planned:
        groups.setdefault((p.spec.task, p.label), []).append(p)
    todo = sum(trains(statuses.get(p.spec.key, Status.PENDING), options.retry_diverged)
               for p in planned)  # fmt: skip
    table = Table(
        title=f"{experiment}: {todo} of {len(planned)} runs to train ({config.describe()})"
    )
    for col in ("task", "plan", "seeds to run", "stored", "seeds train"):
        table.add_column(col)
    for (task, label), runs in groups.items():
        run = [
            p.spec.seed
            for p in runs
            if trains(statuses.get(p.spec.key, Status.PENDING), options.retry_diverged)
        ]
        stacks, why = stacking(runs[0].spec.plan, task, options.stack, options.no_stack)
        how = "stacked in one pass" if stacks else f"separately: {why}"
        shown = ", ".join(map(str, run)) if run else "-"
        table.add_row(task, escape(label), shown, str(len(runs) - len(run)), how)
    console.print(table)
    for name, hint in missing.items():
        console.print(f"[yellow]missing data[/] {name}: {escape(hint)}")


def _stored_statuses(db: str | None, planned: Sequence[Planned]) -> dict[str, Status]:
    """The stored status of each planned run, read without creating anything; empty when
    there is no database yet."""
    from optbench.store.engine import open_store

    try:
        store = open_store(db, create=False)
    except DatabaseMissing:
        return {}
    try:
        stored = store.lookup([p.spec for p in planned])
    finally:
        store.close()
    return {p.spec.key: s.status for p, s in zip(planned, stored, strict=True) if s is not None}
