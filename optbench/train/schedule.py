"""The learning-rate schedule of a plan: pure functions of where a run is.

A resolved plan is laid out once (``Schedule.build``): per stage its nominal epochs,
optimizer steps per epoch (one for a ``full``-batch stage) and the LR methods active in
it, each with the span its clock runs over (its contiguous Y cells). Nothing here keeps
state or imports torch, so ``optbench show`` draws the curve the trainer follows.

The clock of an LR method (SPEC §2) counts both optimizer steps (for per-iteration
methods: ``d``, ``kRkD``) and epochs (for everything laid out over epochs), each in its
own unit across stages of different batch counts: three mini-batch epochs followed by a
full-batch stage put ``exp`` at 0.95^3 in the first full-batch epoch, not 0.95^(steps).

When a stage ends early (``:plateau``), the run goes on with the next stage at once. An
LR method whose span reaches past that stage keeps its clock: it counts the epochs and
steps actually taken, over the span as the plan laid it out, so its curve never jumps
(a cosine over stages 1–2 continues from where stage 1 stopped and ends above its low
value, cut short by the epochs stage 1 did not take).

A stateful LR method (``plateau``, driven by validation loss) is a factor of 1 here; the
trainer multiplies its live factor in (``live`` below).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from optbench.methods.lr import Clock
from optbench.methods.registry import REGISTRY, Kind
from optbench.plan.model import Plan, Stage, Value
from optbench.plan.timeline import lr_spans, stage_epochs

TermKey = tuple[str, int]  # (LR method, first stage of its span): one clock, one state


@dataclass(frozen=True)
class LRTerm:
    """One LR method as applied in one stage; its clock runs over stages
    ``first_stage..last_stage``."""

    name: str
    fn: Callable[..., float] | None  # None for a stateful method: the trainer supplies it
    kwargs: Mapping[str, Value]
    first_stage: int
    last_stage: int

    @property
    def key(self) -> TermKey:
        return (self.name, self.first_stage)


@dataclass(frozen=True)
class StageLayout:
    epochs: int  # as the plan lays it out (an end condition's max for a stage that may end early)
    steps_per_epoch: int
    terms: tuple[LRTerm, ...]


def is_full_batch(stage: Stage) -> bool:
    return any(c.name == "full" for c in stage.calls)


@dataclass(frozen=True)
class Schedule:
    stages: tuple[StageLayout, ...]

    @classmethod
    def build(cls, plan: Plan, epochs: int, steps_per_epoch: int) -> Schedule:
        """Lay out a resolved plan (every argument filled in) of ``epochs`` epochs with
        ``steps_per_epoch`` optimizer steps per mini-batch epoch."""
        spans = lr_spans(plan)
        layouts = []
        for i, (stage, n) in enumerate(zip(plan.stages, stage_epochs(plan, epochs), strict=True)):
            terms = []
            for call in stage.calls:
                spec = REGISTRY[call.name]
                if spec.kind is Kind.LR:
                    fn = None if spec.stateful else spec.load()
                    terms.append(LRTerm(call.name, fn, call.kwargs, *spans[i][call]))
            spe = 1 if is_full_batch(stage) else steps_per_epoch
            layouts.append(StageLayout(n, spe, tuple(terms)))
        return cls(tuple(layouts))

    @property
    def stage_epochs(self) -> tuple[int, ...]:
        return tuple(s.epochs for s in self.stages)

    @property
    def total_epochs(self) -> int:
        return sum(self.stage_epochs)

    def clock(self, term: LRTerm, stage: int, epoch: int, step: int, taken: Sequence[int]) -> Clock:
        """The clock of ``term`` at optimizer step ``step`` of epoch ``epoch`` (both
        0-based, within stage ``stage``), where ``taken[j]`` is the number of epochs
        stage j actually took, for every stage before ``stage``."""
        spe = self.stages[stage].steps_per_epoch
        before = range(term.first_stage, stage)
        steps = sum(taken[j] * self.stages[j].steps_per_epoch for j in before)
        epochs = sum(taken[j] for j in before)
        span = self.stages[term.first_stage : term.last_stage + 1]
        return Clock(
            step=steps + epoch * spe + step,
            total=sum(s.epochs * s.steps_per_epoch for s in span),
            steps_per_epoch=spe,
            epochs_elapsed=epochs + epoch + step / spe,
            epochs_total=float(sum(s.epochs for s in span)),
        )

    def factor(
        self,
        stage: int,
        epoch: int,
        step: int,
        base: float,
        taken: Sequence[int],
        live: Mapping[TermKey, float] | None = None,
    ) -> float:
        """The product of the factors of every LR method active at that step [MS §4.2];
        ``live`` holds the current factor of each stateful method (1 when absent)."""
        factor = 1.0
        for term in self.stages[stage].terms:
            if term.fn is None:
                factor *= (live or {}).get(term.key, 1.0)
            else:
                factor *= term.fn(self.clock(term, stage, epoch, step, taken), base, **term.kwargs)
        return factor

    def epoch_lrs(
        self,
        stage: int,
        epoch: int,
        base: float,
        taken: Sequence[int],
        live: Mapping[TermKey, float] | None = None,
    ) -> list[float]:
        """The LR of every optimizer step of one epoch: base × ``factor`` per step, with
        each term's clock laid out once for the epoch."""
        steps = self.stages[stage].steps_per_epoch
        factors = [1.0] * steps
        for term in self.stages[stage].terms:
            if term.fn is None:
                value = (live or {}).get(term.key, 1.0)
                factors = [f * value for f in factors]
                continue
            first = self.clock(term, stage, epoch, 0, taken)
            fn, kwargs, spe = term.fn, term.kwargs, first.steps_per_epoch
            factors = [
                f
                * fn(
                    Clock(first.step + b, first.total, spe, first.t + b / spe, first.T),
                    base,
                    **kwargs,
                )
                for b, f in enumerate(factors)
            ]
        return [base * f for f in factors]


