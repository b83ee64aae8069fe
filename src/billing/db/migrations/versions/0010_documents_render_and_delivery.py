"""documents render and delivery

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 14:50:47.485262

Rendered documents (PDF/CSV) and their delivery to finance: a render task per parent, one output row per
rendered version (its checksum makes re-rendering the same inputs a no-op), deliveries with their attempts, and
the health of each delivery target.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_target",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("paused_at", sa.DateTime(), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_delivery_target")),
    )
    op.create_table(
        "document_output",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("parent_type", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("template_version", sa.String(length=64), nullable=False),
        sa.Column("attachment_id", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_output")),
        sa.UniqueConstraint(
            "parent_type",
            "parent_id",
            "kind",
            "checksum",
            name=op.f("uq_document_output_parent_type_parent_id_kind_checksum"),
        ),
    )
    op.create_table(
        "document_task",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("parent_type", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("rendered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_task")),
        sa.UniqueConstraint("parent_type", "parent_id", name=op.f("uq_document_task_parent_type_parent_id")),
    )
    with op.batch_alter_table("document_task", schema=None) as batch_op:
        batch_op.create_index("ix_document_task_due", ["due_at"], unique=False)

    op.create_table(
        "document_delivery",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("output_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["output_id"], ["document_output.id"], name=op.f("fk_document_delivery_output_id_document_output")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_delivery")),
    )
    with op.batch_alter_table("document_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_document_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_delivery_output_id"), ["output_id"], unique=False)

    op.create_table(
        "document_delivery_attempt",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["document_delivery.id"],
            name=op.f("fk_document_delivery_attempt_delivery_id_document_delivery"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_delivery_attempt")),
    )
    with op.batch_alter_table("document_delivery_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_delivery_attempt_delivery_id"), ["delivery_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("document_delivery_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_delivery_attempt_delivery_id"))

    op.drop_table("document_delivery_attempt")
    with op.batch_alter_table("document_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_delivery_output_id"))
        batch_op.drop_index("ix_document_delivery_due")

    op.drop_table("document_delivery")
    with op.batch_alter_table("document_task", schema=None) as batch_op:
        batch_op.drop_index("ix_document_task_due")

    op.drop_table("document_task")
    op.drop_table("document_output")
    op.drop_table("delivery_target")
