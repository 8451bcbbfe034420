"""Reading and writing results: the ``Store``.

Every write method is one transaction: it commits whole or leaves nothing. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` (see ``engine.make_engine``), so writers from
several processes queue on the busy timeout instead of failing; on PostgreSQL a write that
deadlocks with another is retried. Readers return plain dicts from a single SELECT, ready
for a DataFrame.

Runs are planned, claimed, trained and finished (``RunSpec`` → ``plan_runs`` → ``claim`` →
``add_epochs`` per epoch → ``finish_run``), by any number of runners on one database:

- ``plan_runs`` inserts each specification not stored yet as ``pending`` (an insert that
  loses a race to another runner's is skipped, not an error) and links all to the
  experiment; ``lookup`` reads the same without writing (``--dry-run``).
- ``claim`` is one ``UPDATE … WHERE claimable … RETURNING id``: the database decides who
  trains a run, never a read followed by a write. Claimable: pending, interrupted, failed
  (and diverged only when asked: a diverged run is a result), or running with an expired
  lease (its runner died). A done run is never claimed.
- The lease: a claim holds a run until ``lease_until``, on the database server's clock (so
  runners on several machines agree whatever their own clocks say). ``LEASE_S`` = 120 s by
  default; the runner renews it with ``heartbeat`` every ``HEARTBEAT_S`` = 30 s from a
  background thread, so three missed heartbeats in a row (a database restart, a long lock
  wait) still keep the claim, and a crashed runner's runs are claimable again at most two
  minutes after it died. An expired lease is lost only when another runner claims the run;
  until then its owner may go on writing and heartbeats renew it.
- ``add_epochs``, ``truncate_epochs`` and ``finish_run`` check, in their transaction, that
  the run is still running and owned by the caller, and raise ``ClaimLost`` otherwise
  (``add_epochs_many``, for the seeds of a stacked pass, names the lost runs instead);
  ``release`` hands running runs back as interrupted (Ctrl-C, a crash of the runner), with
  their epochs kept for a resume.

Non-finite floats: NaN is written as NULL (SQLite cannot hold NaN), so a diverged run's
losses read back as None on every backend.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from optbench.errors import BadInput, ClaimLost, DatabaseBusy
from optbench.store.models import (
    Base,
    Baseline,
    BaselineEntry,
    UTCDateTime,
    utcnow,
)
from optbench.train.record import EpochRecord, RunRecord, Status

if TYPE_CHECKING:
    from optbench.train.config import RunSpec

WRITE_OPTION = "optbench_write"  # execution option: this transaction will write
LEASE_S = 120.0  # how long a claim holds a run without a heartbeat (seconds)
HEARTBEAT_S = 30.0  # how often a runner renews its leases (seconds): a quarter of LEASE_S
_IN_CHUNK = 10_000  # ids per IN (...) list; SQLite allows 32,766 parameters
_ROW_CHUNK = 500  # rows per INSERT: 500 x 14 columns stays far below either limit
_NAME_LENGTH = 255  # experiments.name is a String(255)
_WRITE_TRIES = 5  # a PostgreSQL write that deadlocked with another is tried this often
_CLAIMABLE = (Status.PENDING, Status.INTERRUPTED, Status.FAILED)
_FINISHED = (Status.DONE, Status.DIVERGED, Status.FAILED, Status.INTERRUPTED)
_FINAL_COLUMNS = ("accuracy", "loss", "f1", "precision", "recall", "ms_per_batch", "s_per_epoch")

_runs = Base.metadata.tables["runs"]
_epochs = Base.metadata.tables["epochs"]
_links = Base.metadata.tables["experiment_runs"]
_experiments = Base.metadata.tables["experiments"]
_baselines = Base.metadata.tables["baselines"]
_baseline_entries = Base.metadata.tables["baseline_entries"]
_BASELINE_KEYS = ("name", "metric", "experiment", "created_at", "versions")
_ENTRY_KEYS = ("task", "plan", "name", "config_hash", "n", "mean", "std", "samples")

T = TypeVar("T")


class WriteConflict(DatabaseBusy):
    """A PostgreSQL write transaction that deadlocked with another one (or failed its
    serialization); the ``Store`` tries it again, and reports it when it keeps failing."""


def run_key(plan: str, task: str, seed: int, config_hash: str) -> str:
    """A run's identity as stored in ``runs.run_key``: ``RunSpec.key`` from its parts (a
    SHA-256 hex digest of plan, task, seed and config hash; 64 characters)."""
    blob = json.dumps([plan, task, seed, config_hash])
    return hashlib.sha256(blob.encode()).hexdigest()


def new_owner() -> str:
    """A name for one runner that no other runner shares: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class PlannedRun:
    """A stored run as ``plan_runs`` and ``lookup`` return it."""

    id: int
    key: str  # RunSpec.key
    status: Status
    attempts: int  # how often it was claimed


