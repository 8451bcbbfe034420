"""The Y/N schedule table of a plan [MS Table 3]: rows = methods, columns = stages."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from optbench.plan.model import Plan
from optbench.plan.timeline import Row, schedule_rows
from optbench.report.boxes import Col, Lines, box_table


def yn_table(plan: Plan, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=True)
    table.add_column("method")
    table.add_column("kind")
    for i in range(len(plan.stages)):
        table.add_column(f"S{i + 1}", justify="center")
    for row in schedule_rows(plan):
        # Text, not markup: rich would read a group such as ``[hidden]`` as a style tag
        table.add_row(Text(row.label), row.kind_label, *("Y" if a else "N" for a in row.active))
    return table


def yn_box(rows: Sequence[Row], title: str | None = None) -> Lines:
    """``yn_table`` of these schedule rows as text lines, in the same look (``boxes``)."""
    stages = len(rows[0].active) if rows else 0
    cols = [Col("method"), Col("kind"), *(Col(f"S{i + 1}", "center") for i in range(stages))]
    body = [[r.label, r.kind_label, *("Y" if a else "N" for a in r.active)] for r in rows]
    return box_table(cols, body, title=title)
