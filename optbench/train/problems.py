"""What the engine trains on: a problem supplies models, batches, the loss and the
evaluation; the engine supplies everything about the plan.

- ``Classification``: a labelled dataset already on the training device (``Split``) and a
  model builder. One seed trains a plain model on batches (B, ...); S seeds train a
  ``SeedStack`` on batches (S, B, ...), each seed drawing its own data order and
  augmentation from its own generator, exactly as its separate run would.
- ``ToyObjective``: a [DSA] toy problem, two parameters and an objective; every epoch is
  one full-batch step, and the evaluation reports the point reached.

Per seed, a problem's losses and predictions stay on the device for a whole epoch;
``epoch_stats`` turns them into numbers with one host sync.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optbench.tasks.data import Split
from optbench.train.metrics import seed_metrics
from optbench.train.record import FinalMetrics
from optbench.train.stacking import is_stack, stack_models

ModelBuilder = Callable[[tuple[int, ...], int], nn.Module]
Augment = Callable[[Tensor, torch.Generator], Tensor]
EVAL_BATCH = 4096


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (model initialization)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Evaluation:
    """One seed's model after an epoch: metrics on the validation data (or the objective
    for a toy problem) and, for a toy problem, the point reached."""

    metrics: FinalMetrics
    point: tuple[float, ...] | None = None


class Classification:
    """A labelled dataset on the device, a model builder and an optional augmentation."""

    kind = "classify"

    def __init__(self, data: Split, build: ModelBuilder, augment: Augment | None = None):
        self.data, self.build_one, self.augment = data, build, augment
        self.n = len(data.x_train)

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.n / batch_size)

    def build(
        self, seeds: Sequence[int], device: torch.device, stacked: bool | None = None
    ) -> nn.Module:
        """Each seed's model, initialized as its separate run initializes it; stacked
        when there is more than one seed (or when ``stacked`` says so)."""
        models = []
        for seed in seeds:
            seed_everything(seed)
            models.append(self.build_one(self.data.input_shape, self.data.num_classes).to(device))
        stacked = len(models) > 1 if stacked is None else stacked
        return stack_models(models) if stacked else models[0]

    def order(self, generators: Sequence[torch.Generator], stacked: bool) -> Tensor:
        """This epoch's data order: a permutation (N,) for a plain model, (S, N) for a
        stack of S."""
        device = self.data.x_train.device
        perms = [torch.randperm(self.n, device=device, generator=g) for g in generators]
        return torch.stack(perms) if stacked else perms[0]

    def loss(
        self, model: nn.Module, order: Tensor, lo: int, hi: int, generators
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The loss to minimize on examples ``order[..., lo:hi]``, the loss per seed
        (detached) and the predictions. S seeds: the sum of their mean losses, so each
        seed's gradient is its own."""
        x_all, y_all = self.data.x_train, self.data.y_train
        if order.dim() == 1:
            idx = order[lo:hi]
            x, y = x_all.index_select(0, idx), y_all.index_select(0, idx)
            if self.augment is not None:
                x = self.augment(x, generators[0])
            out = model(x)
            loss = F.cross_entropy(out, y)
            return loss, loss.detach(), out.argmax(dim=1)
        idx = order[:, lo:hi]
        seeds, batch = idx.shape
        flat = idx.flatten()  # index_select: a third of advanced indexing's cost here
        x = x_all.index_select(0, flat).view(seeds, batch, *x_all.shape[1:])
        y = y_all.index_select(0, flat).view(seeds, batch)
        if self.augment is not None:
            x = torch.stack([self.augment(x[s], g) for s, g in enumerate(generators)])
        out = model(x)
        # classes on dim 1: log-softmax runs along the batch, much faster for few classes
        per_seed = F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(1)
        return per_seed.sum(), per_seed.detach(), out.argmax(dim=2)

    def epoch_stats(
        self, order: Tensor, losses: list[Tensor], predictions: list[Tensor]
    ) -> tuple[list[float], list[float]]:
        """Per seed, the epoch's mean training loss (weighted by batch size) and accuracy
        on the examples seen, from the per-step values of ``loss``; one host sync."""
        sizes = torch.tensor([p.shape[-1] for p in predictions], device=order.device)
        seen = int(sizes.sum())
        per_step = torch.stack(losses).float().reshape(len(losses), -1)  # steps x S
        loss_sum = (per_step * sizes[:, None]).sum(0)
        targets = self.data.y_train[order[..., :seen]]
        correct = (torch.cat(predictions, dim=-1) == targets).sum(-1).reshape(-1)
        both = torch.stack([loss_sum / seen, correct.to(loss_sum) / seen]).tolist()
        return both[0], both[1]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, seeds: int) -> list[Evaluation]:
        """Each seed's metrics on the validation split, the model in eval mode."""
        model.eval()
        x = self.data.x_val
        chunks = range(0, len(x), EVAL_BATCH)
        if not is_stack(model):
            logits = torch.cat([model(x[i : i + EVAL_BATCH]) for i in chunks]).unsqueeze(0)
        else:
            logits = torch.cat(
                [model(_expand(x[i : i + EVAL_BATCH], seeds)) for i in chunks], dim=1
            )
        model.train()
        metrics = seed_metrics(logits, self.data.y_val, self.data.num_classes)
        return [Evaluation(m) for m in metrics]

    def batchnorm_batches(self, model: nn.Module, batch_size: int) -> Iterator[Tensor]:
        """The training inputs in order, in batches, for re-estimating BatchNorm statistics
        (every seed sees the same data, as a separate run does)."""
        stacked = is_stack(model)
        seeds = model.seeds if stacked else 1
        x = self.data.x_train
        for i in range(0, len(x), batch_size):
            chunk = x[i : i + batch_size]
            yield _expand(chunk, seeds) if stacked else chunk


def _expand(x: Tensor, seeds: int) -> Tensor:
    return x.unsqueeze(0).expand(seeds, *x.shape)


class ToyObjective:
    """A [DSA] toy problem: a model with parameters ``w1``, ``w2`` and ``loss()``. Every
    epoch is one full-batch step; the objective is both the training and the validation
    loss, accuracy-type metrics are NaN, and each evaluation reports the point reached."""

    kind = "toy"

    def __init__(self, build: Callable[[], nn.Module]):
        self.build_one = build

    def steps_per_epoch(self, batch_size: int) -> int:
        return 1

    def build(
        self, seeds: Sequence[int], device: torch.device, stacked: bool | None = None
    ) -> nn.Module:
        if len(seeds) != 1 or stacked:
            raise ValueError("a toy problem trains one seed at a time")
        seed_everything(seeds[0])
        return self.build_one().to(device)

    def order(self, generators: Sequence[torch.Generator], stacked: bool) -> None:
        return None

    def loss(self, model: nn.Module, order, lo: int, hi: int, generators):
        loss = model.loss()
        return loss, loss.detach(), None

    def epoch_stats(
        self, order, losses: list[Tensor], predictions
    ) -> tuple[list[float], list[float]]:
        return [float(torch.stack(losses).mean())], [math.nan]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, seeds: int) -> list[Evaluation]:
        loss = float(model.loss())
        nan = math.nan
        return [Evaluation(FinalMetrics(nan, loss, nan, nan, nan), model.point())]

    def start(self, model: nn.Module) -> tuple[float, ...]:
        return model.point()

    def batchnorm_batches(self, model: nn.Module, batch_size: int) -> Iterator[Tensor]:
        return iter(())
