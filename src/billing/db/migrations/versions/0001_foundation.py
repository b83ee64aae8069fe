"""foundation: reference data and manual overrides

Revision ID: 0001
Revises:
Create Date: 2026-11-22 06:33:31.517241
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "manual_override",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("client_id", sa.String(length=16), nullable=False),
        sa.Column("vendor_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "audit",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_override")),
        sa.UniqueConstraint("client_id", "vendor_id", name=op.f("uq_manual_override_client_id_vendor_id")),
    )
    with op.batch_alter_table("manual_override", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manual_override_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_manual_override_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_manual_override_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_manual_override_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_manual_override_vendor_id"), ["vendor_id"], unique=False)

    op.create_table(
        "reference_link",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=128), nullable=False),
        sa.Column("target_entity", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("entity", "id", "path", "target_entity", "target_id", name=op.f("pk_reference_link")),
    )
    with op.batch_alter_table("reference_link", schema=None) as batch_op:
        batch_op.create_index("ix_reference_link_target", ["target_entity", "target_id"], unique=False)

    op.create_table(
        "reference_object",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "audit",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "id", name=op.f("pk_reference_object")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_reference_object_secret_sha256")),
    )
    with op.batch_alter_table("reference_object", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reference_object_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_reference_object_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("reference_object", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reference_object_updated_at"))
        batch_op.drop_index(batch_op.f("ix_reference_object_created_at"))

    op.drop_table("reference_object")
    with op.batch_alter_table("reference_link", schema=None) as batch_op:
        batch_op.drop_index("ix_reference_link_target")

    op.drop_table("reference_link")
    with op.batch_alter_table("manual_override", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manual_override_vendor_id"))
        batch_op.drop_index(batch_op.f("ix_manual_override_updated_at"))
        batch_op.drop_index(batch_op.f("ix_manual_override_status"))
        batch_op.drop_index(batch_op.f("ix_manual_override_created_at"))
        batch_op.drop_index(batch_op.f("ix_manual_override_client_id"))

    op.drop_table("manual_override")
