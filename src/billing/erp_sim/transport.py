"""HTTP plumbing shared by the WSGI application, the threaded server and the in-process `requests` adapter.

`InProcessAdapter` calls the WSGI application directly (no socket), so tests mount it on a `requests`
session for ``http://erp-sim.test/`` and use zeep unchanged. A `DropConnection` raised by the application
becomes ``requests.ConnectionError`` (a reset) or ``requests.ReadTimeout`` (a hang after the commit).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from billing.erp_sim.faults import DropConnection

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
IN_PROCESS_ROOT = "http://erp-sim.test"


@dataclass
class Request:
    method: str
    path: str  # URL-decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    root: str  # scheme://host[:port] as the client addressed it
    content_length: int

    @classmethod
    def from_environ(cls, environ: dict[str, Any], max_body: int) -> Request:
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if 0 < length <= max_body else b""
        host = headers.get("host") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        query = {key: values[-1] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        return cls(
            environ["REQUEST_METHOD"].upper(),
            path,
            query,
            headers,
            body,
            f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
            length,
        )


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def text(cls, status: int, message: str | None = None, **headers: str) -> Response:
        text = message if message is not None else HTTPStatus(status).phrase
        return cls(status, text.encode(), headers=[(name.replace("_", "-"), value) for name, value in headers.items()])

    def wsgi(self, start_response: Callable[..., Any]) -> list[bytes]:
        status = f"{self.status} {HTTPStatus(self.status).phrase}"
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))), *self.headers]
        start_response(status, headers)
        return [self.body]


class InProcessAdapter(BaseAdapter):
    """A `requests` transport adapter that hands each request to a WSGI application in this process."""

    def __init__(self, app: WsgiApp) -> None:
        super().__init__()
        self.app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = b"".join(body)  # type: ignore[arg-type]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method or "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path or "/").encode("utf-8").decode("latin-1"),
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "erp-sim.test",
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": url.netloc,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme or "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        try:
            content = b"".join(self.app(environ, start_response))
        except DropConnection as drop:
            if drop.hang_s > 0:
                raise requests.ReadTimeout(f"{request.url}: no answer (the simulator hangs)", request=request) from None
            raise requests.ConnectionError(f"{request.url}: connection reset by peer", request=request) from None
        response = requests.Response()
        response.status_code = int(captured["status"].split(" ", 1)[0])
        response.reason = captured["status"].split(" ", 1)[1]
        response.headers = CaseInsensitiveDict(captured["headers"])
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = content
        response.raw = io.BytesIO(content)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: no sockets."""
