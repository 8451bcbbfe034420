"""Every catalogue entry inside the trainer: closures, stateful LR, stage ends, modifiers."""

from __future__ import annotations

import pytest
import torch

from optbench.methods.registry import REGISTRY, Kind
from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.tasks.registry import build_loader, build_model, get_task
from optbench.train.engine import Sink
from optbench.train.record import Status
from optbench.train.schedule import Schedule
from tests.training import train_one


class Epochs(Sink):
    def __init__(self, on_epoch):
        self.on_epoch = on_epoch

    def epoch(self, index, record):
        self.on_epoch(record)


def run(text, split, build, epochs=3, batch_size=32, on_epoch=None):
    sink = Epochs(on_epoch) if on_epoch else None
    return train_one(text, split, build, epochs=epochs, batch_size=batch_size, sink=sink)


def plan_for(name: str) -> str:
    spec = REGISTRY[name]
    kind = spec.kind
    if spec.needs_closure:  # [DSA]'s recipe: Adamax first, then the full-batch DSA stage
        return f"Adamax | ({name}+full)"
    if kind is Kind.GE:
        return name
    if kind is Kind.GE_OPTION:
        return f"SGD(lr=0.05)+{name}"
    return f"SGD(lr=0.05)+M+{name}"


@pytest.fixture(scope="module")
def digits():
    task = get_task("digits-mlp")
    return build_loader(task)(None), build_model(task)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_method_trains_digits(name, digits):
    split, build = digits
    record = run(plan_for(name), split, build, epochs=3, batch_size=64)
    assert record.status is Status.DONE, record.error
    losses = [e.train_loss for e in record.epochs]
    assert losses[-1] < losses[0], f"{name} did not lower the training loss: {losses}"


def test_dsa_trains_through_its_closure(tiny_split, tiny_model):
    record = run("DSA", tiny_split, tiny_model, epochs=3)
    assert record.status is Status.DONE, record.error
    losses = [e.train_loss for e in record.epochs]
    assert losses[-1] < losses[0]


def test_dsa_beside_another_parameter_group_is_refused(tiny_split, tiny_model):
    from optbench.errors import BadInput

    with pytest.raises(BadInput, match="DSA"):
        run("DSA[hidden] + SGD[output]", tiny_split, tiny_model)


def test_a_plateau_end_moves_to_the_next_stage_early(tiny_split, tiny_model):
    # an LR of 1e-12 cannot improve the loss: after the first epoch sets the best, the
    # stage ends once `patience` more epochs have not improved on it
    record = run("SGD(lr=1e-12):plateau(patience=2, max=6) | SGD(lr=0.1)", tiny_split,
                 tiny_model, epochs=8)  # fmt: skip
    assert record.stage_starts == (0, 3)
    assert [e.stage for e in record.epochs] == [0, 0, 0, 1, 1]
    assert record.epochs[-1].lr == pytest.approx(0.1)


def test_plateau_as_an_lr_method_cuts_the_factor_on_validation_loss(tiny_split, tiny_model):
    record = run("SGD(lr=1e-12)+plateau(factor=0.5, patience=0)", tiny_split, tiny_model,
                 epochs=4)  # fmt: skip
    # no improvement after the first epoch: each later epoch halves the factor
    assert [e.lr for e in record.epochs] == pytest.approx([1e-12, 1e-12, 5e-13, 2.5e-13])


def test_a_full_batch_stage_takes_one_step_per_epoch(tiny_split, tiny_model):
    record = run("(SGD(lr=0.1)+full+d(rate=1.0))", tiny_split, tiny_model, epochs=3)
    # d's clock counts steps: epoch e ends on step e-1
    assert [e.lr for e in record.epochs] == pytest.approx([0.1, 0.05, 0.1 / 3])


@pytest.fixture
def averaged(monkeypatch):
    """The parameters each averager saw at every ``update()``, and the model trained."""
    from optbench.methods import averaging

    seen = {"avg": [], "polyak": []}
    for cls, key in ((averaging.PhaseAverage, "avg"), (averaging.PolyakAverage, "polyak")):
        original = cls.update

        def update(self, _original=original, _key=key):
            seen[_key].append([p.detach().clone() for p in self.params])
            _original(self)

        monkeypatch.setattr(cls, "update", update)
    return seen


def holding(build):
    holder = []

    def build_and_keep(shape, classes):
        holder.append(build(shape, classes))
        return holder[-1]

    return holder, build_and_keep


def test_phase_averaging_ends_the_stage_on_the_bias_corrected_average(
    tiny_split, tiny_model, averaged
):
    holder, build = holding(tiny_model)
    T, gamma0 = 4, 0.9  # noqa: N806 - the paper's symbol
    record = run(f"SGD(lr=0.1)+M+avg(gamma0={gamma0})", tiny_split, build, epochs=T)
    assert record.status is Status.DONE
    seen = averaged["avg"]
    assert len(seen) == T
    gamma = gamma0 ** (80 / T)
    for i, p in enumerate(holder[0].parameters()):
        expected = (
            (1 - gamma)
            / (1 - gamma**T)
            * sum(gamma ** (T - t) * seen[t - 1][i] for t in range(1, T + 1))
        )
        assert torch.allclose(p, expected, atol=1e-6)


def test_polyak_averages_every_epoch_of_its_stages(tiny_split, tiny_model, averaged):
    holder, build = holding(tiny_model)
    run("SGD(lr=0.1) | (SGD(lr=0.1)+polyak)", tiny_split, build, epochs=4)
    seen = averaged["polyak"]
    assert len(seen) == 2
    for i, p in enumerate(holder[0].parameters()):
        assert torch.allclose(p, (seen[0][i] + seen[1][i]) / 2, atol=1e-6)


def test_lookahead_changes_the_trajectory(tiny_split, tiny_model):
    plain = run("SGD(lr=0.1)", tiny_split, tiny_model)
    slow = run("SGD(lr=0.1)+LA(k=3, alpha=0.5)", tiny_split, tiny_model)
    assert slow.status is Status.DONE
    assert plain.epochs[-1].train_loss != slow.epochs[-1].train_loss


def test_each_lr_factor_is_computed_once_per_step():
    schedule = Schedule.build(resolve(parse_plan("SGD+kRkD(k=5)+d")), 2, 50)
    calls = {"kRkD": 0, "d": 0}
    for layout in schedule.stages:
        for term in layout.terms:
            fn = term.fn

            def counted(clock, base, _fn=fn, _name=term.name, **kw):
                calls[_name] += 1
                return _fn(clock, base, **kw)

            object.__setattr__(term, "fn", counted)
    for epoch in range(2):
        schedule.epoch_lrs(0, epoch, 0.01, taken=[])
    assert calls == {"kRkD": 100, "d": 100}
