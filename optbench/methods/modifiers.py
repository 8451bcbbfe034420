"""Stage modifiers that change how a stage trains: Lookahead and full-batch training.

The averaging modifiers (``avg``, ``polyak``) are in ``averaging``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.optim import Optimizer


def wrap_lookahead(optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> Optimizer:
    r"""``LA``: Lookahead (Zhang et al. 2019), as [PWA] compares it, from pytorch-optimizer.

    The stage's optimizer takes k fast steps from the slow weights φ; then
    φ ← φ + α·(θ − φ) and the fast weights θ restart from φ. Returns the wrapper, which
    shares the inner optimizer's ``param_groups`` (set the LR there as usual) and
    forwards ``step(closure)`` and ``zero_grad()``. Trainer: wrap right after building
    the stage's optimizer and step the wrapper instead; a continuing optimizer keeps its
    wrapper (the slow weights and the step counter go on).
    """
    from pytorch_optimizer import Lookahead

    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"Invalid Lookahead k (a whole number >= 1): {k}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Invalid Lookahead alpha (in [0, 1]): {alpha}")
    return Lookahead(optimizer, k=int(k), alpha=alpha)


@dataclass(frozen=True)
class FullBatch:
    """``full``: full-batch training for the stage [DSA]. The batch is the whole training
    set, so an epoch is one optimizer step. A marker only: the trainer reads the stage's
    calls and sets its batch size."""
