"""The results database: SQLAlchemy models, Alembic migrations, the ``Store``.

Imports SQLAlchemy and Alembic, never torch or pandas. Open it with ``open_store``.
"""

from optbench.store.engine import current, open_store, upgrade
from optbench.store.repository import Store

__all__ = ["Store", "current", "open_store", "upgrade"]
