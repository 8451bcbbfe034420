"""LR methods of the catalogue against their formulas, on hand-computed numbers.

[ANN]'s sig+ and str+ are transcribed here independently of optbench, from the paper's
description (10% linear warm-up from 0.01 to the base LR 0.1, then the sigmoid decay to
0.001, or the staircase 0.1 -> 0.01 -> 0.001), and compared with optbench's compositions
``warmup+sig`` and ``warmup+step``.
"""

from __future__ import annotations

import math

import pytest
import torch

from optbench.errors import BadInput
from optbench.methods import lr
from optbench.methods.lr import Clock, PlateauFactor, compose
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind

SPE = 10  # steps per epoch in these tests


def at(t: float, T: float = 100.0) -> Clock:  # noqa: N803
    """The clock at epoch t (a multiple of 1/SPE) of a span of T epochs."""
    return Clock(step=round(t * SPE), total=round(T * SPE), steps_per_epoch=SPE)


def factor(name: str, t: float, T: float = 100.0, base: float = 0.1, **override) -> float:  # noqa: N803
    """The registry entry's function at its defaults (with ``override``), at epoch t."""
    spec = REGISTRY[name]
    return spec.load()(at(t, T), base, **{**spec.defaults, **override})


# --- [ANN] sigmoid, repeated sigmoid, trapezoid ---------------------------------------


def test_sig_defaults_are_anns_bounds_and_kappa():
    assert REGISTRY["sig"].defaults == {"low": 0.001, "up": 0.0, "kappa": 0.2}


def test_sig_is_half_way_at_mid_span():
    # η(T/2) = low + (up − low)/2 = 0.001 + 0.099/2
    assert factor("sig", 50) == pytest.approx(0.0505 / 0.1, rel=1e-12)


def test_sig_hand_values():
    # t = 60: κ(2t − T) = 0.2·20 = 4; η = 0.001 + 0.099/(1 + e^4) = 0.0027806347862470646
    assert factor("sig", 60) == pytest.approx(0.027806347862470646, rel=1e-12)
    # t = 0: e^−20 = 2.061e-9, so the LR starts at the base LR to 2e-9
    assert factor("sig", 0) == pytest.approx(1.0 - 0.99 * 2.061153622438558e-09, rel=1e-14)
    # t = T: the lower bound to 2e-9
    assert factor("sig", 100) * 0.1 == pytest.approx(0.001 + 0.099 * 2.0611536e-09, rel=1e-9)


def test_sig_up_is_an_absolute_lr_when_given():
    # up = 0.05 with base 0.1: η(T/2) = 0.001 + 0.049/2 = 0.0255
    assert factor("sig", 50, up=0.05) == pytest.approx(0.255, rel=1e-12)


def test_sig_does_not_overflow_on_long_spans():
    assert factor("sig", 0, T=10_000) == pytest.approx(1.0)
    assert factor("sig", 10_000, T=10_000) == pytest.approx(0.01)


def test_rep_restarts_the_sigmoid_at_half_span():
    # each half (L = 50 epochs) is a sigmoid: mid-half points are half way
    assert factor("rep", 25) == pytest.approx(0.505, rel=1e-12)
    assert factor("rep", 75) == pytest.approx(0.505, rel=1e-12)
    # just before the restart: κ(2·49.9 − 50) = 9.96 -> near low; at 50: back near up
    assert factor("rep", 49.9) == pytest.approx((0.001 + 0.099 / (1 + math.exp(9.96))) / 0.1)
    assert factor("rep", 50) == pytest.approx((0.001 + 0.099 / (1 + math.exp(-10))) / 0.1)


def test_trap_rises_holds_and_falls():
    # [ANN] §4.1: the warm-up starts at 0.01 (not at the lower bound 0.001) and rises to
    # up = base 0.1 over 10% of T = 100; the fall ends at the lower bound 0.001.
    assert REGISTRY["trap"].defaults == {
        "start": 0.01, "low": 0.001, "up": 0.0, "warm": 0.1, "cool": 0.1
    }  # fmt: skip
    assert factor("trap", 0) == pytest.approx(0.1)  # 0.01/base
    assert factor("trap", 5) == pytest.approx(0.55)  # half way up: 0.01 + 0.09/2
    assert factor("trap", 10) == pytest.approx(1.0)
    assert factor("trap", 50) == pytest.approx(1.0)
    assert factor("trap", 90) == pytest.approx(1.0)
    assert factor("trap", 95) == pytest.approx(0.505)  # half way down: 0.001 + 0.099/2
    assert factor("trap", 99) == pytest.approx((0.001 + 0.099 * 0.1) / 0.1)


