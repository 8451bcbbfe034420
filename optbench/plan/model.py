"""Parsed plans: frozen dataclasses that evaluate nothing.

A plan is a sequence of stages (the papers' timepieces/phases). A stage is a set of
method calls combined with ``+``, an optional length and an optional end condition::

    SGD | (Adam+d) | SGD
    (SGD(lr=0.1)+M+avg):80 | (SGD(lr=0.01)+M+avg):40
    Adam[hidden] + SGD[output]
    SGD:plateau(patience=3, max=40) | SGD(lr=0.001)

Source spans are kept for error messages but take no part in equality, and so is the
plan's source text: ``Plan.label`` is the plan as the user wrote it (a report shows a
plan that way), the canonical text (``canonical.format_plan``) is its identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Value = int | float | str | bool

# Limits on what a plan may ask for, so that every accepted plan is laid out and drawn in
# bounded time: epochs of a plan or a stage, and stages of a plan.
MAX_EPOCHS = 100_000
MAX_STAGES = 1_000


@dataclass(frozen=True)
class Call:
    """One method in a stage: ``name(arg=value, ...)[group]``."""

    name: str
    args: tuple[tuple[str, Value], ...] = ()
    group: str | None = None  # canonical: the selectors sorted, joined by ','
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    @property
    def kwargs(self) -> dict[str, Value]:
        return dict(self.args)

    @property
    def selectors(self) -> tuple[str, ...]:
        """The selectors of the call's parameter group: ``hidden``, ``output``, parameter
        names or fnmatch globs, whose union the group trains; () without a group."""
        return tuple(self.group.split(",")) if self.group else ()


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

    @property
    def label(self) -> str:
        """The plan as written, on one line: the source with each run of whitespace one
        space (a plan file may fold a plan over lines); empty for a plan built in code."""
        return " ".join(self.source.split())
