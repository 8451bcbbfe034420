"""The LR schedule of a plan as a pure function of the step, like timm's schedulers.

``Schedule.build`` lays a resolved plan out in optimizer steps: where each stage starts,
and for every LR method the span it runs over (its contiguous Y cells). The trainer asks
``stage_at(step)`` and ``factor_at(step)``; nothing here keeps state or imports torch, so
``optbench show`` draws the same curve the trainer follows.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from optbench.methods.lr import Clock, compose
from optbench.methods.registry import REGISTRY, Kind
from optbench.plan.model import Plan, Value
from optbench.plan.timeline import lr_spans, stage_epochs


@dataclass(frozen=True)
class LRTerm:
    """One LR method as applied in one stage; its clock runs over its whole span."""

    name: str
    fn: Callable[..., float]
    kwargs: Mapping[str, Value]
    first_stage: int
    last_stage: int


@dataclass(frozen=True)
class StageLayout:
    start: int  # global step at which the stage starts
    epochs: int
    terms: tuple[LRTerm, ...]


@dataclass(frozen=True)
class Schedule:
    stages: tuple[StageLayout, ...]
    steps_per_epoch: int

    @classmethod
    def build(cls, plan: Plan, epochs: int, steps_per_epoch: int) -> Schedule:
        """Lay out a resolved plan (every argument filled in) of ``epochs`` epochs."""
        lengths = stage_epochs(plan, epochs)
        spans = lr_spans(plan)
        layouts, start = [], 0
        for i, (stage, n) in enumerate(zip(plan.stages, lengths, strict=True)):
            terms = tuple(
                LRTerm(c.name, REGISTRY[c.name].load(), c.kwargs, *spans[i][c])
                for c in stage.calls
                if REGISTRY[c.name].kind is Kind.LR
            )
            layouts.append(StageLayout(start, n, terms))
            start += n * steps_per_epoch
        return cls(tuple(layouts), steps_per_epoch)

    @property
    def total_steps(self) -> int:
        last = self.stages[-1]
        return last.start + last.epochs * self.steps_per_epoch

    @property
    def stage_epochs(self) -> tuple[int, ...]:
        return tuple(s.epochs for s in self.stages)

    def stage_at(self, step: int) -> int:
        return bisect.bisect_right([s.start for s in self.stages], step) - 1

    @cached_property
    def _clocks(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per stage, per LR term: (global start step, total steps) of the term's span."""
        spe = self.steps_per_epoch
        return tuple(
            tuple(
                (
                    self.stages[t.first_stage].start,
                    spe * sum(s.epochs for s in self.stages[t.first_stage : t.last_stage + 1]),
                )
                for t in layout.terms
            )
            for layout in self.stages
        )

    def factor_at(self, step: int, base: float, stage: int | None = None) -> float:
        """The product of the factors of every LR method active at ``step`` [MS §4.2]."""
        index = self.stage_at(step) if stage is None else stage
        terms, clocks = self.stages[index].terms, self._clocks[index]
        return compose(
            1.0,
            (
                t.fn(Clock(step - start, total, self.steps_per_epoch), base, **t.kwargs)
                for t, (start, total) in zip(terms, clocks, strict=True)
            ),
        )

    def lr_at(self, step: int, base: float) -> float:
        return base * self.factor_at(step, base)

    def with_stage_epochs(self, index: int, epochs: int) -> Schedule:
        """The schedule after stage ``index`` ended early after ``epochs`` epochs."""
        stages = list(self.stages)
        stages[index] = replace(stages[index], epochs=epochs)
        start = stages[index].start
        for j in range(index, len(stages)):
            stages[j] = replace(stages[j], start=start)
            start += stages[j].epochs * self.steps_per_epoch
        return Schedule(tuple(stages), self.steps_per_epoch)


def base_lrs(plan: Plan) -> tuple[float, ...]:
    """Per stage, the base LR of its first GE method (the LR the curves show)."""
    return tuple(
        float(next(c for c in s.calls if REGISTRY[c.name].kind is Kind.GE).kwargs.get("lr", 1.0))
        for s in plan.stages
    )


def lr_curve(
    plan: Plan, epochs: int, steps_per_epoch: int, points: int = 200
) -> list[tuple[float, float]]:
    """(epoch, LR) pairs sampled evenly over a resolved plan, for ``show`` and plots."""
    schedule = Schedule.build(plan, epochs, steps_per_epoch)
    bases = base_lrs(plan)
    total = schedule.total_steps
    steps = sorted(
        {min(total - 1, round(i * (total - 1) / max(points - 1, 1))) for i in range(points)}
    )
    return [(s / steps_per_epoch, schedule.lr_at(s, bases[schedule.stage_at(s)])) for s in steps]
