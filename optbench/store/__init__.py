"""The results database: SQLAlchemy models, Alembic migrations, the ``Store``.

Imports SQLAlchemy and Alembic, never torch or pandas. Open it with ``open_store``.
"""

from optbench.store.engine import current, open_store, upgrade
from optbench.store.repository import (
    HEARTBEAT_S,
    LEASE_S,
    PlannedRun,
    Store,
    new_owner,
    run_key,
)

__all__ = [
    "HEARTBEAT_S",
    "LEASE_S",
    "PlannedRun",
    "Store",
    "current",
    "new_owner",
    "open_store",
    "run_key",
    "upgrade",
]
