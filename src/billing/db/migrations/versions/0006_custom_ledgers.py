"""custom ledgers

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-22 09:23:11.645247
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import billing.db.types

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_ledger",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("external_vendor", sa.String(length=255), nullable=True),
        sa.Column("external_operations", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seller_id", sa.String(length=16), nullable=False),
        sa.Column("vendor_id", sa.String(length=16), nullable=False),
        sa.Column("billing_start_date", sa.DateTime(), nullable=False),
        sa.Column("billing_end_date", sa.DateTime(), nullable=False),
        sa.Column(
            "assignee", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("currency_purchase", sa.String(length=3), nullable=True),
        sa.Column("currency_sale", sa.String(length=3), nullable=True),
        sa.Column("upload_total", sa.Integer(), nullable=False),
        sa.Column("upload_ready", sa.Integer(), nullable=False),
        sa.Column("upload_error", sa.Integer(), nullable=False),
        sa.Column("total_pp", billing.db.types.Money(precision=21, scale=6), nullable=False),
        sa.Column("total_sp", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("markup", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("margin", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column(
            "processing", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "error", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("input_attachment_id", sa.String(length=20), nullable=True),
        sa.Column(
            "audit", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_ledger")),
    )
    with op.batch_alter_table("custom_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_custom_ledger_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_custom_ledger_seller_id"), ["seller_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_custom_ledger_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_custom_ledger_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_custom_ledger_vendor_id"), ["vendor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("custom_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_ledger_vendor_id"))
        batch_op.drop_index(batch_op.f("ix_custom_ledger_updated_at"))
        batch_op.drop_index(batch_op.f("ix_custom_ledger_status"))
        batch_op.drop_index(batch_op.f("ix_custom_ledger_seller_id"))
        batch_op.drop_index(batch_op.f("ix_custom_ledger_created_at"))

    op.drop_table("custom_ledger")
