"""``optbench compare``: per task, the ranked table beside each plan's Y/N table."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from optbench.plan.parser import parse_plan
from optbench.report.labels import strip_defaults
from optbench.report.stats import summarize
from optbench.report.yn import yn_table


def _pm(mean: float, std: float, n: int) -> str:
    return f"{mean:.4f} ± {std:.4f}" if n > 1 and not math.isnan(std) else f"{mean:.4f}"


def ranked_table(task: str, frame) -> Table:
    table = Table(title=f"{task}: validation accuracy over seeds", title_justify="left")
    for name, justify in [("rank", "right"), ("plan", "left"), ("val acc (mean ± std)", "right"),
                          ("n", "right"), ("val loss", "right"), ("ms/batch", "right"),
                          ("s/epoch", "right")]:  # fmt: skip
        table.add_column(name, justify=justify)
    for row in frame.itertuples():
        table.add_row(
            str(row.rank), row.label, _pm(row.mean, row.std, row.n), str(row.n),
            f"{row.val_loss:.4f}", f"{row.ms_per_batch:.3f}", f"{row.s_per_epoch:.3f}",
        )  # fmt: skip
    return table


def render_compare(rows: Sequence[dict]) -> RenderableType:
    """Everything ``compare`` prints, for stored run rows of finished runs."""
    frame = summarize(rows)
    if frame.empty:
        return Text("no finished runs stored yet: train some with 'optbench run PLAN.yaml'")
    parts: list[RenderableType] = []
    for task, per_task in frame.groupby("task", sort=True):
        yn = [
            yn_table(strip_defaults(parse_plan(row.plan)), title=f"#{row.rank} {row.label}")
            for row in per_task.itertuples()
        ]
        parts += [ranked_table(str(task), per_task), Columns(yn, padding=(0, 2)), Text("")]
    return Group(*parts)
