"""LR methods: pure functions of the step that return a factor on the base LR.

Every function takes a ``Clock`` (the progress of the method over its span: the
contiguous stages in which it is active) and the GE method's base LR, plus its own
hyperparameters, and returns the factor f so that the LR in force is ``base * f``.
Methods whose paper states absolute learning rates (``warmup`` starts at 0.01) read the
base LR to turn them into a factor. [MS] §4.2: the LR at a step is the base LR times the
product of every active method's factor, computed once per step — see ``compose``.
No torch here: ``optbench show`` draws curves without loading it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from optbench.errors import BadInput, quoted


@dataclass(frozen=True)
class Clock:
    """Progress of an LR method over its span, in optimizer steps and in epochs.

    A span can cross stages of different batch counts (a ``full``-batch stage takes one
    step per epoch), so steps and epochs are counted apart: ``step``/``total`` for
    per-iteration methods ([MS]'s ``d`` and ``kRkD``), ``t``/``T`` for methods laid out
    over epochs. Without ``epochs_elapsed``/``epochs_total`` the span has one batch count
    and ``t = step / steps_per_epoch``.
    """

    step: int  # optimizer steps taken in the span before this one
    total: int  # optimizer steps in the whole span
    steps_per_epoch: int  # of the stage this step is in
    epochs_elapsed: float | None = None
    epochs_total: float | None = None

    @property
    def t(self) -> float:
        """Epochs of the span elapsed before this step (fractional)."""
        if self.epochs_elapsed is not None:
            return self.epochs_elapsed
        return self.step / self.steps_per_epoch

    @property
    def T(self) -> float:  # noqa: N802 - the papers' symbol
        """Span length in epochs."""
        if self.epochs_total is not None:
            return self.epochs_total
        return self.total / self.steps_per_epoch

    @property
    def fraction(self) -> float:
        """How far through its span the method is, in [0, 1): t / T."""
        if self.epochs_elapsed is None:
            return self.step / self.total
        return self.t / self.T

    def part(self, parts: int) -> int:
        """Which of ``parts`` equal parts of the span this step is in (0-based), exactly:
        integer arithmetic on steps when the span has one batch count."""
        if self.epochs_elapsed is None:
            return min(parts - 1, (self.step * parts) // self.total)
        return min(parts - 1, math.floor(self.t * parts / self.T + 1e-9))


def decay(clock: Clock, base: float, *, rate: float) -> float:
    """[MS] time-based decay: lr / (1 + rate * iteration)."""
    return 1.0 / (1.0 + rate * clock.step)


def cosine(clock: Clock, base: float, *, low: float) -> float:
    """[MS] cosine decay from 1 to ``low`` over the span: low + (1-low)(1+cos(pi t/T))/2."""
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * clock.fraction))


def exponential(clock: Clock, base: float, *, low: float, up: float) -> float:
    """[ANN] ``exp``, exponential decay between the bounds the paper's schedules share
    (η_up = 0.1, η_low = 0.001, §4.1), in this reading:

        η(t) = up · (low/up)^(t/T)        t, T in epochs (t fractional: one value per step)

    so the LR falls smoothly ("attenuates the learning rate sequentially for each step and
    provides a smooth curve", §3.2.2) from ``up`` at t = 0 to ``low`` at the end of the
    span. The paper gives no decay rate; with its bounds and T = 100 epochs this is
    0.1·0.955^t, and any other rate would either stop above η_low or pass below it.
    ``up`` = 0 is the base LR; both bounds are absolute LRs, as in ``sigmoid``.
    """
    upper = _upper(up, base)
    return upper * (low / upper) ** clock.fraction / base


def staircase(clock: Clock, base: float, *, gamma: float, levels: int) -> float:
    """[ANN] step decay: the span cut into ``levels`` equal parts, each gamma times the last.

    With SGD(lr=0.1) and the defaults this is [ANN]'s 0.1 -> 0.01 -> 0.001.
    """
    level = clock.part(levels)
    return gamma**level


def warmup(clock: Clock, base: float, *, start: float, share: float) -> float:
    """[ANN] gradual warm-up: linear from the absolute LR ``start`` to the base LR over the
    first ``share`` of the span (in epochs), then 1."""
    ramp = share * clock.T
    if clock.t >= ramp:
        return 1.0
    return (start + (base - start) * clock.t / ramp) / base


def compose(base: float, factors: Iterable[float]) -> float:
    """[MS] §4.2: the LR in force is the base LR times the product of the active factors."""
    lr = base
    for f in factors:
        lr *= f
    return lr


# The rest of the catalogue: [ANN]'s annealing methods, the usual library schedules, the
# [MS] conflict experiment and the stateful ReduceLROnPlateau. Bounds that [ANN] states as
# learning rates (``low``, ``up``) are absolute LRs, as ``warmup``'s ``start`` is; an
# ``up`` of 0 means "the base LR". Shares and factors elsewhere are relative to the base.


def _falling_logistic(x: float) -> float:
    """1 / (1 + exp(x)), without overflow for large |x|."""
    if x >= 0.0:
        e = math.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(x))


def _upper(up: float, base: float) -> float:
    return up if up > 0.0 else base


def sigmoid(clock: Clock, base: float, *, low: float, up: float, kappa: float) -> float:
    """[ANN] eq. 3, sigmoid decay, in the reading of SPEC §3:

        η(t) = low + (up − low) / (1 + exp(κ(2t − T)))

    with t and T in epochs, κ = 1/5, up = the base LR (``up=0``), low = 0.001 (absolute).
    The printed equation scales t to [0, 1]; with κ = 1/5 that would only move the LR from
    55% to 45% of the way between ``low`` and ``up``, while [ANN]'s LR-curve figure stays
    near ``up`` and then falls to ``low``. With t in epochs, T = 100 and κ = 1/5 the curve
    is that figure:
    η(0) = up − 2e-9·(up − low), η(T/2) = (up + low)/2, η(T) = low + 2e-9·(up − low).
    κ is per epoch, so a much shorter span flattens the curve; κ = 20/T keeps the shape.

    ``warmup+sig`` is [ANN]'s sig+ (warm-up over the first 10% from 0.01, then this decay
    from 0.1 to 0.001): after the warm-up exactly; during it, the product carries this
    factor, 1 − 0.99·e^(κ(2t−T))/(1 + e^(κ(2t−T))) ≥ 1 − 1.2e-7 at t ≤ T/10 for T = 100.
    """
    eta = low + (_upper(up, base) - low) * _falling_logistic(kappa * (2.0 * clock.t - clock.T))
    return eta / base


def repeated_sigmoid(
    clock: Clock, base: float, *, low: float, up: float, kappa: float, cycles: int
) -> float:
    """[ANN] ``rep``: the sigmoid decay of ``sigmoid`` repeated ``cycles`` times (2 in
    [ANN]), each over an equal part of the span: with L = T/cycles, i = ⌊t/L⌋ and
    t' = t − iL,  η(t) = low + (up − low) / (1 + exp(κ(2t' − L))).  The LR jumps back to
    ``up`` at each restart."""
    i = clock.part(cycles)
    part = clock.T / cycles
    local = clock.t - i * part
    eta = low + (_upper(up, base) - low) * _falling_logistic(kappa * (2.0 * local - part))
    return eta / base


def trapezoid(
    clock: Clock, base: float, *, start: float, low: float, up: float, warm: float, cool: float
) -> float:
    """[ANN] ``trap``, the trapezoid "with 10%-epoch warmup" (Xing et al. 2018): a linear
    warm-up from ``start`` to ``up`` over the first ``warm`` share of the span, ``up``
    held, a linear fall to ``low`` over the last ``cool`` share (t in epochs):

        η(t) = start + (up − start)·t/(wT)     for t < wT
        η(t) = up                              for wT ≤ t ≤ (1 − c)T
        η(t) = low + (up − low)·(T − t)/(cT)   for t > (1 − c)T

    [ANN] §4.1: "the initial learning rate of the warmup is set to 0.01" (``start``, as
    ``warmup``'s), the bounds η_up = 0.1 (``up``; 0 = the base LR) and η_low = 0.001
    (``low``, where the fall ends) are shared by the schedules, the warm-up is 10% of the
    epochs. The cool-down's length is not given; 10% (``cool``) mirrors the warm-up.
    """
    upper, t, span = _upper(up, base), clock.t, clock.T
    if warm > 0.0 and t < warm * span:
        eta = start + (upper - start) * t / (warm * span)
    elif cool > 0.0 and t > (1.0 - cool) * span:
        eta = low + (upper - low) * (span - t) / (cool * span)
    else:
        eta = upper
    return eta / base


def natural_exp(clock: Clock, base: float, *, k: float) -> float:
    """Natural exponential decay, continuous in t (epochs): exp(−k·t) (TensorFlow's
    ``natural_exp_decay``, listed by [MS] among the LR methods)."""
    return math.exp(-k * clock.t)


def polynomial(clock: Clock, base: float, *, power: float) -> float:
    """Polynomial decay to 0 at the end of the span: (1 − t/T)^power."""
    return (1.0 - clock.fraction) ** power


MAX_POINTS = 100  # piecewise: more levels than any schedule needs


@functools.lru_cache(maxsize=64)
def parse_points(text: str) -> tuple[tuple[float, float], ...]:
    """``piecewise``'s points, "share:factor,share:factor,...", e.g. "0.5:0.1,0.75:0.01".

    The plan language has scalar values only, so the list travels as one string. Shares
    must increase strictly within (0, 1); factors must be in (0, 1e6]; at most
    ``MAX_POINTS`` points.
    """
    shown = quoted(text)
    items = text.split(",")
    if len(items) > MAX_POINTS:
        raise BadInput(f"piecewise points {shown}: {len(items):,} points, at most {MAX_POINTS}")
    points: list[tuple[float, float]] = []
    for item in items:
        share, sep, factor = item.partition(":")
        try:
            point = (float(share), float(factor))
        except ValueError:
            point = None
        if not sep or point is None:
            raise BadInput(f"piecewise points {shown}: {quoted(item.strip())} is not share:factor")
        if not 0.0 < point[0] < 1.0 or not 0.0 < point[1] <= 1e6:
            raise BadInput(f"piecewise points {shown}: need 0 < share < 1 and 0 < factor <= 1e6")
        if points and point[0] <= points[-1][0]:
            raise BadInput(f"piecewise points {shown}: shares must increase")
        points.append(point)
    return tuple(points)


def piecewise(clock: Clock, base: float, *, points: str) -> float:
    """Piecewise-constant factor: 1 until the first share of the span, then each point's
    factor from its share on. "0.5:0.1,0.75:0.01" gives 1 → 0.1 at T/2 → 0.01 at 3T/4.
    The factors are the factors in force (like TensorFlow's ``piecewise_constant``
    values), not multipliers of the previous level."""
    share = clock.fraction
    factor = 1.0
    for start, value in parse_points(points):
        if share < start:
            break
        factor = value
    return factor


def cosine_restarts(clock: Clock, base: float, *, T0: float, mult: float, low: float) -> float:  # noqa: N803
    """SGDR (Loshchilov & Hutter 2017), cosine annealing with warm restarts: the i-th
    period lasts T_i = T0·mult^i epochs (mult >= 1); within it, with t_cur the epochs
    since its start,

        f = low + (1 − low)·(1 + cos(π·t_cur/T_i))/2      (low a share of the base LR)

    as torch's ``CosineAnnealingWarmRestarts`` stepped with fractional epochs. O(1): the
    period of epoch t is i = ⌊log(1 + t(mult − 1)/T0) / log(mult)⌋, which starts at
    T0·(mult^i − 1)/(mult − 1) (torch's closed form), however short the periods."""
    if T0 <= 0.0 or mult < 1.0:
        raise BadInput(f"sgdr: need T0 > 0 and mult >= 1, got T0={T0!r}, mult={mult!r}")
    t = clock.t
    if mult == 1.0:
        t_cur, period = t - math.floor(t / T0) * T0, T0
    else:
        growth = math.log(mult)
        i = math.floor(math.log1p(t * (mult - 1.0) / T0) / growth)
        for _ in range(2):  # the logarithm may land one period off at a boundary
            start = T0 * math.expm1(i * growth) / (mult - 1.0)
            if start > t:
                i -= 1
            elif start + T0 * mult**i <= t:
                i += 1
            else:
                break
        start = T0 * math.expm1(i * growth) / (mult - 1.0)
        t_cur, period = max(0.0, t - start), T0 * mult**i
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * min(t_cur / period, 1.0)))


