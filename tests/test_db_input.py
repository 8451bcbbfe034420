"""A bad ``--db`` and a database that fails: one line, the documented exit status (2 bad
input, 4 schema, 5 the database cannot be used), nothing created or half-written, never a
traceback, never a password.

Read-only media are made for real where the system allows it (a tmpfs mounted read-only in
a private mount namespace, ``unshare``); full disks are SQLite's ``max_page_count``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.errors import (
    BadInput,
    DatabaseBusy,
    DatabaseFull,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnreachable,
)
from optbench.store import engine as store_engine
from optbench.store import open_store, upgrade
from optbench.train.config import RunConfig, RunSpec

REPO = Path(__file__).resolve().parents[1]
OLD_DB = REPO / "tests" / "data" / "optbench-0001.db"
runner = CliRunner()


def optbench(*args: str):
    # A wide console: the message is checked to be one line, not wrapped
    return runner.invoke(app, list(args), env={"COLUMNS": "500"})


def error_line(result, exit_code: int) -> str:
    """The one error line of a failed command (checked: status, no traceback)."""
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def specs(n: int) -> list[RunSpec]:
    return [RunSpec("SGD(lr=0.1)", "iris-mlp", seed, RunConfig(3, 32)) for seed in range(n)]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- files that are not databases, URLs that are not URLs -----------------------------------


@pytest.mark.parametrize("command", [["db", "current"], ["db", "upgrade"]])
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path, command) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("the learning rate of the second stage was 0.01\n" * 20)
    before = files(tmp_path)
    line = error_line(optbench(*command, "--db", str(notes)), 2)
    assert "notes.txt is not a SQLite database" in line
    assert files(tmp_path) == before  # no journal, no -wal, the text as it was
    with pytest.raises(BadInput, match="not a SQLite database"):
        open_store(str(notes))
    with pytest.raises(BadInput):
        open_store(str(notes), create=False)
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u:secret@127.0.0.1:notaport/x", "the port is not a number"),
        ("://u:secret@127.0.0.1/x", "does not parse"),
        ("sqlite://u:secret@/x.db", "no user, password or host"),
        ("sqlite://u:secret@host/x.db", "no user, password or host"),
        ("mysql://u:secret@127.0.0.1/x", "unsupported database"),
        ("nosuchdb://u:secret@127.0.0.1/x", "unsupported database"),
        ("postgresql+nosuchdriver://u:secret@127.0.0.1/x", "cannot open database"),
        # a connection option that libpq or psycopg refuses, before any server is asked
        ("postgresql://u:secret@127.0.0.1:1/x?sslmode=bogus", 'invalid sslmode value: "bogus"'),
        ("postgresql://u:secret@127.0.0.1:1/x?nosuchoption=1", "invalid connection option"),
        ("postgresql://u:secret@127.0.0.1:1/x?connect_timeout=soon", "bad value for"),
        ("postgresql://u:secret@127.0.0.1:1/x?a%20b=1", 'missing "=" after "a"'),
        ("postgresql://u:secret@127.0.0.1:99999/x", "invalid port number"),
        # a password given as an option is masked as the user part's is
        ("postgresql://u:secret@127.0.0.1:1/x?password=secret2&sslmode=bogus", "password=***&"),
        ("postgresql://u:secret@127.0.0.1:1/x?sslpassword=secret3&sslmode=no", "invalid sslmode"),
    ],
)
def test_a_bad_url_is_one_line_without_the_password(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["db", "current"], ["db", "upgrade"]):
        result = optbench(*command, "--db", url)
        line = error_line(result, 2)
        assert says in line and "secret" not in result.output
    with pytest.raises(BadInput) as raised:
        open_store(url)
    assert "secret" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # sqlite://u:p@/x.db made no x.db


def test_folders_and_missing_folders(tmp_path: Path) -> None:
    assert "is a folder" in error_line(optbench("db", "upgrade", "--db", str(tmp_path)), 2)
    missing = tmp_path / "no" / "such" / "results.db"
    assert "no folder" in error_line(optbench("db", "upgrade", "--db", str(missing)), 2)
    assert "no results database" in error_line(optbench("db", "current", "--db", str(missing)), 2)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    """What ``compare`` (``create=False``) and ``run --dry-run`` (``read_only=True``) open."""
    typo = tmp_path / "typo.db"
    with pytest.raises(DatabaseMissing, match=r"typo\.db"):
        open_store(str(typo), create=False)
    with pytest.raises(DatabaseMissing):
        open_store(str(typo), read_only=True)
    assert "no results database" in error_line(optbench("db", "current", "--db", str(typo)), 2)
    assert list(tmp_path.iterdir()) == []


def test_read_only_open_of_a_database_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with open_store(str(path)) as store:
        store.plan_runs("exp", specs(2))
    before = files(tmp_path)
    assert list(before) == ["results.db"]  # closed cleanly: no -wal, no -shm
    with open_store(str(path), read_only=True) as store:
        assert len(store.run_rows(status=None)) == 2
        assert [p is not None for p in store.lookup(specs(3))] == [True, True, False]
        with pytest.raises(DatabaseReadOnly, match="read-only"):
            store.plan_runs("exp", specs(3))
    assert files(tmp_path) == before


# -- databases that cannot be written --------------------------------------------------------


def test_a_read_only_sqlite_url_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with open_store(str(path)) as store:
        store.plan_runs("exp", specs(2))
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    with open_store(url, create=False) as store:
        assert len(store.run_rows(status=None)) == 2
        with pytest.raises(DatabaseReadOnly) as raised:
            store.plan_runs("exp", specs(4))
        assert raised.value.exit_code == 5
    with open_store(str(path)) as store:
        assert len(store.run_rows(status=None)) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_database_without_write_permission_reads_and_refuses_writes(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "results.db"
    with open_store(str(path)) as store:
        store.plan_runs("exp", specs(2))
    old = folder / "old.db"
    shutil.copyfile(OLD_DB, old)
    for f in (path, old):
        f.chmod(0o444)
    folder.chmod(0o555)
    try:
        with open_store(str(path), create=False) as store:
            assert len(store.run_rows(status=None)) == 2
            with pytest.raises(DatabaseReadOnly):
                store.plan_runs("exp", specs(3))
        assert "is read-only" in error_line(optbench("db", "upgrade", "--db", str(old)), 5)
        assert "0001" in optbench("db", "current", "--db", str(old)).stdout
    finally:
        folder.chmod(0o755)
        for f in (path, old):
            f.chmod(0o644)


READ_ONLY_MEDIA_SCRIPT = """
import json, sys
from typer.testing import CliRunner
from optbench.cli.app import app
from optbench.store import open_store
from optbench.errors import DatabaseReadOnly

