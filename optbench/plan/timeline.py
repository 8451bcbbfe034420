"""How a plan unfolds over epochs: pure functions the trainer and the reports share.

- ``stage_epochs``: how many epochs each stage gets (SPEC §2, [MS] equal split by default).
- ``schedule_rows``: the Y/N schedule table, one row per method, one column per stage
  ([MS] Table 3).
- ``lr_spans``: the clock of an LR method runs over the contiguous stages
  in which the same call is active (its Y cells); a gap restarts it.
- ``carries_optimizer``: whether the optimizer state crosses a stage boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from optbench.errors import BadInput
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind
from optbench.plan.canonical import format_call, resolve_call, sort_calls
from optbench.plan.model import Call, Plan, Stage


def _fixed_length(stage: Stage, epochs: int) -> int | None:
    """The stage's length when the plan fixes it: ``:N``, ``:P%`` or an end condition's max."""
    if stage.length is not None:
        if stage.length.epochs is not None:
            return stage.length.epochs
        # Half up rather than Python's half-to-even, so 25% of 10 epochs is 3 (the epsilon
        # absorbs binary noise such as 0.35 * 10 = 3.4999999999999996).
        return max(1, math.floor(stage.length.share * epochs + 0.5 + 1e-9))
    if stage.until is not None:
        spec = STAGE_ENDS[stage.until.name]
        most = dict(stage.until.args).get("max", spec.defaults.get("max"))
        if most is not None:
            return int(most)
    return None


def stage_epochs(plan: Plan, epochs: int) -> tuple[int, ...]:
    """Epochs per stage for a plan trained for ``epochs`` epochs.

    A stage written ``:N`` gets N; ``:P%`` gets P% of ``epochs`` rounded half up (at least
    1); a stage with an end condition that has a ``max`` (``:plateau(max=40)``, the
    catalogue's max when not written) and no length gets that maximum, and the trainer
    may end it early. The epochs left are split equally among the other stages, earlier
    stages taking the remainder one each (10 over 3 stages: 4, 3, 3). When every stage
    has a length, the plan's length is their sum and ``epochs`` is not used.

    ``BadInput`` when the fixed lengths leave fewer epochs than there are stages without
    a length (each needs at least 1).
    """
    fixed = [_fixed_length(stage, epochs) for stage in plan.stages]
    free = [i for i, n in enumerate(fixed) if n is None]
    if not free:
        return tuple(n for n in fixed if n is not None)
    taken = sum(n for n in fixed if n is not None)
    left = epochs - taken
    if left < len(free):
        stages = "stage" if len(free) == 1 else "stages"
        raise BadInput(
            f"a plan of {epochs} epochs has {max(left, 0)} left for {len(free)} {stages} "
            f"without a length once the stage lengths given take {taken} (an end "
            f"condition takes its max); each stage needs at least 1 epoch"
        )
    share, extra = divmod(left, len(free))
    for rank, i in enumerate(free):
        fixed[i] = share + (1 if rank < extra else 0)
    return tuple(n for n in fixed if n is not None)


@dataclass(frozen=True)
class Row:
    """One row of the Y/N schedule table [MS Table 3]."""

    label: str  # the call's canonical text, e.g. "SGD(lr=0.1)", "d", "Adam[hidden]"
    kind_label: str  # "GE", "LR" or "mod" (Kind.label)
    active: tuple[bool, ...]  # one per stage: is the call in that stage (a Y cell)
    group: str | None = None  # the call's parameter group, if any ([MIX])


def schedule_rows(plan: Plan) -> list[Row]:
    """The Y/N schedule table of ``plan``: one row per distinct call, in order of first
    appearance (calls within a stage in canonical order).

    Calls are told apart by their canonical text including the group, so ``Adam[hidden]``
    and ``Adam[output]`` are two rows and ``SGD(lr=0.1)`` and ``SGD`` are two rows. Pass a
    ``resolve``d plan to merge calls that differ only in written defaults.
    """
    order: dict[str, Call] = {}
    for stage in plan.stages:
        for call in sort_calls(stage.calls):
            order.setdefault(format_call(call), call)
    rows = []
    for key, call in order.items():
        active = tuple(any(format_call(c) == key for c in stage.calls) for stage in plan.stages)
        rows.append(Row(format_call(call), REGISTRY[call.name].kind.label, active, call.group))
    return rows


def lr_spans(plan: Plan) -> tuple[dict[Call, tuple[int, int]], ...]:
    """For each stage, each of its LR calls mapped to ``(first, last)``: the stage indices
    (inclusive) of the maximal run of contiguous stages in which that same call (same
    canonical text) is active. The call's clock runs over that run; a gap restarts it.

    For ``(SGD+cos) | (SGD+cos) | SGD | (SGD+cos)``: stages 0 and 1 give ``cos: (0, 1)``,
    stage 2 has no LR call, stage 3 gives ``cos: (3, 3)``.
    """

    def is_active(call: Call, index: int) -> bool:
        return call in plan.stages[index].calls

    spans: list[dict[Call, tuple[int, int]]] = []
    for index, stage in enumerate(plan.stages):
        mine: dict[Call, tuple[int, int]] = {}
        for call in sort_calls(stage.calls):
            if REGISTRY[call.name].kind is not Kind.LR:
                continue
            first = last = index
            while first > 0 and is_active(call, first - 1):
                first -= 1
            while last + 1 < len(plan.stages) and is_active(call, last + 1):
                last += 1
            mine[call] = (first, last)
        spans.append(mine)
    return tuple(spans)


def _optimizer_calls(stage: Stage) -> tuple[Call, ...]:
    """The stage's GE methods and options, resolved, with ``lr`` left out: a new LR is
    applied to a running optimizer, as torch's schedulers do."""
    kinds = (Kind.GE, Kind.GE_OPTION)
    calls = [resolve_call(c) for c in stage.calls if REGISTRY[c.name].kind in kinds]
    return sort_calls(replace(c, args=tuple(a for a in c.args if a[0] != "lr")) for c in calls)


def carries_optimizer(prev: Stage, nxt: Stage) -> bool:
    """True when ``nxt`` keeps ``prev``'s optimizer state: its GE methods and GE options,
    with their groups and arguments other than ``lr`` (resolved with the catalogue's
    defaults), are the same as ``prev``'s. ``SGD | SGD | SGD`` is one long SGD run [MS];
    ``(SGD(lr=0.1)+M):80 | (SGD(lr=0.01)+M):40`` is one momentum-SGD run whose LR drops
    at epoch 80 [PWA], the momentum buffer going on. LR methods and modifiers do not
    count. False means a fresh optimizer.

    Pass stages of a plan resolved with the plan file's defaults when there are any;
    written arguments already present are kept as they are.
    """
    return _optimizer_calls(prev) == _optimizer_calls(nxt)