def cyclical(clock: Clock, base: float, *, low: float, period: float) -> float:
    """CLR, triangular policy (Smith 2017): the factor rises linearly from ``low`` to 1
    over the first half of each ``period`` (epochs) and falls back over the second:

        x = |2·(t/period − ⌊t/period⌋) − 1|,   f = low + (1 − low)·(1 − x)
    """
    phase = clock.t / period - math.floor(clock.t / period)
    return low + (1.0 - low) * (1.0 - abs(2.0 * phase - 1.0))


def conflict(clock: Clock, base: float, *, k: int) -> float:
    """[MS] kRkD, the conflicting-LR experiment: every iteration, k raises of the LR by 1%
    and k decreases by 1%. After s steps the factor is ((1.01)^k·(0.99)^k)^s; the 2k
    operations of one step are applied to a running float (O(k) per call, k <= 1000 by
    the catalogue's range), the result raised to the power s. Net, each step multiplies
    the LR by 0.9999^k, a slow decay.

    [MS] Table 4 reports +8% to +30% ms/batch for kRkD, because each method there set the
    optimizer's LR in turn. Here the cost is paid once per step on a Python float, and
    the optimizer's LR is written once (SPEC §2, LR composition).
    """
    per_step = 1.0
    for _ in range(k):
        per_step *= 1.01
    for _ in range(k):
        per_step *= 0.99
    return per_step**clock.step


