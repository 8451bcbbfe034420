"""The Y/N schedule table of a plan [MS Table 3]: rows = methods, columns = stages."""

from __future__ import annotations

from collections.abc import Sequence

from optbench.plan.timeline import Row
from optbench.report.boxes import BoxTable, Col


def yn_box(rows: Sequence[Row], title: str | None = None) -> BoxTable:
    """The Y/N table of these schedule rows (``schedule_rows``) as a box table, laid out
    when printed (a method's text wraps at spaces on a narrow console)."""
    stages = len(rows[0].active) if rows else 0
    cols = [
        Col("method", wrap=1),
        Col("kind"),
        *(Col(f"S{i + 1}", "center") for i in range(stages)),
    ]
    body = [[r.label, r.kind_label, *("Y" if a else "N" for a in r.active)] for r in rows]
    return BoxTable(cols, body, title=title)
