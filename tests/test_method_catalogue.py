"""The method catalogue against the papers' method lists, and the baselines of [DSA] at
PyTorch's own defaults, set through a plan file's ``defaults``."""

from __future__ import annotations

import pytest
import torch

from optbench.methods.ge import build_torch_optimizer
from optbench.methods.registry import REGISTRY, STAGE_ENDS, Kind
from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from tests.catalogue import torch_defaults

# [MS] Table 1 (the categories of common methods), Tables 4–5 (timed GE methods, Decay and
# kRkD) and Tables 8–15 (m: momentum, d: decay by 1e-6 per iteration), as the catalogue
# names them.
MS_METHODS = {
    "Momentum": "M",
    "Nesterov Momentum": "NAG",
    "Adagrad": "Adagrad",
    "Adadelta": "Adadelta",
    "RMSprop": "RMSprop",
    "Adam": "Adam",
    "ReduceLROnPlateau": "plateau",
    "Piecewise constant": "piecewise",
    "Exponential decay": "exp",
    "Natural exponential decay": "natexp",
    "Polynomial decay": "poly",
    "Cosine decay": "cos",
    "Gradual warmup": "warmup",
    "NAdam": "NAdam",
    "AdaMax": "Adamax",
    "Decay": "d",
    "kRkD": "kRkD",
    "SGD": "SGD",
}


@pytest.mark.parametrize(("paper_name", "name"), MS_METHODS.items())
def test_every_ms_method_is_in_the_catalogue(paper_name, name):
    spec = REGISTRY[name]
    assert "[MS]" in spec.paper, paper_name
    kinds = {"Momentum": Kind.GE_OPTION, "Nesterov Momentum": Kind.GE_OPTION}
    if paper_name in kinds:
        assert spec.kind is kinds[paper_name]


def test_ms_decay_is_lr_over_one_plus_rate_times_the_iteration():
    assert REGISTRY["d"].defaults == {"rate": 1e-6}
    assert REGISTRY["RMSprop"].defaults["alpha"] == 0.9  # [MS] eq. 7: β "usually 0.9"


# [DSA] §3: "SGD, Momentum, AdaGrad, AdaDelta, RMSProp, Adam, Adamax and AdamW" with
# "the built-in values (Paszke et al., 2019)" except SGD's and Momentum's lr of 0.01.
DSA_BASELINES = {
    "SGD": "SGD",
    "Momentum": "SGD+M",
    "AdaGrad": "Adagrad",
    "AdaDelta": "Adadelta",
    "RMSProp": "RMSprop",
    "Adam": "Adam",
    "Adamax": "Adamax",
    "AdamW": "AdamW",
}


@pytest.mark.parametrize(("paper_name", "text"), DSA_BASELINES.items())
def test_dsa_baselines_run_at_torchs_defaults_through_plan_file_defaults(paper_name, text):
    name = text.split("+")[0]
    defaults = {name: torch_defaults(name)}
    plan = resolve(parse_plan(text), defaults)
    (ge, *options) = plan.stages[0].calls
    param = torch.zeros(3, requires_grad=True)
    ours = build_torch_optimizer(
        REGISTRY[ge.name], [param], ge.kwargs, [(REGISTRY[o.name], o.kwargs) for o in options]
    )
    direct = REGISTRY[name].load()([torch.zeros(3, requires_grad=True)])
    if options:  # Momentum: torch's SGD with momentum 0.9, everything else at its default
        direct = torch.optim.SGD([torch.zeros(3, requires_grad=True)], momentum=0.9)
    mine = {k: v for k, v in ours.param_groups[0].items() if k != "params"}
    theirs = {k: v for k, v in direct.param_groups[0].items() if k != "params"}
    assert mine == theirs, paper_name


def test_rmsprop_at_torchs_defaults_is_lr_0_01_alpha_0_99():
    assert torch_defaults("RMSprop") == {
        "lr": 0.01, "alpha": 0.99, "eps": 1e-08, "weight_decay": 0.0
    }  # fmt: skip


# Seeds train stacked only where the math is elementwise and the same for every seed.
# reductions over a tensor (MAS variants), per-seed state (plateau), sign steps (DSA)
NOT_STACKED = {"MASdc", "MASvc", "MASan", "plateau", "DSA"}


@pytest.mark.parametrize("spec", [*REGISTRY.values(), *STAGE_ENDS.values()], ids=lambda s: s.name)
def test_stacks_is_true_exactly_for_elementwise_seed_independent_entries(spec):
    assert spec.stacks is (spec.name not in NOT_STACKED)
