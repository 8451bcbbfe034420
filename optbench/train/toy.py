"""Running a plan on a toy problem of [DSA]: the trajectory of (w1, w2), step by step.

The plan is laid out as the trainer lays it out, with every step an "epoch" of one
full-batch step (``Schedule.build(plan, epochs=steps, steps_per_epoch=1)``): stage
lengths, LR composition [MS §4.2] and the optimizer-state rule at stage boundaries are
the trainer's, so a toy trajectory shows what a plan does, not an imitation of it.

What a toy run supports besides GE and LR methods: ``full`` (a toy step is already full
batch) and ``LA`` (Lookahead around the stage's optimizer). ``BadInput`` for the rest:
``avg`` and ``polyak`` (they move the parameters at a stage's end, outside any step),
end conditions and ``plateau`` (no validation loss), and a GE method that re-evaluates
the loss itself (DSA) sharing a stage with another GE method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from optbench.errors import BadInput
from optbench.methods.modifiers import wrap_lookahead
from optbench.methods.registry import REGISTRY, Kind
from optbench.plan.canonical import format_plan, resolve
from optbench.plan.model import Call, Plan, Stage
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import carries_optimizer, ge_lrs
from optbench.tasks.toy import get_problem
from optbench.train.loop import build_optimizers, versions
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status
from optbench.train.schedule import Schedule

_SUPPORTED_MODIFIERS = ("full", "LA")


@dataclass(frozen=True)
class ToyRun:
    """One plan on one toy problem.

    ``trajectory[0]`` is the start and ``trajectory[i]`` the point after step i;
    ``losses[i]`` is the objective at ``trajectory[i]`` (same length). ``lrs[i]`` and
    ``stages[i]`` are the LR in force during step i+1 (of the stage's first GE method)
    and its stage index, one per step taken. When the objective became NaN or infinite
    the run stopped there: the trajectory ends at that point, its loss is the non-finite
    value and ``diverged`` is true.
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
    the stages like epochs (a plan whose stages all have lengths takes their sum). At a
    stage boundary the optimizer is kept when ``carries_optimizer`` says so, else built
    fresh; the LR of each step is base × ``schedule.factor_at(step, base, stage)``. A GE
    method with ``needs_closure`` (DSA) is stepped with ``step(closure)``. ``seed`` seeds
    torch (the problems themselves are deterministic).
    """
    spec = get_problem(problem)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise BadInput(f"a toy run needs a whole number of steps >= 1, not {steps!r}")
    plan = resolve(parse_plan(plan) if isinstance(plan, str) else plan)
    _check_supported(plan)

    torch.manual_seed(seed)
    model = spec.build()
    schedule = Schedule.build(plan, epochs=steps, steps_per_epoch=1)

    def closure() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss = model.loss()
        loss.backward()
        return loss

    trajectory = [model.point()]
    losses: list[float] = []
    lrs: list[float] = []
    stages: list[int] = []
    optimizers: list[tuple[torch.optim.Optimizer, float]] = []
    steppers: list[torch.optim.Optimizer] = []
    lookahead: Call | None = None
    step = 0
    for si, stage in enumerate(plan.stages):
        fresh = si == 0 or not carries_optimizer(plan.stages[si - 1], stage)
        if fresh:
            optimizers = build_optimizers(model, stage)
        else:  # the running optimizers go on at this stage's base LRs
            optimizers = list(zip([o for o, _ in optimizers], ge_lrs(stage), strict=True))
        stage_lookahead = next((c for c in stage.calls if c.name == "LA"), None)
        if fresh or stage_lookahead != lookahead:
            # A carried optimizer keeps its Lookahead wrapper (slow weights, counter) only
            # while the same LA call continues.
            steppers = [
                wrap_lookahead(opt, **stage_lookahead.kwargs) if stage_lookahead else opt
                for opt, _ in optimizers
            ]
            lookahead = stage_lookahead
        uses_closure = any(_needs_closure(c) for c in stage.calls)
        for _ in range(schedule.stages[si].epochs):
            loss = _loss(model)
            losses.append(loss)
            if not math.isfinite(loss):
                return ToyRun(format_plan(plan), problem, seed, trajectory, losses, lrs,
                              stages, diverged=True)  # fmt: skip
            for opt, lr0 in optimizers:
                lr = lr0 * schedule.factor_at(step, lr0, si)
                for group in opt.param_groups:
                    group["lr"] = lr
            lrs.append(optimizers[0][0].param_groups[0]["lr"])
            if uses_closure:
                steppers[0].step(closure)
            else:
                closure()
                for opt in steppers:
                    opt.step()
            trajectory.append(model.point())
            stages.append(si)
            step += 1
    losses.append(_loss(model))
    diverged = not math.isfinite(losses[-1])
    return ToyRun(format_plan(plan), problem, seed, trajectory, losses, lrs, stages, diverged)


def _loss(model) -> float:
    with torch.no_grad():
        return float(model.loss())


def _needs_closure(call: Call) -> bool:
    spec = REGISTRY[call.name]
    return spec.kind is Kind.GE and spec.needs_closure


def _check_supported(plan: Plan) -> None:
    for index, stage in enumerate(plan.stages):
        where = f"stage {index + 1} of the plan"
        if stage.until is not None:
            raise BadInput(
                f"{where} ends on the condition {stage.until.name!r}, which needs a "
                f"validation loss that a toy problem does not have; give it a length instead"
            )
        for call in stage.calls:
            spec = REGISTRY[call.name]
            if spec.kind is Kind.MODIFIER and call.name not in _SUPPORTED_MODIFIERS:
                raise BadInput(
                    f"the stage modifier {call.name!r} ({where}) is not supported on toy "
                    f"problems; supported: {', '.join(_SUPPORTED_MODIFIERS)}"
                )
            if spec.kind is Kind.LR and spec.stateful:
                raise BadInput(
                    f"the LR method {call.name!r} ({where}) follows the validation loss, "
                    f"which a toy problem does not have"
                )
        _check_closure(stage, where)


def _check_closure(stage: Stage, where: str) -> None:
    ge = [c for c in stage.calls if REGISTRY[c.name].kind is Kind.GE]
    closure = [c.name for c in ge if _needs_closure(c)]
    if closure and len(ge) > 1:
        raise BadInput(
            f"{closure[0]} re-evaluates the loss inside its step, so it cannot share "
            f"{where} with another GE method on a toy problem"
        )


def toy_record(plan: Plan, task: str, problem: str, seed: int, config) -> RunRecord:
    """``optbench run`` on a toy task: one "epoch" per full-batch step, the objective as
    both losses, accuracy-type metrics left empty, the trajectory kept in ``extra``."""
    run = run_toy(plan, problem, config.epochs, seed)
    nan = math.nan
    epochs = tuple(
        EpochRecord(i + 1, stage, lr, loss, nan, loss, nan, nan, nan)
        for i, (stage, lr, loss) in enumerate(
            zip(run.stages, run.lrs, run.losses[1:], strict=False)
        )
    )
    status = Status.DIVERGED if run.diverged else Status.DONE
    final = None if run.diverged else FinalMetrics(nan, run.losses[-1], nan, nan, nan)
    starts = tuple(i for i, s in enumerate(run.stages) if i == 0 or s != run.stages[i - 1])
    return RunRecord(
        run.plan, task, seed, config.hash, status, "cpu", versions(), epochs, final, starts,
        error="the objective became NaN or infinite" if run.diverged else None,
        extra={"trajectory": [list(p) for p in run.trajectory]},
    )  # fmt: skip
