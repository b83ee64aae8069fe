"""``GET /reports/reconciliation``: statements against posted ERP documents (service extension, Operations only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.kit.timeutil import utcnow
from reports.factory import delete_credit_memo, make_statement, post_document

URL = "/reports/reconciliation"
PROBLEM = "application/problem+json"
S1 = "SOM-1111-0001-5010-9701-4062"
S2 = "SOM-1111-0002-5010-9701-4062"
S3 = "SOM-1111-0003-5010-9701-4062"


def report(api: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = api.get(URL, headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def summary(body: dict[str, Any]) -> dict[str, Any]:
    return body["summary"]


class TestClean:
    def test_empty_database_is_clean(self, api, ops):
        body = report(api, ops)
        assert summary(body) == {
            "statementsCompared": 0,
            "totalMismatches": 0,
            "unlinkedDocuments": 0,
            "issuedNotPosted": 0,
            "clean": True,
        }
        assert body["totalMismatches"] == body["unlinkedDocuments"] == body["issuedNotPosted"] == []
        assert body["period"] == {"from": None, "to": None}
        assert body["limit"] == 100 and body["tolerance"] == {"perLine": 0.01, "minimum": 0.01}

    def test_statements_matching_their_documents_are_clean(self, api, ops, db):
        make_statement(db, S1, total="100")
        post_document(db, "US-SIN-1001", statement_id=S1, amounts=("50", "50"))
        make_statement(db, S2, type="Credit", total="-40.5")
        post_document(db, "US-SCM-1001", doc_type="credit_memo", statement_id=S2, amounts=("40.5",))
        body = report(api, ops)
        assert summary(body)["statementsCompared"] == 2
        assert summary(body)["clean"] is True
        assert body["totalMismatches"] == []


class TestTotals:
    def test_invoice_total_beyond_rounding_is_listed(self, api, ops, db):
        make_statement(db, S1, total="100")
        invoice_id = post_document(db, "US-SIN-1001", statement_id=S1, amounts=("50", "50.03"))
        body = report(api, ops)
        assert summary(body)["totalMismatches"] == 1 and summary(body)["clean"] is False
        assert body["totalMismatches"] == [
            {
                "statement": {"id": S1, "type": "Debit", "status": "Issued", "totalSP": 100},
                "document": {
                    "id": invoice_id,
                    "type": "invoice",
                    "documentNo": "US-SIN-1001",
                    "status": "Issued",
                    "totalSP": 100.03,
                    "lines": 2,
                },
                "currency": "USD",
                "difference": -0.03,
                "tolerance": 0.02,
            }
        ]

    @pytest.mark.parametrize(
        ("total", "amounts"),
        [
            ("100", ("50", "50.02")),  # 0.01 per line, two lines: exactly the tolerance
            ("100.02", ("50", "50")),  # the statement higher, same tolerance
            ("100", ("100.01",)),  # one line
            ("100", ("33.333333", "33.333333", "33.333333")),  # 0.000001 off over three lines
        ],
    )
    def test_difference_within_rounding_is_not_reported(self, api, ops, db, total, amounts):
        make_statement(db, S1, total=total)
        post_document(db, "US-SIN-1001", statement_id=S1, amounts=amounts)
        body = report(api, ops)
        assert summary(body)["statementsCompared"] == 1
        assert summary(body)["totalMismatches"] == 0 and body["totalMismatches"] == []
        assert summary(body)["clean"] is True

    def test_tolerance_grows_with_the_lines_and_is_at_least_one_cent(self, api, ops, db):
        make_statement(db, S1, total="100")
        post_document(db, "US-SIN-1001", statement_id=S1, amounts=("100.010001",))  # one line: just beyond
        make_statement(db, S2, total="100")
        post_document(db, "US-SIN-1002", statement_id=S2, amounts=("25", "25", "25", "25.04"))  # 0.04 ≤ 4 × 0.01
        make_statement(db, S3, total="0")
        post_document(db, "US-SIN-1003", statement_id=S3, amounts=())  # no lines: 0.01 still applies
        body = report(api, ops)
        assert [row["statement"]["id"] for row in body["totalMismatches"]] == [S1]
        assert body["totalMismatches"][0]["tolerance"] == 0.01
        assert body["totalMismatches"][0]["difference"] == -0.010001
        assert summary(body)["statementsCompared"] == 3

    def test_credit_statement_is_compared_by_absolute_value(self, api, ops, db):
        make_statement(db, S1, type="Credit", total="-100")
        post_document(db, "US-SCM-1001", doc_type="credit_memo", statement_id=S1, amounts=("60", "40"))
        make_statement(db, S2, type="Credit", total="-100")
        memo_id = post_document(db, "US-SCM-1002", doc_type="credit_memo", statement_id=S2, amounts=("60", "30"))
        body = report(api, ops)
        assert summary(body)["statementsCompared"] == 2
        assert [row["statement"]["id"] for row in body["totalMismatches"]] == [S2]
        row = body["totalMismatches"][0]
        assert row["statement"] == {"id": S2, "type": "Credit", "status": "Issued", "totalSP": -100}
        assert row["document"]["id"] == memo_id and row["document"]["type"] == "creditMemo"
        assert row["document"]["totalSP"] == 90 and row["difference"] == 10

    def test_largest_differences_come_first_and_limit_bounds_the_rows(self, api, ops, db):
        for number, amount in enumerate(("101", "150", "99.5"), start=1):
            statement_id = f"SOM-1111-000{number}-5010-9701-4062"
            make_statement(db, statement_id, total="100")
            post_document(db, f"US-SIN-100{number}", statement_id=statement_id, amounts=(amount,))
        body = report(api, ops)
        assert [row["difference"] for row in body["totalMismatches"]] == [-50, -1, 0.5]
        limited = report(api, ops, limit=1)
        assert summary(limited)["totalMismatches"] == 3 and limited["limit"] == 1
        assert [row["difference"] for row in limited["totalMismatches"]] == [-50]
        assert report(api, ops, limit=5000)["limit"] == 1000


class TestUnlinkedDocuments:
    def test_invoice_linked_to_no_statement_is_listed(self, api, ops, db):
        make_statement(db, S1, total="100")
        post_document(db, "US-SIN-1001", statement_id=S1)
        invoice_id = post_document(db, "US-SIN-2001", amounts=("70",), posting_date=datetime(2025, 6, 2))
        body = report(api, ops)
        assert summary(body)["unlinkedDocuments"] == 1 and summary(body)["clean"] is False
        assert body["unlinkedDocuments"] == [
            {
                "id": invoice_id,
                "type": "invoice",
                "documentNo": "US-SIN-2001",
                "erpId": "PRE-US-SIN-2001",
                "status": "Issued",
                "postingDate": "2025-06-02T00:00:00.000Z",
                "currency": "USD",
                "totalSP": 70,
                "statement": None,
            }
        ]

    def test_unlinked_credit_memo_is_listed_until_deleted_in_the_erp(self, api, ops, db):
        memo_id = post_document(db, "US-SCM-2001", doc_type="credit_memo", amounts=("10",))
        body = report(api, ops)
        assert [(row["id"], row["type"]) for row in body["unlinkedDocuments"]] == [(memo_id, "creditMemo")]
        delete_credit_memo(db, memo_id)
        assert summary(report(api, ops))["clean"] is True

    def test_period_places_unlinked_documents_by_posting_date(self, api, ops, db):
        post_document(db, "US-SIN-2001", posting_date=datetime(2025, 5, 31, 23))
        post_document(db, "US-SIN-2002", posting_date=datetime(2025, 6, 15))
        body = report(api, ops, **{"from": "2025-06-01", "to": "2025-06-30"})
        assert [row["documentNo"] for row in body["unlinkedDocuments"]] == ["US-SIN-2002"]
        assert body["period"] == {"from": "2025-06-01T00:00:00.000Z", "to": "2025-07-01T00:00:00.000Z"}


class TestIssuedNotPosted:
    def test_issued_statement_without_a_document_is_listed_with_its_age(self, api, ops, db):
        issued = utcnow() - timedelta(days=9, hours=1)
        make_statement(db, S1, status="Issued", erp_id="US-SI-000042", issued_at=issued, total="12.5")
        make_statement(db, S2, status="Issued", erp_id=None)  # no ERP id: not this section's concern
        make_statement(db, S3, status="Queued")
        body = report(api, ops)
        assert summary(body)["issuedNotPosted"] == 1 and summary(body)["clean"] is False
        row = body["issuedNotPosted"][0]
        assert row["id"] == S1 and row["externalIds"] == {"erpId": "US-SI-000042"}
        assert row["type"] == "Debit" and row["totalSP"] == 12.5 and row["currency"] == "USD"
        assert row["ageDays"] == 9 and row["document"] is None
        assert row["queuedAt"] == "2025-06-01T12:00:00.000Z"

    def test_statement_whose_credit_memo_was_deleted_in_the_erp_is_listed(self, api, ops, db):
        make_statement(db, S1, type="Credit", total="-100")
        memo_id = post_document(db, "US-SCM-1001", doc_type="credit_memo", statement_id=S1, amounts=("100",))
        assert summary(report(api, ops))["clean"] is True
        delete_credit_memo(db, memo_id)
        body = report(api, ops)
        assert [row["id"] for row in body["issuedNotPosted"]] == [S1]
        assert body["issuedNotPosted"][0]["document"] == {"id": memo_id, "status": "Deleted"}
        assert body["issuedNotPosted"][0]["externalIds"] == {"erpId": "PRE-US-SCM-1001"}

    def test_a_statement_within_the_posting_allowance_is_not_reported(self, api, ops, db, settings):
        """erp.pull.unposted_alert_days: the ERP's posting run has this long before a statement counts as stuck."""
        now = utcnow()
        make_statement(db, S1, status="Issued", erp_id="SI-1", queued_at=now - timedelta(days=6), issued_at=now)
        make_statement(db, S2, status="Issued", erp_id="SI-2", queued_at=now - timedelta(days=8), issued_at=now)
        body = report(api, ops)
        assert [row["id"] for row in body["issuedNotPosted"]] == [S2]
        settings.erp.pull.unposted_alert_days = 0
        assert summary(report(api, ops))["issuedNotPosted"] == 2

    def test_oldest_first(self, api, ops, db):
        now = utcnow()
        make_statement(db, S1, status="Issued", erp_id="SI-1", issued_at=now - timedelta(days=1))
        make_statement(db, S2, status="Issued", erp_id="SI-2", issued_at=now - timedelta(days=30))
        make_statement(db, S3, status="Issued", erp_id="SI-3")  # no Issued event: after those that have one
        body = report(api, ops)
        assert [row["id"] for row in body["issuedNotPosted"]] == [S2, S1, S3]
        assert [row["ageDays"] for row in body["issuedNotPosted"]][:2] == [30, 1]


