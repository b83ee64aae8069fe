"""An in-memory ERP behind the gateway interface, for unit tests of the push logic only.

Acceptance tests use the real simulator over SOAP; this fake keeps the push rules testable in isolation,
with faults injected per operation, before or *after* the change is applied (an unknown outcome).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from billing.erp.errors import ErpError, ErpResyncError, ErpRetryableError
from billing.erp.gateway import DocType, ErpDocument, Exchange, PlannedHeader, PlannedLine


@dataclass
class FakeDocument:
    no: str
    doc_type: DocType
    header: PlannedHeader
    lines: dict[int, PlannedLine] = field(default_factory=dict)
    version: int = 1
    posted: bool = False
    posted_no: str | None = None

    def view(self) -> ErpDocument:
        return ErpDocument(
            no=self.posted_no or self.no,
            posted=self.posted,
            external_document_no=self.header.external_document_no,
            key=None if self.posted else f"{self.no};{self.version}",
            pre_assigned_no=self.no if self.posted else None,
            sell_to_customer_no=self.header.sell_to_customer_no,
            bill_to_customer_no=self.header.bill_to_customer_no,
            currency_code=self.header.currency_code,
            line_nos=frozenset(self.lines),
        )


@dataclass
class Fault:
    operation: str  # create | add_lines | find | delete | update_header
    error: ErpError
    after_commit: bool = False
    times: int = 1


class FakeErp:
    def __init__(self) -> None:
        self.documents: dict[str, FakeDocument] = {}
        self.calls: list[str] = []
        self.faults: list[Fault] = []
        self._numbers = itertools.count(1)
        self._lock = threading.RLock()
        self._local = threading.local()
        self.correlations: set[str] = set()

    # --- test controls ----------------------------------------------------------------------------------
    def inject(self, operation: str, error: ErpError, *, after_commit: bool = False, times: int = 1) -> None:
        self.faults.append(Fault(operation, error, after_commit, times))

    def post(self, no: str) -> None:
        with self._lock:
            document = self.documents[no]
            document.posted, document.posted_no = True, f"PSI-{no[3:]}"

    def by_external(self, external: str) -> list[FakeDocument]:
        return [d for d in self.documents.values() if d.header.external_document_no == external]

    # --- gateway ----------------------------------------------------------------------------------------
    @contextmanager
    def correlate(self, correlation_id: str) -> Iterator[None]:
        self.correlations.add(correlation_id)
        yield

    def last_exchange(self) -> Exchange | None:
        return getattr(self._local, "exchange", None)

    def find(
        self, doc_type: DocType, external_document_no: str, *, posted: bool, set_size: int = 3
    ) -> list[ErpDocument]:
        documents = [d.view() for d in self.by_external(external_document_no) if d.posted == posted]
        return self._run("find_posted" if posted else "find", lambda: documents)

    def create(self, doc_type: DocType, header: PlannedHeader) -> ErpDocument:
        def apply() -> ErpDocument:
            prefix = "SI" if doc_type == "invoice" else "SCM"
            document = FakeDocument(f"{prefix}-{next(self._numbers):06d}", doc_type, header)
            self.documents[document.no] = document
            return document.view()

        return self._run("create", apply)

    def add_lines(self, doc_type: DocType, document: ErpDocument, lines: Sequence[PlannedLine]) -> ErpDocument:
        def apply() -> ErpDocument:
            stored = self._current(document)
            for line in lines:
                if line.line_no in stored.lines:
                    raise ErpResyncError(f"The record in table Sales Line already exists. Line No.='{line.line_no}'")
            for line in lines:
                stored.lines[line.line_no] = line
            stored.version += 1
            return stored.view()

        return self._run("add_lines", apply)

    def update_header(self, doc_type: DocType, document: ErpDocument, header: PlannedHeader) -> ErpDocument:
        def apply() -> ErpDocument:
            stored = self._current(document)
            stored.header = replace(header)
            stored.version += 1
            return stored.view()

        return self._run("update_header", apply)

    def delete(self, doc_type: DocType, document: ErpDocument) -> None:
        def apply() -> None:
            stored = self._current(document)
            del self.documents[stored.no]

        self._run("delete", apply)

    def read_unposted(self, doc_type: DocType, no: str) -> ErpDocument | None:
        document = self.documents.get(no)
        return document.view() if document and not document.posted else None

    def find_posted(self, doc_type: DocType, *, no: str | None = None, pre_assigned_no: str | None = None) -> list[Any]:
        return [
            d.view()
            for d in self.documents.values()
            if d.posted and ((no and d.posted_no == no) or (pre_assigned_no and d.no == pre_assigned_no))
        ]

    def probe(self) -> None:
        self._run("probe", lambda: None)

    def read_page(
        self, role: str, filters: dict[str, str], set_size: int, bookmark: str | None = None
    ) -> list[dict[str, Any]]:
        """Nothing is ever posted in the fake: every pull page is empty."""
        return self._run("read_page", list)

    # --- internals --------------------------------------------------------------------------------------
    def _current(self, document: ErpDocument) -> FakeDocument:
        assert document.key is not None, "writes need the Key of an unposted document"
        no, version = document.key.split(";")
        stored = self.documents.get(no)
        if stored is None:
            raise ErpResyncError(f"The Sales Header does not exist. No.='{no}'")
        if stored.version != int(version):
            raise ErpRetryableError(
                f'Other user has modified Sales Header "{no}".', certain_not_applied=True, fault_code="a:NavCSide"
            )
        return stored

    def _run(self, operation: str, apply: Any) -> Any:
        with self._lock:
            self.calls.append(operation)
            self._local.exchange = Exchange(operation, 200, f"<{operation}/>", None)
            fault = next((f for f in self.faults if f.operation == operation and f.times > 0), None)
            if fault is not None:
                fault.times -= 1
                if not fault.after_commit:
                    raise fault.error
            result = apply()
            if fault is not None:
                raise fault.error
            return result