def phase_decay(clock: Clock, base: float, *, gamma0: float) -> float:
    """[PWA] Table 1d, the decayed LR that phase-wise averaging (``avg``) corresponds to,
    eq. (6): within a phase of T epochs, the update of epoch t (t = 1 … T) is weighted by

        λ_t / λ = (1 − γ^(T−t+1)) / (1 − γ^T),      γ = γ0^(80/T)  (γ0 = 0.9)

    Reading: a phase is a stage (the entry is ``per_stage``: the clock restarts at every
    stage, as λ_p does), T is the stage's epochs and t the 1-based epoch within it; the
    factor is constant over an epoch (eq. 6 weights whole epochs' updates Δ_t), from 1 in
    the first epoch down to (1 − γ)/(1 − γ^T) in the last (0.1 for T = 80).
    """
    span = max(1, round(clock.T))
    log_gamma = 80.0 / span * math.log(gamma0)
    t = min(span, math.floor(clock.t + 1e-9) + 1)
    # 1 − γ^n as −expm1(n·ln γ): exact to rounding even when γ is within 1e-16 of 1
    return math.expm1((span - t + 1) * log_gamma) / math.expm1(span * log_gamma)


class PlateauFactor:
    """``plateau`` as an LR method: ReduceLROnPlateau on validation loss, as a factor.

    The one stateful LR method: build one per span (``PlateauFactor(**plan_kwargs)``),
    call ``observe(val_loss)`` once at the end of every epoch, and read ``factor`` (or
    call the instance like a factor function, ``instance(clock, base)``) at every step.
    It follows ``torch.optim.lr_scheduler.ReduceLROnPlateau`` in mode "min" with a
    relative threshold: an epoch improves when loss < best·(1 − threshold); after more
    than ``patience`` epochs without improvement the factor becomes
    max(factor·``factor``, ``min_factor``) (a change smaller than ``eps`` is skipped), then
    ``cooldown`` epochs pass before bad epochs count again. ``factor`` the argument is the
    multiplier (torch's name); ``factor`` the attribute is the factor in force. A NaN loss
    counts as an epoch without improvement. Curves drawn without training show 1.
    """

    def __init__(
        self,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        min_factor: float = 0.0,
        cooldown: int = 0,
        eps: float = 1e-8,
    ) -> None:
        if not 0.0 < factor < 1.0:
            raise BadInput(f"plateau: factor must be in (0, 1), got {factor!r}")
        if patience < 0 or cooldown < 0:
            raise BadInput(f"plateau: patience and cooldown must be >= 0, got {patience!r}")
        if threshold < 0.0 or min_factor < 0.0:
            raise BadInput(f"plateau: threshold and min_factor must be >= 0, got {threshold!r}")
        self.multiplier = factor
        self.patience = patience
        self.threshold = threshold
        self.min_factor = min_factor
        self.cooldown = cooldown
        self.eps = eps
        self.factor = 1.0
        self.best = math.inf
        self.bad_epochs = 0
        self.cooldown_left = 0

    def observe(self, val_loss: float) -> None:
        """One epoch's validation loss; may lower ``factor``."""
        loss = float(val_loss)
        if loss < self.best * (1.0 - self.threshold):
            self.best, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            lowered = max(self.factor * self.multiplier, self.min_factor)
            if self.factor - lowered > self.eps:
                self.factor = lowered
            self.cooldown_left, self.bad_epochs = self.cooldown, 0

    def __call__(self, clock: Clock, base: float, **_: object) -> float:
        return self.factor
