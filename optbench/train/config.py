"""What a run is, before it trains: its configuration and its specification. No torch, so
planning, dry runs, the store and the reports stay light.

A run is identified by its specification: the plan (canonical text, every hyperparameter
resolved), the task, the seed and the configuration. The configuration holds every
setting besides those three that decides a run's results down to the last bit; runs of
different configurations are never pooled or compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

# Bump when a change to the trainer, a model or a dataset's preparation changes results,
# so that stored runs are not reused or pooled with new ones.
TRAINER_REVISION = 2


@dataclass(frozen=True)
class RunConfig:
    """Every setting besides plan, task and seed that decides a run's results.

    ``device`` is the device kind (``cpu`` or ``cuda``): the two compute differently.
    ``threads`` is torch's CPU thread count, which changes the order of floating-point
    sums and so the last bits of every result. ``trainer`` is the trainer revision.
    """

    epochs: int
    batch_size: int
    device: str = "cpu"
    threads: int = 1
    trainer: int = TRAINER_REVISION

    def columns(self) -> dict[str, int | str]:
        """The configuration as the results database stores it, one column each."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "device": self.device,
            "threads": self.threads,
            "trainer_revision": self.trainer,
        }

    @property
    def hash(self) -> str:
        """A short digest of ``columns()``; equal configurations have equal hashes."""
        blob = json.dumps(self.columns(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line a report prints above a table: ``100 epochs, batch 128, cpu, 1 thread,
        trainer 2``."""
        threads = f"{self.threads} thread" + ("s" if self.threads != 1 else "")
        epochs = f"{self.epochs} epoch" + ("s" if self.epochs != 1 else "")
        return (
            f"{epochs}, batch {self.batch_size}, {self.device}, {threads}, trainer {self.trainer}"
        )


@dataclass(frozen=True)
class RunSpec:
    """One run to train: (plan, task, seed, configuration), with one identity ``key``."""

    plan: str  # canonical text with every hyperparameter resolved
    task: str
    seed: int
    config: RunConfig

    @property
    def key(self) -> str:
        """The run's identity: a SHA-256 hex digest of plan, task, seed and configuration.
        The database's unique constraint is on this column, so a plan of any length fits."""
        blob = json.dumps([self.plan, self.task, self.seed, self.config.hash])
        return hashlib.sha256(blob.encode()).hexdigest()
