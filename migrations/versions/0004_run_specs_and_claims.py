"""Runs as specifications that runners claim: run_key, configuration columns, claims.

``runs`` gains ``run_key`` (unique: the SHA-256 of plan, task, seed and config hash that
``RunSpec.key`` computes), the configuration one column each (``epochs``, ``batch_size``,
``threads``, ``trainer_revision``; NULL for rows stored before, which did not record them),
``seeds_per_pass``, the claim columns ``owner``, ``lease_until`` and ``attempts``, and the
status ``pending``; ``started_at`` becomes nullable (a pending run has not started). The
unique constraint on (plan, task, seed, config_hash) goes: PostgreSQL's B-tree cannot index
a plan of more than about 2.7 KB. ``epochs`` gains ``lr_min`` and ``lr_max``,
``experiment_runs`` the ``label`` of the plan as the experiment's plan file writes it, and
``experiments`` the paper's reported values (``paper``, JSON).

Every row is kept. ``run_key`` of a stored row is computed from its stored identity, as
``RunSpec.key`` does; ``attempts`` of a stored row is 1 (it was started once).

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_OLD_STATUS = "status IN ('running', 'done', 'failed', 'diverged', 'interrupted')"
_NEW_STATUS = "status IN ('pending', 'running', 'done', 'failed', 'diverged', 'interrupted')"
_CHUNK = 1000


def run_key(plan: str, task: str, seed: int, config_hash: str) -> str:
    """``RunSpec.key`` of a stored identity (frozen here: a migration must not change)."""
    blob = json.dumps([plan, task, seed, config_hash])
    return hashlib.sha256(blob.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("run_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("epochs", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("batch_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("threads", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trainer_revision", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seeds_per_pass", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))

    bind = op.get_bind()
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer()),
        sa.column("plan", sa.Text()),
        sa.column("task", sa.String()),
        sa.column("seed", sa.Integer()),
        sa.column("config_hash", sa.String()),
        sa.column("run_key", sa.String()),
        sa.column("attempts", sa.Integer()),
    )
    keys = [
        {"row_id": row.id, "key": run_key(row.plan, row.task, row.seed, row.config_hash)}
        for row in bind.execute(
            sa.select(runs.c.id, runs.c.plan, runs.c.task, runs.c.seed, runs.c.config_hash)
        )
    ]
    set_key = (
        sa.update(runs)
        .where(runs.c.id == sa.bindparam("row_id"))
        .values(run_key=sa.bindparam("key"), attempts=1)
    )
    for i in range(0, len(keys), _CHUNK):
        bind.execute(set_key, keys[i : i + _CHUNK])

    with op.batch_alter_table("runs") as batch:
        batch.alter_column("run_key", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("started_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch.drop_constraint(op.f("uq_runs_plan_task_seed_config_hash"), type_="unique")
        batch.create_unique_constraint(op.f("uq_runs_run_key"), ["run_key"])
        batch.drop_constraint(op.f("ck_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_runs_status"), sa.text(_NEW_STATUS))

    with op.batch_alter_table("epochs") as batch:
        batch.add_column(sa.Column("lr_min", sa.Float(), nullable=True))
        batch.add_column(sa.Column("lr_max", sa.Float(), nullable=True))
    with op.batch_alter_table("experiment_runs") as batch:
        batch.add_column(sa.Column("label", sa.Text(), nullable=True))
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("paper", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Back to 0003. Planned runs that never started (pending) are deleted: 0003 has no such
    status. On PostgreSQL the old unique constraint fails again for plans over ~2.7 KB."""
    op.execute(sa.text("DELETE FROM runs WHERE status = 'pending'"))
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("paper")
    with op.batch_alter_table("experiment_runs") as batch:
        batch.drop_column("label")
    with op.batch_alter_table("epochs") as batch:
        batch.drop_column("lr_max")
        batch.drop_column("lr_min")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(op.f("ck_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_runs_status"), sa.text(_OLD_STATUS))
        batch.drop_constraint(op.f("uq_runs_run_key"), type_="unique")
        batch.create_unique_constraint(
            op.f("uq_runs_plan_task_seed_config_hash"), ["plan", "task", "seed", "config_hash"]
        )
        batch.alter_column("started_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        for name in (
            "attempts",
            "lease_until",
            "owner",
            "seeds_per_pass",
            "trainer_revision",
            "threads",
            "batch_size",
            "epochs",
            "run_key",
        ):
            batch.drop_column(name)
