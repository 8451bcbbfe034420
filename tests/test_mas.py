"""MAS and [MIX]'s variants against their update rules, and the library GE entries
(AdaBound, AMSBound) against pytorch-optimizer used directly."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from pytorch_optimizer import AdaBound
from torch import nn

from optbench.methods.ge import build_torch_optimizer
from optbench.methods.mas import MAS, VARIANTS, mixed_update
from optbench.methods.registry import REGISTRY

# --- the displacement rules on hand-computed numbers -----------------------------------
# u_s = SGD's step, u_a = Adam's step (both with the LR in); γ = 0.6 the outer scale [MIX].


def delta(variant, u_s, u_a, gamma=0.6, adam_w=0.5):
    u_s, u_a = torch.tensor(u_s, dtype=torch.float64), torch.tensor(u_a, dtype=torch.float64)
    return mixed_update(variant, u_s, u_a, gamma=gamma, adam_w=adam_w).tolist()


def test_mas_scales_the_weighted_sum_of_both_steps():
    # 0.6·(0.5·[1, −2] + 0.5·[−1, 1]) = 0.6·[0, −0.5]
    assert delta("mas", [1.0, -2.0], [-1.0, 1.0]) == pytest.approx([0.0, -0.3])
    # adam_w = 0.25: 0.6·(0.75·[1, −2] + 0.25·[−1, 1]) = 0.6·[0.5, −1.25]
    assert delta("mas", [1.0, -2.0], [-1.0, 1.0], adam_w=0.25) == pytest.approx([0.3, -0.75])


@pytest.mark.parametrize("gamma", [0.4, 0.6, 0.7, 1.0])  # [MIX] Figure 5
def test_gamma_is_an_outer_scale_of_the_combined_update(gamma):
    for variant in VARIANTS:
        u_s, u_a = [[1.0, -2.0], [0.5, 3.0]], [[-1.0, 1.0], [2.0, 2.0]]
        unit = np.array(delta(variant, u_s, u_a, gamma=1.0))
        assert np.allclose(delta(variant, u_s, u_a, gamma=gamma), gamma * unit)


def test_direction_correction_takes_sgd_when_adam_agrees_else_adam():
    # ⟨[1, −2], [1, 0]⟩ = 1 > 0: 0.6·[1, −2]
    assert delta("direction_correction", [1.0, -2.0], [1.0, 0.0]) == pytest.approx([0.6, -1.2])
    # ⟨[1, −2], [−1, 1]⟩ = −3 < 0: 0.6·[−1, 1]
    assert delta("direction_correction", [1.0, -2.0], [-1.0, 1.0]) == pytest.approx([-0.6, 0.6])


def test_vector_combination_splits_rows_between_sgd_and_adam():
    # 3 rows: row 0 by SGD, rows 1–2 by Adam, all times γ = 0.6
    got = delta("vector_combination", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[10.0, 10.0]] * 3)
    assert np.allclose(got, [[0.6, 1.2], [6.0, 6.0], [6.0, 6.0]])
    assert delta("vector_combination", 2.0, 3.0) == pytest.approx(0.6 * 3.0)  # 0-dim: Adam


def test_adam_normalization_is_sgd_direction_with_adams_length():
    # 0.6·‖[0, 2]‖/‖[3, 4]‖·[3, 4] = 0.24·[3, 4]
    assert delta("adam_normalization", [3.0, 4.0], [0.0, 2.0]) == pytest.approx([0.72, 0.96])
    assert delta("adam_normalization", [0.0, 0.0], [0.0, 2.0]) == [0.0, 0.0]


# --- whole steps on a tiny two-layer net ------------------------------------------------


def tiny_net() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    return net, x, y


def grads_at(net: nn.Module, x, y) -> list[np.ndarray]:
    net.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    return [p.grad.numpy().copy() for p in net.parameters()]


def reference_mas(
    variant, steps, lr, gamma, momentum, beta1=0.9, beta2=0.999, eps=1e-8, adam_w=0.5
):
    """The update rules written out in numpy, one parameter tensor at a time."""
    net, x, y = tiny_net()
    params = [p.detach().numpy().copy() for p in net.parameters()]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    buf: list[np.ndarray | None] = [None] * len(params)
    for t in range(1, steps + 1):
        with torch.no_grad():
            for p, value in zip(net.parameters(), params, strict=True):
                p.copy_(torch.from_numpy(value))
        for i, g in enumerate(grads_at(net, x, y)):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            d_a = m[i] / (np.sqrt(v[i]) / np.sqrt(1 - beta2**t) + eps)
            if momentum:
                buf[i] = g.copy() if buf[i] is None else momentum * buf[i] + g
                d_s = buf[i]
            else:
                d_s = g
            u_s, u_a = lr * d_s, lr / (1 - beta1**t) * d_a
            if variant == "mas":
                step = (1 - adam_w) * u_s + adam_w * u_a
            elif variant == "direction_correction":
                step = u_s if (u_s * u_a).sum() > 0 else u_a
            elif variant == "vector_combination":
                h = u_s.shape[0] // 2
                step = np.concatenate([u_s[:h], u_a[h:]])
            else:
                step = np.linalg.norm(u_a) * u_s / np.linalg.norm(u_s)
            params[i] = params[i] - gamma * step
    return params


def run_mas(variant, steps, lr, gamma, momentum):
    net, x, y = tiny_net()
    opt = MAS(net.parameters(), lr=lr, gamma=gamma, variant=variant, momentum=momentum)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    return [p.detach().numpy() for p in net.parameters()]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_steps_on_a_two_layer_net_match_the_rules(variant, momentum):
    got = run_mas(variant, 5, lr=0.05, gamma=0.6, momentum=momentum)
    expected = reference_mas(variant, 5, lr=0.05, gamma=0.6, momentum=momentum)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def same_steps(opt_a, net_a, opt_b, net_b, x, y, steps=6):
    for _ in range(steps):
        for opt, net in ((opt_a, net_a), (opt_b, net_b)):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()
    for a, b in zip(net_a.parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_adams_weight_one_is_adam_and_zero_is_sgd():
    """With γ = 1, MAS is Adam at adam_w = 1 and momentum SGD at adam_w = 0, step for step
    against torch's own optimizers."""
    net, x, y = tiny_net()
    twin = copy.deepcopy(net)
    same_steps(MAS(net.parameters(), lr=0.01, gamma=1.0, adam_w=1.0), net,
               torch.optim.Adam(twin.parameters(), lr=0.01), twin, x, y)  # fmt: skip
    net, x, y = tiny_net()
    twin = copy.deepcopy(net)
    same_steps(MAS(net.parameters(), lr=0.01, gamma=1.0, adam_w=0.0, momentum=0.9), net,
               torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9), twin, x, y)  # fmt: skip


