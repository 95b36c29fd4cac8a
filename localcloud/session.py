"""boto3 clients for the local cloud, in-process (moto's decorator) or against a moto server."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

DEFAULT_ACCOUNT = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"


@dataclass
class AwsSession:
    """Where the local cloud's AWS APIs answer: `endpoint_url` is None in-process, the server's URL otherwise."""

    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # One botocore session: it caches the service models that every new client would load again.
    _boto: boto3.session.Session = field(default_factory=boto3.session.Session, repr=False)

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                boto: Any = self._boto  # the stubs type client() per service literal; this takes any name
                self._clients[service] = boto.client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                )
            return self._clients[service]
