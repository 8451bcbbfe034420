"""DSA against [DSA] formulas 5 and 6, step by step on the paper's quadratic
a·w1² + b·w2² (a = 1, b = 1000; ``optbench.tasks.toy``): hand-computed numbers for the
first steps, and a plain numpy transcription of the formulas for longer runs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from optbench.methods.dsa import DSA
from optbench.methods.registry import REGISTRY
from optbench.tasks.toy import ToyModel, quadratic

START = (-0.06, 0.001)  # [DSA] Figure 6


def grad_f(w: np.ndarray) -> np.ndarray:
    return np.array([2.0 * w[0], 2000.0 * w[1]])


def numpy_dsa(steps, start=START, eta0=-12.0, beta1=0.6, beta2=0.3, lr=1.0, eps=1e-30):
    """[DSA] formulas 5–6 (Algorithm 1) as printed; returns the trajectory of (w, η) and
    how many element updates agreed / disagreed / met a zero product."""
    w, eta = np.array(start), np.full(2, eta0)
    trajectory, counts = [], np.zeros(3, dtype=int)

    def unit(x):
        return x / (np.abs(x) + eps)

    for _ in range(steps):
        g = grad_f(w)
        w_ahead = w - lr * 2.0**eta * unit(g)  # formula 5, look-ahead
        product = grad_f(w_ahead) * g
        eta = eta + (beta1 + beta2) / 2 * unit(product) + (beta2 - beta1) / 2  # formula 6
        w = w - lr * 2.0**eta * unit(g)  # formula 5, with the new η
        counts += [(product > 0).sum(), (product < 0).sum(), (product == 0).sum()]
        trajectory.append((w.copy(), eta.copy()))
    return trajectory, counts


def torch_dsa(steps, start=START, **kwargs):
    """DSA on the toy task's own model and objective (``optbench.tasks.toy``)."""
    model = ToyModel(quadratic, start)
    opt = DSA(model.parameters(), **kwargs)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = model.loss()
        loss.backward()
        return loss

    trajectory = []
    for _ in range(steps):
        opt.step(closure)
        w = np.array(model.point())
        eta = np.array([float(opt.state[p]["exponent"]) for p in (model.w1, model.w2)])
        trajectory.append((w, eta))
    return trajectory, len(calls)


def test_three_steps_by_hand():
    """From (−0.06, 0.0001), with 2^−12 = 0.000244140625:

    step 1: g = (−0.12, 0.2); θ̃ = θ − 2^−12·(−1, 1) = (−0.059755859375, −0.000144140625),
      so g̃ = (−0.11951171875, −0.28828125): w1 agrees (η += β2 = 0.3), w2 overshot
      (η −= β1 = 0.6): η = (−11.7, −12.6); θ = θ − (2^−11.7·(−1), 2^−12.6·(+1))
      = (−0.06 + 0.000300572366539, 0.0001 − 0.000161072743014).
    step 2: g = (−0.1193988552669, −0.1221454860285); θ̃2 = θ2 + 2^−12.6 = 0.0001 again,
      g̃2 = 0.2 > 0 against g2 < 0: η = (−11.4, −13.2); θ += (2^−11.4, 2^−13.2).
    step 3: g2 = 0.0903912725887 > 0, θ̃2 = θ2 − 2^−13.2 = −0.0000610727430143 < 0:
      η = (−11.1, −13.8); θ −= (−2^−11.1, 2^−13.8).
    """
    expected = [
        ((-0.059699427633460714, -6.107274301426936e-05), (-11.7, -12.6)),
        ((-0.05932937964359001, 4.5195636294339595e-05), (-11.4, -13.2)),
        ((-0.05887379712819118, -2.491534728702245e-05), (-11.1, -13.8)),
    ]
    got, calls = torch_dsa(3, start=(-0.06, 0.0001))
    assert calls == 6  # a forward/backward at θ and one at θ̃ per step
    for (w, eta), (w_hand, eta_hand) in zip(got, expected, strict=True):
        assert eta == pytest.approx(eta_hand, rel=1e-13)
        assert w == pytest.approx(w_hand, rel=1e-12)
    # the hand numbers themselves: 2^−11.7, 2^−12.6
    assert math.isclose(2**-11.7, 0.000300572366539, rel_tol=1e-11)
    assert math.isclose(2**-12.6, 0.000161072743014, rel_tol=1e-11)


