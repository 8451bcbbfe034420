"""The ``optbench`` command line: thin Typer commands, heavy imports inside their bodies.

Library errors (``OptbenchError``) become one red message and the error's exit status
here, and only here. ``optbench --help`` imports neither torch, SQLAlchemy nor pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optbench.cli.common import WordsCommand, one_line_errors, reports_errors
from optbench.cli.data_command import data_app
from optbench.plan.model import MAX_EPOCHS
from optbench.plan.planfile import LIMITS

app = typer.Typer(
    name="optbench",
    help="Benchmark deep-learning optimizer schedules written as plans, e.g. "
    "'SGD | (Adam+d) | SGD', and tell whether differences are real.\n\n"
    "Example: optbench run plans/quickstart.yaml --seeds 10 && optbench compare",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from optbench import __version__

        typer.echo(f"optbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Benchmark deep-learning optimizer schedules written as plans, e.g.
    'SGD | (Adam+d) | SGD', and tell whether differences are real.

    Example: optbench run plans/quickstart.yaml --seeds 10 && optbench compare
    """


db_app = typer.Typer(help="Migrations of the results database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="OPTBENCH_DB",
        metavar="URL",
        help="SQLAlchemy URL or SQLite file of the results database [default: optbench.db].",
    ),
]
DataDirOption = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        envvar="OPTBENCH_DATA",
        metavar="DIR",
        help="Folder with the datasets' files.",
    ),
]

ExperimentOption = Annotated[
    str | None, typer.Option(metavar="NAME", help="Only this experiment's runs.")
]
TaskOption = Annotated[str | None, typer.Option(metavar="TASK", help="Only this task.")]
EpochsOption = Annotated[int, typer.Option(min=1, metavar="N", help="Epochs to lay the plan over.")]
StepsOption = Annotated[
    int,
    typer.Option(min=1, metavar="N", help="Optimizer steps per epoch (per-iteration methods)."),
]
BaselineName = Annotated[str, typer.Argument(metavar="NAME", help="Name of the baseline.")]


@app.command(cls=WordsCommand)
@reports_errors
def run(
    plan_file: Annotated[
        Path, typer.Argument(metavar="PLAN_FILE", help="YAML plan file.", show_default=False)
    ],
    seeds: Annotated[
        int | None,
        typer.Option(min=1, max=LIMITS["seeds"], metavar="N", help="Seeds per plan and task."),
    ] = None,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu or cuda.")] = "auto",
    db: DbOption = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, max=LIMITS["epochs"], metavar="N", help="Override the file's epochs."),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option("--task", metavar="TASK", help="Train only these tasks (repeatable)."),
    ] = None,
    data_dir: DataDirOption = None,
    dry_run: Annotated[
        bool, typer.Option(help="Print what would run and how; train and create nothing.")
    ] = False,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            max=1024,
            metavar="N",
            envvar="OPTBENCH_THREADS",
            help="torch's CPU threads. Part of each run's configuration: the thread count "
            "changes the last bits of results. 1 is reproducible on any machine and fastest "
            "for small models.",
        ),
    ] = 1,
    stack: Annotated[
        bool,
        typer.Option(
            help="Train the seeds of a plan together, stacked in one pass, where its methods "
            "allow (--dry-run says where and why not); --no-stack trains each seed alone.",
        ),
    ] = True,
    stack_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=4096,
            metavar="N",
            help="Seeds per stacked pass at most [default: as many as fit in half the free "
            "memory, up to 32].",
        ),
    ] = None,
    retry_diverged: Annotated[
        bool,
        typer.Option(
            help="Train diverged runs again. By default a diverged run is a result: kept, "
            "counted by compare, not retrained.",
        ),
    ] = False,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            envvar="OPTBENCH_CHECKPOINTS",
            help="Folder for the checkpoints of runs in progress [default: beside the "
            "database file, or ./optbench-checkpoints for a server database].",
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            metavar="EXECUTOR",
            help="local (train here) or ray (train on a Ray cluster; needs the extra: "
            "pip install 'optbench[ray]').",
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="With --executor ray: the cluster's head, host:port [default: $RAY_ADDRESS, "
            "else a local cluster on this machine's CPUs and GPUs].",
        ),
    ] = None,
) -> None:
    """Train every plan x task x seed of a plan file that is not already stored.

    Each finished epoch is stored as it ends; a killed run resumes from its last finished
    epoch when the same command runs again. Several runners may share one database: each
    run is trained once.

    Example: optbench run plans/quickstart.yaml --seeds 10 --device auto
    """
    from optbench.cli.run_command import RunOptions, run_plan_file

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("must be auto, cpu or cuda", param_hint="--device")
    if executor not in ("local", "ray"):
        raise typer.BadParameter("must be local or ray", param_hint="--executor")
    if address is not None and executor != "ray":
        raise typer.BadParameter("needs --executor ray", param_hint="--address")
    if address is not None and not address.strip():
        raise typer.BadParameter("is empty: give the head's host:port", param_hint="--address")
    options = RunOptions(
        seeds=seeds,
        device=device,
        db=db,
        epochs=epochs,
        tasks=tuple(task or ()),
        data_dir=data_dir,
        dry_run=dry_run,
        threads=threads,
        stack=stack,
        stack_size=stack_size,
        retry_diverged=retry_diverged,
        checkpoints=checkpoints,
        executor=executor,
        address=address,
    )
    raise typer.Exit(run_plan_file(plan_file, options))


