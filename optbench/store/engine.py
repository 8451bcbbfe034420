"""Opening the results database: URL, SQLite settings, the schema check and migrations.

``open_store`` is the only way the rest of optbench gets a ``Store``: it refuses a database
at an older schema revision (``SchemaOutdated``, naming ``optbench db upgrade``) and creates
the schema in an empty one. ``upgrade`` and ``current`` back ``optbench db upgrade`` and
``optbench db current``. The Alembic configuration is built here; users need no alembic.ini.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from optbench.errors import BadInput, DatabaseMissing, SchemaOutdated, SchemaTooNew
from optbench.store.models import Base
from optbench.store.repository import WRITE_OPTION, Store

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in migrations/versions (a test pins it to the scripts' head). Kept
# as a constant so that opening an up-to-date database never imports Alembic.
HEAD_REVISION = "0003"

ENV_VAR = "OPTBENCH_DB"
DEFAULT_URL = "sqlite:///optbench.db"
BUSY_TIMEOUT_MS = 30_000  # a second writer waits this long for the lock instead of failing
OPTBENCH_TABLES = frozenset({"experiments", "runs", "experiment_runs", "epochs"})


def resolve_url(url: str | None = None) -> str:
    """The database URL: ``url``, else ``$OPTBENCH_DB``, else ``sqlite:///optbench.db``.

    A bare file path (no ``://``) means a SQLite file: ``results.db`` → ``sqlite:///results.db``.
    """
    url = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    if "://" not in url:
        url = "sqlite:///" + str(Path(url).expanduser())
    return url


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open the results database at ``url`` (see ``resolve_url``) as a ``Store``.

    A database without optbench tables is migrated to head when ``create`` is true and
    refused with ``DatabaseMissing`` otherwise (a missing SQLite file is then not created).
    A database at an older revision, or with optbench tables but no revision, raises
    ``SchemaOutdated``; one at a revision this optbench does not know raises ``SchemaTooNew``.
    """
    engine = make_engine(resolve_url(url), must_exist=not create)
    try:
        current, head = _revisions(engine)
        if current is None and not _has_optbench_tables(engine):
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
    """Migrate the database to the head revision; returns (revision before, head).

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
    """(the database's revision or None when it has none, this optbench's head revision)."""
    engine = make_engine(resolve_url(url), must_exist=True)
    try:
        return _revisions(engine)
    finally:
        engine.dispose()


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


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL (files), a busy timeout, and
    ``BEGIN IMMEDIATE`` for write transactions. In-memory SQLite shares one connection."""
    sa_url = _parse(url)
    if sa_url.get_backend_name() != "sqlite":
        try:
            return create_engine(sa_url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as e:
            raise BadInput(f"cannot open database {_shown(sa_url)}: {e}") from e
    memory = _sqlite_in_memory(sa_url)
    if must_exist and not memory and not Path(sa_url.database or "").is_file():
        raise DatabaseMissing(f"no results database at {sa_url.database}")
    if memory:
        engine = create_engine(
            sa_url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(sa_url)
    _configure_sqlite(engine, wal=not memory)
    return engine


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as e:
        raise BadInput(f"invalid database URL {url!r}: {e}") from e


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _sqlite_in_memory(url: URL) -> bool:
    db = url.database or ""
    return (
        db in ("", ":memory:")
        or db.startswith("file::memory:")
        or "mode=memory" in db + str(url.query)
    )


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        if wal:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock at BEGIN: in WAL mode a deferred transaction that
        # read and then writes fails at once (SQLITE_BUSY_SNAPSHOT) when another writer
        # committed meanwhile; the busy timeout does not help it.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


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
        raise BadInput(f"cannot open database {_shown(engine.url)}: {e.orig}") from e


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
