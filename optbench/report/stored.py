"""Reading what the reports need from a ``Store``: run rows with the labels their plan
files wrote, the papers' values, and filters that name what exists when they match
nothing.

No torch here: ``compare`` stays light; and no SQLAlchemy: the store owns the schema, the
reports read through its methods.
"""

from __future__ import annotations

from typing import Any

from optbench.errors import BadInput, did_you_mean
from optbench.report.paper import Paper, merge, read_paper
from optbench.train.record import Status


def check_experiment(store, experiment: str | None) -> None:
    """``BadInput`` naming the stored experiments when ``experiment`` is not one of them."""
    if experiment is None:
        return
    known = store.experiments()
    if experiment not in known:
        listed = ", ".join(known) if known else "none yet"
        raise BadInput(
            f"no experiment named {experiment!r} in the database"
            f"{did_you_mean(experiment, known)} (experiments: {listed})"
        )


def check_task(store, rows: list[dict], experiment: str | None, task: str | None) -> None:
    """``BadInput`` naming the tasks that have runs when ``task`` has none (in
    ``experiment``, when given)."""
    if task is None or rows:
        return
    stored = sorted({r["task"] for r in store.run_rows(experiment=experiment, status=None)})
    where = f" in experiment {experiment!r}" if experiment else ""
    listed = ", ".join(stored) if stored else "none yet"
    raise BadInput(
        f"no runs of task {task!r}{where}{did_you_mean(task, stored)} (tasks with runs: {listed})"
    )


def link_labels(store) -> dict[int, str | frozenset[str]]:
    """Per run id, the label its experiment links carry: one text when they agree, the
    set of them when they do not (``labels.group_label`` then names the plan by its short
    label); runs whose links have none are left out."""
    return {run_id: next(iter(labels)) if len(labels) == 1 else labels
            for run_id, labels in store.run_labels().items()}  # fmt: skip


def run_rows(
    store,
    experiment: str | None = None,
    task: str | None = None,
    status: Status | None = None,
    *,
    check: bool = True,
) -> list[dict[str, Any]]:
    """Run rows (every status by default) with ``label``: from the experiment's links
    when filtered by experiment, else ``link_labels``.
    ``check``: an experiment that does not exist is ``BadInput`` naming those that do."""
    if check:
        check_experiment(store, experiment)
    rows = store.run_rows(experiment=experiment, task=task, status=status)
    if experiment is None and rows:
        labels = link_labels(store)
        for row in rows:
            row["label"] = labels.get(row["id"])
    return rows


def paper_of(store, experiment: str | None = None) -> Paper:
    """The paper's values of ``experiment``, or of every experiment (merged)."""
    names = [experiment] if experiment is not None else store.experiments()
    return merge(read_paper(store.experiment_paper(name)) for name in names)