class TestPeriod:
    def test_statements_are_placed_by_their_queued_time(self, api, ops, db):
        make_statement(db, S1, total="100", queued_at=datetime(2025, 5, 31, 23, 59))
        post_document(db, "US-SIN-1001", statement_id=S1, amounts=("90",))
        make_statement(db, S2, total="100", queued_at=datetime(2025, 6, 30, 23, 59))
        post_document(db, "US-SIN-1002", statement_id=S2, amounts=("80",))
        make_statement(db, S3, status="Issued", erp_id="SI-3", queued_at=datetime(2025, 7, 1))

        june = report(api, ops, **{"from": "2025-06-01", "to": "2025-06-30"})
        assert summary(june) == {
            "statementsCompared": 1,
            "totalMismatches": 1,
            "unlinkedDocuments": 0,
            "issuedNotPosted": 0,
            "clean": False,
        }
        assert [row["statement"]["id"] for row in june["totalMismatches"]] == [S2]
        # a date-time `to` is an exclusive instant
        assert summary(report(api, ops, to="2025-06-30T23:59:00Z"))["statementsCompared"] == 1
        assert summary(report(api, ops, **{"from": "2025-07-01T00:00:00+00:00"}))["issuedNotPosted"] == 1
        assert summary(report(api, ops, to="9999-12-31"))["statementsCompared"] == 2


