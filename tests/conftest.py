"""Shared fixtures: a tiny in-memory dataset and model so trainer tests take milliseconds."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests train as ``optbench run`` does by default: on one CPU thread (reproducible,
    and fast on small models however loaded the machine is)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_split():
    import torch

    from optbench.tasks.data import Split

    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 3, generator=g)
    x = torch.randn(240, 8, generator=g)
    y = (x @ w).argmax(dim=1)
    return Split(x[:200], y[:200], x[200:], y[200:], num_classes=3)


@pytest.fixture
def tiny_model():
    from torch import nn

    def build(input_shape, num_classes):
        model = nn.Sequential(nn.Linear(input_shape[0], 16), nn.ReLU())
        model.add_module("output", nn.Linear(16, num_classes))
        return model

    return build


def cli_commands() -> list[list[str]]:
    """Every command of the ``optbench`` command line as the words that call it (``run``,
    ``baseline save``), read from the Typer app, so that a new command is tested at once."""
    import typer.main

    from optbench.cli.app import app

    def leaves(command, words: list[str]) -> list[list[str]]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            return [words]
        return [leaf for name, sub in subcommands.items() for leaf in leaves(sub, [*words, name])]

    return leaves(typer.main.get_command(app), [])


@pytest.fixture
def loaded_after():
    """``loaded_after(code)``: which of torch, sqlalchemy, pandas a fresh interpreter has
    imported once ``code`` ran (a SystemExit from a CLI call counts as running)."""
    import subprocess
    import sys

    def run(code: str, names=("torch", "sqlalchemy", "pandas")) -> list[str]:
        script = (
            f"import sys\ntry:\n    exec({code!r})\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n"
            f"print(sorted(m for m in {tuple(names)!r} if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        return eval(out.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(autouse=True, scope="session")
def _dataset_cache(tmp_path_factory):
    """Cached dataset arrays go to a folder of the test session, not the user's cache
    (subprocesses inherit it through the environment)."""
    import os

    before = os.environ.get("OPTBENCH_CACHE")
    os.environ["OPTBENCH_CACHE"] = str(tmp_path_factory.mktemp("optbench-cache"))
    yield
    if before is None:
        del os.environ["OPTBENCH_CACHE"]
    else:
        os.environ["OPTBENCH_CACHE"] = before


# -- results databases: SQLite, and PostgreSQL where $OPTBENCH_TEST_POSTGRES names one ---------

POSTGRES_ENV = "OPTBENCH_TEST_POSTGRES"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    """The URL of a PostgreSQL database the tests may create and drop schemas in
    (``$OPTBENCH_TEST_POSTGRES``); skips the calling test when it is not set."""
    import os

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need ${POSTGRES_ENV} (a database URL)")
    return url


class PostgresSchema:
    """A fresh schema in the test server, dropped with everything in it on ``drop``; ``url``
    connects with it first on the search path, so optbench's tables are made there."""

    def __init__(self, base_url: str) -> None:
        import uuid

        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        self.name = f"optbench_test_{uuid.uuid4().hex[:12]}"
        base = make_url(base_url)
        if "+" not in base.drivername:
            base = base.set(drivername="postgresql+psycopg")
        self._admin = create_engine(base, poolclass=NullPool)
        with self._admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        query = dict(base.query) | {"options": f"-csearch_path={self.name}"}
        self.url = base.set(query=query).render_as_string(hide_password=False)

    def drop(self) -> None:
        from sqlalchemy import text

        with self._admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self._admin.dispose()


@pytest.fixture
def postgres_schema():
    """A PostgreSQL URL of a fresh, empty schema (skipped without a test server)."""
    schema = PostgresSchema(postgres_url())
    yield schema.url
    schema.drop()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """An empty results database that several processes can open: a SQLite file, or a
    fresh PostgreSQL schema (skipped without a test server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'results.db'}"
        return
    schema = PostgresSchema(postgres_url())
    yield schema.url
    schema.drop()


@pytest.fixture(params=BACKENDS)
def memory_or_postgres_url(request):
    """An empty results database for one process: in-memory SQLite (fast), or a fresh
    PostgreSQL schema (skipped without a test server)."""
    if request.param == "sqlite":
        yield "sqlite://"
        return
    schema = PostgresSchema(postgres_url())
    yield schema.url
    schema.drop()
