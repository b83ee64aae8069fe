"""The background validation survives crashes, lease take-overs, repeated failures and concurrent workers
(billing-api.md §3.13, §5.1, §7.1, §8.6): a journal is never stuck in ``Validating``, never validated twice,
and readers never see a partial or mixed set of charges."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from journal_kit import jsonl, line, new_journal, upload
from sqlalchemy import select, update

from billing.api.app import create_app
from billing.db.models import Charge, Journal, WorkItem
from billing.jobs.registry import HANDLERS
from billing.jobs.repository import WorkRepository
from billing.jobs.worker import run_pending
from billing.journals import jobs
from billing.journals.resolution import ReferenceIndex
from billing.journals.service import VALIDATE_JOB
from billing.kit.timeutil import utcnow

STOPPED = {"id": "BJO:0003", "message": "Validation stopped unexpectedly; upload the file again."}
_ORIGINAL_WRITE = jobs._write
_ORIGINAL_CONCLUDE = jobs._conclude


# --- work-queue helpers ---------------------------------------------------------------------------------------------


def entries(prefix: str, count: int) -> bytes:
    return jsonl(*[line(f"{prefix}-{number}") for number in range(1, count + 1)])


def uploaded(api, vendor, content: bytes) -> str:
    journal_id = new_journal(api, vendor)
    response = upload(api, vendor, journal_id, content)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Validating"
    return journal_id


def work_item(db, journal_id: str) -> WorkItem:
    """The (latest) validation work item of a journal, detached."""
    with db.session_scope() as session:
        item = session.execute(
            select(WorkItem)
            .where(WorkItem.kind == VALIDATE_JOB, WorkItem.object_id == journal_id)
            .order_by(WorkItem.id.desc())
            .limit(1)
        ).scalar_one()
        session.expunge(item)
        return item


def expire_leases(db) -> None:
    """What the passing of time does to the lease of a worker that died: the item becomes due again."""
    with db.session_scope() as session:
        session.execute(
            update(WorkItem)
            .where(WorkItem.state == "pending", WorkItem.lease_until.is_not(None))
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )


def stored_charges(db, journal_id: str) -> list[str]:
    """Every charge row of the journal, visible or not, by external id (duplicates show up here)."""
    with db.session_scope() as session:
        return list(
            session.execute(
                select(Charge.external_vendor).where(Charge.journal_id == journal_id).order_by(Charge.seq)
            ).scalars()
        )


def journal_row(db, journal_id: str) -> Journal:
    with db.session_scope() as session:
        journal = session.get(Journal, journal_id)
        session.expunge(journal)
        return journal


def visible_charges(api, headers, journal_id: str) -> list[dict]:
    response = api.get(f"/journals/{journal_id}/charges?limit=1000", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["$meta"]["pagination"]["total"] == len(body["data"])
    return body["data"]


def journal(api, headers, journal_id: str) -> dict:
    response = api.get(f"/journals/{journal_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def lease(settings) -> timedelta:
    return timedelta(seconds=settings.worker.lease_s)


def _real_write():
    """The genuine `_write`, whatever a test patched into the module."""
    return _ORIGINAL_WRITE


class RecordedLog:
    """Stands in for the structlog loggers of the work queue and the validation job: records the events
    (and skips rendering tracebacks, which costs about a second each)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict]] = []

    def __getattr__(self, level: str):
        return lambda event, **values: self.events.append((level, event, values))

    def named(self, event: str) -> list[dict]:
        return [values for _level, name, values in self.events if name == event]


@pytest.fixture(autouse=True)
def job_log(monkeypatch) -> RecordedLog:
    from billing.jobs import worker

    recorded = RecordedLog()
    monkeypatch.setattr(worker, "log", recorded)
    monkeypatch.setattr(jobs, "log", recorded)
    return recorded


def count_conclusions(monkeypatch) -> list[str]:
    """Record the journal id of every validation that concluded (set counters and status)."""
    concluded: list[str] = []

    def conclude(journal, claim, problem, tally):
        concluded.append(journal.id)
        _ORIGINAL_CONCLUDE(journal, claim, problem, tally)

    monkeypatch.setattr(jobs, "_conclude", conclude)
    return concluded


class WorkerDied(BaseException):
    """A worker process killed mid-validation (not an Exception: nothing catches it on the way out)."""


