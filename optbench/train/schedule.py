"""The LR schedule of a plan as a pure function of the step, like timm's schedulers.

``Schedule.build`` lays a resolved plan out in optimizer steps: where each stage starts,
how many steps its epochs have (one per epoch in a ``full``-batch stage), and for every
LR method the span it runs over (its contiguous Y cells). The trainer asks
``stage_at(step)`` and ``factor_at(step, base)``; nothing here keeps state or imports
torch, so ``optbench show`` draws the curve the trainer follows. A stateful LR method
(``plateau``, driven by validation loss) counts as a factor of 1 here; the trainer
multiplies its live factor in.
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


def _unit(clock: Clock, base: float, **kwargs: Value) -> float:
    return 1.0


@dataclass(frozen=True)
class LRTerm:
    """One LR method as applied in one stage; its clock runs over its whole span."""

    name: str
    fn: Callable[..., float]
    kwargs: Mapping[str, Value]
    first_stage: int
    last_stage: int
    stateful: bool = False  # driven by validation loss: ``fn`` is 1, the trainer adds it


@dataclass(frozen=True)
class StageLayout:
    start: int  # global step at which the stage starts
    epochs: int
    steps_per_epoch: int
    terms: tuple[LRTerm, ...]

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def is_full_batch(stage) -> bool:
    return any(c.name == "full" for c in stage.calls)


@dataclass(frozen=True)
class Schedule:
    stages: tuple[StageLayout, ...]

    @classmethod
    def build(cls, plan: Plan, epochs: int, steps_per_epoch: int) -> Schedule:
        """Lay out a resolved plan (every argument filled in) of ``epochs`` epochs."""
        spans = lr_spans(plan)
        layouts, start = [], 0
        for i, (stage, n) in enumerate(zip(plan.stages, stage_epochs(plan, epochs), strict=True)):
            terms = []
            for call in stage.calls:
                spec = REGISTRY[call.name]
                if spec.kind is Kind.LR:
                    fn = _unit if spec.stateful else spec.load()
                    terms.append(LRTerm(call.name, fn, call.kwargs, *spans[i][call], spec.stateful))
            spe = 1 if is_full_batch(stage) else steps_per_epoch
            layouts.append(StageLayout(start, n, spe, tuple(terms)))
            start += n * spe
        return cls(tuple(layouts))

    @property
    def total_steps(self) -> int:
        return self.stages[-1].start + self.stages[-1].steps

    @property
    def stage_epochs(self) -> tuple[int, ...]:
        return tuple(s.epochs for s in self.stages)

    def stage_at(self, step: int) -> int:
        return bisect.bisect_right([s.start for s in self.stages], step) - 1

    def epoch_at(self, step: int) -> float:
        """Epochs elapsed before ``step`` (fractional), across stages of any batch size."""
        i = self.stage_at(step)
        layout = self.stages[i]
        done = sum(s.epochs for s in self.stages[:i])
        return done + (step - layout.start) / layout.steps_per_epoch

    @cached_property
    def _clocks(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per stage, per LR term: (global start step, total steps) of the term's span."""
        return tuple(
            tuple(
                (
                    self.stages[t.first_stage].start,
                    sum(s.steps for s in self.stages[t.first_stage : t.last_stage + 1]),
                )
                for t in layout.terms
            )
            for layout in self.stages
        )

    def factor_at(self, step: int, base: float, stage: int | None = None) -> float:
        """The product of the factors of every LR method active at ``step`` [MS §4.2]."""
        index = self.stage_at(step) if stage is None else stage
        layout, clocks = self.stages[index], self._clocks[index]
        spe = layout.steps_per_epoch
        return compose(
            1.0,
            (
                t.fn(Clock(step - start, total, spe), base, **t.kwargs)
                for t, (start, total) in zip(layout.terms, clocks, strict=True)
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
            start += stages[j].steps
        return Schedule(tuple(stages))


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
    last = schedule.total_steps - 1
    steps = sorted({round(i * last / max(points - 1, 1)) for i in range(points)})
    return [(schedule.epoch_at(s), schedule.lr_at(s, bases[schedule.stage_at(s)])) for s in steps]
