"""Parameter averaging stage modifiers: ``avg`` [PWA] and ``polyak``.

Both keep averages of the parameters taken at epoch ends and write the average into the
parameters when their span ends. The trainer then re-estimates BatchNorm statistics with
one pass over the training data (``optbench.train.stacking.recalibrate_batchnorm``),
because running statistics gathered along the trajectory do not match averaged weights.

Both work on any list of tensors, so seeds stacked along a leading dimension are averaged
elementwise like one model. Their state (``state_dict``) goes into checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


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
    (``PhaseAverage(params, gamma0, stage_epochs)``), call ``update()`` after every
    epoch's last step, and ``finalize()`` once after the stage's last ``update()``, then
    re-estimate BatchNorm statistics.
    """

    def __init__(self, params: Iterable[Tensor], gamma0: float = 0.9, stage_epochs: int = 80):
        if not 0.0 <= gamma0 < 1.0:
            raise ValueError(f"Invalid gamma0 (in [0, 1)): {gamma0}")
        if stage_epochs < 1:
            raise ValueError(f"Invalid stage_epochs (>= 1): {stage_epochs}")
        self.params = list(params)
        self.gamma = gamma0 ** (80.0 / stage_epochs)
        self.average = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """θ̄ ← γ·θ̄ + (1 − γ)·θ, at the end of an epoch."""
        torch._foreach_mul_(self.average, self.gamma)
        torch._foreach_add_(self.average, [p.detach() for p in self.params], alpha=1 - self.gamma)
        self.updates += 1

    @torch.no_grad()
    def finalize(self) -> None:
        """θ ← θ̄/(1 − γ^n). Without any ``update()`` the parameters are left alone."""
        if self.updates == 0:
            return
        correction = 1.0 - self.gamma**self.updates
        for avg, p in zip(self.average, self.params, strict=True):
            p.copy_(avg / correction)

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for avg, saved in zip(self.average, state["average"], strict=True):
            avg.copy_(saved)
        self.updates = int(state["updates"])


class PolyakAverage:
    r"""``polyak``: the plain mean of the epoch-end parameters, applied at the very end
    ([PWA]'s comparison with Polyak averaging):

        θ ← (1/N)·Σ_{e=1..N} θ_e,  then BatchNorm statistics re-estimated

    over the N epochs at whose end ``update()`` was called, as a running mean
    θ̄ ← θ̄ + (θ − θ̄)/N (``torch.optim.swa_utils``' equal-weight average).

    Trainer: build one when the first stage with ``polyak`` starts, ``update()`` after
    every epoch of a stage with ``polyak``, ``finalize()`` once after the last epoch of
    training, before BatchNorm re-estimation and the final evaluation.
    """

    def __init__(self, params: Iterable[Tensor]) -> None:
        from torch.optim.swa_utils import get_swa_multi_avg_fn

        self.params = list(params)
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0
        self._average_fn = get_swa_multi_avg_fn()

    @torch.no_grad()
    def update(self) -> None:
        current = [p.detach() for p in self.params]
        if self.updates == 0:
            torch._foreach_copy_(self.average, current)
        else:
            self._average_fn(self.average, current, self.updates)
        self.updates += 1

    @torch.no_grad()
    def finalize(self) -> None:
        """Copy the mean into the parameters. Without any ``update()`` nothing changes."""
        if self.updates == 0:
            return
        torch._foreach_copy_(self.params, self.average)

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch._foreach_copy_(self.average, list(state["average"]))
        self.updates = int(state["updates"])
