"""The ``optbench`` command line: thin Typer commands, heavy imports inside their bodies.

Library errors (``OptbenchError``) become one red message and the error's exit status
here, and only here. ``optbench --help`` imports neither torch, SQLAlchemy nor pandas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from optbench.errors import OptbenchError

app = typer.Typer(
    name="optbench",
    help="Benchmark deep-learning optimizer schedules written as plans, e.g. "
    "'SGD | (Adam+d) | SGD', and tell whether differences are real.\n\n"
    "Example: optbench run plans/quickstart.yaml --seeds 10 && optbench compare",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Migrations of the results database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

F = TypeVar("F", bound=Callable)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="OPTBENCH_DB",
        help="SQLAlchemy URL or SQLite file of the results database [default: optbench.db].",
    ),
]
DataDirOption = Annotated[
    str | None,
    typer.Option("--data-dir", envvar="OPTBENCH_DATA", help="Folder with the datasets' files."),
]


def reports_errors(fn: F) -> F:
    """Turn an OptbenchError into one red message on stderr and its exit status."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OptbenchError as e:
            from rich.console import Console
            from rich.markup import escape

            Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(e))}")
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@reports_errors
def run(
    plan_file: Annotated[Path, typer.Argument(help="YAML plan file.", show_default=False)],
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds per plan and task.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    db: DbOption = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the file's epochs.")] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Train only these tasks (repeatable).")
    ] = None,
    data_dir: DataDirOption = None,
    dry_run: Annotated[bool, typer.Option(help="Print what would run; train nothing.")] = False,
) -> None:
    """Train every plan x task x seed of a plan file that is not already stored.

    Example: optbench run plans/quickstart.yaml --seeds 10 --device auto
    """
    from optbench.cli.run_command import run_plan_file

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("must be auto, cpu or cuda", param_hint="--device")
    code = run_plan_file(plan_file, seeds, device, db, epochs, task or [], data_dir, dry_run)
    raise typer.Exit(code)


@app.command()
@reports_errors
def compare(
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    db: DbOption = None,
) -> None:
    """Rank the stored plans per task (validation accuracy, mean ± std over seeds),
    each beside its Y/N schedule table.

    Example: optbench compare --experiment quickstart
    """
    from rich.console import Console

    from optbench.report.compare import render_compare
    from optbench.store.engine import open_store

    store = open_store(db)
    try:
        rows = store.run_rows(experiment=experiment, task=task)
    finally:
        store.close()
    console = Console()
    if not console.is_terminal:  # a file or a pipe: no wrapping of wide tables
        console.width = 160
    console.print(render_compare(rows))


@app.command()
@reports_errors
def show(
    expression: Annotated[str, typer.Argument(help="A plan, e.g. 'SGD | (Adam+d) | SGD'.")],
    epochs: Annotated[int, typer.Option(min=1, help="Epochs to lay the plan over.")] = 100,
    steps_per_epoch: Annotated[
        int, typer.Option(min=1, help="Optimizer steps per epoch (per-iteration methods).")
    ] = 100,
) -> None:
    """Parse a plan and print its canonical form, Y/N schedule table and LR curve;
    trains nothing.

    Example: optbench show "SGD(lr=0.1) | (SGD(lr=0.1)+M+cos)" --epochs 50
    """
    from rich.console import Console

    from optbench.plan.parser import parse_plan
    from optbench.report.show import render_show

    Console().print(render_show(parse_plan(expression), epochs, steps_per_epoch))


@app.command()
def methods() -> None:
    """List every method a plan can name: kind, defaults, description, paper.

    Example: optbench methods
    """
    from rich.console import Console

    from optbench.report.catalogue import methods_table

    Console().print(methods_table())


@app.command()
def tasks(data_dir: DataDirOption = None) -> None:
    """List the tasks (dataset-model) and whether each one's data was found.

    Example: optbench tasks --data-dir ~/datasets
    """
    from rich.console import Console

    from optbench.report.catalogue import tasks_table

    Console().print(tasks_table(data_dir))


@db_app.command("upgrade")
@reports_errors
def db_upgrade(db: DbOption = None) -> None:
    """Upgrade the results database to the current schema, keeping every row.

    Example: optbench db upgrade --db results.db
    """
    from optbench.store.engine import current, upgrade

    upgrade(db)
    typer.echo(f"database at revision {current(db)[0]}")


@db_app.command("current")
@reports_errors
def db_current(db: DbOption = None) -> None:
    """Print the database's schema revision and the newest one this optbench knows.

    Example: optbench db current
    """
    from optbench.store.engine import current

    rev, head = current(db)
    state = "up to date" if rev == head else "outdated: run 'optbench db upgrade'"
    typer.echo(f"revision {rev or '(none)'}; newest {head}; {state}")


def main() -> None:
    app()
