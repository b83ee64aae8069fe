"""statements and erp outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:15:29.852840
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import billing.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "erp_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("statement_id", sa.String(length=40), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("erp_document_no", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_error_code", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_outbox")),
        sa.UniqueConstraint("statement_id", name=op.f("uq_erp_outbox_statement_id")),
    )
    with op.batch_alter_table("erp_outbox", schema=None) as batch_op:
        batch_op.create_index("erp_outbox_due", ["state", "next_attempt_at"], unique=False)

    op.create_table(
        "statement",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("external_erp_id", sa.String(length=64), nullable=True),
        sa.Column("external_operations", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("billing_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("journal_id", sa.String(length=16), nullable=True),
        sa.Column("ledger_id", sa.String(length=32), nullable=True),
        sa.Column("custom_ledger_id", sa.String(length=16), nullable=True),
        sa.Column("client_id", sa.String(length=16), nullable=False),
        sa.Column("vendor_id", sa.String(length=16), nullable=False),
        sa.Column("buyer_id", sa.String(length=16), nullable=False),
        sa.Column("seller_id", sa.String(length=16), nullable=False),
        sa.Column("licensee_id", sa.String(length=32), nullable=True),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("currency_purchase", sa.String(length=3), nullable=False),
        sa.Column("currency_sale", sa.String(length=3), nullable=False),
        sa.Column("total_pp", billing.db.types.Money(precision=21, scale=6), nullable=False),
        sa.Column("total_sp", billing.db.types.Money(precision=21, scale=6), nullable=False),
        sa.Column("total_st", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("total_gt", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("markup", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("margin", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column(
            "processing", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "error", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("status_notes", sa.Text(), nullable=True),
        sa.Column("invoice_id", sa.String(length=32), nullable=True),
        sa.Column("credit_memo_id", sa.String(length=32), nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column(
            "audit", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement")),
    )
    with op.batch_alter_table("statement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statement_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index("ix_statement_client_created", ["client_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_custom_ledger_id"), ["custom_ledger_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_external_erp_id"), ["external_erp_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_ledger_id"), ["ledger_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("statement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_updated_at"))
        batch_op.drop_index(batch_op.f("ix_statement_status"))
        batch_op.drop_index(batch_op.f("ix_statement_ledger_id"))
        batch_op.drop_index(batch_op.f("ix_statement_external_erp_id"))
        batch_op.drop_index(batch_op.f("ix_statement_custom_ledger_id"))
        batch_op.drop_index(batch_op.f("ix_statement_created_at"))
        batch_op.drop_index("ix_statement_client_created")
        batch_op.drop_index(batch_op.f("ix_statement_agreement_id"))

    op.drop_table("statement")
    with op.batch_alter_table("erp_outbox", schema=None) as batch_op:
        batch_op.drop_index("erp_outbox_due")

    op.drop_table("erp_outbox")
