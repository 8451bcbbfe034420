"""How a plan unfolds over epochs: pure functions the trainer and the reports share.

- ``stage_epochs``: how many epochs each stage gets (SPEC §2, [MS] equal split by default).
- ``schedule_rows``: the Y/N schedule table, one row per method, one column per stage
  ([MS] Table 3).
- ``lr_spans``: the clock of an LR method runs over the contiguous stages
  in which the same call is active (its Y cells); a gap restarts it.
- ``carries_optimizer`` / ``state_carry``: whether the optimizer state crosses a stage
  boundary (same GE methods, options and hyperparameters other than lr), and why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from optbench.errors import BadInput
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind
from optbench.plan.canonical import (
    format_call,
    format_length,
    format_value,
    resolve_call,
    sort_calls,
)
from optbench.plan.model import Call, Plan, Stage


def _end_max(stage: Stage) -> int:
    """The nominal length of a stage that has an end condition and no length: its max."""
    spec = STAGE_ENDS[stage.until.name]
    return int(dict(stage.until.args).get("max", spec.defaults["max"]))


def _share_epochs(shares: list[float], epochs: int) -> list[int]:
    """Epochs for stages given as shares of ``epochs``: each share·epochs rounded so that
    together they make their exact sum rounded half up (largest remainders get the extra
    epoch, the earlier stage on a tie), each at least 1. So 25% of 10 epochs is 3 and
    50% | 50% of 11 is 6 | 5. The epsilon absorbs binary noise (0.35·10 = 3.4999…)."""
    exact = [share * epochs for share in shares]
    target = math.floor(sum(exact) + 0.5 + 1e-9)
    whole = [math.floor(x + 1e-9) for x in exact]
    extra = target - sum(whole)
    order = sorted(range(len(shares)), key=lambda j: (whole[j] - exact[j], j))
    for j in order[:extra]:
        whole[j] += 1
    return [max(1, n) for n in whole]


def stage_epochs(plan: Plan, epochs: int) -> tuple[int, ...]:
    """Epochs per stage for a plan trained for ``epochs`` epochs.

    A stage written ``:N`` gets N; stages written ``:P%`` get P% of ``epochs``, rounded
    so that they add up to their exact total rounded half up (``_share_epochs``; at least
    1 each); a stage with an end condition and no length gets the condition's ``max``
    (its nominal length; the trainer may end it early). The epochs left are split equally
    among the other stages, earlier stages taking the remainder one each (10 over 3
    stages: 4, 3, 3).

    ``BadInput`` naming the numbers when the lengths given take more epochs than the plan
    has, or leave fewer than one per stage without a length, and when every stage has a
    length and they do not add up to ``epochs``: a plan's length is ``epochs`` (a plan
    file's ``epochs`` or ``--epochs``, stored with each run), never silently another.
    """
    fixed: list[int | None] = [None] * len(plan.stages)
    shown: list[str] = []
    share_stages = [i for i, s in enumerate(plan.stages) if s.length and s.length.share]
    shares = [plan.stages[i].length.share for i in share_stages]
    for i, n in zip(share_stages, _share_epochs(shares, epochs), strict=True):
        fixed[i] = n
    for i, stage in enumerate(plan.stages):
        if stage.length is not None and stage.length.epochs is not None:
            fixed[i] = stage.length.epochs
            shown.append(str(fixed[i]))
        elif stage.length is not None:
            shown.append(f"{format_length(stage.length)} = {fixed[i]}")
        elif stage.until is not None:
            fixed[i] = _end_max(stage)
            shown.append(f"{stage.until.name}'s max {fixed[i]}")
    free = [i for i, n in enumerate(fixed) if n is None]
    taken = sum(n for n in fixed if n is not None)
    given = " + ".join(shown)
    if not free:
        if taken != epochs:
            raise BadInput(
                f"the stage lengths add up to {taken:,} epochs ({given}), but the plan trains "
                f"for {epochs:,}; make the two agree, write the lengths as shares (:25%), or "
                "leave a stage without a length"
            )
        return tuple(n for n in fixed if n is not None)
    left = epochs - taken
    if left < len(free) and not taken:
        raise BadInput(
            f"{len(free):,} stages need at least 1 epoch each, but the plan trains for {epochs:,}"
        )
    if left < len(free):
        stages = "stage" if len(free) == 1 else "stages"
        raise BadInput(
            f"the stage lengths take {taken:,} of the plan's {epochs:,} epochs ({given}), "
            f"leaving {max(left, 0):,} for {len(free)} {stages} without a length; each needs "
            "at least 1 epoch"
        )
    share, extra = divmod(left, len(free))
    for rank, i in enumerate(free):
        fixed[i] = share + (1 if rank < extra else 0)
    return tuple(n for n in fixed if n is not None)


def fixed_epochs(plan: Plan) -> int | None:
    """The plan's length when every stage gives its own in epochs (``:N``, or an end
    condition's max), which is then the only ``epochs`` it accepts; else ``None``."""
    total = 0
    for stage in plan.stages:
        if stage.length is not None and stage.length.epochs is not None:
            total += stage.length.epochs
        elif stage.length is None and stage.until is not None:
            total += _end_max(stage)
        else:
            return None
    return total


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
    texts: list[set[str]] = []
    for stage in plan.stages:
        mine = set()
        for call in sort_calls(stage.calls):
            text = format_call(call)
            order.setdefault(text, call)
            mine.add(text)
        texts.append(mine)
    return [
        Row(key, REGISTRY[call.name].kind.label, tuple(key in t for t in texts), call.group)
        for key, call in order.items()
    ]


