"""Rendering as the daemon does it: discovery of changed parents, `Output` attachments served by the API,
one version per (template version, inputs), new versions on change, replicas sharing the work."""

from __future__ import annotations

import io
import shutil
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pypdf
from sqlalchemy import func, select, update

from billing.attachments.storage import AttachmentStorage
from billing.db.engine import Database
from billing.db.models import Attachment, DocumentOutput, DocumentTask, Statement
from billing.documents.jobs import RenderStats, render_claimed, render_tick
from billing.documents.repository import DocumentRepository
from billing.documents.templating import BUNDLED_TEMPLATES, Templates
from billing.kit.timeutil import utcnow
from billing.settings import Settings
from erp.factory import make_queued_statements
from invoices.factory import CLIENT_AGREEMENT, observe_balance, posted, upsert


def issue(db: Database, ids: list[str]) -> None:
    with db.session_scope() as session:
        session.execute(update(Statement).where(Statement.id.in_(ids)).values(status="Issued", updated_at=utcnow()))


def outputs(db: Database, parent_id: str) -> list[tuple[str, str]]:
    with db.read_scope() as session:
        rows = session.execute(
            select(DocumentOutput.kind, DocumentOutput.attachment_id)
            .where(DocumentOutput.parent_id == parent_id)
            .order_by(DocumentOutput.id)
        ).all()
    return [(row.kind, row.attachment_id) for row in rows]


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


