"""`SoapGateway`: the ERP gateway over NAV / Business Central page web services, with zeep (erp-integration.md §1).

WSDLs are parsed once per process: from ``erp.wsdl_dir`` when set (vendored with ``billing erp fetch-wsdl``),
else rendered from the page definitions shipped in `billing.erp.pages`; each is bound to the configured URL
with ``create_service``. zeep runs with ``strict=True``, ``forbid_external=True``, ``xml_huge_tree=False``.
HTTP goes through one `requests` session per thread (its own connection pool), always with (connect,
operation) timeouts and ``X-Correlation-Id``; the hot writes (Create, Update) go through urllib3 directly when
nothing needs requests' machinery (`SoapGateway._direct`). Every failure leaves as a `billing.erp.errors` class;
no zeep type leaves this module.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import requests
import urllib3
import zeep
from lxml import etree
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from zeep.transports import Transport

from billing.erp.auth import session_auth
from billing.erp.criteria import quote
from billing.erp.errors import ErpConfigError, ErpRejectedError, ErpRetryableError, classify_fault, classify_http
from billing.erp.gateway import DocType, ErpDocument, Exchange, PlannedHeader, PlannedLine
from billing.erp.pages import (
    PAGES,
    PageDefinition,
    Subpage,
    namespace,
    service_url,
    soap_action,
    write_wsdls,
)
from billing.erp.settings import ErpSettings

EXCERPT = 2048
EXCERPT_MARGIN = 1024  # redaction sees this much past the excerpt, so a masked element is never cut open
_UNPOSTED = {"invoice": "sales_invoice", "credit_memo": "sales_credit_memo"}
_POSTED = {"invoice": "posted_sales_invoice", "credit_memo": "posted_sales_credit_memo"}
#: Logical names of the fields the service writes, with their default XML names (``erp.field_map`` renames).
HEADER_FIELDS = {
    "sell_to_customer_no": "Sell_to_Customer_No",
    "bill_to_customer_no": "Bill_to_Customer_No",
    "external_document_no": "External_Document_No",
    "your_reference": "Your_Reference",
    "document_date": "Document_Date",
    "currency_code": "Currency_Code",
}
LINE_FIELDS = {
    "line_no": "Line_No",
    "type": "Type",
    "no": "No",
    "description": "Description",
    "description_2": "Description_2",
    "quantity": "Quantity",
    "unit_price": "Unit_Price",
    "purchase_price": "Purchase_Price",
    "purchase_currency_code": "Purchase_Currency_Code",
    "period_start": "Period_Start",
    "period_end": "Period_End",
    "contract_no": "Contract_No",
}


@dataclass(frozen=True, slots=True)
class _Reply:
    """An HTTP answer from urllib3 with the `requests.Response` attributes the gateway reads."""

    status_code: int
    headers: Any  # case-insensitive: urllib3's HTTPHeaderDict
    content: bytes


class _Transport(Transport):
    """zeep transport with a `requests` session per thread, (connect, read) timeouts, the correlation header,
    and the last exchange kept per thread (status, ``Retry-After``, excerpts)."""

    def __init__(self, settings: ErpSettings, make_session: Callable[[], requests.Session]) -> None:
        self._make_session = make_session
        self._local = threading.local()
        self._timeouts = (settings.timeouts.connect_s, settings.timeouts.operation_s)
        super().__init__(timeout=settings.timeouts.connect_s, operation_timeout=settings.timeouts.operation_s)

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._make_session()
        return session

    @session.setter
    def session(self, _value: requests.Session) -> None:  # zeep assigns one in __init__; ours are per thread
        pass

    @property
    def local(self) -> threading.local:
        return self._local

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        correlation = getattr(self._local, "correlation_id", None)
        if correlation:
            headers = {**headers, "X-Correlation-Id": correlation}
        self._local.request = message
        self._local.response = None
        response = self.session.post(address, data=message, headers=headers, timeout=self._timeouts)
        self._local.response = response
        return response


class SoapGateway:
    """The `billing.erp.gateway.ErpGateway` of a NAV / Business Central company."""

    def __init__(
        self,
        settings: ErpSettings,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        wsdl_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self._injected_sessions = session_factory is not None
        #: (host pool, path) by service URL: the pool manager's look-up, done once
        self._host_pools: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = {}
        self._timeout = urllib3.Timeout(connect=settings.timeouts.connect_s, read=settings.timeouts.operation_s)
        self._transport = _Transport(settings, session_factory or self._default_session)
        self._wsdl_dir = wsdl_dir or settings.wsdl_dir
        self._services: dict[str, Any] = {}
        self._lock = threading.Lock()

    # --- set-up -----------------------------------------------------------------------------------------
    def new_session(self) -> requests.Session:
        """A `requests` session with the configured ERP authentication."""
        return self._default_session()

    def _default_session(self) -> requests.Session:
        session = requests.Session()
        # the environment's proxy and CA settings, read once: requests would re-read them on every call
        session.proxies.update(urllib.request.getproxies())
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
        session.auth = self._auth
        return session

    @cached_property
    def _direct(self) -> tuple[urllib3.PoolManager, dict[str, str]] | None:
        """A urllib3 pool (and the auth header) for the hot writes: requests' per-call preparation (settings merge,
        hooks, cookies) cost ~0.5 ms of CPU a call, as much as the HTTP exchange itself. None (requests for
        everything) with an injected session (the in-process simulator), NTLM or OAuth2 (their hooks), or a proxy."""
        auth = self._auth
        if self._injected_sessions or not (auth is None or isinstance(auth, tuple)):
            return None
        host = urllib.parse.urlsplit(self.settings.base_url).hostname or ""
        if urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
            return None
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH
        pool = urllib3.PoolManager(num_pools=4, maxsize=32, cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle)
        headers = urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}") if auth else {}
        return pool, headers

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> requests.Response | _Reply:
        """POST a write: urllib3 directly when `_direct` allows it, else the thread's requests session."""
        direct = self._direct
        if direct is None:
            return self._transport.post(url, body, headers)
        pool, auth_headers = direct
        local = self._transport.local
        correlation = getattr(local, "correlation_id", None)
        headers = {**headers, **auth_headers, **({"X-Correlation-Id": correlation} if correlation else {})}
        local.request = body
        target = self._host_pools.get(url)
        if target is None:
            parts = urllib.parse.urlsplit(url)
            target = self._host_pools[url] = (pool.connection_from_url(url), parts.path or "/")
        host_pool, path = target
        answer = host_pool.urlopen(
            "POST",
            path,
            body=body,
            headers=headers,
            timeout=self._timeout,
            retries=False,
            redirect=False,
            assert_same_host=False,
        )
        local.response = reply = _Reply(answer.status, answer.headers, answer.data)
        return reply

    @cached_property
    def _auth(self) -> Any:
        """One auth object per gateway (an OAuth2 token is shared by the threads' sessions)."""
        return session_auth(self.settings.auth, self.settings.base_url)

    @cached_property
    def _wsdl_paths(self) -> dict[str, Path]:
        directory = self._wsdl_dir or _shipped_wsdls(self.settings.base_url, self._names)
        return {role: directory / f"{name}.wsdl" for role, name in self._names.items()}

    @cached_property
    def _names(self) -> dict[str, str]:
        return self.settings.services.model_dump()

    def _service(self, role: str) -> tuple[zeep.Client, Any]:
        """The zeep client and service proxy of a page, parsed once and bound to the configured address."""
        with self._lock:
            service = self._services.get(role)
            if service is None:
                name = self._names[role]
                client = zeep.Client(
                    str(self._wsdl_paths[role]),
                    transport=self._transport,
                    settings=zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False),
                )
                binding = f"{{{namespace(name)}}}{name}_Binding"
                service = self._services[role] = (
                    client,
                    client.create_service(binding, service_url(self.settings.base_url, name)),
                )
            return service

    # --- gateway ----------------------------------------------------------------------------------------
    @contextmanager
    def correlate(self, correlation_id: str) -> Iterator[None]:
        local = self._transport.local
        previous = getattr(local, "correlation_id", None)
        local.correlation_id = correlation_id
        try:
            yield
        finally:
            local.correlation_id = previous

    def last_exchange(self) -> Exchange | None:
        local = self._transport.local
        operation = getattr(local, "operation", None)
        if operation is None:
            return None
        response = getattr(local, "response", None)
        request = getattr(local, "request", None)
        return Exchange(
            operation=operation,
            http_status=response.status_code if response is not None else None,
            request_excerpt=self._excerpt(request),
            response_excerpt=self._excerpt(response.content) if response is not None else None,
        )

    @cached_property
    def _redacted(self) -> re.Pattern[str] | None:
        """XML elements whose text the attempt log masks (``erp.log.redact_fields``, ``*`` wildcards)."""
        names = [re.escape(p).replace(r"\*", "[A-Za-z0-9_]*") for p in self.settings.log.redact_fields]
        if not names:
            return None
        return re.compile(rf"(<(?:[\w-]+:)?(?:{'|'.join(names)})>)[^<]*(</)")

    def _excerpt(self, payload: bytes | str | None) -> str | None:
        """At most 2 KB of a request or response, redacted fields masked (§3.6)."""
        if payload is None:
            return None
        # redact a bounded head, not the whole payload (UTF-8: up to 4 bytes per character)
        head = payload[: (4 if isinstance(payload, bytes) else 1) * EXCERPT + EXCERPT_MARGIN]
        text = (head.decode("utf-8", "replace") if isinstance(head, bytes) else head)[: EXCERPT + EXCERPT_MARGIN]
        if self._redacted is not None:
            text = self._redacted.sub(r"\1***\2", text)
        return text[:EXCERPT]

    def find(
        self, doc_type: DocType, external_document_no: str, *, posted: bool, set_size: int = 3
    ) -> list[ErpDocument]:
        role = (_POSTED if posted else _UNPOSTED)[doc_type]
        criteria = {self._field("header", "external_document_no"): quote(external_document_no.upper())}
        return [self._document(role, record) for record in self._read_multiple(role, criteria, set_size)]

    def create(self, doc_type: DocType, header: PlannedHeader) -> ErpDocument:
        role = _UNPOSTED[doc_type]
        return self._document(role, self._write(role, "Create", self._header(header)))

    def add_lines(self, doc_type: DocType, document: ErpDocument, lines: Sequence[PlannedLine]) -> ErpDocument:
        role = _UNPOSTED[doc_type]
        page = PAGES[role]
        assert page.subpage is not None
        body = {"Key": document.key, page.subpage.name: [self._line(line) for line in lines]}
        return self._document(role, self._write(role, "Update", body))

    def update_header(self, doc_type: DocType, document: ErpDocument, header: PlannedHeader) -> ErpDocument:
        role = _UNPOSTED[doc_type]
        fields = self._header(header)
        fields.pop(self._field("header", "external_document_no"), None)
        return self._document(role, self._write(role, "Update", {"Key": document.key, **fields}))

    def delete(self, doc_type: DocType, document: ErpDocument) -> None:
        self._invoke(_UNPOSTED[doc_type], "Delete", Key=document.key)

    def read_unposted(self, doc_type: DocType, no: str) -> ErpDocument | None:
        role = _UNPOSTED[doc_type]
        record = self._invoke(role, "Read", No=no)
        return self._document(role, record) if record else None

    def find_posted(
        self, doc_type: DocType, *, no: str | None = None, pre_assigned_no: str | None = None
    ) -> list[ErpDocument]:
        role = _POSTED[doc_type]
        criteria = {"No": quote(no)} if no else {"Pre_Assigned_No": quote(pre_assigned_no or "")}
        return [self._document(role, record) for record in self._read_multiple(role, criteria, 3)]

    def probe(self) -> None:
        self._read_multiple("customer", {"No": "*"}, 1)

    def read_page(
        self, role: str, filters: dict[str, str], set_size: int, bookmark: str | None = None
    ) -> list[dict[str, Any]]:
        """One ``ReadMultiple`` page of ``role`` (§1.3): records as dicts of text, lines as
        ``{subpage: {line type: [records]}}``; the last record's ``Key`` is the next page's bookmark."""
        arguments: dict[str, Any] = {
            "filter": [{"Field": field, "Criteria": value} for field, value in filters.items()],
            "setSize": set_size,
        }
        if bookmark:
            arguments["bookmarkKey"] = bookmark
        return list(self._invoke(role, "ReadMultiple", **arguments) or ())

    # --- plumbing ---------------------------------------------------------------------------------------
    def _read_multiple(self, role: str, criteria: dict[str, str], set_size: int) -> list[dict[str, Any]]:
        filters = [{"Field": field, "Criteria": value} for field, value in criteria.items()]
        return list(self._invoke(role, "ReadMultiple", filter=filters, setSize=set_size))

    def _invoke(self, role: str, operation: str, **arguments: Any) -> Any:
        """Call an operation with zeep rendering the request (reads, deletes)."""
        client, service = self._service(role)

        def send() -> requests.Response:
            with client.settings(raw_response=True):
                return getattr(service, operation)(**arguments)

        return self._exchange(role, operation, send)

    def _write(self, role: str, operation: str, record: dict[str, Any]) -> Any:
        """Create / Update: the hot writes. The body is built with lxml from the page definition (zeep's rendering
        of a ~100-field page type cost ~2.4 ms per call, half the push's CPU budget), in page field order."""
        name = self._names[role]
        body = _render_write(name, PAGES[role], operation, record)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action(name, operation)}"'}
        url = service_url(self.settings.base_url, name)
        return self._exchange(role, operation, lambda: self._post(url, body, headers), self._document_fields)

    def _exchange(
        self,
        role: str,
        operation: str,
        send: Callable[[], requests.Response | _Reply],
        keep: frozenset[str] | None = None,
    ) -> Any:
        """Send a request; read the response with lxml (§1.1 hot paths: zeep's object mapping costs milliseconds
        per document) into plain dicts and lists of text; every failure becomes an ERP error class."""
        local = self._transport.local
        local.operation = f"{self._names[role]}.{operation}"
        local.response = local.request = None
        try:
            response = send()
        except requests.exceptions.ConnectTimeout as exc:
            raise ErpRetryableError(f"ERP connect timeout: {exc}", certain_not_applied=True) from exc
        except requests.exceptions.SSLError as exc:
            raise ErpConfigError(f"TLS error talking to the ERP: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise ErpRetryableError(f"ERP connection failed: {exc}", certain_not_applied=_never_sent(exc)) from exc
        except requests.exceptions.Timeout as exc:
            raise ErpRetryableError(f"ERP read timeout: {exc}", certain_not_applied=False) from exc
        except (requests.RequestException, ValueError, TypeError) as exc:  # values zeep cannot render
            raise ErpRetryableError(f"ERP call failed: {exc}", certain_not_applied=False) from exc
        except urllib3.exceptions.HTTPError as exc:  # the direct writes (`_post`)
            raise _classify_urllib3(exc) from exc
        return _result(operation, response, _retry_after(local), keep)

    def _page_name(self, role: str) -> str:
        return self._names[role]

    def _field(self, part: str, logical: str) -> str:
        defaults = HEADER_FIELDS if part == "header" else LINE_FIELDS
        return self.settings.field_map.get(f"{part}.{logical}", defaults[logical])

    def _header(self, header: PlannedHeader) -> dict[str, Any]:
        values = {
            "sell_to_customer_no": header.sell_to_customer_no,
            "bill_to_customer_no": header.bill_to_customer_no,
            "external_document_no": header.external_document_no,
            "your_reference": header.your_reference,
            "document_date": header.document_date,
            "currency_code": header.currency_code,
        }
        fields: dict[str, Any] = {self._field("header", name): v for name, v in values.items() if v is not None}
        fields["Prices_Including_VAT"] = False
        return fields

    def _line(self, line: PlannedLine) -> dict[str, Any]:
        return {xml: value for logical, xml in self._line_names if (value := getattr(line, logical)) is not None}

    @cached_property
    def _line_names(self) -> tuple[tuple[str, str], ...]:
        """(logical, XML) name of each line field, ``erp.field_map`` applied once, not per line."""
        return tuple((logical, self._field("line", logical)) for logical in LINE_FIELDS)

    @cached_property
    def _document_fields(self) -> frozenset[str]:
        """The fields `_document` reads (with the lines subpages, for their ``Line_No``)."""
        logical = ("external_document_no", "sell_to_customer_no", "bill_to_customer_no", "currency_code")
        subpages = {page.subpage.name for page in PAGES.values() if page.subpage is not None}
        return frozenset(
            {"No", "Key", "Pre_Assigned_No", "Amount", *subpages, *(self._field("header", n) for n in logical)}
        )

    def _document(self, role: str, record: dict[str, Any]) -> ErpDocument:
        page: PageDefinition = PAGES[role]
        lines_node = record.get(page.subpage.name) if page.subpage else None
        lines = (lines_node or {}).get(page.subpage.type_name) if page.subpage and lines_node else None
        line_nos = frozenset(int(line["Line_No"]) for line in lines or () if line.get("Line_No") is not None)
        amount = record.get("Amount")
        return ErpDocument(
            no=str(record.get("No") or ""),
            posted=page.read_only,
            external_document_no=str(record.get(self._field("header", "external_document_no")) or ""),
            key=None if page.read_only else record.get("Key"),
            pre_assigned_no=record.get("Pre_Assigned_No") or None,
            sell_to_customer_no=str(record.get(self._field("header", "sell_to_customer_no")) or ""),
            bill_to_customer_no=str(record.get(self._field("header", "bill_to_customer_no")) or ""),
            currency_code=str(record.get(self._field("header", "currency_code")) or ""),
            line_nos=line_nos,
            amount=Decimal(amount) if amount is not None else None,
        )


def _render_write(service_name: str, page: PageDefinition, operation: str, record: dict[str, Any]) -> bytes:
    """``<Envelope><Body><{Operation}><{Page}>`` with the record's fields in page order (``Key`` first, then the
    page fields, then the lines subpage holding one element per line); unknown (field-mapped) names last.

    Written as text, not built with lxml (an element object per value cost more than the text). Values are escaped
    here; a character XML 1.0 cannot carry is refused (`ErpRejectedError`) before anything is sent.
    """
    ns = namespace(service_name)
    parts = [_ENVELOPE_OPEN, "<", operation, ' xmlns="', ns, '"><', service_name, ">"]
    _fields(parts, record, page.write_order, page.subpage)
    parts += ["</", service_name, "></", operation, ">", _ENVELOPE_CLOSE]
    return "".join(parts).encode("utf-8")


def _fields(parts: list[str], record: dict[str, Any], order: dict[str, int], subpage: Subpage | None = None) -> None:
    """The record's non-empty values as elements in ``order`` (names not in it last, as they come)."""
    lines_name = subpage.name if subpage is not None else None
    unknown = len(order)
    present = [name for name, value in record.items() if value is not None and name != lines_name]
    for name in sorted(present, key=lambda name: order.get(name, unknown)):
        parts += ["<", name, ">", _xml_text(name, record[name]), "</", name, ">"]
    if subpage is not None and record.get(subpage.name):
        parts += ["<", subpage.name, ">"]
        for line in record[subpage.name]:
            parts += ["<", subpage.type_name, ">"]
            _fields(parts, line, subpage.write_order)
            parts += ["</", subpage.type_name, ">"]
        parts += ["</", subpage.name, ">"]


def _xml_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    refused = _NOT_XML.search(text)
    if refused is not None:
        code = ord(refused.group())
        raise ErpRejectedError(f"{name} holds a character XML cannot carry (U+{code:04X}): correct it and retry.")
    return text.translate(_ESCAPES)


_ENVELOPE_OPEN = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
)
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
#: Characters outside XML 1.0's Char production (tab, LF and CR are allowed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _shipped_wsdls(base_url: str, names: dict[str, str]) -> Path:
    """The WSDLs rendered from the shipped page definitions, in a temporary directory named by their content, so
    gateways and processes with the same configuration share one copy (made by an atomic rename)."""
    staging = Path(tempfile.mkdtemp(prefix="billing-wsdl-"))
    files = sorted(write_wsdls(staging, base_url, names))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:16]
    directory = Path(tempfile.gettempdir()) / f"billing-wsdl-{digest}"
    try:
        staging.rename(directory)
    except OSError:  # made already (by this configuration before, or by a concurrent gateway)
        shutil.rmtree(staging, ignore_errors=True)
    return directory


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def _result(
    operation: str, response: requests.Response | _Reply, retry_after: float | None, keep: frozenset[str] | None = None
) -> Any:
    """The ``{Operation}_Result`` of a response as dicts/lists of text (records cut to ``keep``, see `_kept`);
    faults and HTTP errors as ERP errors."""
    try:
        root = etree.fromstring(response.content, parser=_PARSER) if response.content else None
    except etree.XMLSyntaxError:
        root = None
    fault = root.find(f"{{{_SOAP_NS}}}Body/{{{_SOAP_NS}}}Fault") if root is not None else None
    if fault is not None:
        raise classify_fault(fault.findtext("faultcode"), fault.findtext("faultstring") or "", response.status_code)
    if response.status_code != 200:
        body = response.content.decode("utf-8", "replace").strip()[:200]
        raise classify_http(response.status_code, f"HTTP {response.status_code}: {body}", retry_after)
    body_node = root.find(f"{{{_SOAP_NS}}}Body") if root is not None else None
    if body_node is None or len(body_node) == 0:
        raise ErpRetryableError("Unreadable ERP response: no SOAP body.", certain_not_applied=False)
    result = body_node[0]
    if operation == "ReadMultiple":  # <ReadMultiple_Result><ReadMultiple_Result><Page>…</Page>…
        holder = result[0] if len(result) and etree.QName(result[0]).localname == "ReadMultiple_Result" else result
        return [_record(node) if keep is None else _kept(node, keep) for node in holder]
    if len(result) == 0:
        return None
    first = result[0]
    if not len(first):
        return first.text
    return _record(first) if keep is None else _kept(first, keep)


