"""The metrics ``compare``, ``baseline`` and ``check`` can rank on, one value per run.

Each metric turns stored rows into one number per run; the statistics over seeds are
``stats.summarize``'s. Metrics that read epoch rows (``best``, ``last10``) say so, and the
caller loads epochs only for them.

| name | per run | better | paper |
|---|---|---|---|
| ``final`` | validation accuracy of the final model | higher | all |
| ``best`` | the best epoch's validation accuracy | higher | [ANN] |
| ``last10`` | mean val. accuracy of the last 10% of epochs (at least 1) | higher | [ANN] |
| ``error`` | error rate 100·(1 − final accuracy), in percent | lower | [PWA] |
| ``f1`` / ``precision`` / ``recall`` | macro averages on the validation split | higher | [DSA] |
| ``loss`` | validation loss of the final model | lower | |

"Max over seeds" [ANN] is not a per-run metric: ``summarize`` reports the best seed's
value (max, or min for a lower-is-better metric) beside every metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optbench.errors import BadInput, did_you_mean

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Metric:
    name: str
    title: str  # in table titles: "final validation accuracy"
    column: str  # in column headers: "val acc"
    higher_is_better: bool
    decimals: int  # shown and exported with this many decimals
    needs_epochs: bool = False
    paper: str = ""
    bounds: tuple[float, float] = (0.0, 1.0)  # every value lies in it: a fraction by default

    @property
    def extreme(self) -> str:
        """The best seed's value is the max for higher-is-better metrics, else the min."""
        return "max" if self.higher_is_better else "min"


METRICS = {
    m.name: m
    for m in (
        Metric("final", "final validation accuracy", "val acc", True, 4),
        Metric("best", "best-epoch validation accuracy", "best val acc", True, 4, True, "[ANN]"),
        Metric(
            "last10",
            "validation accuracy, mean of the last 10% of epochs",
            "last-10% val acc",
            True,
            4,
            True,
            "[ANN]",
        ),
        Metric(
            "error",
            "final validation error rate (%)",
            "error %",
            False,
            2,
            paper="[PWA]",
            bounds=(0.0, 100.0),
        ),
        Metric("f1", "macro F1", "macro F1", True, 4, paper="[DSA]"),
        Metric("precision", "macro precision", "macro precision", True, 4, paper="[DSA]"),
        Metric("recall", "macro recall", "macro recall", True, 4, paper="[DSA]"),
        Metric("loss", "final validation loss", "val loss", False, 4, bounds=(0.0, math.inf)),
    )
}
_RUN_COLUMN = {
    "final": "accuracy",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
    "loss": "loss",
}
EPOCH_COLUMNS = ("run_id", "epoch", "val_acc")  # what the epoch-based metrics read
ALIASES = {"accuracy": "final", "acc": "final", "val-loss": "loss", "error-rate": "error"}


def get_metric(name: str) -> Metric:
    """The metric called ``name`` (or an alias); ``BadInput`` naming the closest ones."""
    name = ALIASES.get(name, name)
    if name in METRICS:
        return METRICS[name]
    hint = did_you_mean(name, METRICS)
    raise BadInput(f"unknown metric {name!r}{hint} (one of {', '.join(METRICS)})")


def run_values(
    metric: Metric, runs: pd.DataFrame, epochs: Sequence[dict] | pd.DataFrame | None = None
) -> pd.Series:
    """The metric's value for each run of ``runs`` (a frame of run rows with an ``id``
    column), aligned with ``runs``; NaN where a run has no value (e.g. no epoch rows)."""
    import pandas as pd

    if metric.name in _RUN_COLUMN:
        return pd.to_numeric(runs[_RUN_COLUMN[metric.name]], errors="coerce").astype(float)
    if metric.name == "error":
        return 100.0 * (1.0 - pd.to_numeric(runs["accuracy"], errors="coerce").astype(float))
    if epochs is None:
        raise ValueError(f"metric {metric.name!r} needs the runs' epoch rows")
    if not isinstance(epochs, pd.DataFrame):  # plain rows: read only the columns needed
        epochs = pd.DataFrame({c: [e[c] for e in epochs] for c in EPOCH_COLUMNS})
    return runs["id"].map(epoch_values(metric, epochs)).astype(float)


def epoch_values(metric: Metric, epochs: pd.DataFrame) -> pd.Series:
    """Per run id, the epoch-based metric: ``best`` = max val_acc; ``last10`` = mean val_acc
    of the last ceil(10%) of the run's epochs [ANN] (a 15-epoch run: its last 2)."""
    import pandas as pd

    if epochs.empty:
        return pd.Series(dtype=float)
    frame = epochs[["run_id", "epoch", "val_acc"]].sort_values(["run_id", "epoch"])
    acc = pd.to_numeric(frame["val_acc"], errors="coerce").astype(float)
    if metric.name == "best":
        return acc.groupby(frame["run_id"]).max()
    by_run = frame.groupby("run_id")
    count = by_run["epoch"].transform("size")
    from_end = by_run.cumcount(ascending=False)
    keep = from_end < (count + 9) // 10  # ceil(10% of the epochs), at least 1
    return acc[keep].groupby(frame["run_id"][keep]).mean()
