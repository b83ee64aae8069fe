"""List pages reuse encoded items (`billing.api.views.ITEMS`, keyed by everything an item is made of): the bytes
are those of a fresh render, and every kind of write shows on the next page, however it was written."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from billing.api.views import ITEMS
from billing.db.models import Invoice, InvoiceLine, ReferenceObject
from billing.posted_documents.lifecycle import apply_balance, mark_overdue
from invoices.factory import CLIENT_AGREEMENT, US_SELLER, make_statement, posted, upsert

STATEMENT = "SOM-1111-2222-5010-9701-4062"
QUERIES = (
    "/invoices",
    "/invoices?order=-erpData.dueDate&limit=2",
    "/invoices?select=-lines,erpData.addresses.billTo.name",
    "/invoices?select=-*,price,lines.price",
    "/invoices?eq(status,Issued)&offset=1",
)


@pytest.fixture
def invoices(db, demo_world) -> dict[str, str]:
    make_statement(db, STATEMENT)
    return {
        "own": upsert(db, posted(external=STATEMENT)).document_id,
        "paid": upsert(db, posted(document_no="US-SIN-2001", balance="0"), import_unlinked=True).document_id,
        "unlinked": upsert(db, posted(document_no="US-SIN-3001"), import_unlinked=True).document_id,
    }


@pytest.fixture(autouse=True)
def empty_cache():
    ITEMS.clear()
    yield
    ITEMS.clear()


def fresh(api, path: str, headers: dict[str, str]) -> bytes:
    """The page rendered from scratch (no cached item)."""
    ITEMS.clear()
    response = api.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def warm(api, path: str, headers: dict[str, str]) -> bytes:
    """The page twice: the second time every item comes from the cache (nothing new is encoded)."""
    first = api.get(path, headers=headers)
    assert first.status_code == 200, first.text
    entries = len(ITEMS)
    second = api.get(path, headers=headers)
    assert len(ITEMS) == entries, "a cached page rendered again"
    assert second.content == first.content
    return second.content


def listed(api, headers: dict[str, str], document_id: str, path: str = "/invoices") -> dict[str, Any]:
    """The page after a write, with the cache still holding the items from before it: byte-identical to a
    fresh render; returns the document as it shows it."""
    response = api.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.content == fresh(api, path, headers)
    return next(item for item in response.json()["data"] if item["id"] == document_id)


class TestSameBytes:
    @pytest.mark.parametrize("path", QUERIES)
    def test_a_cached_page_is_byte_identical_to_a_fresh_one(self, api, ops, client, invoices, path):
        for headers in (ops, client):
            first = fresh(api, path, headers)
            assert len(ITEMS) > 0 or b'"data":[]' in first
            assert warm(api, path, headers) == first

    def test_roles_and_projections_never_share_items(self, api, ops, client, invoices):
        api.get("/invoices", headers=ops)
        api.get("/invoices?select=-lines", headers=ops)
        body = api.get("/invoices", headers=client).json()
        assert [item["id"] for item in body["data"]] == [invoices["own"]]
        assert "purchasePrice" not in body["data"][0]["lines"][0]["price"]
        assert "totalPP" not in body["data"][0]["price"]
        assert "lines" in body["data"][0]
        assert "lines" not in api.get("/invoices?select=-lines", headers=client).json()["data"][0]

    def test_a_single_invoice_and_exports_are_unchanged(self, api, ops, invoices):
        single = api.get(f"/invoices/{invoices['own']}", headers=ops).json()
        api.get("/invoices", headers=ops)
        page = listed(api, ops, invoices["own"])
        assert {key: value for key, value in single.items() if key != "$meta"} == {
            key: value for key, value in page.items() if key != "$meta"
        }
        exported = api.get("/invoices", headers={**ops, "Accept": "application/jsonl"})
        assert exported.status_code == 200
        assert len(exported.text.splitlines()) == 3


class TestEveryWriteShows:
    """Each write is followed by a page from the warm cache, compared with a fresh render and checked for the
    change: the item cache keys on what was read, so no write path has to remember to invalidate it."""

    def test_put_of_erp_data_price_and_lines(self, api, ops, invoices):
        warm(api, "/invoices", ops)
        body = {
            "erpData": {"payment": {"methodCode": "CARD"}},
            "price": {"totalST": 12},
            "lines": [{"lineNo": 2, "description": "Changed", "price": {"amount": 70}}],
        }
        assert api.put(f"/invoices/{invoices['own']}", headers=ops, json=body).status_code == 200
        item = listed(api, ops, invoices["own"])
        assert item["erpData"]["payment"]["methodCode"] == "CARD"
        assert item["price"]["totalST"] == 12
        assert [(line["lineNo"], line["description"]) for line in item["lines"]] == [(2, "Changed")]

    def test_upsert_of_a_newer_erp_version(self, api, ops, invoices):
        warm(api, "/invoices", ops)
        upsert(db_of(api), posted(external=STATEMENT, row_version=2, total="120"))
        assert listed(api, ops, invoices["own"])["price"]["totalSP"] == 120

    def test_balance_observation_and_status(self, api, ops, invoices):
        warm(api, "/invoices", ops)
        with db_of(api).session_scope() as session:
            apply_balance(session, "invoice", "US-SIN-1001", Decimal(0), datetime(2025, 6, 1))
        item = listed(api, ops, invoices["own"])
        assert item["status"] == "Paid" and item["erpData"]["balanceDue"] == 0 and "paid" in item["audit"]

    def test_overdue_job(self, api, ops, invoices):
        with db_of(api).session_scope() as session:
            session.execute(update(Invoice).values(due_date=datetime(2025, 1, 1)))
        warm(api, "/invoices?eq(status,Issued)", ops)
        with db_of(api).session_scope() as session:
            assert mark_overdue(session, date(2025, 6, 1), datetime(2025, 6, 1)) == 2
        assert listed(api, ops, invoices["own"])["status"] == "Overdue"

    def test_a_line_written_behind_the_documents_back(self, api, ops, invoices):
        """A bulk path (SQL straight into the line table, no ``updated_at`` on the document) shows too."""
        warm(api, "/invoices", ops)
        with db_of(api).session_scope() as session:
            session.execute(
                update(InvoiceLine)
                .where(InvoiceLine.invoice_id == invoices["own"], InvoiceLine.line_no == 1)
                .values(description="Rewritten", price={"purchasePrice": Decimal("41.5")})
            )
        line = listed(api, ops, invoices["own"])["lines"][0]
        assert line["description"] == "Rewritten" and line["price"]["purchasePrice"] == 41.5

    def test_a_line_removed_and_the_document_row_rewritten_in_place(self, api, ops, invoices):
        warm(api, "/invoices", ops)
        with db_of(api).session_scope() as session:
            session.execute(
                update(Invoice).where(Invoice.id == invoices["own"]).values(erp_data={"yourReference": "X"})
            )
            session.execute(
                InvoiceLine.__table__.delete().where(
                    InvoiceLine.invoice_id == invoices["own"], InvoiceLine.line_no == 2
                )
            )
        item = listed(api, ops, invoices["own"])
        assert item["erpData"]["yourReference"] == "X" and item["erpData"]["addresses"]["billTo"]["name"] is None
        assert [line["lineNo"] for line in item["lines"]] == [1]

    def test_statement_link(self, api, ops, invoices):
        warm(api, "/invoices", ops)
        with db_of(api).session_scope() as session:
            session.execute(update(Invoice).where(Invoice.id == invoices["unlinked"]).values(statement_id=STATEMENT))
        assert listed(api, ops, invoices["unlinked"])["statement"] == {"id": STATEMENT}

    @pytest.mark.parametrize(
        ("entity", "object_id", "member", "check"),
        [
            ("accounts", CLIENT_AGREEMENT["client_id"], "name", lambda item: item["client"]["name"]),
            ("accounts", CLIENT_AGREEMENT["vendor_id"], "icon", lambda item: item["vendor"]["icon"]),
            ("agreements", CLIENT_AGREEMENT["agreement_id"], "name", lambda item: item["agreement"]["name"]),
            ("products", CLIENT_AGREEMENT["product_id"], "name", lambda item: item["product"]["name"]),
            ("sellers", US_SELLER, "name", lambda item: item["seller"]["name"]),
            ("sellers", US_SELLER, "erpLink", lambda item: item["seller"]["erpLink"]),
        ],
    )
    def test_reference_objects_the_item_quotes(self, api, ops, invoices, entity, object_id, member, check):
        warm(api, "/invoices", ops)
        database = db_of(api)
        with database.session_scope() as session:
            doc = session.execute(
                select(ReferenceObject.doc).where(ReferenceObject.entity == entity, ReferenceObject.id == object_id)
            ).scalar_one()
            session.execute(
                update(ReferenceObject)
                .where(ReferenceObject.entity == entity, ReferenceObject.id == object_id)
                .values(doc={**doc, member: "Renamed"})
            )
        assert check(listed(api, ops, invoices["own"])) == "Renamed"

    def test_a_referenced_object_that_disappears(self, api, ops, invoices):
        warm(api, "/invoices", ops)
        with db_of(api).session_scope() as session:
            session.execute(
                ReferenceObject.__table__.delete().where(
                    ReferenceObject.entity == "licensees", ReferenceObject.id == CLIENT_AGREEMENT["licensee_id"]
                )
            )
        licensee = listed(api, ops, invoices["own"])["licensee"]
        assert licensee == {"id": CLIENT_AGREEMENT["licensee_id"], "name": "", "icon": "", "externalId": None}


def db_of(api):  # type: ignore[no-untyped-def]
    return api.app.state.database
