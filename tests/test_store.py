"""The results store: runs, epochs and experiments written whole, read back as plain rows."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import event, insert, text

from optbench.errors import ClaimLost, DatabaseMissing
from optbench.report import stored
from optbench.store import Store, open_store, run_key
from optbench.store import repository as repo
from optbench.store.models import Run, utcnow
from optbench.train.config import RunConfig, RunSpec
from optbench.train.record import EpochRecord, FinalMetrics, RunRecord, Status

REPO = Path(__file__).resolve().parents[1]
PLAN = "SGD(lr=0.1) | (Adam(lr=0.001)+d(rate=1e-06))"
CONFIG = RunConfig(epochs=3, batch_size=32)
CFG = CONFIG.hash
OWNER = "runner-1"
T = TypeVar("T")


@pytest.fixture
def store(memory_or_postgres_url: str) -> Iterator[Store]:
    """An empty store: in-memory SQLite, and a PostgreSQL schema where a server is given."""
    s = open_store(memory_or_postgres_url)
    yield s
    s.close()


def epochs(n: int = 3, *, stage_at: int = 2) -> tuple[EpochRecord, ...]:
    return tuple(
        EpochRecord(
            epoch=i,
            stage=int(i > stage_at),
            lr=0.1 / i,
            train_loss=1.0 / i,
            train_acc=0.5 + i / 100,
            val_loss=1.1 / i,
            val_acc=0.4 + i / 100,
            ms_per_batch=2.0 + i,
            s_per_epoch=3.0 + i,
            lr_min=0.05 / i,
            lr_max=0.2 / i,
        )
        for i in range(1, n + 1)
    )


def record(
    plan: str = PLAN,
    task: str = "iris-mlp",
    seed: int = 0,
    status: Status = Status.DONE,
    epoch_rows: tuple[EpochRecord, ...] | None = None,
    **kw,
) -> RunRecord:
    return RunRecord(
        plan=plan,
        task=task,
        seed=seed,
        config_hash=CFG,
        status=status,
        device="cpu",
        versions={"optbench": "0.1.0", "torch": "2.14.1"},
        epochs=epochs() if epoch_rows is None else epoch_rows,
        final=FinalMetrics(accuracy=0.9, loss=0.3, f1=0.88, precision=0.87, recall=0.89)
        if status is Status.DONE
        else None,
        stage_starts=(0, 2),
        ms_per_batch=2.5,
        s_per_epoch=4.0,
        **kw,
    )


def spec(plan: str = PLAN, task: str = "iris-mlp", seed: int = 0, **config) -> RunSpec:
    return RunSpec(plan, task, seed, RunConfig(**({"epochs": 3, "batch_size": 32} | config)))


def start(store: Store, experiment: str = "exp", owner: str = OWNER, **identity) -> int:
    """plan_runs + claim: the run of ``spec(**identity)``, running under ``owner``."""
    [planned] = store.plan_runs(experiment, [spec(**identity)])
    assert store.claim([planned.id], owner) == [planned.id]
    return planned.id


def train(store: Store, experiment: str = "exp", **kw) -> int:
    """plan_runs + claim + finish_run, as ``optbench run`` does."""
    r = record(**kw)
    run_id = start(store, experiment, plan=r.plan, task=r.task, seed=r.seed)
    store.finish_run(run_id, OWNER, r)
    return run_id


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def statements_of(store: Store, read: Callable[[], T]) -> tuple[T, list[str]]:
    """What ``read()`` returns, and the kind (SELECT, INSERT …) of each SQL statement it
    ran, transaction control left out."""
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        got = read()
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    kinds = [s.split()[0] for s in statements if not s.startswith(("BEGIN", "ROLLBACK"))]
    return got, kinds


def test_round_trip_of_a_run_record(store: Store) -> None:
    r = record(extra={"avg_gamma": 0.9})
    [planned] = store.plan_runs("exp", [spec()])
    assert store.claim([planned.id], OWNER) == [planned.id]
    store.finish_run(planned.id, OWNER, r)
    run_id = planned.id

    [row] = store.run_rows()
    assert row["id"] == run_id
    assert (row["plan"], row["task"], row["seed"], row["config_hash"]) == (
        PLAN,
        "iris-mlp",
        0,
        CFG,
    )
    assert row["status"] == "done"
    assert row["device"] == "cpu"  # the configuration's device kind
    assert (row["owner"], row["lease_until"], row["attempts"]) == (OWNER, None, 1)
    assert row["versions"] == {"optbench": "0.1.0", "torch": "2.14.1"}
    assert row["stage_starts"] == [0, 2]
    assert row["extra"] == {"avg_gamma": 0.9}
    assert row["error"] is None and row["notes"] is None
    assert (row["accuracy"], row["loss"], row["f1"], row["precision"], row["recall"]) == (
        0.9,
        0.3,
        0.88,
        0.87,
        0.89,
    )
    assert (row["ms_per_batch"], row["s_per_epoch"]) == (2.5, 4.0)
    assert row["started_at"].tzinfo is UTC and row["finished_at"] >= row["started_at"]

    rows = store.epoch_rows()
    assert [(e["run_id"], e["epoch"], e["stage"]) for e in rows] == [
        (run_id, 1, 0),
        (run_id, 2, 0),
        (run_id, 3, 1),
    ]
    assert rows == [{"run_id": run_id, **asdict(e)} for e in r.epochs]  # floats exact
    assert store.experiments() == ["exp"]


def test_a_diverged_run_keeps_its_epochs_with_nan_as_none(store: Store) -> None:
    bad = EpochRecord(2, 0, 0.1, math.nan, math.nan, math.inf, 0.1, 2.0, 3.0)
    train(store, status=Status.DIVERGED, epoch_rows=(epochs(1)[0], bad), error="loss is NaN")
    assert store.run_rows() == []  # only done runs by default
    [row] = store.run_rows(status=Status.DIVERGED)
    assert row["error"] == "loss is NaN" and row["accuracy"] is None
    second = store.epoch_rows()[1]
    assert second["train_loss"] is None and second["train_acc"] is None
    assert second["val_loss"] == math.inf


def test_lookup_finds_a_run_by_its_whole_identity(store: Store) -> None:
    assert store.lookup([spec()]) == [None]
    run_id = start(store)
    [found] = store.lookup([spec()])
    assert (found.id, found.status) == (run_id, Status.RUNNING)
    store.finish_run(run_id, OWNER, record())
    [found] = store.lookup([spec()])
    assert (found.id, found.status) == (run_id, Status.DONE)
    # every part of the identity counts
    others = [spec(seed=1), spec(epochs=4), spec(task="wine-mlp"), spec(plan="SGD")]
    assert store.lookup(others) == [None] * 4


def test_a_done_run_is_not_trained_again(store: Store) -> None:
    run_id = train(store)
    [planned] = store.plan_runs("exp", [spec()])
    assert (planned.id, planned.status) == (run_id, Status.DONE)
    assert store.claim([run_id], "runner-2", retry_diverged=True) == []
    assert count(store, "runs") == 1 and count(store, "epochs") == 3


@pytest.mark.parametrize("how", ["failed", "diverged", "interrupted", "running"])
def test_an_unfinished_run_is_trained_again_as_the_same_run(store: Store, how: str) -> None:
    run_id = start(store)
    if how == "interrupted":
        store.release([run_id], OWNER, "KeyboardInterrupt: ")
    elif how == "running":
        store.expire(OWNER)  # its runner died
    else:
        store.finish_run(run_id, OWNER, record(status=Status(how), error="boom"))
    before = store.run_rows(status=None)[0]
    assert before["status"] == how

    [planned] = store.plan_runs("exp", [spec()])
    assert store.claim([planned.id], "runner-2", retry_diverged=True) == [run_id]

    [row] = store.run_rows(status=None)
    assert row["status"] == "running" and row["owner"] == "runner-2"
    assert row["error"] is None and row["finished_at"] is None
    assert row["accuracy"] is None and row["attempts"] == 2
    assert row["started_at"] >= before["started_at"]
    assert count(store, "experiment_runs") == 1
    store.finish_run(run_id, "runner-2", record())
    assert count(store, "runs") == 1 and count(store, "epochs") == 3


def test_a_retried_run_resumed_from_scratch_keeps_only_its_new_epochs(store: Store) -> None:
    run_id = train(store, status=Status.FAILED, error="CUDA out of memory")
    assert store.claim([run_id], OWNER) == [run_id]
    store.truncate_epochs(run_id, OWNER, keep_through=0)
    store.finish_run(run_id, OWNER, record(epoch_rows=epochs(2)))
    assert [e["epoch"] for e in store.epoch_rows()] == [1, 2]


def test_planning_a_run_again_puts_it_in_a_second_experiment(store: Store) -> None:
    run_id = train(store, experiment="first")
    train(store, experiment="first", seed=1)
    assert [r["id"] for r in store.run_rows(experiment="second")] == []

    store.plan_runs("second", [spec()])
    store.plan_runs("second", [spec()])  # idempotent

    assert store.experiments() == ["first", "second"]
    assert [r["id"] for r in store.run_rows(experiment="second")] == [run_id]
    assert len(store.run_rows(experiment="first")) == 2
    assert len(store.run_rows()) == 2  # linked twice, still one run
    assert [e["run_id"] for e in store.epoch_rows(experiment="second")] == [run_id] * 3


def test_a_redone_run_joins_the_experiment_that_redoes_it(store: Store) -> None:
    run_id = start(store, "first")
    store.release([run_id], OWNER)
    assert start(store, "second") == run_id
    assert store.run_rows(experiment="first", status=None)[0]["id"] == run_id
    assert store.run_rows(experiment="second", status=None)[0]["id"] == run_id


def test_run_rows_filters(store: Store) -> None:
    a = train(store, experiment="A", task="iris-mlp")
    b = train(store, experiment="A", task="wine-mlp")
    c = train(store, experiment="B", task="iris-mlp", seed=1)
    d = train(store, experiment="B", task="iris-mlp", seed=2, status=Status.FAILED)
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731

    assert ids(store.run_rows()) == [a, b, c]
    assert ids(store.run_rows(status=None)) == [a, b, c, d]
    assert ids(store.run_rows(status=Status.FAILED)) == [d]
    assert ids(store.run_rows(experiment="A")) == [a, b]
    assert ids(store.run_rows(task="iris-mlp")) == [a, c]
    assert ids(store.run_rows(experiment="B", task="iris-mlp", status=None)) == [c, d]
    assert ids(store.run_rows(experiment="nope")) == []


def test_epoch_rows_filters(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    a = train(store, experiment="A", task="iris-mlp")
    b = train(store, experiment="B", task="wine-mlp", epoch_rows=epochs(2))
    runs = lambda rows: sorted({r["run_id"] for r in rows})  # noqa: E731

    assert len(store.epoch_rows()) == 5
    assert runs(store.epoch_rows(run_ids=[b])) == [b]
    assert store.epoch_rows(run_ids=[]) == []
    assert runs(store.epoch_rows(experiment="A")) == [a]
    assert runs(store.epoch_rows(task="wine-mlp")) == [b]
    assert store.epoch_rows(run_ids=[a], task="wine-mlp") == []
    monkeypatch.setattr(repo, "_IN_CHUNK", 1)  # long id lists go in several IN (...) lists
    rows = store.epoch_rows(run_ids=[b, a, a])
    assert [(r["run_id"], r["epoch"]) for r in rows] == [(a, 1), (a, 2), (a, 3), (b, 1), (b, 2)]


def test_a_failing_finish_run_leaves_nothing_half_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = start(store)
    duplicate = (*epochs(3), epochs(1)[0])
    with pytest.raises(ValueError, match="epoch rows rejected"):
        store.finish_run(run_id, OWNER, record(epoch_rows=duplicate))

    def full(*args, **kw) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:  # fails after the run row was updated
        patch.setattr(repo, "_put_epochs", full)
        with pytest.raises(OSError, match="disk full"):
            store.finish_run(run_id, OWNER, record())

    [row] = store.run_rows(status=None)
    assert row["status"] == "running"  # the run row was updated first, and rolled back
    assert row["accuracy"] is None and row["finished_at"] is None
    assert count(store, "epochs") == 0
    store.finish_run(run_id, OWNER, record())  # the store is still usable
    assert count(store, "epochs") == 3


def test_finish_run_checks_its_arguments(store: Store) -> None:
    run_id = start(store)
    with pytest.raises(ValueError, match="not for run"):
        store.finish_run(run_id, OWNER, record(seed=5))
    with pytest.raises(ValueError, match="running"):
        store.finish_run(run_id, OWNER, record(status=Status.RUNNING))
    with pytest.raises(ClaimLost, match="not stored"):
        store.finish_run(run_id + 1, OWNER, record())
    assert store.lookup([spec()])[0].status is Status.RUNNING


def test_release_leaves_a_finished_run_alone(store: Store) -> None:
    run_id = train(store)
    assert store.release([run_id], OWNER, "too late") == []
    [row] = store.run_rows()
    assert row["status"] == "done" and row["error"] is None
    assert store.release([12345], OWNER) == []  # unknown: nothing to do


def test_foreign_keys_are_enforced(store: Store) -> None:
    run_id = train(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM runs WHERE id = :id"), {"id": run_id})
    assert count(store, "epochs") == 0 and count(store, "experiment_runs") == 0


def test_run_rows_of_10000_runs_is_one_select(store: Store) -> None:
    now = utcnow()
    rows = [
        dict(
            run_key=f"{i:064d}",
            plan=f"SGD(lr={i % 50})",
            task=f"task{i % 4}",
            seed=i,
            config_hash="cfg1",
            status="done",
            device="cpu",
            versions={"torch": "2.14.1"},
            stage_starts=[0],
            extra={},
            started_at=now,
            finished_at=now,
            accuracy=0.5,
        )
        for i in range(10_000)
    ]
    with store._writer.begin() as session:
        session.execute(insert(Run), rows)
    got, statements = statements_of(store, store.run_rows)
    assert len(got) == 10_000 and got[-1]["versions"] == {"torch": "2.14.1"}
    assert statements == ["SELECT"]


def test_bare_paths_and_the_environment_name_sqlite_files(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTBENCH_DB", raising=False)
    with open_store() as s:
        assert s.engine.url.database == "optbench.db"
    assert (tmp_path / "optbench.db").is_file()
    with open_store("results.db") as s:
        train(s)
    monkeypatch.setenv("OPTBENCH_DB", str(tmp_path / "results.db"))
    with open_store() as s:
        assert len(s.run_rows()) == 1
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_create_false_refuses_a_missing_database(tmp_path) -> None:
    with pytest.raises(DatabaseMissing):
        open_store(str(tmp_path / "none.db"), create=False)
    assert not (tmp_path / "none.db").exists()


def test_two_stores_writing_one_file_at_once_lose_nothing(tmp_path) -> None:
    path = str(tmp_path / "shared.db")
    stores = [open_store(path), open_store(path)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        s = stores[k % 2]
        try:
            for seed in range(k * 100, k * 100 + 15):
                train(s, experiment=f"exp{k % 2}", seed=seed)
                s.plan_runs("all", [spec(seed=seed)])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()

    assert errors == []
    with open_store(path) as s:
        assert len(s.run_rows()) == 90
        assert len(s.run_rows(experiment="all")) == 90
        assert len(s.run_rows(experiment="exp0")) == 45
        assert len(s.epoch_rows()) == 270


def test_the_store_imports_neither_torch_nor_pandas() -> None:
    code = (
        "import sys, optbench.store, optbench.store.engine, optbench.store.repository\n"
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_reports_read_through_the_store_and_import_no_sqlalchemy(loaded_after) -> None:
    """The store owns the schema: no module of ``optbench.report`` imports SQLAlchemy, at
    its top or inside a function, and a fresh interpreter importing them all loads none."""
    report = REPO / "optbench" / "report"
    for path in sorted(report.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] == "sqlalchemy"], path.name
    modules = sorted(p.stem for p in report.glob("*.py") if p.stem != "__init__")
    assert len(modules) > 10
    code = "\n".join(f"import optbench.report.{m}" for m in modules)
    assert loaded_after(code, names=("sqlalchemy", "torch")) == []


# -- 0004: the identity as a key, the configuration in columns, labels, paper values --------


def test_run_key_is_the_specs_key() -> None:
    s = spec(seed=7, threads=2, device="cuda")
    assert run_key(s.plan, s.task, s.seed, s.config.hash) == s.key
    assert len(s.key) == 64


def test_run_rows_have_every_column_and_the_experiments_label(store: Store) -> None:
    specs = [spec(seed=0), spec(seed=1, threads=4), spec(task="wine-mlp")]
    ids = [p.id for p in store.plan_runs("A", specs, labels=["SGD | (Adam+d)", "SGD", None])]
    store.plan_runs("B", specs[:1], labels=["sgd then adam"])

    rows = {r["id"]: r for r in store.run_rows(status=None)}
    assert set(rows[ids[0]]) == {c.name for c in Run.__table__.columns} | {"label"}
    assert {r["label"] for r in rows.values()} == {None}  # no experiment: no label
    a = {r["id"]: r for r in store.run_rows(experiment="A", status=Status.PENDING)}
    assert [a[i]["label"] for i in ids] == ["SGD | (Adam+d)", "SGD", None]
    [b] = store.run_rows(experiment="B", status=None)
    assert (b["id"], b["label"]) == (ids[0], "sgd then adam")  # one run, two labels

    first, second = rows[ids[0]], rows[ids[1]]
    assert first["run_key"] == specs[0].key and first["config_hash"] == specs[0].config.hash
    assert {k: first[k] for k in specs[0].config.columns()} == specs[0].config.columns()
    assert (second["threads"], second["status"], second["attempts"]) == (4, "pending", 0)
    assert first["started_at"] is None and first["owner"] is None
    [wine] = store.run_rows(experiment="A", task="wine-mlp", status=None)
    assert (wine["id"], wine["label"]) == (ids[2], None)


def test_run_rows_filtered_by_experiment_stays_one_select(store: Store) -> None:
    store.plan_runs("A", [spec(seed=s) for s in range(5)], labels=["x"] * 5)
    got, statements = statements_of(
        store, lambda: store.run_rows(experiment="A", task="iris-mlp", status=None)
    )
    assert len(got) == 5 and statements == ["SELECT"]


def test_run_labels_are_the_labels_of_each_runs_links_in_one_select(store: Store) -> None:
    ids = [p.id for p in store.plan_runs("A", [spec(seed=s) for s in range(4)],
                                         labels=["SGD | (Adam+d)", "SGD", None, ""])]  # fmt: skip
    store.plan_runs("B", [spec(seed=0), spec(seed=1)], labels=["sgd then adam", "SGD"])
    store.plan_runs("C", [spec(seed=0)], labels=[None])
    labels, statements = statements_of(store, store.run_labels)
    assert labels == {
        ids[0]: frozenset({"SGD | (Adam+d)", "sgd then adam"}),  # two experiments disagree
        ids[1]: frozenset({"SGD"}),
    }  # no label (None or empty): left out
    assert statements == ["SELECT"]
    assert stored.link_labels(store) == {ids[0]: labels[ids[0]], ids[1]: "SGD"}
    rows = stored.run_rows(store, status=Status.PENDING)  # no experiment: from the links
    assert {r["id"]: r["label"] for r in rows} == dict(
        zip(ids, [labels[ids[0]], "SGD", None, None], strict=True)
    )


def test_paper_values_are_stored_with_the_experiment(store: Store) -> None:
    cells = [
        {"task": "iris-mlp", "plan": PLAN, "name": "SGD | (Adam+d)", "metric": "last10",
         "stat": "mean", "value": 0.8693},
        {"task": "iris-mlp", "plan": PLAN, "name": "SGD | (Adam+d)", "metric": "error",
         "stat": "max", "value": 6.41, "std": 0.12},
    ]  # fmt: skip
    assert store.experiment_paper("A") is None  # no such experiment
    store.plan_runs("A", [spec()])
    assert store.experiment_paper("A") is None  # no paper values given
    store.plan_runs("A", [spec()], paper=cells)
    assert store.experiment_paper("A") == cells
    store.plan_runs("A", [spec(seed=1)])  # None leaves them as they are
    assert store.experiment_paper("A") == cells
    store.plan_runs("A", [spec()], paper=[])
    assert store.experiment_paper("A") == []
    with pytest.raises(ValueError, match="JSON"):
        store.plan_runs("A", [spec()], paper=[{"value": object()}])
