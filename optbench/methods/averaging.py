"""Parameter averaging stage modifiers: ``avg`` [PWA] and ``polyak``.

Both keep averages of the parameters taken at epoch ends, write the average into the
model when their span ends, and then re-estimate BatchNorm statistics with one pass over
the training data in train mode (``torch.optim.swa_utils.update_bn``), because running
statistics gathered along the trajectory do not match the averaged weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, update_bn


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def recalibrate_bn(model: nn.Module | None, batches: Iterable | None) -> None:
    """Re-estimate BatchNorm running statistics over ``batches`` (each a tensor of inputs
    or a tuple whose first item is); nothing to do for a model without BatchNorm."""
    if model is None or not has_batchnorm(model):
        return
    if batches is None:
        raise ValueError(
            "the model has BatchNorm layers: pass the training batches to re-estimate "
            "their statistics for the averaged weights"
        )
    update_bn(batches, model)


def _parameters(params_or_model: nn.Module | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(params_or_model, nn.Module):
        return list(params_or_model.parameters())
    return list(params_or_model)


class PhaseAverage:
    r"""``avg``: phase-wise exponential parameter averaging [PWA, Algorithm 1].

    Over a stage of T epochs, with γ = γ0^(80/T) (γ0 = 0.9 for [PWA]'s 80-epoch first
    phase) and θ̄ = 0 at the start of the stage:

        after each epoch:   θ̄ ← γ·θ̄ + (1 − γ)·θ
        at the stage end:   θ ← θ̄ / (1 − γ^n),  then BatchNorm statistics re-estimated

    where n is the number of ``update()`` calls (= T, unless the stage ended early). The
    result is (1 − γ)/(1 − γ^n)·Σ_{t=1..n} γ^(n−t)·θ_t, a weighted mean of the epoch-end
    parameters whose weights sum to 1.

    Trainer: build one at the start of each stage with ``avg``
    (``PhaseAverage(model, gamma0, stage_epochs)``), call ``update()`` after every epoch's
    last step, and ``finalize(model, batches)`` once after the stage's last ``update()``,
    before the next stage starts; ``batches`` iterates over the training inputs.
    """

    def __init__(
        self,
        params_or_model: nn.Module | Iterable[Tensor],
        gamma0: float = 0.9,
        stage_epochs: int = 80,
    ) -> None:
        if not 0.0 <= gamma0 < 1.0:
            raise ValueError(f"Invalid gamma0 (in [0, 1)): {gamma0}")
        if stage_epochs < 1:
            raise ValueError(f"Invalid stage_epochs (>= 1): {stage_epochs}")
        self.params = _parameters(params_or_model)
        self.gamma = gamma0 ** (80.0 / stage_epochs)
        self.average = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """θ̄ ← γ·θ̄ + (1 − γ)·θ, at the end of an epoch."""
        for avg, p in zip(self.average, self.params, strict=True):
            avg.mul_(self.gamma).add_(p.detach(), alpha=1.0 - self.gamma)
        self.updates += 1

    @torch.no_grad()
    def finalize(self, model: nn.Module | None = None, batches: Iterable | None = None) -> None:
        """θ ← θ̄/(1 − γ^n), then BatchNorm re-estimation over ``batches`` when ``model``
        has BatchNorm layers. Without any ``update()`` the parameters are left alone."""
        if self.updates == 0:
            return
        correction = 1.0 - self.gamma**self.updates
        for avg, p in zip(self.average, self.params, strict=True):
            p.copy_(avg / correction)
        recalibrate_bn(model, batches)


class PolyakAverage:
    r"""``polyak``: the plain mean of the epoch-end parameters, applied at the very end
    ([PWA]'s comparison with Polyak averaging):

        θ ← (1/N)·Σ_{e=1..N} θ_e,  then BatchNorm statistics re-estimated

    over the N epochs at whose end ``update()`` was called. Built on
    ``torch.optim.swa_utils.AveragedModel`` (an equal-weight running mean of a copy of
    the model's parameters; buffers are not averaged but re-estimated).

    Trainer: build one when the first stage with ``polyak`` starts, ``update()`` after
    every epoch from then on, ``finalize(model, batches)`` once after the last epoch of
    training, before the final evaluation.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.averaged = AveragedModel(model)

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged)

    @torch.no_grad()
    def update(self) -> None:
        self.averaged.update_parameters(self.model)

    @torch.no_grad()
    def finalize(self, model: nn.Module | None = None, batches: Iterable | None = None) -> None:
        """Copy the mean into ``model`` (the one given at construction by default) and
        re-estimate its BatchNorm statistics. Without any ``update()`` nothing changes."""
        model = self.model if model is None else model
        if self.updates == 0:
            return
        for p, avg in zip(model.parameters(), self.averaged.module.parameters(), strict=True):
            p.copy_(avg)
        recalibrate_bn(model, batches)
