"""``optbench compare``: per task, the ranked table beside each plan's Y/N table.

``render_compare`` draws the terminal table (rich); ``export.export_compare`` writes the
same numbers as Markdown, LaTeX, CSV or JSON. Both start from ``stats.summarize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from rich.console import Group, RenderableType
from rich.text import Text

from optbench.report import cells
from optbench.report.boxes import BoxTable, Col, SideBySide
from optbench.report.metrics import Metric, get_metric
from optbench.report.stats import ALPHA, summarize
from optbench.report.yn import yn_box

EMPTY = "no finished runs stored yet: train some with 'optbench run PLAN.yaml'"
FORMATS = ("table", "markdown", "latex", "csv", "json")

COLUMNS = [  # the ranked table's columns, in order, in every format
    "rank",
    "plan",
    "mean",
    "ci",
    "n",
    "extreme",
    "val_loss",
    "ms_per_batch",
    "s_per_epoch",
    "vs_best",
]
_RIGHT = {"rank", "mean", "ci", "n", "extreme", "val_loss", "ms_per_batch", "s_per_epoch"}


def ranked_table(task: str, frame: pd.DataFrame, metric: Metric, alpha: float = ALPHA):
    """The ranked table of one task; the best plan and those tied with it in bold."""
    head = cells.header(metric)
    cols = [
        Col(getattr(head, k), "right" if k in _RIGHT else "left", wrap=k == "plan") for k in COLUMNS
    ]
    rows, styles = [], []
    for row in frame.itertuples():
        text = cells.texts(cells.numbers(row, metric), metric)
        text["plan"] = row.label
        rows.append([text[k] for k in COLUMNS])
        styles.append("bold" if cells.highlighted(row) else None)
    return BoxTable(
        cols,
        rows,
        title=f"{task}: {metric.title} over seeds",
        caption=cells.caption(metric, alpha),
        row_styles=styles,
    )


def render_compare(
    rows: Sequence[dict],
    metric: str | Metric = "final",
    epochs: Sequence[dict] | None = None,
    alpha: float = ALPHA,
) -> RenderableType:
    """Everything ``compare`` prints in the terminal, for stored rows of finished runs
    (and their epoch rows when the metric needs them)."""
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    frame = summarize(rows, metric, epochs, alpha)
    if frame.empty:
        return Text(EMPTY)
    parts: list[RenderableType] = []
    for task, per_task in frame.groupby("task", sort=True):
        parts.append(ranked_table(str(task), per_task, metric, alpha))
        parts += [
            Text(f"{row.label}: {note}")
            for row in per_task.itertuples()
            if (note := cells.stage_note(row))
        ]
        blocks = [
            yn_box(cells.schedule(row.plan), title=f"{_pos(row)} {row.label}")
            for row in per_task.itertuples()
        ]
        parts.append(SideBySide(blocks))
        parts.append(Text(""))
    return Group(*parts)


def _pos(row) -> str:
    """The Y/N table's title: the plan's rank (``#1``), or ``n<2`` when it has none."""
    return "n<2" if pd.isna(row.rank) else f"#{int(row.rank)}"