def dying_after(batches: int, real_write, died: type[BaseException] = WorkerDied):
    """A `_write` that writes ``batches`` batches and then kills the worker before the next one."""
    written: list[int] = []

    def write(database, claim, lease_for, rows):
        if len(written) == batches:
            raise died(f"killed after {batches} batches")
        real_write(database, claim, lease_for, rows)
        written.append(len(rows))

    write.written = written  # type: ignore[attr-defined]
    return write


def assert_validated(api, vendor, db, journal_id: str, expected: list[str]) -> None:
    body = journal(api, vendor, journal_id)
    assert body["status"] == "Validated", body
    assert body["error"] is None
    assert body["upload"] == {"total": len(expected), "ready": len(expected), "split": 0, "skipped": 0, "error": 0}
    assert body["price"]["totalPP"] == 100 * len(expected)
    charges = visible_charges(api, vendor, journal_id)
    assert [c["externalIds"]["vendor"] for c in charges] == expected
    assert [c["upload"]["line"] for c in charges] == list(range(1, len(expected) + 1))
    assert len({c["id"] for c in charges}) == len(expected)
    assert stored_charges(db, journal_id) == expected  # nothing hidden left over, no duplicates


SEVEN = [f"e-{number}" for number in range(1, 8)]


# --- crashes ---------------------------------------------------------------------------------------------------


class TestCrashMidValidation:
    def test_a_worker_killed_after_two_batches_leaves_the_journal_revalidatable(
        self, api, vendor, ops, db, settings, drain, monkeypatch
    ):
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("e", 7))
        dying = dying_after(2, _real_write())
        monkeypatch.setattr(jobs, "_write", dying)
        with pytest.raises(WorkerDied):
            drain()  # the worker itself dies: the exception leaves run_pending
        assert dying.written == [2, 2]
        assert len(stored_charges(db, journal_id)) == 4  # two batches were committed …

        # … but nobody sees them: still Validating, no charges, no sellers, the item still pending and leased
        for headers in (vendor, ops):
            body = journal(api, headers, journal_id)
            assert body["status"] == "Validating" and body["error"] is None
            assert body["upload"] == {"total": 0, "ready": 0, "split": 0, "skipped": 0, "error": 0}
            assert visible_charges(api, headers, journal_id) == []
            assert api.get(f"/journals/{journal_id}/sellers", headers=headers).json()["data"] == []
        first_id = f"CHG-{journal_id[4:]}-0000-0000-0100"
        assert api.get(f"/journals/{journal_id}/charges/{first_id}", headers=vendor).status_code == 404
        csv = api.get(f"/journals/{journal_id}/charges", headers={**vendor, "Accept": "text/csv"})
        assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 1  # the header only
        item = work_item(db, journal_id)
        assert (item.state, item.attempts) == ("pending", 1)
        assert item.lease_until is not None and item.lease_until > utcnow()

        # while the dead worker's lease runs, nobody else takes the item
        monkeypatch.setattr(jobs, "_write", _real_write())
        assert drain() == 0
        assert journal(api, vendor, journal_id)["status"] == "Validating"

        # once it expired, the next worker validates from scratch
        expire_leases(db)
        assert drain() == 1
        assert_validated(api, vendor, db, journal_id, SEVEN)
        item = work_item(db, journal_id)
        assert (item.state, item.attempts) == ("done", 2)

    def test_the_lease_expires_by_itself(self, api, vendor, db, settings, drain, monkeypatch):
        settings.worker.batch_size = 2
        settings.worker.lease_s = 1
        journal_id = uploaded(api, vendor, entries("e", 7))
        monkeypatch.setattr(jobs, "_write", dying_after(1, _real_write(), SystemExit))
        with pytest.raises(SystemExit):
            drain()
        monkeypatch.setattr(jobs, "_write", _real_write())
        deadline = time.monotonic() + 5
        while (done := drain()) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done == 1
        assert_validated(api, vendor, db, journal_id, SEVEN)

    def test_a_failing_attempt_is_released_and_retried_at_once(
        self, api, vendor, db, settings, drain, monkeypatch, job_log
    ):
        """An ordinary exception (not a dead process) releases the claim: the same drain tries again."""
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("e", 7))
        real = _real_write()
        failures = []

        def flaky(database, claim, lease_for, rows):
            if claim.attempts == 1 and len(failures) == 0 and rows[0]["external_vendor"] == "e-5":
                failures.append(claim.attempts)
                raise OSError("disk hiccup")
            real(database, claim, lease_for, rows)

        monkeypatch.setattr(jobs, "_write", flaky)
        assert drain() == 2  # the failed attempt and the one that succeeded
        assert failures == [1]
        assert [e["attempt"] for e in job_log.named("jobs.failed")] == [1]
        assert_validated(api, vendor, db, journal_id, SEVEN)
        item = work_item(db, journal_id)
        assert (item.state, item.attempts) == ("done", 2)
        assert item.last_error is None  # the successful attempt clears the failed one's error


