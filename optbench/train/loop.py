"""One training run: (resolved plan, task data, seed, config) -> RunRecord.

Written like airbench: the data already sits on the device, batches are slices of a
per-seed ``randperm``, the LR is set once per step from the pure schedule, the timed
region holds only the training steps, and the only host syncs are at the epoch end.
No database here: the caller stores the record.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import numpy as np
import torch
from torch import nn

import optbench
from optbench.errors import OptbenchError
from optbench.methods.ge import build_torch_optimizer
from optbench.methods.registry import REGISTRY, Kind
from optbench.plan.canonical import format_plan
from optbench.plan.model import Plan, Stage
from optbench.plan.timeline import carries_optimizer
from optbench.tasks.data import Split
from optbench.train.groups import partition
from optbench.train.metrics import final_metrics, predict
from optbench.train.record import EpochRecord, RunRecord, Status
from optbench.train.schedule import Schedule
from optbench.train.timing import EpochTimer

# Bump when a change to the trainer changes results, so stored runs are not reused.
TRAINER_REVISION = 1

ModelBuilder = Callable[[tuple[int, ...], int], nn.Module]


@dataclass(frozen=True)
class RunConfig:
    """Everything besides plan, task and seed that decides a run's results."""

    epochs: int
    batch_size: int
    device: str = "cpu"

    @property
    def hash(self) -> str:
        """Identifies the config in the database; the device is recorded, not hashed."""
        blob = json.dumps(
            {"epochs": self.epochs, "batch_size": self.batch_size, "trainer": TRAINER_REVISION},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
        groups = partition(model, [c.group for c in ge_calls])
    built = []
    for call, params in zip(ge_calls, groups, strict=True):
        spec = REGISTRY[call.name]
        mine = [(o, a) for o, a in options if call.name in o.applies_to]
        built.append(
            (build_torch_optimizer(spec, params, call.kwargs, mine), float(call.kwargs["lr"]))
        )
    return built


def train_run(
    plan: Plan,
    task: str,
    seed: int,
    config: RunConfig,
    data: Split,
    build_model: ModelBuilder,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> RunRecord:
    """Train ``plan`` (every hyperparameter resolved) once; never raises for a failed run.

    A NaN or infinite training loss ends the run as ``diverged``; any other exception
    ends it as ``failed`` with the error kept. Bad input (``OptbenchError``) is raised.
    """
    epochs: list[EpochRecord] = []
    stage_starts: list[int] = []
    base = dict(plan=format_plan(plan), task=task, seed=seed, config_hash=config.hash,
                device=config.device, versions=versions())  # fmt: skip
    try:
        status, final = _train(
            plan, seed, config, data, build_model, epochs, stage_starts, on_epoch
        )
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


def _train(plan, seed, config, data, build_model, epochs, stage_starts, on_epoch):
    device = torch.device(config.device)
    seed_everything(seed)
    model = build_model(data.input_shape, data.num_classes).to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    n, bs = len(data.x_train), config.batch_size
    steps_per_epoch = math.ceil(n / bs)
    schedule = Schedule.build(plan, config.epochs, steps_per_epoch)
    timer = EpochTimer(device)
    optimizers: list[tuple[torch.optim.Optimizer, float]] = []
    step = 0
    for si, stage in enumerate(plan.stages):
        if si == 0 or not carries_optimizer(plan.stages[si - 1], stage):
            optimizers = build_optimizers(model, stage)
        stage_starts.append(len(epochs))
        for _ in range(schedule.stages[si].epochs):
            wall = perf_counter()
            model.train()
            perm = torch.randperm(n, device=device, generator=generator)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            timer.start()
            for b in range(steps_per_epoch):
                idx = perm[b * bs : (b + 1) * bs]
                x, y = data.x_train[idx], data.y_train[idx]
                for opt, lr0 in optimizers:
                    lr = lr0 * schedule.factor_at(step, lr0, si)
                    for group in opt.param_groups:
                        group["lr"] = lr
                out = model(x)
                loss = loss_fn(out, y)
                for opt, _ in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt, _ in optimizers:
                    opt.step()
                loss_sum += loss.detach() * len(idx)
                correct += (out.argmax(dim=1) == y).sum()
                step += 1
            timer.stop()
            elapsed = timer.elapsed_s()
            train_loss, train_correct = torch.stack([loss_sum, correct.to(loss_sum)]).tolist()
            if not math.isfinite(train_loss):
                return Status.DIVERGED, None
            logits = predict(model, data.x_val)
            val = final_metrics(logits, data.y_val, data.num_classes)
            record = EpochRecord(
                epoch=len(epochs) + 1,
                stage=si,
                lr=optimizers[0][0].param_groups[0]["lr"],
                train_loss=train_loss / n,
                train_acc=train_correct / n,
                val_loss=val.loss,
                val_acc=val.accuracy,
                ms_per_batch=1000.0 * elapsed / steps_per_epoch,
                s_per_epoch=perf_counter() - wall,
            )
            epochs.append(record)
            if on_epoch:
                on_epoch(record)
    logits = predict(model, data.x_val)
    return Status.DONE, final_metrics(logits, data.y_val, data.num_classes)
