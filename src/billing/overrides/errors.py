from __future__ import annotations

from billing.errors import Conflict


class DuplicateOverride(Conflict):
    def __init__(self, existing_id: str, client_id: str, vendor_id: str, status: str) -> None:
        super().__init__(
            f"Manual override {existing_id} ({status}) already exists for client {client_id} and vendor {vendor_id}.",
            path="client.id",
        )
