"""Presigned S3 URLs (query-string authentication) decided as S3 decides them, which moto's
authorizer cannot: it reads the caller from an `Authorization` header, and a presigned GET has none.

S3 takes the signer from the query (`X-Amz-Credential` for Signature Version 4, `AWSAccessKeyId` for
version 2) and authorizes the request as that signer's own, so a URL works only while its signer
may GetObject the key; past its expiry (`X-Amz-Date` + `X-Amz-Expires`, or `Expires`) it is refused
with 403 AccessDenied "Request has expired"; a request with no signature at all is anonymous, which
a private bucket refuses with 403 AccessDenied.
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html

`signer_headers` turns the query's credentials into the headers moto's IAM request reads (its access
key, and the session token an assumed role's key needs); `localcloud.iam.enforcement` then decides the
signer's identity policies as for any request. The signature itself is not recomputed, as for headers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SIGV4_DATE = "%Y%m%dT%H%M%SZ"


class PresignedUrlRefusedError(Exception):
    """S3's answer to a URL it will not serve: 403 AccessDenied with this message."""


def _first(query: Mapping[str, Any], name: str) -> str | None:
    value = query.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else None


def signer_headers(headers: Mapping[str, str], query: Mapping[str, Any], *, now: float | None = None) -> dict[str, str]:
    """Headers naming the request's signer for moto's IAM request: the request's own when it carries
    an `Authorization` header; else built from a presigned URL's query. PresignedUrlRefusedError when the
    URL has expired or the request is not signed at all."""
    if "Authorization" in headers or "authorization" in headers:
        return dict(headers)
    now = time.time() if now is None else now
    credential = _first(query, "X-Amz-Credential")
    if credential is not None:
        signed_at = datetime.strptime(_first(query, "X-Amz-Date") or "", SIGV4_DATE).replace(tzinfo=UTC)
        expires_at = signed_at.timestamp() + int(_first(query, "X-Amz-Expires") or 0)
        token = _first(query, "X-Amz-Security-Token")
    else:
        key = _first(query, "AWSAccessKeyId")
        if key is None:
            raise PresignedUrlRefusedError("Access Denied")  # anonymous, and the platform's buckets are private
        credential = f"{key}/19700101/us-east-1/s3/aws4_request"  # version 2 names no scope: S3's own
        expires_at = float(_first(query, "Expires") or 0)
        token = _first(query, "x-amz-security-token")
    if now > expires_at:
        raise PresignedUrlRefusedError("Request has expired")
    signed = {
        **dict(headers),
        "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=presigned",
    }
    if token:
        signed["X-Amz-Security-Token"] = token
    return signed
