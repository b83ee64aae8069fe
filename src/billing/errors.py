"""The error tree. Services raise these; one handler (api/problems.py) renders RFC 9457 problem details.

AppError (500 internal)
├── ValidationFailed        400 validation        errors by property path
├── InvalidQuery            400 invalid-query     errors["query"]
├── Unauthorized            401 unauthorized      + WWW-Authenticate: Bearer
├── Forbidden               403 forbidden
├── NotFound                404 not-found
├── MethodNotAllowed        405 method-not-allowed + Allow
├── NotAcceptable           406 not-acceptable
├── InvalidStatus           409 invalid-status    errors["status"]
├── Conflict                409 conflict
├── PayloadTooLarge         413 payload-too-large
├── UnsupportedMediaType    415 unsupported-media-type
├── ErpDocumentNotFound     422 erp-document-not-found
├── NotImplementedYet       501 not-implemented   (a route of the matrix whose domain is not built yet)
└── Unavailable             503 unavailable       + Retry-After
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class AppError(Exception):
    status: int = 500
    type_suffix: str = "internal"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers) if headers else {}


class ValidationFailed(AppError):
    status, type_suffix, title = 400, "validation", "One or more validation errors occurred."

    def __init__(self, errors: Mapping[str, list[str]], detail: str = "The request body is invalid.") -> None:
        super().__init__(detail, errors=errors)

    @classmethod
    def one(cls, path: str, message: str, detail: str = "The request body is invalid.") -> ValidationFailed:
        return cls({path: [message]}, detail)


class InvalidQuery(AppError):
    status, type_suffix, title = 400, "invalid-query", "Invalid query."

    def __init__(self, message: str) -> None:
        super().__init__(message, errors={"query": [message]})


class Unauthorized(AppError):
    status, type_suffix, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, type_suffix, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, type_suffix, title = 404, "not-found", "Not Found"

    @classmethod
    def object(cls, label: str, object_id: str) -> NotFound:
        return cls(f"{label} {object_id} was not found.")


class MethodNotAllowed(AppError):
    status, type_suffix, title = 405, "method-not-allowed", "Method Not Allowed"

    def __init__(self, allowed: Iterable[str], detail: str | None = None) -> None:
        allow = ", ".join(sorted(set(allowed)))
        super().__init__(detail or "The method is not allowed for this resource.", headers={"Allow": allow})


class NotAcceptable(AppError):
    status, type_suffix, title = 406, "not-acceptable", "Not Acceptable"


class InvalidStatus(AppError):
    status, type_suffix, title = 409, "invalid-status", "The operation is not allowed in the current status."

    def __init__(self, label: str, object_id: str, current: str, action: str, allowed: Iterable[str]) -> None:
        message = f"{label} {object_id} is in status {current}; '{action}' requires {_either(list(allowed))}."
        super().__init__(message, errors={"status": [message]})


class Conflict(AppError):
    status, type_suffix, title = 409, "conflict", "Conflict"

    def __init__(self, detail: str, *, path: str = "status") -> None:
        super().__init__(detail, errors={path: [detail]})


class PayloadTooLarge(AppError):
    status, type_suffix, title = 413, "payload-too-large", "Payload Too Large"


class UnsupportedMediaType(AppError):
    status, type_suffix, title = 415, "unsupported-media-type", "Unsupported Media Type"


class ErpDocumentNotFound(AppError):
    status, type_suffix, title = 422, "erp-document-not-found", "ERP document not found."


class NotImplementedYet(AppError):
    status, type_suffix, title = 501, "not-implemented", "Not Implemented"


class Unavailable(AppError):
    status, type_suffix, title = 503, "unavailable", "Service Unavailable"

    def __init__(self, detail: str, retry_after_s: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


def _either(items: list[str]) -> str:
    """``Draft, Validated, Error or Enquiring``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"