class Store:
    """The results database of one engine. Make it with ``open_store``; ``close`` it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)
        self._postgresql = engine.dialect.name == "postgresql"
        # An in-memory SQLite database is one connection shared by every thread (a runner's
        # heartbeat beside its training loop): they take turns with it, so that no thread
        # sees another's transaction. A pool of connections needs no turns.
        self._turns: AbstractContextManager[Any] = (
            threading.RLock() if isinstance(engine.pool, StaticPool) else nullcontext()
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every pooled connection (an in-memory database is gone afterwards)."""
        self.engine.dispose()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._turns, self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._turns, self._writer.begin() as session:
            yield session

    def _transaction(self, body: Callable[[Connection], T]) -> T:
        """``body(connection)`` in one write transaction, tried again after a deadlock."""
        for attempt in range(1, _WRITE_TRIES + 1):
            try:
                with self._turns, self._write_engine.begin() as conn:
                    return body(conn)
            except WriteConflict:
                if attempt == _WRITE_TRIES:
                    raise
        raise AssertionError("unreachable")

    def _insert(self, table: Table):
        """An INSERT with ``on_conflict_do_nothing``/``_do_update`` for this backend."""
        if self._postgresql:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(table)

    def _now(self, offset_s: float = 0.0) -> ColumnElement[Any]:
        """The database server's time (UTC) plus ``offset_s`` seconds, as SQL.

        SQLite: ``strftime`` in the text form SQLAlchemy stores (microseconds, so that text
        comparisons order times); PostgreSQL: ``now()``, the transaction's start.
        """
        if self._postgresql:
            expr = func.now() + timedelta(seconds=offset_s) if offset_s else func.now()
        else:
            stamp = func.strftime("%Y-%m-%d %H:%M:%f", "now", f"{offset_s:+.3f} seconds")
            expr = type_coerce(stamp, String()) + "000"
        return type_coerce(expr, UTCDateTime())

    # -- planning and claiming runs -------------------------------------------------------

    def plan_runs(
        self,
        experiment: str,
        specs: Sequence[RunSpec],
        labels: Sequence[str | None] | None = None,
        paper: list[dict[str, Any]] | None = None,
    ) -> list[PlannedRun]:
        """Store every run of ``specs`` not stored yet as pending, link all to
        ``experiment`` (created if needed), and return each spec's stored run, in order.

        ``labels[i]`` is spec i's plan as the experiment's plan file writes it (kept on the
        experiment's link; None keeps a stored label). ``paper``: the paper's reported
        values (see ``Experiment.paper``); None leaves stored values as they are. One
        transaction; safe when several runners plan the same runs at once (a run another
        runner inserted first is found, not inserted twice). A spec listed twice is one run.
        """
        if labels is not None and len(labels) != len(specs):
            raise ValueError(f"{len(labels)} labels for {len(specs)} specs")
        rows: dict[str, dict[str, Any]] = {}
        label_of: dict[str, str | None] = {}
        keys = [spec.key for spec in specs]
        for i, (spec, key) in enumerate(zip(specs, keys, strict=True)):
            if key in rows:
                continue
            rows[key] = _pending_row(spec, key)
            label_of[key] = labels[i] if labels is not None else None
        ordered = sorted(rows)  # one insertion order for every runner: no deadlocks
        cells = None if paper is None else _json_ready(paper)

        def body(conn: Connection) -> dict[str, PlannedRun]:
            experiment_id = self._experiment_id(conn, experiment)
            if cells is not None:
                conn.execute(
                    update(_experiments)
                    .where(_experiments.c.id == experiment_id)
                    .values(paper=cells)
                )
            add = self._insert(_runs).on_conflict_do_nothing(index_elements=["run_key"])
            for chunk in _chunks(ordered, _ROW_CHUNK):
                conn.execute(add, [rows[key] for key in chunk])
            found = self._planned(conn, ordered)
            link = self._insert(_links)
            link = link.on_conflict_do_update(
                index_elements=["experiment_id", "run_id"],
                set_={"label": func.coalesce(link.excluded.label, _links.c.label)},
            )
            links = sorted(
                (found[key].id, label_of[key]) for key in ordered
            )  # one locking order for every runner
            for chunk in _chunks(links, _ROW_CHUNK):
                conn.execute(
                    link,
                    [
                        {"experiment_id": experiment_id, "run_id": run_id, "label": label}
                        for run_id, label in chunk
                    ],
                )
            return found

        found = self._transaction(body)
        return [found[key] for key in keys]

    def lookup(self, specs: Sequence[RunSpec]) -> list[PlannedRun | None]:
        """Each spec's stored run, or None where it is not stored; reads only (for
        ``--dry-run``, which must not write)."""
        keys = [spec.key for spec in specs]
        with self._reading() as conn:
            found = self._planned(conn, sorted(set(keys)))
        return [found.get(key) for key in keys]

    def by_keys(self, keys: Sequence[str]) -> dict[str, PlannedRun]:
        """The stored runs with these identities (``RunSpec.key``), by key; reads only."""
        with self._reading() as conn:
            return self._planned(conn, sorted(set(keys)))

    def claim(
        self,
        run_ids: Sequence[int],
        owner: str,
        lease_s: float = LEASE_S,
        retry_diverged: bool = False,
        limit: int | None = None,
    ) -> list[int]:
        """Claim the claimable runs of ``run_ids`` for ``owner``; return their ids, sorted.

        Claimable: pending, interrupted, failed (diverged too when ``retry_diverged``), or
        running with an expired lease. A claimed run becomes running with this ``owner``, a
        lease of ``lease_s`` seconds on the database's clock, ``attempts`` + 1, a new
        ``started_at``, and its final metrics and error cleared; its epoch rows stay (a
        resumed run drops what follows its checkpoint with ``truncate_epochs``). At most
        ``limit`` runs (lowest ids first) when given. Each run is claimed by one runner
        however many claim at once: the check and the claim are one UPDATE statement.
        """
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        statuses = [s.value for s in _CLAIMABLE]
        if retry_diverged:
            statuses.append(Status.DIVERGED.value)
        ids = sorted(set(run_ids))

        def body(conn: Connection) -> list[int]:
            now, until = self._now(), self._now(lease_s)
            values: dict[str, Any] = {
                "status": Status.RUNNING.value,
                "owner": owner,
                "lease_until": until,
                "attempts": _runs.c.attempts + 1,
                "started_at": now,
                "finished_at": None,
                "error": None,
            } | dict.fromkeys(_FINAL_COLUMNS)
            claimed: list[int] = []
            for chunk in _chunks(ids, _IN_CHUNK):
                target: ColumnElement[bool] = _runs.c.id.in_(chunk)
                if limit is not None:
                    if len(claimed) >= limit:
                        break
                    pick = _runs.alias("pick")
                    picked = (
                        select(pick.c.id)
                        .where(pick.c.id.in_(chunk), _claimable(pick, statuses, now))
                        .order_by(pick.c.id)
                        .limit(limit - len(claimed))
                    )
                    if self._postgresql:  # runs other runners are claiming are passed over
                        picked = picked.with_for_update(skip_locked=True)
                    target = _runs.c.id.in_(picked.scalar_subquery())
                statement = (
                    update(_runs)
                    .where(target, _claimable(_runs, statuses, now))
                    .values(values)
                    .returning(_runs.c.id)
                )
                claimed += conn.execute(statement).scalars().all()
            return sorted(claimed)

        return self._transaction(body)

    def heartbeat(self, owner: str, run_ids: Sequence[int], lease_s: float = LEASE_S) -> list[int]:
        """Renew ``owner``'s leases on ``run_ids`` to ``lease_s`` seconds from now; return
        the ids still held (running and owned by ``owner``), sorted. A run missing from the
        answer was lost: another runner claimed it after its lease ran out."""
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s}")
        ids = sorted(set(run_ids))

        def body(conn: Connection) -> list[int]:
            until = self._now(lease_s)
            held: list[int] = []
            for chunk in _chunks(ids, _IN_CHUNK):
                statement = (
                    update(_runs)
                    .where(_runs.c.id.in_(chunk), *_held_by(owner))
                    .values(lease_until=until)
                    .returning(_runs.c.id)
                )
                held += conn.execute(statement).scalars().all()
            return sorted(held)

        return self._transaction(body)

    def add_epochs(self, run_id: int, owner: str, records: Sequence[EpochRecord]) -> None:
        """Store epoch rows of a run ``owner`` holds, as each epoch ends; rows stored before
        for the same epoch numbers are replaced. Raises ``ClaimLost`` (nothing written) when
        the run is not running under ``owner``; ``ValueError`` for an epoch given twice."""
        rows = [_epoch_row(run_id, e) for e in records]
        _check_epochs(run_id, rows)

        def body(conn: Connection) -> None:
            self._hold(conn, run_id, owner)
            _put_epochs(conn, run_id, rows)

        self._transaction(body)

    def add_epochs_many(self, owner: str, epochs: Mapping[int, Sequence[EpochRecord]]) -> list[int]:
        """``add_epochs`` for several runs in one transaction (the seeds of one stacked pass,
        after each epoch): ``epochs`` maps run id to its new rows. Runs no longer held by
        ``owner`` are left out, not an error; returns their ids, sorted (the runner stops
        training them). ValueError for an epoch given twice for one run."""
        rows = {run_id: [_epoch_row(run_id, e) for e in got] for run_id, got in epochs.items()}
        for run_id, run_rows in rows.items():
            _check_epochs(run_id, run_rows)
        ids = sorted(rows)

        def body(conn: Connection) -> list[int]:
            held: set[int] = set()
            for chunk in _chunks(ids, _IN_CHUNK):
                held |= set(
                    conn.execute(
                        select(_runs.c.id)
                        .where(_runs.c.id.in_(chunk), *_held_by(owner))
                        .with_for_update()
                    ).scalars()
                )
            for run_id in sorted(held):
                _put_epochs(conn, run_id, rows[run_id], insert_rows=False)
            kept = [row for run_id in sorted(held) for row in rows[run_id]]
            for chunk in _chunks(kept, _ROW_CHUNK):
                conn.execute(insert(_epochs), list(chunk))
            return [run_id for run_id in ids if run_id not in held]

        return self._transaction(body)

    def running_owners(self, run_ids: Sequence[int]) -> list[str]:
        """The owners of the running runs among ``run_ids``, sorted (for a runner to find
        claims held by runner processes that no longer exist)."""
        ids = sorted(set(run_ids))
        owners: set[str] = set()
        with self._reading() as conn:
            for chunk in _chunks(ids, _IN_CHUNK):
                owners |= set(
                    conn.execute(
                        select(_runs.c.owner).where(
                            _runs.c.id.in_(chunk),
                            _runs.c.status == Status.RUNNING.value,
                            _runs.c.owner.is_not(None),
                        )
                    ).scalars()
                )
        return sorted(owners)

    def expire(self, owner: str) -> int:
        """End the leases of every run ``owner`` holds now, so that they are claimable at
        once: for a runner known to be dead (its process is gone). Returns how many."""

        def body(conn: Connection) -> int:
            return conn.execute(
                update(_runs).where(*_held_by(owner)).values(lease_until=self._now(-1.0))
            ).rowcount

        return self._transaction(body)

    def truncate_epochs(self, run_id: int, owner: str, keep_through: int) -> int:
        """Delete the epoch rows after epoch ``keep_through`` (1-based; 0 deletes all) of a
        run ``owner`` holds: a run resumed from the checkpoint of that epoch retrains the
        rest. Returns how many rows went. Raises ``ClaimLost`` like ``add_epochs``."""

        def body(conn: Connection) -> int:
            self._hold(conn, run_id, owner)
            gone = conn.execute(
                delete(_epochs).where(_epochs.c.run_id == run_id, _epochs.c.epoch > keep_through)
            )
            return gone.rowcount

        return self._transaction(body)

    def finish_run(self, run_id: int, owner: str, record: RunRecord) -> None:
        """Store the outcome of a run ``owner`` holds.

        Status (done, diverged, failed or interrupted), final metrics, timings, versions,
        stage starts, seeds per pass, extra, error and the finish time (the database's
        clock), in one transaction; the lease ends and ``owner`` stays as the run's trainer.
        Epoch rows in ``record.epochs`` are stored as by ``add_epochs`` (rows already stored
        stay). Raises ``ClaimLost`` when the run is not running under ``owner``, and
        ValueError when ``record`` is not this run's or not finished; nothing is written then.
        """
        _check_finished(record)
        rows = [_epoch_row(run_id, e) for e in record.epochs]
        _check_epochs(run_id, rows)
        key = run_key(record.plan, record.task, record.seed, record.config_hash)

        def body(conn: Connection) -> None:
            held = self._hold(conn, run_id, owner)
            if held.run_key != key:
                raise ValueError(f"record is not for run {run_id} {_identity_of(conn, run_id)}")
            conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id)
                .values(_outcome(record) | {"finished_at": self._now(), "lease_until": None})
            )
            _put_epochs(conn, run_id, rows)

        self._transaction(body)

    def release(self, run_ids: Sequence[int], owner: str, error: str | None = None) -> list[int]:
        """Hand back ``owner``'s running runs among ``run_ids`` as interrupted (Ctrl-C, a
        crash of the runner), with ``error`` and their epoch rows kept; a later ``claim``
        retrains them. Returns the ids released, sorted; runs not held are left alone."""
        ids = sorted(set(run_ids))

        def body(conn: Connection) -> list[int]:
            now = self._now()
            released: list[int] = []
            for chunk in _chunks(ids, _IN_CHUNK):
                statement = (
                    update(_runs)
                    .where(_runs.c.id.in_(chunk), *_held_by(owner))
                    .values(
                        status=Status.INTERRUPTED.value,
                        error=error,
                        lease_until=None,
                        finished_at=now,
                    )
                    .returning(_runs.c.id)
                )
                released += conn.execute(statement).scalars().all()
            return sorted(released)

        return self._transaction(body)

    def _experiment_id(self, conn: Connection, name: str) -> int:
        if not 0 < len(name) <= _NAME_LENGTH:
            raise BadInput(f"an experiment name has 1 to {_NAME_LENGTH} characters: {name!r}")
        add = self._insert(_experiments).values(name=name, created_at=utcnow())
        conn.execute(add.on_conflict_do_nothing(index_elements=["name"]))
        return conn.execute(
            select(_experiments.c.id).where(_experiments.c.name == name)
        ).scalar_one()

    def _planned(self, conn: Connection, keys: Sequence[str]) -> dict[str, PlannedRun]:
        columns = (_runs.c.id, _runs.c.run_key, _runs.c.status, _runs.c.attempts)
        found: dict[str, PlannedRun] = {}
        for chunk in _chunks(keys, _IN_CHUNK):
            for row in conn.execute(select(*columns).where(_runs.c.run_key.in_(chunk))):
                found[row.run_key] = PlannedRun(
                    row.id, row.run_key, Status(row.status), row.attempts
                )
        return found

    def _hold(self, conn: Connection, run_id: int, owner: str) -> Row[Any]:
        """The run's row, locked for this transaction, when ``owner`` holds it; else
        ``ClaimLost``."""
        row = conn.execute(
            select(_runs.c.status, _runs.c.owner, _runs.c.run_key)
            .where(_runs.c.id == run_id)
            .with_for_update()
        ).first()
        if row is None:
            raise ClaimLost(f"run {run_id} is not stored (claimed by {owner})")
        if row.status != Status.RUNNING.value:
            raise ClaimLost(f"run {run_id} is {row.status}, no longer claimed by {owner}")
        if row.owner != owner:
            raise ClaimLost(
                f"run {run_id} was claimed by {row.owner} after the lease of {owner} ran out"
            )
        return row

    # -- reading --------------------------------------------------------------------------

    def experiments(self) -> list[str]:
        """Experiment names, sorted."""
        with self._reading() as conn:
            return list(conn.scalars(select(_experiments.c.name).order_by(_experiments.c.name)))

    def experiment_paper(self, name: str) -> list[dict[str, Any]] | None:
        """The paper's reported values stored with experiment ``name`` (cells as the plan
        file gives them, see ``Experiment.paper``), or None when there are none."""
        with self._reading() as conn:
            return conn.execute(
                select(_experiments.c.paper).where(_experiments.c.name == name)
            ).scalar_one_or_none()

    def run_rows(
        self,
        experiment: str | None = None,
        task: str | None = None,
        status: Status | None = Status.DONE,
    ) -> list[dict[str, Any]]:
        """One dict per run, by id: every ``runs`` column (``status`` as its string value)
        and ``label``, the plan as ``experiment``'s plan file writes it (None when no
        experiment is given or the link has none).

        Filters: runs linked to ``experiment``, of ``task``, with ``status`` (None: any).
        Rows stored before revision 0004 have None for the configuration columns ``epochs``,
        ``batch_size``, ``threads`` and ``trainer_revision``. One SELECT whatever the number
        of runs.
        """
        if experiment is None:
            query = select(_runs, null().label("label"))
        else:
            query = (
                select(_runs, _links.c.label)
                .join(_links, _links.c.run_id == _runs.c.id)
                .join(_experiments, _experiments.c.id == _links.c.experiment_id)
                .where(_experiments.c.name == experiment)
            )
        query = query.order_by(_runs.c.id)
        if task is not None:
            query = query.where(_runs.c.task == task)
        if status is not None:
            query = query.where(_runs.c.status == status.value)
        with self._reading() as conn:
            return _dicts(conn.execute(query))

    def run_labels(self) -> dict[int, frozenset[str]]:
        """Per run id, the labels its experiment links carry (the plan as each experiment's
        plan file writes it); links without a label (None or empty) are left out, and so are
        runs that have none. One SELECT whatever the number of runs."""
        query = select(_links.c.run_id, _links.c.label).where(
            _links.c.label.is_not(None), _links.c.label != ""
        )
        labels: dict[int, set[str]] = {}
        with self._reading() as conn:
            for run_id, label in conn.execute(query):
                labels.setdefault(run_id, set()).add(label)
        return {run_id: frozenset(found) for run_id, found in labels.items()}

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
        with self._reading() as conn:
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
        with self._reading() as conn:
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
        with self._reading() as conn:
            return [
                {k: row[k] for k in (*_BASELINE_KEYS, "entries")}
                for row in conn.execute(query).mappings()
            ]


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    """The rows of ``result`` as dicts; about twice as fast as ``dict(row)`` of mappings."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _claimable(table: Any, statuses: list[str], now: ColumnElement[Any]) -> ColumnElement[bool]:
    """Runs a claim may take: in ``statuses``, or running on a lease that ran out (a running
    run without a lease was running when its database was upgraded to claims: its runner
    held no claim to renew)."""
    return or_(
        table.c.status.in_(statuses),
        and_(
            table.c.status == Status.RUNNING.value,
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        ),
    )


def _held_by(owner: str) -> tuple[ColumnElement[bool], ...]:
    return (_runs.c.owner == owner, _runs.c.status == Status.RUNNING.value)


def _pending_row(spec: RunSpec, key: str) -> dict[str, Any]:
    return {
        "run_key": key,
        "plan": spec.plan,
        "task": spec.task,
        "seed": spec.seed,
        "config_hash": spec.config.hash,
        **spec.config.columns(),  # epochs, batch_size, device, threads, trainer_revision
        "status": Status.PENDING.value,
        "attempts": 0,
        "versions": {},
        "stage_starts": [],
        "extra": {},
        "started_at": None,
    }


def _check_finished(record: RunRecord) -> None:
    if record.status not in _FINISHED:
        raise ValueError(f"finish_run needs a finished record, got status {record.status.value}")


def _check_epochs(run_id: int, rows: list[dict[str, Any]]) -> None:
    numbers = [row["epoch"] for row in rows]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"run {run_id}: epoch rows rejected: an epoch number repeats {numbers}")


def _put_epochs(
    conn: Connection, run_id: int, rows: list[dict[str, Any]], *, insert_rows: bool = True
) -> None:
    """Store ``rows``, replacing stored rows of the same epoch numbers (``insert_rows``
    False: only delete those, the caller inserts)."""
    if not rows:
        return
    numbers = [row["epoch"] for row in rows]
    for chunk in _chunks(numbers, _IN_CHUNK):
        conn.execute(delete(_epochs).where(_epochs.c.run_id == run_id, _epochs.c.epoch.in_(chunk)))
    if insert_rows:
        for chunk in _chunks(rows, _ROW_CHUNK):
            conn.execute(insert(_epochs), list(chunk))


def _identity_of(conn: Connection, run_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        select(_runs.c.plan, _runs.c.task, _runs.c.seed, _runs.c.config_hash).where(
            _runs.c.id == run_id
        )
    ).first()
    return tuple(row) if row is not None else ()


def _run_ids_of(experiment: str):
    return (
        select(_links.c.run_id)
        .join(_experiments, _experiments.c.id == _links.c.experiment_id)
        .where(_experiments.c.name == experiment)
    )


def _outcome(record: RunRecord) -> dict[str, Any]:
    """The ``runs`` columns a finished record sets (not the identity, not the device)."""
    final = record.final
    return {
        "status": record.status.value,
        "versions": dict(record.versions),
        "stage_starts": [int(s) for s in record.stage_starts],
        "extra": {k: _plain(v) for k, v in record.extra.items()},
        "error": record.error,
        "seeds_per_pass": int(record.seeds_per_pass),
        "accuracy": _num(final.accuracy) if final else None,
        "loss": _num(final.loss) if final else None,
        "f1": _num(final.f1) if final else None,
        "precision": _num(final.precision) if final else None,
        "recall": _num(final.recall) if final else None,
        "ms_per_batch": _num(record.ms_per_batch),
        "s_per_epoch": _num(record.s_per_epoch),
    }


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
        "lr_min": _num(e.lr_min),
        "lr_max": _num(e.lr_max),
    }


def _json_ready(value: Any) -> Any:
    """A copy of ``value`` that strict JSON can hold: non-finite numbers become None; a
    value JSON cannot hold raises ValueError."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    raise ValueError(f"paper values must be JSON: {value!r} is a {type(value).__name__}")


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
