"""The toy problems of [DSA]: two-parameter objectives whose optimizer trajectories can be
drawn over their contour lines.

A toy problem has no data loader: a small ``nn.Module`` holds the two parameters ``w1``
and ``w2`` (0-d float64 tensors, so that the parameter-group selectors ``[w1]`` and
``[w2]`` of [MIX] pick one coordinate each) and ``loss()`` returns the objective. Every
step is a full-batch step on the exact objective.

- ``quadratic`` [DSA]: f(w) = a·w1² + b·w2², a = 1, b = 1000, from w = (−0.06, 0.001).
  The curvatures differ 1000-fold, so one global LR is either too small for w1 or
  unstable for w2 (plain gradient descent diverges in w2 for lr > 2/(2b) = 0.001).
- ``sum-of-four`` — a *reading*, not the paper's text: [DSA]'s definition of its "sum of
  four" regression problem was not available when this was written. Taken here as the
  least-squares fit of a line y = w1·x + w2 to four points, i.e. the sum of four squared
  residuals::

      f(w) = Σ_{i=1..4} (w1·x_i + w2 − y_i)²,   x = (1, 2, 3, 4),  y = (3, 5, 7, 9)

  The points lie on y = 2x + 1, so the minimum is f = 0 at w = (2, 1). Each term is a
  rank-one quadratic with its own direction and curvature; their sum is a tilted,
  elongated valley (Hessian 2·[[30, 10], [10, 4]], condition number ≈ 56), unlike the
  axis-aligned ``quadratic``. The start is the usual zero initialisation, w = (0, 0).
  Replace this entry once the paper's definition is known.

``objective`` uses arithmetic only, so it evaluates torch tensors (training) and numpy
grids (contour plots) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from optbench.errors import BadInput

Objective = Callable[[Any, Any], Any]  # (w1, w2) -> f, elementwise on tensors or arrays
Window = tuple[tuple[float, float], tuple[float, float]]  # ((w1 low, high), (w2 low, high))


class ToyModel(nn.Module):
    """Two scalar parameters ``w1``, ``w2`` and the objective of a toy problem."""

    def __init__(self, objective: Objective, start: tuple[float, float], dtype=torch.float64):
        super().__init__()
        self.objective = objective
        self.w1 = nn.Parameter(torch.tensor(float(start[0]), dtype=dtype))
        self.w2 = nn.Parameter(torch.tensor(float(start[1]), dtype=dtype))

    def loss(self) -> torch.Tensor:
        """The objective at the current parameters (a 0-d tensor)."""
        return self.objective(self.w1, self.w2)

    forward = loss

    def point(self) -> tuple[float, float]:
        return (float(self.w1.detach()), float(self.w2.detach()))


@dataclass(frozen=True)
class ProblemSpec:
    name: str
    description: str
    paper: str  # "[DSA]", or "[DSA] (reading)" where the definition is ours
    objective: Objective
    start: tuple[float, float]
    minimum: tuple[float, float]
    window: Window  # the region the trajectory plot shows by default

    def build(self, dtype: torch.dtype = torch.float64) -> ToyModel:
        """A fresh model at the problem's starting point."""
        return ToyModel(self.objective, self.start, dtype)


def quadratic(w1, w2, a: float = 1.0, b: float = 1000.0):
    """[DSA]: a·w1² + b·w2²."""
    return a * w1 * w1 + b * w2 * w2


_XS = (1.0, 2.0, 3.0, 4.0)
_YS = (3.0, 5.0, 7.0, 9.0)  # on y = 2x + 1


def sum_of_four(w1, w2):
    """Σ_{i=1..4} (w1·x_i + w2 − y_i)², the line fit through four points (see the module
    docstring: our reading of [DSA]'s "sum of four")."""
    total = 0.0
    for x, y in zip(_XS, _YS, strict=True):
        r = w1 * x + w2 - y
        total = total + r * r
    return total


PROBLEMS: Mapping[str, ProblemSpec] = MappingProxyType(
    {
        p.name: p
        for p in [
            ProblemSpec(
                "quadratic",
                "w1² + 1000·w2² from (−0.06, 0.001)",
                "[DSA]",
                quadratic,
                start=(-0.06, 0.001),
                minimum=(0.0, 0.0),
                window=((-0.08, 0.04), (-0.0025, 0.0025)),
            ),
            ProblemSpec(
                "sum-of-four",
                "Σ of four squared residuals of a line fit, minimum at (2, 1), from (0, 0)",
                "[DSA] (reading)",
                sum_of_four,
                start=(0.0, 0.0),
                minimum=(2.0, 1.0),
                window=((-0.5, 3.0), (-1.5, 2.5)),
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
