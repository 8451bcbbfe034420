"""``optbench compare`` on a database of 10,000 runs (SPEC §7: under 1 s).

Builds a SQLite file in a temporary folder — by default 10 tasks x 100 plans x 10 seeds
(the papers' 10 trials), 20 epochs per run — then times the ``compare`` command in this
process (Typer's CliRunner: opening the database, reading the rows, the statistics, the
tables), in each format and for an epoch-based metric. "cold" is the first call with the
label caches empty, as a fresh ``optbench compare`` process has them; "warm" the median of
the repeats after it. Python start-up and imports are not included (``optbench --help``
is measured apart).

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
from optbench.report.labels import short_label
from optbench.store import run_key
from optbench.store.engine import open_store
from optbench.store.models import Base

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
    runs, epoch_rows, links = [], [], []
    run_id = 0
    for t in range(tasks):
        for p, plan in enumerate(texts):
            stages = plan.count("|") + 1
            starts = [round(s * epochs / stages) for s in range(stages)]
            for seed in range(seeds):
                run_id += 1
                acc = 0.80 + 0.1 * ((p * 7919) % 100) / 100 + 0.01 * ((seed * 31) % 7) / 7
                runs.append(
                    {
                        "id": run_id,
                        "run_key": run_key(plan, f"task-{t}", seed, "bench"),
                        "plan": plan,
                        "task": f"task-{t}",
                        "seed": seed,
                        "config_hash": "bench",
                        "status": "done",
                        "device": "cpu",
                        "versions": {"optbench": "0.1.0"},
                        "error": None,
                        "stage_starts": starts,
                        "extra": {},
                        "started_at": now,
                        "finished_at": now,
                        "accuracy": acc,
                        "loss": 1 - acc,
                        "f1": acc,
                        "precision": acc,
                        "recall": acc,
                        "ms_per_batch": 1.0 + seed / 100,
                        "s_per_epoch": 0.2,
                        "notes": None,
                    }
                )
                links.append({"experiment_id": 1, "run_id": run_id})
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
        conn.execute(insert(tables["experiments"]), [{"id": 1, "name": "bench", "created_at": now}])
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
            ("--metric last10 (reads epoch rows)", ["--metric", "last10"]),
        ]:
            inside = time_in_process(db, extra, args.repeats)
            fresh = time_fresh_process(db, extra, args.repeats)
            print(f"{label:<38} {inside:12.3f} {fresh:13.3f}   {fresh / TARGET_S:.2f}")
        fresh = time_fresh_process(db, ["--help"], args.repeats)
        print(f"{'--help (for scale: start-up alone)':<38} {'':>12} {fresh:13.3f}")


if __name__ == "__main__":
    main()
