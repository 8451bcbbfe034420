"""A results database with fixed numbers, for the report tests (compare formats, plots,
``load_results``). Imported by those tests; not a test itself.

Two tasks; on digits-mlp a plan that ends its first stage on a plateau (the runs took
different stage boundaries) and a plan with a single seed (n < 2); one diverged run that
no statistic may count. Every run has 20 epochs (fewer for the diverged one) whose
validation accuracy climbs to the run's final accuracy, with a bump at epoch 18 (0.01 above
the final value) so that ``best``, ``last10`` (the last 2 epochs) and ``final`` all differ.
"""

from __future__ import annotations

from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

EPOCHS = 20
# task, plan, per-seed final accuracies, per-seed stage starts (None: the plan's own)
RUNS = [
    ("digits-mlp", "SGD | SGD | SGD", [0.90, 0.92, 0.91], None),
    ("digits-mlp", "SGD | (Adam+d) | SGD", [0.95, 0.96, 0.94], None),
    ("digits-mlp", "Adam", [0.97, 0.96, 0.98], None),
    ("digits-mlp", "SGD:plateau(patience=2, max=8) | Adam", [0.93, 0.95, 0.94],
     [(0, 5), (0, 8), (0, 5)]),
    ("digits-mlp", "SGD(lr=0.1)", [0.99], None),
    ("iris-mlp", "Adam", [0.93, 0.97, 0.95, 0.96], None),
    ("iris-mlp", "SGD+M", [0.95, 0.97, 0.96, 0.96], None),
]  # fmt: skip
NOMINAL_STARTS = {"SGD | SGD | SGD": (0, 7, 14), "SGD | (Adam+d) | SGD": (0, 7, 14),
                  "Adam": (0,), "SGD(lr=0.1)": (0,), "SGD+M": (0,)}  # fmt: skip


def stored(plan: str) -> str:
    return format_plan(resolve(parse_plan(plan)))


def val_acc(final: float, epoch: int) -> float:
    """Climbs linearly to ``final`` at the last epoch; epoch 18 is 0.03 above its line,
    0.01 above ``final``."""
    value = final - 0.2 * (EPOCHS - epoch) / EPOCHS
    return round(value + (0.03 if epoch == 18 else 0.0), 6)


def record(task: str, plan: str, seed: int, acc: float, starts: tuple[int, ...]) -> RunRecord:
    epochs = tuple(
        EpochRecord(
            epoch=e,
            stage=sum(1 for s in starts if s < e) - 1,
            lr=0.01,
            train_loss=1.0 / e,
            train_acc=val_acc(acc, e) + 0.01,
            val_loss=round(1.0 - val_acc(acc, e), 6),
            val_acc=val_acc(acc, e),
            ms_per_batch=0.5 + seed / 10,
            s_per_epoch=0.1,
        )
        for e in range(1, EPOCHS + 1)
    )
    final = FinalMetrics(accuracy=acc, loss=round(1 - acc, 6), f1=acc - 0.01,
                         precision=acc - 0.02, recall=acc - 0.005)  # fmt: skip
    return RunRecord(stored(plan), task, seed, "cfg", Status.DONE, "cpu",
                     {"optbench": "0.1.0", "torch": "x"}, epochs, final, starts,
                     ms_per_batch=0.5 + seed / 10, s_per_epoch=0.1)  # fmt: skip


def fill(store, experiment: str = "fixture") -> None:
    for task, plan, accs, starts in RUNS:
        for seed, acc in enumerate(accs):
            taken = starts[seed] if starts else NOMINAL_STARTS[plan]
            rec = record(task, plan, seed, acc, taken)
            run_id = store.start_run(experiment, rec.plan, task, seed, "cfg", "cpu")
            store.finish_run(run_id, rec)
    diverged = RunRecord(stored("Adam(lr=10.0)"), "digits-mlp", 0, "cfg", Status.DIVERGED,
                         "cpu", {}, record("digits-mlp", "Adam", 0, 0.1, (0,)).epochs[:3],
                         None, (0,), error="training loss became NaN or infinite")  # fmt: skip
    run_id = store.start_run(experiment, diverged.plan, "digits-mlp", 0, "cfg", "cpu")
    store.finish_run(run_id, diverged)
