"""The pull's page upsert (`upsert_page`, one query per look-up and one executemany per table for a page) gives
exactly the rows, audit, statuses, statement links and counts of the per-document upsert; and the pull reads the
next page while the current one is upserted without leaking that read."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from billing.db.engine import Database
from billing.db.models import Base, Invoice, InvoiceLine, Statement
from billing.erp import pull as pull_module
from billing.erp.mapping import MappingError
from billing.erp.pull import Puller, PullStats
from billing.erp.settings import ErpSettings
from billing.kit.ids import digits_of
from billing.posted_documents import upsert as upsert_module
from billing.posted_documents.data import PostedDocumentData
from billing.posted_documents.repository import PostedDocumentRepository
from billing.posted_documents.upsert import upsert_page, upsert_posted
from invoices.factory import CLIENT2_AGREEMENT, line, make_statement, observe_balance, posted, upsert

NOW = datetime(2026, 3, 2, 9, 30, 15, 123456)
BEFORE = NOW - timedelta(days=3)
TABLES = ("statement", "erp_outbox", "invoice", "invoice_line", "credit_memo", "credit_memo_line")


def sid(n: int) -> str:
    return f"SOM-0000-0000-0000-{n:04d}"


class PageReader:
    """An ERP whose posted pages hold the given records (keys are their positions); reads are counted."""

    def __init__(self, pages: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        self.records = {
            role: [{"Key": str(i + 1), **record} for i, record in enumerate(rs)] for role, rs in pages.items()
        }
        self.reads: list[tuple[str, str | None]] = []
        self.threads: set[str] = set()

    def read_page(self, role: str, filters: dict[str, str], size: int, bookmark: str | None = None) -> list[Any]:
        self.reads.append((role, bookmark))
        self.threads.add(threading.current_thread().name)
        start = int(bookmark) if bookmark else 0
        return self.records.get(role, [])[start : start + size]


def record(data: PostedDocumentData | None, version: int = 1) -> dict[str, Any]:
    """A raw record whose mapping (patched) gives ``data``; None: an unreadable one."""
    return {"data": data, "Row_Version": str(version)}


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mapping hands over the record's prepared data (or fails); the pull's clock and the factory's are NOW."""

    def posted_document(doc_type: str, raw: Mapping[str, Any], settings: Any, customer: Any) -> PostedDocumentData:
        if raw["data"] is None:
            raise MappingError(f"record {raw['Key']}: Amount 'x' is not a number")
        return raw["data"]

    monkeypatch.setattr(pull_module, "posted_document", posted_document)
    monkeypatch.setattr(pull_module, "utcnow", lambda: NOW)
    monkeypatch.setattr("invoices.factory.utcnow", lambda: BEFORE)


def per_document(
    session: Any, documents: Sequence[PostedDocumentData], *, import_unlinked: bool, now: datetime, actor: Any = None
) -> list[Any]:
    """The reference: `upsert_posted` once per document."""
    return [upsert_posted(session, data, import_unlinked=import_unlinked, now=now, actor=actor) for data in documents]


