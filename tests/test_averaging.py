"""Stage modifiers: [PWA] phase-wise averaging, Polyak averaging, Lookahead, full batch."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from torch import nn

from optbench.methods.averaging import PhaseAverage, PolyakAverage
from optbench.methods.modifiers import FullBatch, wrap_lookahead
from optbench.methods.registry import ALIASES, REGISTRY, Kind
from optbench.train.stacking import recalibrate_batchnorm, stack_models


def flat(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def visit(model: nn.Module, generator: torch.Generator) -> np.ndarray:
    """Stand-in for an epoch of training: new parameter values; returns them."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return flat(model)


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).double()


# --- avg [PWA] ---------------------------------------------------------------------------


def test_gamma_is_gamma0_to_the_80_over_stage_epochs():
    params = nn.Linear(2, 1).parameters
    assert PhaseAverage(params(), gamma0=0.9, stage_epochs=80).gamma == pytest.approx(0.9)
    assert PhaseAverage(params(), gamma0=0.9, stage_epochs=40).gamma == pytest.approx(0.81)


def test_two_epochs_by_hand():
    # γ = 0.5, θ1 = 1, θ2 = 3: θ̄ = 0.5·(0.5·1) + 0.5·3 = 1.75; θ = 1.75/(1 − 0.25) = 7/3
    p = torch.zeros(1, dtype=torch.float64)
    avg = PhaseAverage([p], gamma0=0.5**0.025, stage_epochs=2)
    for value in (1.0, 3.0):
        p.fill_(value)
        avg.update()
    avg.finalize()
    assert p.item() == pytest.approx(7 / 3)


@pytest.mark.parametrize(("gamma0", "epochs"), [(0.9, 8), (0.99, 8), (0.9, 80)])
def test_result_is_the_bias_corrected_exponential_mean(gamma0, epochs):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    avg = PhaseAverage(model.parameters(), gamma0=gamma0, stage_epochs=epochs)
    g = torch.Generator().manual_seed(1)
    thetas = []
    for _ in range(epochs):
        thetas.append(visit(model, g))
        avg.update()
    avg.finalize()
    gamma = gamma0 ** (80 / epochs)
    weights = [gamma ** (epochs - t) for t in range(1, epochs + 1)]
    expected = (
        (1 - gamma)
        / (1 - gamma**epochs)
        * sum(w * th for w, th in zip(weights, thetas, strict=True))
    )
    np.testing.assert_allclose(flat(model), expected, rtol=1e-12, atol=1e-14)


def test_batchnorm_statistics_are_re_estimated_for_the_averaged_weights():
    model = bn_net()
    avg = PhaseAverage(model.parameters(), gamma0=0.9, stage_epochs=4)
    g = torch.Generator().manual_seed(2)
    for _ in range(4):
        visit(model, g)
        avg.update()
    bn = model[1]
    bn.running_mean.fill_(123.0)  # stale statistics from the trajectory
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    avg.finalize()
    recalibrate_batchnorm(model, [x[i : i + 16] for i in range(0, 64, 16)])
    with torch.no_grad():
        pre_bn = model[0](x)  # the averaged first layer
    # the per-batch statistics averaged; equal batches: the mean over all data
    torch.testing.assert_close(bn.running_mean, pre_bn.mean(0))
    batch_vars = torch.stack([pre_bn[i : i + 16].var(0) for i in range(0, 64, 16)])
    torch.testing.assert_close(bn.running_var, batch_vars.mean(0))
    assert bn.momentum == 0.1  # restored after the pass