media = sys.argv[1]
out = {}
with open_store(f"{media}/results.db", create=False) as store:
    out["runs"] = len(store.run_rows(status=None))
    try:
        store.plan_runs("exp2", [])
        out["write"] = "written"
    except DatabaseReadOnly as e:
        out["write"] = str(e)
runner = CliRunner()
for name, args in {
    "current": ["db", "current", "--db", f"{media}/results.db"],
    "upgrade": ["db", "upgrade", "--db", f"{media}/old.db"],
}.items():
    r = runner.invoke(app, args, env={"COLUMNS": "500"})
    out[name] = [r.exit_code, r.stdout, r.stderr, repr(r.exception)]
print(json.dumps(out))
"""


def on_read_only_media(tmp_path: Path, sources: list[Path]) -> dict:
    """Copy ``sources`` onto a tmpfs, remount it read-only, and run
    ``READ_ONLY_MEDIA_SCRIPT`` there; skips where mount namespaces are not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare: cannot make read-only media")
    media = tmp_path / "media"
    media.mkdir()
    script = tmp_path / "read.py"
    script.write_text(READ_ONLY_MEDIA_SCRIPT)
    copies = " && ".join(f"cp {s} {media}/{s.name}" for s in sources)
    shell = (
        f"mount -t tmpfs none {media} && {copies} && mount -o remount,ro {media} && "
        f"{sys.executable} {script} {media}"
    )
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    probe = subprocess.run([unshare, *flags, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare {' '.join(flags)} is not allowed here")
    done = subprocess.run(
        [unshare, *flags, "sh", "-c", shell],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_database_on_read_only_media_can_be_read(tmp_path: Path) -> None:
    """A WAL database on read-only media has no -shm and cannot make one: it is opened
    immutable and read; writes fail with one line (exit status 5)."""
    source = tmp_path / "results.db"
    with open_store(str(source)) as store:
        store.plan_runs("exp", specs(3))
    with sqlite3.connect(source) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()
    old = tmp_path / "old.db"
    shutil.copyfile(OLD_DB, old)

    out = on_read_only_media(tmp_path, [source, old])

    assert out["runs"] == 3
    assert "read-only" in out["write"]
    code, stdout, stderr, _ = out["current"]
    assert (code, stdout.strip(), stderr) == (0, "revision 0004; newest 0004; up to date", "")
    code, stdout, stderr, exception = out["upgrade"]
    assert code == 5 and "SystemExit" in exception
    assert len(stderr.strip().splitlines()) == 1 and "is read-only" in stderr


# -- full disks, locks, lost connections: nothing half-written ------------------------------


def limit_pages(dbapi_connection, _record) -> None:
    """SQLite's ``max_page_count`` at the file's current size: any growth is a full disk."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {max(pages, 1)}")


@pytest.fixture
def full_disk():
    event.listen(Engine, "connect", limit_pages)
    yield
    event.remove(Engine, "connect", limit_pages)


def test_a_full_disk_keeps_nothing_of_the_write(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with open_store(str(path)) as store:
        store.plan_runs("exp", specs(1))
    event.listen(Engine, "connect", limit_pages)
    try:
        with open_store(str(path)) as store:
            with pytest.raises(DatabaseFull, match="disk is full") as raised:
                store.plan_runs("exp", specs(2000), labels=["x" * 200] * 2000)
            assert raised.value.exit_code == 5
            assert len(store.run_rows(status=None)) == 1  # the store still works
    finally:
        event.remove(Engine, "connect", limit_pages)
    with open_store(str(path)) as store:
        assert len(store.run_rows(status=None)) == 1
        store.plan_runs("exp", specs(2000))  # with room again, the same write goes in
        assert len(store.run_rows(status=None)) == 2000


def test_upgrade_on_a_full_disk_leaves_the_old_database(tmp_path: Path, full_disk) -> None:
    old = tmp_path / "old.db"
    shutil.copyfile(OLD_DB, old)
    before = old.read_bytes()
    line = error_line(optbench("db", "upgrade", "--db", str(old)), 5)
    assert "the disk is full" in line and "nothing of this change was kept" in line
    assert old.read_bytes() == before
    assert "0001" in optbench("db", "current", "--db", str(old)).stdout


def test_a_lock_held_too_long_is_one_error(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "results.db"
    open_store(str(path)).close()
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 100)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    try:
        with open_store(str(path)) as store:
            assert store.run_rows() == []  # readers are not blocked (WAL)
            with pytest.raises(DatabaseBusy, match="locked by another writer"):
                store.plan_runs("exp", specs(2))
            other.execute("ROLLBACK")
            store.plan_runs("exp", specs(2))
            assert len(store.run_rows(status=None)) == 2
    finally:
        other.close()


def test_db_current_on_a_newer_database_says_so(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099'")
    raw.close()
    result = optbench("db", "current", "--db", str(path))
    assert result.exit_code == 0
    assert "revision 0099; newest 0004; newer than this optbench knows" in result.stdout
    assert "upgrade optbench" in result.stdout and "db upgrade" not in result.stdout
    line = error_line(optbench("db", "upgrade", "--db", str(path)), 4)
    assert "written by a newer optbench" in line


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copyfile(OLD_DB, old)
    assert optbench("db", "upgrade", "--db", str(old)).stdout.strip() == (
        "database at revision 0004 (was 0001)"
    )
    assert optbench("db", "upgrade", "--db", str(old)).stdout.strip() == (
        "database at revision 0004, already up to date"
    )


# -- PostgreSQL: servers that do not answer, refuse, or drop the connection ------------------


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    pytest.importorskip("psycopg", reason="the postgresql extra is not installed")
    for url in (
        "postgresql://u:secret@127.0.0.1:1/x",  # nothing listens: refused at once
        "postgresql+psycopg://u:secret@192.0.2.1/x?connect_timeout=1",  # TEST-NET: no answer
    ):
        result = optbench("db", "current", "--db", url)
        line = error_line(result, 5)
        assert "cannot connect to the results database" in line
        assert "u:***@" in line and "secret" not in result.output
        with pytest.raises(DatabaseUnreachable):
            open_store(url)


def test_a_refused_login_and_a_missing_database_on_a_real_server(postgres_schema: str) -> None:
    from sqlalchemy.engine import make_url

    real = make_url(postgres_schema)
    wrong = real.set(password="not-the-password").render_as_string(hide_password=False)
    result = optbench("db", "current", "--db", wrong)
    assert "cannot connect" in error_line(result, 5)
    assert "not-the-password" not in result.output
    missing = real.set(database="optbench_no_such_database")
    result = optbench("db", "current", "--db", missing.render_as_string(hide_password=False))
    line = error_line(result, 2)
    assert "does not exist" in line and f":{real.password}@" not in result.output
    assert ":***@" in line


def test_a_lock_held_too_long_on_postgresql(postgres_schema: str, monkeypatch) -> None:
    with open_store(postgres_schema) as store:
        [planned] = store.plan_runs("exp", specs(1))
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 100)
    holder = store_engine.make_engine(postgres_schema)
    with open_store(postgres_schema) as store, holder.connect() as conn:
        conn.execute(text("SELECT id FROM runs FOR UPDATE"))  # held until the rollback
        with pytest.raises(DatabaseBusy, match="locked by another writer"):
            store.claim([planned.id], "A")
        conn.rollback()
        assert store.claim([planned.id], "A") == [planned.id]
    holder.dispose()


def test_a_connection_lost_in_a_write_keeps_nothing(postgres_schema: str) -> None:
    admin = store_engine.make_engine(postgres_schema)
    with open_store(postgres_schema) as store:
        store.plan_runs("exp", specs(1))
        killed: list[int] = []

        def kill_on_insert(conn, cursor, statement, *args) -> None:
            if statement.startswith("INSERT INTO runs") and not killed:
                pid = conn.connection.driver_connection.info.backend_pid
                killed.append(pid)
                with admin.connect() as other:
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        event.listen(store.engine, "before_cursor_execute", kill_on_insert)
        with pytest.raises(DatabaseUnreachable, match="lost the connection"):
            store.plan_runs("exp", specs(5))
        event.remove(store.engine, "before_cursor_execute", kill_on_insert)
        assert len(store.run_rows(status=None)) == 1  # a new connection; nothing kept
        store.plan_runs("exp", specs(5))
        assert len(store.run_rows(status=None)) == 5
    admin.dispose()


def test_every_write_upgrade_is_one_transaction(tmp_path: Path, full_disk) -> None:
    """The library call behind ``db upgrade``, for completeness: the revision stays."""
    old = tmp_path / "old.db"
    shutil.copyfile(OLD_DB, old)
    with pytest.raises(DatabaseFull):
        upgrade(str(old))
    assert store_engine.current(str(old)) == ("0001", "0004")


def test_a_read_only_open_of_postgresql_refuses_writes(postgres_schema: str) -> None:
    with pytest.raises(DatabaseMissing):
        open_store(postgres_schema, read_only=True)  # no tables yet: none are made
    with open_store(postgres_schema) as store:
        store.plan_runs("exp", specs(2))
    with open_store(postgres_schema, read_only=True) as store:
        assert len(store.run_rows(status=None)) == 2
        with pytest.raises(DatabaseReadOnly, match="read-only"):
            store.plan_runs("exp", specs(3))
    assert store_engine.current(postgres_schema) == ("0004", "0004")


def test_a_deadlock_on_postgresql_is_a_write_conflict(postgres_schema: str) -> None:
    """Two transactions locking two runs in opposite orders: PostgreSQL aborts one, which
    the store reports as a WriteConflict (a DatabaseBusy) and tries again."""
    from optbench.store.repository import WriteConflict

    with open_store(postgres_schema) as store:
        a, b = (p.id for p in store.plan_runs("exp", specs(2)))
    engine = store_engine.make_engine(postgres_schema)
    barrier, outcomes = threading.Barrier(2), []

    def lock(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE runs SET attempts = 1 WHERE id = :i"), {"i": first})
                barrier.wait()
                conn.execute(text("UPDATE runs SET attempts = 2 WHERE id = :i"), {"i": second})
            outcomes.append("committed")
        except WriteConflict as e:
            outcomes.append(e)

    threads = [threading.Thread(target=lock, args=ids) for ids in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    engine.dispose()
    assert sorted(map(str, outcomes))[-1] == "committed"
    [conflict] = [o for o in outcomes if isinstance(o, WriteConflict)]
    assert isinstance(conflict, DatabaseBusy) and "deadlock" in str(conflict)


def test_ctrl_c_while_the_database_works_stays_an_interrupt(tmp_path: Path) -> None:
    """A KeyboardInterrupt inside a statement is the user's Ctrl-C, not a lost connection
    (SQLAlchemy flags it as a disconnect); the write it cut short keeps nothing."""
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        store.plan_runs("exp", specs(1))

        def interrupt_on_insert(conn, cursor, statement, *args) -> None:
            if statement.startswith("INSERT INTO runs"):
                raise KeyboardInterrupt

        event.listen(store.engine, "before_cursor_execute", interrupt_on_insert)
        with pytest.raises(KeyboardInterrupt):
            store.plan_runs("exp", specs(5))
        event.remove(store.engine, "before_cursor_execute", interrupt_on_insert)
        assert len(store.run_rows(status=None)) == 1


def test_a_password_option_is_masked_when_the_server_is_unreachable() -> None:
    url = "postgresql:///x?host=127.0.0.1&port=1&user=u&password=secret"
    line = error_line(optbench("db", "current", "--db", url), 5)
    assert "cannot connect" in line and "password=***" in line and "secret" not in line