def test_a_zero_gradient_product_lowers_eta_by_half_the_difference_of_the_betas():
    """Formula 6 at g̃·g = 0: η += (β1 + β2)/2·0 + (β2 − β1)/2 = η − 0.15; θ stays (the
    step is 2^η·0/(0 + ε) = 0). From (−0.06, 0), w2's gradient is 0 at every step."""
    got, _ = torch_dsa(3, start=(-0.06, 0.0))
    assert [eta[1] for _, eta in got] == pytest.approx([-12.15, -12.3, -12.45], rel=1e-14)
    assert [w[1] for w, _ in got] == [0.0, 0.0, 0.0]
    assert [eta[0] for _, eta in got] == pytest.approx([-11.7, -11.4, -11.1], rel=1e-13)


@pytest.mark.parametrize("steps", [10, 40])
def test_quadratic_matches_the_formulas(steps):
    expected, counts = numpy_dsa(steps)
    got, calls = torch_dsa(steps)
    assert calls == 2 * steps
    for (w, eta), (w_ref, eta_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(eta, eta_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-18)
    if steps == 40:  # both signed branches of formula 6 were exercised
        assert counts[0] > 0 and counts[1] > 0


def test_eps_divides_as_the_formulas_say():
    # A large ε makes g/(|g| + ε) visibly not a sign: the steps follow the formula.
    expected, _ = numpy_dsa(15, eps=0.1)
    got, _ = torch_dsa(15, eps=0.1)
    for (w, eta), (w_ref, eta_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(eta, eta_ref, atol=1e-12)
        np.testing.assert_allclose(w, w_ref, rtol=1e-12)
    # w1, step 1: g/(|g| + ε) = −0.12/0.22, θ̃ = −0.06 + 2^−12·6/11 = −0.0598668323864,
    # g̃·g = 0.12·0.1197336647727 = 0.0143680397727: η = −12 + 0.45·0.01436804/0.11436804 − 0.15
    assert got[0][1][0] == pytest.approx(-12.0934666, abs=1e-7)


def test_hyperparameters_and_lr_scale_follow_the_formulas():
    expected, _ = numpy_dsa(15, eta0=-10.0, beta1=0.5, beta2=0.25, lr=0.5)
    got, _ = torch_dsa(15, eta0=-10.0, betas=(0.5, 0.25), lr=0.5)
    for (w, eta), (w_ref, eta_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(eta, eta_ref, atol=1e-12)
        np.testing.assert_allclose(w, w_ref, rtol=1e-12)


def test_hyperparameters_are_param_group_keys():
    opt = DSA([torch.zeros(2, requires_grad=True)])
    group = opt.param_groups[0]
    assert (group["lr"], group["eta0"], group["betas"], group["eps"]) == (
        1.0, -12.0, (0.6, 0.3), 1e-30
    )  # fmt: skip


def test_step_without_closure_is_a_clear_error():
    opt = DSA([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="DSA needs a closure"):
        opt.step()


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [({"lr": -1.0}, "-1.0"), ({"eta0": float("nan")}, "nan"), ({"betas": (-0.6, 0.3)}, "-0.6"),
     ({"betas": (0.6, -0.3)}, "-0.3"), ({"betas": (0.3, 0.6)}, "(0.3, 0.6)"),
     ({"eps": 0.0}, "0.0")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, bad):
    with pytest.raises(ValueError, match=re.escape(bad)):
        DSA([torch.zeros(2, requires_grad=True)], **kwargs)


def test_registry_entry_builds_dsa_and_needs_a_closure():
    from optbench.methods.ge import build_torch_optimizer

    spec = REGISTRY["DSA"]
    assert spec.needs_closure and not REGISTRY["SGD"].needs_closure
    assert spec.defaults == {"lr": 1.0, "eta0": -12.0, "beta1": 0.6, "beta2": 0.3, "eps": 1e-30}
    opt = build_torch_optimizer(spec, [torch.zeros(2, requires_grad=True)], spec.defaults)
    assert isinstance(opt, DSA)
    assert opt.param_groups[0]["betas"] == (0.6, 0.3)
    assert opt.param_groups[0]["eps"] == 1e-30
    assert not spec.stacks  # its steps are signs: stacked and separate runs would part
