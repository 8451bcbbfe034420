"""Seeds trained stacked in one pass: the same numbers as separate runs, per seed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optbench.execute.planning import stacking
from optbench.tasks.data import Split
from optbench.tasks.registry import build_loader, build_model, get_task
from optbench.train.record import Status
from optbench.train.stacking import LayerStack, SeedStack, stack_models
from tests.training import train

# Stacked and separate runs differ only in the order of floating-point sums inside a step
# (a batched matrix product against one per seed): losses agree to this, and accuracies
# exactly on these problems.
LOSS_TOLERANCE = 1e-5


def per_epoch(record):
    return [(e.train_loss, e.val_loss, e.train_acc, e.val_acc) for e in record.epochs]


def assert_same_runs(stacked, separate):
    for together, alone in zip(stacked, separate, strict=True):
        assert together.status is alone.status is Status.DONE
        assert together.seeds_per_pass == len(stacked) and alone.seeds_per_pass == 1
        assert [e.val_acc for e in together.epochs] == [e.val_acc for e in alone.epochs]
        assert [e.train_acc for e in together.epochs] == [e.train_acc for e in alone.epochs]
        for a, b in zip(per_epoch(together), per_epoch(alone), strict=True):
            assert a == pytest.approx(b, abs=LOSS_TOLERANCE)
        assert together.final.accuracy == alone.final.accuracy
        assert together.stage_starts == alone.stage_starts


@pytest.fixture(scope="module")
def digits():
    task = get_task("digits-mlp")
    return build_loader(task)(None), build_model(task)


@pytest.mark.parametrize(
    "plan",
    [
        "SGD(lr=0.05) | (Adam+d) | SGD(lr=0.05)",
        "(SGD(lr=0.05)+M+LA) | (SGD(lr=0.01)+M+avg) | (Adam+cos+polyak)",
        "Adamax | (AMSGrad+full)",
    ],
)
def test_stacked_seeds_on_digits_equal_separate_runs(digits, plan):
    split, build = digits
    seeds = (0, 1, 2)
    stacked = train(plan, split, build, seeds, epochs=4, batch_size=64)
    separate = [train(plan, split, build, (s,), epochs=4, batch_size=64)[0] for s in seeds]
    assert_same_runs(stacked, separate)


def conv_bn(input_shape, num_classes):
    model = nn.Sequential(
        nn.Conv2d(input_shape[0], 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
    )
    model.add_module("output", nn.Linear(24, num_classes))
    return model


@pytest.fixture
def tiny_images():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 1, 6, 6, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + (x[:, 0, 0, 0] > 1).long()
    return Split(x[:128], y[:128], x[128:], y[128:], num_classes=3)


def test_a_batchnorm_convnet_stacks_with_per_seed_statistics(tiny_images):
    plan = "(SGD(lr=0.1)+M) | (SGD(lr=0.1)+M+avg)"  # avg re-estimates BatchNorm statistics
    stacked = train(plan, tiny_images, conv_bn, (0, 1, 2), epochs=4, batch_size=32)
    separate = [train(plan, tiny_images, conv_bn, (s,), epochs=4, batch_size=32)[0]
                for s in (0, 1, 2)]  # fmt: skip
    assert_same_runs(stacked, separate)


def test_mlps_stack_as_batched_products_and_other_models_through_vmap(digits):
    _, build = digits
    torch.manual_seed(0)
    assert isinstance(stack_models([build((64,), 10) for _ in range(2)]), LayerStack)
    assert isinstance(stack_models([conv_bn((1, 6, 6), 3) for _ in range(2)]), SeedStack)
    with pytest.raises(ValueError, match="dropout"):
        SeedStack([nn.Sequential(nn.Dropout(0.5), nn.Linear(3, 2)) for _ in range(2)])


def test_a_diverged_seed_is_recorded_and_the_others_go_on(tiny_split):
    def build(input_shape, num_classes):
        model = nn.Sequential(nn.Linear(input_shape[0], 16), nn.ReLU())
        model.add_module("output", nn.Linear(16, num_classes))
        if torch.initial_seed() == 1:  # seed 1 starts from weights that overflow at once
            with torch.no_grad():
                model.output.weight.mul_(1e38)
        return model

    stacked = train("SGD(lr=0.1)", tiny_split, build, (0, 1, 2), epochs=3)
    assert [r.status for r in stacked] == [Status.DONE, Status.DIVERGED, Status.DONE]
    assert stacked[1].epochs == () and stacked[1].final is None
    assert "NaN or infinite" in stacked[1].error
    separate = [train("SGD(lr=0.1)", tiny_split, build, (s,), epochs=3)[0] for s in (0, 2)]
    for together, alone in zip([stacked[0], stacked[2]], separate, strict=True):
        assert [e.val_acc for e in together.epochs] == [e.val_acc for e in alone.epochs]


@pytest.mark.parametrize(
    ("plan", "task", "why"),
    [
        ("SGD | Adam", "digits-mlp", "stacked"),
        ("SGD+plateau", "digits-mlp", "plateau"),
        ("SGD:plateau(patience=2, max=4) | Adam", "digits-mlp", "plateau"),
        ("MASdc", "digits-mlp", "MASdc"),
        ("Adamax | (DSA+full)", "digits-mlp", "DSA"),  # sign steps: bits become steps
        ("SGD", "imdb-lstm", "recurrent"),
        ("SGD", "quadratic-track", "toy"),
    ],
)
def test_planning_says_whether_seeds_stack_and_why_not(plan, task, why):
    stacks, reason = stacking(plan, task)
    assert stacks is (why == "stacked")
    assert why in reason
    assert stacking(plan, task, allowed=False) == (False, "--no-stack")
