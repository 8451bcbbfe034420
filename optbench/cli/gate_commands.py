"""Bodies of ``optbench baseline save|export|list`` and ``optbench check``.

Imported inside the command bodies only, so ``optbench --help`` stays light.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from optbench.cli.common import check_writable_file
from optbench.errors import BadInput
from optbench.report.console import make_console
from optbench.report.metrics import EPOCH_COLUMNS, get_metric


def plan_file_plans(path: Path) -> tuple[str, dict[tuple[str, str], str]]:
    """(experiment, {(task, stored plan): name}) of a plan file: every plan of every task,
    named as the file writes it (its text in the ``plans:`` list, as ``compare`` labels
    it), stored as ``optbench run`` stores it (resolved with the file's defaults)."""
    from optbench.plan.canonical import format_plan, resolve
    from optbench.plan.planfile import load_plan_file

    plan_file = load_plan_file(path)
    written = _written_plans(path, len(plan_file.plans))
    return plan_file.experiment, {
        (task, format_plan(resolve(plan, plan_file.defaults))): text or format_plan(plan)
        for task in plan_file.tasks
        for plan, text in zip(plan_file.plans, written, strict=True)
    }


def _written_plans(path: Path, count: int) -> list[str | None]:
    """The plan expressions as the file writes them, in order (whitespace tidied); Nones
    when they cannot be read apart from the parsed plans."""
    import yaml

    try:
        plans = yaml.safe_load(Path(path).read_text(encoding="utf-8")).get("plans")
    except (OSError, yaml.YAMLError, AttributeError):
        plans = None
    if not isinstance(plans, list) or len(plans) != count:
        return [None] * count
    return [" ".join(str(p).split()) if isinstance(p, str) else None for p in plans]


def _targets(path: Path) -> dict[tuple[str, str], str]:
    """(task, name) -> stored plan for ``check --plan-file``: by the name as written, and by
    its canonical form (how baselines saved before named plans)."""
    from optbench.errors import OptbenchError
    from optbench.plan.canonical import format_plan
    from optbench.plan.parser import parse_plan

    targets = {}
    for (task, plan), name in plan_file_plans(path)[1].items():
        targets[(task, name)] = plan
        with contextlib.suppress(OptbenchError):  # else the written name alone matches
            targets.setdefault((task, format_plan(parse_plan(name))), plan)
    return targets


def _epochs_if_needed(store, metric_name: str, rows: list[dict]) -> list[dict] | None:
    if not get_metric(metric_name).needs_epochs:
        return None
    done = [r["id"] for r in rows if r.get("status", "done") == "done"]
    return store.epoch_rows(run_ids=done, columns=EPOCH_COLUMNS)


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
    from optbench.report import stored
    from optbench.report.baseline import snapshot, write_json
    from optbench.store.engine import open_store

    get_metric(metric)
    if not name.strip() or len(name) > 255:
        raise BadInput(
            f"a baseline's name has 1 to 255 characters (not only spaces), got {name!r:.60}"
        )
    if json_path is not None:
        check_writable_file(json_path, "--json")
    names = plan_file_plans(plan_file)[1] if plan_file else None
    store = open_store(db, create=False)
    try:
        rows = stored.run_rows(store, experiment, task)
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
    broken = sum(len(e["samples"]) - e["n"] for e in baseline["entries"])
    configurations = len({e["config_hash"] for e in baseline["entries"]})
    typer.echo(
        f"saved baseline {name!r}: {len(baseline['entries'])} plans x tasks x configurations "
        f"({configurations} configuration{'s' if configurations != 1 else ''}), {runs} "
        f"finished runs"
        + (f", {broken} diverged or failed" if broken else "")
        + f", metric {baseline['metric']}"
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

    store = open_store(db, read_only=True)
    try:
        baseline = _stored_baseline(store, name)
    finally:
        store.close()
    typer.echo(f"wrote {write_json(baseline, path)}")


def baseline_list_command(db: str | None) -> None:
    from rich.table import Table

    from optbench.store.engine import open_store

    store = open_store(db, read_only=True)
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
    make_console().print(table)


def load_baseline(reference: str, db: str | None) -> dict[str, Any]:
    """A baseline by JSON file (a path that exists or ends in .json) or by name in the
    database."""
    from optbench.report.baseline import read_json
    from optbench.store.engine import open_store

    if reference.endswith(".json") or Path(reference).is_file():
        return read_json(reference)
    store = open_store(db, read_only=True)
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
    if junit is not None:
        check_writable_file(junit, "--junit")
    from optbench.report import stored

    baseline = load_baseline(reference, db)
    targets = _targets(plan_file) if plan_file is not None else None
    store = open_store(db, read_only=True)
    try:
        rows = stored.run_rows(store, experiment)
        epochs = _epochs_if_needed(store, baseline["metric"], rows)
    finally:
        store.close()
    verdicts = check_baseline(
        baseline, rows, epochs, targets=targets, alpha=alpha, tolerance=tolerance
    )
    console = make_console()
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
