"""A threaded HTTP/1.1 server (keep-alive, one thread per connection) for the simulator's WSGI application.

It is small on purpose: the simulator must drop connections on demand, which a generic WSGI server cannot do.
When the application raises `DropConnection`, the handler stays silent for ``hang_s`` seconds (cut short when
the server stops) and then resets the connection (RST, no answer).
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from billing.erp_sim.faults import DropConnection

if TYPE_CHECKING:
    from billing.erp_sim.app import ErpSimulator

#: Bodies above this are refused before they are read (the simulator's own limit is lower).
HARD_BODY_LIMIT = 256 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: ErpSimulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator
        self.stopping = threading.Event()  # cuts hangs short


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "erp-sim"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer("411 Length Required", [], b"Send Content-Length.")
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > HARD_BODY_LIMIT:
            self._answer("413 Content Too Large", [], b"")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path).encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(length),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        try:
            content = b"".join(self.server.simulator.wsgi_app(environ, start_response))
        except DropConnection as drop:
            self.server.stopping.wait(drop.hang_s)
            self._reset()
            return
        self._answer(captured["status"], captured["headers"], content)

    def _answer(self, status: str, headers: list[tuple[str, str]], content: bytes) -> None:
        lines = [f"{self.protocol_version} {status}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() != "content-length"]
        lines.append(f"Content-Length: {len(content)}")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)

    def _reset(self) -> None:
        """Abort the connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the connection was reset on purpose, or by the client
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are in the simulator's request log; stay quiet."""


@dataclass
class RunningServer:
    """A simulator serving on a socket; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    simulator: ErpSimulator
    root_url: str
    _server: _Server
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        """``http://host:port/{instance}/WS/{company}``."""
        return self.simulator.base_url(self.root_url)

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(simulator: ErpSimulator, host: str, port: int) -> RunningServer:
    server = _Server((host, port), simulator)
    thread = threading.Thread(target=server.serve_forever, name="erp-sim-http", kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    shown = bound_host if isinstance(bound_host, str) else bound_host.decode()
    return RunningServer(
        simulator, f"http://{'127.0.0.1' if shown == '0.0.0.0' else shown}:{bound_port}", server, thread
    )
