"""`ErpSimulator`: the WSGI application of the ERP simulator and the handle tests and the CLI hold (§2.2, §2.6).

Routes: ``GET {base}/Page/{Service}`` → WSDL, ``POST`` → the operation named by the body element,
``GET {base}/services`` → the service list, ``/_sim/…`` → the admin API; ``{base}`` is
``/{instance}/WS/{company}``. A SOAP request passes, in order: outage → authentication → limits (slot) →
pre-processing faults → SOAP faults → the operation (commit) → post-commit faults; every request to ``{base}``
is written to the request log. The drawn latency is the request's whole processing time inside its slot: a fault
or the committed result is answered once it has passed (the simulator's own work counts towards it).

    sim = ErpSimulator(ErpSimSettings(db=tmp / "erp.sqlite"))
    session = requests.Session(); session.mount("http://erp-sim.test/", sim.requests_adapter())
    client = zeep.Client(f"{sim.base_url()}/Page/SalesInvoice", transport=Transport(session=session))
"""

from __future__ import annotations

import base64
import hmac
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import structlog
from lxml import etree

from billing.erp.pages import render_wsdl, service_url, soap_action
from billing.erp_sim import posting
from billing.erp_sim.admin import AdminApi
from billing.erp_sim.documents import Context, Customers, Items
from billing.erp_sim.faults import (
    POST_FAULTS,
    PRE_FAULTS,
    SOAP_FAULTS,
    DropConnection,
    FaultInjector,
    Limiter,
    injected_soap_fault,
    knobs_for,
)
from billing.erp_sim.operations import PageService, page_services
from billing.erp_sim.runtime import Runtime, RuntimeState
from billing.erp_sim.server import RunningServer, start_server
from billing.erp_sim.settings import ErpSimSettings
from billing.erp_sim.soap import CONTENT_TYPE, SoapFault, parse_request, result_envelope
from billing.erp_sim.store import Store, Tx
from billing.erp_sim.transport import IN_PROCESS_ROOT, InProcessAdapter, Request, Response

_ROUTE = re.compile(
    r"^/(?P<instance>[^/]+)/(?i:ws)/(?P<company>[^/]+)/(?:(?P<list>(?i:services))|(?i:page)/(?P<service>[^/]+))/?$"
)
DISCOVERY_NS = "http://schemas.xmlsoap.org/disco/"
CONTRACT_NS = "http://schemas.xmlsoap.org/disco/scl/"
logger = structlog.get_logger("billing.erp_sim")