def lr_spans(plan: Plan) -> tuple[dict[Call, tuple[int, int]], ...]:
    """For each stage, each of its LR calls mapped to ``(first, last)``: the stage indices
    (inclusive) of the maximal run of contiguous stages in which that same call (same
    canonical text) is active. The call's clock runs over that run; a gap restarts it.
    A method whose entry is ``per_stage`` ([PWA]'s phase-wise ``avgdecay``) restarts at
    every stage: its span is its own stage.

    For ``(SGD+cos) | (SGD+cos) | SGD | (SGD+cos)``: stages 0 and 1 give ``cos: (0, 1)``,
    stage 2 has no LR call, stage 3 gives ``cos: (3, 3)``. Linear in the plan's size.
    """
    active = [set(stage.calls) for stage in plan.stages]

    def joins(call: Call, index: int) -> bool:
        """Whether ``call``'s run goes on into stage ``index``."""
        inside = 0 <= index < len(active)
        return inside and not REGISTRY[call.name].per_stage and call in active[index]

    firsts: list[dict[Call, int]] = []
    for index, stage in enumerate(plan.stages):
        calls = [c for c in sort_calls(stage.calls) if REGISTRY[c.name].kind is Kind.LR]
        firsts.append({c: firsts[-1][c] if joins(c, index - 1) else index for c in calls})
    lasts: list[dict[Call, int]] = [{} for _ in plan.stages]
    for index in reversed(range(len(plan.stages))):
        after = lasts[index + 1] if index + 1 < len(lasts) else {}
        lasts[index] = {c: after[c] if joins(c, index + 1) else index for c in firsts[index]}
    return tuple(
        {c: (first, lasts[i][c]) for c, first in mine.items()} for i, mine in enumerate(firsts)
    )


@dataclass(frozen=True)
class Carry:
    """What happens to the optimizer state at a stage boundary, and why (``show``)."""

    carries: bool
    reason: str


def _optimizer_calls(stage: Stage) -> tuple[tuple[Call, ...], tuple[Call, ...]]:
    """The stage's GE methods and GE options, resolved with the catalogue's defaults."""
    calls = sort_calls(resolve_call(c) for c in stage.calls)
    ges = tuple(c for c in calls if REGISTRY[c.name].kind is Kind.GE)
    options = tuple(c for c in calls if REGISTRY[c.name].kind is Kind.GE_OPTION)
    return ges, options


