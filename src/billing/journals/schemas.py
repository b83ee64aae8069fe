"""API models and views of journals, journal sellers and charges."""

from __future__ import annotations

from pydantic import Field

from billing.api.views import ResourceView
from billing.kit.binding import InputModel, InstantIn, Ref


class JournalExternalIds(InputModel):
    vendor: str | None = Field(default=None, max_length=255)
    operations: str | None = Field(default=None, max_length=255)


class JournalUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4000)
    notes: str | None = Field(default=None, max_length=4000)
    external_ids: JournalExternalIds | None = None
    due_date: InstantIn = None
    assignee: Ref | None = None


class JournalCreate(JournalUpdate):
    name: str = Field(min_length=1, max_length=255)
    authorization: Ref


JOURNAL_VIEW = ResourceView(
    fields=(
        "id",
        "name",
        "description",
        "notes",
        "externalIds",
        "status",
        "vendor",
        "owner",
        "product",
        "authorization",
        "dueDate",
        "assignee",
        "price",
        "upload",
        "processing",
        "error",
        "audit",
    ),
    non_core=frozenset({"audit", "processing"}),
    visibility="journal",
    label="Journal",
)

SELLER_VIEW = ResourceView(
    fields=("id", "name", "icon", "externalId", "status", "address", "currencies", "erpLink", "journal", "ledger"),
    visibility="journal_seller",
    label="Journal seller",
)

CHARGE_VIEW = ResourceView(
    fields=(
        "id",
        "externalIds",
        "search",
        "period",
        "quantity",
        "price",
        "segment",
        "description",
        "attributes",
        "billingType",
        "statementType",
        "journal",
        "ledger",
        "customLedger",
        "statement",
        "parent",
        "split",
        "upload",
        "processing",
        "client",
        "buyer",
        "licensee",
        "seller",
        "vendor",
        "product",
        "agreement",
        "subscription",
        "asset",
        "order",
        "item",
        "authorization",
        "erpData",
        "audit",
    ),
    non_core=frozenset({"audit"}),
    visibility="charge",
    label="Charge",
)
