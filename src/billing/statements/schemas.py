from __future__ import annotations

from pydantic import Field

from billing.kit.binding import InputModel


class StatementExternalIds(InputModel):
    erp_id: str | None = Field(default=None, max_length=64, alias="erpId")
    operations: str | None = Field(default=None, max_length=255)


class BillingErrorIn(InputModel):
    id: str | None = Field(default=None, max_length=16)
    message: str = Field(min_length=1, max_length=4000)


class StatementUpdate(InputModel):
    """Writable by Operations (§5.4): name, notes, externalIds; ``error`` is read by ``POST …/error`` only."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    notes: str | None = Field(default=None, max_length=4000)
    external_ids: StatementExternalIds | None = None
    error: BillingErrorIn | None = None
