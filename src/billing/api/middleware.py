"""ASGI middleware: trace context, path normalisation and authentication before routing (§2.5 step 1)."""

from __future__ import annotations

import secrets
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.api.problems import problem_response
from billing.api.routing import BASE_PATH
from billing.auth.capabilities import PUBLIC_PATHS
from billing.auth.tokens import Authenticator
from billing.db.engine import Database
from billing.errors import AppError
from billing.reference.repository import ReferenceRepository

log = structlog.get_logger("billing.api")


def new_trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


class BillingMiddleware:
    """Assigns the ``traceId``, drops a trailing slash, and authenticates every non-public API request.

    Authentication runs before routing so that an unauthenticated request gets 401 even for an unknown
    path or method (billing-api.md §2.5).
    """

    def __init__(self, app: ASGIApp, *, database: Database, authenticator: Authenticator) -> None:
        self.app = app
        self.database = database
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = new_trace_id()
        state = scope.setdefault("state", {})
        state["trace_id"] = trace_id
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            scope["path"] = path
            scope["raw_path"] = path.encode()

        if path.startswith(BASE_PATH) and path[len(BASE_PATH) :] not in PUBLIC_PATHS:
            try:
                state["principal"] = await run_in_threadpool(self._authenticate, scope)
            except AppError as error:
                await problem_response(error, trace_id)(scope, receive, send)
                return
            except Exception:  # never a bare 500 without problem details and traceId (§3.9)
                log.exception("api.authentication_failed", path=path, trace_id=trace_id)
                await problem_response(AppError("An unexpected error occurred."), trace_id)(scope, receive, send)
                return

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name == b"traceparent" for name, _ in headers):
                    headers.append((b"traceparent", trace_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_trace)

    def _authenticate(self, scope: Scope) -> Any:
        authorization = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        with self.database.read_scope() as session:
            return self.authenticator.authenticate(authorization, ReferenceRepository(session))
