"""rated agreement

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 20:45:00

Rating sums each rated ledger's Ready charges per agreement as it rates them; statement generation makes a
statement of each row instead of grouping a million charges again. Ledgers rated before this revision and not
generated yet get their rows here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billing.db.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rated_agreement",
        sa.Column("ledger_id", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=16), nullable=True),
        sa.Column("buyer_id", sa.String(length=16), nullable=True),
        sa.Column("seller_id", sa.String(length=16), nullable=True),
        sa.Column("licensee_id", sa.String(length=32), nullable=True),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("vendor_id", sa.String(length=16), nullable=True),
        sa.Column("currency_purchase", sa.String(length=3), nullable=True),
        sa.Column("currency_sale", sa.String(length=3), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total_pp", billing.db.types.Money(precision=21, scale=6), nullable=False),
        sa.Column("total_sp", billing.db.types.Money(precision=21, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("ledger_id", "agreement_id", name=op.f("pk_rated_agreement")),
    )
    op.execute(
        "INSERT INTO rated_agreement SELECT c.ledger_id, c.agreement_id, min(c.client_id), min(c.buyer_id),"
        " min(c.seller_id), min(c.licensee_id), min(c.product_id), min(c.vendor_id), min(c.currency_purchase),"
        " min(c.currency_sale), count(*), coalesce(sum(c.ppx1), 0), coalesce(sum(c.spx1), 0) FROM charge c"
        " JOIN ledger ON ledger.id = c.ledger_id AND ledger.status IN ('Review', 'Error', 'Generating')"
        " WHERE c.agreement_id IS NOT NULL AND c.processing_status = 'Ready' AND c.billing_type = 'Automated'"
        " GROUP BY c.ledger_id, c.agreement_id"
    )


def downgrade() -> None:
    op.drop_table("rated_agreement")
