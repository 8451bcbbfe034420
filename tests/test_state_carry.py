"""The optimizer state at a stage boundary, as the trainers apply it: a stage that only
changes lr keeps the running optimizer and trains at the new lr ([PWA]'s phases)."""

from __future__ import annotations

from optbench.train.toy import run_toy
from tests.training import train_one

# An LR drop by stages, and the same drop inside one stage (0.5 · 0.25 = 0.125 exactly).
PHASES = "(SGD(lr=0.5)+M):2 | (SGD(lr=0.125)+M):2"
ONE_STAGE = "(SGD(lr=0.5)+M+piecewise(points='0.5:0.25'))"


def test_an_lr_drop_between_stages_is_one_momentum_run(tiny_split, tiny_model):
    phases, one = (train_one(t, tiny_split, tiny_model, epochs=4) for t in (PHASES, ONE_STAGE))
    assert [e.lr for e in phases.epochs] == [0.5, 0.5, 0.125, 0.125]
    assert [(e.train_loss, e.val_loss) for e in phases.epochs] == [
        (e.train_loss, e.val_loss) for e in one.epochs
    ]


def test_the_toy_trainer_carries_the_same_way():
    phases = run_toy(PHASES.replace("0.5", "0.0005").replace("0.125", "0.000125"), "quadratic", 4)
    one = run_toy(ONE_STAGE.replace("0.5)", "0.0005)"), "quadratic", 4)
    assert phases.lrs == [0.0005, 0.0005, 0.000125, 0.000125]
    assert phases.trajectory == one.trajectory