def _record(node: etree._Element) -> dict[str, Any]:
    """A page record: field → text; the lines subpage → {line type: [line records]}."""
    record: dict[str, Any] = {}
    for child in node:
        name = _localname(child.tag)
        if len(child):
            lines: dict[str, list[dict[str, Any]]] = {}
            for line in child:
                lines.setdefault(_localname(line.tag), []).append(_record(line))
            record[name] = lines
        else:
            record[name] = child.text
    return record


def _kept(node: etree._Element, keep: frozenset[str]) -> dict[str, Any]:
    """A page record cut to the fields in ``keep`` (a lines subpage among them keeps each line's ``Line_No``): a
    written document comes back whole and the push reads a few fields of it, so lxml picks them out instead of a
    walk over every element."""
    ns = node.tag[: node.tag.rfind("}") + 1]
    record: dict[str, Any] = {}
    for child in node.iterchildren(*(ns + name for name in keep)):
        name = child.tag[len(ns) :]
        if len(child):
            lines: dict[str, list[dict[str, Any]]] = {}
            for line in child:
                lines.setdefault(_localname(line.tag), []).append({"Line_No": line.findtext(ns + "Line_No")})
            record[name] = lines
        else:
            record[name] = child.text
    return record


def _localname(tag: str) -> str:
    """``{namespace}Name`` → ``Name`` (cheaper than building an `etree.QName` per element)."""
    return tag.rpartition("}")[2]


