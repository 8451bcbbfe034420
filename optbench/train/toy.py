"""A plan on a toy problem of [DSA]: the trajectory of (w1, w2), step by step.

The training engine runs it (``train_pass`` on a ``ToyObjective``), laid out with one
full-batch step per "epoch", so stage lengths, LR composition [MS §4.2], the
optimizer-state rule at stage boundaries, averaging and stage ends are the trainer's:
a toy trajectory shows what a plan does, not an imitation of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from optbench.errors import BadInput
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Plan
from optbench.plan.parser import parse_plan
from optbench.tasks.toy import get_problem
from optbench.train.config import RunConfig, RunSpec
from optbench.train.engine import train_pass
from optbench.train.problems import ToyObjective
from optbench.train.record import Status


@dataclass(frozen=True)
class ToyRun:
    """One plan on one toy problem.

    ``trajectory[0]`` is the start and ``trajectory[i]`` the point after step i;
    ``losses[i]`` is the objective at ``trajectory[i]`` (same length). ``lrs[i]`` and
    ``stages[i]`` are the LR in force during step i+1 (of the stage's first GE method)
    and its stage index, one per step taken. When the objective became NaN or infinite
    the run stopped before that step's point: ``diverged`` is true.
    """

    plan: str  # canonical text with resolved hyperparameters
    problem: str
    seed: int
    trajectory: list[tuple[float, float]]
    losses: list[float]
    lrs: list[float]
    stages: list[int]
    diverged: bool = False


def run_toy(plan: Plan | str, problem: str, steps: int, seed: int = 0) -> ToyRun:
    """Train ``plan`` on the toy ``problem`` for ``steps`` full-batch steps.

    ``plan`` is a plan expression or a parsed plan; either is resolved with the
    catalogue's defaults (arguments already filled in are kept). ``steps`` is split over
    the stages like epochs. ``seed`` seeds torch (the problems are deterministic).
    ``BadInput`` for an unknown problem or a plan the engine refuses.
    """
    spec = get_problem(problem)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise BadInput(f"a toy run needs a whole number of steps >= 1, not {steps!r}")
    text = format_plan(resolve(parse_plan(plan) if isinstance(plan, str) else plan))
    run = RunSpec(text, problem, seed, RunConfig(epochs=steps, batch_size=1))
    (record,) = train_pass([run], ToyObjective(spec.build))
    if record.status is Status.FAILED:
        raise BadInput(f"the plan cannot run on the toy problem {problem!r}: {record.error}")
    start = spec.build()
    trajectory = [tuple(p) for p in record.extra["trajectory"]]
    losses = [float(start.loss().detach())] + [e.val_loss for e in record.epochs]
    return ToyRun(
        plan=text,
        problem=problem,
        seed=seed,
        trajectory=trajectory,
        losses=losses,
        lrs=[e.lr for e in record.epochs],
        stages=[e.stage for e in record.epochs],
        diverged=record.status is Status.DIVERGED,
    )
