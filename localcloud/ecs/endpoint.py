"""Where a task's process reaches the AWS APIs: the local cloud's server, or one started for tasks.

A container runs in another process, so it cannot reach moto's in-process (decorator) mode. With a
moto server (`make up`) the task uses the server's address. In-process, the first task starts a moto
server on a free loopback port in this process: moto's backends are per process, so the server and
the in-process mock share one state, and what the task writes is what the test reads.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

_lock = threading.Lock()
_state: dict[str, Any] = {"given": None, "server": None, "url": None}


def configure(endpoint_url: str | None) -> None:
    _state["given"] = endpoint_url


def task_endpoint_url() -> str:
    """The URL a task's process (and its log driver) sends its AWS requests to."""
    with _lock:
        if _state["given"]:
            return str(_state["given"])
        if _state["url"] is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            _state["server"], _state["url"] = server, f"http://127.0.0.1:{port}"
        return str(_state["url"])


def stop() -> None:
    with _lock:
        server = _state["server"]
        _state.update(given=None, server=None, url=None)
    if server is not None:
        server.stop()