class TestAccess:
    @pytest.mark.parametrize("caller", ["client", "vendor"])
    def test_only_operations_may_read_the_report(self, api, request, caller):
        response = api.get(URL, headers=request.getfixturevalue(caller))
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["type"] == "urn:billing:problem:forbidden"

    def test_role_check_precedes_query_validation(self, api, client):
        assert api.get(URL, headers=client, params={"from": "nonsense"}).status_code == 403

    def test_anonymous_is_401(self, api):
        assert api.get(URL).status_code == 401

    def test_json_only(self, api, ops):
        response = api.get(URL, headers={**ops, "Accept": "text/csv"})
        assert response.status_code == 406 and response.headers["content-type"].startswith(PROBLEM)


class TestBadQuery:
    @pytest.mark.parametrize(
        "query",
        [
            "from=yesterday",
            "to=2025-13-01",
            "from=2025-06-30&to=2025-06-01",
            "from=2025-06-01T00:00:00Z&to=2025-06-01T00:00:00Z",
            "from=",
            "limit=-1",
            "limit=ten",
            "limit=%C2%B2",  # '²' passes str.isdigit() but not int()
            "limit=1.5",
            "eq(status,Issued)",
            "select=summary",
            "form=2025-06-01",
            "from=0001-01-01T00:00:00%2B01:00",  # before the first representable instant
            "to=2025-06-01%00",
        ],
    )
    def test_invalid_parameters_are_a_400_problem(self, api, ops, query):
        response = api.get(f"{URL}?{query}", headers=ops)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        body = response.json()
        assert body["type"] == "urn:billing:problem:invalid-query"
        assert body["errors"]["query"] and body["traceId"]


def test_amounts_are_exact(api, ops, db):
    make_statement(db, S1, total="1234567.891234")
    post_document(db, "US-SIN-1001", statement_id=S1, amounts=("1234567.8", "0.001234"))
    row = report(api, ops)["totalMismatches"][0]
    assert Decimal(str(row["difference"])) == Decimal("0.09")
    assert Decimal(str(row["statement"]["totalSP"])) == Decimal("1234567.891234")
