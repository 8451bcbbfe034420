"""A results database with fixed numbers, for the report tests (compare formats, plots,
``load_results``, baselines). Imported by those tests; not a test itself.

Stored the way ``optbench run`` stores runs (``plan_runs`` with the plan file's labels and
paper values, ``claim``, ``finish_run``), in two configurations (``CONFIG`` and the
shorter ``SHORT``), plus runs stored before configurations had columns (``LEGACY``, written
as a database upgraded from before revision 0004 holds them: "settings not recorded").

On digits-mlp: a plan that ends its first stage on a plateau (the runs took different
stage boundaries), a plan with a single seed (n < 2), a plan written ``warmup+step``
whose finished seeds are the best of the task but one of whose seeds diverged, a plan
whose every seed diverged, a plan with a failed run, and ``Adam`` again in the short
configuration (never pooled with the long one). On iris-mlp: a plan with a run still
pending, and ``Adam`` in both the long and the legacy configuration.

Every finished run has ``CONFIG.epochs`` epochs (``SHORT.epochs`` in the short one; fewer
for diverged ones) whose validation accuracy climbs to the run's final accuracy, with a
bump at epoch 18 (0.01 above the final value) so that ``best``, ``last10`` (the last 2
epochs) and ``final`` all differ.

``PAPER``: the paper's values recorded for the experiment: consistent and inconsistent
cells, a best-seed (max) cell, an error cell (percent, converted for accuracy), a cell of
a plan that diverged, a cell not run, a cell of another metric, and a note.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.store.engine import open_store
from optbench.store.repository import run_key
from optbench.train.config import RunConfig, RunSpec
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

CONFIG = RunConfig(epochs=20, batch_size=32, device="cpu", threads=1, trainer=2)
SHORT = RunConfig(epochs=5, batch_size=32, device="cpu", threads=1, trainer=2)
LEGACY_HASH = "5e1c0a2b7d3f9e11"  # a configuration stored before it had columns
EPOCHS = CONFIG.epochs
D, F, P = "diverged", "failed", "pending"
# task, plan as the plan file writes it, configuration, per-seed outcome (a final accuracy
# or a status), per-seed stage starts (None: the plan's own)
RUNS = [
    ("digits-mlp", "SGD | SGD | SGD", CONFIG, [0.90, 0.92, 0.91, F], None),
    ("digits-mlp", "SGD | (Adam+d) | SGD", CONFIG, [0.95, 0.96, 0.94], None),
    ("digits-mlp", "Adam", CONFIG, [0.97, 0.96, 0.98], None),
    ("digits-mlp", "SGD:plateau(patience=2, max=8) | Adam", CONFIG, [0.93, 0.95, 0.94],
     [(0, 5), (0, 8), (0, 5)]),
    ("digits-mlp", "SGD(lr=0.1)", CONFIG, [0.99], None),
    ("digits-mlp", "SGD(lr=0.5)+warmup+step", CONFIG, [0.985, 0.99, D], None),
    ("digits-mlp", "Adam(lr=10.0)", CONFIG, [D, D], None),
    ("digits-mlp", "Adam", SHORT, [0.80, 0.82], None),
    ("iris-mlp", "Adam", CONFIG, [0.93, 0.97, 0.95, 0.96], None),
    ("iris-mlp", "SGD+M", CONFIG, [0.95, 0.97, 0.96, 0.96, P], None),
]  # fmt: skip
LEGACY = [("iris-mlp", "Adam", [0.90, 0.91])]  # stored before 0004: no config columns
LEGACY_TIME = "2025-01-01 12:00:00.000000"
NOMINAL_STARTS = {"SGD | SGD | SGD": (0, 7, 14), "SGD | (Adam+d) | SGD": (0, 7, 14)}


def stored(plan: str) -> str:
    return format_plan(resolve(parse_plan(plan)))


def _cell(plan: str, metric: str, value: float, **extra) -> dict:
    cell = {"task": "digits-mlp", "plan": stored(plan), "name": plan, "metric": metric}
    return cell | {"value": value, "source": "[ANN] Table 2 (fixture)"} | extra


PAPER = [
    _cell("Adam", "final", 0.965, note="read from the figure; the table has no final value"),
    _cell("Adam", "final", 0.99, stat="max"),
    _cell("SGD | SGD | SGD", "error", 5.0, std=0.5),
    _cell("Adam(lr=10.0)", "final", 0.5),
    _cell("NAdam", "final", 0.97),
    _cell("Adam", "last10", 0.96),
]


def val_acc(final: float, epoch: int, epochs: int = EPOCHS) -> float:
    """Climbs linearly to ``final`` at the last epoch; epoch 18 is 0.03 above its line,
    0.01 above ``final``."""
    value = final - 0.2 * (epochs - epoch) / epochs
    return round(value + (0.03 if epoch == 18 else 0.0), 6)


def epochs_of(acc: float, seed: int, starts: tuple[int, ...], count: int) -> tuple:
    return tuple(
        EpochRecord(
            epoch=e,
            stage=sum(1 for s in starts if s < e) - 1,
            lr=0.01,
            train_loss=1.0 / e,
            train_acc=val_acc(acc, e, count) + 0.01,
            val_loss=round(1.0 - val_acc(acc, e, count), 6),
            val_acc=val_acc(acc, e, count),
            ms_per_batch=0.5 + seed / 10,
            s_per_epoch=0.1,
        )
        for e in range(1, count + 1)
    )


def record(spec: RunSpec, outcome, starts: tuple[int, ...], config_hash: str | None = None):
    """The record a run with this outcome (final accuracy, or diverged/failed) produced."""
    config_hash = config_hash or spec.config.hash
    versions = {"optbench": "0.1.0", "torch": "x"}
    if outcome == D:
        return RunRecord(spec.plan, spec.task, spec.seed, config_hash, Status.DIVERGED, "cpu",
                         versions, epochs_of(0.1, spec.seed, starts, 3), None, starts,
                         error="training loss became NaN or infinite")  # fmt: skip
    if outcome == F:
        return RunRecord(spec.plan, spec.task, spec.seed, config_hash, Status.FAILED, "cpu",
                         versions, (), None, (), error="RuntimeError: out of memory")  # fmt: skip
    acc = float(outcome)
    final = FinalMetrics(accuracy=acc, loss=round(1 - acc, 6), f1=acc - 0.01,
                         precision=acc - 0.02, recall=acc - 0.005)  # fmt: skip
    epochs = epochs_of(acc, spec.seed, starts, spec.config.epochs)
    return RunRecord(spec.plan, spec.task, spec.seed, config_hash, Status.DONE, "cpu",
                     versions, epochs, final, starts, ms_per_batch=0.5 + spec.seed / 10,
                     s_per_epoch=0.1)  # fmt: skip


def fill(store, experiment: str = "fixture", paper: list[dict] | None = PAPER) -> None:
    specs, labels, outcomes = [], [], []
    for task, plan, config, results, starts in RUNS:
        for seed, outcome in enumerate(results):
            specs.append(RunSpec(stored(plan), task, seed, config))
            labels.append(plan)
            taken = starts[seed] if starts else NOMINAL_STARTS.get(plan, (0,))
            outcomes.append((outcome, taken))
    planned = store.plan_runs(experiment, specs, labels, paper=paper)
    finished = [run.id for run, (outcome, _) in zip(planned, outcomes, strict=True) if outcome != P]
    store.claim(finished, "fixture")
    for run, spec, (outcome, taken) in zip(planned, specs, outcomes, strict=True):
        if outcome != P:
            store.finish_run(run.id, "fixture", record(spec, outcome, taken))
    with store.engine.begin() as conn:
        for task, plan, results in LEGACY:
            for seed, acc in enumerate(results):
                spec = RunSpec(stored(plan), task, seed, CONFIG)
                insert_legacy(conn, experiment, record(spec, acc, (0,), LEGACY_HASH))


def filled(path: Path, experiment: str = "fixture", paper: list[dict] | None = PAPER) -> Path:
    """A results database file at ``path`` holding ``fill``'s runs; returns ``path``."""
    with open_store(str(path)) as store:
        fill(store, experiment, paper)
    return path


