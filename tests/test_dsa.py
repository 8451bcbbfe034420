"""DSA against a plain numpy transcription of [DSA] formulas 5 and 6, on the paper's
quadratic f(w) = w1² + 1000·w2² from (−0.06, 0.001)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from optbench.methods.dsa import DSA
from optbench.methods.registry import REGISTRY

START = (-0.06, 0.001)


def grad_f(w: np.ndarray) -> np.ndarray:
    return np.array([2.0 * w[0], 2000.0 * w[1]])


def numpy_dsa(steps, eta0=-12.0, beta1=0.6, beta2=0.3, lr=1.0):
    """[DSA] formulas 5–6 as SPEC §3 orders them; returns the trajectory of (w, η) and
    how many element updates agreed / disagreed."""
    w, eta = np.array(START), np.full(2, eta0)
    trajectory, agreed, disagreed = [], 0, 0
    for _ in range(steps):
        g = grad_f(w)
        w_ahead = w - lr * 2.0**eta * np.sign(g)  # formula 5, look-ahead
        product = grad_f(w_ahead) * g
        eta = eta + beta2 * (product > 0) - beta1 * (product < 0)  # formula 6
        w = w - lr * 2.0**eta * np.sign(g)  # the update with the new η
        agreed, disagreed = agreed + (product > 0).sum(), disagreed + (product < 0).sum()
        trajectory.append((w.copy(), eta.copy()))
    return trajectory, agreed, disagreed


def torch_dsa(steps, **kwargs):
    w = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = DSA([w], **kwargs)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = w[0] ** 2 + 1000.0 * w[1] ** 2
        loss.backward()
        return loss

    trajectory = []
    for _ in range(steps):
        opt.step(closure)
        trajectory.append((w.detach().numpy().copy(), opt.state[w]["exponent"].numpy().copy()))
    return trajectory, len(calls)


def test_first_step_by_hand():
    # g = (−0.12, 2); θ̃ = θ − 2^−12·sign(g) = (−0.05976, 0.000756): both gradients keep
    # their sign, so η = −12 + 0.3 = −11.7 and θ = θ − 2^−11.7·sign(g).
    ((w, eta),), _ = torch_dsa(1)
    assert eta == pytest.approx([-11.7, -11.7])
    assert w == pytest.approx([-0.059699427633460714, 0.0006994276334607136], rel=1e-12)


@pytest.mark.parametrize("steps", [10, 40])
def test_quadratic_matches_numpy_transcription(steps):
    expected, agreed, disagreed = numpy_dsa(steps)
    got, calls = torch_dsa(steps)
    assert calls == 2 * steps  # a forward/backward at θ and one at θ̃ per step
    for (w, eta), (w_ref, eta_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(eta, eta_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-18)
    if steps == 40:  # both branches of formula 6 were exercised
        assert agreed > 0 and disagreed > 0


def test_hyperparameters_and_lr_scale_follow_the_transcription():
    expected, _, _ = numpy_dsa(15, eta0=-10.0, beta1=0.5, beta2=0.25, lr=0.5)
    got, _ = torch_dsa(15, eta0=-10.0, betas=(0.5, 0.25), lr=0.5)
    for (w, eta), (w_ref, eta_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(eta, eta_ref, atol=1e-12)
        np.testing.assert_allclose(w, w_ref, rtol=1e-12)


def test_hyperparameters_are_param_group_keys():
    opt = DSA([torch.zeros(2, requires_grad=True)])
    group = opt.param_groups[0]
    assert (group["lr"], group["eta0"], group["betas"]) == (1.0, -12.0, (0.6, 0.3))


def test_step_without_closure_is_a_clear_error():
    opt = DSA([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="DSA needs a closure"):
        opt.step()


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [({"lr": -1.0}, "-1.0"), ({"eta0": float("nan")}, "nan"), ({"betas": (-0.6, 0.3)}, "-0.6"),
     ({"betas": (0.6, -0.3)}, "-0.3")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, bad):
    with pytest.raises(ValueError, match=re.escape(bad)):
        DSA([torch.zeros(2, requires_grad=True)], **kwargs)


def test_registry_entry_builds_dsa_and_needs_a_closure():
    from optbench.methods.ge import build_torch_optimizer

    spec = REGISTRY["DSA"]
    assert spec.needs_closure and not REGISTRY["SGD"].needs_closure
    opt = build_torch_optimizer(spec, [torch.zeros(2, requires_grad=True)], spec.defaults)
    assert isinstance(opt, DSA)
    assert opt.param_groups[0]["betas"] == (0.6, 0.3)