def base_lrs(plan: Plan) -> tuple[float, ...]:
    """Per stage, the base LR of its first GE method (the LR the curves show)."""
    return tuple(
        float(next(c for c in s.calls if REGISTRY[c.name].kind is Kind.GE).kwargs.get("lr", 1.0))
        for s in plan.stages
    )


def lr_curve(
    plan: Plan, epochs: int, steps_per_epoch: int, points: int = 200
) -> list[tuple[float, float]]:
    """(epoch, LR) pairs at ``points`` optimizer steps spread evenly over a resolved plan
    laid out as planned, for ``show`` and plots; the epoch of a step is fractional. The
    cost depends on ``points`` and the number of stages, not on the plan's length."""
    schedule = Schedule.build(plan, epochs, steps_per_epoch)
    taken = schedule.stage_epochs
    bases = base_lrs(plan)
    starts = _starts([s.epochs * s.steps_per_epoch for s in schedule.stages])
    last = starts[-1] + schedule.stages[-1].epochs * schedule.stages[-1].steps_per_epoch - 1
    curve = []
    for i in range(points):
        step = round(i * last / max(points - 1, 1))
        si = bisect.bisect_right(starts, step) - 1
        spe = schedule.stages[si].steps_per_epoch
        e, b = divmod(step - starts[si], spe)
        x = sum(taken[:si]) + e + b / spe
        point = (x, bases[si] * schedule.factor(si, e, b, bases[si], taken))
        if not curve or curve[-1][0] != x:
            curve.append(point)
    return curve


def _starts(sizes: Sequence[int]) -> list[int]:
    """Where each of consecutive blocks of ``sizes`` starts: running sums from 0."""
    out, total = [], 0
    for n in sizes:
        out.append(total)
        total += n
    return out
