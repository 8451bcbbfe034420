"""The training engine: one pass trains the seeds of one (plan, task, configuration).

Written like airbench, top to bottom: the problem's data already sits on the device,
batches are slices of per-seed permutations, the LR of every step of an epoch is laid out
once from the pure schedule, the timed region holds only the training steps, and the only
host syncs are at the epoch end. No database here: the pass reports each finished epoch,
each finished run and a checkpoint to a ``Sink``, and returns the records.

Seeds: with one seed the pass trains the plain model; with S seeds, a ``SeedStack`` of S
models whose optimizer steps act on stacked tensors (the runner stacks only plans and
tasks whose methods are elementwise; see ``optbench.execute.planning.stacking``). Each
seed's initial weights, data order and augmentation are those of its separate run.

Per seed, a NaN or infinite training loss ends the run as ``diverged`` (its record goes
to the sink at once; its slice of a stack goes on computing, unrecorded, and no other
seed's numbers depend on it). Any other exception ends every seed still training as
``failed`` with the error kept. Bad input (``OptbenchError``) is raised.

Everything a pass needs to go on lives in one ``PassState``; ``snapshot`` turns it into a
checkpoint (plain dicts, lists and tensors, loadable with ``torch.load(weights_only=True)``)
and ``train_pass(resume=...)`` continues from one, bit for bit on the CPU.
"""

from __future__ import annotations

import math
import platform
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

import optbench
from optbench.errors import BadInput, OptbenchError
from optbench.methods.averaging import PhaseAverage, PolyakAverage
from optbench.methods.ge import build_torch_optimizer
from optbench.methods.lr import PlateauFactor
from optbench.methods.modifiers import wrap_lookahead
from optbench.methods.registry import REGISTRY, Kind
from optbench.plan.model import Call, Plan, Stage
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import carries_optimizer
from optbench.train.config import RunSpec
from optbench.train.eager import eager
from optbench.train.ends import Plateau
from optbench.train.groups import partition
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status
from optbench.train.schedule import Schedule, TermKey
from optbench.train.stacking import is_stack, named_model_parameters, recalibrate_batchnorm
from optbench.train.timing import EpochTimer

CHECKPOINT_FORMAT = 1


class Sink:
    """Where a pass reports while it trains; this one ignores everything.

    ``epoch(i, record)`` after every finished epoch of seed i (specs[i]); ``finished(i,
    record)`` once per seed, when its run ends (diverged mid-pass, or at the end);
    ``checkpoint(state)`` after each epoch's records, where ``state()`` builds the
    checkpoint (call it only to keep one; it holds live tensors, so save it at once).
    """

    def epoch(self, index: int, record: EpochRecord) -> None:
        pass

    def finished(self, index: int, record: RunRecord) -> None:
        pass

    def checkpoint(self, state: Callable[[], dict[str, Any]]) -> None:
        pass


