"""The one error handler: every error becomes RFC 9457 problem details with a ``traceId``."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from billing.errors import AppError, MethodNotAllowed, NotFound, ValidationFailed
from billing.kit.jsonout import dumps

log = structlog.get_logger("billing.api")
PROBLEM = "application/problem+json"


def problem_body(error: AppError, trace_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:billing:problem:{error.type_suffix}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "traceId": trace_id,
    }
    if error.errors:
        body["errors"] = error.errors
    return body


def problem_response(error: AppError, trace_id: str) -> Response:
    headers = dict(error.headers)
    headers["traceparent"] = trace_id
    body = dumps(problem_body(error, trace_id))
    return Response(body, status_code=error.status, headers=headers, media_type=PROBLEM)


def trace_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("trace_id", ""))


def install(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return problem_response(exc, trace_id_of(request))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error: AppError = MethodNotAllowed(_allowed_methods(request))
        elif exc.status_code == 404:
            error = NotFound(f"The path {request.url.path} was not found.")
        else:
            error = AppError(str(exc.detail))
            error.status = exc.status_code
        return problem_response(error, trace_id_of(request))

    async def request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors: dict[str, list[str]] = {}
        for item in exc.errors():
            path = ".".join(str(p) for p in item["loc"][1:]) or "body"
            errors.setdefault(path, []).append(str(item["msg"]))
        return problem_response(ValidationFailed(errors, "The request is invalid."), trace_id_of(request))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("api.unhandled", path=request.url.path, trace_id=trace_id_of(request))
        return problem_response(AppError("An unexpected error occurred."), trace_id_of(request))

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(Exception, unexpected)


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route serves for this path (Starlette reports only the first partial match)."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        methods = getattr(route, "methods", None)
        if methods and match != Match.NONE:
            probe = {**request.scope}
            for method in methods:
                probe["method"] = method
                if route.matches(probe)[0] == Match.FULL:
                    allowed.add(method)
    allowed.discard("HEAD")
    return sorted(allowed)
