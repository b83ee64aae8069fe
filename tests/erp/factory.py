"""Queued statements made directly in the database (with their charges and outbox rows), many at once, for the
chaos and benchmark runs where uploading and rating journals first would only cost time."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.db.bulk import insert_rows
from billing.db.engine import Database
from billing.db.models import Charge, ErpOutbox, Statement
from billing.kit.ids import digits_of
from billing.kit.timeutil import utcnow
from billing.reference.demo import build_demo_dataset

_CHARGE_COLUMNS = tuple(Charge.__table__.columns.keys())


def pushable_agreements(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """Agreements whose buyer and licensee have ERP customers for the agreement's seller."""
    parties = {party["id"]: party for party in [*dataset["buyers"], *dataset["licensees"]]}

    def mapped(party_id: str | None, seller: str) -> bool:
        party = parties.get(party_id or "")
        return bool(party and any(e.get("seller") == seller for e in party.get("erpCustomers") or ()))

    return [
        a
        for a in dataset["agreements"]
        if mapped(a.get("buyer"), a["seller"]) and mapped(a.get("licensee"), a["seller"])
    ]


def make_queued_statements(
    database: Database, count: int, *, charges: tuple[int, int] = (1, 3), seed: int = 7, prefix: int = 9000
) -> list[str]:
    """``count`` Queued statements (Debit and Credit alternating, two currencies where the data has them) with
    their charges and outbox rows; returns their ids."""
    dataset = build_demo_dataset()
    agreements = pushable_agreements(dataset)
    items_by_product: dict[str, list[str]] = {}
    for item in dataset["items"]:
        items_by_product.setdefault(item["product"], []).append(item["id"])
    rng = random.Random(seed)
    now = utcnow()
    ids: list[str] = []
    charge_rows: list[dict[str, Any]] = []
    with database.session_scope() as session:
        for number in range(count):
            agreement = agreements[number % len(agreements)]
            journal_id = f"BJO-{prefix + number // 10000:04d}-{number % 10000:04d}"  # one journal per statement
            statement_id = f"SOM-{digits_of(journal_id)}-{digits_of(agreement['id'])}"
            kind = "Debit" if number % 2 == 0 else "Credit"
            sign = 1 if kind == "Debit" else -1
            currency = agreement.get("currency") or "USD"
            total_sp = total_pp = Decimal(0)
            for line in range(1, rng.randint(*charges) + 1):
                quantity = Decimal(rng.randint(1, 9)) * sign
                unit_pp = Decimal(rng.randint(100, 5000)) / 100
                unit_sp = unit_pp * Decimal("1.1")
                row = dict.fromkeys(_CHARGE_COLUMNS) | {
                    "id": f"CHG-{statement_id[4:13]}-{number:08d}-{line:04d}"[:32],
                    "journal_id": journal_id,
                    "statement_id": statement_id,
                    "line": line,
                    "child": 0,
                    "seq": line * 100,
                    "quantity": quantity,
                    "unit_pp": unit_pp,
                    "ppx1": unit_pp * quantity,
                    "unit_sp": unit_sp,
                    "spx1": unit_sp * quantity,
                    "currency_purchase": currency,
                    "currency_sale": currency,
                    "description1": f"Charge {line}",
                    "billing_type": "Automated",
                    "upload_status": "Ready",
                    "processing_status": "Ready",
                    "vendor_id": agreement["vendor"],
                    "seller_id": agreement["seller"],
                    "client_id": agreement["client"],
                    "buyer_id": agreement["buyer"],
                    "licensee_id": agreement.get("licensee"),
                    "agreement_id": agreement["id"],
                    "product_id": agreement["product"],
                    "item_id": rng.choice(items_by_product[agreement["product"]]),
                    "period_start": datetime(2025, 6, 1),
                    "period_end": datetime(2025, 6, 30),
                    "created_at": now,
                    "updated_at": now,
                }
                charge_rows.append(row)
                total_sp += row["spx1"]
                total_pp += row["ppx1"]
            session.add(
                Statement(
                    id=statement_id,
                    name=f"Chaos {number}",
                    type=kind,
                    billing_type="Automated",
                    status="Queued",
                    journal_id=journal_id,
                    client_id=agreement["client"],
                    vendor_id=agreement["vendor"],
                    buyer_id=agreement["buyer"],
                    seller_id=agreement["seller"],
                    licensee_id=agreement.get("licensee"),
                    product_id=agreement["product"],
                    agreement_id=agreement["id"],
                    currency_purchase=currency,
                    currency_sale=currency,
                    total_pp=total_pp,
                    total_sp=total_sp,
                    processing={},
                    audit={},
                    queued_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.add(
                ErpOutbox(
                    statement_id=statement_id,
                    doc_type="invoice" if kind == "Debit" else "credit_memo",
                    next_attempt_at=now,
                    queued_at=now,
                    updated_at=now,
                )
            )
            ids.append(statement_id)
        session.flush()
        insert_rows(session, Charge.__table__, charge_rows)  # type: ignore[arg-type]
    return ids
