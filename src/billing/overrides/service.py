"""Rules for manual overrides. Never commits: the request or job owns the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.auth.principal import Principal
from billing.db.models import ManualOverride
from billing.errors import NotFound, ValidationFailed
from billing.kit.audit import created, with_events
from billing.kit.lifecycle import Transition, TransitionTable
from billing.kit.timeutil import utcnow
from billing.overrides.errors import DuplicateOverride
from billing.overrides.repository import OverrideRepository
from billing.overrides.schemas import OverrideCreate, OverrideUpdate
from billing.reference.repository import ReferenceRepository

LABEL = "Manual override"
TRANSITIONS = TransitionTable(
    LABEL,
    [Transition("disable", ("Active",), "Disabled"), Transition("enable", ("Disabled",), "Active")],
)


class OverrideService:
    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.repository = OverrideRepository(session)
        self.references = ReferenceRepository(session)

    def get(self, override_id: str, *, for_update: bool = False) -> ManualOverride:
        override = self.repository.get(override_id, for_update=for_update)
        if override is None:
            raise NotFound.object(LABEL, override_id)
        return override

    def create(self, data: OverrideCreate) -> ManualOverride:
        client_id, vendor_id = data.client.id.strip().upper(), data.vendor.id.strip().upper()
        errors: dict[str, list[str]] = {}
        for path, account_id, expected in (
            ("client.id", client_id, "Client"),
            ("vendor.id", vendor_id, "Vendor"),
        ):
            account = self.references.get_doc("accounts", account_id)
            if account is None:
                errors[path] = [f"Account '{account_id}' was not found."]
            elif account.get("type") != expected:
                errors[path] = [f"Account '{account_id}' is a {account.get('type')} account; expected {expected}."]
        if errors:
            raise ValidationFailed(errors)
        existing = self.repository.for_pair(client_id, vendor_id)
        if existing is not None:
            raise DuplicateOverride(existing.id, client_id, vendor_id, existing.status)
        now = utcnow()
        try:
            return self.repository.add(
                name=data.name,
                notes=data.notes,
                external_id=data.external_id,
                client_id=client_id,
                vendor_id=vendor_id,
                status="Active",
                audit=created(self.principal.actor, now, "active"),
                created_at=now,
                updated_at=now,
            )
        except IntegrityError:  # a concurrent create of the same pair won
            winner = self.repository.for_pair(client_id, vendor_id)
            raise DuplicateOverride(winner.id if winner else "?", client_id, vendor_id, "Active") from None

    def update(self, override: ManualOverride, data: OverrideUpdate) -> ManualOverride:
        changes: dict[str, Any] = {name: getattr(data, name) for name in data.model_fields_set}
        for name, value in changes.items():
            setattr(override, name, value)
        if changes:
            now = utcnow()
            override.audit = with_events(override.audit, [], self.principal.actor, now)
            override.updated_at = now
        return override

    def act(self, override_id: str, action: str, data: OverrideUpdate | None) -> ManualOverride:
        """An action with an optional body: the body is applied as a PUT first, atomically (§3.8)."""
        override = self.get(override_id, for_update=True)
        TRANSITIONS.check(override, action)
        if data is not None:
            self.update(override, data)
        TRANSITIONS.apply(override, action, self.principal.actor, utcnow())
        return override
