"""The HTTP server in front of the local API Gateway: framing only (keep-alive, chunked bodies, 413).

Everything a request means (routing, keys, limits, integrations) is the gateway's `handle()`; this
module reads the request off the socket, refuses a body over API Gateway's payload limit before
reading it all, and writes the answer back.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from localcloud.apigateway.request import MAX_PAYLOAD_BYTES, GatewayRequest, GatewayResponse

LOG = logging.getLogger(__name__)


class Gateway(Protocol):
    """What the server hands requests to (`LocalApiGateway`)."""

    def handle(self, request: GatewayRequest) -> GatewayResponse: ...

    def refuse_too_large(self, request: GatewayRequest) -> GatewayResponse: ...


class GatewayServer(ThreadingHTTPServer):
    """Threaded server that remembers its connections so `stop()` can close kept-alive ones."""

    daemon_threads = True
    gateway: Gateway

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class BackgroundServer:
    """A `GatewayServer` for one gateway, serving from a daemon thread until `stop()` (which also shuts
    kept-alive connections): how the local API Gateway and each function URL are served."""

    def __init__(self, gateway: Gateway, address: tuple[str, int], name: str) -> None:
        self.server = GatewayServer(address, GatewayRequestHandler)
        self.server.gateway = gateway
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{name}-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join(timeout=5)


class GatewayRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; everything but framing is the gateway's `handle`."""

    protocol_version = "HTTP/1.1"
    server_version = "localcloud-apigateway"
    disable_nagle_algorithm = True
    timeout = 120
    server: GatewayServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def handle_expect_100(self) -> bool:
        if self._declared_length() > MAX_PAYLOAD_BYTES:
            self._send_too_large()
            return False
        return super().handle_expect_100()

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def _send_too_large(self) -> None:
        self.close_connection = True
        path, _, query = self.path.partition("?")
        response = self.server.gateway.refuse_too_large(
            GatewayRequest(method=self.command, raw_path=path or "/", query=query, headers=list(self.headers.items()))
        )
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over the payload limit (already answered 413)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                chunk = self.rfile.read(size)
                self.rfile.readline(65537)
                if total <= MAX_PAYLOAD_BYTES:
                    chunks.append(chunk)
            if total > MAX_PAYLOAD_BYTES:
                self._send_too_large()
                return None
            return b"".join(chunks)
        length = self._declared_length()
        if length > MAX_PAYLOAD_BYTES:
            # Drain (bounded) so the client sees the 413 rather than a reset mid-upload.
            remaining = min(length, 8 * MAX_PAYLOAD_BYTES)
            while remaining > 0:
                read = self.rfile.read(min(remaining, 1 << 20))
                if not read:
                    break
                remaining -= len(read)
            self._send_too_large()
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        target = self.path
        if not target.startswith("/"):
            split = urlsplit(target)  # absolute-form request target
            target = split.path + ("?" + split.query if split.query else "")
        path, _, query = target.partition("?")
        request = GatewayRequest(
            method=self.command,
            raw_path=path or "/",
            query=query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=str(self.client_address[0]),
            protocol=self.request_version,
        )
        response = self.server.gateway.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def __getattr__(self, name: str) -> Any:
        """Every verb (`do_GET`, `do_PATCH`, …) is dispatched alike: routing decides what exists."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)
