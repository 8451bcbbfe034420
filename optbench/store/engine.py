"""Opening the results database: URL, connection settings, errors, the schema check, migrations.

``open_store`` is the only way the rest of optbench gets a ``Store``: it refuses a database
at an older schema revision (``SchemaOutdated``, naming ``optbench db upgrade``) and creates
the schema in an empty one. ``upgrade`` and ``current`` back ``optbench db upgrade`` and
``optbench db current``. The Alembic configuration is built here; users need no alembic.ini.

Two backends are supported: SQLite (a file, or ``sqlite://`` in memory) and PostgreSQL
(``postgresql+psycopg://user:password@host/db``; ``postgresql://`` means the same driver,
psycopg 3). Every database error that a user can meet (a file that is not SQLite, an
unreachable server, a read-only or full disk, a lock held too long, a lost connection)
becomes one ``OptbenchError`` naming the database, never its password: see ``_translate``.

SQLite files are opened read-only when the file or its folder may not be written (a shared
folder, read-only media): reading works, a write raises ``DatabaseReadOnly``. A database in
WAL mode on read-only media cannot build its shared-memory index; it is then opened
``immutable`` (no locks, no index), which is safe because no process can write it there.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from optbench.errors import (
    BadInput,
    DatabaseBusy,
    DatabaseFull,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnreachable,
    OptbenchError,
    SchemaOutdated,
    SchemaTooNew,
    StoreError,
)
from optbench.store.models import Base
from optbench.store.repository import WRITE_OPTION, Store, WriteConflict

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in migrations/versions (a test pins it to the scripts' head). Kept
# as a constant so that opening an up-to-date database never imports Alembic.
HEAD_REVISION = "0004"

ENV_VAR = "OPTBENCH_DB"
DEFAULT_URL = "sqlite:///optbench.db"
BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for a lock (SQLite and PostgreSQL)
CONNECT_TIMEOUT_S = 10  # PostgreSQL, unless the URL sets connect_timeout
OPTBENCH_TABLES = frozenset({"experiments", "runs", "experiment_runs", "epochs"})
BACKENDS = ("sqlite", "postgresql")

# SQLite's primary result codes (https://www.sqlite.org/rescode.html).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26


def resolve_url(url: str | None = None) -> str:
    """The database URL: ``url``, else ``$OPTBENCH_DB``, else ``sqlite:///optbench.db``.

    A bare file path (no ``://``) means a SQLite file: ``results.db`` → ``sqlite:///results.db``.
    """
    url = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    if "://" not in url:
        url = "sqlite:///" + str(Path(url).expanduser())
    return url


def open_store(url: str | None = None, *, create: bool = True, read_only: bool = False) -> Store:
    """Open the results database at ``url`` (see ``resolve_url``) as a ``Store``.

    A database without optbench tables is migrated to head when ``create`` is true and
    refused with ``DatabaseMissing`` otherwise (a missing SQLite file is then not created).
    ``read_only`` opens it for reading only (nothing is created or written, not even
    SQLite's journal files; writes raise ``DatabaseReadOnly``): what ``--dry-run`` and the
    reports need. A database at an older revision, or with optbench tables but no revision,
    raises ``SchemaOutdated``; one at a revision this optbench does not know raises
    ``SchemaTooNew``. Bad URLs, files that are not SQLite and unreachable servers raise
    ``BadInput`` or a ``StoreError`` (see the module's docstring).
    """
    create = create and not read_only
    engine = make_engine(resolve_url(url), must_exist=not create, read_only=read_only)
    try:
        # tables first, then the revision: a runner creating the schema at this moment
        # commits both at once, so the revision read second is never older than the tables
        has_tables = _has_optbench_tables(engine)
        current, head = _revisions(engine)
        if current is None and not has_tables:
            if not create:
                raise DatabaseMissing(f"no optbench results in {_shown(engine.url)}")
            _create(engine)
        else:
            _check(engine, current, head)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def upgrade(url: str | None = None) -> tuple[str | None, str]:
    """Migrate the database to the head revision in one transaction; returns (revision
    before, head). A failure (a full disk, a lost connection) leaves it as it was.

    Creates the schema in an empty database. A database with optbench tables but no
    revision is stamped at head when it matches the models, refused otherwise.
    """
    from alembic import command

    engine = make_engine(resolve_url(url))
    try:
        before, head = _revisions(engine)
        if before is None and _has_optbench_tables(engine):
            _adopt_unversioned(engine, head)
        elif before != head:
            if before is not None and before not in _known_revisions():
                raise _too_new(engine.url, before, head)
            _migrate(engine, lambda cfg: command.upgrade(cfg, "head"))
        return before, head
    finally:
        engine.dispose()


def current(url: str | None = None) -> tuple[str | None, str]:
    """(the database's revision or None when it has none, this optbench's head revision).

    Reads only: a missing SQLite file raises ``DatabaseMissing`` and is not created.
    """
    engine = make_engine(resolve_url(url), must_exist=True, read_only=True)
    try:
        return _revisions(engine)
    finally:
        engine.dispose()


def is_known_revision(revision: str) -> bool:
    """Whether this optbench's migrations know ``revision`` (False: a newer optbench's)."""
    return revision == HEAD_REVISION or revision in _known_revisions()


def migrations_dir() -> Path:
    """The Alembic script folder: package ``optbench.migrations`` when installed (setuptools
    maps the top-level ``migrations/`` to it), else ``migrations/`` of the source checkout."""
    try:
        root = importlib.resources.files("optbench.migrations")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "migrations"
    return Path(str(root))


def alembic_config(url: str) -> Config:
    """An Alembic ``Config`` for ``url`` built in code; set ``attributes["connection"]`` to
    run on an open connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration revision this optbench knows."""
    return HEAD_REVISION


def script_head() -> str | None:
    """The head revision as the migration scripts say (for the test that pins the constant)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(migrations_dir())).get_current_head()


def make_engine(url: str, *, must_exist: bool = False, read_only: bool = False) -> Engine:
    """An engine for ``url`` that turns database errors into ``OptbenchError``s.

    SQLite gets foreign keys, WAL (files), a busy timeout, and ``BEGIN IMMEDIATE`` for write
    transactions; an existing file that may not be written is opened read-only, as is any
    file when ``read_only``. PostgreSQL gets a connect timeout and a lock timeout, and
    read-only transactions when ``read_only``. In-memory SQLite shares one connection.
    ``must_exist``: a missing SQLite file raises ``DatabaseMissing`` instead of being made.
    """
    sa_url = _parse(url)
    backend = sa_url.get_backend_name()
    if backend == "postgresql":
        engine = _postgresql_engine(sa_url, read_only=read_only)
    else:
        engine = _sqlite_engine(sa_url, must_exist=must_exist, read_only=read_only)
    shown = _shown(sa_url)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects; nothing to report
        if not isinstance(context.original_exception, Exception):
            return  # Ctrl-C while the database worked: an interrupt, not a lost connection
        error = _translate(context.original_exception, shown, context.is_disconnect)
        if error is not None:
            raise error from context.sqlalchemy_exception

    return engine


def _parse(url: str) -> URL:
    try:
        sa_url = make_url(url)
    except (ArgumentError, ValueError) as e:
        reason = "the port is not a number" if "int()" in str(e) else "it does not parse"
        raise BadInput(f"invalid database URL {_mask(url)}: {reason}") from None
    backend = sa_url.get_backend_name()
    if backend not in BACKENDS:
        raise BadInput(
            f"unsupported database {_shown(sa_url)}: optbench stores results in SQLite "
            "(a file path or sqlite:///FILE) or PostgreSQL (postgresql+psycopg://USER@HOST/DB)"
        )
    if backend == "postgresql" and "+" not in sa_url.drivername:
        sa_url = sa_url.set(drivername="postgresql+psycopg")  # the driver optbench installs
    if backend == "sqlite" and (sa_url.username or sa_url.password or sa_url.host):
        raise BadInput(
            f"invalid SQLite URL {_shown(sa_url)}: a SQLite database is a file, with no user, "
            "password or host; write sqlite:///PATH (three slashes, or four for /abs/path)"
        )
    return sa_url


def _mask(url: str) -> str:
    """``url`` with the password replaced by ``***`` (for URLs SQLAlchemy cannot parse)."""
    return re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", url)


_SECRET_OPTIONS = ("password", "sslpassword")  # libpq takes a password as an option too


def _shown(url: URL) -> str:
    """The URL as messages show it: every password masked, in the URL's user part and in
    its options."""
    secret = {k: "MASKED" for k in url.query if k.lower() in _SECRET_OPTIONS}
    shown = url.update_query_dict(secret).render_as_string(hide_password=True)
    return shown.replace("=MASKED", "=***") if secret else shown


def _postgresql_engine(url: URL, *, read_only: bool) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as e:
        hint = " (pip install 'optbench[postgresql]')" if isinstance(e, ImportError) else ""
        raise BadInput(f"cannot open database {_shown(url)}: {e}{hint}") from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        settings = [f"SET lock_timeout = {BUSY_TIMEOUT_MS}"]
        if read_only:
            settings.append("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor = dbapi_connection.cursor()
        for sql in settings:
            cursor.execute(sql)
        cursor.close()
        dbapi_connection.commit()

    return engine


def _sqlite_engine(url: URL, *, must_exist: bool, read_only: bool) -> Engine:
    memory = _sqlite_in_memory(url)
    uri = str(url.query.get("uri", "")).lower() in ("true", "1")
    if memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, wal=False)
        return engine
    if uri:  # sqlite:///file:PATH?mode=ro&uri=true: the user's own SQLite URI
        given = f"{url.database}?{'&'.join(f'{k}={v}' for k, v in url.query.items())}"
        engine = create_engine(url)
        _configure_sqlite(engine, wal="mode=ro" not in given and "immutable=1" not in given)
        return engine
    path = Path(url.database or "")
    if path.is_dir():
        raise BadInput(f"{path} is a folder, not a SQLite database file")
    if not path.exists():
        if must_exist:
            raise DatabaseMissing(f"no results database at {path}")
        if not path.parent.resolve().is_dir():
            raise BadInput(f"cannot create the results database {path}: no folder {path.parent}")
    elif not _writable(path):
        engine = create_engine(url, creator=lambda: _connect_read_only(path))
        _configure_sqlite(engine, wal=False)
        return engine
    engine = create_engine(url)
    # Read-only on a writable file: a read-write connection that refuses writes, so that
    # closing it removes the -wal and -shm files reading a WAL database makes.
    _configure_sqlite(engine, wal=not read_only, query_only=read_only)
    return engine


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` and create its journal files beside it."""
    return os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing SQLite file, even on read-only media.

    ``mode=ro`` reads with the usual locking, so concurrent writers (with write access) stay
    consistent; it needs the WAL index (``-shm``), which a WAL database on a folder no one
    may write lacks. There, a database without a write-ahead log is opened ``immutable=1``;
    one with a non-empty ``-wal`` beside it cannot be read without losing its last commits
    and is refused.
    """
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as e:
        if e.sqlite_errorcode & 0xFF not in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
            raise
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)


def _sqlite_in_memory(url: URL) -> bool:
    db = url.database or ""
    return (
        db in ("", ":memory:")
        or db.startswith("file::memory:")
        or "mode=memory" in db + str(url.query)
    )


def _configure_sqlite(engine: Engine, *, wal: bool, query_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        if wal:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            # WAL's recommended setting: never corrupt, and a commit needs no fsync (a power
            # loss may undo the last commits, which a crashed runner's claims are anyway).
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")
        if query_only:
            dbapi_connection.execute("PRAGMA query_only = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock at BEGIN: in WAL mode a deferred transaction that
        # read and then writes fails at once (SQLITE_BUSY_SNAPSHOT) when another writer
        # committed meanwhile; the busy timeout does not help it.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_BAD_OPTION = re.compile(
    r"invalid connection option|invalid \w+ value|bad value for|invalid port number"
    r'|missing "=" after|in connection info string'
)


def _translate(error: BaseException, shown: str, disconnect: bool) -> OptbenchError | None:
    """The ``OptbenchError`` for a database driver's ``error``, or None for errors that are
    not the user's or the environment's (constraint violations, optbench's own bugs)."""
    if isinstance(error, sqlite3.Error):
        return _translate_sqlite(error, shown)
    state = getattr(error, "sqlstate", None)
    if state is None and not disconnect and type(error).__module__.startswith("psycopg"):
        first = _first_line(error)
        if _BAD_OPTION.search(first):  # libpq's and psycopg's words for a URL's ?options
            return BadInput(f"cannot open database {shown}: {first}")
        if type(error).__name__ != "OperationalError":
            return None
        if "does not exist" in first and "database" in first:
            return DatabaseMissing(f"cannot open {shown}: {first}; create it first (createdb)")
        return DatabaseUnreachable(f"cannot connect to the results database {shown}: {first}")
    if disconnect or (state or "").startswith("08") or state in ("57P01", "57P02", "57P03"):
        return DatabaseUnreachable(
            f"lost the connection to the results database {shown}: {_first_line(error)}"
        )
    if state in ("40P01", "40001"):
        return WriteConflict(f"a write to {shown} conflicted with another: {_first_line(error)}")
    if state in ("55P03", "57014"):
        return _busy(shown)
    if state == "53100":
        return _full(shown)
    if state == "25006":
        return _read_only(shown, "the database is in read-only mode")
    if state == "42501":
        return StoreError(f"the results database {shown} refused: {_first_line(error)}")
    if state == "3F000":
        return StoreError(
            f"the results database {shown} has no schema to make optbench's tables in: "
            f"{_first_line(error)}"
        )
    if (state or "").startswith("22"):  # data exceptions: a value the column cannot hold
        return BadInput(f"the results database {shown} cannot store a value: {_first_line(error)}")
    if state in ("28P01", "28000", "53300", "3D000"):
        return DatabaseUnreachable(
            f"cannot connect to the results database {shown}: {_first_line(error)}"
        )
    return None


def _translate_sqlite(error: sqlite3.Error, shown: str) -> OptbenchError | None:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return _busy(shown)
    if code == _SQLITE_READONLY:
        return _read_only(shown, "the file, its folder or the medium is not writable")
    if code == _SQLITE_FULL:
        return _full(shown)
    if code == _SQLITE_NOTADB:
        return BadInput(f"{shown} is not a SQLite database (or it is damaged)")
    if code == _SQLITE_CANTOPEN:
        return BadInput(f"cannot open the SQLite database {shown}: {error}")
    if code == _SQLITE_CORRUPT:
        return StoreError(f"the results database {shown} is damaged: {error}")
    if code == _SQLITE_IOERR:
        return StoreError(f"cannot read or write the results database {shown}: {error}")
    return None


def _busy(shown: str) -> DatabaseBusy:
    return DatabaseBusy(
        f"the results database {shown} stayed locked by another writer for more than "
        f"{BUSY_TIMEOUT_MS / 1000:g} s; nothing was written, try again"
    )


def _full(shown: str) -> DatabaseFull:
    return DatabaseFull(
        f"cannot write to the results database {shown}: the disk is full (or the database "
        "reached its size limit); nothing of this change was kept"
    )


def _read_only(shown: str, why: str) -> DatabaseReadOnly:
    return DatabaseReadOnly(
        f"cannot write to the results database {shown}: it is read-only ({why}); "
        "it can still be read"
    )


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _sqlite_foreign_keys(conn: Connection, *, on: bool) -> None:
    # PRAGMA foreign_keys is a no-op inside a transaction, so it goes to the driver directly.
    conn.connection.driver_connection.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def _revisions(engine: Engine) -> tuple[str | None, str]:
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None, head_revision()
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            return (rows[0] if len(rows) == 1 else None), head_revision()
    except OperationalError as e:
        raise BadInput(f"cannot open database {_shown(engine.url)}: {e.orig}") from None


def _has_optbench_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(OPTBENCH_TABLES & set(inspect(conn).get_table_names()))


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory(str(migrations_dir())).walk_revisions()}


def _too_new(url: URL, rev: str, head: str) -> SchemaTooNew:
    return SchemaTooNew(
        f"the results database {_shown(url)} is at schema revision {rev}, which this optbench "
        f"does not know (its newest is {head}); it was written by a newer optbench: upgrade "
        "optbench"
    )


def _check(engine: Engine, current: str | None, head: str) -> None:
    if current == head:
        return
    if current is not None and current not in _known_revisions():
        raise _too_new(engine.url, current, head)
    at = f"schema revision {current}" if current else "a schema without a revision"
    raise SchemaOutdated(
        f"the results database {_shown(engine.url)} is at {at}; this optbench needs revision "
        f"{head}. Run `optbench db upgrade` (with the same --db) to upgrade it"
    )


def _create(engine: Engine) -> None:
    from alembic import command

    try:
        _migrate(engine, lambda cfg: command.upgrade(cfg, "head"))
    except SQLAlchemyError:
        # Another process may have created the schema first; at head, that is fine.
        current, head = _revisions(engine)
        if current != head:
            raise


def _adopt_unversioned(engine: Engine, head: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    if diff:
        raise SchemaOutdated(
            f"the results database {_shown(engine.url)} has optbench tables but no schema "
            f"revision, and they differ from revision {head} ({len(diff)} differences); "
            "`optbench db upgrade` cannot upgrade it automatically"
        )
    _migrate(engine, lambda cfg: command.stamp(cfg, "head"))


def _migrate(engine: Engine, action: Callable[[Config], None]) -> None:
    """Run an Alembic command in one transaction on one connection of ``engine``."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations copy a table and drop the old one; with foreign keys on,
            # dropping ``runs`` would cascade-delete every epoch row.
            _sqlite_foreign_keys(conn, on=False)
        try:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                cfg.attributes["connection"] = conn
                action(cfg)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration broke foreign keys; it was rolled back")
        finally:
            if sqlite:
                _sqlite_foreign_keys(conn, on=True)