# --- lease fencing ---------------------------------------------------------------------------------------------


class TestNeverTwice:
    def test_a_late_worker_is_refused_after_its_lease_was_taken_over(self, api, vendor, db, settings, drain):
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("e", 7))
        with db.session_scope() as session:
            [claim_a] = WorkRepository(session).claim(VALIDATE_JOB, "worker-A", lease(settings))
        assert claim_a.object_id == journal_id and claim_a.attempts == 1

        expire_leases(db)  # A stalls past its lease …
        assert drain() == 1  # … and worker B takes the item over and completes it
        assert_validated(api, vendor, db, journal_id, SEVEN)
        item = work_item(db, journal_id)
        assert (item.state, item.attempts) == ("done", 2) and item.lease_owner != "worker-A"

        # A wakes up: every write it attempts is fenced off by its stale lease token
        with db.session_scope() as session:
            work = WorkRepository(session)
            assert work.renew(claim_a, lease(settings)) is False
            assert work.finish(claim_a) is False
            assert work.finish(claim_a, "failed", "late") is False
            assert work.release(claim_a, "late") is False
        rows = [{"external_vendor": "late"}]
        with pytest.raises(jobs.LeaseLost):
            jobs._write(db, claim_a, lease(settings), rows)
        jobs.validate_journal(db, settings, claim_a)  # a late full run does nothing at all
        assert_validated(api, vendor, db, journal_id, SEVEN)
        item = work_item(db, journal_id)
        assert (item.state, item.attempts, item.last_error) == ("done", 2, None)

    def test_a_worker_losing_its_lease_mid_run_stops_without_writing(
        self, api, vendor, db, settings, drain, monkeypatch, job_log
    ):
        """A is between two batches when its lease expires and B validates the whole file; A's next batch
        and its conclusion are refused, so the charges are B's alone and the status is the one B set."""
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("e", 7))
        real = _real_write()
        events: list[str] = []
        with db.session_scope() as session:
            [claim_a] = WorkRepository(session).claim(VALIDATE_JOB, "worker-A", lease(settings))

        def write(database, claim, lease_for, rows):
            if claim.token == claim_a.token and len(events) == 1:
                events.append("A stalls")
                expire_leases(db)
                assert drain() == 1  # B, with the genuine _write below
                events.append("B done")
            try:
                real(database, claim, lease_for, rows)
            except jobs.LeaseLost:
                events.append(f"{'A' if claim.token == claim_a.token else 'B'} refused")
                raise
            if claim.token == claim_a.token:
                events.append("A wrote")

        monkeypatch.setattr(jobs, "_write", write)
        jobs.validate_journal(db, settings, claim_a)  # returns quietly once it lost the lease
        assert events == ["A wrote", "A stalls", "B done", "A refused"]
        assert job_log.named("journals.validate.lease_lost") == [{"journal_id": journal_id}]
        assert_validated(api, vendor, db, journal_id, SEVEN)
        item = work_item(db, journal_id)
        assert (item.state, item.attempts) == ("done", 2) and item.lease_owner != "worker-A"

    def test_a_worker_losing_its_lease_before_concluding_changes_nothing(
        self, api, vendor, db, settings, drain, monkeypatch
    ):
        settings.worker.batch_size = 100
        journal_id = uploaded(api, vendor, entries("e", 3))
        with db.session_scope() as session:
            [claim_a] = WorkRepository(session).claim(VALIDATE_JOB, "worker-A", lease(settings))
        real = _real_write()

        def write(database, claim, lease_for, rows):
            real(database, claim, lease_for, rows)
            if claim.token == claim_a.token:  # A wrote everything; B takes over before A concludes
                expire_leases(db)
                monkeypatch.setattr(jobs, "_write", real)
                assert drain() == 1

        monkeypatch.setattr(jobs, "_write", write)
        concluded = count_conclusions(monkeypatch)
        jobs.validate_journal(db, settings, claim_a)
        assert concluded == [journal_id]  # B's conclusion only
        assert_validated(api, vendor, db, journal_id, ["e-1", "e-2", "e-3"])

    def test_a_new_upload_fences_out_the_running_validation(self, api, vendor, db, settings, drain, monkeypatch):
        """Re-arming the item for a new file (enqueue) invalidates the running claim: its writes are refused
        and the new file is what ends up validated."""
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("old", 7))
        real = _real_write()
        with db.session_scope() as session:
            [claim_a] = WorkRepository(session).claim(VALIDATE_JOB, "worker-A", lease(settings))
        # the previous file's validation is still running when the vendor uploads again: 409 (Validating)
        assert upload(api, vendor, journal_id, entries("new", 2)).status_code == 409
        # a regenerate-like re-arm of the same item (same kind and object) fences A off
        with db.session_scope() as session:
            WorkRepository(session).enqueue(VALIDATE_JOB, journal_id, dict(claim_a.payload))
        monkeypatch.setattr(jobs, "_write", real)
        jobs.validate_journal(db, settings, claim_a)
        assert stored_charges(db, journal_id) == []
        assert journal(api, vendor, journal_id)["status"] == "Validating"
        assert drain() == 1
        assert_validated(api, vendor, db, journal_id, [f"old-{n}" for n in range(1, 8)])


