"""``optbench show``: a plan as written, its canonical and stored texts, its epochs per
stage, what happens to the optimizer state at each stage boundary, its Y/N table and its
LR curve, drawn in text."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.timeline import Carry, boundaries, schedule_rows, stage_epochs
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


def carry_lines(carries: tuple[Carry, ...]) -> list[str]:
    """One line per stage boundary: whether the optimizer state carries, and why (not)."""
    lines = []
    for i, carry in enumerate(carries, start=1):
        what = "optimizer state carries" if carry.carries else "fresh optimizer"
        lines.append(f"  S{i} -> S{i + 1}  {what}: {carry.reason}")
    return lines


def render_show(plan: Plan, epochs: int, steps_per_epoch: int) -> RenderableType:
    """What ``optbench show`` prints for a parsed plan laid over ``epochs`` epochs.
    ``BadInput`` when the plan's arguments or lengths do not fit (``resolve``,
    ``stage_epochs``)."""
    resolved = resolve(plan)
    lengths = stage_epochs(resolved, epochs)
    curve = lr_curve(resolved, epochs, steps_per_epoch)
    parts: list[RenderableType] = [
        Text.assemble(("plan  ", "bold"), plan.label or format_plan(plan)),
        Text.assemble(("canonical  ", "bold"), format_plan(plan)),
        Text.assemble(("stored as  ", "bold"), format_plan(resolved)),
        Text.assemble(("epochs per stage  ", "bold"), " | ".join(map(str, lengths))),
    ]
    if len(plan.stages) > 1:
        parts.append(Text("optimizer state at each stage boundary", style="bold"))
        parts.append(Text("\n".join(carry_lines(boundaries(resolved)))))
    parts += [
        yn_box(schedule_rows(plan)),
        Text(f"learning rate ({steps_per_epoch} steps per epoch)", style="bold"),
        Text(text_curve(curve)),
    ]
    return Group(*parts)
