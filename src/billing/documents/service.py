"""Rendering a parent's documents into `Output` attachments, once per (template version, inputs).

Each configured output of a parent (``documents.outputs``) is rendered only when no version with the same checksum
exists; a changed parent (an invoice turning Paid, a new template) renders a new attachment version next to the old
one, never over it. New versions are handed to delivery in the same transaction.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Literal, cast

from sqlalchemy.orm import Session

from billing.attachments.service import CREDIT_MEMO, INVOICE, LEDGER, STATEMENT, AttachmentService
from billing.attachments.storage import AttachmentStorage
from billing.auth.principal import system_principal
from billing.documents.csv_export import write_csv
from billing.documents.delivery import DeliveryMeta, enqueue_deliveries
from billing.documents.pdf import render_posted_document, render_statement
from billing.documents.repository import DocumentRepository
from billing.documents.sources import checksum, checksum_of, posted_document_view, statement_view
from billing.documents.templating import Templates
from billing.documents.views import PostedDocumentView, StatementView
from billing.settings import DocumentsSettings

PARENT_OF = {"statement": STATEMENT, "invoice": INVOICE, "credit_memo": CREDIT_MEMO, "ledger": LEDGER}
OUTPUT_LIMIT = 2**40  # our own renderings are not user uploads


@dataclass(frozen=True)
class OutputKind:
    parent_type: str
    format: Literal["pdf", "csv"]
    filename: str  # {id} and {number} are replaced
    content_type: str


KINDS: dict[str, OutputKind] = {
    "invoice_pdf": OutputKind("invoice", "pdf", "invoice-{number}.pdf", "application/pdf"),
    "credit_memo_pdf": OutputKind("credit_memo", "pdf", "credit-memo-{number}.pdf", "application/pdf"),
    "statement_pdf": OutputKind("statement", "pdf", "statement-{id}.pdf", "application/pdf"),
    "statement_charges_csv": OutputKind("statement", "csv", "statement-{id}-charges.csv", "text/csv"),
    "invoice_lines_csv": OutputKind("invoice", "csv", "invoice-{number}-lines.csv", "text/csv"),
    "ledger_charges_csv": OutputKind("ledger", "csv", "ledger-{id}-charges.csv", "text/csv"),
}


class UnknownDocument(LookupError):
    """The parent does not exist (any more)."""


@dataclass(frozen=True)
class Rendered:
    kind: str
    output_id: int
    attachment_id: str
    new: bool  # False: this version was rendered before (same checksum)


class DocumentRenderer:
    def __init__(
        self, session: Session, templates: Templates, storage: AttachmentStorage, settings: DocumentsSettings
    ) -> None:
        self.session = session
        self.templates = templates
        self.storage = storage
        self.settings = settings
        self.repository = DocumentRepository(session)

    def render(self, parent_type: str, parent_id: str, kinds: list[str] | None = None) -> list[Rendered]:
        """Render the parent's configured outputs that are not up to date; returns every output's version."""
        view: PostedDocumentView | StatementView | None
        if parent_type == "statement":
            view = statement_view(self.session, parent_id)
        elif parent_type in ("invoice", "credit_memo"):
            view = posted_document_view(self.session, parent_type, parent_id)
        elif parent_type == "ledger":
            view = None
        else:
            raise ValueError(
                f"documents are rendered for statements, invoices, credit memos and ledgers, not {parent_type}"
            )
        if view is None and parent_type != "ledger":
            raise UnknownDocument(f"{parent_type} {parent_id} does not exist")
        results = []
        for kind in kinds if kinds is not None else self.settings.outputs.get(parent_type, []):
            spec = KINDS[kind]
            if spec.parent_type != parent_type:
                raise ValueError(f"{kind} is rendered for a {spec.parent_type}, not a {parent_type}")
            digest = self._checksum(kind, parent_id, view)
            existing = self.repository.output(parent_type, parent_id, kind, digest)
            if existing is not None:
                results.append(Rendered(kind, existing.id, existing.attachment_id, new=False))
                continue
            results.append(self._render_new(kind, spec, parent_id, view, digest))
        return results

    def _checksum(self, kind: str, parent_id: str, view: PostedDocumentView | StatementView | None) -> str:
        if view is None:  # a ledger: its charges are its inputs
            return checksum_of(self.templates.version, kind, tuple(self.repository.ledger_digest(parent_id)))
        return checksum(self.templates.version, kind, view)

    def _render_new(
        self, kind: str, spec: OutputKind, parent_id: str, view: PostedDocumentView | StatementView | None, digest: str
    ) -> Rendered:
        number = view.number if isinstance(view, PostedDocumentView) else parent_id
        filename = spec.filename.format(id=parent_id, number=number)
        with self._content(kind, parent_id, view) as stream:
            attachment = AttachmentService(self.session, system_principal(), self.storage).add_file(
                PARENT_OF[spec.parent_type],
                parent_id,
                stream=stream,
                filename=filename,
                content_type=spec.content_type,
                type="Output",
                limit=OUTPUT_LIMIT,
                description=f"{kind.replace('_', ' ')} (template {self.templates.version[:12]})",
            )
        output = self.repository.add_output(
            parent_type=spec.parent_type,
            parent_id=parent_id,
            kind=kind,
            checksum=digest,
            template_version=self.templates.version,
            attachment_id=attachment.id,
        )
        seller_id, client_id = self.repository.party_ids(spec.parent_type, parent_id)
        meta = DeliveryMeta(
            document_type=spec.parent_type,
            format=spec.format,
            seller_id=seller_id,
            client_id=client_id,
            parent_id=parent_id,
            label=number,
        )
        enqueue_deliveries(self.session, output.id, meta, self.settings)
        return Rendered(kind, output.id, attachment.id, new=True)

    def _content(
        self, kind: str, parent_id: str, view: PostedDocumentView | StatementView | None
    ) -> AbstractContextManager[BinaryIO]:
        if isinstance(view, PostedDocumentView) and kind.endswith("_pdf"):
            return _spooled(lambda out: out.write(render_posted_document(view, self.templates)))
        if isinstance(view, StatementView) and kind == "statement_pdf":
            return _spooled(lambda out: out.write(render_statement(view, self.templates)))
        return _spooled(lambda out: write_csv(kind, self.session, parent_id, self.templates, out))


@contextmanager
def _spooled(write: Callable[[BinaryIO], object]) -> Iterator[BinaryIO]:
    """Render into a temporary file (in memory up to 8 MiB) and hand it to storage as a stream."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as file:
        stream = cast(BinaryIO, file)
        write(stream)
        stream.seek(0)
        yield stream
