"""Bodies of ``optbench baseline save|export|list`` and ``optbench check``.

Imported inside the command bodies only, so ``optbench --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from optbench.errors import BadInput
from optbench.report.metrics import EPOCH_COLUMNS, get_metric


def plan_file_plans(path: Path) -> tuple[str, dict[tuple[str, str], str]]:
    """(experiment, {(task, stored plan): name}) of a plan file: every plan of every task,
    named as the file writes it (canonical, file defaults not spelled out), stored as
    ``optbench run`` stores it (resolved with the file's defaults)."""
    from optbench.plan.canonical import format_plan, resolve
    from optbench.plan.planfile import load_plan_file

    plan_file = load_plan_file(path)
    return plan_file.experiment, {
        (task, format_plan(resolve(plan, plan_file.defaults))): format_plan(plan)
        for task in plan_file.tasks
        for plan in plan_file.plans
    }


def _epochs_if_needed(store, metric_name: str, rows: list[dict]) -> list[dict] | None:
    if not get_metric(metric_name).needs_epochs:
        return None
    return store.epoch_rows(run_ids=[r["id"] for r in rows], columns=EPOCH_COLUMNS)


def baseline_save_command(
    name: str,
    db: str | None,
    experiment: str | None,
    plan_file: Path | None,
    task: str | None,
    metric: str,
    json_path: Path | None,
    replace: bool,
) -> None:
    from optbench.report.baseline import snapshot, write_json
    from optbench.store.engine import open_store

    get_metric(metric)
    names = plan_file_plans(plan_file)[1] if plan_file else None
    store = open_store(db, create=False)
    try:
        rows = store.run_rows(experiment=experiment, task=task)
        if names is not None:
            rows = [r for r in rows if (r["task"], r["plan"]) in names]
        baseline = snapshot(
            name,
            rows,
            metric,
            _epochs_if_needed(store, metric, rows),
            experiment=experiment,
            names=names,
        )
        store.save_baseline(baseline, replace=replace)
    finally:
        store.close()
    runs = sum(e["n"] for e in baseline["entries"])
    typer.echo(
        f"saved baseline {name!r}: {len(baseline['entries'])} plans x tasks, {runs} runs, "
        f"metric {baseline['metric']}"
    )
    if json_path is not None:
        typer.echo(f"wrote {write_json(baseline, json_path)}")


def _stored_baseline(store, name: str) -> dict[str, Any]:
    baseline = store.baseline(name)
    if baseline is None:
        known = ", ".join(b["name"] for b in store.baselines()) or "none"
        raise BadInput(
            f"no baseline named {name!r} in the database (baselines: {known}), "
            "and no such JSON file"
        )
    return baseline


def baseline_export_command(name: str, path: Path, db: str | None) -> None:
    from optbench.report.baseline import write_json
    from optbench.store.engine import open_store

    store = open_store(db, create=False)
    try:
        baseline = _stored_baseline(store, name)
    finally:
        store.close()
    typer.echo(f"wrote {write_json(baseline, path)}")


def baseline_list_command(db: str | None) -> None:
    from rich.table import Table

    from optbench.store.engine import open_store

    store = open_store(db, create=False)
    try:
        baselines = store.baselines()
    finally:
        store.close()
    if not baselines:
        typer.echo("no baselines yet: save one with 'optbench baseline save NAME'")
        return
    table = Table(title="baselines")
    for col in ("name", "metric", "experiment", "plans x tasks", "saved", "versions"):
        table.add_column(col)
    for b in baselines:
        versions = ", ".join(f"{k} {v}" for k, v in sorted((b["versions"] or {}).items()))
        table.add_row(
            escape(b["name"]),
            b["metric"],
            escape(b["experiment"] or "-"),
            str(b["entries"]),
            f"{b['created_at']:%Y-%m-%d %H:%M} UTC",
            escape(versions),
        )
    console = Console()
    if not console.is_terminal:  # a file or a pipe: no wrapping
        console.width = 160
    console.print(table)


def load_baseline(reference: str, db: str | None) -> dict[str, Any]:
    """A baseline by JSON file (a path that exists or ends in .json) or by name in the
    database."""
    from optbench.report.baseline import read_json
    from optbench.store.engine import open_store

    if reference.endswith(".json") or Path(reference).is_file():
        return read_json(reference)
    store = open_store(db, create=False)
    try:
        return _stored_baseline(store, reference)
    finally:
        store.close()


def check_command(
    reference: str,
    db: str | None,
    experiment: str | None,
    plan_file: Path | None,
    alpha: float,
    tolerance: float,
    junit: Path | None,
    strict: bool,
) -> int:
    """Judge the latest runs against a baseline; 1 when the gate fails, else 0."""
    from optbench.report.gate import (
        check_baseline,
        failed,
        junit_xml,
        render_check,
        version_note,
    )
    from optbench.store.engine import open_store

    if not 0.0 < alpha < 1.0:
        raise BadInput(f"--alpha must be between 0 and 1, got {alpha}")
    if tolerance < 0:
        raise BadInput(f"--tolerance must be at least 0, got {tolerance}")
    baseline = load_baseline(reference, db)
    targets = None
    if plan_file is not None:
        named = plan_file_plans(plan_file)[1]
        targets = {(task, name): plan for (task, plan), name in named.items()}
    store = open_store(db, create=False)
    try:
        rows = store.run_rows(experiment=experiment)
        epochs = _epochs_if_needed(store, baseline["metric"], rows)
    finally:
        store.close()
    verdicts = check_baseline(
        baseline, rows, epochs, targets=targets, alpha=alpha, tolerance=tolerance
    )
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    judged = {(v.task, v.plan) for v in verdicts}
    note = version_note(baseline, [r for r in rows if (r["task"], r["plan"]) in judged])
    console.print(render_check(verdicts, baseline, alpha, tolerance, note))
    if junit is not None:
        text = junit_xml(verdicts, baseline, alpha=alpha, tolerance=tolerance, strict=strict)
        try:
            junit.parent.mkdir(parents=True, exist_ok=True)
            junit.write_text(text, encoding="utf-8")
        except OSError as e:
            raise BadInput(f"cannot write {junit}: {e.strerror or e}") from e
        console.print(f"wrote {escape(str(junit))}")
    return 1 if failed(verdicts, strict=strict) else 0
