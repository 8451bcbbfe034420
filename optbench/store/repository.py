"""Reading and writing results: the ``Store``.

Every write method is one transaction: it commits whole or leaves nothing. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` (see ``engine.make_engine``), so writers from
several processes queue on the busy timeout instead of failing. Readers return plain dicts
from a single SELECT, ready for a DataFrame.

Non-finite floats: NaN is written as NULL (SQLite cannot hold NaN), so a diverged run's
losses read back as None on every backend.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from optbench.errors import BadInput
from optbench.store.models import (
    Base,
    Baseline,
    BaselineEntry,
    Epoch,
    Experiment,
    ExperimentRun,
    Run,
    utcnow,
)
from optbench.train.record import EpochRecord, RunRecord, Status

WRITE_OPTION = "optbench_write"  # execution option: this transaction will write
_IN_CHUNK = 10_000  # ids per IN (...) list; SQLite allows 32,766 parameters

_runs = Base.metadata.tables["runs"]
_epochs = Base.metadata.tables["epochs"]
_links = Base.metadata.tables["experiment_runs"]
_experiments = Base.metadata.tables["experiments"]
_baselines = Base.metadata.tables["baselines"]
_baseline_entries = Base.metadata.tables["baseline_entries"]
_BASELINE_KEYS = ("name", "metric", "experiment", "created_at", "versions")
_ENTRY_KEYS = ("task", "plan", "name", "config_hash", "n", "mean", "std", "samples")


class Store:
    """The results database of one engine. Make it with ``open_store``; ``close`` it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every pooled connection (an in-memory database is gone afterwards)."""
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._writer.begin() as session:
            yield session

    # -- runs -----------------------------------------------------------------------------

    def run_status(self, plan: str, task: str, seed: int, config_hash: str) -> Status | None:
        """The status of the run with this identity, or None when there is none."""
        query = select(_runs.c.status).where(_identity(plan, task, seed, config_hash))
        with self.engine.connect() as conn:
            status = conn.execute(query).scalar_one_or_none()
        return None if status is None else Status(status)

    def find_run(self, plan: str, task: str, seed: int, config_hash: str) -> int | None:
        """The id of the run with this identity, or None when there is none."""
        query = select(_runs.c.id).where(_identity(plan, task, seed, config_hash))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def start_run(
        self, experiment: str, plan: str, task: str, seed: int, config_hash: str, device: str
    ) -> int:
        """Mark the run with this identity running, in ``experiment``; return its id.

        A new identity gets a new row. A run that exists and is not done (running, failed,
        diverged, interrupted) is reset: its epoch rows, final metrics, error and finish time
        are deleted, so a redone run is never counted twice. A done run raises ValueError:
        check ``run_status`` first, and ``link`` a done run to reuse it.
        """
        for attempt in (1, 2):
            try:
                with self._write() as session:
                    return self._start(session, experiment, plan, task, seed, config_hash, device)
            except IntegrityError:
                # Two writers inserted the same identity or experiment at once (PostgreSQL);
                # the second attempt finds the first one's row.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _start(
        self,
        session: Session,
        experiment: str,
        plan: str,
        task: str,
        seed: int,
        config_hash: str,
        device: str,
    ) -> int:
        experiment_id = _experiment_id(session, experiment)
        run = session.scalars(
            select(Run).where(_identity(plan, task, seed, config_hash))
        ).one_or_none()
        if run is None:
            run = Run(
                plan=plan,
                task=task,
                seed=seed,
                config_hash=config_hash,
                device=device,
                status=Status.RUNNING.value,
            )
            session.add(run)
            session.flush()
        elif run.status == Status.DONE.value:
            raise ValueError(f"run {run.id} ({task}, seed {seed}) is already done: {plan}")
        else:
            session.execute(delete(Epoch).where(Epoch.run_id == run.id))
            _reset(run, device)
        _link(session, experiment_id, run.id)
        return run.id

    def finish_run(self, run_id: int, record: RunRecord) -> None:
        """Write the outcome of run ``run_id`` in one transaction.

        Status (from ``record.status``: done, diverged, failed or interrupted), final
        metrics, timings, stage starts, versions, extra, error, device, finish time and all
        epoch rows; epoch rows already stored for the run are replaced. The record must have
        the run's identity. Bad epoch rows (e.g. a repeated epoch number) raise ValueError
        and nothing of the call is kept.
        """
        if record.status is Status.RUNNING:
            raise ValueError("finish_run needs a finished record, got status running")
        with self._write() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise ValueError(f"no run with id {run_id}")
            stored = (run.plan, run.task, run.seed, run.config_hash)
            if stored != (record.plan, record.task, record.seed, record.config_hash):
                raise ValueError(f"record is not for run {run_id} {stored}")
            _apply(run, record)
            session.flush()  # the run row first: a failure below must undo it as well
            session.execute(delete(Epoch).where(Epoch.run_id == run_id))
            if record.epochs:
                try:
                    session.execute(insert(Epoch), [_epoch_row(run_id, e) for e in record.epochs])
                except IntegrityError as e:
                    raise ValueError(f"run {run_id}: epoch rows rejected: {e.orig}") from e

    def mark_interrupted(self, run_id: int, error: str | None = None) -> None:
        """Mark a running run interrupted (it will be redone). A run that is not running
        (already finished, or unknown) is left as it is."""
        with self._write() as session:
            session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == Status.RUNNING.value)
                .values(status=Status.INTERRUPTED.value, error=error, finished_at=utcnow())
            )

    def link(self, experiment: str, run_id: int) -> None:
        """Include run ``run_id`` in ``experiment`` (created if needed); idempotent."""
        with self._write() as session:
            if session.get(Run, run_id) is None:
                raise ValueError(f"no run with id {run_id}")
            _link(session, _experiment_id(session, experiment), run_id)

    # -- reading --------------------------------------------------------------------------

    def experiments(self) -> list[str]:
        """Experiment names, sorted."""
        with self.engine.connect() as conn:
            return list(conn.scalars(select(_experiments.c.name).order_by(_experiments.c.name)))

    def run_rows(
        self,
        experiment: str | None = None,
        task: str | None = None,
        status: Status | None = Status.DONE,
    ) -> list[dict[str, Any]]:
        """One dict per run (every ``runs`` column; ``status`` as its string value), by id.

        Filters: runs linked to ``experiment``, of ``task``, with ``status`` (None: any).
        One SELECT whatever the number of runs.
        """
        query = select(_runs).order_by(_runs.c.id)
        if experiment is not None:
            query = query.where(_runs.c.id.in_(_run_ids_of(experiment)))
        if task is not None:
            query = query.where(_runs.c.task == task)
        if status is not None:
            query = query.where(_runs.c.status == status.value)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(query))

    def epoch_rows(
        self,
        run_ids: Sequence[int] | None = None,
        experiment: str | None = None,
        task: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per epoch row (every ``epochs`` column, or only ``columns``), by run id
        then epoch.

        Filters combine: runs in ``run_ids``, linked to ``experiment``, of ``task``. Epochs
        of runs in any status are returned; pass ``run_ids`` from ``run_rows`` to narrow.
        """
        selected = [_epochs.c[name] for name in columns] if columns else [_epochs]
        query = select(*selected).order_by(_epochs.c.run_id, _epochs.c.epoch)
        if experiment is not None:
            query = query.where(_epochs.c.run_id.in_(_run_ids_of(experiment)))
        if task is not None:
            query = query.where(
                _epochs.c.run_id.in_(select(_runs.c.id).where(_runs.c.task == task))
            )
        if run_ids is None:
            chunks = [query]
        else:
            ids = sorted(set(run_ids))
            chunks = [
                query.where(_epochs.c.run_id.in_(ids[i : i + _IN_CHUNK]))
                for i in range(0, len(ids), _IN_CHUNK)
            ]
        with self.engine.connect() as conn:
            return [row for chunk in chunks for row in _dicts(conn.execute(chunk))]

    # -- baselines ------------------------------------------------------------------------

    def save_baseline(self, baseline: dict[str, Any], *, replace: bool = False) -> None:
        """Store a baseline snapshot (see ``optbench.report.baseline.snapshot``: name, metric,
        experiment, created_at, versions, entries) in one transaction.

        An existing baseline of the same name raises ``BadInput`` unless ``replace``.
        """
        with self._write() as session:
            old = session.scalars(
                select(Baseline).where(Baseline.name == baseline["name"])
            ).one_or_none()
            if old is not None:
                if not replace:
                    raise BadInput(
                        f"a baseline named {baseline['name']!r} exists already; pass --replace "
                        "to overwrite it"
                    )
                session.execute(delete(BaselineEntry).where(BaselineEntry.baseline_id == old.id))
                session.delete(old)
                session.flush()
            row = Baseline(
                name=baseline["name"],
                metric=baseline["metric"],
                experiment=baseline.get("experiment"),
                created_at=baseline.get("created_at") or utcnow(),
                versions=dict(baseline.get("versions") or {}),
            )
            session.add(row)
            session.flush()
            entries = [
                {"baseline_id": row.id} | {k: e[k] for k in _ENTRY_KEYS}
                for e in baseline["entries"]
            ]
            if entries:
                session.execute(insert(BaselineEntry), entries)

    def baseline(self, name: str) -> dict[str, Any] | None:
        """The baseline called ``name`` as saved (entries by task, then name), or None."""
        with self.engine.connect() as conn:
            found = conn.execute(select(_baselines).where(_baselines.c.name == name)).mappings()
            head = found.one_or_none()
            if head is None:
                return None
            entries = conn.execute(
                select(_baseline_entries)
                .where(_baseline_entries.c.baseline_id == head["id"])
                .order_by(
                    _baseline_entries.c.task, _baseline_entries.c.name, _baseline_entries.c.id
                )
            ).mappings()
            out = {k: head[k] for k in _BASELINE_KEYS}
            out["entries"] = [{k: e[k] for k in _ENTRY_KEYS} for e in entries]
        return out

    def baselines(self) -> list[dict[str, Any]]:
        """Every baseline: name, metric, experiment, created_at, versions and its number of
        entries, by name."""
        count = (
            select(func.count())
            .where(_baseline_entries.c.baseline_id == _baselines.c.id)
            .scalar_subquery()
        )
        query = select(_baselines, count.label("entries")).order_by(_baselines.c.name)
        with self.engine.connect() as conn:
            return [
                {k: row[k] for k in (*_BASELINE_KEYS, "entries")}
                for row in conn.execute(query).mappings()
            ]


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    """The rows of ``result`` as dicts; about twice as fast as ``dict(row)`` of mappings."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _identity(plan: str, task: str, seed: int, config_hash: str) -> ColumnElement[bool]:
    return and_(
        _runs.c.plan == plan,
        _runs.c.task == task,
        _runs.c.seed == seed,
        _runs.c.config_hash == config_hash,
    )


def _run_ids_of(experiment: str) -> Select[tuple[int]]:
    return (
        select(_links.c.run_id)
        .join(_experiments, _experiments.c.id == _links.c.experiment_id)
        .where(_experiments.c.name == experiment)
    )


def _experiment_id(session: Session, name: str) -> int:
    found = session.scalars(select(Experiment.id).where(Experiment.name == name)).one_or_none()
    if found is not None:
        return found
    experiment = Experiment(name=name)
    session.add(experiment)
    session.flush()
    return experiment.id


def _link(session: Session, experiment_id: int, run_id: int) -> None:
    if session.get(ExperimentRun, (experiment_id, run_id)) is None:
        session.add(ExperimentRun(experiment_id=experiment_id, run_id=run_id))
        session.flush()


def _reset(run: Run, device: str) -> None:
    run.status = Status.RUNNING.value
    run.device = device
    run.started_at = utcnow()
    run.finished_at = None
    run.error = None
    run.versions, run.stage_starts, run.extra = {}, [], {}
    run.accuracy = run.loss = run.f1 = run.precision = run.recall = None
    run.ms_per_batch = run.s_per_epoch = None


def _apply(run: Run, record: RunRecord) -> None:
    final = record.final
    run.status = record.status.value
    run.device = record.device
    run.versions = dict(record.versions)
    run.stage_starts = [int(s) for s in record.stage_starts]
    run.extra = {k: _plain(v) for k, v in record.extra.items()}
    run.error = record.error
    run.finished_at = utcnow()
    run.accuracy = _num(final.accuracy) if final else None
    run.loss = _num(final.loss) if final else None
    run.f1 = _num(final.f1) if final else None
    run.precision = _num(final.precision) if final else None
    run.recall = _num(final.recall) if final else None
    run.ms_per_batch = _num(record.ms_per_batch)
    run.s_per_epoch = _num(record.s_per_epoch)


def _epoch_row(run_id: int, e: EpochRecord) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "epoch": int(e.epoch),
        "stage": int(e.stage),
        "lr": _num(e.lr),
        "train_loss": _num(e.train_loss),
        "train_acc": _num(e.train_acc),
        "val_loss": _num(e.val_loss),
        "val_acc": _num(e.val_acc),
        "ms_per_batch": _num(e.ms_per_batch),
        "s_per_epoch": _num(e.s_per_epoch),
    }


def _plain(value):
    """A JSON-ready copy of an ``extra`` value: numbers via ``_num``, lists kept as lists."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return _num(value)


def _num(x: float | None) -> float | None:
    """A plain float, None for None or NaN (SQLite would store NaN as NULL anyway)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x