@app.command()
@reports_errors
def compare(
    experiment: ExperimentOption = None,
    task: TaskOption = None,
    metric: Annotated[
        str,
        typer.Option(
            metavar="METRIC",
            help="final, best (best epoch), last10 (mean of the last 10% of epochs), error "
            "(error rate %), f1, precision, recall (macro) or loss (validation loss).",
        ),
    ] = "final",
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="FORMAT", help="table, markdown, latex, csv or json."),
    ] = "table",
    alpha: Annotated[
        float,
        typer.Option(metavar="A", help="Significance level of the tests against the best plan."),
    ] = 0.05,
    db: DbOption = None,
) -> None:
    """Rank the stored plans per task and configuration (mean ± std, 95% CI and n over
    the finished seeds; plans not significantly different from the best are tied; a plan
    with a diverged seed is never best), with how every seed ended, the paper's values
    beside ours where the plan file recorded them, and each plan's Y/N table.

    Example: optbench compare --experiment quickstart --metric last10 --format latex
    """
    from optbench.cli.report_commands import compare_command

    compare_command(experiment, task, db, metric, fmt, alpha)


@app.command(cls=WordsCommand)
@reports_errors
def show(
    expression: Annotated[
        str, typer.Argument(metavar="EXPR", help="A plan, e.g. 'SGD | (Adam+d) | SGD'.")
    ],
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_EPOCHS,
            metavar="N",
            show_default=False,
            help="Epochs to lay the plan over [default: the sum of its stage lengths when "
            "every stage has one, else 100].",
        ),
    ] = None,
    steps_per_epoch: Annotated[
        int,
        typer.Option(
            min=1,
            max=1_000_000,
            metavar="N",
            help="Optimizer steps per epoch (per-iteration methods).",
        ),
    ] = 100,
) -> None:
    """Parse a plan and print it as written, its canonical form, its epochs per stage,
    whether the optimizer state carries at each stage boundary, its Y/N schedule table
    and its LR curve; trains nothing.

    Example: optbench show "(SGD(lr=0.1)+M):80 | (SGD(lr=0.01)+M):40"
    """
    from optbench.plan.parser import parse_plan
    from optbench.plan.timeline import fixed_epochs
    from optbench.report.console import make_console
    from optbench.report.show import render_show

    plan = parse_plan(expression)
    if epochs is None:
        epochs = fixed_epochs(plan) or 100
    make_console().print(render_show(plan, epochs, steps_per_epoch))


@app.command()
def methods() -> None:
    """List every method a plan can name: kind, defaults, description, paper.

    Example: optbench methods
    """
    from optbench.report.catalogue import methods_table
    from optbench.report.console import make_console

    make_console().print(methods_table())


