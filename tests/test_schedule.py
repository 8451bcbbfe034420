"""LR composition [MS §4.2], the clock over contiguous active stages, against hand-computed
values."""

from __future__ import annotations

import math

import pytest

from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.train.schedule import Schedule, lr_curve


def schedule(text: str, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule.build(resolve(parse_plan(text)), epochs, steps_per_epoch)


def test_lr_is_base_times_product_of_factors():
    s = schedule("SGD(lr=0.1)+d(rate=0.01)+cos", 10, 10)
    assert s.lr_at(0, 0.1) == pytest.approx(0.1)
    # step 50 of 100: d = 1/(1+0.5) and cos = (1+cos(pi/2))/2 = 0.5
    assert s.lr_at(50, 0.1) == pytest.approx(0.1 / 1.5 * 0.5)
    # step 20: d = 1/1.2, cos = (1+cos(pi/5))/2
    assert s.lr_at(20, 0.1) == pytest.approx(0.1 / 1.2 * (1 + math.cos(math.pi / 5)) / 2)


def test_stage_without_lr_methods_keeps_the_base_lr():
    s = schedule("SGD(lr=0.1) | (Adam+d(rate=0.5))", 4, 1)
    assert [s.stage_at(i) for i in range(4)] == [0, 0, 1, 1]
    assert s.factor_at(1, 0.1) == 1.0
    assert s.factor_at(2, 0.001) == 1.0  # first step of d's span
    assert s.factor_at(3, 0.001) == pytest.approx(1 / 1.5)


def test_clock_runs_over_contiguous_stages_and_a_gap_restarts_it():
    s = schedule("(SGD+cos) | (SGD+cos) | SGD | (SGD+cos)", 8, 1)
    assert s.stage_epochs == (2, 2, 2, 2)
    # stages 1-2 form one span of 4 steps: step 2 is half way
    assert s.factor_at(2, 0.01) == pytest.approx(0.5)
    assert s.factor_at(3, 0.01) == pytest.approx((1 + math.cos(3 * math.pi / 4)) / 2)
    assert s.factor_at(4, 0.01) == 1.0  # stage 3: no LR method
    # stage 4 restarts the clock: a span of 2 steps
    assert s.factor_at(6, 0.01) == pytest.approx(1.0)
    assert s.factor_at(7, 0.01) == pytest.approx(0.5)


def test_a_stage_ended_early_moves_the_later_stages():
    s = schedule("SGD:plateau(patience=2, max=5) | (SGD+cos)", 10, 2)
    assert s.stage_epochs == (5, 5)
    shorter = s.with_stage_epochs(0, 3)
    assert shorter.stages[1].start == 6
    assert shorter.stage_at(6) == 1
    assert shorter.factor_at(6 + 5, 0.01) == pytest.approx(0.5)  # cos half way over 10 steps


def test_lr_curve_follows_each_stage_base_lr():
    curve = lr_curve(resolve(parse_plan("SGD(lr=0.1) | Adam")), 4, 10, points=40)
    assert curve[0] == (0.0, pytest.approx(0.1))
    assert curve[-1][1] == pytest.approx(0.001)
