"""``optbench methods`` and ``optbench tasks``: the catalogues as tables.

The tasks table says whether each task's data was found; how to get each missing dataset
(``optbench data fetch NAME`` where it can download it, and where to put the files)
follows the table as lines that wrap, never squeezed into a cell.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from optbench.methods.registry import REGISTRY, STAGE_ENDS
from optbench.tasks.registry import DATASETS, TASKS


def _args(defaults) -> str:
    return ", ".join(f"{k}={v}" for k, v in defaults.items())


def methods_table() -> Table:
    table = Table(title="methods (write them in plans; arguments override the defaults)")
    for col in ("name", "kind", "defaults", "description", "paper"):
        table.add_column(col)
    entries = [(s.name, s) for s in REGISTRY.values()]
    entries += [(f":{s.name}", s) for s in STAGE_ENDS.values()]  # written after a stage
    for name, spec in entries:
        cells = (name, spec.kind.value, _args(spec.defaults), spec.description, spec.paper)
        table.add_row(*map(Text, cells))  # plain text: '[...]' is no style tag here
    return table


def tasks_table(data_dir: str | None = None) -> Group:
    """The task catalogue with whether each one's data was found, then how to get each
    missing dataset."""
    table = Table(title="tasks (dataset-model)")
    for col in ("task", "description", "paper", "data"):
        table.add_column(col, no_wrap=col in ("task", "data"))
    found = {name: d.available(data_dir) for name, d in DATASETS.items()}
    for task in TASKS.values():
        status = (
            Text("found", style="green")
            if found[task.dataset]
            else Text(f"missing: {task.dataset}", style="yellow")
        )
        table.add_row(Text(task.name), Text(task.description), Text(task.paper), status)
    missing = [name for name in DATASETS if not found[name]]
    lines: list[Text] = []
    if missing:
        lines.append(Text("\nmissing data, and how to get it:", style="bold"))
    for name in missing:  # each hint names 'optbench data fetch' where a download exists
        lines.append(Text(f"- {name}: {DATASETS[name].hint}"))
    return Group(table, *lines)
