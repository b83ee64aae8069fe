"""Push rules (erp-integration.md §3) against an in-memory ERP: the decision table, resume after an unknown
outcome, error classes and backoff as data, pause, fencing, withdraw. The same flows run against the real
simulator over SOAP in the acceptance tests."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from billing.db.models import ErpAttempt, ErpControl, ErpOutbox
from billing.erp.errors import ErpAuthError, ErpRejectedError, ErpRetryableError
from billing.erp.gateway import ErpDocument, PlannedHeader, PlannedLine
from billing.erp.plan import DocumentPlan
from billing.erp.push import Pusher, decide
from billing.erp.repository import OutboxRepository
from billing.kit.timeutil import utcnow
from erp.fake_erp import FakeErp


def drive(pusher: Pusher, seconds: float = 10.0) -> None:
    """Tick until no row is pending (rescheduled rows come due within milliseconds in these settings)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pusher.tick(max_seconds=5)
        with pusher.database.read_scope() as session:
            if not session.execute(select(ErpOutbox.id).where(ErpOutbox.state == "pending")).first():
                return
        time.sleep(0.02)
    raise AssertionError("rows still pending")


def statements_of(api, ops, queued) -> dict[str, dict]:
    return {s["id"]: api.get(f"/statements/{s['id']}", headers=ops).json() for s in queued}


@pytest.fixture
def erp() -> FakeErp:
    return FakeErp()


@pytest.fixture
def pusher(db, erp_settings, erp) -> Pusher:
    return Pusher(db, erp_settings, erp, "replica-1", slots=2)


class TestHappyPath:
    def test_one_document_per_statement_then_issued(self, api, ops, db, queued, pusher, erp):
        drive(pusher)
        now = statements_of(api, ops, queued)
        for statement in queued:
            documents = erp.by_external(statement["id"].upper())
            assert len(documents) == 1
            document = documents[0]
            assert document.doc_type == ("invoice" if statement["type"] == "Debit" else "credit_memo")
            assert document.header.sell_to_customer_no and document.header.bill_to_customer_no
            assert sorted(document.lines) == [10000 * n for n in range(1, len(document.lines) + 1)]
            total = sum(line.unit_price * line.quantity for line in document.lines.values())
            assert abs(total - Decimal(str(statement["price"]["totalSP"]))) < Decimal("0.0001") * len(document.lines)
            issued = now[statement["id"]]
            assert issued["status"] == "Issued"
            assert issued["externalIds"]["erpId"] == document.no
        with db.read_scope() as session:
            rows = session.execute(select(ErpOutbox)).scalars().all()
            assert {(r.state, r.resolution, r.stage, r.lease_token) for r in rows} == {
                ("done", "sent", "complete", None)
            }
            attempts = session.execute(select(ErpAttempt).order_by(ErpAttempt.id)).scalars().all()
            assert len(attempts) == 2 * len(queued)  # Create + Update each, no look-up on a first claim
            assert {a.outcome for a in attempts} == {"ok"}
        assert erp.calls.count("create") == len(queued)

    def test_claim_moves_queued_to_pending(self, api, ops, db, queued, pusher):
        claims = pusher.claim(10)
        assert len(claims) == len(queued)
        assert {s["status"] for s in statements_of(api, ops, queued).values()} == {"Pending"}
        assert pusher.claim(10) == []  # leased rows are not claimed again

    def test_a_released_claim_is_not_counted_and_its_lease_is_cleared(self, db, queued, pusher):
        (claim,) = pusher.claim(1)
        with db.session_scope() as session:
            assert OutboxRepository(session).release(claim)
            assert not OutboxRepository(session).release(claim)  # fenced: the token is gone
        with db.read_scope() as session:
            row = session.get(ErpOutbox, claim.id)
            assert row is not None
            assert (row.claims, row.lease_token, row.lease_until, row.state) == (
                claim.claims - 1,
                None,
                None,
                "pending",
            )


class TestTick:
    def test_a_defect_in_one_row_lets_the_claimed_rows_finish_then_the_tick_raises_it(
        self, api, ops, queued, pusher, erp, monkeypatch
    ):
        create, broken = erp.create, []

        def create_with_a_defect_once(doc_type, header):
            if not broken:
                broken.append(header.external_document_no)
                raise RuntimeError("a defect")
            return create(doc_type, header)

        monkeypatch.setattr(erp, "create", create_with_a_defect_once)
        with pytest.raises(RuntimeError, match="a defect"):
            pusher.tick(max_seconds=5)
        statuses = {id_.upper(): s["status"] for id_, s in statements_of(api, ops, queued).items()}
        assert statuses.pop(broken[0]) == "Pending"  # its lease stays until it expires; nothing was sent
        assert "Issued" in statuses.values()  # the rows claimed with it were pushed before the tick raised
        assert set(statuses.values()) <= {"Issued", "Queued"}  # nothing claimed was left half-done


