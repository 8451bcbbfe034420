"""The training loop: seeds, state carry-over, divergence, failures, parameter groups."""

from __future__ import annotations

import pytest
import torch

from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.train.loop import RunConfig, build_optimizers, train_run
from optbench.train.record import Status


def run(text, split, build, seed=0, epochs=3, batch_size=32):
    plan = resolve(parse_plan(text))
    return train_run(plan, "tiny", seed, RunConfig(epochs, batch_size), split, build)


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


def test_epoch_records_carry_the_lr_in_force(tiny_split, tiny_model):
    record = run("SGD(lr=0.1) | (Adam(lr=0.01)+d(rate=0.1))", tiny_split, tiny_model, epochs=2)
    steps = 7  # ceil(200 / 32)
    assert record.epochs[0].lr == pytest.approx(0.1)
    # the last step of the Adam stage is step 6 of d's span
    assert record.epochs[1].lr == pytest.approx(0.01 / (1 + 0.1 * (steps - 1)))
    assert record.final is not None and 0 <= record.final.accuracy <= 1
    assert record.ms_per_batch > 0 and record.s_per_epoch > 0


def test_a_nan_loss_marks_the_run_diverged(tiny_split, tiny_model):
    record = run("SGD(lr=1e6)", tiny_split, tiny_model, epochs=5)
    assert record.status is Status.DIVERGED
    assert record.final is None
    assert "NaN" in record.error


def test_an_exception_inside_training_is_recorded_as_failed(tiny_split):
    def broken(input_shape, num_classes):
        return torch.nn.Linear(input_shape[0] + 1, num_classes)  # wrong input width

    plan = resolve(parse_plan("SGD"))
    record = train_run(plan, "tiny", 0, RunConfig(1, 32), tiny_split, broken)
    assert record.status is Status.FAILED
    assert "RuntimeError" in record.error


def test_parameter_groups_get_their_own_rules(tiny_model):
    torch.manual_seed(0)
    model = tiny_model((8,), 3)
    stage = resolve(parse_plan("Adam[hidden] + SGD(lr=0.5)[output]")).stages[0]
    (adam, _), (sgd, base) = build_optimizers(model, stage)
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