def reset(db: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        for name in tables:
            conn.execute(text(f'DELETE FROM "{name}"'))


def snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of the tables the upsert writes, as read back raw (audit and erpData as stored), with the random
    document digits replaced by the document numbers (and the outbox's serial id left out)."""
    with db.engine.connect() as conn:
        digits = {
            digits_of(row.id): row.document_no
            for table in ("invoice", "credit_memo")
            for row in conn.execute(text(f"SELECT id, document_no FROM {table}"))
        }

        def normal(value: Any) -> Any:
            if isinstance(value, str):
                for key, number in digits.items():
                    value = value.replace(key, f"<{number}>")
            return value

        rows: dict[str, list[str]] = {}
        for table in TABLES:
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            rows[table] = sorted(
                repr(
                    sorted((k, normal(v)) for k, v in row._mapping.items() if not (table == "erp_outbox" and k == "id"))
                )
                for row in result
            )
        return rows


def scenario(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Statements, documents imported before and balances observed; returns the ERP's pages."""
    make_statement(db, sid(1))  # by externalDocumentNo (lower case)
    make_statement(db, sid(2), outbox_no="US-PRE-2")  # by the number its outbox row recorded
    make_statement(db, sid(3), parties=CLIENT2_AGREEMENT)  # an unlinked invoice links to it when updated
    make_statement(db, sid(4), type="Credit")
    make_statement(db, sid(5), type="Credit", erp_id="US-PRE-5")  # an invoice's number matches: not linked (type)
    make_statement(db, sid(6))
    make_statement(db, sid(7))
    upsert(db, posted(document_no="US-SIN-1004"), import_unlinked=True, now=BEFORE)
    upsert(db, posted(document_no="US-SIN-1005"), import_unlinked=True, now=BEFORE)
    upsert(db, posted(document_no="US-SIN-1009"), import_unlinked=True, now=BEFORE)
    upsert(db, posted(document_no="US-SIN-2000", external=sid(6)), now=BEFORE)  # the credit memos' invoice
    observe_balance(db, "invoice", "US-SIN-1007", "0")
    observe_balance(db, "invoice", "US-SIN-1008", "55.5")
    observe_balance(db, "credit_memo", "US-SCM-3", "0")
    invoices = [
        record(posted(document_no="US-SIN-1001", external=sid(1).lower())),  # new, linked
        record(None),  # unreadable
        record(posted(document_no="US-SIN-1002", pre_assigned="US-PRE-2")),  # new, linked by the outbox number
        # new, unlinked; amounts rounded to 6 places as the column stores them
        record(posted(document_no="US-SIN-1003", lines=(line(1, amount="12.34567891"), line(2, amount="-0.0000005")))),
        record(posted(document_no="US-SIN-1004", row_version=2, lines=(line(3), line(1, amount="60")), total="110")),
        record(posted(document_no="US-SIN-1005")),  # known, not newer
        record(posted(document_no="US-SIN-1006", external=sid(1))),  # its statement is taken by 1001: duplicate
        record(posted(document_no="US-SIN-1007", balance="100")),  # observed balance 0: Paid
        record(posted(document_no="US-SIN-1008", due=datetime(2025, 1, 1))),  # observed 55.5, past due: Overdue
        record(posted(document_no="US-SIN-1009", row_version=2, external=sid(3))),  # known, newer, links now
        record(posted(document_no="US-SIN-1010", lines=(line(1),))),  # new ...
        record(posted(document_no="US-SIN-1010", row_version=2, lines=(line(1), line(2)))),  # ... listed twice
        # 1001's link recorded its number on statement 1 (externalErpId): a duplicate of it
        record(posted(document_no="US-SIN-1011", pre_assigned="US-SIN-1001")),
        record(posted(document_no="US-SIN-1012", pre_assigned="US-PRE-5")),  # a Credit statement's number
        # names statement 7, its pre-assigned number belongs to statement 2: 7 wins, with a warning
        record(posted(document_no="US-SIN-1013", external=sid(7), pre_assigned="US-PRE-2")),
        record(posted(document_no="US-SIN-1014", lines=(line(1), line(1, amount="70"), line(2)))),  # repeated lineNo
        record(posted(document_no="US-SIN-1015", row_version=None, balance=None, modified=BEFORE)),
    ]
    memos = [
        record(posted("credit_memo", "US-SCM-1", applies_to="US-SIN-2000")),  # copies the invoice's parties
        record(posted("credit_memo", "US-SCM-2", external=sid(4), balance="-110")),  # linked
        record(posted("credit_memo", "US-SCM-3")),  # unlinked, observed 0: Released when imported
        record(posted("credit_memo", "US-SCM-4", applies_to="US-SIN-9999")),  # applies to an unknown invoice
        record(posted("credit_memo", "US-SCM-5", external=sid(1))),  # a Debit statement: not linked
        record(None),
    ]
    return {"posted_sales_invoice": invoices, "posted_sales_credit_memo": memos}


def pull(db: Database, settings: ErpSettings, pages: dict[str, list[dict[str, Any]]]) -> list[PullStats]:
    puller = Puller(db, settings, PageReader(pages))  # type: ignore[arg-type]
    return [puller.run(stream) for stream in ("posted_invoices", "posted_credit_memos")]


def settings_for(erp_settings: ErpSettings, *, import_unlinked: bool, page_size: int) -> ErpSettings:
    pull_settings = erp_settings.pull.model_copy(
        update={"settle_s": 0.0, "import_unlinked": import_unlinked, "page_size": page_size}
    )
    return erp_settings.model_copy(update={"pull": pull_settings})


class TestSameRowsAsPerDocument:
    @pytest.mark.parametrize(("import_unlinked", "page_size"), [(False, 500), (True, 500), (True, 4), (False, 3)])
    def test_a_mixed_page_gives_the_rows_and_counts_of_the_per_document_upsert(
        self, db, erp_settings, mapped, monkeypatch, import_unlinked, page_size
    ):
        settings = settings_for(erp_settings, import_unlinked=import_unlinked, page_size=page_size)
        with monkeypatch.context() as patch:
            patch.setattr(pull_module, "upsert_page", per_document)
            reference_stats = pull(db, settings, scenario(db))
        reference = snapshot(db)
        reset(db)
        stats = pull(db, settings, scenario(db))
        assert snapshot(db) == reference
        assert [(s.actions, s.errors, s.read, s.pages, s.finished) for s in stats] == [
            (s.actions, s.errors, s.read, s.pages, s.finished) for s in reference_stats
        ]
        invoices = stats[0].actions
        assert invoices["error"] == 1 and invoices["unchanged"] == 1
        assert invoices["updated"] == (3 if import_unlinked else 2)  # 1010 is skipped twice when unlinked ones are
        with db.read_scope() as session:
            statements = {s.id: s for s in session.execute(select(Statement)).scalars()}
            found = {i.document_no: i for i in session.execute(select(Invoice)).scalars()}
        assert statements[sid(1)].invoice_id == found["US-SIN-1001"].id and statements[sid(1)].status == "Issued"
        assert statements[sid(2)].invoice_id == found["US-SIN-1002"].id
        assert statements[sid(3)].invoice_id == found["US-SIN-1009"].id
        assert statements[sid(7)].invoice_id == found["US-SIN-1013"].id
        assert found["US-SIN-1006"].statement_id is None and found["US-SIN-1011"].statement_id is None  # duplicates
        assert ("US-SIN-1003" in found) is import_unlinked
        if import_unlinked:
            assert found["US-SIN-1007"].status == "Paid" and "paid" in found["US-SIN-1007"].audit
            assert found["US-SIN-1008"].status == "Overdue" and found["US-SIN-1008"].balance_due == Decimal("55.5")
        memos = stats[1].actions
        assert memos["error"] == 1 and memos["inserted"] == (5 if import_unlinked else 2)

    def test_the_audit_json_of_a_new_document_is_stored_as_by_the_per_document_path(self, db):
        documents = [posted(document_no="US-SIN-1"), posted(document_no="US-SIN-2", balance="0")]
        with db.session_scope() as session:
            per_document(session, documents, import_unlinked=True, now=NOW)
        with db.engine.connect() as conn:
            reference = dict(conn.execute(text("SELECT document_no, audit FROM invoice")).all())
        reset(db)
        with db.session_scope() as session:
            upsert_page(session, documents, import_unlinked=True, now=NOW)
        with db.engine.connect() as conn:
            assert dict(conn.execute(text("SELECT document_no, audit FROM invoice")).all()) == reference
        assert set(reference) == {"US-SIN-1", "US-SIN-2"}


class TestPageUpsert:
    def test_new_documents_take_their_observed_balances(self, db):
        observe_balance(db, "invoice", "US-SIN-1", "0")
        observe_balance(db, "invoice", "US-SIN-2", "12.5")
        documents = [posted(document_no=f"US-SIN-{n}") for n in (1, 2, 3)]
        with db.session_scope() as session:
            results = upsert_page(session, documents, import_unlinked=True, now=NOW)
        assert [r.outcome for r in results] == ["inserted"] * 3
        with db.read_scope() as session:
            rows = {i.document_no: (i.balance_due, i.status) for i in session.execute(select(Invoice)).scalars()}
        assert rows == {
            "US-SIN-1": (Decimal(0), "Paid"),
            "US-SIN-2": (Decimal("12.5"), "Issued"),
            "US-SIN-3": (Decimal(100), "Issued"),  # no observation: the header's remaining amount
        }

    def test_a_drawn_id_already_taken_is_drawn_again(self, db, monkeypatch):
        upsert(db, posted(document_no="US-SIN-1"), import_unlinked=True)
        with db.read_scope() as session:
            taken = session.execute(select(Invoice.id)).scalar_one()
        draws = iter([taken, "INV-1111-2222-3333-4444"])
        monkeypatch.setattr(upsert_module, "new_id", lambda prefix, groups: next(draws))
        with db.session_scope() as session:
            (result,) = upsert_page(session, [posted(document_no="US-SIN-2")], import_unlinked=True, now=NOW)
        assert result.outcome == "inserted" and result.document_id == "INV-1111-2222-3333-4444"
        with db.read_scope() as session:
            lines = session.execute(select(InvoiceLine.id).where(InvoiceLine.invoice_id == result.document_id))
            assert sorted(lines.scalars()) == ["INL-1111-2222-3333-4444-0001", "INL-1111-2222-3333-4444-0002"]

    def test_an_id_taken_between_the_draw_and_the_insert_is_survived(self, db, monkeypatch):
        """Another transaction takes a drawn id before the batch insert: the batch is written one document at a
        time, the colliding one with a new id (and its statement follows)."""
        upsert(db, posted(document_no="US-SIN-1"), import_unlinked=True)
        statement_id = make_statement(db, sid(1))
        with db.read_scope() as session:
            taken = session.execute(select(Invoice.id)).scalar_one()
        draws = iter([taken, "INV-1111-2222-3333-4444", "INV-5555-6666-7777-8888"])
        monkeypatch.setattr(upsert_module, "new_id", lambda prefix, groups: next(draws))
        monkeypatch.setattr(PostedDocumentRepository, "taken_ids", lambda self, kind, ids: set())
        documents = [posted(document_no="US-SIN-2"), posted(document_no="US-SIN-3", external=statement_id)]
        with db.session_scope() as session:
            results = upsert_page(session, documents, import_unlinked=True, now=NOW)
        assert [r.outcome for r in results] == ["inserted", "inserted"]
        ids = {r.document_id for r in results}
        assert taken not in ids and len(ids) == 2
        with db.read_scope() as session:
            invoices = {i.document_no: i.id for i in session.execute(select(Invoice)).scalars()}
            statement = session.get(Statement, statement_id)
            lines = sorted(session.execute(select(InvoiceLine.id, InvoiceLine.invoice_id)).all())
        assert invoices["US-SIN-2"] in ids and invoices["US-SIN-3"] in ids and invoices["US-SIN-1"] == taken
        assert statement is not None and statement.invoice_id == invoices["US-SIN-3"]
        assert all(line_id.startswith(f"INL-{digits_of(parent)}-") for line_id, parent in lines) and len(lines) == 6

    def test_a_document_inserted_concurrently_still_fails_the_page(self, db, monkeypatch):
        upsert(db, posted(document_no="US-SIN-1"), import_unlinked=True)
        monkeypatch.setattr(PostedDocumentRepository, "by_document_nos", lambda self, kind, numbers: {})
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.session_scope() as session:
            upsert_page(session, [posted(document_no="US-SIN-1", row_version=2)], import_unlinked=True, now=NOW)


class TestReadAhead:
    def _settings(self, erp_settings: ErpSettings) -> ErpSettings:
        return settings_for(erp_settings, import_unlinked=True, page_size=2)

    def _pages(self, n: int) -> dict[str, list[dict[str, Any]]]:
        return {"posted_sales_invoice": [record(posted(document_no=f"US-SIN-{i:04d}")) for i in range(n)]}

    def _pull_threads(self) -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("erp-pull")]

    def test_the_next_page_is_read_on_the_reader_thread_with_the_last_key_as_bookmark(self, db, erp_settings, mapped):
        reader = PageReader(self._pages(5))
        stats = Puller(db, self._settings(erp_settings), reader).run("posted_invoices")  # type: ignore[arg-type]
        assert stats.finished and stats.read == 5 and stats.actions == {"inserted": 5}
        assert reader.reads == [
            ("posted_sales_invoice", None),
            ("posted_sales_invoice", "2"),
            ("posted_sales_invoice", "4"),
        ]
        assert all(name.startswith("erp-pull") for name in reader.threads) and not self._pull_threads()

    def test_a_stopped_run_discards_the_page_read_ahead(self, db, erp_settings, mapped):
        reader = PageReader(self._pages(7))
        pages: list[int] = []
        puller = Puller(
            db,
            self._settings(erp_settings),
            reader,  # type: ignore[arg-type]
            stopping=lambda: len(pages) >= 1,
            on_page=lambda stats: pages.append(stats.pages),
        )
        stats = puller.run("posted_invoices")
        assert not stats.finished and stats.read == 2 and len(reader.reads) <= 2  # a read ahead: cancelled or unused
        assert not self._pull_threads()
        with db.read_scope() as session:
            assert len(session.execute(select(Invoice.id)).all()) == 2
        again = Puller(db, self._settings(erp_settings), PageReader(self._pages(7))).run("posted_invoices")  # type: ignore[arg-type]
        assert again.finished and again.actions == {"inserted": 5}  # resumed from the checkpoint's bookmark

    def test_a_failed_page_rolls_back_and_discards_the_read_ahead(self, db, erp_settings, mapped, monkeypatch):
        calls = {"n": 0}
        real = pull_module.upsert_page

        def failing_second(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("injected")
            return real(*args, **kwargs)

        monkeypatch.setattr(pull_module, "upsert_page", failing_second)
        with pytest.raises(RuntimeError, match="injected"):
            Puller(db, self._settings(erp_settings), PageReader(self._pages(7))).run("posted_invoices")  # type: ignore[arg-type]
        assert not self._pull_threads()
        with db.read_scope() as session:
            assert len(session.execute(select(Invoice.id)).all()) == 2

    def test_a_customer_read_failing_in_the_mapping_fails_the_run_before_its_page(
        self, db, erp_settings, mapped, monkeypatch
    ):
        def posted_document(doc_type: str, raw: Mapping[str, Any], settings: Any, customer: Any) -> Any:
            if raw["Key"] == "3":
                raise ConnectionError("customer read failed")
            return raw["data"]

        monkeypatch.setattr(pull_module, "posted_document", posted_document)
        with pytest.raises(ConnectionError):
            Puller(db, self._settings(erp_settings), PageReader(self._pages(5))).run("posted_invoices")  # type: ignore[arg-type]
        with db.read_scope() as session:
            assert len(session.execute(select(Invoice.id)).all()) == 2  # the first page committed, not the second


class TestLedgers:
    def test_the_pull_issues_the_statements_and_completes_their_ledgers_and_journal(
        self, db, queued, erp_settings, gateway, simulator
    ):
        """A ledger is followed once per page (at its end), as the per-document upsert followed it per statement."""
        from billing.db.models import Journal, Ledger
        from billing.erp.push import Pusher
        from erp.test_push import drive

        drive(Pusher(db, erp_settings, gateway, "replica-1", slots=2))
        simulator.post_now()
        puller = Puller(db, settings_for(erp_settings, import_unlinked=False, page_size=3), gateway)
        counts = [puller.run(stream).actions for stream in ("posted_invoices", "posted_credit_memos")]
        assert sum(c.get("inserted", 0) for c in counts) == len(queued)
        with db.read_scope() as session:
            statements = session.execute(select(Statement).where(Statement.id.in_([s["id"] for s in queued])))
            statements = list(statements.scalars())
            ledgers = [session.get(Ledger, ledger_id) for ledger_id in {s.ledger_id for s in statements}]
            journals = [session.get(Journal, ledger.journal_id) for ledger in ledgers if ledger is not None]
        assert {s.status for s in statements} == {"Issued"}
        assert all(s.invoice_id or s.credit_memo_id for s in statements)
        assert ledgers and all(ledger is not None and ledger.status == "Completed" for ledger in ledgers)
        assert all(ledger is not None and "completed" in ledger.audit for ledger in ledgers)
        assert journals and all(journal is not None and journal.status == "Completed" for journal in journals)


def test_a_page_of_one_repeated_document_is_inserted_then_updated(db):
    first = posted(document_no="US-SIN-1")
    with db.session_scope() as session:
        results = upsert_page(
            session,
            [first, replace(first, row_version=3), replace(first, row_version=2)],
            import_unlinked=True,
            now=NOW,
        )
    assert [r.outcome for r in results] == ["inserted", "updated", "unchanged"]
    assert len({r.document_id for r in results}) == 1
