"""What the service needs from an ERP (erp-integration.md §1), independent of SOAP and zeep.

`SoapGateway` (erp/soap.py) implements it against NAV / Business Central page services; tests may use
any object with the same methods. Documents are plain dataclasses: no zeep type leaves the erp package.
Every method raises only the `billing.erp.errors` classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

DocType = Literal["invoice", "credit_memo"]


@dataclass(frozen=True, slots=True)
class PlannedHeader:
    """The header fields the service writes on Create (§1.7)."""

    sell_to_customer_no: str
    bill_to_customer_no: str
    external_document_no: str
    your_reference: str
    document_date: date | None
    currency_code: str  # blank for the company's local currency


@dataclass(frozen=True, slots=True)
class PlannedLine:
    line_no: int
    type: str
    no: str
    description: str
    description_2: str
    quantity: Decimal
    unit_price: Decimal
    purchase_price: Decimal
    purchase_currency_code: str
    period_start: date | None
    period_end: date | None
    contract_no: str


@dataclass(frozen=True, slots=True)
class ErpDocument:
    """An unposted (``key`` set, writable) or posted (read-only) sales invoice / credit memo."""

    no: str
    posted: bool
    external_document_no: str
    key: str | None = None
    pre_assigned_no: str | None = None
    sell_to_customer_no: str = ""
    bill_to_customer_no: str = ""
    currency_code: str = ""
    line_nos: frozenset[int] = field(default_factory=frozenset)
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """The last call's HTTP status and size-capped request/response excerpts, for the attempt log (§3.6)."""

    operation: str
    http_status: int | None
    request_excerpt: str | None
    response_excerpt: str | None


class ErpGateway(Protocol):
    def correlate(self, correlation_id: str) -> AbstractContextManager[None]:
        """Send ``X-Correlation-Id`` on the calls made by this thread inside the block."""
        ...

    def last_exchange(self) -> Exchange | None:
        """The last call made by this thread."""
        ...

    def find(
        self, doc_type: DocType, external_document_no: str, *, posted: bool, set_size: int = 3
    ) -> list[ErpDocument]:
        """Unposted (or posted) documents whose External_Document_No equals the value (§3.3 step 2)."""
        ...

    def create(self, doc_type: DocType, header: PlannedHeader) -> ErpDocument: ...

    def add_lines(self, doc_type: DocType, document: ErpDocument, lines: Sequence[PlannedLine]) -> ErpDocument:
        """One Update that inserts ``lines`` into the unposted ``document`` (by its current Key)."""
        ...

    def update_header(self, doc_type: DocType, document: ErpDocument, header: PlannedHeader) -> ErpDocument: ...

    def delete(self, doc_type: DocType, document: ErpDocument) -> None: ...

    def read_unposted(self, doc_type: DocType, no: str) -> ErpDocument | None: ...

    def find_posted(
        self, doc_type: DocType, *, no: str | None = None, pre_assigned_no: str | None = None
    ) -> list[ErpDocument]: ...

    def read_page(
        self, role: str, filters: dict[str, str], set_size: int, bookmark: str | None = None
    ) -> list[dict[str, Any]]:
        """One ``ReadMultiple`` page of a page role, records as dicts of text (the pull, §4)."""
        ...

    def probe(self) -> None:
        """A cheap authenticated read (Customer, ``No: *``, one record): raises when the ERP is unusable."""
        ...


def line_batches(lines: Sequence[PlannedLine], size: int) -> Iterator[Sequence[PlannedLine]]:
    """Lines in Updates of at most ``size`` (``erp.push.max_lines_per_update``)."""
    for start in range(0, len(lines), size):
        yield lines[start : start + size]
