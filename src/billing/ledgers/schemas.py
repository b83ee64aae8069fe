from __future__ import annotations

from pydantic import Field

from billing.kit.binding import InputModel, Ref


class LedgerUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    notes: str | None = Field(default=None, max_length=4000)
    assignee: Ref | None = None
