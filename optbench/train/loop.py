"""One training run: (resolved plan, task data, seed, config) -> RunRecord.

Written like airbench: the data already sits on the device, batches are slices of a
per-seed ``randperm``, the LR is set once per step from the pure schedule, the timed
region holds only the training steps, and the only host syncs are at the epoch end.
No database here: the caller stores the record.
"""

from __future__ import annotations

import math
import platform
import random
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace
from time import perf_counter

import numpy as np
import torch
from torch import nn

import optbench
from optbench.errors import BadInput, OptbenchError
from optbench.methods.averaging import PhaseAverage, PolyakAverage
from optbench.methods.ge import build_torch_optimizer
from optbench.methods.lr import PlateauFactor
from optbench.methods.modifiers import wrap_lookahead
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind
from optbench.plan.canonical import format_plan
from optbench.plan.model import Plan, Stage
from optbench.plan.timeline import carries_optimizer, ge_lrs
from optbench.tasks.data import Split
from optbench.train.config import RunConfig
from optbench.train.groups import partition
from optbench.train.metrics import final_metrics, predict
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status
from optbench.train.schedule import Schedule
from optbench.train.timing import EpochTimer

ModelBuilder = Callable[[tuple[int, ...], int], nn.Module]
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def versions() -> dict[str, str]:
    return {
        "optbench": optbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizers(model: nn.Module, stage: Stage) -> list[tuple[torch.optim.Optimizer, float]]:
    """The stage's GE methods, each on its parameter group, with its base LR."""
    specs = [(c, REGISTRY[c.name]) for c in stage.calls]
    ge_calls = [c for c, s in specs if s.kind is Kind.GE]
    options = [(s, c.kwargs) for c, s in specs if s.kind is Kind.GE_OPTION]
    if len(ge_calls) == 1 and ge_calls[0].group is None:
        groups = [list(model.parameters())]
    else:
        closures = [c.name for c in ge_calls if REGISTRY[c.name].needs_closure]
        if closures:
            raise BadInput(f"{closures[0]} re-evaluates the loss itself and cannot share a "
                           "stage with another parameter group's GE method")  # fmt: skip
        groups = partition(model, [c.group for c in ge_calls])
    built = []
    for call, params in zip(ge_calls, groups, strict=True):
        spec = REGISTRY[call.name]
        mine = [(o, a) for o, a in options if call.name in o.applies_to]
        optimizer = build_torch_optimizer(spec, params, call.kwargs, mine)
        built.append((optimizer, float(call.kwargs.get("lr", 1.0))))
    return built


def train_run(
    plan: Plan,
    task: str,
    seed: int,
    config: RunConfig,
    data: Split,
    build_model: ModelBuilder,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    augment: Augment | None = None,
) -> RunRecord:
    """Train ``plan`` (every hyperparameter resolved) once; never raises for a failed run.

    A NaN or infinite training loss ends the run as ``diverged``; any other exception
    ends it as ``failed`` with the error kept. Bad input (``OptbenchError``) is raised.
    ``augment(x, generator)``, when given, transforms each training batch on the device.
    """
    epochs: list[EpochRecord] = []
    stage_starts: list[int] = []
    base = dict(plan=format_plan(plan), task=task, seed=seed, config_hash=config.hash,
                device=config.device, versions=versions())  # fmt: skip
    run = _Run(plan, seed, config, data, build_model, augment, epochs, stage_starts, on_epoch)
    try:
        status, final = run.train()
        error = "training loss became NaN or infinite" if status is Status.DIVERGED else None
    except OptbenchError:
        raise
    except Exception as e:  # a failed run is recorded; the next seed goes on
        status, final = Status.FAILED, None
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    timed = epochs[1:] or epochs  # the first epoch carries the warm-up
    return RunRecord(
        **base,
        status=status,
        epochs=tuple(epochs),
        final=final,
        stage_starts=tuple(stage_starts),
        error=error,
        ms_per_batch=float(np.mean([e.ms_per_batch for e in timed])) if timed else None,
        s_per_epoch=float(np.mean([e.s_per_epoch for e in timed])) if timed else None,
    )


def _modifiers(stage: Stage) -> dict[str, Mapping]:
    return {c.name: c.kwargs for c in stage.calls if REGISTRY[c.name].kind is Kind.MODIFIER}


class _Run:
    """The state of one run while it trains; ``train()`` is called once."""

    def __init__(self, plan, seed, config, data, build_model, augment, epochs, stage_starts,
                 on_epoch):  # fmt: skip
        self.plan, self.seed, self.config, self.data = plan, seed, config, data
        self.build_model, self.augment, self.on_epoch = build_model, augment, on_epoch
        self.epochs: list[EpochRecord] = epochs
        self.stage_starts: list[int] = stage_starts
        self.device = torch.device(config.device)
        self.n = len(data.x_train)
        self.loss_fn = nn.CrossEntropyLoss()
        self.timer = EpochTimer(self.device)
        self.step = 0

    def train(self) -> tuple[Status, FinalMetrics | None]:
        seed_everything(self.seed)
        self.model = self.build_model(self.data.input_shape, self.data.num_classes).to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)
        self.schedule = Schedule.build(
            self.plan, self.config.epochs, math.ceil(self.n / self.config.batch_size)
        )
        optimizers: list[tuple[torch.optim.Optimizer, float]] = []
        plateaus: dict[tuple[str, int], PlateauFactor] = {}  # one per stateful LR span
        polyak: PolyakAverage | None = None
        for si, stage in enumerate(self.plan.stages):
            if si == 0 or not carries_optimizer(self.plan.stages[si - 1], stage):
                optimizers = build_optimizers(self.model, stage)
            else:  # the running optimizers go on at this stage's base LRs
                optimizers = list(zip([o for o, _ in optimizers], ge_lrs(stage), strict=True))
            mods = _modifiers(stage)
            if "polyak" in mods and polyak is None:
                polyak = PolyakAverage(self.model)
            live = []
            for t in self.schedule.stages[si].terms:
                if t.stateful:  # one instance per span, built when the span begins
                    key = (t.name, t.first_stage)
                    if key not in plateaus:
                        plateaus[key] = REGISTRY[t.name].load()(**t.kwargs)
                    live.append(plateaus[key])
            if not self._stage(si, stage, mods, optimizers, live, polyak):
                return Status.DIVERGED, None
        if polyak is not None:
            polyak.finalize(self.model, self._batches())
        logits = predict(self.model, self.data.x_val)
        return Status.DONE, final_metrics(logits, self.data.y_val, self.data.num_classes)

    def _stage(self, si, stage, mods, optimizers, live, polyak) -> bool:
        """Train one stage; False when the loss diverged."""
        layout = self.schedule.stages[si]
        steppers = [
            wrap_lookahead(opt, **mods["LA"]) if "LA" in mods else opt for opt, _ in optimizers
        ]
        average = (
            PhaseAverage(self.model, mods["avg"]["gamma0"], stage_epochs=layout.epochs)
            if "avg" in mods
            else None
        )
        end = STAGE_ENDS[stage.until.name].load()(**stage.until.kwargs) if stage.until else None
        # build_optimizers refuses a closure-driven GE method beside another group's
        self.needs_closure = any(REGISTRY[c.name].needs_closure for c in stage.calls)
        batch = self.n if "full" in mods else self.config.batch_size
        self.stage_starts.append(len(self.epochs))
        for done in range(1, layout.epochs + 1):
            wall = perf_counter()
            train_loss, train_acc, elapsed = self._epoch(si, batch, optimizers, steppers, live)
            if not math.isfinite(train_loss):
                return False
            val = final_metrics(predict(self.model, self.data.x_val), self.data.y_val,
                                self.data.num_classes)  # fmt: skip
            record = EpochRecord(
                epoch=len(self.epochs) + 1,
                stage=si,
                lr=optimizers[0][0].param_groups[0]["lr"],
                train_loss=train_loss,
                train_acc=train_acc,
                val_loss=val.loss,
                val_acc=val.accuracy,
                ms_per_batch=1000.0 * elapsed / layout.steps_per_epoch,
                s_per_epoch=perf_counter() - wall,
            )
            self.epochs.append(record)
            if self.on_epoch:
                self.on_epoch(record)
            for plateau in live:
                plateau.observe(val.loss)
            if average is not None:
                average.update()
            if polyak is not None and "polyak" in mods:
                polyak.update()
            if end is not None and done < layout.epochs and end.observe(val.loss):
                self.schedule = self.schedule.with_stage_epochs(si, done)
                break
        if average is not None:
            # [PWA] Algorithm 1: the stage ends on the averaged weights, BN re-estimated;
            # the stage's last epoch reports the model the next stage starts from.
            average.finalize(self.model, self._batches())
            val = final_metrics(predict(self.model, self.data.x_val), self.data.y_val,
                                self.data.num_classes)  # fmt: skip
            self.epochs[-1] = replace(self.epochs[-1], val_loss=val.loss, val_acc=val.accuracy)
        return True

    def _epoch(self, si, batch, optimizers, steppers, live) -> tuple[float, float, float]:
        """One pass over the training data; returns (mean loss, accuracy, timed seconds)."""
        data, model = self.data, self.model
        steps = self.schedule.stages[si].steps_per_epoch
        model.train()
        perm = torch.randperm(self.n, device=self.device, generator=self.generator)
        # per step only list appends: the sums are taken once, at the epoch end
        losses: list[torch.Tensor] = []
        predictions: list[torch.Tensor] = []
        live_factor = math.prod(p.factor for p in live)
        self.timer.start()
        for b in range(steps):
            idx = perm[b * batch : (b + 1) * batch]
            x, y = data.x_train[idx], data.y_train[idx]
            if self.augment is not None:
                x = self.augment(x, self.generator)
            for opt, lr0 in optimizers:
                lr = lr0 * self.schedule.factor_at(self.step, lr0, si) * live_factor
                for group in opt.param_groups:
                    group["lr"] = lr
            out, loss = self._step(optimizers, steppers, x, y)
            losses.append(loss.detach())
            predictions.append(out.argmax(dim=1))
            self.step += 1
        self.timer.stop()
        elapsed = self.timer.elapsed_s()
        sizes = torch.tensor([len(p) for p in predictions], device=self.device)
        loss_total = (torch.stack(losses).float() * sizes).sum()
        correct = (torch.cat(predictions) == data.y_train[perm[: int(sizes.sum())]]).sum()
        loss_total, n_correct = torch.stack([loss_total, correct.to(loss_total)]).tolist()
        seen = int(sizes.sum())
        return loss_total / seen, n_correct / seen, elapsed

    def _step(self, optimizers, steppers, x, y) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step; a GE method that needs a closure (DSA) re-evaluates it."""
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []

        def closure() -> torch.Tensor:
            for opt, _ in optimizers:
                opt.zero_grad(set_to_none=True)
            out = self.model(x)
            loss = self.loss_fn(out, y)
            loss.backward()
            seen.append((out, loss))
            return loss

        if self.needs_closure:
            steppers[0].step(closure)
        else:
            closure()
            for stepper in steppers:
                stepper.step()
        return seen[0]

    def _batches(self):
        """Training inputs in batches, for re-estimating BatchNorm statistics."""
        x, bs = self.data.x_train, self.config.batch_size
        return (x[i : i + bs] for i in range(0, len(x), bs))