# The columns of runs and epochs before revision 0004, and what 0004 gave such rows: the
# run_key computed from the stored identity and one attempt.
_LEGACY_RUN = text(
    "INSERT INTO runs (run_key, plan, task, seed, config_hash, status, device, versions, error,"
    " stage_starts, extra, started_at, finished_at, accuracy, loss, f1, precision, recall,"
    " ms_per_batch, s_per_epoch, attempts) VALUES (:run_key, :plan, :task, :seed, :config_hash,"
    " :status, :device, :versions, :error, :stage_starts, '{}', :time, :time, :accuracy, :loss,"
    " :f1, :precision, :recall, :ms_per_batch, :s_per_epoch, 1) RETURNING id"
)
_LEGACY_LINK = text(
    "INSERT INTO experiment_runs (experiment_id, run_id)"
    " SELECT id, :run_id FROM experiments WHERE name = :experiment"
)
_LEGACY_EPOCH = text(
    "INSERT INTO epochs (run_id, epoch, stage, lr, train_loss, train_acc, val_loss, val_acc,"
    " ms_per_batch, s_per_epoch) VALUES (:run_id, :epoch, :stage, :lr, :train_loss, :train_acc,"
    " :val_loss, :val_acc, :ms_per_batch, :s_per_epoch)"
)


def insert_legacy(conn, experiment: str, rec: RunRecord) -> None:
    """``rec`` as a run stored before revision 0004, in the existing ``experiment``."""
    final = rec.final
    run_id = conn.execute(
        _LEGACY_RUN,
        {
            "run_key": run_key(rec.plan, rec.task, rec.seed, rec.config_hash),
            "plan": rec.plan,
            "task": rec.task,
            "seed": rec.seed,
            "config_hash": rec.config_hash,
            "status": rec.status.value,
            "device": rec.device,
            "versions": json.dumps(rec.versions),
            "error": rec.error,
            "stage_starts": json.dumps(list(rec.stage_starts)),
            "time": LEGACY_TIME,
            "accuracy": final.accuracy,
            "loss": final.loss,
            "f1": final.f1,
            "precision": final.precision,
            "recall": final.recall,
            "ms_per_batch": rec.ms_per_batch,
            "s_per_epoch": rec.s_per_epoch,
        },
    ).scalar_one()
    conn.execute(_LEGACY_LINK, {"run_id": run_id, "experiment": experiment})
    conn.execute(
        _LEGACY_EPOCH,
        [
            {"run_id": run_id, "epoch": e.epoch, "stage": e.stage, "lr": e.lr,
             "train_loss": e.train_loss, "train_acc": e.train_acc, "val_loss": e.val_loss,
             "val_acc": e.val_acc, "ms_per_batch": e.ms_per_batch, "s_per_epoch": e.s_per_epoch}
            for e in rec.epochs
        ],
    )  # fmt: skip
