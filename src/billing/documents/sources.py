"""Document views from stored rows, and the checksum that decides whether a document must be rendered again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import astuple
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billing.documents.repository import DocumentRepository
from billing.documents.views import ChargeLine, DocumentLine, Party, PostedDocumentView, StatementView
from billing.kit.money import to_decimal
from billing.reference.repository import ReferenceRepository

ZERO = Decimal(0)


def _day(value: datetime | date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def _address_lines(address: Mapping[str, Any] | None) -> tuple[str, ...]:
    if not address:
        return ()
    lines = [address.get(key) for key in ("addressLine1", "addressLine2", "addressLine3")]
    place = " ".join(part for part in (address.get("postCode"), address.get("city")) if part)
    lines += [place, address.get("county"), address.get("country")]
    return tuple(line for line in lines if line)


def _erp_party(address: Mapping[str, Any] | None) -> Party | None:
    if not address or not (address.get("name") or address.get("addressLine1")):
        return None
    name = " ".join(part for part in (address.get("name"), address.get("name2")) if part)
    return Party(name=name, lines=_address_lines(address), reference=address.get("customerNo"))


def _reference_party(doc: Mapping[str, Any] | None, fallback_id: str | None) -> Party:
    if doc is None:
        return Party(name=fallback_id or "", reference=fallback_id)
    return Party(
        name=doc.get("name") or doc.get("id", ""), lines=_address_lines(doc.get("address")), reference=doc.get("id")
    )


def posted_document_view(session: Session, parent_type: str, document_id: str) -> PostedDocumentView | None:
    repository = DocumentRepository(session)
    document = repository.posted_document(parent_type, document_id)
    if document is None:
        return None
    references = ReferenceRepository(session)
    addresses = (document.erp_data or {}).get("addresses") or {}
    lines = tuple(
        DocumentLine(
            number=position,  # NAV numbers lines 10000, 20000, …: print 1, 2, …
            description=" ".join(part for part in (line.description, line.description2) if part) or line.item_no or "",
            quantity=line.quantity if line.quantity is not None else ZERO,
            unit_price=line.unit_price if line.unit_price is not None else ZERO,
            amount=line.amount if line.amount is not None else ZERO,
            item=line.item_no,
            tax_percent=_optional_decimal((line.erp_data or {}).get("vatPercent")),
            period=_period(line.period_start, line.period_end),
        )
        for position, line in enumerate(repository.posted_lines(parent_type, document_id), start=1)
    )
    net, gross = document.total_sp or ZERO, document.total_gt or ZERO
    payment = (document.erp_data or {}).get("payment") or {}
    return PostedDocumentView(
        kind=parent_type,
        id=document.id,
        number=document.document_no,
        status=document.status,
        currency=document.currency,
        seller=_reference_party(references.get_doc("sellers", document.seller_id), document.seller_id),
        bill_to=_erp_party(addresses.get("billTo")) or Party(name=document.client_id or ""),
        sell_to=_erp_party(addresses.get("sellTo")),
        ship_to=_erp_party(addresses.get("shipTo")),
        document_date=_day(document.document_date),
        due_date=_day(getattr(document, "due_date", None)),
        net=net,
        tax=gross - net,
        gross=gross,
        balance_due=document.balance_due,
        lines=lines,
        statement_id=document.statement_id,
        agreement_id=document.agreement_id,
        external_document_no=(document.erp_data or {}).get("externalDocumentNo") or document.statement_id,
        payment_terms=payment.get("termsCode"),
        applies_to=getattr(document, "applies_to_doc_no", None),
    )


def statement_view(session: Session, statement_id: str) -> StatementView | None:
    repository = DocumentRepository(session)
    statement = repository.statement(statement_id)
    if statement is None:
        return None
    references = ReferenceRepository(session)
    agreement = references.get_doc("agreements", statement.agreement_id) or {}
    vendor = references.get_doc("accounts", statement.vendor_id) or {}
    product = references.get_doc("products", statement.product_id) or {}
    digest = repository.charge_digest(statement_id)

    def charges() -> Iterator[ChargeLine]:
        for row in repository.charges(statement_id):
            yield ChargeLine(
                id=row.id,
                description=" ".join(part for part in (row.description1, row.description2) if part),
                period_start=row.period_start,
                period_end=row.period_end,
                quantity=row.quantity if row.quantity is not None else ZERO,
                unit_price=row.unit_sp,
                amount=row.spx1 if row.spx1 is not None else ZERO,
                item=row.item_id,
                subscription=row.subscription_id,
            )

    return StatementView(
        id=statement.id,
        name=statement.name,
        type=statement.type,
        billing_type=statement.billing_type,
        status=statement.status,
        currency=statement.currency_sale,
        seller=_reference_party(references.get_doc("sellers", statement.seller_id), statement.seller_id),
        client=_reference_party(references.get_doc("buyers", statement.buyer_id), statement.buyer_id),
        agreement=statement.agreement_id,
        agreement_name=agreement.get("name"),
        vendor=vendor.get("name"),
        product=product.get("name"),
        period_start=digest.start,
        period_end=digest.end,
        total=digest.total if statement.total_sp is None else statement.total_sp,
        total_tax=statement.total_st,
        total_gross=statement.total_gt,
        charge_count=digest.charges,
        charges_digest=tuple(digest),
        charges=charges,
        document_no=statement.invoice_id or statement.credit_memo_id,
    )


def checksum_of(template_version: str, kind: str, inputs: object) -> str:
    return hashlib.sha256(f"{template_version}\0{kind}\0{inputs!r}".encode()).hexdigest()


def checksum(template_version: str, kind: str, view: PostedDocumentView | StatementView) -> str:
    """sha256 of (template version, output kind, inputs). A statement's charges count by their digest (count, sale
    total, newest change), not row by row: a statement can hold millions of charges."""
    if isinstance(view, StatementView):
        fields = [getattr(view, name) for name in view.__dataclass_fields__ if name != "charges"]
        return checksum_of(template_version, kind, fields)
    return checksum_of(template_version, kind, astuple(view))


def _period(start: datetime | None, end: datetime | None) -> str | None:
    if start is None and end is None:
        return None
    return f"{_day(start) or ''} – {_day(end) or ''}"


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)
