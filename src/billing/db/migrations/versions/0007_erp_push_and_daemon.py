"""erp push and daemon

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:31:09.672174
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SINGLE_RUNNER_JOBS = (
    "erp.probe",
    "erp.pull.invoices",
    "erp.pull.credit_memos",
    "erp.pull.ledger",
    "erp.refresh_open",
    "invoices.mark_overdue",
    "housekeeping",
)


def upgrade() -> None:
    op.create_table(
        "daemon_replica",
        sa.Column("replica_id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_beat_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("replica_id", name=op.f("pk_daemon_replica")),
    )
    op.create_table(
        "erp_attempt",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("statement_id", sa.String(length=40), nullable=False),
        sa.Column("claim_no", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("fault_code", sa.String(length=255), nullable=True),
        sa.Column("fault_message", sa.Text(), nullable=True),
        sa.Column("request_excerpt", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_attempt")),
    )
    with op.batch_alter_table("erp_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_erp_attempt_started", ["started_at"], unique=False)
        batch_op.create_index("ix_erp_attempt_statement", ["statement_id", "id"], unique=False)

    op.create_table(
        "erp_control",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("paused_by", sa.String(length=64), nullable=True),
        sa.Column("paused_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_control")),
    )
    op.create_table(
        "job_lease",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_started_at", sa.DateTime(), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_lease")),
    )

    # One control row; one lease row per single-runner daemon job (§5.3). New jobs get their row on first use.
    op.bulk_insert(
        sa.table("erp_control", sa.column("id", sa.Integer), sa.column("paused", sa.Boolean)),
        [{"id": 1, "paused": False}],
    )
    op.bulk_insert(
        sa.table("job_lease", sa.column("name", sa.String)),
        [{"name": name} for name in SINGLE_RUNNER_JOBS],
    )


def downgrade() -> None:
    op.drop_table("job_lease")
    op.drop_table("erp_control")
    with op.batch_alter_table("erp_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_erp_attempt_statement")
        batch_op.drop_index("ix_erp_attempt_started")

    op.drop_table("erp_attempt")
    op.drop_table("daemon_replica")