@app.command()
def tasks(data_dir: DataDirOption = None) -> None:
    """List the tasks (dataset-model) and whether each one's data was found.

    Example: optbench tasks --data-dir ~/datasets
    """
    from optbench.report.catalogue import tasks_table
    from optbench.report.console import make_console

    make_console().print(tasks_table(data_dir))


@db_app.command("upgrade")
@reports_errors
def db_upgrade(db: DbOption = None) -> None:
    """Upgrade the results database to the current schema, keeping every row.

    One transaction: a failure (a full disk, a lost connection) leaves the database as it
    was. A database written by a newer optbench is refused (exit status 4).

    Example: optbench db upgrade --db results.db
    """
    from optbench.store.engine import upgrade

    before, head = upgrade(db)
    if before == head:
        typer.echo(f"database at revision {head}, already up to date")
    else:
        typer.echo(f"database at revision {head} (was {before or 'without optbench tables'})")


@db_app.command("current")
@reports_errors
def db_current(db: DbOption = None) -> None:
    """Print the database's schema revision and the newest one this optbench knows.

    Reads only: a database that does not exist is not created, and one on read-only media
    can be read.

    Example: optbench db current --db results.db
    """
    from optbench.store.engine import current, is_known_revision

    rev, head = current(db)
    if rev == head:
        state = "up to date"
    elif rev is not None and not is_known_revision(rev):
        state = (
            "newer than this optbench knows: it was written by a newer optbench; upgrade "
            "optbench to use it"
        )
    else:
        state = "outdated: run 'optbench db upgrade'"
    typer.echo(f"revision {rev or '(none)'}; newest {head}; {state}")


plot_app = typer.Typer(
    help="Plots as PNG or SVG: learning curves, LR curves, toy-problem tracks.",
    no_args_is_help=True,
)
app.add_typer(plot_app, name="plot")
baseline_app = typer.Typer(
    help="Baselines for the regression gate, in the database and as JSON files.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")

ImageOption = Annotated[
    Path,
    typer.Option(
        "--out", "-o", metavar="FILE", help="Image file to write; .png or .svg picks the format."
    ),
]
PlanFileOption = Annotated[
    Path | None,
    typer.Option(
        "--plan-file",
        metavar="PLAN_FILE",
        help="Name the plans as this plan file writes them, so a plan whose defaults changed "
        "is still the same plan.",
    ),
]


