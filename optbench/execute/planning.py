"""From a plan file to the runs it asks for, and how they will train. No torch.

- ``expand``: every (plan, task, seed) of a plan file as a ``RunSpec`` with the label the
  file writes the plan with.
- ``stacking``: whether the seeds of a (plan, task) can train stacked in one pass, and
  why not when they cannot; ``--dry-run`` prints it.
- ``passes``: runs grouped into passes (one plan, task and configuration; at most
  ``width`` seeds each, or one when they cannot stack).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from optbench.methods.registry import REGISTRY, STAGE_ENDS
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.parser import parse_plan
from optbench.plan.planfile import PlanFile
from optbench.tasks.registry import get_task
from optbench.train.config import RunConfig, RunSpec


@dataclass(frozen=True)
class Planned:
    spec: RunSpec
    label: str  # the plan as the plan file writes it


def expand(
    plan_file: PlanFile, tasks: Sequence[str], seeds: int, config: RunConfig
) -> list[Planned]:
    """Every (plan, task, seed) of a plan file, in the order they will train: task by
    task, plan by plan, seeds 0..seeds-1. Unknown tasks, and plans whose stages do not fit
    the configuration's epochs, fail (naming the file and line) before anything runs."""
    for task in tasks:
        get_task(task)
    plan_file.check_epochs(config.epochs)
    resolved = [(plan, format_plan(resolve(plan, plan_file.defaults))) for plan in plan_file.plans]
    return [
        Planned(RunSpec(text, task, seed, config), plan.label)
        for task in tasks
        for plan, text in resolved
        for seed in range(seeds)
    ]


def paper_values(plan_file: PlanFile) -> dict[str, object] | None:
    """The plan file's paper values as the store keeps them, with the setting they are for
    (the file's epochs and batch size). Each cell is checked against ``optbench compare``'s
    metrics: a known metric, a value inside the metric's range and a std and rounding no
    wider than it (a percentage where a fraction belongs is named as such), and no second
    cell for the same task, plan, quantity (``final`` and ``error`` are one) and stat.
    ``PlanFileError`` names the line."""
    from optbench.errors import PlanFileError
    from optbench.report.metrics import METRICS

    if plan_file.paper is None:
        return None
    cells = []
    seen: dict[tuple, int] = {}
    for cell in plan_file.paper["cells"]:
        cell = dict(cell)
        line = cell.pop("line")

        def fail(message: str, line: int = line) -> PlanFileError:
            return PlanFileError(str(plan_file.path), message, key="paper.cells", line=line)

        metric = METRICS.get(cell["metric"])
        if metric is None:
            raise fail(f"unknown metric {cell['metric']!r} (one of {', '.join(METRICS)})")
        low, high = metric.bounds
        for key in ("value", "std", "rounding"):
            number = cell.get(key)
            top = high if key == "value" else high - low  # a spread spans at most the range
            if number is None or (low if key == "value" else 0.0) <= number <= top:
                continue
            hint = ""
            if top == 1.0 and 1.0 < number <= 100.0:
                hint = f": {metric.name} is a fraction, so {number!r} % is {number / 100:.6g}"
            where = f"range [{low:g}, {high:g}]" if key == "value" else f"range's width {top:g}"
            raise fail(f"{key} {number!r} is outside {metric.name}'s {where}{hint}")
        quantity = "final" if metric.name == "error" else metric.name
        key = (cell["task"], cell["plan"], quantity, cell["stat"])
        if key in seen:
            raise fail(f"a second value for the same cell (task, plan, {quantity} "
                       f"{cell['stat']}) as line {seen[key]}")  # fmt: skip
        seen[key] = line
        cells.append(cell)
    setting = {"epochs": plan_file.epochs, "batch_size": plan_file.batch_size}
    return {**plan_file.paper, "cells": cells, "setting": setting}


def stacking(
    plan: Plan | str, task: str, allowed: bool = True, refused: str = "--no-stack"
) -> tuple[bool, str]:
    """(whether the seeds of ``plan`` on ``task`` train stacked, the reason in words).

    Stacked seeds share every optimizer step, so every method must be elementwise and the
    same for every seed, and the model must have no randomness of its own: a plateau LR
    or stage end (each seed's own validation loss decides), the MAS variants (per-tensor
    reductions), dropout or recurrent models, and toy problems (one trajectory) train
    their seeds separately.
    """
    if not allowed:
        return False, refused
    spec = get_task(task)
    if spec.kind == "toy":
        return False, "a toy problem has one trajectory"
    if not spec.stacks:
        return False, f"{task}'s model has dropout or recurrent layers"
    plan = parse_plan(plan) if isinstance(plan, str) else plan
    for stage in plan.stages:
        if stage.until is not None and not STAGE_ENDS[stage.until.name].stacks:
            return False, f"the stage end {stage.until.name!r} follows each seed's loss"
        for call in stage.calls:
            if not REGISTRY[call.name].stacks:
                return False, f"{call.name} does not act elementwise on stacked seeds"
    return True, "stacked"


def passes(specs: Iterable[RunSpec], width: int, stacks: bool) -> list[list[RunSpec]]:
    """``specs`` (one plan, task and configuration) in passes of at most ``width`` seeds,
    or of one seed each when they cannot stack."""
    runs = sorted(specs, key=lambda s: s.seed)
    size = max(1, width) if stacks else 1
    return [runs[i : i + size] for i in range(0, len(runs), size)]
