"""The Y/N schedule table of a plan [MS Table 3]: rows = methods, columns = stages."""

from __future__ import annotations

from rich.table import Table

from optbench.plan.model import Plan
from optbench.plan.timeline import schedule_rows


def yn_table(plan: Plan, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=True)
    table.add_column("method")
    table.add_column("kind")
    for i in range(len(plan.stages)):
        table.add_column(f"S{i + 1}", justify="center")
    for row in schedule_rows(plan):
        table.add_row(row.label, row.kind_label, *("Y" if a else "N" for a in row.active))
    return table
