"""LR composition [MS §4.2], the clock over contiguous active stages, against hand-computed
values."""

from __future__ import annotations

import itertools
import math

import pytest

from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.train.schedule import Schedule, lr_curve


def schedule(text: str, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule.build(resolve(parse_plan(text)), epochs, steps_per_epoch)


def lrs(s: Schedule, base: float, taken=None) -> list[float]:
    """The LR of every step of the plan, stages in order (as laid out, or as ``taken``)."""
    taken = list(taken or s.stage_epochs)
    return [
        lr
        for si, n in enumerate(taken)
        for e in range(n)
        for lr in s.epoch_lrs(si, e, base, taken[:si])
    ]


def test_lr_is_base_times_product_of_factors():
    s = schedule("SGD(lr=0.1)+d(rate=0.01)+cos", 10, 10)
    every = lrs(s, 0.1)
    assert every[0] == pytest.approx(0.1)
    # step 50 of 100: d = 1/(1+0.5) and cos = (1+cos(pi/2))/2 = 0.5
    assert every[50] == pytest.approx(0.1 / 1.5 * 0.5)
    # step 20: d = 1/1.2, cos = (1+cos(pi/5))/2
    assert every[20] == pytest.approx(0.1 / 1.2 * (1 + math.cos(math.pi / 5)) / 2)


def test_stage_without_lr_methods_keeps_the_base_lr():
    s = schedule("SGD(lr=0.1) | (Adam+d(rate=0.5))", 4, 1)
    assert s.stage_epochs == (2, 2)
    assert s.epoch_lrs(0, 1, 0.1, []) == [0.1]
    assert s.epoch_lrs(1, 0, 0.001, [2]) == [0.001]  # first step of d's span
    assert s.epoch_lrs(1, 1, 0.001, [2]) == pytest.approx([0.001 / 1.5])


def test_clock_runs_over_contiguous_stages_and_a_gap_restarts_it():
    s = schedule("(SGD+cos) | (SGD+cos) | SGD | (SGD+cos)", 8, 1)
    assert s.stage_epochs == (2, 2, 2, 2)
    every = [lr / 0.01 for lr in lrs(s, 0.01)]
    # stages 1-2 form one span of 4 steps: step 2 is half way
    assert every[2] == pytest.approx(0.5)
    assert every[3] == pytest.approx((1 + math.cos(3 * math.pi / 4)) / 2)
    assert every[4] == 1.0  # stage 3: no LR method
    # stage 4 restarts the clock: a span of 2 steps
    assert every[6] == pytest.approx(1.0)
    assert every[7] == pytest.approx(0.5)


def test_a_clock_counts_epochs_in_each_stage_s_own_steps():
    # 3 mini-batch epochs of 45 steps, then full-batch epochs of one step each: a staircase
    # of one level per epoch is 0.95 per epoch whatever the batch count
    decay = "step(gamma=0.95, levels=6)"
    s = schedule(f"(SGD(lr=0.1)+{decay}) | (SGD(lr=0.1)+{decay}+full)", 6, 45)
    assert [s.stages[i].steps_per_epoch for i in (0, 1)] == [45, 1]
    assert s.epoch_lrs(1, 0, 0.1, [3]) == pytest.approx([0.1 * 0.95**3])
    assert s.epoch_lrs(1, 2, 0.1, [3]) == pytest.approx([0.1 * 0.95**5])


def test_after_an_early_stage_end_a_spanning_clock_goes_on_without_a_jump():
    # cos spans both stages (4 + 6 epochs, 1 step each); stage 1 ends after 2 epochs
    s = schedule("(SGD+cos):plateau(patience=1, max=4) | (SGD+cos)", 10, 1)
    assert s.stage_epochs == (4, 6)
    ended = [lr / 0.01 for lr in lrs(s, 0.01, taken=[2, 6])]
    # the clock counts the epochs actually taken over the span as laid out (T = 10)
    expected = [(1 + math.cos(math.pi * t / 10)) / 2 for t in range(8)]
    assert ended == pytest.approx(expected)
    steps = [abs(b - a) for a, b in itertools.pairwise(ended)]
    assert max(steps) < 0.16  # never a jump: the largest step of the planned curve is 0.155


def test_lr_curve_follows_each_stage_base_lr():
    curve = lr_curve(resolve(parse_plan("SGD(lr=0.1) | Adam")), 4, 10, points=40)
    assert curve[0] == (0.0, pytest.approx(0.1))
    assert curve[-1][1] == pytest.approx(0.001)


def test_lr_curve_samples_a_plan_of_any_length():
    # 10^15 steps: the curve visits 200 of them, never the rest
    curve = lr_curve(resolve(parse_plan("SGD+cos | Adam+d")), 10**9, 10**6, points=200)
    assert len(curve) == 200
