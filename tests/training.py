"""Training a plan in a test: the engine on an in-memory classification problem."""

from __future__ import annotations

from optbench.plan.canonical import format_plan, resolve
from optbench.plan.parser import parse_plan
from optbench.train.config import RunConfig, RunSpec
from optbench.train.engine import Sink, train_pass
from optbench.train.problems import Classification


def specs(text: str, seeds=(0,), epochs: int = 3, batch_size: int = 32, task: str = "t"):
    """The run specifications of plan ``text`` (resolved with the catalogue's defaults)."""
    plan = format_plan(resolve(parse_plan(text)))
    return [RunSpec(plan, task, seed, RunConfig(epochs, batch_size)) for seed in seeds]


def train(text, split, build, seeds=(0,), epochs=3, batch_size=32, sink: Sink | None = None,
          resume=None, augment=None):  # fmt: skip
    """Train plan ``text`` on ``split`` with model builder ``build``; one record per seed,
    the seeds stacked in one pass when there are several."""
    problem = Classification(split, build, augment)
    return train_pass(specs(text, seeds, epochs, batch_size), problem, sink=sink, resume=resume)


def train_one(text, split, build, seed=0, epochs=3, batch_size=32, **kw):
    return train(text, split, build, (seed,), epochs, batch_size, **kw)[0]