def test_batchnorm_re_estimation_of_stacked_seeds_is_torchs_per_seed():
    models = [bn_net() for _ in range(3)]
    for i, m in enumerate(models):
        visit(m, torch.Generator().manual_seed(i))
    stack = stack_models(copy.deepcopy(models))
    x = torch.randn(48, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    batches = [x[i : i + 16] for i in range(0, 48, 16)]
    recalibrate_batchnorm(stack, [b.expand(3, *b.shape) for b in batches])
    for i, m in enumerate(models):
        torch.optim.swa_utils.update_bn(batches, m)
        mean, var = (stack.stacked_buffers()[f"1.{k}"][i] for k in ("running_mean", "running_var"))
        torch.testing.assert_close(mean, m[1].running_mean)
        torch.testing.assert_close(var, m[1].running_var)


@pytest.mark.parametrize(("kwargs", "bad"), [({"gamma0": 1.0}, "1.0"), ({"stage_epochs": 0}, "0")])
def test_bad_arguments_are_named(kwargs, bad):
    with pytest.raises(ValueError, match=re.escape(bad)):
        PhaseAverage(nn.Linear(2, 1).parameters(), **kwargs)


# --- polyak -------------------------------------------------------------------------------


def test_polyak_is_the_plain_mean_of_the_epoch_end_parameters():
    model = bn_net()
    polyak = PolyakAverage(model.parameters())
    g = torch.Generator().manual_seed(3)
    thetas = []
    for _ in range(7):
        thetas.append(visit(model, g))
        polyak.update()
    polyak.finalize()
    np.testing.assert_allclose(flat(model), np.mean(thetas, axis=0), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [lambda p: PhaseAverage(p, stage_epochs=4), PolyakAverage])
def test_an_average_resumed_from_its_state_ends_where_the_uninterrupted_one_does(make):
    model = bn_net()
    params = list(model.parameters())
    g = torch.Generator().manual_seed(4)
    whole = make(params)
    for _ in range(2):
        visit(model, g)
        whole.update()
    resumed = make(params)
    resumed.load_state_dict(copy.deepcopy(whole.state_dict()))
    for _ in range(2):
        visit(model, g)
        whole.update()
        resumed.update()
    whole.finalize()
    expected = flat(model)
    visit(model, g)
    resumed.finalize()
    np.testing.assert_allclose(flat(model), expected, rtol=1e-15)


# --- LA (Lookahead) -------------------------------------------------------------------------


def test_lookahead_slow_weights_after_k_steps():
    torch.manual_seed(0)
    model = nn.Linear(3, 1).double()
    plain = copy.deepcopy(model)
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    phi = flat(model)
    k, alpha = 3, 0.5
    opt = wrap_lookahead(torch.optim.SGD(model.parameters(), lr=0.1), k=k, alpha=alpha)
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.1)
    for net, o in ((model, opt), (plain, plain_opt)):
        for _ in range(k):
            o.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            o.step()
    theta_k = flat(plain)  # the fast weights after k steps
    expected = phi + alpha * (theta_k - phi)
    np.testing.assert_allclose(flat(model), expected, rtol=1e-12)
    slow = torch.cat([opt.state[p]["slow_params"].reshape(-1) for p in model.parameters()])
    np.testing.assert_allclose(slow.numpy(), expected, rtol=1e-12)


def test_lookahead_shares_the_param_groups_so_the_lr_can_be_set():
    inner = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    opt = wrap_lookahead(inner)
    opt.param_groups[0]["lr"] = 0.05
    assert inner.param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize(("kwargs", "bad"), [({"k": 0}, "0"), ({"alpha": 1.5}, "1.5")])
def test_lookahead_bad_arguments_are_named(kwargs, bad):
    with pytest.raises(ValueError, match=re.escape(bad)):
        wrap_lookahead(torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1), **kwargs)


# --- the registry entries -------------------------------------------------------------------


def test_modifier_entries():
    assert {n: REGISTRY[n].kind for n in ("avg", "polyak", "LA", "full")} == dict.fromkeys(
        ("avg", "polyak", "LA", "full"), Kind.MODIFIER
    )
    assert REGISTRY["avg"].load() is PhaseAverage
    assert REGISTRY["avg"].defaults == {"gamma0": 0.9}
    assert REGISTRY["polyak"].load() is PolyakAverage
    assert REGISTRY["LA"].load() is wrap_lookahead
    assert REGISTRY["LA"].defaults == {"k": 5, "alpha": 0.5}
    assert REGISTRY["LA"].aliases == ("lookahead",) and ALIASES["lookahead"] == "LA"
    assert REGISTRY["full"].load() is FullBatch
