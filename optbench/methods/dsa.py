"""DSA, the differentiable self-adaptive learning rate [DSA formulas 5–6, Algorithm 1].

Every parameter element has its own exponent η and step 2^η. Each step looks ahead one
sign step, compares the gradient there with the gradient here, and lengthens the step
where they agree (the minimum is further on) or shortens it where they disagree (the
step overshot). Asymmetric: it shortens by β1 = 0.6 and lengthens by β2 = 0.3.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer


def adapt_exponent(exponent: Tensor, g: Tensor, g_ahead: Tensor, beta1: float, beta2: float):
    """[DSA] formula 6, in place: η += β2 where g(θ̃)·g(θ) > 0, η −= β1 where < 0."""
    agreement = torch.sign(g_ahead) * torch.sign(g)
    exponent.add_((agreement > 0).to(exponent.dtype), alpha=beta2)
    exponent.sub_((agreement < 0).to(exponent.dtype), alpha=beta1)


def sign_step(theta: Tensor, exponent: Tensor, g: Tensor, lr: float) -> Tensor:
    """[DSA] formula 5: θ − lr·2^η·sign(g); ``lr`` is 1 in the paper."""
    return theta - lr * torch.exp2(exponent) * torch.sign(g)


class DSA(Optimizer):
    r"""The DSA optimizer [DSA], with a closure that re-evaluates the loss.

    Algorithm (per parameter element; η starts at ``eta0`` = −12, so the step is 2^−12)::

        g  = ∇f(θ)                        # first closure call
        θ̃  = θ − lr·2^η·sign(g)           # look-ahead point            (formula 5)
        g̃  = ∇f(θ̃)                        # second closure call, at θ̃
        η  = η + β2   where g̃·g > 0       # agree: lengthen the step    (formula 6)
        η  = η − β1   where g̃·g < 0       # disagree: shorten it
        θ  = θ − lr·2^η·sign(g)           # the update, with the new η

    The paper leaves open whether the final update uses η before or after formula 6;
    this follows SPEC §3's order (η updated first, then θ −= 2^η·sign(g(θ))), so the
    step taken is the one the look-ahead has just judged. Where g̃·g = 0, η is kept.

    ``lr`` is not in [DSA]: it scales every step (lr·2^η) so that the plan's LR methods
    compose with DSA like with any GE method; 1 (the default) is the paper's DSA.
    ``betas`` = (β1, β2) = (decrease, increase), following the ``beta1``/``beta2`` names.

    ``step(closure)`` requires the closure: it must clear the gradients (``step`` also
    clears them before each call), compute the loss, call ``backward()`` and return the
    loss. ``step`` calls it twice — at θ, then at θ̃ — and returns the loss at θ. So the
    trainer must not run its own forward/backward before ``step``. After ``step`` the
    ``.grad`` fields hold g(θ̃).
    """

    def __init__(
        self,
        params,
        lr: float = 1.0,
        eta0: float = -12.0,
        betas: tuple[float, float] = (0.6, 0.3),
    ) -> None:
        if not (math.isfinite(lr) and lr >= 0.0):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not math.isfinite(eta0):
            raise ValueError(f"Invalid initial exponent eta0: {eta0}")
        if len(betas) != 2:
            raise ValueError(f"Invalid betas, need (beta1, beta2): {betas}")
        if not (math.isfinite(betas[0]) and betas[0] >= 0.0):
            raise ValueError(f"Invalid beta1 (the decrease of the exponent): {betas[0]}")
        if not (math.isfinite(betas[1]) and betas[1] >= 0.0):
            raise ValueError(f"Invalid beta2 (the increase of the exponent): {betas[1]}")
        super().__init__(params, {"lr": lr, "eta0": eta0, "betas": tuple(betas)})

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        if closure is None:
            raise ValueError(
                "DSA needs a closure: step(closure) evaluates the gradient at θ and again "
                "at the look-ahead point θ̃; the closure must zero the gradients, compute "
                "the loss, call backward() and return the loss"
            )
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()

        held = []  # (param, group, θ, g(θ)) for every parameter with a gradient
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exponent"] = torch.full_like(p, float(group["eta0"]))
                theta, g = p.detach().clone(), p.grad.detach().clone()
                p.copy_(sign_step(theta, state["exponent"], g, group["lr"]))
                held.append((p, group, theta, g))

        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            closure()

        for p, group, theta, g in held:
            exponent = self.state[p]["exponent"]
            if p.grad is not None:
                beta1, beta2 = group["betas"]
                adapt_exponent(exponent, g, p.grad, beta1, beta2)
            p.copy_(sign_step(theta, exponent, g, group["lr"]))
        return loss
