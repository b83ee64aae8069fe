"""Routes are registered from rows of the capability matrix, never by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Depends

from billing.api.deps import authorize
from billing.auth.capabilities import CAPABILITIES, Capability, capability
from billing.errors import NotImplementedYet

BASE_PATH = "/public/v1/billing"

_PROBLEMS = {
    "description": "Problem details (RFC 9457)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_COMMON: dict[int | str, dict[str, Any]] = {
    401: _PROBLEMS,
    403: _PROBLEMS,
    404: _PROBLEMS,
    405: _PROBLEMS,
    406: _PROBLEMS,
}
_BY_METHOD: dict[str, dict[int | str, dict[str, Any]]] = {
    "GET": {400: _PROBLEMS},
    "POST": {400: _PROBLEMS, 409: _PROBLEMS, 413: _PROBLEMS, 415: _PROBLEMS},
    "PUT": {400: _PROBLEMS, 409: _PROBLEMS, 413: _PROBLEMS, 415: _PROBLEMS},
    "DELETE": {409: _PROBLEMS},
}


def add(
    router: APIRouter,
    name: str,
    endpoint: Callable[..., Any],
    *,
    status_code: int = 200,
    request_model: type | None = None,
    summary: str | None = None,
    **kwargs: Any,
) -> Capability:
    """Register ``endpoint`` for capability ``name`` (and its aliases), guarded by the matrix row."""
    cap = capability(name)
    roles = ", ".join(sorted(role.value for role in cap.roles))
    extra: dict[str, Any] = dict(kwargs.pop("openapi_extra", {}) or {})
    if request_model is not None:
        extra.setdefault(
            "requestBody",
            {"content": {"application/json": {"schema": request_model.model_json_schema(by_alias=True)}}},  # type: ignore[attr-defined]
        )
    for index, path in enumerate(cap.paths):
        router.add_api_route(
            BASE_PATH + path,
            endpoint,
            methods=[cap.method],
            dependencies=[Depends(authorize(cap))],
            status_code=status_code,
            name=cap.name if index == 0 else f"{cap.name}.alias{index}",
            summary=summary or cap.name,
            description=f"Roles: {roles}." + (" Alias of " + cap.path + "." if index else ""),
            responses={**_COMMON, **_BY_METHOD.get(cap.method, {})},
            openapi_extra=extra or None,
            response_model=None,
            **kwargs,
        )
    return cap


def add_pending(router: APIRouter, registered: Iterable[str], issue_by_resource: dict[str, str]) -> None:
    """Matrix rows whose domain is not built yet answer 501 after the role check (never a fake result)."""
    done = set(registered)
    for cap in CAPABILITIES:
        if cap.name in done:
            continue
        add(router, cap.name, _pending(cap, issue_by_resource.get(cap.resource, "a later release")))


def _pending(cap: Capability, note: str) -> Callable[[], None]:
    def pending() -> None:
        raise NotImplementedYet(f"{cap.method} {cap.path} is part of {note} and is not available yet.")

    return pending