def _groups(ges: tuple[Call, ...]) -> str:
    return ", ".join(f"[{c.group}]" for c in ges) if ges[0].group else "all parameters"


def _changed(call: Call, before: Call, *, but: str | None = None) -> str | None:
    """``"SGD's weight_decay 0.0 -> 0.0005"`` for the first argument (other than ``but``)
    whose value differs between ``before`` and ``call`` (same method), else None."""
    old = before.kwargs
    for key, value in call.args:
        if key != but and old.get(key) != value:
            shown = format_value(old[key]) if key in old else "unset"
            return f"{call.name}'s {key} {shown} -> {format_value(value)}"
    return None


def state_carry(prev: Stage, nxt: Stage) -> Carry:
    """Whether ``nxt`` keeps ``prev``'s optimizer state, and why.

    The state carries when ``nxt`` continues with the same GE methods (on the same
    parameter groups), the same GE options and the same hyperparameters *other than lr*,
    all resolved with the catalogue's defaults: the running optimizer goes on (momentum
    buffers, Adam's moments, DSA's exponents) and takes the new stage's lr, as torch's LR
    schedulers change the lr of a running optimizer. So ``(SGD(lr=0.1)+M):80 |
    (SGD(lr=0.01)+M):40`` is one momentum-SGD run whose LR drops at epoch 80 ([PWA]), and
    ``SGD | SGD | SGD`` is one long SGD run ([MS]). LR methods and modifiers do not count.
    Otherwise the stage starts a fresh optimizer, and ``reason`` says what changed.

    Pass stages of a plan resolved with the plan file's defaults when there are any;
    written arguments already present are kept as they are.
    """
    (ges_a, opts_a), (ges_b, opts_b) = _optimizer_calls(prev), _optimizer_calls(nxt)
    if [c.group for c in ges_a] != [c.group for c in ges_b]:
        return Carry(False, f"parameter groups change: {_groups(ges_a)} -> {_groups(ges_b)}")
    for a, b in zip(ges_a, ges_b, strict=True):
        if a.name != b.name:
            where = f" on [{b.group}]" if b.group else ""
            return Carry(False, f"GE method changes{where}: {a.name} -> {b.name}")
    names_a, names_b = [c.name for c in opts_a], [c.name for c in opts_b]
    if names_a != names_b:
        added = [n for n in names_b if n not in names_a]
        gone = [n for n in names_a if n not in names_b]
        what = f"{', '.join(added)} added" if added else f"{', '.join(gone)} removed"
        return Carry(False, f"GE options change: {what}")
    for a, b in zip((*ges_a, *opts_a), (*ges_b, *opts_b), strict=True):
        changed = _changed(b, a, but="lr" if b in ges_b else None)
        if changed is not None:
            return Carry(False, f"hyperparameter changes: {changed}")
    lrs = [
        f"{b.name}{f'[{b.group}]' if b.group else ''} lr "
        f"{format_value(a.kwargs['lr'])} -> {format_value(b.kwargs['lr'])}"
        for a, b in zip(ges_a, ges_b, strict=True)
        if a.kwargs.get("lr") != b.kwargs.get("lr")
    ]
    return Carry(True, "; ".join(lrs) if lrs else "same optimizer")


def carries_optimizer(prev: Stage, nxt: Stage) -> bool:
    """True when ``nxt`` keeps ``prev``'s optimizer state and takes its own lr; False
    means a fresh optimizer. The rule and its reasons are ``state_carry``'s."""
    return state_carry(prev, nxt).carries


def boundaries(plan: Plan) -> tuple[Carry, ...]:
    """``state_carry`` at each stage boundary of ``plan``, in order (one fewer than the
    stages)."""
    return tuple(state_carry(a, b) for a, b in pairwise(plan.stages))