def _retry_after(local: threading.local) -> float | None:
    response = getattr(local, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _classify_urllib3(exc: urllib3.exceptions.HTTPError) -> ErpConfigError | ErpRetryableError:
    """The error classes of §3.4 for urllib3's failures, as `SoapGateway._exchange` does for requests'."""
    if isinstance(exc, urllib3.exceptions.SSLError):
        return ErpConfigError(f"TLS error talking to the ERP: {exc}")
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # refused or unresolvable: never sent
        return ErpRetryableError(f"ERP connection failed: {exc}", certain_not_applied=True)
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return ErpRetryableError(f"ERP connect timeout: {exc}", certain_not_applied=True)
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return ErpRetryableError(f"ERP read timeout: {exc}", certain_not_applied=False)
    if isinstance(exc, urllib3.exceptions.ProtocolError):  # reset or closed after sending: it may have been applied
        return ErpRetryableError(f"ERP connection failed: {exc}", certain_not_applied=False)
    return ErpRetryableError(f"ERP call failed: {exc}", certain_not_applied=False)


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Refused or unresolvable (the request never left) vs reset after sending (it may have been applied)."""
    text = repr(exc)
    return any(marker in text for marker in ("NewConnectionError", "Connection refused", "NameResolutionError"))


_GATEWAYS: dict[str, SoapGateway] = {}
_GATEWAYS_LOCK = threading.Lock()


def gateway_for(settings: ErpSettings) -> SoapGateway:
    """One gateway (parsed WSDLs, per-thread sessions) per configuration and process."""
    key = settings.model_dump_json()
    with _GATEWAYS_LOCK:
        gateway = _GATEWAYS.get(key)
        if gateway is None:
            gateway = _GATEWAYS[key] = SoapGateway(settings)
        return gateway