# --- repeated failure → BJO:0003 -------------------------------------------------------------------------------


class TestRepeatedFailure:
    def test_a_handler_failing_every_time_ends_in_bjo_0003(
        self, api, vendor, db, settings, drain, monkeypatch, job_log
    ):
        settings.worker.max_attempts = 3
        journal_id = uploaded(api, vendor, entries("e", 7))
        calls = []

        def broken(cls, world, product_id):
            calls.append(product_id)
            raise RuntimeError("reference data unavailable")

        monkeypatch.setattr(ReferenceIndex, "build", classmethod(broken))
        assert drain() == 4  # three failed attempts and the one that gives up
        assert len(calls) == 3
        assert [(e["object_id"], e["attempt"]) for e in job_log.named("jobs.failed")] == [
            (journal_id, 1),
            (journal_id, 2),
            (journal_id, 3),
        ]
        body = journal(api, vendor, journal_id)
        assert body["status"] == "Error"
        assert body["error"] == STOPPED
        assert body["upload"] == {"total": 0, "ready": 0, "split": 0, "skipped": 0, "error": 0}
        assert visible_charges(api, vendor, journal_id) == []
        item = work_item(db, journal_id)
        assert (item.state, item.attempts) == ("failed", 4)
        assert item.last_error == STOPPED["message"]
        assert drain() == 0  # nothing left to do

        # the vendor uploads again and it works
        monkeypatch.undo()
        assert upload(api, vendor, journal_id, entries("e", 7)).status_code == 200
        assert journal(api, vendor, journal_id)["error"] is None
        assert drain() == 1
        assert_validated(api, vendor, db, journal_id, SEVEN)

    def test_a_worker_dying_on_every_attempt_ends_in_bjo_0003(self, api, vendor, db, settings, drain, monkeypatch):
        """A poison file that kills the worker process each time: after max_attempts the journal gives up."""
        settings.worker.max_attempts = 2
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("e", 7))
        for _attempt in range(2):
            monkeypatch.setattr(jobs, "_write", dying_after(0, _real_write()))
            with pytest.raises(WorkerDied):
                drain()
            assert journal(api, vendor, journal_id)["status"] == "Validating"
            expire_leases(db)
        assert drain() == 1
        body = journal(api, vendor, journal_id)
        assert (body["status"], body["error"]) == ("Error", STOPPED)
        assert (work_item(db, journal_id).state, work_item(db, journal_id).attempts) == ("failed", 3)

    def test_giving_up_after_crashes_mid_write_exposes_no_partial_charges(
        self, api, vendor, db, settings, drain, monkeypatch
    ):
        settings.worker.max_attempts = 2
        settings.worker.batch_size = 2
        journal_id = uploaded(api, vendor, entries("e", 7))
        for _attempt in range(2):
            monkeypatch.setattr(jobs, "_write", dying_after(1, _real_write()))
            with pytest.raises(WorkerDied):
                drain()
            expire_leases(db)
        assert stored_charges(db, journal_id) == ["e-1", "e-2"]  # the last attempt's leftovers (hidden)
        assert drain() == 1
        body = journal(api, vendor, journal_id)
        assert (body["status"], body["error"]) == ("Error", STOPPED)
        assert body["upload"]["total"] == 0
        assert visible_charges(api, vendor, journal_id) == []  # fails: e-1 and e-2 are listed
        assert stored_charges(db, journal_id) == []