def test_gamma_scales_a_whole_step_of_mas():
    """γ = 0.5 on an equal mix is SGD at lr/4 plus Adam at lr/4, in one step from the same
    point (Adam's first step does not depend on the LR otherwise)."""
    net, x, y = tiny_net()
    start = [p.detach().clone() for p in net.parameters()]
    opt = MAS(net.parameters(), lr=0.1, gamma=0.5, adam_w=0.5)
    opt.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    opt.step()
    for p, p0, g in zip(net.parameters(), start, grads, strict=True):
        adam = g / (g.abs() + 1e-8)  # Adam's first step: m̂/(√v̂ + ε) = g/(|g| + ε)
        torch.testing.assert_close(p, p0 - 0.025 * g - 0.025 * adam, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [({"lr": -0.1}, "-0.1"), ({"gamma": 0.0}, "0.0"), ({"adam_w": 1.5}, "1.5"),
     ({"variant": "linear"}, "linear"), ({"betas": (1.0, 0.999)}, "1.0"),
     ({"momentum": -0.5}, "-0.5")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, bad):
    with pytest.raises(ValueError, match=re.escape(bad)):
        MAS([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize(
    ("name", "variant"),
    [("MAS", "mas"), ("MASdc", "direction_correction"), ("MASvc", "vector_combination"),
     ("MASan", "adam_normalization")],
)  # fmt: skip
def test_registry_entries_build_each_variant(name, variant):
    spec = REGISTRY[name]
    assert spec.defaults["gamma"] == 0.6 and spec.defaults["lr"] == 0.001
    assert ("adam_w" in spec.defaults) is (name == "MAS")  # only MAS weighs a sum
    assert spec.stacks is (name == "MAS")  # the variants reduce over each tensor
    opt = build_torch_optimizer(spec, [torch.zeros(2, requires_grad=True)], spec.defaults)
    assert isinstance(opt, MAS)
    assert opt.param_groups[0]["variant"] == variant
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


# --- AdaBound and AMSBound: the registry builds pytorch-optimizer's AdaBound ---------------


@pytest.mark.parametrize(("name", "ams"), [("AdaBound", False), ("AMSBound", True)])
def test_adabound_entries_step_like_pytorch_optimizer(name, ams):
    spec = REGISTRY[name]
    assert spec.defaults["final_lr"] == 0.1 and spec.defaults["gamma"] == 1e-3
    net, x, y = tiny_net()
    twin = copy.deepcopy(net)
    args = {**spec.defaults, "weight_decay": 5e-4}
    ours = build_torch_optimizer(spec, net.parameters(), args)
    direct = AdaBound(
        twin.parameters(), lr=0.001, final_lr=0.1, gamma=1e-3, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=5e-4, weight_decouple=False, ams_bound=ams,
    )  # fmt: skip
    assert ours.param_groups[0]["ams_bound"] is ams
    same_steps(ours, net, direct, twin, x, y, steps=8)
    assert ("max_exp_avg_sq" in ours.state[next(net.parameters())]) is ams
