"""``optbench show``: a plan's canonical text, Y/N table and LR curve, drawn in text."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.timeline import schedule_rows, stage_epochs
from optbench.report.yn import yn_box
from optbench.train.schedule import lr_curve

_BLOCKS = " ▁▂▃▄▅▆▇█"


def text_curve(curve: list[tuple[float, float]], width: int = 60, height: int = 8) -> str:
    """A block chart of (x, y) points: one column per sample bucket, linear y from 0."""
    ys = [y for _, y in curve]
    cols = [ys[min(len(ys) - 1, i * len(ys) // width)] for i in range(width)]
    top = max(cols) or 1.0
    lines = []
    for level in range(height, 0, -1):
        row = ""
        for y in cols:
            filled = y / top * height - (level - 1)
            row += _BLOCKS[max(0, min(8, round(filled * 8)))]
        label = f"{top:.3g}" if level == height else ("0" if level == 1 else "")
        lines.append(f"{label:>9} ┤{row}")
    x_end = f"{curve[-1][0]:.0f}"
    lines.append(" " * 10 + "└" + "─" * width)
    lines.append(" " * 11 + "0" + " " * (width - 1 - len(x_end)) + x_end + " epochs")
    return "\n".join(lines)


def render_show(plan: Plan, epochs: int, steps_per_epoch: int) -> RenderableType:
    resolved = resolve(plan)
    lengths = stage_epochs(resolved, epochs)
    curve = lr_curve(resolved, epochs, steps_per_epoch)
    return Group(
        Text.assemble(("plan  ", "bold"), format_plan(plan)),
        Text.assemble(("stored as  ", "bold"), format_plan(resolved)),
        Text.assemble(("epochs per stage  ", "bold"), " | ".join(map(str, lengths))),
        yn_box(schedule_rows(plan)),
        Text(f"learning rate ({steps_per_epoch} steps per epoch)", style="bold"),
        Text(text_curve(curve)),
    )
