"""Custom ledger rules (billing-api.md §5.3, §6.6, §7.3). Never commits: the request or job owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO

from pydantic.alias_generators import to_camel
from sqlalchemy.orm import Session

from billing.attachments.service import CUSTOM_LEDGER as CUSTOM_LEDGER_PARENT
from billing.attachments.service import AttachmentService
from billing.attachments.storage import AttachmentStorage
from billing.auth.principal import Principal
from billing.custom_ledgers.lifecycle import LABEL, TRANSITIONS
from billing.custom_ledgers.repository import STATUSES, CustomLedgerRepository
from billing.custom_ledgers.schemas import CustomLedgerCreate, CustomLedgerUpdate
from billing.db.models import CustomLedger
from billing.errors import Conflict, InvalidStatus, NotFound, ValidationFailed
from billing.jobs.repository import WorkRepository
from billing.kit.audit import created, with_events
from billing.kit.timeutil import utcnow
from billing.reference.repository import ReferenceRepository
from billing.reference.users import operations_user
from billing.statements.queueing import queue_generated
from billing.statements.repository import StatementRepository

VALIDATE_JOB = "custom_ledger.validate"
GENERATE_JOB = "custom_ledger.generate"
#: Fields that may change only in some statuses (§6.6); the rest are editable in every status but Deleted.
DATES_EDITABLE = ("Draft", "Validated", "Error")
CURRENCY_EDITABLE = ("Draft",)


class CustomLedgerService:
    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.ledgers = CustomLedgerRepository(session)
        self.references = ReferenceRepository(session)

    def get(self, ledger_id: str, *, for_update: bool = False) -> CustomLedger:
        ledger = self.ledgers.get(ledger_id, for_update=for_update)
        if ledger is None:
            raise NotFound.object(LABEL, ledger_id)
        return ledger

    def create(self, data: CustomLedgerCreate) -> CustomLedger:
        seller_id = data.seller.id.strip().upper()
        if self.references.get_doc("sellers", seller_id) is None:
            raise ValidationFailed.one("seller.id", f"Seller '{seller_id}' was not found.")
        vendor_id = data.vendor.id.strip().upper()
        account = self.references.get_doc("accounts", vendor_id)
        if account is None or account.get("type") != "Vendor":
            raise ValidationFailed.one("vendor.id", f"Vendor account '{vendor_id}' was not found.")
        _check_period(data.billing_start_date, data.billing_end_date)
        currency = data.price.currency if data.price else None
        external = data.external_ids
        now = utcnow()
        return self.ledgers.add(
            name=data.name,
            description=data.description,
            notes=data.notes,
            external_vendor=external.vendor if external else None,
            external_operations=external.operations if external else None,
            status="Draft",
            seller_id=seller_id,
            vendor_id=vendor_id,
            billing_start_date=data.billing_start_date,
            billing_end_date=data.billing_end_date,
            assignee=operations_user(self.session, data.assignee.id) if data.assignee else None,
            currency_purchase=currency.purchase.upper() if currency and currency.purchase else None,
            currency_sale=currency.sale.upper() if currency and currency.sale else None,
            total_pp=0,
            audit=created(self.principal.actor, now, "draft"),
            created_at=now,
            updated_at=now,
        )

    def update(self, ledger: CustomLedger, data: CustomLedgerUpdate) -> CustomLedger:
        """Editable in every status but Deleted; dates only in Draft/Validated/Error, currencies only in Draft."""
        fields = data.model_fields_set
        if ledger.status == "Deleted":
            raise InvalidStatus(LABEL, ledger.id, ledger.status, "update", [s for s in STATUSES if s != "Deleted"])
        if fields & {"billing_start_date", "billing_end_date"} and ledger.status not in DATES_EDITABLE:
            raise InvalidStatus(LABEL, ledger.id, ledger.status, "change the billing dates", DATES_EDITABLE)
        currency = data.price.currency if data.price and "currency" in data.price.model_fields_set else None
        if currency is not None and currency.model_fields_set and ledger.status not in CURRENCY_EDITABLE:
            raise InvalidStatus(LABEL, ledger.id, ledger.status, "change the currencies", CURRENCY_EDITABLE)
        for name in fields & {"name", "description", "notes", "billing_start_date", "billing_end_date"}:
            value = getattr(data, name)
            if name in ("name", "billing_start_date", "billing_end_date") and value is None:
                raise ValidationFailed.one(to_camel(name), "The property cannot be null.")
            setattr(ledger, name, value)
        _check_period(ledger.billing_start_date, ledger.billing_end_date)
        if "external_ids" in fields and data.external_ids is not None:
            for member in data.external_ids.model_fields_set:
                setattr(ledger, f"external_{member}", getattr(data.external_ids, member))
        if currency is not None:
            for member in currency.model_fields_set:
                value = getattr(currency, member)
                setattr(ledger, f"currency_{member}", value.upper() if value else None)
        if "assignee" in fields:
            ledger.assignee = operations_user(self.session, data.assignee.id if data.assignee else None)
        if fields:
            now = utcnow()
            ledger.audit = with_events(ledger.audit, [], self.principal.actor, now)
            ledger.updated_at = now
        return ledger

    def delete(self, ledger_id: str) -> CustomLedger:
        ledger = self.get(ledger_id, for_update=True)
        TRANSITIONS.apply(ledger, "delete", self.principal.actor, utcnow())
        return ledger

    def upload(
        self, ledger_id: str, *, stream: BinaryIO, filename: str | None, limit: int, storage: AttachmentStorage
    ) -> CustomLedger:
        """Keep the workbook as the ``Input`` attachment, enter ``Validating`` and queue the validation (§8.7)."""
        ledger = self.get(ledger_id, for_update=True)
        TRANSITIONS.check(ledger, "upload")
        attachment = AttachmentService(self.session, self.principal, storage).add_file(
            CUSTOM_LEDGER_PARENT,
            ledger.id,
            stream=stream,
            filename=filename or "sales-documents.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            type="Input",
            limit=limit,
        )
        TRANSITIONS.apply(ledger, "upload", self.principal.actor, utcnow())
        ledger.input_attachment_id = attachment.id
        ledger.error = None
        self.ledgers.delete_charges(ledger.id)  # replaced, all at once, when the validation ends
        WorkRepository(self.session).enqueue(VALIDATE_JOB, ledger.id, {"attachment_id": attachment.id})
        return ledger

    def accept(self, ledger_id: str) -> CustomLedger:
        """Validated → Generating; the Manual statements are generated in the background."""
        ledger = self.get(ledger_id, for_update=True)
        TRANSITIONS.check(ledger, "accept")
        if ledger.upload_total == 0 or ledger.upload_error > 0:
            raise Conflict(
                f"Custom ledger {ledger.id} has {ledger.upload_error} of {ledger.upload_total} rows in error; "
                "'accept' requires rows and none in error."
            )
        TRANSITIONS.apply(ledger, "accept", self.principal.actor, utcnow())
        WorkRepository(self.session).enqueue(GENERATE_JOB, ledger.id)
        return ledger

    def queue(self, ledger_id: str) -> CustomLedger:
        """Generated → Queued; its statements in Generated → Queued, each with its outbox row."""
        ledger = self.get(ledger_id, for_update=True)
        now = utcnow()
        TRANSITIONS.apply(ledger, "queue", self.principal.actor, now)
        queue_generated(
            self.session, StatementRepository(self.session).of_custom_ledger(ledger.id), self.principal.actor, now
        )
        return ledger


def _check_period(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValidationFailed.one("billingEndDate", "'billingEndDate' must not be before 'billingStartDate'.")
