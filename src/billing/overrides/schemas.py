from __future__ import annotations

from pydantic import Field

from billing.api.views import ResourceView
from billing.kit.binding import InputModel, Ref


class OverrideUpdate(InputModel):
    name: str | None = Field(default=None, max_length=255)
    notes: str | None = Field(default=None, max_length=4000)
    external_id: str | None = Field(default=None, max_length=255)


class OverrideCreate(OverrideUpdate):
    client: Ref
    vendor: Ref


OVERRIDE_VIEW = ResourceView(
    fields=("id", "name", "client", "vendor", "status", "externalId", "notes", "audit"),
    non_core=frozenset({"audit"}),
    label="Manual override",
)
