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

from optbench.errors import BadInput
from optbench.methods.registry import REGISTRY, STAGE_ENDS
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.parser import parse_plan
from optbench.plan.planfile import PlanFile
from optbench.plan.timeline import stage_epochs
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
    task, plan by plan, seeds 0..seeds-1. Unknown tasks fail before anything runs."""
    for task in tasks:
        get_task(task)
    resolved = []
    for plan in plan_file.plans:
        full = resolve(plan, plan_file.defaults)
        try:
            stage_epochs(full, config.epochs)  # every stage gets an epoch, before anything runs
        except BadInput as error:
            raise BadInput(f"{plan_file.path}: plan {plan.source.strip()!r}: {error}") from None
        resolved.append((plan, format_plan(full)))
    out = []
    for task in tasks:
        for plan, text in resolved:
            label = plan.source.strip() or format_plan(plan)
            out += [Planned(RunSpec(text, task, seed, config), label) for seed in range(seeds)]
    return out


def stacking(plan: Plan | str, task: str, allowed: bool = True) -> tuple[bool, str]:
    """(whether the seeds of ``plan`` on ``task`` train stacked, the reason in words).

    Stacked seeds share every optimizer step, so every method must be elementwise and the
    same for every seed, and the model must have no randomness of its own: a plateau LR
    or stage end (each seed's own validation loss decides), the MAS variants (per-tensor
    reductions), dropout or recurrent models, and toy problems (one trajectory) train
    their seeds separately.
    """
    if not allowed:
        return False, "--no-stack"
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
