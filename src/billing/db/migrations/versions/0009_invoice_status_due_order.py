"""invoice status due order

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 13:20:00.000000

The invoice list's ``eq(status,…)&order=-erpData.dueDate`` sorts ``due_date DESC NULLS LAST, id``: an index in
that order serves it without sorting every matching row, and one led by ``client_id`` does the same (and the
count) for a client's own invoices. PostgreSQL needs the NULLS clause in the index (its
descending default is nulls first); SQLite has none and puts nulls last descending already.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _due_desc() -> sa.TextClause:
    nulls = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    return sa.text(f"due_date DESC{nulls}")


def upgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_index("ix_invoice_status_due")
        batch_op.create_index("ix_invoice_status_due", ["status", _due_desc(), "id"], unique=False)
        batch_op.create_index("ix_invoice_client_status_due", ["client_id", "status", _due_desc(), "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_index("ix_invoice_client_status_due")
        batch_op.drop_index("ix_invoice_status_due")
        batch_op.create_index("ix_invoice_status_due", ["status", "due_date"], unique=False)