@plot_app.command("curves")
@reports_errors
def plot_curves(
    out: ImageOption = Path("curves.png"),
    experiment: ExperimentOption = None,
    task: TaskOption = None,
    y: Annotated[
        str,
        typer.Option(
            "--y", metavar="CURVE", help="val_acc, val_loss, train_acc, train_loss or lr."
        ),
    ] = "val_acc",
    plan: Annotated[
        list[str] | None,
        typer.Option(
            "--plan",
            metavar="PLAN",
            help="Only these plans (repeatable), as compare names them or as written.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Draw a metric over epochs per plan: the mean over seeds with a ±std band, one panel
    per task, the stage boundaries the runs took dashed.

    Example: optbench plot curves --experiment quickstart --y val_acc --out curves.svg
    """
    from optbench.cli.report_commands import plot_curves_command

    plot_curves_command(out, experiment, task, db, y, plan or [])


@plot_app.command("lr", cls=WordsCommand)
@reports_errors
def plot_lr(
    expressions: Annotated[
        list[str],
        typer.Argument(metavar="EXPR", help="Plan expressions, e.g. 'SGD(lr=0.1)+sig'."),
    ],
    out: ImageOption = Path("lr.png"),
    epochs: EpochsOption = 100,
    steps_per_epoch: StepsOption = 100,
    log: Annotated[bool, typer.Option(help="Logarithmic LR axis.")] = False,
) -> None:
    """Draw the learning-rate curve of one or more plans in one figure ([ANN] Figure 1);
    trains nothing.

    Example: optbench plot lr "SGD(lr=0.1)+sig" "SGD(lr=0.1)+warmup+sig" --epochs 100 --out lr.png
    """
    from optbench.cli.report_commands import plot_lr_command

    plot_lr_command(expressions, out, epochs, steps_per_epoch, log)


@plot_app.command("track", cls=WordsCommand)
@reports_errors
def plot_track(
    expressions: Annotated[
        list[str], typer.Argument(metavar="EXPR", help="Plan expressions, e.g. 'Adam'.")
    ],
    problem: Annotated[
        str,
        typer.Option(
            metavar="PROBLEM", help="Toy problem: quadratic, quadratic-b95 or sum-of-four."
        ),
    ] = "quadratic",
    steps: Annotated[int, typer.Option(min=1, metavar="N", help="Optimizer steps.")] = 100,
    out: ImageOption = Path("track.png"),
) -> None:
    """Draw the optimizer trajectories of plans on a [DSA] toy problem over its contours.

    Example: optbench plot track "SGD(lr=0.001)" DSA --problem quadratic --out track.png
    """
    from optbench.cli.report_commands import plot_track_command

    plot_track_command(expressions, problem, steps, out)


@baseline_app.command("save", cls=WordsCommand)
@reports_errors
def baseline_save(
    name: BaselineName,
    experiment: ExperimentOption = None,
    plan_file: PlanFileOption = None,
    task: TaskOption = None,
    metric: Annotated[
        str, typer.Option(metavar="METRIC", help="The metric to keep (see compare).")
    ] = "final",
    json_path: Annotated[
        Path | None,
        typer.Option("--json", metavar="FILE", help="Also write the baseline to this JSON file."),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite a baseline of this name.")] = False,
    db: DbOption = None,
) -> None:
    """Snapshot the stored results per (task, plan, config): every seed's value of the
    metric, n, mean and std, and the versions they were trained with.

    Example: optbench baseline save nightly --plan-file plans/quickstart.yaml --json nightly.json
    """
    from optbench.cli.gate_commands import baseline_save_command

    baseline_save_command(name, db, experiment, plan_file, task, metric, json_path, replace)


@baseline_app.command("export", cls=WordsCommand)
@reports_errors
def baseline_export(
    name: BaselineName,
    path: Annotated[Path, typer.Argument(metavar="FILE", help="JSON file to write.")],
    db: DbOption = None,
) -> None:
    """Write a stored baseline to a JSON file, to keep in a repository.

    Example: optbench baseline export nightly plans/baselines/quickstart.json
    """
    from optbench.cli.gate_commands import baseline_export_command

    baseline_export_command(name, path, db)


@baseline_app.command("list")
@reports_errors
def baseline_list(db: DbOption = None) -> None:
    """List the stored baselines.

    Example: optbench baseline list
    """
    from optbench.cli.gate_commands import baseline_list_command

    baseline_list_command(db)


@app.command()
@reports_errors
def check(
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            "-b",
            metavar="NAME|FILE",
            help="A baseline's name in the database, or its JSON file.",
        ),
    ],
    experiment: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Judge only this experiment's runs."),
    ] = None,
    plan_file: PlanFileOption = None,
    alpha: Annotated[
        float, typer.Option(metavar="A", help="Significance level (one-sided Welch).")
    ] = 0.01,
    tolerance: Annotated[
        float,
        typer.Option(
            metavar="T", help="Largest drop that is not a regression, in the metric's units."
        ),
    ] = 0.01,
    junit: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write JUnit XML here.")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Fail also when a plan is missing or has n < 2.")
    ] = False,
    db: DbOption = None,
) -> None:
    """The regression gate: judge the runs trained since a baseline against it, per
    (task, plan): improved, unchanged or regressed. Exit status 1 only when a plan got worse
    by more than the tolerance and significantly so; 2 for bad input.

    Example: optbench check --baseline plans/baselines/quickstart.json --junit results.xml
    """
    from optbench.cli.gate_commands import check_command

    code = check_command(baseline, db, experiment, plan_file, alpha, tolerance, junit, strict)
    raise typer.Exit(code)


def main() -> None:
    one_line_errors()
    app()