def ann_trap(t: float, T: float) -> float:  # noqa: N803
    """[ANN] trap, transcribed: 10% warm-up from 0.01 to η_up = 0.1, hold, and (a reading)
    a 10% linear fall to η_low = 0.001."""
    if t < 0.1 * T:
        return 0.01 + 0.09 * t / (0.1 * T)
    if t > 0.9 * T:
        return 0.001 + 0.099 * (T - t) / (0.1 * T)
    return 0.1


def test_trap_is_ann_trap():
    for step in range(100 * SPE):
        t = step / SPE
        assert factor("trap", t) * 0.1 == pytest.approx(ann_trap(t, 100), rel=1e-12)


# --- [ANN] exp between the shared bounds -------------------------------------------------


def test_exp_decays_from_the_upper_to_the_lower_bound():
    assert REGISTRY["exp"].defaults == {"low": 0.001, "up": 0.0}
    assert factor("exp", 0) == 1.0
    # η(T/2) = 0.1·(0.001/0.1)^(1/2) = 0.01, η(T) = 0.001: the shared lower bound
    assert factor("exp", 50) * 0.1 == pytest.approx(0.01, rel=1e-12)
    assert factor("exp", 100) * 0.1 == pytest.approx(0.001, rel=1e-12)
    # smooth: one step (0.1 epoch) in, 0.01^(0.1/100)
    assert factor("exp", 0.1) == pytest.approx(0.01**0.001, rel=1e-12)
    # an absolute upper bound, as sig's
    assert factor("exp", 0, up=0.05) == pytest.approx(0.5)
    assert factor("exp", 100, up=0.05) * 0.1 == pytest.approx(0.001, rel=1e-12)


def test_exp_is_a_per_epoch_rate_of_about_0_955_at_the_papers_settings():
    rate = factor("exp", 11) / factor("exp", 10)
    assert rate == pytest.approx(0.01**0.01, rel=1e-12)
    assert round(rate, 3) == 0.955


# --- library schedules -------------------------------------------------------------------


def test_natexp_poly_hand_values():
    assert factor("natexp", 20, k=0.05) == pytest.approx(math.exp(-1.0), rel=1e-14)
    assert factor("poly", 50) == pytest.approx(0.5)  # power 1
    assert factor("poly", 25, power=2.0) == pytest.approx(0.5625)  # 0.75²


def test_piecewise_levels_at_shares():
    assert REGISTRY["piecewise"].defaults["points"] == "0.5:0.1,0.75:0.01"
    assert factor("piecewise", 49.9) == 1.0
    assert factor("piecewise", 50) == 0.1
    assert factor("piecewise", 74.9) == 0.1
    assert factor("piecewise", 75) == 0.01
    assert factor("piecewise", 10, points="0.05:0.5") == 0.5


@pytest.mark.parametrize(
    "bad",
    ["0.5-0.1", "0.75:0.1,0.5:0.01", "1.5:0.1", "0.5:0", "a:b", "", "0.5:1e300", "0.1:1," * 101],
)
def test_piecewise_rejects_bad_points_naming_them(bad):
    with pytest.raises(BadInput, match="piecewise points"):
        factor("piecewise", 10, points=bad)


def test_sgdr_hand_values():
    # T0 = 10, mult = 2: periods [0, 10), [10, 30), [30, 70)
    assert factor("sgdr", 0) == pytest.approx(1.0)
    assert factor("sgdr", 5) == pytest.approx(0.5)
    assert factor("sgdr", 10) == pytest.approx(1.0)  # restart
    assert factor("sgdr", 20) == pytest.approx(0.5)  # t_cur 10 of 20
    assert factor("sgdr", 25) == pytest.approx(0.14644660940672627)  # (1 + cos(0.75π))/2
    assert factor("sgdr", 30) == pytest.approx(1.0)
    assert factor("sgdr", 70) == pytest.approx(1.0)
    assert factor("sgdr", 15, mult=1.0) == pytest.approx(0.5)
    assert factor("sgdr", 5, low=0.2) == pytest.approx(0.6)


def test_sgdr_matches_torch_cosine_annealing_warm_restarts():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
    for step in range(0, 1500, 7):
        sched.step(step / SPE)
        ours = factor("sgdr", step / SPE, T=150, base=1.0)
        assert ours == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12), step


