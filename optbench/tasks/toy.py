"""The toy problems of [DSA] §3.3 and its appendix: small objectives whose optimizer
trajectories can be followed step by step.

A toy problem has no data loader: a small ``nn.Module`` holds the parameters ``w1``,
``w2``, ... (0-d float64 tensors, so that the parameter-group selectors ``[w1]``,
``[w2]`` of [MIX] pick one coordinate each) and ``loss()`` returns the objective. Every
step is a full-batch step on the exact objective.

- ``quadratic`` [DSA] §3.3, Figure 6: f(w) = a·w1² + b·w2², a = 1, b = 1000, from
  w = (−0.06, 0.001). The curvatures differ 1000-fold, so one global LR is either too
  small for w1 or unstable for w2 (plain gradient descent diverges in w2 for
  lr > 2/(2b) = 0.001).
- ``quadratic-b95`` [DSA] Appendix H, Figure 10 (the sensitivity analysis): the same
  quadratic with b = 95, from w = (−1, 1).
- ``sum-of-four`` [DSA] §3.3, Figure 5: "a simple regression problem named the sum of four
  numbers with target of min_w ‖w·xᵀ − y‖, where w = [w1, w2, w3, w4] ∈ R⁴. Obviously, the
  best value of each w_i is 1." Built as written: f(w) = ‖X·w − y‖₂, the Euclidean norm
  (not its square) of the residuals over a fixed table X of four numbers per row, with
  y the row sums, so f = 0 exactly at w = (1, 1, 1, 1). The paper prints neither the
  numbers nor the start; optbench reads them as 32 rows drawn uniformly from [0, 1) by
  ``numpy.random.RandomState(0)`` (NumPy keeps that stream frozen, so the table never
  changes) and the zero start w = (0, 0, 0, 0).

``objective(*w)`` evaluates torch tensors (training) and numpy arrays (contour plots)
alike, elementwise over broadcast arguments; ``plane(w1, w2)`` is the objective on the
(w1, w2) plane through the minimum, what a two-dimensional plot of a track draws.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from optbench.errors import BadInput

Objective = Callable[..., Any]  # (w1, w2, ...) -> f, elementwise on tensors or arrays
Window = tuple[tuple[float, float], tuple[float, float]]  # ((w1 low, high), (w2 low, high))

SUM_OF_FOUR_ROWS = 32


class ToyModel(nn.Module):
    """Scalar parameters ``w1`` ... ``wn`` and the objective of a toy problem."""

    def __init__(self, objective: Objective, start: tuple[float, ...], dtype=torch.float64):
        super().__init__()
        self.objective = objective
        self.names = tuple(f"w{i}" for i in range(1, len(start) + 1))
        for name, value in zip(self.names, start, strict=True):
            self.register_parameter(name, nn.Parameter(torch.tensor(float(value), dtype=dtype)))

    def loss(self) -> torch.Tensor:
        """The objective at the current parameters (a 0-d tensor)."""
        return self.objective(*(getattr(self, n) for n in self.names))

    forward = loss

    def point(self) -> tuple[float, ...]:
        return tuple(float(getattr(self, n).detach()) for n in self.names)


@dataclass(frozen=True)
class ProblemSpec:
    name: str
    description: str
    paper: str  # where the definition comes from
    objective: Objective
    start: tuple[float, ...]
    minimum: tuple[float, ...]
    window: Window  # the (w1, w2) region the trajectory plot shows by default

    @property
    def dims(self) -> int:
        return len(self.start)

    def plane(self, w1, w2):
        """The objective at (w1, w2, minimum[2:]): the slice a (w1, w2) plot draws."""
        return self.objective(w1, w2, *self.minimum[2:])

    def build(self, dtype: torch.dtype = torch.float64) -> ToyModel:
        """A fresh model at the problem's starting point."""
        return ToyModel(self.objective, self.start, dtype)


def quadratic(w1, w2, a: float = 1.0, b: float = 1000.0):
    """[DSA]: a·w1² + b·w2²."""
    return a * w1 * w1 + b * w2 * w2


@functools.cache
def sum_of_four_data() -> tuple[np.ndarray, np.ndarray]:
    """The table of the sum-of-four problem: X (32 x 4, uniform in [0, 1) from
    ``RandomState(0)``) and y = the row sums."""
    x = np.random.RandomState(0).uniform(0.0, 1.0, (SUM_OF_FOUR_ROWS, 4))
    return x, x.sum(axis=1)


def sum_of_four(w1, w2, w3, w4):
    """‖X·w − y‖₂ over the rows of ``sum_of_four_data()`` [DSA] §3.3.

    Computed as ‖X·(w − 1)‖₂, the same number since y = X·1, so that the objective is
    exactly 0 at w = 1 in floating point too (X·w and the row sums round differently).
    """
    x, _ = sum_of_four_data()
    if isinstance(w1, torch.Tensor):
        w = torch.stack(torch.broadcast_tensors(w1, w2, w3, w4), dim=-1)
        residual = (w - 1.0) @ torch.as_tensor(x.T, dtype=w.dtype, device=w.device)
        # vector_norm's gradient at a zero residual is 0, where sqrt(sum of squares) is NaN.
        return torch.linalg.vector_norm(residual, dim=-1)
    w = np.stack(np.broadcast_arrays(w1, w2, w3, w4), axis=-1)
    return np.linalg.norm((w - 1.0) @ x.T, axis=-1)


PROBLEMS: Mapping[str, ProblemSpec] = MappingProxyType(
    {
        p.name: p
        for p in [
            ProblemSpec(
                "quadratic",
                "w1² + 1000·w2² from (−0.06, 0.001)",
                "[DSA] §3.3, Figure 6",
                quadratic,
                start=(-0.06, 0.001),
                minimum=(0.0, 0.0),
                window=((-0.08, 0.04), (-0.0025, 0.0025)),
            ),
            ProblemSpec(
                "quadratic-b95",
                "w1² + 95·w2² from (−1, 1)",
                "[DSA] Appendix H, Figure 10",
                functools.partial(quadratic, a=1.0, b=95.0),
                start=(-1.0, 1.0),
                minimum=(0.0, 0.0),
                window=((-1.2, 0.4), (-1.2, 1.2)),
            ),
            ProblemSpec(
                "sum-of-four",
                "‖X·w − y‖ with y the sums of 32 rows of four numbers, from w = 0",
                "[DSA] §3.3, Figure 5 (the numbers and the start are optbench's)",
                sum_of_four,
                start=(0.0, 0.0, 0.0, 0.0),
                minimum=(1.0, 1.0, 1.0, 1.0),
                window=((-0.5, 2.0), (-0.5, 2.0)),
            ),
        ]
    }
)


def get_problem(name: str) -> ProblemSpec:
    """The registry entry of a toy problem; ``BadInput`` listing the valid names."""
    try:
        return PROBLEMS[name]
    except KeyError:
        valid = ", ".join(repr(n) for n in PROBLEMS)
        raise BadInput(f"unknown toy problem {name!r}; valid problems: {valid}") from None
