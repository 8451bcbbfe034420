"""``optbench compare`` on a database of 10,000 runs (SPEC §7: under 1 s).

Builds a SQLite file in a temporary folder — by default 10 tasks x 100 plans x 10 seeds
(the papers' 10 trials), 20 epochs per run, stored as ``optbench run`` stores them: with
their configuration's columns, the plan file's label on each link, one seed in 50
diverged, and the paper's values for every plan of the first task — then times the
``compare`` command in this process (Typer's CliRunner: opening the database, reading
the rows, the statistics, the tables), in each format, for an epoch-based metric and
with the paper's values. The plan-label caches are emptied before each call, as a fresh
``optbench compare`` process has them; the median of the repeats is printed. Python
start-up and imports are not included there; the "new process" column has them
(``optbench --help`` is measured for scale).

    python benchmarks/compare_10k.py [--tasks 10] [--plans 100] [--seeds 10] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.report import cells
from optbench.report.labels import parsed, short_label
from optbench.store import run_key
from optbench.store.engine import open_store
from optbench.store.models import Base
from optbench.train.config import RunConfig

TARGET_S = 1.0
TEMPLATES = [
    "SGD(lr={a})",
    "SGD(lr={a}) | (Adam+d) | SGD(lr={a})",
    "(SGD(lr={a})+M) | (SGD(lr={a})+M+cos) | (SGD(lr={a})+M+cos)",
    "Adam(lr={b})",
    "SGD(lr={a})+warmup+sig",
]


def plan_texts(count: int) -> list[str]:
    out = []
    for i in range(count):
        a, b = round(0.01 + 0.005 * (i // len(TEMPLATES)), 4), round(1e-4 * (1 + i), 6)
        out.append(format_plan(resolve(parse_plan(TEMPLATES[i % len(TEMPLATES)].format(a=a, b=b)))))
    return out


def build(path: Path, tasks: int, plans: int, seeds: int, epochs: int) -> int:
    """Fill ``path`` with done runs (and their epoch rows) in a few bulk inserts."""
    store = open_store(str(path))
    now = datetime.now(UTC)
    texts = plan_texts(plans)
    written = [short_label(text) for text in texts]  # as a plan file writes them
    config = RunConfig(epochs, 32)
    runs, epoch_rows, links = [], [], []
    run_id = 0
    for t in range(tasks):
        for p, plan in enumerate(texts):
            stages = plan.count("|") + 1
            starts = [round(s * epochs / stages) for s in range(stages)]
            for seed in range(seeds):
                run_id += 1
                acc = 0.80 + 0.1 * ((p * 7919) % 100) / 100 + 0.01 * ((seed * 31) % 7) / 7
                diverged = run_id % 50 == 0
                runs.append(
                    {
                        "id": run_id,
                        "run_key": run_key(plan, f"task-{t}", seed, config.hash),
                        "plan": plan,
                        "task": f"task-{t}",
                        "seed": seed,
                        "config_hash": config.hash,
                        **config.columns(),
                        "status": "diverged" if diverged else "done",
                        "device": "cpu",
                        "versions": {"optbench": "0.1.0"},
                        "error": None,
                        "stage_starts": starts,
                        "extra": {},
                        "started_at": now,
                        "finished_at": now,
                        "accuracy": None if diverged else acc,
                        "loss": None if diverged else 1 - acc,
                        "f1": None if diverged else acc,
                        "precision": None if diverged else acc,
                        "recall": None if diverged else acc,
                        "ms_per_batch": 1.0 + seed / 100,
                        "s_per_epoch": 0.2,
                        "notes": None,
                    }
                )
                links.append({"experiment_id": 1, "run_id": run_id, "label": written[p]})
                epoch_rows += [
                    {
                        "run_id": run_id,
                        "epoch": e,
                        "stage": sum(s < e for s in starts) - 1,
                        "lr": 0.01,
                        "train_loss": 1 / e,
                        "train_acc": acc - 0.1 / e,
                        "val_loss": 1 - acc + 0.1 / e,
                        "val_acc": acc - 0.1 / e,
                        "ms_per_batch": 1.0,
                        "s_per_epoch": 0.2,
                    }
                    for e in range(1, epochs + 1)
                ]
    tables = Base.metadata.tables
    with store.engine.begin() as conn:
        paper = [
            {"task": "task-0", "plan": plan, "name": name, "metric": "final", "value": 0.85,
             "std": 0.01, "source": "[bench] Table 1"}
            for plan, name in zip(texts, written, strict=True)
        ]  # fmt: skip
        conn.execute(
            insert(tables["experiments"]),
            [{"id": 1, "name": "bench", "created_at": now, "paper": paper}],
        )
        conn.execute(insert(tables["runs"]), runs)
        conn.execute(insert(tables["experiment_runs"]), links)
        if epoch_rows:
            conn.execute(insert(tables["epochs"]), epoch_rows)
    store.close()
    return run_id


def time_in_process(db: Path, args: list[str], repeats: int) -> float:
    """Median seconds of ``optbench compare --db DB ARGS`` run in this process, with the
    plan-label caches emptied before each call (a fresh process starts with them empty)."""
    runner = CliRunner()
    runner.invoke(app, ["compare", "--db", str(db), *args])  # imports, once
    timings = []
    for _ in range(repeats):
        short_label.cache_clear()
        parsed.cache_clear()
        cells.schedule.cache_clear()
        cells.ends_early.cache_clear()
        t0 = time.perf_counter()
        result = runner.invoke(app, ["compare", "--db", str(db), *args])
        timings.append(time.perf_counter() - t0)
        assert result.exit_code == 0, result.output
    return statistics.median(timings)


def time_fresh_process(db: Path, args: list[str], repeats: int) -> float:
    """Median seconds of a new ``optbench compare`` process: start-up and imports too."""
    command = [
        sys.executable,
        "-c",
        "from optbench.cli.app import main; main()",
        "compare",
        "--db",
        str(db),
        *args,
    ]
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - t0)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--plans", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        runs = build(db, args.tasks, args.plans, args.seeds, args.epochs)
        print(
            f"built {runs:,} runs ({args.tasks} tasks x {args.plans} plans x {args.seeds} "
            f"seeds, {args.epochs} epochs each) in {time.perf_counter() - t0:.1f} s"
        )
        print(
            f"{'optbench compare':<38} {'in-process s':>12} {'new process s':>13}   "
            f"new process / {TARGET_S:g} s target"
        )
        for label, extra in [
            ("--format table", ["--format", "table"]),
            ("--format markdown", ["--format", "markdown"]),
            ("--format latex", ["--format", "latex"]),
            ("--format csv", ["--format", "csv"]),
            ("--format json", ["--format", "json"]),
            ("--experiment bench (paper values)", ["--experiment", "bench"]),
            ("--metric last10 (reads epoch rows)", ["--metric", "last10"]),
        ]:
            inside = time_in_process(db, extra, args.repeats)
            fresh = time_fresh_process(db, extra, args.repeats)
            print(f"{label:<38} {inside:12.3f} {fresh:13.3f}   {fresh / TARGET_S:.2f}")
        fresh = time_fresh_process(db, ["--help"], args.repeats)
        print(f"{'--help (for scale: start-up alone)':<38} {'':>12} {fresh:13.3f}")


if __name__ == "__main__":
    main()
