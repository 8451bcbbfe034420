"""The training engine: seeds, state carry-over, LR clocks, divergence, failures, groups."""

from __future__ import annotations

import pytest
import torch

from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.train.engine import build_optimizers
from optbench.train.record import Status
from tests.training import train_one


def run(text, split, build, seed=0, epochs=3, batch_size=32):
    return train_one(text, split, build, seed, epochs, batch_size)


def losses(record):
    return [(e.train_loss, e.val_loss, e.val_acc) for e in record.epochs]


def test_a_seed_fixes_every_source_of_randomness(tiny_split, tiny_model):
    a, b = (
        run("SGD+M", tiny_split, tiny_model, seed=3),
        run("SGD+M", tiny_split, tiny_model, seed=3),
    )
    c = run("SGD+M", tiny_split, tiny_model, seed=4)
    assert a.status is Status.DONE
    assert losses(a) == losses(b)
    assert losses(a) != losses(c)


def test_same_ge_method_across_stages_equals_one_long_run(tiny_split, tiny_model):
    one = run("SGD(lr=0.05)+M", tiny_split, tiny_model)
    three = run("(SGD(lr=0.05)+M) | (SGD(lr=0.05)+M) | (SGD(lr=0.05)+M)", tiny_split, tiny_model)
    assert losses(one) == losses(three)
    assert [e.stage for e in three.epochs] == [0, 1, 2]
    assert three.stage_starts == (0, 1, 2)


def test_other_hyperparameters_start_a_fresh_optimizer(tiny_split, tiny_model):
    one = run("SGD(lr=0.05)+M", tiny_split, tiny_model)
    # identical LR, but a different GE argument: the momentum buffer starts again
    fresh = run("(SGD(lr=0.05)+M) | (SGD(lr=0.05, weight_decay=1e-12)+M)", tiny_split, tiny_model,
                epochs=3)  # fmt: skip
    assert losses(one)[0] == losses(fresh)[0]
    assert losses(one)[-1] != losses(fresh)[-1]


def test_a_new_lr_applies_to_the_running_optimizer(tiny_split, tiny_model):
    # [PWA]: the LR drops within one momentum-SGD run; the momentum buffer goes on
    drop = run("(SGD(lr=0.05)+M) | (SGD(lr=0.01)+M)", tiny_split, tiny_model, epochs=4)
    fresh = run("(SGD(lr=0.05)+M) | (SGD(lr=0.01, weight_decay=1e-12)+M)", tiny_split,
                tiny_model, epochs=4)  # fmt: skip
    assert losses(drop)[:2] == losses(fresh)[:2]
    assert losses(drop)[2] != losses(fresh)[2]
    assert [e.lr for e in drop.epochs] == pytest.approx([0.05, 0.05, 0.01, 0.01])


def test_epoch_records_carry_the_mean_and_range_of_the_lr(tiny_split, tiny_model):
    record = run("SGD(lr=0.1) | (Adam(lr=0.01)+d(rate=0.1))", tiny_split, tiny_model, epochs=2)
    steps = 7  # ceil(200 / 32)
    assert record.epochs[0].lr == pytest.approx(0.1)
    # the Adam stage's steps are steps 0..6 of d's span
    lrs = [0.01 / (1 + 0.1 * s) for s in range(steps)]
    assert record.epochs[1].lr == pytest.approx(sum(lrs) / steps)
    assert (record.epochs[1].lr_min, record.epochs[1].lr_max) == pytest.approx((lrs[-1], lrs[0]))
    assert record.final is not None and 0 <= record.final.accuracy <= 1
    assert record.ms_per_batch > 0 and record.s_per_epoch > 0


def test_an_lr_clock_counts_epochs_across_a_full_batch_stage(tiny_split, tiny_model):
    # a staircase of one level per epoch: mini-batch steps must not count as epochs
    decay = "step(gamma=0.95, levels=6)"
    record = run(f"(SGD(lr=0.1)+{decay}) | (SGD(lr=0.1)+{decay}+full)", tiny_split, tiny_model,
                 epochs=6)  # fmt: skip
    assert [e.lr for e in record.epochs] == pytest.approx([0.1 * 0.95**e for e in range(6)])


def test_lookahead_keeps_its_slow_weights_across_a_stage_boundary(tiny_split, tiny_model):
    one = run("SGD(lr=0.1)+M+LA", tiny_split, tiny_model, epochs=6)
    two = run("(SGD(lr=0.1)+M+LA) | (SGD(lr=0.1)+M+LA)", tiny_split, tiny_model, epochs=6)
    assert losses(one) == losses(two)


def test_a_nan_loss_marks_the_run_diverged(tiny_split, tiny_model):
    record = run("SGD(lr=1e6)", tiny_split, tiny_model, epochs=5)
    assert record.status is Status.DIVERGED
    assert record.final is None
    assert "NaN" in record.error


def test_an_exception_inside_training_is_recorded_as_failed(tiny_split):
    def broken(input_shape, num_classes):
        return torch.nn.Linear(input_shape[0] + 1, num_classes)  # wrong input width

    record = run("SGD", tiny_split, broken, epochs=1)
    assert record.status is Status.FAILED
    assert "RuntimeError" in record.error


def test_parameter_groups_get_their_own_rules(tiny_model):
    torch.manual_seed(0)
    model = tiny_model((8,), 3)
    stage = resolve(parse_plan("Adam[hidden] + SGD(lr=0.5)[output]")).stages[0]
    (adam, _), (sgd, base) = build_optimizers(list(model.named_parameters()), stage)
    assert isinstance(adam, torch.optim.Adam) and isinstance(sgd, torch.optim.SGD)
    hidden = {id(p) for p in adam.param_groups[0]["params"]}
    output = {id(p) for p in sgd.param_groups[0]["params"]}
    assert output == {id(model.output.weight), id(model.output.bias)}
    assert hidden.isdisjoint(output) and len(hidden) + len(output) == 4
    # one step: the output layer moves by exactly -lr * grad (SGD's rule)
    before = model.output.weight.detach().clone()
    model(torch.randn(5, 8)).pow(2).mean().backward()
    grad = model.output.weight.grad.clone()
    sgd.step()
    assert torch.allclose(model.output.weight, before - base * grad)
