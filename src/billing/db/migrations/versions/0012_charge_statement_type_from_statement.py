"""charge statement type from the statement

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 20:40:00

Rating names each Ready charge's statement (its id is deterministic), statement generation only makes the
statements: a charge shows its statement, and that statement's type, once the statement exists, read through
a join. The charge's own copy of the type is dropped, so generating statements rewrites no charge. Charges
already rated whose ledger has not generated its statements get their statement's id here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # charges rated before this revision whose ledger has not generated its statements yet: name them now
    op.execute(
        "UPDATE charge SET statement_id = 'SOM-' || substr(journal_id, 5) || '-' || substr(agreement_id, 5)"
        " WHERE statement_id IS NULL AND journal_id IS NOT NULL AND agreement_id IS NOT NULL"
        " AND processing_status = 'Ready' AND billing_type = 'Automated'"
        " AND ledger_id IN (SELECT id FROM ledger WHERE status IN ('Rating', 'Review', 'Error', 'Generating'))"
    )
    op.drop_column("charge", "statement_type")


def downgrade() -> None:
    op.add_column("charge", sa.Column("statement_type", sa.String(length=8), nullable=True))
    op.execute(
        "UPDATE charge SET statement_type = (SELECT type FROM statement WHERE statement.id = charge.statement_id)"
        " WHERE statement_id IS NOT NULL"
    )