def versions() -> dict[str, str]:
    return {
        "optbench": optbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def build_optimizers(
    named: Sequence[tuple[str, nn.Parameter]], stage: Stage
) -> list[tuple[torch.optim.Optimizer, float]]:
    """The stage's GE methods, each on its parameter group, with its base LR."""
    specs = [(c, REGISTRY[c.name]) for c in stage.calls]
    ge_calls = [c for c, s in specs if s.kind is Kind.GE]
    options = [(s, c.kwargs) for c, s in specs if s.kind is Kind.GE_OPTION]
    if len(ge_calls) == 1 and ge_calls[0].group is None:
        groups = [[p for _, p in named]]
    else:
        closures = [c.name for c in ge_calls if REGISTRY[c.name].needs_closure]
        if closures:
            raise BadInput(f"{closures[0]} re-evaluates the loss itself and cannot share a "
                           "stage with another parameter group's GE method")  # fmt: skip
        groups = partition(named, [c.group for c in ge_calls])
    built = []
    for call, params in zip(ge_calls, groups, strict=True):
        spec = REGISTRY[call.name]
        mine = [(o, a) for o, a in options if call.name in o.applies_to]
        optimizer = build_torch_optimizer(spec, params, call.kwargs, mine, cls_of=eager)
        built.append((optimizer, _base_lr(call)))
    return built


def _base_lr(call: Call) -> float:
    return float(call.kwargs.get("lr", 1.0))


def _modifiers(stage: Stage) -> dict[str, Mapping]:
    return {c.name: c.kwargs for c in stage.calls if REGISTRY[c.name].kind is Kind.MODIFIER}


@dataclass
class StageObjects:
    """What trains one stage: its optimizers (with their groups' base LRs), what steps
    them (the optimizers, or Lookahead around them), the phase average and end condition."""

    index: int
    optimizers: list[tuple[torch.optim.Optimizer, float]]
    steppers: list[torch.optim.Optimizer]
    lookahead: Call | None
    average: PhaseAverage | None
    end: Plateau | None
    batch_size: int
    closure: bool  # the GE method evaluates the loss itself (DSA)


@dataclass
class PassState:
    """Everything a pass needs to go on; one object, saved whole by ``snapshot``."""

    model: nn.Module
    generators: list[torch.Generator]
    records: list[list[EpochRecord]]  # per seed, its finished epochs
    outcome: list[Status | None]  # per seed: None while it trains
    errors: list[str | None]
    points: list[list[tuple[float, ...]]]  # per seed, a toy problem's trajectory
    stage: int = 0  # the stage being trained, or the next to enter
    epoch_in_stage: int = 0  # epochs of it done
    entered: bool = False  # whether ``objects`` belong to ``stage``
    taken: list[int] = field(default_factory=list)  # epochs each finished stage took
    stage_starts: list[int] = field(default_factory=list)  # epoch (0-based) each began
    objects: StageObjects | None = None  # of the last stage entered
    plateaus: dict[TermKey, PlateauFactor] = field(default_factory=dict)
    polyak: PolyakAverage | None = None

    @property
    def training(self) -> list[int]:
        return [i for i, o in enumerate(self.outcome) if o is None]


def train_pass(
    specs: Sequence[RunSpec],
    problem,
    *,
    sink: Sink | None = None,
    resume: Mapping[str, Any] | None = None,
) -> list[RunRecord]:
    """Train runs ``specs`` (one plan, task and configuration; their seeds) together on
    ``problem`` (``optbench.train.problems``) and return one record per spec.

    ``resume``: a checkpoint of this very pass (``snapshot``), to go on from its last
    finished epoch. The caller sets torch's thread count (``config.threads``).
    """
    sink = sink or Sink()
    plan, config = _check(specs)
    device = torch.device(config.device)
    seeds = [s.seed for s in specs]
    schedule = Schedule.build(plan, config.epochs, problem.steps_per_epoch(config.batch_size))
    model = problem.build(seeds, device, None if resume is None else bool(resume["stacked"]))
    state = PassState(
        model=model,
        generators=[torch.Generator(device=device).manual_seed(seed) for seed in seeds],
        records=[[] for _ in seeds],
        outcome=[None] * len(seeds),
        errors=[None] * len(seeds),
        points=[[problem.start(model)] if problem.kind == "toy" else [] for _ in seeds],
    )
    if resume is not None:
        _restore(state, resume, specs, plan, schedule, problem, config.batch_size)
    try:
        _train(state, plan, schedule, problem, config.batch_size, sink, specs)
        final = _finish(state, problem, config.batch_size)
    except OptbenchError:
        raise
    except Exception as e:  # a failed pass is recorded; the next one goes on
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
        for i in state.training:
            state.outcome[i], state.errors[i] = Status.FAILED, error
        final = {}
    out = []
    for i, spec in enumerate(specs):
        record = _record(spec, state, i, final.get(i), len(seeds))
        if i in final or state.outcome[i] is Status.FAILED:
            sink.finished(i, record)
        out.append(record)
    return out


def _check(specs: Sequence[RunSpec]) -> tuple[Plan, Any]:
    if not specs:
        raise ValueError("a pass needs at least one run")
    first = specs[0]
    for spec in specs[1:]:
        if (spec.plan, spec.task, spec.config) != (first.plan, first.task, first.config):
            raise ValueError("the runs of a pass share plan, task and configuration")
    return parse_plan(first.plan), first.config


def _train(state, plan, schedule, problem, batch_size, sink, specs) -> None:
    """Every remaining epoch of every stage, in order."""
    timer = EpochTimer(torch.device(specs[0].config.device))
    while state.stage < len(plan.stages) and state.training:
        if not state.entered:
            _enter(state, plan, schedule, problem, batch_size)
        si, stage_objects = state.stage, state.objects
        layout = schedule.stages[si]
        wall = time.perf_counter()
        lr_table, losses, predictions, elapsed, order = _epoch(
            state, stage_objects, schedule, problem, timer
        )
        train_loss, train_acc = problem.epoch_stats(order, losses, predictions)
        for i in state.training:
            if not math.isfinite(train_loss[i]):
                state.outcome[i] = Status.DIVERGED
                state.errors[i] = "training loss became NaN or infinite"
                sink.finished(i, _record(specs[i], state, i, None, len(specs)))
        if not state.training:
            return
        evaluations = problem.evaluate(state.model, len(specs))
        state.epoch_in_stage += 1
        ended = state.epoch_in_stage == layout.epochs
        for plateau in _live_plateaus(state, layout):
            plateau.observe(evaluations[0].metrics.loss)  # stateful LR: one seed per pass
        if stage_objects.average is not None:
            stage_objects.average.update()
        if state.polyak is not None and "polyak" in _modifiers(plan.stages[si]):
            state.polyak.update()
        end = stage_objects.end
        if not ended and end is not None and end.observe(evaluations[0].metrics.loss):
            ended = True
        if ended and stage_objects.average is not None:
            # [PWA] Algorithm 1: the stage ends on the averaged weights, BN re-estimated;
            # the stage's last epoch reports the model the next stage starts from.
            stage_objects.average.finalize()
            recalibrate_batchnorm(state.model, problem.batchnorm_batches(state.model, batch_size))
            evaluations = problem.evaluate(state.model, len(specs))
        lrs = lr_table[0]
        for i in state.training:
            val = evaluations[i].metrics
            record = EpochRecord(
                epoch=len(state.records[i]) + 1,
                stage=si,
                lr=sum(lrs) / len(lrs),
                train_loss=train_loss[i],
                train_acc=train_acc[i],
                val_loss=val.loss,
                val_acc=val.accuracy,
                ms_per_batch=1000.0 * elapsed / len(lrs),
                s_per_epoch=time.perf_counter() - wall,
                lr_min=min(lrs),
                lr_max=max(lrs),
            )
            state.records[i].append(record)
            if evaluations[i].point is not None:
                state.points[i].append(evaluations[i].point)
            sink.epoch(i, record)
        if ended:
            state.taken.append(state.epoch_in_stage)
            state.stage, state.epoch_in_stage, state.entered = si + 1, 0, False
        sink.checkpoint(lambda: snapshot(state, specs))


def _epoch(state, objects: StageObjects, schedule: Schedule, problem, timer):
    """One pass over the training data: the LR of each step laid out from the schedule
    once [MS §4.2], then the steps; per-step values stay on the device. Returns the LR
    table, the per-step losses and predictions, the timed seconds and the data order."""
    model, generators = state.model, state.generators
    model.train()
    timer.start()
    live = _live(state)
    lr_table = [
        schedule.epoch_lrs(state.stage, state.epoch_in_stage, base, state.taken, live)
        for _, base in objects.optimizers
    ]
    order = problem.order(generators, is_stack(model))
    batch = objects.batch_size
    losses: list[torch.Tensor] = []
    predictions: list[torch.Tensor] = []
    for b in range(len(lr_table[0])):
        lo, hi = b * batch, (b + 1) * batch
        for (optimizer, _), lrs in zip(objects.optimizers, lr_table, strict=True):
            for group in optimizer.param_groups:
                group["lr"] = lrs[b]
        if objects.closure:
            seen: list[tuple[torch.Tensor, torch.Tensor]] = []

            def closure(lo: int = lo, hi: int = hi, seen: list = seen) -> torch.Tensor:
                objects.steppers[0].zero_grad(set_to_none=True)
                loss, per_seed, predicted = problem.loss(model, order, lo, hi, generators)
                loss.backward()
                seen.append((per_seed, predicted))
                return loss

            objects.steppers[0].step(closure)
            per_seed, predicted = seen[0]
        else:
            for stepper in objects.steppers:
                stepper.zero_grad(set_to_none=True)
            loss, per_seed, predicted = problem.loss(model, order, lo, hi, generators)
            loss.backward()
            for stepper in objects.steppers:
                stepper.step()
        losses.append(per_seed)
        predictions.append(predicted)
    timer.stop()
    return lr_table, losses, predictions, timer.elapsed_s(), order


def _enter(state: PassState, plan: Plan, schedule: Schedule, problem, batch_size: int) -> None:
    """Start stage ``state.stage``: keep the previous stage's optimizer state when the same
    GE method, options and hyperparameters other than lr go on (its new lr applies), and
    Lookahead's slow weights with it when the same Lookahead goes on; else build fresh."""
    si = state.stage
    stage, previous = plan.stages[si], state.objects
    carry = previous is not None and si > 0 and carries_optimizer(plan.stages[si - 1], stage)
    objects = _build_stage(
        state, plan, schedule, problem, batch_size, si, previous if carry else None
    )
    for term in schedule.stages[si].terms:
        if term.fn is None and term.key not in state.plateaus:  # one per span, from its start
            state.plateaus[term.key] = REGISTRY[term.name].load()(**term.kwargs)
    if "polyak" in _modifiers(stage) and state.polyak is None:
        state.polyak = PolyakAverage([p for _, p in named_model_parameters(state.model)])
    state.stage_starts.append(sum(state.taken))
    state.objects, state.entered = objects, True


def _build_stage(state, plan, schedule, problem, batch_size, si, carried) -> StageObjects:
    stage = plan.stages[si]
    named = named_model_parameters(state.model)
    mods = _modifiers(stage)
    lookahead = next((c for c in stage.calls if c.name == "LA"), None)
    if carried is not None:
        ge_calls = [c for c in stage.calls if REGISTRY[c.name].kind is Kind.GE]
        optimizers = [
            (opt, _base_lr(c)) for (opt, _), c in zip(carried.optimizers, ge_calls, strict=True)
        ]
    else:
        optimizers = build_optimizers(named, stage)
    if carried is not None and lookahead is not None and lookahead == carried.lookahead:
        steppers = carried.steppers
    else:
        steppers = [
            wrap_lookahead(opt, **lookahead.kwargs) if lookahead else opt for opt, _ in optimizers
        ]
    layout = schedule.stages[si]
    average = None
    if "avg" in mods:
        average = PhaseAverage([p for _, p in named], mods["avg"]["gamma0"], layout.epochs)
    end = Plateau(**stage.until.kwargs) if stage.until is not None else None
    full = "full" in mods and problem.kind == "classify"
    return StageObjects(
        index=si,
        optimizers=optimizers,
        steppers=steppers,
        lookahead=lookahead,
        average=average,
        end=end,
        batch_size=problem.n if full else batch_size,
        closure=any(REGISTRY[c.name].needs_closure for c in stage.calls),
    )


def _live(state: PassState) -> dict[TermKey, float]:
    return {key: p.factor for key, p in state.plateaus.items()}


def _live_plateaus(state: PassState, layout) -> list[PlateauFactor]:
    return [state.plateaus[t.key] for t in layout.terms if t.fn is None]


def _finish(state: PassState, problem, batch_size: int) -> dict[int, FinalMetrics]:
    """Polyak's average applied, then every seed still training evaluated: its final
    metrics."""
    seeds = len(state.outcome)
    if not state.training:
        return {}
    if state.polyak is not None:
        state.polyak.finalize()
        recalibrate_batchnorm(state.model, problem.batchnorm_batches(state.model, batch_size))
    evaluations = problem.evaluate(state.model, seeds)
    final = {}
    for i in state.training:
        state.outcome[i] = Status.DONE
        final[i] = evaluations[i].metrics
    return final


def _record(spec: RunSpec, state: PassState, i: int, final, seeds: int) -> RunRecord:
    epochs = tuple(state.records[i])
    timed = epochs[1:] or epochs  # the first epoch carries the warm-up
    extra = {"trajectory": [list(p) for p in state.points[i]]} if state.points[i] else {}
    return RunRecord(
        plan=spec.plan,
        task=spec.task,
        seed=spec.seed,
        config_hash=spec.config.hash,
        status=state.outcome[i] or Status.FAILED,
        device=spec.config.device,
        versions=versions(),
        epochs=epochs,
        final=final,
        stage_starts=tuple(state.stage_starts),
        error=state.errors[i],
        ms_per_batch=sum(e.ms_per_batch for e in timed) / len(timed) if timed else None,
        s_per_epoch=sum(e.s_per_epoch for e in timed) / len(timed) if timed else None,
        seeds_per_pass=seeds,
        extra=extra,
    )


# -- checkpoints ------------------------------------------------------------------------------


def snapshot(state: PassState, specs: Sequence[RunSpec]) -> dict[str, Any]:
    """The pass's state after a finished epoch, as plain dicts, lists and tensors (live
    tensors: save it before training goes on). ``train_pass(resume=...)`` continues it."""
    objects = state.objects
    return {
        "format": CHECKPOINT_FORMAT,
        "runs": [s.key for s in specs],
        "stacked": is_stack(state.model),
        "stage": state.stage,
        "epoch_in_stage": state.epoch_in_stage,
        "entered": state.entered,
        "objects_of": None if objects is None else objects.index,
        "taken": list(state.taken),
        "stage_starts": list(state.stage_starts),
        "model": state.model.state_dict(),
        "steppers": [] if objects is None else [s.state_dict() for s in objects.steppers],
        "average": _state(None if objects is None else objects.average),
        "end": None if objects is None or objects.end is None else vars(objects.end).copy(),
        "plateaus": [[name, first, vars(p).copy()] for (name, first), p in state.plateaus.items()],
        "polyak": _state(state.polyak),
        "generators": [g.get_state() for g in state.generators],
        "rng": torch.get_rng_state(),
        "records": [[asdict(r) for r in recs] for recs in state.records],
        "outcome": [None if o is None else o.value for o in state.outcome],
        "errors": list(state.errors),
        "points": [[list(p) for p in pts] for pts in state.points],
    }  # fmt: skip


def _state(averager: PhaseAverage | PolyakAverage | None) -> dict[str, Any] | None:
    return None if averager is None else averager.state_dict()


def _restore(state, ckpt, specs, plan, schedule, problem, batch_size) -> None:
    if ckpt.get("format") != CHECKPOINT_FORMAT or list(ckpt["runs"]) != [s.key for s in specs]:
        raise ValueError("the checkpoint is not of this pass")
    state.model.load_state_dict(ckpt["model"])
    for g, saved in zip(state.generators, ckpt["generators"], strict=True):
        g.set_state(saved)
    torch.set_rng_state(ckpt["rng"])
    state.stage, state.epoch_in_stage = int(ckpt["stage"]), int(ckpt["epoch_in_stage"])
    state.entered = bool(ckpt["entered"])
    state.taken, state.stage_starts = list(ckpt["taken"]), list(ckpt["stage_starts"])
    state.records = [[EpochRecord(**r) for r in recs] for recs in ckpt["records"]]
    state.outcome = [None if o is None else Status(o) for o in ckpt["outcome"]]
    state.errors = list(ckpt["errors"])
    state.points = [[tuple(p) for p in pts] for pts in ckpt["points"]]
    for name, first, saved in ckpt["plateaus"]:
        key = (name, int(first))
        term = next(t for layout in schedule.stages for t in layout.terms if t.key == key)
        plateau = REGISTRY[term.name].load()(**term.kwargs)
        vars(plateau).update(saved)
        state.plateaus[key] = plateau
    named = named_model_parameters(state.model)
    if ckpt["polyak"] is not None:
        state.polyak = PolyakAverage([p for _, p in named])
        state.polyak.load_state_dict(ckpt["polyak"])
    if ckpt["objects_of"] is not None:
        objects = _build_stage(
            state, plan, schedule, problem, batch_size, int(ckpt["objects_of"]), None
        )
        for stepper, saved in zip(objects.steppers, ckpt["steppers"], strict=True):
            stepper.load_state_dict(saved)
        if objects.average is not None and ckpt["average"] is not None:
            objects.average.load_state_dict(ckpt["average"])
        if objects.end is not None and ckpt["end"] is not None:
            vars(objects.end).update(ckpt["end"])
        state.objects = objects
