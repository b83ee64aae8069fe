"""journals, charges, attachments, work queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:08:05.172526
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import billing.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "attachment",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("parent_type", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("is_external", sa.Boolean(), nullable=False),
        sa.Column(
            "audit", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachment_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_attachment_parent", ["parent_type", "parent_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachment_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "charge",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("journal_id", sa.String(length=16), nullable=True),
        sa.Column("custom_ledger_id", sa.String(length=16), nullable=True),
        sa.Column("ledger_id", sa.String(length=32), nullable=True),
        sa.Column("statement_id", sa.String(length=40), nullable=True),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("child", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("parent_external_vendor", sa.String(length=255), nullable=True),
        sa.Column("split_percentage", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("external_vendor", sa.String(length=255), nullable=True),
        sa.Column("external_invoice", sa.String(length=255), nullable=True),
        sa.Column("external_reference", sa.String(length=255), nullable=True),
        sa.Column(
            "search", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("period_start", sa.DateTime(), nullable=True),
        sa.Column("period_end", sa.DateTime(), nullable=True),
        sa.Column("quantity", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("unit_pp", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("ppx1", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("unit_sp", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("spx1", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("markup", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("margin", billing.db.types.Money(precision=21, scale=6), nullable=True),
        sa.Column("currency_purchase", sa.String(length=3), nullable=True),
        sa.Column("currency_sale", sa.String(length=3), nullable=True),
        sa.Column("segment", sa.String(length=8), nullable=True),
        sa.Column("description1", sa.Text(), nullable=True),
        sa.Column("description2", sa.Text(), nullable=True),
        sa.Column(
            "attributes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("billing_type", sa.String(length=16), nullable=False),
        sa.Column("statement_type", sa.String(length=8), nullable=True),
        sa.Column("upload_status", sa.String(length=8), nullable=False),
        sa.Column(
            "upload_errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("processing_status", sa.String(length=8), nullable=True),
        sa.Column(
            "processing_errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("client_id", sa.String(length=16), nullable=True),
        sa.Column("buyer_id", sa.String(length=16), nullable=True),
        sa.Column("licensee_id", sa.String(length=32), nullable=True),
        sa.Column("seller_id", sa.String(length=16), nullable=True),
        sa.Column("vendor_id", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("agreement_id", sa.String(length=32), nullable=True),
        sa.Column("subscription_id", sa.String(length=32), nullable=True),
        sa.Column("asset_id", sa.String(length=32), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("item_id", sa.String(length=32), nullable=True),
        sa.Column("authorization_id", sa.String(length=16), nullable=True),
        sa.Column("erp_country_code", sa.String(length=8), nullable=True),
        sa.Column("erp_item_id", sa.String(length=64), nullable=True),
        sa.Column("cco", sa.String(length=64), nullable=True),
        sa.Column("scu", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge")),
    )
    with op.batch_alter_table("charge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charge_custom_ledger_seq",
            ["custom_ledger_id", "seq"],
            unique=False,
            sqlite_where=sa.text("custom_ledger_id IS NOT NULL"),
            postgresql_where=sa.text("custom_ledger_id IS NOT NULL"),
        )
        batch_op.create_index("ix_charge_journal_seller", ["journal_id", "seller_id"], unique=False)
        batch_op.create_index("ix_charge_journal_seq", ["journal_id", "seq"], unique=False)
        batch_op.create_index("ix_charge_journal_status", ["journal_id", "upload_status"], unique=False)
        batch_op.create_index(
            "ix_charge_ledger_seq",
            ["ledger_id", "seq"],
            unique=False,
            sqlite_where=sa.text("ledger_id IS NOT NULL"),
            postgresql_where=sa.text("ledger_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_charge_statement_seq",
            ["statement_id", "seq"],
            unique=False,
            sqlite_where=sa.text("statement_id IS NOT NULL"),
            postgresql_where=sa.text("statement_id IS NOT NULL"),
        )

    op.create_table(
        "journal",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("external_vendor", sa.String(length=255), nullable=True),
        sa.Column("external_operations", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vendor_id", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_date", sa.DateTime(), nullable=False),
        sa.Column(
            "assignee", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("upload_total", sa.Integer(), nullable=False),
        sa.Column("upload_ready", sa.Integer(), nullable=False),
        sa.Column("upload_split", sa.Integer(), nullable=False),
        sa.Column("upload_skipped", sa.Integer(), nullable=False),
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
        sa.Column("charges_visible", sa.Boolean(), nullable=False),
        sa.Column(
            "audit", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal")),
    )
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_authorization_id"), ["authorization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_due_date"), ["due_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_external_vendor"), ["external_vendor"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index("ix_journal_vendor_created", ["vendor_id", "created_at"], unique=False)

    op.create_table(
        "journal_number",
        sa.Column("digits", sa.String(length=9), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("digits", name=op.f("pk_journal_number")),
    )
    op.create_table(
        "work_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_item")),
    )
    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.create_index("ix_work_item_due", ["kind", "state", "lease_until"], unique=False)
        batch_op.create_index(
            "uq_work_item_open",
            ["kind", "object_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_work_item_open",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index("ix_work_item_due")

    op.drop_table("work_item")
    op.drop_table("journal_number")
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_vendor_created")
        batch_op.drop_index(batch_op.f("ix_journal_updated_at"))
        batch_op.drop_index(batch_op.f("ix_journal_status"))
        batch_op.drop_index(batch_op.f("ix_journal_product_id"))
        batch_op.drop_index(batch_op.f("ix_journal_external_vendor"))
        batch_op.drop_index(batch_op.f("ix_journal_due_date"))
        batch_op.drop_index(batch_op.f("ix_journal_created_at"))
        batch_op.drop_index(batch_op.f("ix_journal_authorization_id"))

    op.drop_table("journal")
    with op.batch_alter_table("charge", schema=None) as batch_op:
        batch_op.drop_index("ix_charge_statement_seq")
        batch_op.drop_index("ix_charge_ledger_seq")
        batch_op.drop_index("ix_charge_journal_status")
        batch_op.drop_index("ix_charge_journal_seq")
        batch_op.drop_index("ix_charge_journal_seller")
        batch_op.drop_index("ix_charge_custom_ledger_seq")

    op.drop_table("charge")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_updated_at"))
        batch_op.drop_index("ix_attachment_parent")
        batch_op.drop_index(batch_op.f("ix_attachment_created_at"))

    op.drop_table("attachment")
