"""Posted documents and statements made directly in the database for invoice and credit memo tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.db.engine import Database
from billing.db.models import ErpBalance, ErpOutbox, Statement
from billing.kit.timeutil import utcnow
from billing.posted_documents.data import DocType, PostedDocumentData, PostedLineData, UpsertResult
from billing.posted_documents.upsert import upsert_posted

US_SELLER = "SEL-9929-6679"
#: Demo agreements (billing.reference.demo): the demo client's and the second client's, both sold in the US.
CLIENT_AGREEMENT = {
    "agreement_id": "AGR-5010-9701-4062",
    "client_id": "ACC-8119-0187",
    "buyer_id": "BUY-1139-6433",
    "seller_id": US_SELLER,
    "product_id": "PRD-1986-0860",
    "vendor_id": "ACC-3102-8586",
    "licensee_id": "LCE-9764-1533-6833",
}
CLIENT2_AGREEMENT = {
    "agreement_id": "AGR-6723-1961-2202",
    "client_id": "ACC-8119-0203",
    "buyer_id": "BUY-4855-0596",
    "seller_id": US_SELLER,
    "product_id": "PRD-1986-0860",
    "vendor_id": "ACC-3102-8586",
    "licensee_id": "LCE-3615-1596-0886",
}


def address(prefix: str) -> dict[str, Any]:
    return {
        "name": f"{prefix} name",
        "name2": "",
        "email": f"{prefix.lower()}@example.com",
        "customerNo": "US-SCU-100001",
        "addressLine1": "1 Main St",
        "addressLine2": "",
        "addressLine3": None,
        "city": "Springfield",
        "postCode": "12345",
        "county": "",
        "country": "US",
        "contactName": "Pat",
        "contactNo": "CT-1",
        "contactEmail": "",
        "contactPhone": "",
        "code": "",
    }


def line(line_no: int, *, item: str = "CS01.00001.MP", amount: str = "50", **price: Any) -> PostedLineData:
    return PostedLineData(
        line_no=line_no,
        document_no=None,
        item_no=item,
        description=f"Line {line_no}",
        description2=None,
        period_start=datetime(2025, 5, 1),
        period_end=datetime(2025, 5, 31),
        quantity=Decimal(1),
        unit_price=Decimal(amount),
        amount=Decimal(amount),
        erp_data={"type": 2, "unitOfMeasure": "EA", "contractNo": "CON-000001", "rowVersion": 10 + line_no},
        price={
            "amountIncludingVat": Decimal(amount),
            "lineAmount": Decimal(amount),
            "vatPercent": Decimal(0),
            "purchasePrice": Decimal("40"),
            "purchasePriceTotal": Decimal("40"),
            "purchaseCurrencyCode": "USD",
            "salesMarkup": Decimal("25"),
            "salesMargin": Decimal("20"),
            **price,
        },
    )


def posted(
    doc_type: DocType = "invoice",
    document_no: str = "US-SIN-1001",
    *,
    external: str | None = None,
    pre_assigned: str | None = None,
    row_version: int | None = 1,
    balance: str | None = "100",
    due: datetime | None = datetime(2099, 1, 31),
    lines: tuple[PostedLineData, ...] | None = None,
    total: str = "100",
    modified: datetime | None = None,
    applies_to: str | None = None,
    seller_id: str | None = US_SELLER,
) -> PostedDocumentData:
    return PostedDocumentData(
        doc_type=doc_type,
        document_no=document_no,
        erp_id=pre_assigned or document_no,
        external_document_no=external,
        pre_assigned_no=pre_assigned,
        document_date=datetime(2025, 5, 1),
        posting_date=datetime(2025, 5, 1),
        due_date=due if doc_type == "invoice" else None,
        currency="USD",
        total_sp=Decimal(total),
        total_gt=Decimal(total) + Decimal("10"),
        balance_due=None if balance is None else Decimal(balance),
        row_version=row_version,
        erp_modified_at=modified,
        erp_data={
            "addresses": {name: address(name) for name in ("billTo", "licenseTo", "sellTo", "shipTo")},
            "referenceNumber": {"eInvoiceNo": "", "orderNo": "US-SCO-1", "ppqNo": None, "quoteNo": ""},
            "payment": {"methodCode": "BANK", "termsCode": "30DAYS"},
            "yourReference": external,
        },
        price={
            "currencyFactor": Decimal(1),
            "currencyFactor2": Decimal(1),
            "totalPP": Decimal("80"),
            "totalST": Decimal("10"),
            "markup": Decimal("25"),
            "margin": Decimal("20"),
        },
        lines=lines if lines is not None else (line(1), line(2)),
        applies_to_doc_no=applies_to,
        seller_id=seller_id,
    )


def upsert(db: Database, data: PostedDocumentData, *, import_unlinked: bool = False, now=None) -> UpsertResult:
    with db.session_scope() as session:
        return upsert_posted(session, data, import_unlinked=import_unlinked, now=now or utcnow())


def make_statement(
    db: Database,
    statement_id: str = "SOM-1111-2222-5010-9701-4062",
    *,
    type: str = "Debit",
    status: str = "Pending",
    erp_id: str | None = None,
    outbox_no: str | None = None,
    parties: dict[str, str] | None = None,
) -> str:
    now = utcnow()
    with db.session_scope() as session:
        session.add(
            Statement(
                id=statement_id,
                name="Contoso / June",
                type=type,
                billing_type="Automated",
                status=status,
                external_erp_id=erp_id,
                currency_purchase="USD",
                currency_sale="USD",
                total_pp=Decimal(80),
                total_sp=Decimal(100),
                processing={},
                audit={},
                created_at=now,
                updated_at=now,
                **(parties or CLIENT_AGREEMENT),
            )
        )
        if outbox_no is not None:
            session.add(
                ErpOutbox(
                    statement_id=statement_id,
                    doc_type="invoice" if type == "Debit" else "credit_memo",
                    state="pending",
                    claims=1,
                    erp_document_no=outbox_no,
                    next_attempt_at=now,
                    queued_at=now,
                    updated_at=now,
                )
            )
    return statement_id


def observe_balance(db: Database, doc_type: str, document_no: str, remaining: str) -> None:
    with db.session_scope() as session:
        session.merge(
            ErpBalance(
                doc_type=doc_type,
                document_no=document_no,
                entry_no=1,
                remaining=Decimal(remaining),
                open=Decimal(remaining) != 0,
                observed_at=utcnow(),
            )
        )
