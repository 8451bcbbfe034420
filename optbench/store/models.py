"""The results schema as SQLAlchemy 2 declarative models.

Every change here needs an Alembic migration under ``migrations/versions`` (a test compares
these models with the migrated schema). Constraint names come from the naming convention so
that migrations can refer to them on every backend.

Times are timezone-aware UTC. Float columns hold NULL where training produced NaN (SQLite
cannot store NaN).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("pending", "running", "done", "failed", "diverged", "interrupted")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that reads back timezone-aware UTC on every backend
    (SQLite returns naive values) and refuses naive datetimes on write."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)  # PostgreSQL answers in the session's time zone


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Experiment(Base):
    """A named set of runs, usually one plan file."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The paper's reported values from the plan file, a list of cells: {task, plan (canonical
    # text), name (the plan as the file writes it), metric, stat, value, std?} plus the
    # file's source and note. None: the plan file gives none. Added in 0004.
    paper: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class Run(Base):
    """One run: (plan, task, seed, configuration), identified by ``run_key``.

    ``run_key`` is ``RunSpec.key``, a SHA-256 of plan, task, seed and config hash; its unique
    constraint replaces one on the four columns, which PostgreSQL could not index for long
    plans. The configuration is stored one column each (``epochs``, ``batch_size``,
    ``device``, ``threads``, ``trainer_revision``) beside its ``config_hash``; rows stored
    before 0004 have NULL there and are never pooled with rows that know them.

    A run is planned ``pending``; a runner claims it (``running``, ``owner``, ``lease_until``,
    ``attempts`` + 1) and finishes it (done, diverged, failed) or releases it (interrupted).
    """

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in RUN_STATUSES) + ")", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(64), unique=True)  # RunSpec.key, added in 0004
    plan: Mapped[str] = mapped_column(Text)  # canonical text, resolved hyperparameters
    task: Mapped[str] = mapped_column(String(255), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    config_hash: Mapped[str] = mapped_column(String(128))
    epochs: Mapped[int | None] = mapped_column(Integer)  # the configuration, added in 0004
    batch_size: Mapped[int | None] = mapped_column(Integer)
    threads: Mapped[int | None] = mapped_column(Integer)
    trainer_revision: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(255))  # the configuration's device kind
    seeds_per_pass: Mapped[int | None] = mapped_column(Integer)  # seeds trained together
    owner: Mapped[str | None] = mapped_column(String(255))  # the runner that claimed it last
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the database's clock
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # claims
    versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    stage_starts: Mapped[list[int]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)  # claimed
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accuracy: Mapped[float | None] = mapped_column(Float)
    loss: Mapped[float | None] = mapped_column(Float)
    f1: Mapped[float | None] = mapped_column(Float)
    precision: Mapped[float | None] = mapped_column(Float)
    recall: Mapped[float | None] = mapped_column(Float)
    ms_per_batch: Mapped[float | None] = mapped_column(Float)
    s_per_epoch: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)  # free text, added in 0002


class ExperimentRun(Base):
    """Links a run to every experiment that includes it (a done run is trained once)."""

    __tablename__ = "experiment_runs"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    label: Mapped[str | None] = mapped_column(Text)  # the plan as this experiment writes it


class Epoch(Base):
    """One epoch of a run; the primary key (run_id, epoch) also serves lookups by run."""

    __tablename__ = "epochs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based
    stage: Mapped[int] = mapped_column(Integer)  # 0-based
    lr: Mapped[float | None] = mapped_column(Float)  # mean over the epoch's optimizer steps
    lr_min: Mapped[float | None] = mapped_column(Float)  # smallest and largest; added in 0004
    lr_max: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_acc: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_acc: Mapped[float | None] = mapped_column(Float)
    ms_per_batch: Mapped[float | None] = mapped_column(Float)
    s_per_epoch: Mapped[float | None] = mapped_column(Float)


class Baseline(Base):
    """A named snapshot of per (task, plan, config) results that ``optbench check`` compares
    later runs with; exported as JSON to keep in a repository. Added in 0003."""

    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    metric: Mapped[str] = mapped_column(String(32))  # a name of optbench.report.metrics
    experiment: Mapped[str | None] = mapped_column(String(255))  # what was snapshot, if one
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # of the runs


class BaselineEntry(Base):
    """One (task, plan, config) of a baseline: the metric's value of every run, by seed, so
    that a later check can test the difference, and the summary n, mean, std."""

    __tablename__ = "baseline_entries"
    __table_args__ = (UniqueConstraint("baseline_id", "task", "plan", "config_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    baseline_id: Mapped[int] = mapped_column(ForeignKey("baselines.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(255))
    plan: Mapped[str] = mapped_column(Text)  # canonical text, resolved hyperparameters
    name: Mapped[str] = mapped_column(Text)  # the plan as written in its plan file, or label
    config_hash: Mapped[str] = mapped_column(String(128))
    n: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float | None] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
    # [{"seed": 0, "value": 0.95, "finished_at": "2025-01-01T12:00:09.123456+00:00"}, ...]
    samples: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