# --- the in-process worker of `billing serve` -------------------------------------------------------------------


class TestInProcessWorker:
    def test_serve_validates_on_its_own_and_the_upload_wakes_it(self, settings, db, vendor):
        settings.worker.enabled = True
        settings.worker.poll_s = 60  # far beyond the timeout below: only the upload's wake-up can do it in time
        with TestClient(create_app(settings, db), base_url="http://t/public/v1/billing") as served:
            worker = served.app.state.worker
            assert worker is not None and worker.is_alive()
            time.sleep(0.2)  # let the thread finish its first (empty) round and start waiting
            journal_id = new_journal(served, vendor)
            assert upload(served, vendor, journal_id, entries("e", 3)).status_code == 200
            assert wait_until_not(served, vendor, journal_id, "Validating", 10) == "Validated"
            assert len(visible_charges(served, vendor, journal_id)) == 3
        assert not worker.is_alive()  # stopped with the app

    def test_serve_polls_for_work_queued_elsewhere(self, settings, db, vendor, api):
        """Work queued by another process (the daemon's CLI, another replica) is found by polling."""
        journal_id = uploaded(api, vendor, entries("e", 2))  # queued through the shared app: no wake-up
        settings.worker.enabled = True
        settings.worker.poll_s = 0.2
        with TestClient(create_app(settings, db), base_url="http://t/public/v1/billing") as served:
            assert wait_until_not(served, vendor, journal_id, "Validating", 10) == "Validated"

    def test_regenerate_wakes_the_worker_too(self, settings, db, vendor, ops):
        settings.worker.enabled = True
        settings.worker.poll_s = 60
        with TestClient(create_app(settings, db), base_url="http://t/public/v1/billing") as served:
            time.sleep(0.2)
            journal_id = new_journal(served, vendor)
            assert upload(served, vendor, journal_id, entries("e", 2)).status_code == 200
            assert wait_until_not(served, vendor, journal_id, "Validating", 10) == "Validated"
            assert served.post(f"/journals/{journal_id}/submit", headers=vendor).status_code == 200
            assert served.post(f"/journals/{journal_id}/regenerate", headers=ops).status_code == 200
            assert wait_until_not(served, ops, journal_id, "Validating", 2) == "Review"


def wait_until_not(api, headers, journal_id: str, status: str, timeout: float) -> str:
    """Poll the journal until it leaves ``status`` (or the timeout passes); returns the status seen last."""
    deadline = time.monotonic() + timeout
    current = status
    while current == status and time.monotonic() < deadline:
        time.sleep(0.05)
        current = journal(api, headers, journal_id)["status"]
    return current


# --- concurrent workers ---------------------------------------------------------------------------------------


def _run_concurrently(db, settings, threads: int) -> list[int]:
    barrier = threading.Barrier(threads)
    results: list[int] = [0] * threads
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            barrier.wait(10)
            results[number] = run_pending(db, settings, HANDLERS, owner=f"worker-{number}")
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)
    assert not any(thread.is_alive() for thread in workers)
    assert errors == []
    return results


def _concurrent_claims(api, vendor, db, settings, monkeypatch, threads: int) -> None:
    settings.worker.batch_size = 2
    sizes = {uploaded(api, vendor, entries("e", size)): size for size in range(1, 7)}
    concluded = count_conclusions(monkeypatch)
    results = _run_concurrently(db, settings, threads)
    assert sum(results) == 6  # every item ran once, across the workers
    owners = {f"worker-{number}" for number in range(threads)}
    for journal_id, size in sizes.items():
        item = work_item(db, journal_id)
        assert (item.state, item.attempts, item.last_error) == ("done", 1, None)
        assert item.lease_owner in owners
        assert_validated(api, vendor, db, journal_id, [f"e-{n}" for n in range(1, size + 1)])
    assert sorted(concluded) == sorted(sizes)  # each journal concluded exactly once