def naive_sgdr(t: float, T0: float, mult: float) -> float:  # noqa: N803
    """SGDR walked period by period (what the closed form replaces)."""
    t_cur, period = t, T0
    while t_cur >= period:
        t_cur, period = t_cur - period, period * mult
    return 0.5 * (1.0 + math.cos(math.pi * t_cur / period))


@pytest.mark.parametrize(("T0", "mult"), [(0.5, 1.5), (1.0, 2.0), (3.0, 3.0), (0.7, 1.0001)])
def test_sgdr_closed_form_equals_walking_the_periods(T0, mult):  # noqa: N803
    for step in range(0, 5000, 7):
        t = step / SPE
        assert factor("sgdr", t, T=500, base=1.0, T0=T0, mult=mult) == pytest.approx(
            naive_sgdr(t, T0, mult), abs=1e-9
        )


def test_sgdr_rejects_shrinking_periods():
    with pytest.raises(BadInput, match="sgdr"):
        factor("sgdr", 5, mult=0.5)


def test_clr_triangle():
    # low 0.1, period 8 epochs: up over 4 epochs, down over 4
    assert factor("clr", 0) == pytest.approx(0.1)
    assert factor("clr", 2) == pytest.approx(0.55)
    assert factor("clr", 4) == pytest.approx(1.0)
    assert factor("clr", 6) == pytest.approx(0.55)
    assert factor("clr", 8) == pytest.approx(0.1)
    assert factor("clr", 9) == pytest.approx(0.325)


# --- [MS] kRkD ---------------------------------------------------------------------------


def test_krkd_is_the_product_of_2k_one_percent_changes_per_step():
    assert factor("kRkD", 0, k=5) == 1.0
    assert factor("kRkD", 0.1, k=1) == pytest.approx(0.9999, rel=1e-14)  # 1.01·0.99, one step
    assert factor("kRkD", 0.3, k=5) == pytest.approx(0.9999**15, rel=1e-12)  # 3 steps, k = 5


def test_krkd_equals_applying_each_change_in_turn():
    running, k = 1.0, 3
    for step in range(1, 201):
        for _ in range(k):
            running *= 1.01
        for _ in range(k):
            running *= 0.99
        assert lr.conflict(Clock(step, 1000, SPE), 0.1, k=k) == pytest.approx(running, rel=1e-11)


# --- [PWA] the decayed LR of Table 1d ---------------------------------------------------


def test_avgdecay_hand_values():
    # T = 80 epochs: γ = 0.9^(80/80) = 0.9; epoch t = 1 -> 1, epoch t = T -> (1 − γ)/(1 − γ^T)
    assert factor("avgdecay", 0, T=80) == 1.0
    assert factor("avgdecay", 0.9, T=80) == 1.0  # the whole first epoch
    assert factor("avgdecay", 1, T=80) == pytest.approx((1 - 0.9**79) / (1 - 0.9**80))
    assert factor("avgdecay", 79.5, T=80) == pytest.approx(0.1 / (1 - 0.9**80))
    # T = 40: γ = 0.9^2 = 0.81; epoch t = 40 -> 0.19/(1 − 0.81^40)
    assert factor("avgdecay", 39, T=40) == pytest.approx(0.19 / (1 - 0.81**40))


@pytest.mark.parametrize("T", [5, 40, 80])
def test_avgdecay_is_the_sum_of_the_averaging_weights(T):  # noqa: N803
    """[PWA] eq. (4)–(6): with the weights α_t = (1−γ)/(1−γ^T)·γ^(T−t) that ``avg`` gives
    the epoch-end parameters θ_t, the update of epoch τ enters θ̄ with Σ_{t≥τ} α_t."""
    gamma = 0.9 ** (80 / T)
    alpha = [(1 - gamma) / (1 - gamma**T) * gamma ** (T - t) for t in range(1, T + 1)]
    for tau in range(1, T + 1):
        assert factor("avgdecay", tau - 1 + 0.5, T=T) == pytest.approx(sum(alpha[tau - 1 :]))


# --- [ANN] sig+ and str+ as warmup+sig and warmup+step -----------------------------------


def ann_sig_plus(t: float, T: float) -> float:  # noqa: N803
    """[ANN] sig+: LR rises linearly from 0.01 to 0.1 over the first 10% of the epochs,
    then the sigmoid decay from 0.1 to 0.001 (κ = 1/5, t in epochs)."""
    if t < 0.1 * T:
        return 0.01 + (0.1 - 0.01) * t / (0.1 * T)
    return 0.001 + (0.1 - 0.001) / (1.0 + math.exp(0.2 * (2.0 * t - T)))


