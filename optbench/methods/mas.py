"""MAS, mixing Adam and SGD in one update, and the three variants of [MIX].

MAS is Landro, Gallo & La Grassa, "Mixing ADAM and SGD: a Combined Optimization Method"
(2020): a weighted sum of an SGD step and an Adam step computed from the same gradient.
[MIX] (Kone, Zhu, Chan, EPFL, "Combining Optimization Methods", §III.B and §IV.B) adds
three variants and describes γ as "a outer-scalar ... with which we multiply the combined
gradient", tried at 0.4, 0.6, 0.7 and 1 (its Figure 5) and set to 0.6. That is the reading
here, for all four names:

    Δ = γ · combine(u_s, u_a),      θ ← θ − Δ

with u_s = lr·d_s SGD's step and u_a = lr·m̂/(√v̂ + ε) Adam's step, and ``combine`` the
rule each name follows (``mixed_update``): MAS the weighted sum of [1] (``adam_w`` on
Adam's step, 1 − ``adam_w`` on SGD's; Landro's equal weights, 0.5, by default), MASdc
"update ... using Adam when both gradients have a negative scalar product and ... SGD when
the scalar product is positive" (per tensor, a "layer"), MASvc "combining part of the Adam
gradient with SGD gradient" ("half Adam/SGD": the first half of each tensor's rows by SGD,
the rest by Adam), MASan the SGD step "normalized" with the norm of Adam's step at each
layer (SGD's direction, Adam's length). The papers use one LR for both optimizers.
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
    variant: str, u_s: Tensor, u_a: Tensor, gamma: float, adam_w: float = 0.5
) -> Tensor:
    """The displacement Δ (θ ← θ − Δ) of one parameter tensor from SGD's step ``u_s`` and
    Adam's step ``u_a`` (both already times the LR), with γ the outer scale [MIX]:

    - ``mas``: Δ = γ·((1 − w)·u_s + w·u_a), w = ``adam_w``.
    - ``direction_correction``: Δ = γ·u_s when ⟨u_s, u_a⟩ > 0 (the two agree over the
      tensor), else Δ = γ·u_a.
    - ``vector_combination``: the tensor split along its first dimension; its first ⌊n/2⌋
      rows move by SGD, the others by Adam: Δ = γ·(u_s[:n/2] ⊕ u_a[n/2:]). (A
      0-dimensional tensor counts as one row, which goes to Adam.)
    - ``adam_normalization``: SGD's direction with the length of Adam's step,
      Δ = γ·‖u_a‖·u_s/‖u_s‖ (Δ = 0 when u_s = 0).
    """
    if variant == "mas":
        return gamma * ((1.0 - adam_w) * u_s + adam_w * u_a)
    if variant == "direction_correction":  # torch.where: no host sync per tensor
        agree = torch.sum(u_s * u_a) > 0
        return gamma * torch.where(agree, u_s, u_a)
    if variant == "vector_combination":
        rows_s, rows_a = u_s.reshape(u_s.shape or (1,)), u_a.reshape(u_a.shape or (1,))
        half = rows_s.shape[0] // 2
        return (gamma * torch.cat([rows_s[:half], rows_a[half:]])).reshape(u_s.shape)
    if variant == "adam_normalization":
        norm_s = torch.linalg.vector_norm(u_s)
        moving = norm_s > 0
        ratio = torch.where(
            moving, torch.linalg.vector_norm(u_a) / torch.where(moving, norm_s, 1), 0
        )
        return gamma * ratio * u_s
    raise ValueError(f"Invalid variant: {variant!r}; one of {', '.join(VARIANTS)}")


class MAS(Optimizer):
    r"""Mixing Adam and SGD (MAS) and [MIX]'s variants, per parameter tensor.

    Each step computes both optimizers' steps from the same gradient g (with L2 weight
    decay g + wd·θ in both):

        u_s = lr·d_s,  d_s = g, or the momentum buffer b ← μb + g       (SGD)
        m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
        u_a = lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)                       (Adam, as torch)
        θ ← θ − γ·combine(u_s, u_a)                  (``variant``, see ``mixed_update``)

    ``gamma`` is [MIX]'s outer scale γ (0.6; Figure 5 tries 0.4, 0.6, 0.7, 1) and
    ``adam_w`` the weight of Adam's step in MAS's sum (0.5, Landro's equal weights; the
    variants do not use it). With γ = 1 and ``adam_w`` = 1, MAS is Adam; with
    ``adam_w`` = 0 it is SGD (with momentum μ).
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
        adam_w: float = 0.5,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not gamma > 0.0:
            raise ValueError(f"Invalid gamma (the outer scale of the update, > 0): {gamma}")
        if not 0.0 <= adam_w <= 1.0:
            raise ValueError(f"Invalid adam_w (the weight of Adam's step, in [0, 1]): {adam_w}")
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
                        momentum=momentum, weight_decay=weight_decay, adam_w=adam_w)  # fmt: skip
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr = group["lr"]
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
                u_s = lr * sgd_direction(grad, state, group["momentum"])
                u_a = (lr / bc1) * d_a
                p.sub_(mixed_update(group["variant"], u_s, u_a, group["gamma"], group["adam_w"]))
        return loss