class TestUnknownOutcome:
    def test_timeout_after_commit_on_create_resumes_without_a_second_create(self, api, ops, db, queued, pusher, erp):
        erp.inject("create", ErpRetryableError("read timeout", certain_not_applied=False), after_commit=True)
        drive(pusher)
        for statement in queued:
            assert len(erp.by_external(statement["id"].upper())) == 1
        assert erp.calls.count("create") == len(queued)  # the uncertain Create was found, not repeated
        assert {s["status"] for s in statements_of(api, ops, queued).values()} == {"Issued"}
        with db.read_scope() as session:
            outcomes = [a.outcome for a in session.execute(select(ErpAttempt).order_by(ErpAttempt.id)).scalars()]
            assert outcomes.count("uncertain") == 1

    def test_unknown_outcome_beyond_the_budget_ends_the_claim_and_the_next_claim_looks_up(
        self, api, ops, db, queued, erp_settings, erp
    ):
        erp_settings.push.uncertain_settle_s = 30  # does not fit the 5 s budget
        pusher = Pusher(db, erp_settings, erp, "replica-1", slots=1)
        erp.inject("add_lines", ErpRetryableError("connection reset", certain_not_applied=False), after_commit=True)
        pusher.tick(max_seconds=5)
        first = queued[0]["id"]
        with db.read_scope() as session:
            row = session.execute(select(ErpOutbox).where(ErpOutbox.failures == 1)).scalar_one()
            assert row.next_attempt_at >= utcnow() + timedelta(seconds=25)
            assert row.stage == "header" and row.lease_token is None
        statement = api.get(f"/statements/{row.statement_id}", headers=ops).json()
        assert (
            statement["status"] == "Pending" and "ERP attempt 1 failed (connection reset)" in statement["statusNotes"]
        )
        with db.session_scope() as session:  # time passes
            session.execute(update(ErpOutbox).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        drive(pusher)
        assert len(erp.by_external(row.statement_id.upper())) == 1
        assert erp.calls.count("create") == len(queued)
        assert api.get(f"/statements/{first}", headers=ops).json()["status"] == "Issued"


class TestFailures:
    def test_permanent_fault_is_error_with_the_erp_text(self, api, ops, db, queued, pusher, erp):
        text = (
            "The field Sell-to Customer No. of table Sales Header contains a value (US-SCU-1) that cannot be "
            "found in the related table (Customer)."
        )
        erp.inject("create", ErpRejectedError(text, fault_code="a:NavCSideValidateTableRelationException"))
        drive(pusher)
        failed = [s for s in statements_of(api, ops, queued).values() if s["status"] == "Error"]
        assert len(failed) == 1
        assert failed[0]["error"] == {"id": "ERP:0002", "message": text}
        with db.read_scope() as session:
            row = session.execute(select(ErpOutbox).where(ErpOutbox.state == "dead")).scalar_one()
            assert row.last_error_code == "ERP:0002" and row.lease_token is None

    def test_retries_run_out(self, api, ops, db, queued, pusher, erp):
        locked = ErpRetryableError(
            "The Sales Header table is locked by another user.",
            certain_not_applied=True,
            fault_code="a:NavCSideException",
        )
        erp.inject("create", locked, times=100)
        drive(pusher, seconds=20)
        for statement in statements_of(api, ops, queued).values():
            assert statement["status"] == "Error"
            assert statement["error"]["id"] == "ERP:0003"
            assert "locked by another user" in statement["error"]["message"]
        assert erp.documents == {}
        with db.read_scope() as session:
            attempts = session.execute(select(ErpAttempt)).scalars().all()
            # 4 claims (max_failures) × 3 in-call Create tries, plus a look-up on every claim after the first;
            # one attempt row per call
            assert erp.calls.count("create") == len(queued) * 4 * 3
            assert erp.calls.count("find") == len(queued) * 3
            assert len(attempts) == len(erp.calls)

    def test_throttling_is_not_counted(self, db, queued, pusher, erp):
        erp.inject("create", ErpRetryableError("429", certain_not_applied=True, throttled=True, retry_after=60))
        pusher.tick(max_seconds=5)
        with db.read_scope() as session:
            throttled = session.execute(select(ErpOutbox).where(ErpOutbox.last_outcome == "throttled")).scalar_one()
            assert throttled.failures == 0
            assert throttled.next_attempt_at >= utcnow() + timedelta(seconds=59)

    def test_auth_failure_pauses_the_queue_without_counting(self, api, ops, db, queued, pusher, erp):
        erp.inject("create", ErpAuthError("401 Unauthorized", http_status=401))
        pusher.tick(max_seconds=5)
        with db.read_scope() as session:
            control = session.get(ErpControl, 1)
            assert control is not None and control.paused and control.paused_by == "auto"
            rows = session.execute(select(ErpOutbox)).scalars().all()
            assert all(r.failures == 0 for r in rows)
        assert pusher.claim(10) == []  # nothing is claimed while paused
        assert not any(s["status"] == "Error" for s in statements_of(api, ops, queued).values())
        with db.session_scope() as session:
            session.execute(update(ErpControl).values(paused=False))
        drive(pusher)
        assert {s["status"] for s in statements_of(api, ops, queued).values()} == {"Issued"}

    def test_missing_customer_mapping_fails_before_any_erp_call(self, api, ops, db, queued, pusher, erp):
        buyer_id = queued[0]["buyer"]["id"]
        buyer = api.get(f"/reference/buyers/{buyer_id}", headers=ops).json()
        buyer.pop("$meta", None)
        buyer["erpCustomers"] = [{"seller": "SEL-3461-1295", "customerNo": "DE-1"}]  # none for this seller
        response = api.put(f"/reference/buyers/{buyer_id}", headers=ops, json=buyer)
        assert response.status_code == 200, response.text
        drive(pusher)
        failed = [s for s in statements_of(api, ops, queued).values() if s["buyer"]["id"] == buyer_id]
        assert failed and {s["error"]["id"] for s in failed} == {"ERP:0006"}
        assert all(not erp.by_external(s["id"].upper()) for s in failed)


class TestFencing:
    def test_a_lost_lease_changes_nothing(self, api, ops, db, queued, erp_settings, erp):
        pusher = Pusher(db, erp_settings, erp, "replica-1", slots=1)
        claim = pusher.claim(1)[0]
        with db.session_scope() as session:  # another replica took the row over after the lease expired
            session.execute(update(ErpOutbox).where(ErpOutbox.id == claim.id).values(lease_token="someone-else"))
        assert pusher.process(claim) == "lease_lost"
        with db.read_scope() as session:
            row = session.get(ErpOutbox, claim.id)
            assert row is not None and row.state == "pending" and row.lease_token == "someone-else"
        assert api.get(f"/statements/{claim.statement_id}", headers=ops).json()["status"] == "Pending"
        # the lease had time left, so the Create went out; recording its stage was refused, so the run stopped
        # before adding lines: the holder of the row will find this header by look-up and complete it
        assert erp.calls == ["create"]
        assert [len(d.lines) for d in erp.by_external(claim.statement_id.upper())] == [0]


class TestWithdraw:
    def test_cancel_after_a_header_only_document_deletes_it(self, api, ops, db, queued, pusher, erp):
        erp.inject("add_lines", ErpRejectedError("Item ITM-X does not exist.", fault_code="a:NavTestFieldException"))
        drive(pusher)
        failed = next(s for s in statements_of(api, ops, queued).values() if s["status"] == "Error")
        assert len(erp.by_external(failed["id"].upper())) == 1  # header only
        response = api.post(f"/statements/{failed['id']}/cancel", headers=ops)
        assert response.status_code == 200 and response.json()["status"] == "Error"  # withdraw pending
        drive(pusher)
        assert erp.by_external(failed["id"].upper()) == []
        assert api.get(f"/statements/{failed['id']}", headers=ops).json()["status"] == "Cancelled"


class TestWithdrawResyncs:
    def test_a_withdraw_that_keeps_resyncing_ends_its_claim(self, api, ops, db, queued, pusher, erp, erp_settings):
        from billing.erp.errors import ErpResyncError

        erp.inject("add_lines", ErpRejectedError("Item ITM-X does not exist.", fault_code="a:NavTestFieldException"))
        drive(pusher)
        failed = next(s for s in statements_of(api, ops, queued).values() if s["status"] == "Error")
        assert api.post(f"/statements/{failed['id']}/cancel", headers=ops).status_code == 200
        erp.inject("delete", ErpResyncError("The Sales Header does not exist."), times=100)
        # a backoff longer than the tick, so a slow machine cannot claim the row a second time within it
        erp_settings.push.backoff.base_s = erp_settings.push.backoff.cap_s = 60
        assert pusher.tick(max_seconds=5).outcomes == {"retry": 1}  # bounded, not an endless loop
        assert erp.calls.count("delete") == 4  # the first try and three look-ups again


def _plan(*line_nos: int) -> DocumentPlan:
    header = PlannedHeader("S", "B", "SOM-1", "SOM-1", None, "")
    line = PlannedLine(0, "Item", "X", "", "", Decimal(1), Decimal(1), Decimal(1), "", None, None, "")
    return DocumentPlan("invoice", header, tuple(PlannedLine(**{**_fields(line), "line_no": n}) for n in line_nos))


def _fields(line: PlannedLine) -> dict:
    return {name: getattr(line, name) for name in line.__slots__}  # type: ignore[attr-defined]


def _doc(no: str, *lines: int, posted: bool = False, pre: str | None = None, sell_to: str = "S") -> ErpDocument:
    return ErpDocument(no, posted, "SOM-1", None if posted else f"{no};1", pre, sell_to, "B", "", frozenset(lines))


class TestDecide:
    @pytest.mark.parametrize(
        ("found", "action", "error_id"),
        [
            ([], "none", None),
            ([_doc("SI-1", 10000, 20000)], "complete", None),
            ([_doc("PSI-1", posted=True, pre="SI-1")], "complete", None),
            ([_doc("SI-1"), _doc("PSI-1", 10000, posted=True, pre="SI-1")], "complete", None),  # posted between reads
            ([_doc("SI-1"), _doc("SI-2")], "dead", "ERP:0005"),
            ([_doc("SI-1", 10000, 30000)], "dead", "ERP:0004"),
            ([_doc("SI-1", 10000)], "resume", None),
            ([_doc("SI-1")], "resume", None),
            ([_doc("SI-1", sell_to="OTHER")], "update_header", None),
            ([_doc("SI-1", 10000, sell_to="OTHER")], "recreate", None),
        ],
    )
    def test_table(self, found, action, error_id):
        decision = decide(found, _plan(10000, 20000))
        assert (decision.action, decision.error_id) == (action, error_id)


class TestLeaseRenewal:
    def test_a_short_lease_is_renewed_before_each_call_and_a_lost_one_stops_the_run(
        self, db, queued, erp_settings, erp
    ):
        erp_settings.push.lease_s = 0.5  # less than a call + settle: renewed (fenced) before every call
        erp_settings.timeouts.operation_s = 1
        pusher = Pusher(db, erp_settings, erp, "replica-1", slots=1)
        claim = pusher.claim(1)[0]
        with db.session_scope() as session:
            session.execute(update(ErpOutbox).where(ErpOutbox.id == claim.id).values(lease_token="someone-else"))
        assert pusher.process(claim) == "lease_lost"
        assert erp.calls == []  # the renewal failed before the first call
        claim = pusher.claim(1)[0]
        assert pusher.process(claim) == "issued"


@pytest.mark.postgres
class TestReplicas:
    def test_concurrent_pushers_make_one_document_per_statement(self, api, ops, drain, vendor, db, erp_settings):
        from concurrent.futures import ThreadPoolExecutor

        from erp.conftest import queue_demo_statements

        statements = queue_demo_statements(api, drain, ops, vendor, lines=120)
        erp = FakeErp()
        pushers = [Pusher(db, erp_settings, erp, f"replica-{n}", slots=2) for n in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda p: drive(p), pushers))
        for statement in statements:
            assert len(erp.by_external(statement["id"].upper())) == 1
        assert erp.calls.count("create") == len(statements)
        assert {s["status"] for s in statements_of(api, ops, statements).values()} == {"Issued"}


class TestTokenBucket:
    def test_rate_limit_spaces_calls(self):
        from billing.erp.breaker import TokenBucket

        bucket = TokenBucket(per_minute=600)  # 10 a second, bursts of 10
        started = time.monotonic()
        for _ in range(25):
            bucket.take()
        assert 1.2 <= time.monotonic() - started <= 3  # 10 at once, then 15 at 10/s

    def test_zero_means_unlimited(self):
        from billing.erp.breaker import TokenBucket

        bucket = TokenBucket(per_minute=0)
        started = time.monotonic()
        for _ in range(1000):
            bucket.take()
        assert time.monotonic() - started < 0.5
