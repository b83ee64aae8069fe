"""Rating through the API (billing-api.md §9.1–9.4, §13.2): journal accept → ledgers per seller, charges rated."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from rating_kit import (
    CLIENT,
    OPS,
    SELLER,
    SOURCES,
    VENDOR,
    accepted_journal,
    charge_line,
    lines,
    multi_seller_world,
    world,
)
from sqlalchemy import select

from billing.auth.principal import Principal, Role
from billing.db.models import Charge, ErpOutbox, Journal, Ledger, RatedAgreement, Statement, WorkItem
from billing.errors import InvalidStatus
from billing.jobs.repository import WorkRepository
from billing.jobs.worker import run_one
from billing.ledgers.service import GENERATE_JOB, LedgerService
from billing.rating.jobs import rate_journal
from billing.rating.repository import RatingRepository
from billing.statements.generation import generate_statements
from conftest import bearer


@pytest.fixture
def rated(api, db, drain, ops):
    """Import a world, upload lines, submit, accept, rate; returns (journal, ledger, charges) as Operations sees them."""

    def run(reference: dict, *lines: bytes) -> tuple[dict, dict, list[dict]]:
        admin = bearer("demo-operations-token")
        assert api.post("/reference/import?mode=replace", headers=admin, json=reference).status_code == 200
        ops_h, vendor_h = bearer("ops-secret"), bearer("vendor-secret")
        journal = api.post(
            "/journals", headers=vendor_h, json={"name": "June", "authorization": {"id": "AUT-5305-9928"}}
        ).json()
        content = b"\n".join(lines) + b"\n"
        api.post(
            f"/journals/{journal['id']}/upload",
            headers=vendor_h,
            files={"file": ("c.jsonl", content, "application/jsonl")},
        )
        drain()
        assert api.post(f"/journals/{journal['id']}/submit", headers=vendor_h).status_code == 200
        assert api.post(f"/journals/{journal['id']}/accept", headers=ops_h).json()["status"] == "Generating"
        drain()
        journal = api.get(f"/journals/{journal['id']}", headers=ops_h).json()
        ledger_id = f"BLE-{journal['id'][4:]}-{SELLER[4:]}"
        ledger = api.get(f"/ledgers/{ledger_id}", headers=ops_h).json()
        charges = api.get(f"/ledgers/{ledger_id}/charges", headers=ops_h).json()["data"]
        return journal, ledger, charges

    return run


class TestRating:
    def test_the_spec_example_markup_from_the_subscription(self, rated):
        journal, ledger, charges = rated(world(), charge_line("e-1"))
        assert journal["status"] == "Generated" and "generated" in journal["audit"]
        assert journal["processing"] == {"total": 1, "ready": 1, "split": 0, "skipped": 0, "error": 0}
        assert journal["price"] == {
            "currency": "USD",
            "totalPP": 100,
            "totalSP": 115,
            "markup": 15,
            "margin": 13.043478,
        }
        assert ledger["status"] == "Review" and ledger["name"] == "June / Operator Inc."
        assert ledger["price"] == {"currency": "USD", "totalPP": 100, "totalSP": 115, "markup": 15, "margin": 13.043478}
        assert {"created", "rating", "review"} <= set(ledger["audit"])
        [charge] = charges
        assert charge["price"] == {
            "currency": {"purchase": "USD", "sale": "USD", "rate": 1},
            "unitPP": 10,
            "PPx1": 100,
            "unitSP": 11.5,
            "SPx1": 115,
            "markup": 15,
            "margin": 13.043478,
        }
        assert charge["processing"] == {"status": "Ready", "errors": []}
        assert charge["ledger"] == {"id": ledger["id"], "name": ledger["name"]}

    @pytest.mark.parametrize(
        ("knobs", "unit_sp", "markup"),
        [
            ({"subscription_markup": None}, 11.2, 12),  # agreement default
            (
                {
                    "subscription_markup": None,
                    "default_markup": None,
                    "policies": [
                        {"id": "PRP-0001-0001", "name": "p", "client": CLIENT, "products": [], "markup": "10"}
                    ],
                },
                11,
                10,
            ),
            (
                {
                    "subscription_markup": None,
                    "default_markup": None,
                    "policies": [
                        {"id": "PRP-0001-0001", "name": "p", "client": CLIENT, "products": [], "margin": "20"}
                    ],
                },
                12.5,
                25,
            ),
            ({"subscription_markup": None, "default_markup": None}, 10, 0),  # nothing: markup 0
            ({"subscription_markup": "0"}, 10, 0),  # a zero subscription markup still wins
        ],
    )
    def test_markup_sources(self, rated, knobs, unit_sp, markup):
        _, _, [charge] = rated(world(**knobs), charge_line("e-1"))
        assert (charge["price"]["unitSP"], charge["price"]["markup"]) == (unit_sp, markup)

    def test_negative_charges_and_six_place_rounding(self, rated):
        _, ledger, charges = rated(
            world(subscription_markup="10"),
            charge_line("e-1", quantity="-2", unit_pp="10", ppx1="-20"),
            charge_line("e-2", quantity="3", unit_pp="0.333333", ppx1="0.999999"),
        )
        credit, small = charges
        assert (credit["price"]["unitSP"], credit["price"]["SPx1"], credit["price"]["margin"]) == (11, -22, 9.090909)
        assert (small["price"]["unitSP"], small["price"]["SPx1"]) == (
            0.366666,
            1.099999,
        )  # SPx1 from the unrounded unitSP
        assert ledger["price"]["totalSP"] == -20.900001

    def test_an_active_override_skips_the_charge_in_rating(self, rated, api):
        admin = bearer("demo-operations-token")
        api.post("/manual-overrides", headers=admin, json={"client": {"id": "ACC-8119-0187"}, "vendor": {"id": VENDOR}})
        journal, ledger, [charge] = rated(world(), charge_line("e-1"))
        assert charge["billingType"] == "Manual" and charge["processing"]["status"] == "Skipped"
        assert charge["price"]["unitSP"] is None and charge["price"]["SPx1"] is None
        assert ledger["processing"]["skipped"] == 1 and ledger["price"]["totalSP"] is None
        assert journal["price"]["totalPP"] == 100

    def test_rating_again_is_idempotent(self, rated, api, db, settings):
        journal, ledger, charges = rated(world(), charge_line("e-1"), charge_line("e-2"))
        with db.session_scope() as session:  # a second run of the same job (a crashed worker's retry, say)
            session.get(Journal, journal["id"]).status = "Generating"
            item = WorkRepository(session).enqueue("journal.rate", journal["id"])
            item_id = item.id
        with db.session_scope() as session:
            [claim] = WorkRepository(session).claim("journal.rate", "t", timedelta(seconds=60))
        assert claim.id == item_id
        rate_journal(db, settings, claim)
        ops_h = bearer("ops-secret")
        assert api.get("/ledgers", headers=ops_h).json()["$meta"]["pagination"]["total"] == 1
        again = api.get(f"/ledgers/{ledger['id']}/charges", headers=ops_h).json()["data"]
        assert [c["price"] for c in again] == [c["price"] for c in charges]
        assert api.get(f"/journals/{journal['id']}", headers=ops_h).json()["status"] == "Generated"

    def test_a_rating_that_keeps_failing_gives_up_and_removes_its_ledgers(self, api, db, drain, ops, monkeypatch):
        journal_id = accepted_journal(api, drain, world(), charge_line("e-1") + b"\n" + charge_line("e-2"))

        def unreadable(self, charges):  # the reader beside the writer fails, after the range was rated
            raise RuntimeError("disk I/O error")

        monkeypatch.setattr(RatingRepository, "groups", unreadable)
        drain()  # three failed attempts (no backoff in tests), then the fourth claim gives up
        ops_h = bearer("ops-secret")
        journal = api.get(f"/journals/{journal_id}", headers=ops_h).json()
        assert journal["status"] == "Review"
        assert journal["error"] == {"id": "BJO:0004", "message": "Rating failed: RuntimeError: disk I/O error."}
        assert api.get("/ledgers", headers=ops_h).json()["$meta"]["pagination"]["total"] == 0
        with db.read_scope() as session:
            charges = session.execute(select(Charge).where(Charge.journal_id == journal_id)).scalars().all()
            assert len(charges) == 2
            assert {(c.ledger_id, c.statement_id, c.processing_status, c.spx1) for c in charges} == {
                (None, None, None, None)
            }
            assert session.execute(select(RatedAgreement)).first() is None

    def test_sellers_show_their_ledger_to_operations(self, rated, api):
        journal, ledger, _ = rated(world(), charge_line("e-1"))
        sellers = api.get(f"/journals/{journal['id']}/sellers", headers=bearer("ops-secret")).json()["data"]
        assert sellers[0]["ledger"] == {"id": ledger["id"], "status": "Review"}


class TestStatements:
    def accept(self, api, drain, ledger_id):
        ops_h = bearer("ops-secret")
        accepted = api.post(f"/ledgers/{ledger_id}/accept", headers=ops_h)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "Generating"
        drain()
        return api.get(f"/ledgers/{ledger_id}", headers=ops_h).json()

    def test_ledger_accept_generates_one_debit_statement_per_agreement(self, rated, api, drain, db):
        journal, ledger, _ = rated(
            world(), charge_line("e-1"), charge_line("e-2", quantity="-1", unit_pp="10", ppx1="-10")
        )
        ledger = self.accept(api, drain, ledger["id"])
        assert ledger["status"] == "Generated" and "generated" in ledger["audit"]
        ops_h = bearer("ops-secret")
        statement_id = f"SOM-{journal['id'][4:]}-3617-1129-0665"
        statement = api.get(f"/statements/{statement_id}", headers=ops_h).json()
        assert (statement["type"], statement["billingType"], statement["status"]) == ("Debit", "Automated", "Generated")
        assert statement["price"]["totalPP"] == 90 and statement["price"]["totalSP"] == 103.5
        assert statement["name"] == "Contoso Cloud Suite / June"
        assert statement["agreement"]["id"] == "AGR-3617-1129-0665" and statement["client"]["id"] == CLIENT
        assert api.get(f"/journals/{journal['id']}", headers=ops_h).json()["status"] == "Accepted"
        charges = api.get(f"/statements/{statement_id}/charges", headers=ops_h).json()["data"]
        assert [c["statement"] for c in charges] == [{"id": statement_id, "type": "Debit"}] * 2
        assert all(c["statementType"] == "Debit" for c in charges)

    def test_charges_show_their_statement_once_it_exists(self, rated, api, drain):
        journal, ledger, _ = rated(world(), charge_line("e-1"), charge_line("e-2"))
        ops_h = bearer("ops-secret")
        statement_id = f"SOM-{journal['id'][4:]}-3617-1129-0665"
        ledger_charges, journal_charges = f"/ledgers/{ledger['id']}/charges", f"/journals/{journal['id']}/charges"
        before = api.get(ledger_charges, headers=ops_h).json()["data"]
        assert [(c["statement"], c["statementType"]) for c in before] == [(None, None)] * 2
        for path in (ledger_charges, journal_charges):
            assert api.get(f"{path}?eq(statement.id,{statement_id})", headers=ops_h).json()["data"] == []
        self.accept(api, drain, ledger["id"])
        shown = ({"id": statement_id, "type": "Debit"}, "Debit")
        for path in (ledger_charges, journal_charges):
            query = f"{path}?eq(statement.id,{statement_id})&eq(statementType,Debit)&eq(statement.type,Debit)"
            found = api.get(query, headers=ops_h).json()["data"]
            assert [(c["statement"], c["statementType"]) for c in found] == [shown] * 2
            assert api.get(f"{path}?eq(statement.type,Credit)", headers=ops_h).json()["data"] == []

    def test_a_recalculated_ledger_bills_its_new_prices(self, rated, api, drain):
        _journal, ledger, _ = rated(world(), charge_line("e-1"))
        ops_h = bearer("ops-secret")
        api.put("/reference/subscriptions/SUB-0356-5642-8669", headers=ops_h, json={"price": {"markup": "20"}})
        recalculated = api.post(f"/ledgers/{ledger['id']}/recalculate", headers=ops_h)
        assert recalculated.status_code < 300, recalculated.text
        drain()
        self.accept(api, drain, ledger["id"])
        [statement] = api.get("/statements", headers=ops_h).json()["data"]
        assert (statement["price"]["totalPP"], statement["price"]["totalSP"]) == (100, 120)

    def test_a_negative_total_makes_a_credit_statement(self, rated, api, drain):
        _journal, ledger, _ = rated(world(), charge_line("e-1", quantity="-2", unit_pp="10", ppx1="-20"))
        self.accept(api, drain, ledger["id"])
        statement = api.get("/statements", headers=bearer("ops-secret")).json()["data"][0]
        assert (statement["type"], statement["price"]["totalSP"]) == ("Credit", -23)

    def test_clients_see_their_statements_with_sale_prices_only(self, rated, api, drain):
        _journal, ledger, _ = rated(world(), charge_line("e-1"))
        self.accept(api, drain, ledger["id"])
        mine = api.get("/statements", headers=bearer("client-secret")).json()
        assert mine["$meta"]["pagination"]["total"] == 1
        statement = mine["data"][0]
        assert statement["price"] == {
            "currency": {"sale": "USD", "rate": 1},
            "totalSP": 115,
            "totalST": None,
            "totalGT": None,
        }
        assert "journal" not in statement and "ledger" not in statement and "notes" not in statement
        [charge] = api.get(f"/statements/{statement['id']}/charges", headers=bearer("client-secret")).json()["data"]
        assert charge["price"] == {"currency": {"sale": "USD", "rate": 1}, "unitSP": 11.5, "SPx1": 115}
        assert "upload" not in charge and "processing" not in charge and "erpData" not in charge
        other = bearer("other-secret")
        assert api.get("/statements", headers=other).json()["$meta"]["pagination"]["total"] == 0
        assert api.get(f"/statements/{statement['id']}", headers=other).status_code == 404
        assert api.get(f"/statements/{statement['id']}/charges", headers=other).status_code == 404
        assert api.get("/statements", headers=bearer("vendor-secret")).status_code == 403

    def test_queue_moves_statements_to_queued_with_their_outbox_rows(self, rated, api, drain, db):
        _journal, ledger, _ = rated(world(), charge_line("e-1"))
        self.accept(api, drain, ledger["id"])
        ops_h = bearer("ops-secret")
        queued = api.post(f"/ledgers/{ledger['id']}/queue", headers=ops_h).json()
        assert queued["status"] == "Queued"
        statement = api.get("/statements", headers=ops_h).json()["data"][0]
        assert statement["status"] == "Queued"
        with db.read_scope() as session:
            rows = session.query(ErpOutbox).all()
        assert [(r.statement_id, r.state, r.op, r.doc_type, r.claims) for r in rows] == [
            (statement["id"], "pending", "push", "invoice", 0)
        ]
        again = api.post(f"/ledgers/{ledger['id']}/queue", headers=ops_h)
        assert again.status_code == 409

    def test_a_ledger_with_only_manual_charges_completes_and_so_does_the_journal(self, rated, api, drain):
        admin = bearer("demo-operations-token")
        api.post("/manual-overrides", headers=admin, json={"client": {"id": CLIENT}, "vendor": {"id": VENDOR}})
        journal, ledger, _ = rated(world(), charge_line("e-1"))
        ledger = self.accept(api, drain, ledger["id"])
        assert ledger["status"] == "Completed"
        assert api.get("/statements", headers=bearer("ops-secret")).json()["data"] == []
        journal = api.get(f"/journals/{journal['id']}", headers=bearer("ops-secret")).json()
        assert journal["status"] == "Completed" and {"accepted", "completed"} <= set(journal["audit"])

    def test_accept_needs_review(self, rated, api, drain):
        _, ledger, _ = rated(world(), charge_line("e-1"))
        self.accept(api, drain, ledger["id"])
        response = api.post(f"/ledgers/{ledger['id']}/accept", headers=bearer("ops-secret"))
        assert response.status_code == 409 and "'accept' requires Review" in response.json()["detail"]


@pytest.fixture
def generated(rated, api, drain):
    """A Generated statement (its ledger accepted, not queued)."""
    _, ledger, _ = rated(world(), charge_line("e-1"))
    TestStatements().accept(api, drain, ledger["id"])
    return api.get("/statements", headers=bearer("ops-secret")).json()["data"][0]


class StatementActionsBase:
    def post(self, api, statement, action, body=None):
        return api.post(f"/statements/{statement['id']}/{action}", headers=bearer("ops-secret"), json=body)


class TestStatementActions(StatementActionsBase):
    def test_queue_pending_error_retry(self, api, db, generated):
        queued = self.post(api, generated, "queue").json()
        assert queued["status"] == "Queued" and "queued" in queued["audit"]
        assert self.post(api, generated, "pending").json()["status"] == "Pending"
        failed = self.post(api, generated, "error", {"error": {"message": "Customer blocked"}}).json()
        assert (failed["status"], failed["error"]) == ("Error", {"id": "SOM:0001", "message": "Customer blocked"})
        with db.read_scope() as session:
            assert session.query(ErpOutbox).one().state == "dead"
        retried = self.post(api, generated, "retry").json()
        assert (retried["status"], retried["error"]) == ("Queued", None)
        with db.read_scope() as session:
            row = session.query(ErpOutbox).one()
            assert (row.state, row.failures) == ("pending", 0)

    def test_error_without_a_body_uses_the_default(self, api, generated):
        self.post(api, generated, "queue")
        failed = self.post(api, generated, "error").json()
        assert failed["error"] == {"id": "SOM:0001", "message": "Marked as failed by operations."}

    def test_retry_of_a_queued_statement_rearms_it_without_a_transition(self, api, db, generated):
        self.post(api, generated, "queue")
        with db.session_scope() as session:
            session.query(ErpOutbox).one().next_attempt_at = datetime(2100, 1, 1)
        again = self.post(api, generated, "retry")
        assert again.status_code == 200 and again.json()["status"] == "Queued"
        with db.read_scope() as session:
            assert session.query(ErpOutbox).one().next_attempt_at < datetime(2100, 1, 1)

    def test_retry_while_a_worker_sends_it_is_409(self, api, db, generated):
        self.post(api, generated, "queue")
        with db.session_scope() as session:
            session.query(ErpOutbox).one().lease_until = datetime(2100, 1, 1)
        assert self.post(api, generated, "retry").status_code == 409

    def test_wrong_statuses_are_409(self, api, generated):
        for action in ("pending", "error", "retry"):
            response = self.post(api, generated, action)
            assert response.status_code == 409, action
        assert "'pending' requires Queued" in self.post(api, generated, "pending").json()["detail"]

    def test_update_and_client_visibility_of_notes(self, api, generated):
        updated = api.put(
            f"/statements/{generated['id']}",
            headers=bearer("ops-secret"),
            json={"notes": "internal", "externalIds": {"operations": "OPS-1"}, "status": "Issued"},
        ).json()
        assert (updated["notes"], updated["externalIds"]["operations"], updated["status"]) == (
            "internal",
            "OPS-1",
            "Generated",
        )
        seen = api.get(f"/statements/{generated['id']}", headers=bearer("client-secret")).json()
        assert "notes" not in seen and seen["externalIds"]["operations"] == "OPS-1"
        assert api.put(f"/statements/{generated['id']}", headers=bearer("client-secret"), json={}).status_code == 403


class TestLedgerUpdateAndRecalculate:
    def test_recalculate_rates_again_with_current_reference_data(self, rated, api, drain):
        _, ledger, [charge] = rated(world(), charge_line("e-1"))
        assert charge["price"]["markup"] == 15
        ops_h = bearer("ops-secret")
        # the subscription's markup changes; a recalculation picks it up (stored prices are never rewritten before)
        api.put("/reference/subscriptions/SUB-0356-5642-8669", headers=ops_h, json={"price": {"markup": "20"}})
        assert api.get(f"/ledgers/{ledger['id']}/charges", headers=ops_h).json()["data"][0]["price"]["markup"] == 15
        rating = api.post(f"/ledgers/{ledger['id']}/regenerate", headers=ops_h).json()
        assert rating["status"] == "Rating"
        drain()
        again = api.get(f"/ledgers/{ledger['id']}", headers=ops_h).json()
        assert again["status"] == "Review" and again["price"]["totalSP"] == 120
        assert api.get(f"/ledgers/{ledger['id']}/charges", headers=ops_h).json()["data"][0]["price"]["unitSP"] == 12

    def test_update_name_notes_assignee(self, rated, api):
        _, ledger, _ = rated(world(), charge_line("e-1"))
        ops_h = bearer("ops-secret")
        updated = api.put(
            f"/ledgers/{ledger['id']}", headers=ops_h, json={"name": "Renamed", "notes": "n", "status": "Queued"}
        )
        assert (updated.json()["name"], updated.json()["notes"], updated.json()["status"]) == ("Renamed", "n", "Review")
        refused = api.put(f"/ledgers/{ledger['id']}", headers=ops_h, json={"assignee": {"id": "USR-0000-9999"}})
        assert refused.status_code == 400 and "assignee.id" in refused.json()["errors"]
        assert api.post("/ledgers", headers=ops_h, json={}).status_code == 405


class TestCancelAndRecalculate(StatementActionsBase):
    def test_cancelling_the_only_statement_completes_ledger_and_journal(self, api, db, generated):
        self.post(api, generated, "queue")
        ops_h = bearer("ops-secret")
        api.post(f"/ledgers/{generated['ledger']['id']}/queue", headers=ops_h)  # ledger Generated → Queued
        cancelled = self.post(api, generated, "cancel").json()
        assert cancelled["status"] == "Cancelled" and "cancelled" in cancelled["audit"]
        with db.read_scope() as session:
            assert session.query(ErpOutbox).one().state == "cancelled"
        assert api.get(f"/ledgers/{generated['ledger']['id']}", headers=ops_h).json()["status"] == "Completed"
        assert api.get(f"/journals/{generated['journal']['id']}", headers=ops_h).json()["status"] == "Completed"
        assert self.post(api, generated, "cancel").status_code == 409

    def test_cancel_of_a_claimed_statement_becomes_a_withdraw(self, api, db, generated):
        self.post(api, generated, "queue")
        with db.session_scope() as session:
            session.query(ErpOutbox).one().claims = 1  # the ERP push claimed it once
        response = self.post(api, generated, "cancel")
        assert response.status_code == 200 and response.json()["status"] == "Queued"  # until the ERP withdraw ends
        with db.read_scope() as session:
            row = session.query(ErpOutbox).one()
            assert (row.op, row.state) == ("withdraw", "pending")

    def test_recalculate_recomputes_totals_and_type(self, api, db, generated):
        ops_h = bearer("ops-secret")
        api.put("/reference/subscriptions/SUB-0356-5642-8669", headers=ops_h, json={"price": {"markup": "20"}})
        recalculated = self.post(api, generated, "recalculate").json()
        assert recalculated["status"] == "Generated" and recalculated["price"]["totalSP"] == 120
        assert {"generating", "generated"} <= set(recalculated["audit"])
        [charge] = api.get(f"/statements/{generated['id']}/charges", headers=ops_h).json()["data"]
        assert charge["price"]["SPx1"] == 120 and charge["statementType"] == "Debit"


class TestMarkAsSent(StatementActionsBase):
    def test_issue_without_verification_completes_the_parents(self, api, db, generated):
        self.post(api, generated, "queue")
        ops_h = bearer("ops-secret")
        api.post(f"/ledgers/{generated['ledger']['id']}/queue", headers=ops_h)
        missing = api.post(f"/statements/{generated['id']}/issue?verify=false", headers=ops_h)
        assert missing.status_code == 400 and "externalIds.erpId" in missing.json()["errors"]
        body = {"externalIds": {"erpId": "SI-000042"}}
        unverified = api.post(f"/statements/{generated['id']}/issue", headers=ops_h, json=body)
        assert unverified.status_code == 503 and unverified.headers["retry-after"] == "60"
        assert api.get(f"/statements/{generated['id']}", headers=ops_h).json()["externalIds"]["erpId"] is None
        issued = api.post(f"/statements/{generated['id']}/issue?verify=false", headers=ops_h, json=body).json()
        assert (issued["status"], issued["externalIds"]["erpId"]) == ("Issued", "SI-000042")
        with db.read_scope() as session:
            row = session.query(ErpOutbox).one()
            assert (row.state, row.resolution, row.erp_document_no) == ("done", "manual", "SI-000042")
        assert api.get(f"/ledgers/{generated['ledger']['id']}", headers=ops_h).json()["status"] == "Completed"
        assert api.get(f"/journals/{generated['journal']['id']}", headers=ops_h).json()["status"] == "Completed"

    def test_issue_needs_queued_pending_or_error(self, api, generated):
        response = api.post(
            f"/statements/{generated['id']}/issue?verify=false",
            headers=bearer("ops-secret"),
            json={"externalIds": {"erpId": "SI-1"}},
        )
        assert response.status_code == 409


class TestCli:
    def test_ledgers_accept_queue_and_statements_list(self, rated, api, drain, database_url, monkeypatch):
        from typer.testing import CliRunner

        from billing.cli import app
        from billing.settings import get_settings

        _, ledger, _ = rated(world(), charge_line("e-1"))
        monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
        monkeypatch.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        try:
            runner = CliRunner()
            accepted = runner.invoke(app, ["ledgers", "accept", ledger["id"].lower()])
            assert accepted.exit_code == 0 and "is Generating" in accepted.output
            drain()
            assert runner.invoke(app, ["ledgers", "queue", ledger["id"]]).exit_code == 0
            listed = runner.invoke(app, ["statements", "list", "--filter", "eq(status,Queued)"])
            assert listed.exit_code == 0 and "1 of 1 statements" in listed.output and "Queued" in listed.output
            assert "0 of 0" in runner.invoke(app, ["statements", "list", "--filter", "eq(status,Issued)"]).output
            bad = runner.invoke(app, ["statements", "list", "--filter", "eq(status,Nope)"])
            assert bad.exit_code == 2 and "not valid for enum property" in bad.output
            again = runner.invoke(app, ["ledgers", "queue", ledger["id"]])
            assert again.exit_code == 1 and "'queue' requires Generated" in again.output
        finally:
            get_settings.cache_clear()


class TestConcurrentAccept:
    def test_two_operators_accept_the_same_ledger_and_exactly_one_wins(self, rated, db):
        """Transitions are serialised per object (§3.13): a row lock on PostgreSQL, BEGIN IMMEDIATE on SQLite."""
        _, ledger, _ = rated(world(), charge_line("e-1"))
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def accept(name: str) -> None:
            operator = Principal(OPS, Role.OPERATIONS, {"id": name, "name": name, "icon": ""})
            barrier.wait()
            try:
                with db.session_scope() as session:
                    LedgerService(session, operator).accept(ledger["id"])
                outcomes.append("accepted")
            except InvalidStatus as error:
                outcomes.append(f"refused: {error.detail}")

        threads = [threading.Thread(target=accept, args=(f"USR-0000-000{i}",)) for i in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes)[0] == "accepted"
        assert sorted(outcomes)[1] == (
            f"refused: Ledger {ledger['id']} is in status Generating; 'accept' requires Review."
        )
        with db.read_scope() as session:
            assert session.query(WorkItem).filter_by(kind="ledger.generate").count() == 1


class TestLedgersAcceptedTogether:
    def test_are_generated_in_one_pass_and_a_later_one_on_its_own(self, api, db, drain, ops, settings):
        """The first ``ledger.generate`` item claims the journal's other due ones (one rewrite of the charges)."""
        journal_id = accepted_journal(api, drain, multi_seller_world(), lines(60))
        drain()
        operator = Principal(OPS, Role.OPERATIONS, {"id": "USR-0000-0001", "name": "o", "icon": ""})
        with db.read_scope() as session:
            ledgers = sorted(ledger.id for ledger in session.execute(select(Ledger)).scalars())
        assert len(ledgers) == 4
        for ledger_key in ledgers[:3]:
            with db.session_scope() as session:
                LedgerService(session, operator).accept(ledger_key)
        assert run_one(db, settings, GENERATE_JOB, generate_statements, "one-worker")
        with db.read_scope() as session:
            assert {
                item.state for item in session.execute(select(WorkItem).where(WorkItem.kind == GENERATE_JOB)).scalars()
            } == {"done"}
            statuses = {ledger.id: ledger.status for ledger in session.execute(select(Ledger)).scalars()}
        assert statuses == {**dict.fromkeys(ledgers[:3], "Generated"), ledgers[3]: "Review"}
        with db.session_scope() as session:
            LedgerService(session, operator).accept(ledgers[3])
        assert drain() == 1
        with db.read_scope() as session:
            assert session.get(Journal, journal_id).status == "Accepted"
            statements = list(session.execute(select(Statement)).scalars())
            pairs = session.execute(select(Charge.ledger_id, Charge.agreement_id, Charge.statement_id).distinct()).all()
        assert len(statements) == len({(s.ledger_id, s.agreement_id) for s in statements}) == len(SOURCES)
        by_pair = {(s.ledger_id, s.agreement_id): s.id for s in statements}
        assert all(by_pair[(ledger, agreement)] == statement for ledger, agreement, statement in pairs)
