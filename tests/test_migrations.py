"""Alembic migrations: a new database starts at head, an old one is refused and upgraded.

``tests/data/optbench-0001.db`` is a checked-in database at revision 0001 with one
experiment, one done run and its epochs. It was made by ``build_0001_fixture`` below; to
remake it run ``PYTHONPATH=. python tests/test_migrations.py`` from the repository root.
"""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import BACKENDS, PostgresSchema, postgres_url
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from optbench.errors import DatabaseMissing, SchemaOutdated, SchemaTooNew
from optbench.store import current, open_store, run_key, upgrade
from optbench.store import engine as store_engine
from optbench.store.engine import (
    _migrate,
    head_revision,
    make_engine,
    migrations_dir,
    script_head,
)
from optbench.store.models import Base
from optbench.train.record import Status

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "data" / "optbench-0001.db"
FIXTURE_PLAN = "SGD(lr=0.1) | (SGD(lr=0.1)+M(momentum=0.9)+d(rate=1e-06))"


def build_0001_fixture(path: Path) -> None:
    """A SQLite file at revision 0001 holding one experiment, one done run, three epochs."""
    path.unlink(missing_ok=True)
    fill_0001(f"sqlite:///{path}")
    with sqlite3.connect(path) as raw:  # one self-contained file, no -wal beside it
        raw.execute("PRAGMA journal_mode = DELETE")
    raw.close()


def fill_0001(url: str) -> None:
    """Migrate the empty database at ``url`` to 0001 and store the fixture's rows in it."""
    engine = make_engine(url)
    _migrate(engine, lambda cfg: command.upgrade(cfg, "0001"))
    # Plain SQL: the models are at head, this database is not. Ids come from the database
    # (1 in an empty one), as PostgreSQL's sequences must count them.
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO experiments (name, created_at) VALUES ('paper-ms', :t)"),
            {"t": "2025-01-01 12:00:00.000000"},
        )
        conn.execute(
            text(
                "INSERT INTO runs (plan, task, seed, config_hash, status, device, versions,"
                " error, stage_starts, extra, started_at, finished_at, accuracy, loss, f1,"
                " precision, recall, ms_per_batch, s_per_epoch) VALUES (:plan, 'iris-mlp',"
                " 0, 'abc123', 'done', 'cpu', :versions, NULL, '[0, 2]', '{}', :t0, :t1, 0.9,"
                " 0.3, 0.88, 0.87, 0.89, 1.5, 2.5)"
            ),
            {
                "plan": FIXTURE_PLAN,
                "versions": '{"optbench": "0.1.0", "torch": "2.14.1"}',
                "t0": "2025-01-01 12:00:01.000000",
                "t1": "2025-01-01 12:00:09.000000",
            },
        )
        conn.execute(text("INSERT INTO experiment_runs (experiment_id, run_id) VALUES (1, 1)"))
        for epoch in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO epochs VALUES (1, :e, :stage, 0.1, :loss, 0.8, :loss, 0.8,"
                    " 1.5, 2.5)"
                ),
                {"e": epoch, "stage": int(epoch > 2), "loss": 1.0 / epoch},
            )
    engine.dispose()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    copy = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, copy)
    return copy


@pytest.fixture(params=BACKENDS)
def old_url(request, tmp_path: Path) -> Iterator[str]:
    """A database at 0001 with the fixture's rows: a copy of the checked-in SQLite file, or
    a PostgreSQL schema filled the same way (skipped without a test server)."""
    if request.param == "sqlite":
        copy = tmp_path / "old.db"
        shutil.copyfile(FIXTURE, copy)
        yield f"sqlite:///{copy}"
        return
    schema = PostgresSchema(postgres_url())
    fill_0001(schema.url)
    yield schema.url
    schema.drop()


def test_head_is_0004() -> None:
    assert head_revision() == "0004" == script_head()