class TestStatementDocuments:
    def test_an_issued_statement_gets_its_pdf_and_csv_as_output_attachments(
        self, demo_world, db: Database, settings: Settings, api, ops
    ) -> None:
        [statement_id] = make_queued_statements(db, 1, charges=(3, 3))
        assert render_tick(db, settings, "r1").rendered == 0  # Queued: nothing to render yet
        issue(db, [statement_id])
        stats = render_tick(db, settings, "r1")
        assert stats.rendered == 2 and stats.failed == 0
        kinds = dict(outputs(db, statement_id))
        assert set(kinds) == {"statement_pdf", "statement_charges_csv"}
        listed = api.get(f"/statements/{statement_id}/attachments", headers=ops).json()["data"]
        by_id = {attachment["id"]: attachment for attachment in listed}
        pdf_meta = by_id[kinds["statement_pdf"]]
        assert pdf_meta["type"] == "Output" and pdf_meta["contentType"] == "application/pdf"
        assert pdf_meta["filename"] == f"statement-{statement_id}.pdf"
        download = api.get(
            f"/statements/{statement_id}/attachments/{kinds['statement_pdf']}",
            headers=ops | {"Accept": "application/pdf"},
        )
        assert download.status_code == 200, download.text
        text = pdf_text(download.content)
        with db.read_scope() as session:
            total = session.get(Statement, statement_id).total_sp
        assert statement_id in text
        assert f"{abs(total):,.2f}" in text
        csv = api.get(
            f"/statements/{statement_id}/attachments/{kinds['statement_charges_csv']}",
            headers=ops | {"Accept": "text/csv"},
        )
        assert csv.status_code == 200 and csv.text.count("\r\n") == 1 + 3  # header + the three charges

    def test_rendering_again_makes_no_new_version(self, demo_world, db: Database, settings: Settings) -> None:
        [statement_id] = make_queued_statements(db, 1)
        issue(db, [statement_id])
        render_tick(db, settings, "r1")
        first = outputs(db, statement_id)
        issue(db, [statement_id])  # touched (updated_at moves) but nothing it shows has changed
        stats = render_tick(db, settings, "r1")
        assert stats.rendered == 0 and stats.unchanged == 2
        assert outputs(db, statement_id) == first
        with db.read_scope() as session:
            attachments = session.execute(
                select(func.count()).select_from(Attachment).where(Attachment.parent_id == statement_id)
            ).scalar_one()
        assert attachments == 2

    def test_a_new_template_version_renders_new_versions_beside_the_old(
        self, demo_world, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        [statement_id] = make_queued_statements(db, 1)
        issue(db, [statement_id])
        render_tick(db, settings, "r1")
        custom = tmp_path / "templates"
        shutil.copytree(BUNDLED_TEMPLATES, custom)
        (custom / "README.md").write_text("our own copy\n")
        settings.documents.templates_dir = custom
        from rich.console import Console

        from billing.documents.cli import render

        assert render(db, settings, [statement_id], None, None, Console(file=io.StringIO())) == 0
        versions = outputs(db, statement_id)
        assert len(versions) == 4 and len({attachment for _, attachment in versions}) == 4

    def test_two_replicas_render_each_document_once(self, demo_world, db: Database, settings: Settings) -> None:
        ids = make_queued_statements(db, 12)
        issue(db, ids)
        settings.documents.render_batch_size = 3
        errors: list[BaseException] = []

        def replica(name: str) -> None:
            try:
                for _ in range(10):
                    render_tick(db, settings, name)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=replica, args=(f"r{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with db.read_scope() as session:
            per_parent = session.execute(
                select(DocumentOutput.parent_id, DocumentOutput.kind, func.count()).group_by(
                    DocumentOutput.parent_id, DocumentOutput.kind
                )
            ).all()
            due = session.execute(select(func.count()).where(DocumentTask.due_at.is_not(None))).scalar_one()
        assert len(per_parent) == 2 * len(ids)
        assert all(count == 1 for _, _, count in per_parent)
        assert due == 0


class TestInvoiceDocuments:
    def test_a_paid_invoice_renders_a_new_version_and_keeps_the_old(
        self, demo_world, db: Database, settings: Settings, api, ops, client
    ) -> None:
        result = upsert(db, posted(external=None), import_unlinked=True)
        invoice_id = result.document_id
        with db.session_scope() as session:  # the client's own invoice
            from billing.db.models import Invoice

            session.execute(
                update(Invoice)
                .where(Invoice.id == invoice_id)
                .values(client_id=CLIENT_AGREEMENT["client_id"], updated_at=utcnow())
            )
        assert render_tick(db, settings, "r1").rendered == 2
        before = outputs(db, invoice_id)
        observe_balance(db, "invoice", "US-SIN-1001", "0")
        from billing.posted_documents.lifecycle import apply_balance

        with db.session_scope() as session:
            apply_balance(session, "invoice", "US-SIN-1001", Decimal(0), utcnow())
        stats = render_tick(db, settings, "r1")
        after = outputs(db, invoice_id)
        assert stats.rendered >= 1 and len(after) > len(before) and after[: len(before)] == before
        pdfs = [attachment for kind, attachment in after if kind == "invoice_pdf"]
        assert len(pdfs) == 2
        newest = api.get(
            f"/invoices/{invoice_id}/attachments/{pdfs[-1]}", headers=client | {"Accept": "application/pdf"}
        )
        assert newest.status_code == 200
        assert "US-SIN-1001" in pdf_text(newest.content)
        old = api.get(f"/invoices/{invoice_id}/attachments/{pdfs[0]}", headers=ops | {"Accept": "application/pdf"})
        assert old.status_code == 200 and old.content != newest.content
        other_client = {"Authorization": f"Bearer {demo_world['client2']}", "Accept": "application/pdf"}
        assert api.get(f"/invoices/{invoice_id}/attachments/{pdfs[-1]}", headers=other_client).status_code == 404
        listed = api.get(f"/invoices/{invoice_id}/attachments", headers=client).json()["data"]
        assert {a["id"] for a in listed} >= set(pdfs) and all(a["type"] == "Output" for a in listed)
        assert all(a["isExternal"] is False for a in listed)  # rendered by the service, not received from the ERP
        deleted = api.delete(f"/invoices/{invoice_id}/attachments/{pdfs[0]}", headers=ops)
        assert deleted.status_code == 409  # Output attachments cannot be deleted (§5.11)


class TestRenderFailures:
    def test_a_broken_template_is_recorded_and_retried_later_without_writing_anything(
        self, demo_world, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        [statement_id] = make_queued_statements(db, 1)
        issue(db, [statement_id])
        custom = tmp_path / "templates"
        shutil.copytree(BUNDLED_TEMPLATES, custom)
        (custom / "documents" / "statement.toml").write_text("[page\nsize = ")  # not TOML
        settings.documents.templates_dir = custom
        before = utcnow()
        stats = render_tick(db, settings, "r1")
        assert (stats.rendered, stats.failed) == (0, 1)
        with db.read_scope() as session:
            task = session.execute(select(DocumentTask).where(DocumentTask.parent_id == statement_id)).scalar_one()
            attachments = session.execute(
                select(func.count()).select_from(Attachment).where(Attachment.parent_id == statement_id)
            ).scalar_one()
        assert "statement.toml" in (task.last_error or "")
        assert task.attempts == 1 and task.lease_owner is None
        assert task.due_at is not None and task.due_at >= before + timedelta(seconds=25)  # backs off (30 s, doubling)
        assert attachments == 0 and outputs(db, statement_id) == []  # nothing half-written (the CSV rendered fine)
        assert render_tick(db, settings, "r1").failed == 0  # not due again yet

        shutil.copy(BUNDLED_TEMPLATES / "documents" / "statement.toml", custom / "documents" / "statement.toml")
        with db.session_scope() as session:
            session.execute(update(DocumentTask).where(DocumentTask.id == task.id).values(due_at=utcnow()))
        stats = render_tick(db, settings, "r1")
        assert (stats.rendered, stats.failed) == (2, 0)
        with db.read_scope() as session:
            task = session.get(DocumentTask, task.id)
        assert (task.last_error, task.attempts, task.due_at) == (None, 0, None)

    def test_a_render_whose_lease_was_taken_over_commits_nothing(
        self, demo_world, db: Database, settings: Settings
    ) -> None:
        [statement_id] = make_queued_statements(db, 1)
        issue(db, [statement_id])
        with db.session_scope() as session:
            repository = DocumentRepository(session)
            repository.discover("statement", timedelta(seconds=60), 10)
            [slow] = repository.claim("r1", 10, timedelta(seconds=60))
        with db.session_scope() as session:  # r1's lease runs out; r2 claims the task
            session.execute(update(DocumentTask).where(DocumentTask.id == slow.id).values(lease_until=utcnow()))
        with db.session_scope() as session:
            [fast] = DocumentRepository(session).claim("r2", 10, timedelta(seconds=60))
        templates = Templates.from_settings(settings.documents)
        storage = AttachmentStorage.from_settings(settings)
        late = RenderStats()
        render_claimed(db, settings, templates, storage, "r1", slow, late)
        assert (late.rendered, late.failed) == (0, 0)
        assert outputs(db, statement_id) == []  # r1's render rolled back
        on_time = RenderStats()
        render_claimed(db, settings, templates, storage, "r2", fast, on_time)
        assert on_time.rendered == 2
        assert len(outputs(db, statement_id)) == 2
        with db.read_scope() as session:
            attachments = session.execute(
                select(func.count()).select_from(Attachment).where(Attachment.parent_id == statement_id)
            ).scalar_one()
        assert attachments == 2