class ErpSimulator:
    """The ERP simulator on one state file; ``settings.db`` unless ``db`` is given.

    ``attach=True`` opens a state file that another simulator may be serving, to inspect or drive it (the CLI's
    ``--db``): the configured clock rate is then not applied to it.
    """

    def __init__(
        self, settings: ErpSimSettings | None = None, *, db: Path | str | None = None, attach: bool = False
    ) -> None:
        self.settings = settings or ErpSimSettings()
        self.store = Store(Path(db) if db is not None else self.settings.db)
        self.state = RuntimeState(self.store, self.settings, apply_clock_rate=not attach)
        self.limiter = Limiter()
        self.injector = FaultInjector()
        self.services: dict[str, PageService] = page_services()
        self.admin = AdminApi(self)
        self.stopping = threading.Event()  # wakes hanging requests and the posting thread
        self._posting_rng = random.Random(self.settings.faults.seed)
        self._background: threading.Thread | None = None

    # --- addresses ------------------------------------------------------------------------------------------
    @property
    def base_path(self) -> str:
        return f"/{quote(self.settings.instance, safe='')}/WS/{quote(self.settings.company, safe='')}"

    def base_url(self, root: str = IN_PROCESS_ROOT) -> str:
        """``{root}/{instance}/WS/{company}``: the ERP's ``base_url`` (default: the in-process address)."""
        return root.rstrip("/") + self.base_path

    # --- in-process use -------------------------------------------------------------------------------------
    def requests_adapter(self) -> InProcessAdapter:
        """A `requests` adapter calling this simulator directly; mount it for ``http://erp-sim.test/``."""
        return InProcessAdapter(self.wsgi_app)

    def session(self) -> requests.Session:
        """A `requests` session with the in-process adapter mounted."""
        session = requests.Session()
        session.mount(IN_PROCESS_ROOT + "/", self.requests_adapter())
        return session

    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0, *, background: bool = False) -> RunningServer:
        """Serve on a real socket from a daemon thread; ``.base_url`` and ``.stop()`` on the result.
        ``background=True`` also runs the posting/payment scheduler."""
        server = start_server(self, host, port)
        if background:
            self.start_background()
        return server

    def start_background(self) -> None:
        """Run `tick` every ``posting.interval_s`` real seconds in a daemon thread until `close`."""
        if self._background is None:
            self._background = threading.Thread(target=self._tick_loop, name="erp-sim-posting", daemon=True)
            self._background.start()

    def _tick_loop(self) -> None:
        interval = self.settings.posting.interval_s
        while not self.stopping.wait(interval):
            try:
                interval = self.state.current().settings.posting.interval_s
                result = self.tick()
            except Exception:  # keep posting on the next run; the state file is transactional
                logger.exception("erp_sim.tick.failed")
                continue
            if result.posted or result.payments:
                logger.info("erp_sim.tick", posted=len(result.posted), payments=len(result.payments))

    def close(self) -> None:
        self.stopping.set()
        if self._background is not None:
            self._background.join(5)
        self.store.close()

    # --- finance and time -----------------------------------------------------------------------------------
    def context(self, runtime: Runtime | None = None) -> Callable[[Tx], Context]:
        current = runtime or self.state.current()
        now = current.now()
        return lambda tx: Context(tx, current.settings, now)

    def now(self) -> datetime:
        return self.state.current().now()

    def tick(self) -> posting.PostingResult:
        """One posting run (if ``posting.enabled``; delay and failure probability apply) and the due payments."""
        runtime = self.state.current()
        result = posting.PostingResult()
        if runtime.settings.posting.enabled:
            result = posting.run_posting(self.store, self.context(runtime), ignore_delay=False, rng=self._posting_rng)
        result.payments = posting.run_payments(self.store, self.context(runtime))
        return result

    def post_now(self) -> posting.PostingResult:
        """Post every unposted document with lines now (no delay, no injected failure)."""
        return posting.run_posting(self.store, self.context(), ignore_delay=True, rng=self._posting_rng)

    def pay(self, document_no: str, amount: Decimal | None = None) -> dict[str, str]:
        """Pay a posted invoice (default: its remaining amount); raises `posting.PaymentError`."""
        with self.store.write() as tx:
            return posting.pay(self.context()(tx), document_no, amount)

    def advance_clock(self, *, days: float = 0, seconds: float = 0) -> datetime:
        self.state.change_clock(advance_s=days * 86400 + seconds)
        return self.now()

    def reset(self, *, master_data: bool = False) -> None:
        """Forget documents, ledger, number series, knob patches, request log, clock and outage (and customers
        and items if ``master_data``); restart the random sequences and the concurrency measurement."""
        self.store.reset(master_data)
        self.state.current()  # anchors the clock again from the configuration
        self.limiter.reset_stats()
        self.injector.reset()
        self._posting_rng.seed(self.settings.faults.seed)

    def put_customers(self, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Create or update customers (Customer page field names; values as JSON)."""
        return self._put(Customers(), records)

    def put_items(self, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Create or update items: ``No``, ``Description``, ``Base_Unit_of_Measure``, ``Unit_Price``, ``Blocked``."""
        return self._put(Items(), records)

    def _put(self, owner: Customers | Items, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        counts = {"created": 0, "updated": 0}
        with self.store.write() as tx:
            ctx = self.context()(tx)
            for record in records:
                counts["updated" if owner.put(ctx, record) else "created"] += 1
        return counts

    # --- WSGI -----------------------------------------------------------------------------------------------
    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        runtime = self.state.current()
        request = Request.from_environ(environ, runtime.settings.limits.max_request_bytes)
        if request.path == "/_sim" or request.path.startswith("/_sim/"):
            return self.admin.handle(request, runtime).wsgi(start_response)
        match = _ROUTE.match(request.path)
        if match is None or match["instance"].lower() != self.settings.instance.lower():
            return Response.text(404, f"No ERP service at {request.path}.").wsgi(start_response)
        return self._web_service(request, runtime, match).wsgi(start_response)

    def _web_service(self, request: Request, runtime: Runtime, match: re.Match[str]) -> Response:
        started = time.monotonic()
        service = self.services.get((match["service"] or "").lower())
        log: dict[str, Any] = {
            "method": request.method,
            "service": service.name if service else match["service"] or "services",
            "operation": "WSDL" if request.method == "GET" else "",
            "correlation_id": request.headers.get("x-correlation-id", "")[:200],
            "fault": "",
            "fault_code": "",
        }
        response: Response | None = None
        try:
            response = self._web_service_response(request, runtime, match, service, log)
            return response
        finally:
            log["status"] = response.status if response else 0  # 0: the connection was dropped
            log["at"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            log["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
            self.store.log_request(log, runtime.settings.request_log_max_rows)

    def _web_service_response(
        self,
        request: Request,
        runtime: Runtime,
        match: re.Match[str],
        service: PageService | None,
        log: dict,
    ) -> Response:
        settings = runtime.settings
        if runtime.outage_active():
            log["fault"] = "outage"
            if runtime.outage_mode == "reset":
                raise DropConnection(0)
            return Response.text(503, Retry_After=str(max(1, round((runtime.outage_until or 0) - time.time()))))
        denied = self._authenticate(request, settings)
        if denied is not None:
            log["fault"] = "auth"
            return denied
        if request.method not in ("GET", "POST"):
            return Response.text(405, Allow="GET, POST")
        if match["list"] is None and service is None:
            return Response.text(404, f"The service {match['service']} is not published.")
        rejected = self.limiter.acquire(settings.limits)
        if rejected is not None:
            log["fault"] = f"limit_{rejected.reason}"
            return Response.text(429, Retry_After=str(rejected.retry_after_s))
        in_slot_since = time.monotonic()
        released = False
        try:
            if request.method == "GET" or service is None:
                return self._get(request, match, service)
            fault_or_response = self._soap(request, runtime, service, match["company"], log, in_slot_since)
            if isinstance(fault_or_response, DropConnection):
                self.limiter.release()  # a hanging request frees its slot at commit
                released = True
                raise fault_or_response
            return fault_or_response
        finally:
            if not released:
                self.limiter.release()

    def _get(self, request: Request, match: re.Match[str], service: PageService | None) -> Response:
        base = request.root + self.base_path
        if match["company"] != self.settings.company:
            return Response.text(404, f"The company {match['company']} does not exist.")
        if service is None:
            return Response(200, _discovery(base, tuple(s.name for s in self.services.values())), CONTENT_TYPE)
        return Response(200, _wsdl(service, service_url(base, service.name)), CONTENT_TYPE)

    def _soap(
        self, request: Request, runtime: Runtime, service: PageService, company: str, log: dict, started: float
    ) -> Response | DropConnection:
        """``started``: when the request got its slot; its latency counts from then."""
        settings = runtime.settings
        try:
            if request.content_length > settings.limits.max_request_bytes:
                return Response.text(413, f"The request is larger than {settings.limits.max_request_bytes} bytes.")
            if company != self.settings.company:
                raise SoapFault("NavCompanyNotFoundException", f'The company "{company}" does not exist.')
            body = parse_request(request.body, service.ns)
            operation = etree.QName(body).localname
            log["operation"] = operation
            action = request.headers.get("soapaction", "").strip().strip('"')
            if action.lower() != soap_action(service.name, operation).lower():
                raise SoapFault.client(
                    f"The SOAPAction header '{action}' does not match the operation {operation} of {service.name}."
                )
            knobs = knobs_for(settings.faults, service.name, operation)
            seed = settings.faults.seed
            # the latency is the request's whole processing time: the simulator's own work is part of it, so
            # `max_in_flight / latency` is the throughput bound whatever this host's speed
            answer_at = started + self.injector.latency_s(knobs.latency, seed)
            injected = self.injector.draw(knobs, PRE_FAULTS, seed)
            if injected:
                log["fault"] = injected
                self._wait_until(answer_at)
                return _bare_fault(injected, knobs.retry_after_s)
            injected = self.injector.draw(knobs, SOAP_FAULTS, seed)
            if injected:
                log["fault"] = injected
                self._wait_until(answer_at)
                raise injected_soap_fault(injected, service.table.caption)
            outcome = service.invoke(self.store, self.context(runtime), operation, body)
            self._wait_until(answer_at)
            log["document_no"] = outcome.document_no[:200]
            log["external_document_no"] = outcome.external_document_no[:200]
            injected = self.injector.draw(knobs, POST_FAULTS, seed)
            if injected:
                log["fault"] = injected
                return DropConnection(knobs.hang_s if injected == "timeout_after_commit" else 0)
            return Response(200, result_envelope(outcome.result), CONTENT_TYPE)
        except SoapFault as fault:
            log["fault_code"] = fault.code.removeprefix("s:")
            return Response(500, fault.render(), CONTENT_TYPE)
        except Exception as error:  # a defect or the state file failing: rolled back, say so as the ERP would
            log["fault_code"] = "Server"
            logger.exception("erp_sim.request.failed", service=service.name, operation=log["operation"])
            return Response(500, SoapFault("s:Server", f"Internal error: {error}").render(), CONTENT_TYPE)

    def _wait_until(self, moment: float) -> None:
        """Spend the rest of the request's latency (cut short when the simulator stops)."""
        self.stopping.wait(max(0.0, moment - time.monotonic()))

    def _authenticate(self, request: Request, settings: ErpSimSettings) -> Response | None:
        auth = settings.auth
        challenge = 'Basic realm="erp-sim"' if auth.mode == "basic" else "Bearer"
        if settings.faults.reject_credentials:
            return Response.text(401, "The credentials are not valid.", WWW_Authenticate=challenge)
        if auth.mode == "none":
            return None
        given = request.headers.get("authorization", "")
        if auth.mode == "basic":
            password = auth.password.get_secret_value() if auth.password else ""
            expected = "Basic " + base64.b64encode(f"{auth.user}:{password}".encode()).decode()
        else:
            expected = "Bearer " + (auth.token.get_secret_value() if auth.token else "")
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return Response.text(401, "The credentials are not valid.", WWW_Authenticate=challenge)


def _bare_fault(kind: str, retry_after_s: int) -> Response | DropConnection:
    if kind == "reset_before":
        return DropConnection(0)
    if kind == "http_500":
        return Response.text(500)
    return Response.text(503 if kind == "http_503" else 429, Retry_After=str(retry_after_s))


@lru_cache(maxsize=64)
def _wsdl(service: PageService, address: str) -> bytes:
    return render_wsdl(service.name, service.page, address)


def _discovery(base: str, names: tuple[str, ...]) -> bytes:
    root = etree.Element(f"{{{DISCOVERY_NS}}}discovery", nsmap={None: DISCOVERY_NS})
    for name in names:
        etree.SubElement(root, f"{{{CONTRACT_NS}}}contractRef", ref=service_url(base, name), nsmap={None: CONTRACT_NS})
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
