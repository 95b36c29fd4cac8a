"""The request and response the local API Gateway handles, independent of the server that carries them.

Kept apart from the HTTP server so the gateway can be driven in-process (`LocalApiGateway.handle`)
without a socket, and so routing, usage plans and integrations share one shape of request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# Request bodies larger than this are refused by API Gateway before any routing (REST APIs).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Lambda's synchronous invocation payload limit; API Gateway answers 413 when the event is larger.
MAX_LAMBDA_EVENT_BYTES = 6 * 1024 * 1024


@dataclass
class GatewayRequest:
    """One HTTP request as the gateway sees it, independent of the server that received it."""

    method: str
    raw_path: str  # the URL path exactly as sent (not percent-decoded), without the query
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """Last value of a header, case-insensitively (API Gateway keeps the last one)."""
        lowered = name.lower()
        found: str | None = None
        for key, value in self.headers:
            if key.lower() == lowered:
                found = value
        return found


@dataclass
class GatewayResponse:
    """What the gateway answers; headers are a list because a Lambda may return repeated ones."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def matches_media_types(value: str | None, patterns: Sequence[str]) -> bool:
    """Does a media type match any of the API's binaryMediaTypes (which may hold `*` wildcards)?"""
    kind = media_type(value)
    if not kind:
        return False
    major, _, minor = kind.partition("/")
    for pattern in patterns:
        p_major, _, p_minor = pattern.strip().lower().partition("/")
        if p_major in ("*", major) and p_minor in ("*", minor):
            return True
    return False