class TestConcurrentWorkers:
    @pytest.mark.postgres
    def test_three_workers_on_postgresql_validate_each_journal_once(self, api, vendor, db, settings, monkeypatch):
        _concurrent_claims(api, vendor, db, settings, monkeypatch, 3)

    def test_two_workers_validate_each_journal_once(self, api, vendor, db, settings, monkeypatch):
        _concurrent_claims(api, vendor, db, settings, monkeypatch, 2)


# --- re-upload ----------------------------------------------------------------------------------------------------


class TestReupload:
    def test_a_reupload_replaces_the_charges_atomically(self, api, vendor, ops, db, drain):
        journal_id = uploaded(api, vendor, entries("a", 3))
        drain()
        assert_validated(api, vendor, db, journal_id, ["a-1", "a-2", "a-3"])

        response = upload(api, vendor, journal_id, entries("b", 2))
        assert response.status_code == 200 and response.json()["status"] == "Validating"
        for headers in (vendor, ops):  # neither A's charges nor a mix while B is validated
            assert visible_charges(api, headers, journal_id) == []
            assert journal(api, headers, journal_id)["upload"]["total"] == 0
        assert drain() == 1
        assert_validated(api, vendor, db, journal_id, ["b-1", "b-2"])
        inputs = api.get(f"/journals/{journal_id}/attachments", headers=vendor).json()["data"]
        assert [a["type"] for a in inputs] == ["Input", "Input"]

    @pytest.mark.parametrize(
        ("content", "name", "media", "status"),
        [
            (b"a,b\n1,2\n", "charges.csv", "text/csv", 415),
            (b"\r\n   \n", "charges.jsonl", "application/jsonl", 400),
            (b"", "charges.jsonl", "application/jsonl", 400),
            (None, "charges.jsonl", "application/jsonl", 413),
        ],
        ids=["unsupported-415", "blank-400", "empty-400", "too-large-413"],
    )
    def test_a_refused_reupload_leaves_the_previous_charges(
        self, api, vendor, db, settings, drain, content, name, media, status
    ):
        journal_id = uploaded(api, vendor, entries("a", 3))
        drain()
        before = journal(api, vendor, journal_id)
        charges_before = visible_charges(api, vendor, journal_id)
        if content is None:
            content = entries("big", 40)
            settings.api.max_charge_file_bytes = len(content) - 1
        response = upload(api, vendor, journal_id, content, name, media)
        assert response.status_code == status, response.text
        after = journal(api, vendor, journal_id)
        assert (after["status"], after["upload"], after["price"]) == ("Validated", before["upload"], before["price"])
        assert visible_charges(api, vendor, journal_id) == charges_before
        assert stored_charges(db, journal_id) == ["a-1", "a-2", "a-3"]
        assert work_item(db, journal_id).state == "done"  # nothing queued
        assert drain() == 0
        inputs = api.get(f"/journals/{journal_id}/attachments", headers=vendor).json()["data"]
        assert len(inputs) == 1  # the refused file was not kept


class TestRetryBackoff:
    def test_a_failed_attempt_waits_before_the_next(self, api, vendor, db, settings, drain, monkeypatch):
        settings.worker.retry_backoff_s = 30
        journal_id = uploaded(api, vendor, entries("e", 3))

        def broken(cls, world, product_id):
            raise RuntimeError("reference data unavailable")

        monkeypatch.setattr(ReferenceIndex, "build", classmethod(broken))
        assert drain() == 1  # one failed attempt, then the item is not due for 30 s
        item = work_item(db, journal_id)
        assert (item.state, item.attempts, item.lease_owner) == ("pending", 1, None)
        assert item.lease_until is not None and "RuntimeError" in item.last_error
        monkeypatch.undo()
        assert drain() == 0
        with db.session_scope() as session:
            session.get(WorkItem, item.id).lease_until = None  # the back-off has passed
        assert drain() == 1
        assert journal(api, vendor, journal_id)["status"] == "Validated"