def test_a_new_file_database_is_created_at_head(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_store(str(path)).close()
    assert current(str(path)) == ("0004", "0004")


def test_current_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        current(str(tmp_path / "none.db"))
    assert not (tmp_path / "none.db").exists()


def test_the_fixture_is_at_0001() -> None:
    assert current(str(FIXTURE)) == ("0001", "0004")


def test_an_old_database_is_refused_with_the_upgrade_command(old_url: str) -> None:
    with pytest.raises(SchemaOutdated) as raised:
        open_store(old_url)
    message = str(raised.value)
    assert "optbench db upgrade" in message
    assert "0001" in message and "0004" in message
    assert raised.value.exit_code == 4
    assert current(old_url) == ("0001", "0004")  # refusing changed nothing


def test_upgrade_keeps_every_row(old_url: str) -> None:
    assert upgrade(old_url) == ("0001", "0004")
    assert current(old_url) == ("0004", "0004")
    assert upgrade(old_url) == ("0004", "0004")  # a second upgrade does nothing

    with open_store(old_url) as store:
        assert store.experiments() == ["paper-ms"]
        assert store.experiment_paper("paper-ms") is None
        [run] = store.run_rows(experiment="paper-ms")
        assert run["plan"] == FIXTURE_PLAN and run["notes"] is None
        assert run["versions"] == {"optbench": "0.1.0", "torch": "2.14.1"}
        assert (run["accuracy"], run["stage_starts"]) == (0.9, [0, 2])
        assert run["started_at"] == datetime(2025, 1, 1, 12, 0, 1, tzinfo=UTC)
        identity = run_key(FIXTURE_PLAN, "iris-mlp", 0, "abc123")
        by_key = {r["run_key"]: r["status"] for r in store.run_rows(status=None)}
        assert Status(by_key[identity]) is Status.DONE
        assert [e["epoch"] for e in store.epoch_rows()] == [1, 2, 3]
        assert {(e["lr_min"], e["lr_max"]) for e in store.epoch_rows()} == {(None, None)}

        # 0004: the identity as a key computed from the stored columns; the configuration
        # is unknown (never pooled with runs that know theirs); it was started once
        assert run["run_key"] == run_key(FIXTURE_PLAN, "iris-mlp", 0, "abc123")
        assert run["device"] == "cpu" and run["config_hash"] == "abc123"
        for column in ("epochs", "batch_size", "threads", "trainer_revision"):
            assert run[column] is None
        assert (run["attempts"], run["owner"], run["lease_until"]) == (1, None, None)
        assert run["seeds_per_pass"] is None and run["label"] is None


def test_0004_allows_pending_and_still_checks_the_status(old_url: str) -> None:
    upgrade(old_url)
    engine = make_engine(old_url)
    insert = (
        "INSERT INTO runs (run_key, plan, task, seed, config_hash, status, device, versions,"
        " stage_starts, extra) VALUES (:key, 'SGD', 'iris-mlp', 1, 'abc123', :status, 'cpu',"
        " '{}', '[]', '{}')"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(insert), {"key": "k1", "status": "pending"})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(insert), {"key": "k2", "status": "bogus"})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(insert), {"key": "k1", "status": "pending"})  # run_key is unique
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_keep_epochs(old_url: str) -> None:
    """Downgrades rebuild ``runs`` (SQLite batch); foreign keys must not cascade."""
    upgrade(old_url)
    engine = make_engine(old_url)
    try:
        _migrate(engine, lambda cfg: command.downgrade(cfg, "0001"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM epochs")).scalar() == 3
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar() == 1
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
    assert current(old_url) == ("0001", "0004")
    assert upgrade(old_url) == ("0001", "0004")


def test_models_match_the_migrations(db_url: str, old_url: str) -> None:
    for url in (db_url, old_url):
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        engine.dispose()
        assert diff == []


def test_tables_without_a_revision_are_outdated_then_adopted(tmp_path: Path) -> None:
    path = tmp_path / "unversioned.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="optbench db upgrade"):
        open_store(str(path))
    assert upgrade(str(path)) == (None, "0004")  # matches the models: stamped at head
    open_store(str(path)).close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099'")
    raw.close()
    with pytest.raises(SchemaTooNew, match="0099"):
        open_store(str(path))
    with pytest.raises(SchemaTooNew):
        upgrade(str(path))


def test_an_empty_database_is_not_created_when_create_is_false(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(DatabaseMissing):
        open_store(str(path), create=False)


def test_migrations_are_found_from_a_source_checkout() -> None:
    """Without an installed ``optbench.migrations`` package, the repository's folder."""
    code = (
        "import importlib.util, sys\n"
        "from optbench.store.engine import migrations_dir\n"
        "print(importlib.util.find_spec('optbench.migrations') is None)\n"
        "print(migrations_dir())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    # An editable install maps optbench.migrations onto the same folder.
    assert Path(out[1]).resolve() == REPO / "migrations"
    assert (REPO / "migrations" / "env.py").is_file()


def test_migrations_fallback_when_the_package_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(store_engine.importlib.resources, "files", missing)
    assert migrations_dir() == REPO / "migrations"


def test_migrations_from_the_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, setuptools puts ``migrations/`` at ``optbench/migrations``."""
    installed = tmp_path / "site" / "optbench" / "migrations"
    shutil.copytree(REPO / "migrations", installed)
    spec = importlib.util.spec_from_file_location(
        "optbench.migrations",
        installed / "__init__.py",
        submodule_search_locations=[str(installed)],
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "optbench.migrations", module)
    assert migrations_dir() == installed
    open_store(str(tmp_path / "x.db")).close()
    assert current(str(tmp_path / "x.db")) == ("0004", "0004")


if __name__ == "__main__":
    build_0001_fixture(FIXTURE)
    print(f"wrote {FIXTURE}")


OPEN_AT = """
import sys, time
import optbench.store.engine as engine

def slowed(read):
    def wrapper(*args):
        answer = read(*args)
        time.sleep(1.0)  # widen the gap between looking at the schema and acting on it
        return answer
    return wrapper

engine._revisions = slowed(engine._revisions)
engine._has_optbench_tables = slowed(engine._has_optbench_tables)
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
engine.open_store(sys.argv[1]).close()
"""


def test_runners_opening_a_new_database_together_all_get_it(db_url):
    """Runner processes open an empty database a moment apart, while the first creates
    the schema: none sees it half made (its tables without their revision) or fails."""
    import time

    start = time.time() + 4  # after every interpreter has imported optbench
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN_AT, db_url, str(start + 0.3 * k)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for k in range(8)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outputs
