"""Request bodies read with a size cap, checked in the §2.5 order by the endpoint after its lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from billing.errors import PayloadTooLarge, UnsupportedMediaType
from billing.kit.binding import bind, parse_json

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class RawBody:
    content: bytes
    content_type: str
    too_large: bool
    limit: int

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def is_empty(self) -> bool:
        return not self.content.strip() and not self.too_large

    def check_size(self) -> None:
        if self.too_large:
            raise PayloadTooLarge(f"The request body exceeds the limit of {self.limit} bytes.")

    def json(self) -> Any:
        """The body as JSON (415 for a non-JSON content type, 413 when over the limit, 400 when malformed)."""
        media = self.media_type
        if not (
            media in ("application/json", "text/json") or (media.startswith("application/") and media.endswith("+json"))
        ):
            raise UnsupportedMediaType(f"Request bodies must be JSON, not '{self.content_type or 'none'}'.")
        self.check_size()
        return parse_json(self.content)

    def bind(self, model: type[M]) -> M:
        return bind(model, self.json())

    def bind_optional(self, model: type[M]) -> M | None:
        """Action bodies are optional: an empty body (any or no content type) is None."""
        return None if self.is_empty else self.bind(model)


async def read_capped(request: Request, limit: int) -> RawBody:
    declared = request.headers.get("content-length")
    content_type = request.headers.get("content-type", "")
    if declared and declared.isdigit() and int(declared) > limit:
        return RawBody(b"", content_type, True, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return RawBody(b"", content_type, True, limit)
        chunks.append(chunk)
    return RawBody(b"".join(chunks), content_type, False, limit)


async def json_body(request: Request) -> RawBody:
    return await read_capped(request, request.app.state.settings.api.max_json_body_bytes)


JsonBodyDep = Annotated[RawBody, Depends(json_body)]