def ann_str_plus(t: float, T: float) -> float:  # noqa: N803
    """[ANN] str+: the same warm-up, then 0.1 -> 0.01 -> 0.001 in three equal parts."""
    if t < 0.1 * T:
        return 0.01 + (0.1 - 0.01) * t / (0.1 * T)
    return 0.1 if t < T / 3 else 0.01 if t < 2 * T / 3 else 0.001


def composed(names: list[str], t: float, T: float) -> float:  # noqa: N803
    base = 0.1
    return compose(base, [factor(n, t, T, base) for n in names])


def test_warmup_plus_step_is_ann_str_plus():
    for step in range(100 * SPE):
        t = step / SPE
        assert composed(["warmup", "step"], t, 100) == pytest.approx(
            ann_str_plus(t, 100), rel=1e-12
        )


def test_warmup_plus_sig_is_ann_sig_plus():
    """Equal to 1.2e-7 relative: during the warm-up the sigmoid's factor is not exactly 1
    but 1 − 0.99·e^(κ(2t − T))/(1 + …) ≥ 1 − 1.2e-7 at t ≤ T/10, T = 100."""
    for step in range(100 * SPE):
        t = step / SPE
        assert composed(["warmup", "sig"], t, 100) == pytest.approx(
            ann_sig_plus(t, 100), rel=1.2e-7
        )
    # and exactly after the warm-up, where warmup's factor is 1
    assert composed(["warmup", "sig"], 60, 100) == pytest.approx(ann_sig_plus(60, 100), rel=1e-14)


# --- plateau -----------------------------------------------------------------------------


def run_plateau(losses, **kwargs):
    """Our factor and torch's ReduceLROnPlateau (base LR 1) after each epoch's loss."""
    ours = PlateauFactor(**kwargs)
    torch_kwargs = {("min_lr" if k == "min_factor" else k): v for k, v in kwargs.items()}
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", **torch_kwargs)
    pairs = []
    for loss in losses:
        ours.observe(loss)
        sched.step(loss)
        pairs.append((ours.factor, opt.param_groups[0]["lr"]))
    return pairs


LOSSES = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.89995, 0.5, 0.6, 0.6, 0.6, 0.6, math.nan, 0.6,
          0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.39999, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 2},
        {"patience": 1, "factor": 0.5, "threshold": 0.1},
        {"patience": 0, "factor": 0.5, "min_factor": 0.1},
        {"patience": 1, "factor": 0.3, "cooldown": 2},
        {},
    ],
)
def test_plateau_factor_follows_reduce_lr_on_plateau(kwargs):
    for ours, theirs in run_plateau(LOSSES * 3, **kwargs):
        assert ours == pytest.approx(theirs, rel=1e-15)


def test_plateau_hand_values():
    p = PlateauFactor(factor=0.5, patience=1)
    p.observe(1.0)  # best 1.0
    p.observe(1.0)  # 1 bad epoch: not more than patience
    assert p.factor == 1.0
    p.observe(0.99995)  # not below 1.0·(1 − 1e-4): a 2nd bad epoch -> halve
    assert p.factor == 0.5
    assert p(at(3), 0.1) == 0.5  # usable where a factor function is


def test_plateau_rejects_bad_arguments():
    with pytest.raises(BadInput, match=r"1\.5"):
        PlateauFactor(factor=1.5)


# --- the registry ------------------------------------------------------------------------


def test_plateau_is_both_an_lr_method_and_a_stage_end():
    assert REGISTRY["plateau"].kind is Kind.LR and REGISTRY["plateau"].stateful
    assert REGISTRY["plateau"].load() is PlateauFactor
    assert STAGE_ENDS["plateau"].kind is Kind.END


@pytest.mark.parametrize(
    "name",
    ["sig", "rep", "trap", "exp", "natexp", "poly", "piecewise", "sgdr", "clr", "kRkD", "avgdecay"],
)
def test_new_lr_entries_load_and_give_a_positive_factor_everywhere(name):
    spec = REGISTRY[name]
    assert spec.kind is Kind.LR and spec.paper and spec.description
    for step in range(0, 1000, 37):
        f = spec.load()(Clock(step, 1000, SPE), 0.1, **spec.defaults)
        assert 0.0 < f <= 1.0 + 1e-12
