"""The contract between training and storage: plain records, no torch, no SQLAlchemy."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class Status(enum.Enum):
    PENDING = "pending"  # planned, not claimed by a runner yet
    RUNNING = "running"  # claimed by a runner, which holds a lease on it
    DONE = "done"
    FAILED = "failed"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    stage: int  # 0-based index of the stage this epoch trained in
    lr: float  # mean LR over the epoch's optimizer steps (first GE group)
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    ms_per_batch: float
    s_per_epoch: float
    lr_min: float = math.nan  # smallest and largest LR of the epoch's steps
    lr_max: float = math.nan


@dataclass(frozen=True)
class FinalMetrics:
    """Metrics of the final model on the validation split (macro averages)."""

    accuracy: float
    loss: float
    f1: float
    precision: float
    recall: float


@dataclass(frozen=True)
class RunRecord:
    """What one (plan, task, seed, config) run produced."""

    plan: str  # canonical text with resolved hyperparameters
    task: str
    seed: int
    config_hash: str
    status: Status
    device: str
    versions: dict[str, str]
    epochs: tuple[EpochRecord, ...] = ()
    final: FinalMetrics | None = None
    stage_starts: tuple[int, ...] = ()  # epoch (0-based) at which each stage began
    error: str | None = None
    ms_per_batch: float | None = None  # warm-up (first epoch) excluded when possible
    s_per_epoch: float | None = None
    seeds_per_pass: int = 1  # seeds trained together, stacked, in the pass of this run
    extra: dict[str, object] = field(default_factory=dict)  # numbers or lists of numbers
