"""The simulator's JSON admin API under ``/_sim/`` (§2.2, §2.5); bearer ``auth.admin_token`` when set.

==========================  ===============================================================================
``GET /_sim/``              index: base URL, services, endpoints
``GET|PATCH /_sim/{knobs}`` ``faults``, ``limits``, ``posting``, ``payments``, ``validation``: effective values;
                            PATCH is a JSON merge patch (``null`` reverts a knob to the configuration)
``GET|POST|DELETE outage``  ``{"seconds": 600, "mode": "503"|"reset"}``; DELETE ends it
``POST post-now``           post every unposted document with lines now
``POST generate``           ``{"invoices", "creditMemos", "lines": [1, 20], "seed", "customers", "payments",
                            "externalDocumentNos", "creditMemoExternalDocumentNos", "modifiedBetween":
                            [from, to|null]}``: posted documents with lines and ledger entries in bulk
                            (`generate.generate_posted_invoices`; all optional, default none)
``POST tick``               one posting run (delay and failures apply) and the due payments
``POST payments``           ``{"documentNo", "amount"?}`` (default: the remaining amount)
``GET|POST clock``          ``{"advance_days"|"advance_seconds"|"now"|"rate"}``
``PUT customers|items``     a list of records (page field names), created or updated
``GET documents``           ``?page=&external_document_no=&limit=&lines=true``
``GET duplicates``          groups of one document type sharing an External_Document_No
``GET requests``            the request log, newest first (``?limit=&service=&operation=&correlation_id=``)
``GET|DELETE stats``        counts, peak and mean concurrency; DELETE restarts the concurrency measurement
``POST reset``              ``{"master_data": false}``: documents, ledger, series, knobs, log, clock, outage
==========================  ===============================================================================
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from billing.erp.pages import PAGES, service_url
from billing.erp_sim.generate import generate_posted_invoices
from billing.erp_sim.posting import PaymentError
from billing.erp_sim.records import TABLES, format_datetime
from billing.erp_sim.runtime import Runtime
from billing.erp_sim.settings import KNOB_SECTIONS
from billing.erp_sim.soap import SoapFault
from billing.erp_sim.store import DOCUMENT_TABLES, Tx
from billing.erp_sim.transport import Request, Response

if TYPE_CHECKING:
    from billing.erp_sim.app import ErpSimulator

_DOC_TYPES = {
    "sales_invoice": "invoice",
    "posted_sales_invoice": "invoice",
    "sales_credit_memo": "credit_memo",
    "posted_sales_credit_memo": "credit_memo",
}
_PAGE_OF = {PAGES[role].default_name.lower(): role for role in DOCUMENT_TABLES}


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _json(status: int, data: Any) -> Response:
    body = json.dumps(data, default=_json_default, indent=1).encode()
    return Response(status, body, "application/json")


class AdminApi:
    def __init__(self, simulator: ErpSimulator) -> None:
        self.sim = simulator
        self._routes: dict[tuple[str, str], Callable[[Request, Runtime], Any]] = {
            ("GET", ""): self.index,
            ("GET", "outage"): self.outage,
            ("POST", "outage"): self.start_outage,
            ("DELETE", "outage"): self.end_outage,
            ("POST", "post-now"): lambda request, runtime: self.sim.post_now().as_json(),
            ("POST", "tick"): lambda request, runtime: self.sim.tick().as_json(),
            ("POST", "generate"): self.generate,
            ("POST", "payments"): self.payment,
            ("GET", "clock"): self.clock,
            ("POST", "clock"): self.change_clock,
            ("PUT", "customers"): lambda request, runtime: self.sim.put_customers(self._records(request, "customers")),
            ("PUT", "items"): lambda request, runtime: self.sim.put_items(self._records(request, "items")),
            ("GET", "documents"): self.documents,
            ("GET", "duplicates"): lambda request, runtime: self.duplicates(),
            ("GET", "requests"): self.requests,
            ("GET", "stats"): self.stats,
            ("DELETE", "stats"): self.reset_stats,
            ("POST", "reset"): self.reset,
        }
        for section in KNOB_SECTIONS:
            self._routes[("GET", section)] = self._knobs(section)
            self._routes[("PATCH", section)] = self._patch_knobs(section)

    def handle(self, request: Request, runtime: Runtime) -> Response:
        token = runtime.settings.auth.admin_token
        if token is not None:
            expected = f"Bearer {token.get_secret_value()}".encode()
            if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
                return _json(401, {"error": "The admin token is missing or wrong."})
        name = request.path.removeprefix("/_sim").strip("/")
        route = self._routes.get((request.method, name))
        if route is None:
            methods = sorted(method for method, path in self._routes if path == name)
            if methods:
                return _json(405, {"error": f"Use {', '.join(methods)} on /_sim/{name}."})
            return _json(404, {"error": f"No admin endpoint /_sim/{name}."})
        try:
            result = route(request, runtime)
        except AdminError as error:
            return _json(error.status, {"error": error.message})
        except (ValueError, SoapFault) as error:
            return _json(422, {"error": str(error)})
        return result if isinstance(result, Response) else _json(200, result)

    # --- helpers --------------------------------------------------------------------------------------------
    @staticmethod
    def _body(request: Request) -> Any:
        if not request.body.strip():
            return {}
        try:
            return json.loads(request.body)
        except ValueError:
            raise AdminError(400, "The body is not valid JSON.") from None

    def _object(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        if not isinstance(body, dict):
            raise AdminError(400, "The body must be a JSON object.")
        return body

    def _records(self, request: Request, name: str) -> list[dict[str, Any]]:
        body = self._body(request)
        records = body.get(name) if isinstance(body, dict) else body
        if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
            raise AdminError(400, f"The body must be a list of {name} (or {{{name!r}: [...]}}).")
        return records

    @staticmethod
    def _limit(request: Request, default: int = 100, maximum: int = 10_000) -> int:
        try:
            return max(1, min(int(request.query.get("limit", default)), maximum))
        except ValueError:
            raise AdminError(400, "limit must be an integer.") from None

    # --- endpoints ------------------------------------------------------------------------------------------
    def index(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        base = self.sim.base_url(request.root)
        return {
            "baseUrl": base,
            "services": {service.name: service_url(base, service.name) for service in self.sim.services.values()},
            "now": runtime.now(),
            "endpoints": sorted({f"{method} /_sim/{path}".rstrip("/") for method, path in self._routes}),
        }

    def _knobs(self, section: str) -> Callable[[Request, Runtime], Any]:
        return lambda request, runtime: getattr(runtime.settings, section).model_dump(mode="json")

    def _patch_knobs(self, section: str) -> Callable[[Request, Runtime], Any]:
        def patch(request: Request, runtime: Runtime) -> Any:
            try:
                settings = self.sim.state.patch(section, self._object(request))
            except ValidationError as error:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
                raise AdminError(422, problems) from None
            return getattr(settings, section).model_dump(mode="json")

        return patch

    def outage(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        active = runtime.outage_active()
        until = datetime.fromtimestamp(runtime.outage_until or 0, UTC) if active else None
        return {"active": active, "mode": runtime.outage_mode if active else None, "until": until}

    def start_outage(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        body = self._object(request)
        mode = str(body.get("mode", "503"))
        seconds = body.get("seconds", 600)
        if mode not in ("503", "reset") or not isinstance(seconds, int | float) or seconds <= 0:
            raise AdminError(422, 'Give {"seconds": > 0, "mode": "503" | "reset"}.')
        self.sim.state.set_outage(float(seconds), mode)
        return self.outage(request, self.sim.state.current())

    def end_outage(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        self.sim.state.set_outage(None)
        return self.outage(request, self.sim.state.current())

    def payment(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        body = self._object(request)
        document_no = body.get("documentNo")
        if not isinstance(document_no, str) or not document_no:
            raise AdminError(400, "documentNo is required.")
        try:
            amount = None if body.get("amount") is None else Decimal(str(body["amount"]))
        except ArithmeticError:
            raise AdminError(400, "amount must be a number.") from None
        try:
            return self.sim.pay(document_no, amount)
        except PaymentError as error:
            raise AdminError(404 if "No posted" in str(error) else 422, str(error)) from None

    def generate(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        body = self._object(request)
        unknown = sorted(set(body) - _GENERATE_FIELDS)
        if unknown:
            raise AdminError(400, f"Unknown fields: {', '.join(unknown)}.")
        counts = {name: body.get(name, 0) for name in ("invoices", "creditMemos", "seed")}
        lines = body.get("lines", [1, 20])
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in counts.values()):
            raise AdminError(400, "invoices, creditMemos and seed must be integers.")
        if not (isinstance(lines, list) and len(lines) == 2 and all(isinstance(n, int) for n in lines)):
            raise AdminError(400, "lines must be [min, max].")
        customers = body.get("customers")
        if customers is not None and not _strings(customers):
            raise AdminError(400, "customers must be a list of customer numbers.")
        externals = {name: body.get(name, []) for name in ("externalDocumentNos", "creditMemoExternalDocumentNos")}
        if not all(_strings(values) for values in externals.values()):
            raise AdminError(400, "externalDocumentNos and creditMemoExternalDocumentNos must be lists of strings.")
        summary = generate_posted_invoices(
            self.sim.store,
            self.sim.context(runtime),
            counts["invoices"],
            credit_memos=counts["creditMemos"],
            lines=(lines[0], lines[1]),
            customers=customers,
            seed=counts["seed"],
            external_document_nos=externals["externalDocumentNos"],
            credit_memo_external_document_nos=externals["creditMemoExternalDocumentNos"],
            modified_between=self._between(body.get("modifiedBetween")),
            plan_payments=bool(body.get("payments", False)),
        )
        return summary.as_json()

    @staticmethod
    def _between(value: Any) -> tuple[datetime, datetime | None] | None:
        if value is None:
            return None
        try:
            if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
                raise ValueError
            moments = [datetime.fromisoformat(text) if text else None for text in value]
        except (TypeError, ValueError):
            raise AdminError(400, "modifiedBetween must be [from, to] (ISO 8601; to may be null: now).") from None
        if any(moment is not None and moment.tzinfo is None for moment in moments):
            raise AdminError(422, "modifiedBetween must carry a timezone (e.g. 2025-05-01T00:00:00Z).")
        assert moments[0] is not None
        return moments[0], moments[1]

    def clock(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        now = runtime.now()
        return {"now": now, "today": now.date(), "rate": runtime.clock.rate}

    def change_clock(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        body = self._object(request)
        try:
            advance = float(body.get("advance_days", 0)) * 86400 + float(body.get("advance_seconds", 0))
            to = datetime.fromisoformat(body["now"]) if body.get("now") else None
            rate = None if body.get("rate") is None else float(body["rate"])
        except (TypeError, ValueError):
            raise AdminError(400, "Give advance_days, advance_seconds, now (ISO 8601) or rate.") from None
        if rate is not None and rate < 0:
            raise AdminError(422, "rate must be >= 0.")
        if to is not None and to.tzinfo is None:
            raise AdminError(422, "now must carry a timezone (e.g. 2025-05-01T00:00:00Z).")
        self.sim.state.change_clock(advance_s=advance, to=to, rate=rate)
        return self.clock(request, self.sim.state.current())

    def documents(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        page = request.query.get("page", "")
        roles: tuple[str, ...] = DOCUMENT_TABLES
        if page:
            if page.lower() not in _PAGE_OF:
                raise AdminError(400, f"page must be one of {', '.join(PAGES[r].default_name for r in roles)}.")
            roles = (_PAGE_OF[page.lower()],)
        external = request.query.get("external_document_no", "").upper()
        limit = self._limit(request)
        with_lines = request.query.get("lines", "").lower() in ("1", "true", "yes")
        documents: list[dict[str, Any]] = []
        with self.sim.store.read() as tx:
            for role in roles:
                where, params = ("External_Document_No = ?", [external]) if external else ("1", [])
                for row in tx.rows(TABLES[role], where, params, "No"):
                    documents.append(self._document(tx, role, row, with_lines))
                    if len(documents) >= limit:
                        return {"documents": documents, "truncated": True}
        return {"documents": documents, "truncated": False}

    def _document(self, tx: Tx, role: str, record: Any, with_lines: bool) -> dict[str, Any]:
        lines = tx.select(TABLES[f"{role}_line"], "Document_No = ?", (record["No"],), "Line_No")
        service = self.sim.services[PAGES[role].default_name.lower()]
        document: dict[str, Any] = {"page": service.name, **service.typed(service.raw_record(tx, record))}
        if with_lines:
            document["Lines"] = [{k: v for k, v in line.items() if k != "_version"} for line in lines]
        else:
            document["Lines"] = len(lines)
        return document

    def duplicates(self) -> dict[str, Any]:
        found: dict[tuple[str, str], list[dict[str, str]]] = {}
        with self.sim.store.read() as tx:
            for role in DOCUMENT_TABLES:
                rows = tx.execute(
                    f"SELECT No, External_Document_No FROM {role} WHERE External_Document_No IN ("
                    f" SELECT value FROM (SELECT External_Document_No AS value FROM {role}"
                    f"  UNION ALL SELECT External_Document_No FROM {_twin(role)})"
                    " WHERE value <> '' GROUP BY value HAVING COUNT(*) > 1)"
                )
                for row in rows:
                    key = (_DOC_TYPES[role], row["External_Document_No"])
                    found.setdefault(key, []).append({"page": PAGES[role].default_name, "No": row["No"]})
        groups = [
            {"type": doc_type, "externalDocumentNo": external, "documents": documents}
            for (doc_type, external), documents in sorted(found.items())
            if len(documents) > 1
        ]
        return {"duplicates": groups, "count": len(groups)}

    def requests(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        self.sim.store.flush_request_log()
        clauses, params = ["1"], []
        for name in ("service", "operation", "correlation_id"):
            if request.query.get(name):
                clauses.append(f"{name} = ?")
                params.append(request.query[name])
        with self.sim.store.read() as tx:
            rows = tx.execute(
                f"SELECT * FROM request_log WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
                [*params, self._limit(request)],
            ).fetchall()
        return {"requests": [dict(row) for row in rows]}

    def stats(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        self.sim.store.flush_request_log()
        with self.sim.store.read() as tx:
            counts: dict[str, Any] = {
                "byStatus": dict(tx.execute("SELECT status, COUNT(*) FROM request_log GROUP BY status").fetchall()),
                "byOperation": dict(
                    tx.execute(
                        "SELECT service || '.' || operation, COUNT(*) FROM request_log GROUP BY service, operation"
                    ).fetchall()
                ),
                "byFault": dict(
                    tx.execute("SELECT fault, COUNT(*) FROM request_log WHERE fault <> '' GROUP BY fault").fetchall()
                ),
            }
            counts["total"] = sum(counts["byStatus"].values())
            documents = {
                PAGES[role].default_name: tx.execute(f"SELECT COUNT(*) FROM {role}").fetchone()[0]
                for role in DOCUMENT_TABLES
            }
            entries = tx.execute("SELECT COUNT(*) FROM customer_ledger_entries").fetchone()[0]
        return {
            "requests": counts,
            "concurrency": self.sim.limiter.stats(),
            "documents": documents,
            "ledgerEntries": entries,
            "now": runtime.now(),
        }

    def reset_stats(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        self.sim.limiter.reset_stats()
        return {"concurrency": self.sim.limiter.stats()}

    def reset(self, request: Request, runtime: Runtime) -> dict[str, Any]:
        master_data = bool(self._object(request).get("master_data", False))
        self.sim.reset(master_data=master_data)
        return {"reset": True, "masterData": master_data, "now": self.sim.now()}


_GENERATE_FIELDS = {
    "invoices",
    "creditMemos",
    "lines",
    "seed",
    "customers",
    "payments",
    "externalDocumentNos",
    "creditMemoExternalDocumentNos",
    "modifiedBetween",
}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _twin(role: str) -> str:
    """The other table of the same document type (unposted ↔ posted)."""
    return role.removeprefix("posted_") if role.startswith("posted_") else f"posted_{role}"
