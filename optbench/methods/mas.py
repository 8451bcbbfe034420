"""MAS, mixing Adam and SGD in one update, and the three variants of [MIX].

MAS is Landro, Gallo & La Grassa, "Mixing ADAM and SGD: a Combined Optimization Method"
(2020); [MIX] (Kone, Zhu, Chan, EPFL, "Combining Optimization Methods") adds three
variants. The update rules are transcribed from the authors' code (Landro's
``AdamSGDWeighted`` in gitlab.com/nicolalandro/multi_optimizer, which [MIX]'s
``MAS_variants.ipynb`` extends with ``transform`` = linear / correction / normalized /
vector_combine), since the rules below are what was run in the papers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.optim import Optimizer

VARIANTS = ("mas", "direction_correction", "vector_combination", "adam_normalization")


def adam_direction(
    grad: Tensor, state: dict, beta1: float, beta2: float, eps: float
) -> tuple[Tensor, float]:
    """Adam's direction d_a = m/(√v/√(1−β2^t) + ε) and its bias correction 1 − β1^t,
    updating m, v and t in ``state``; the Adam step is lr/(1−β1^t)·d_a = lr·m̂/(√v̂ + ε)."""
    if "step" not in state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(grad)
        state["exp_avg_sq"] = torch.zeros_like(grad)
    state["step"] += 1
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.mul_(beta1).add_(grad, alpha=1.0 - beta1)
    v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    denom = (v.sqrt() / math.sqrt(1.0 - beta2 ** state["step"])).add_(eps)
    return m / denom, 1.0 - beta1 ** state["step"]


def sgd_direction(grad: Tensor, state: dict, momentum: float) -> Tensor:
    """SGD's direction: the gradient, or torch's heavy-ball buffer b ← μb + g (b₁ = g)."""
    if momentum == 0.0:
        return grad
    if "momentum_buffer" not in state:
        state["momentum_buffer"] = grad.clone()
    else:
        state["momentum_buffer"].mul_(momentum).add_(grad)
    return state["momentum_buffer"]


def mixed_update(
    variant: str, d_s: Tensor, d_a: Tensor, lr: float, bc1: float, gamma: float
) -> Tensor:
    """The displacement Δ (θ ← θ − Δ) of one parameter tensor; λ_a = γ, λ_s = 1 − γ and
    η_mix = λ_s·lr + λ_a·lr/bc1 (the two optimizers' step sizes, mixed):

    - ``mas``: Δ = η_mix·(λ_s·d_s + λ_a·d_a).
    - ``direction_correction``: Δ = η_mix·λ_s·d_s when ⟨d_s, d_a⟩ > 0 (the two agree over
      the tensor), else Δ = η_mix·λ_a·d_a: SGD's direction while Adam confirms it, Adam's
      direction otherwise.
    - ``vector_combination``: the tensor split along its first dimension; its first ⌊n/2⌋
      rows move by SGD, the others by Adam: Δ = η_mix/2·(λ_s·d_s[:n/2] ⊕ λ_a·d_a[n/2:]).
      (A 0-dimensional tensor counts as one row, which goes to Adam.)
    - ``adam_normalization``: SGD's direction with Adam's length,
      Δ = λ_s·lr·λ_a·‖d_a‖·d_s/‖d_s‖ (Δ = 0 when d_s = 0).
    """
    lam_a, lam_s = gamma, 1.0 - gamma
    mixed_lr = lam_s * lr + lam_a * lr / bc1
    if variant == "mas":
        return mixed_lr * (lam_s * d_s + lam_a * d_a)
    if variant == "direction_correction":  # torch.where: no host sync per tensor
        agree = torch.sum(d_s * d_a) > 0
        return torch.where(agree, mixed_lr * lam_s * d_s, mixed_lr * lam_a * d_a)
    if variant == "vector_combination":
        rows_s, rows_a = d_s.reshape(d_s.shape or (1,)), d_a.reshape(d_a.shape or (1,))
        half = rows_s.shape[0] // 2
        combined = torch.cat([lam_s * rows_s[:half], lam_a * rows_a[half:]])
        return (0.5 * mixed_lr * combined).reshape(d_s.shape)
    if variant == "adam_normalization":
        norm_s = torch.linalg.vector_norm(d_s)
        moving = norm_s > 0
        ratio = torch.where(
            moving, torch.linalg.vector_norm(d_a) / torch.where(moving, norm_s, 1), 0
        )
        return (lam_s * lr * lam_a) * ratio * d_s
    raise ValueError(f"Invalid variant: {variant!r}; one of {', '.join(VARIANTS)}")


class MAS(Optimizer):
    r"""Mixing Adam and SGD (MAS) and [MIX]'s variants, per parameter tensor.

    Each step computes both optimizers' directions from the same gradient g (with L2
    weight decay g + wd·θ, as both reference implementations do):

        d_s = g, or the momentum buffer b ← μb + g                 (SGD)
        m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
        d_a = m / (√v/√(1−β2^t) + ε),  bc1 = 1 − β1^t             (Adam)
        θ ← θ − Δ(variant, d_s, d_a)                               (see ``mixed_update``)

    with λ_a = ``gamma`` (the weight of Adam) and λ_s = 1 − γ. [MIX] runs γ = 0.6
    (``adam_w = 0.6, sgd_w = 0.4``), momentum 0 and lr 1e-3 for all four; Landro's MAS
    uses 0.5/0.5 — pass ``gamma=0.5`` for it. The papers use one LR for both optimizers.
    Unlike [MIX]'s notebook, ``vector_combination`` does not zero half of the stored
    gradient or momentum buffer in place: only the displacement is split.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        gamma: float = 0.6,
        variant: str = "mas",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"Invalid gamma (the weight of Adam, in [0, 1]): {gamma}")
        if variant not in VARIANTS:
            raise ValueError(f"Invalid variant: {variant!r}; one of {', '.join(VARIANTS)}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not momentum >= 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, gamma=gamma, variant=variant, betas=tuple(betas), eps=eps,
                        momentum=momentum, weight_decay=weight_decay)  # fmt: skip
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("MAS does not support sparse gradients")
                grad = p.grad
                if group["weight_decay"] != 0.0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                d_a, bc1 = adam_direction(grad, state, beta1, beta2, group["eps"])
                d_s = sgd_direction(grad, state, group["momentum"])
                p.sub_(mixed_update(group["variant"], d_s, d_a, group["lr"], bc1, group["gamma"]))
        return loss
