"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): registry requests signed with SigV4.

The `sigv4` security scheme's configured value is a placeholder; a request carrying it is signed
when `requests` sends it (method, final URL, body and headers as they go on the wire) with the
local cloud's operator keys, as the `mlops` CLI signs. A request Schemathesis sends without
credentials (its ignored_auth and missing-header checks) carries no placeholder and stays unsigned.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PLACEHOLDER = "SIGV4"


class SigV4(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.headers.get("Authorization") != PLACEHOLDER:
            return request
        del request.headers["Authorization"]
        body = request.body.encode() if isinstance(request.body, str) else request.body
        signed = AWSRequest(method=request.method, url=request.url, data=body, headers=dict(request.headers))
        credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        SigV4Auth(credentials, "execute-api", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if (case.headers or {}).get("Authorization") == PLACEHOLDER:
        kwargs["auth"] = SigV4()
