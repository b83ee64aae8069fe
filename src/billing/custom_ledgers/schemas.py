"""API models and the view of custom ledgers (billing-api.md §5.3, §6.6)."""

from __future__ import annotations

from pydantic import Field

from billing.api.views import ResourceView
from billing.kit.binding import InputModel, InstantIn, Ref


class ExternalIds(InputModel):
    vendor: str | None = Field(default=None, max_length=255)
    operations: str | None = Field(default=None, max_length=255)


class CurrencyPair(InputModel):
    purchase: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    sale: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")


class PriceIn(InputModel):
    currency: CurrencyPair | None = None


class CustomLedgerUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4000)
    notes: str | None = Field(default=None, max_length=4000)
    external_ids: ExternalIds | None = None
    billing_start_date: InstantIn = None
    billing_end_date: InstantIn = None
    price: PriceIn | None = None
    assignee: Ref | None = None


class CustomLedgerCreate(CustomLedgerUpdate):
    name: str = Field(min_length=1, max_length=255)
    seller: Ref
    vendor: Ref
    billing_start_date: InstantIn
    billing_end_date: InstantIn


CUSTOM_LEDGER_VIEW = ResourceView(
    fields=(
        "id",
        "name",
        "description",
        "notes",
        "externalIds",
        "seller",
        "vendor",
        "billingStartDate",
        "billingEndDate",
        "status",
        "assignee",
        "price",
        "upload",
        "processing",
        "error",
        "audit",
    ),
    non_core=frozenset({"audit", "processing"}),
    label="Custom ledger",
)
