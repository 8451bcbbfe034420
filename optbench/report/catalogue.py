"""``optbench methods`` and ``optbench tasks``: the catalogues as tables."""

from __future__ import annotations

from rich.markup import escape
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


def tasks_table(data_dir: str | None = None) -> Table:
    table = Table(title="tasks (dataset-model)")
    for col in ("task", "description", "paper", "data"):
        table.add_column(col)
    found = {name: d.available(data_dir) for name, d in DATASETS.items()}
    for task in TASKS.values():
        data = DATASETS[task.dataset]
        hint = escape(data.hint)
        status = "[green]found[/]" if found[task.dataset] else f"[yellow]missing[/]: {hint}"
        table.add_row(Text(task.name), Text(task.description), Text(task.paper), status)
    return table
