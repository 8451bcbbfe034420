"""``optbench.load_results``: stored runs and their epochs as one pandas DataFrame.

For notebooks::

    import optbench
    df = optbench.load_results("optbench.db", experiment="quickstart")
    df.groupby(["label", "epoch"])["val_acc"].mean().unstack(0).plot()
"""

from __future__ import annotations

import pandas as pd

from optbench.errors import BadInput
from optbench.report import configs
from optbench.report.labels import short_label

RUN_COLUMNS = {  # runs column -> DataFrame column
    "id": "run_id",
    "task": "task",
    "plan": "plan",
    "seed": "seed",
    "config_hash": "config_hash",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "device": "device",
    "threads": "threads",
    "trainer_revision": "trainer_revision",
    "status": "status",
    "stage_starts": "stage_starts",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "accuracy": "final_accuracy",
    "loss": "final_loss",
    "f1": "final_f1",
    "precision": "final_precision",
    "recall": "final_recall",
    "ms_per_batch": "run_ms_per_batch",
    "s_per_epoch": "run_s_per_epoch",
    "error": "error",
    "notes": "notes",
}
EPOCH_COLUMNS = [
    "epoch",
    "stage",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "ms_per_batch",
    "s_per_epoch",
]


def load_results(
    db: str | None = None,
    experiment: str | None = None,
    task: str | None = None,
    status: str | None = "done",
) -> pd.DataFrame:
    """One row per stored epoch, joined with its run's columns, sorted by run then epoch.

    ``db`` is a SQLAlchemy URL or SQLite file (default: ``$OPTBENCH_DB``, else
    ``optbench.db``); the database must exist. Filters: runs of ``experiment``, of
    ``task``, with ``status`` (``done`` by default; None for every status).

    Columns: ``run_id, task, plan`` (stored canonical text), ``label`` (the plan as its
    plan file writes it, else as ``compare`` shows it), ``seed``, the configuration
    ``config_hash, epochs`` (the run's configured epochs), ``batch_size, device, threads,
    trainer_revision`` (empty for runs stored before they were recorded) and ``config``
    (it in words: ``15 epochs, batch 32, cpu, 1 thread, trainer 2``, or ``settings not
    recorded (config …)``), ``status, stage_starts`` (0-based epochs), ``started_at,
    finished_at``, the run's final metrics ``final_accuracy, final_loss, final_f1,
    final_precision, final_recall``, ``run_ms_per_batch, run_s_per_epoch, error, notes``,
    then per epoch ``epoch`` (1-based), ``stage`` (0-based), ``lr, train_loss, train_acc,
    val_loss, val_acc, ms_per_batch, s_per_epoch``. A run without epoch rows (failed at
    once) keeps one row with the epoch columns empty.

    Runs of different configurations are different experiments: group by ``config_hash``
    (or ``config``) as well as by ``label`` before pooling seeds.
    """
    from optbench.store.engine import open_store
    from optbench.train.record import Status

    try:
        wanted = None if status is None else Status(status)
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise BadInput(f"unknown run status {status!r} (one of {known})") from None
    from optbench.report.stored import run_rows

    store = open_store(db, read_only=True)
    try:
        runs = run_rows(store, experiment, task, wanted, check=False)
        epochs = store.epoch_rows(run_ids=[r["id"] for r in runs]) if runs else []
    finally:
        store.close()
    return results_frame(runs, epochs)


def results_frame(runs: list[dict], epochs: list[dict]) -> pd.DataFrame:
    """``load_results``'s frame from run rows and epoch rows as the ``Store`` returns them."""
    run_frame = pd.DataFrame(runs, columns=list(RUN_COLUMNS)).rename(columns=RUN_COLUMNS)
    written = [r.get("label") for r in runs]
    run_frame.insert(
        3,
        "label",
        [w if isinstance(w, str) and w else short_label(p)
         for w, p in zip(written, run_frame["plan"], strict=True)],
    )  # fmt: skip
    run_frame.insert(
        run_frame.columns.get_loc("trainer_revision") + 1,
        "config",
        [configs.describe(r) for r in runs],
    )
    epoch_frame = pd.DataFrame(epochs, columns=["run_id", *EPOCH_COLUMNS])
    frame = run_frame.merge(epoch_frame, on="run_id", how="left", validate="one_to_many")
    for col in ("epoch", "stage"):
        frame[col] = frame[col].astype("Int64")
    return frame.sort_values(["run_id", "epoch"]).reset_index(drop=True)
