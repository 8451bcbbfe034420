"""Parsed plans: frozen dataclasses that evaluate nothing.

A plan is a sequence of stages (the papers' timepieces/phases). A stage is a set of
method calls combined with ``+``, an optional length and an optional end condition::

    SGD | (Adam+d) | SGD
    (SGD(lr=0.1)+M+avg):80 | (SGD(lr=0.01)+M+avg):40
    Adam[hidden] + SGD[output]
    SGD:plateau(patience=3, max=40) | SGD(lr=0.001)

Source spans are kept for error messages but take no part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Value = int | float | str | bool


@dataclass(frozen=True)
class Call:
    """One method in a stage: ``name(arg=value, ...)[group]``."""

    name: str
    args: tuple[tuple[str, Value], ...] = ()
    group: str | None = None
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    @property
    def kwargs(self) -> dict[str, Value]:
        return dict(self.args)


@dataclass(frozen=True)
class Length:
    """A stage length: a whole number of epochs, or a share of the plan's epochs."""

    epochs: int | None = None
    share: float | None = None  # in (0, 1]; written as a percentage, e.g. ``:25%``


@dataclass(frozen=True)
class Stage:
    calls: tuple[Call, ...]
    length: Length | None = None
    until: Call | None = None  # an end condition, e.g. plateau(patience=3, max=40)


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...]
    source: str = field(default="", compare=False, repr=False)
