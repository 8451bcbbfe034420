"""DSA, the differentiable self-adaptive learning rate [DSA formulas 5–6, Algorithm 1].

Every parameter element has its own exponent η and step 2^η. Each step looks ahead one
step, compares the gradient there with the gradient here, and lengthens the step where
they agree (the minimum is further on) or shortens it where they disagree (the step
overshot). Asymmetric: it shortens by β1 = 0.6 and lengthens by β2 = 0.3 (β1 > β2).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer


def unit(x: Tensor, eps: float) -> Tensor:
    """[DSA] x / (|x| + ε): ±1 where |x| ≫ ε, 0 where x = 0 (the paper's {1, 0, −1})."""
    return x / (x.abs() + eps)


def adapt_exponent(
    exponent: Tensor, g: Tensor, g_ahead: Tensor, beta1: float, beta2: float, eps: float
) -> None:
    """[DSA] formula 6, in place, elementwise:

        η ← η + (β1 + β2)/2 · g̃g/(|g̃g| + ε) + (β2 − β1)/2

    so η += β2 where g̃·g > 0, η −= β1 where g̃·g < 0 (for |g̃·g| ≫ ε), and where
    g̃·g = 0 (a vanishing gradient) η moves by (β2 − β1)/2, i.e. −0.15 at the defaults.
    """
    product = g_ahead * g
    exponent.add_(unit(product, eps), alpha=(beta1 + beta2) / 2.0).add_((beta2 - beta1) / 2.0)


def sign_step(theta: Tensor, exponent: Tensor, g: Tensor, lr: float, eps: float) -> Tensor:
    """[DSA] formula 5: θ − lr·2^η·g/(|g| + ε); ``lr`` is 1 in the paper."""
    return theta - lr * torch.exp2(exponent) * unit(g, eps)


class DSA(Optimizer):
    r"""The DSA optimizer [DSA], with a closure that re-evaluates the loss.

    Algorithm 1 of the paper (per parameter element; η starts at ``eta0`` = −12, so the
    first look-ahead step is 2^−12)::

        g  = ∇f(θ)                                          # first closure call
        θ̃  = θ − lr·2^η·g/(|g| + ε)                         # formula 5, look-ahead
        g̃  = ∇f(θ̃)                                          # second closure call
        η  = η + (β1+β2)/2·g̃g/(|g̃g| + ε) + (β2−β1)/2        # formula 6
        θ  = θ − lr·2^η·g/(|g| + ε)                         # formula 5, with the new η

    The update uses the η just adapted (formula 5's η_t, Algorithm 1 line 6). The
    divisions by |x| + ε follow the formulas rather than an exact sign: the paper calls ε
    "an infinitesimal" and the ratio "∈ {1, 0, −1}" without a value; ``eps`` = 1e-30 keeps
    the ratio ±1 (to float32 rounding) for every gradient product above 1e-23 while
    0/(0 + ε) = 0, so a parameter whose gradient vanishes keeps θ and has its η lowered
    by (β1 − β2)/2 per step, as formula 6 says.

    ``lr`` is not in [DSA]: it scales every step (lr·2^η) so that the plan's LR methods
    compose with DSA like with any GE method; 1 (the default) is the paper's DSA.
    ``betas`` = (β1, β2) = (decrease, increase), following the ``beta1``/``beta2`` names;
    formula 6 requires β1 > β2.

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
        eps: float = 1e-30,
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
        if not betas[0] > betas[1]:
            raise ValueError(f"Invalid betas, formula 6 needs beta1 > beta2: {betas}")
        if not (math.isfinite(eps) and eps > 0.0):
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, {"lr": lr, "eta0": eta0, "betas": tuple(betas), "eps": eps})

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
                p.copy_(sign_step(theta, state["exponent"], g, group["lr"], group["eps"]))
                held.append((p, group, theta, g))

        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            closure()

        for p, group, theta, g in held:
            exponent = self.state[p]["exponent"]
            beta1, beta2 = group["betas"]
            g_ahead = p.grad if p.grad is not None else torch.zeros_like(g)
            adapt_exponent(exponent, g, g_ahead, beta1, beta2, group["eps"])
            p.copy_(sign_step(theta, exponent, g, group["lr"], group["eps"]))
        return loss
