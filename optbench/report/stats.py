"""Per (task, plan) statistics over seeds, from plain stored run rows."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from optbench.report.labels import short_label

COLUMNS = ["task", "plan", "label", "mean", "std", "n", "val_loss", "ms_per_batch", "s_per_epoch"]


def summarize(rows: Sequence[dict], metric: str = "accuracy") -> pd.DataFrame:
    """One row per (task, plan): mean and sample std of ``metric`` over seeds, n, mean
    validation loss, ms/batch and s/epoch; ranked within each task by the mean (1 = best)."""
    if not rows:
        return pd.DataFrame(columns=[*COLUMNS, "rank"])
    frame = pd.DataFrame(list(rows))
    grouped = frame.groupby(["task", "plan"], sort=True)
    out = grouped.agg(
        mean=(metric, "mean"),
        std=(metric, "std"),
        n=(metric, "count"),
        val_loss=("loss", "mean"),
        ms_per_batch=("ms_per_batch", "mean"),
        s_per_epoch=("s_per_epoch", "mean"),
    ).reset_index()
    out["label"] = out["plan"].map(short_label)
    out["rank"] = out.groupby("task")["mean"].rank(ascending=False, method="min").astype(int)
    return out.sort_values(["task", "rank", "label"]).reset_index(drop=True)[[*COLUMNS, "rank"]]
