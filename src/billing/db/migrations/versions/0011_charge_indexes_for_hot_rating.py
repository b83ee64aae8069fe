"""charge indexes for HOT rating

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 19:55:00

Rating and statement generation rewrite every charge of a journal. The charge's ledger and statement are no
longer indexed (a ledger's charges are found by journal and seller, a statement's by parent and agreement), so
on PostgreSQL those UPDATEs are HOT, with a fill factor that leaves each page room for the new row versions
(it applies to the pages written from now on).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FILL_FACTOR = 50


def upgrade() -> None:
    op.drop_index("ix_charge_ledger_seq", table_name="charge")
    op.drop_index("ix_charge_statement_seq", table_name="charge")
    op.drop_index("ix_charge_journal_seller", table_name="charge")
    op.create_index("ix_charge_journal_seller_seq", "charge", ["journal_id", "seller_id", "seq"])
    op.create_index(
        "ix_charge_parent_agreement_seq",
        "charge",
        [sa.text("coalesce(journal_id, custom_ledger_id)"), "agreement_id", "seq"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE charge SET (fillfactor = {FILL_FACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE charge RESET (fillfactor)")
    op.drop_index("ix_charge_parent_agreement_seq", table_name="charge")
    op.drop_index("ix_charge_journal_seller_seq", table_name="charge")
    op.create_index("ix_charge_journal_seller", "charge", ["journal_id", "seller_id"])
    for name, column in (("ix_charge_statement_seq", "statement_id"), ("ix_charge_ledger_seq", "ledger_id")):
        op.create_index(
            name,
            "charge",
            [column, "seq"],
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
