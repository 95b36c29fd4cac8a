"""Whose credentials sign a request: the function's role on its invocation's thread, else the operator.

Each Lambda invocation signs its calls with credentials of the function's execution role (assumed
through moto's STS, session name = function name). The credentials live in a thread-local, never in
the shared `os.environ`: a client created inside an invocation is bound to that role, and any request
signed on an invocation's thread uses it. The harness, the CLI and CloudFormation sign with the
operator's keys (`testing` / `testing`), an administrator as the deployer is on AWS.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore import session as botocore_session
from botocore import signers
from botocore.credentials import Credentials

OPERATOR_USER = "localcloud-operator"
# The keys the harness, the README's AWS CLI lines and moto's own test environment sign with.
OPERATOR_KEYS = {"testing": "testing", "FOOBARKEY": "FOOBARSECRET"}
_ADMINISTRATOR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
_thread = threading.local()
_originals: dict[str, Any] = {}


def current_credentials() -> Credentials | None:
    return getattr(_thread, "credentials", None)


@contextlib.contextmanager
def acting_as(credentials: Credentials | None) -> Iterator[None]:
    """Requests signed on this thread inside the block use `credentials` (None: the client's own)."""
    previous = current_credentials()
    _thread.credentials = credentials
    try:
        yield
    finally:
        _thread.credentials = previous


_role_sessions: dict[tuple[str, str, str], Credentials] = {}
_role_lock = threading.Lock()


def role_credentials(account_id: str, role_arn: str, session_name: str) -> Credentials:
    """Temporary credentials of `role_arn`, as Lambda and Step Functions obtain them (moto's STS)."""
    from moto.sts.models import sts_backends

    key = (account_id, role_arn, session_name)
    with _role_lock:
        cached = _role_sessions.get(key)
        if cached is not None:
            return cached
        assumed = sts_backends[account_id]["aws"].assume_role(
            region_name="us-east-1",
            role_session_name=session_name[:64],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        credentials = Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
        _role_sessions[key] = credentials
        return credentials


def _get_auth_instance(self: Any, *args: Any, request_credentials: Any = None, **kwargs: Any) -> Any:
    return _originals["get_auth_instance"](
        self, *args, request_credentials=request_credentials or current_credentials(), **kwargs
    )


def _create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
    """A client created inside an invocation is bound to the invocation's role (so a thread the
    handler starts, like the capture writer, still signs as the function)."""
    credentials = current_credentials()
    if credentials is not None and kwargs.get("aws_access_key_id") is None:
        kwargs.update(
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
        )
    return _originals["create_client"](self, *args, **kwargs)


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    """Work a handler hands to a thread pool signs as the invocation that handed it over, as every
    thread of a Lambda process does on AWS: the functions of one handler module share its clients in
    this process (bound to whichever role created them), so a pool's worker (the validation reduce's
    parallel copies) would otherwise sign as another function. Only pools: the emulator's own threads
    (a state machine's execution, an asynchronous invocation) take their own role, whoever started them."""
    credentials = current_credentials()
    if credentials is None:
        return _originals["submit"](self, fn, *args, **kwargs)  # type: ignore[no-any-return]

    def as_the_invocation(*call_args: Any, **call_kwargs: Any) -> Any:
        with acting_as(credentials):
            return fn(*call_args, **call_kwargs)

    return _originals["submit"](self, as_the_invocation, *args, **kwargs)  # type: ignore[no-any-return]


def create_operator(account_id: str) -> None:
    """The IAM user whose keys the harness, the CLI and CloudFormation sign with (after each reset)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    if any(user.name == OPERATOR_USER for user in iam.list_users("/", None, None)):
        return
    iam.create_user(None, OPERATOR_USER, "/", [])
    iam.put_user_policy(OPERATOR_USER, "administrator", _ADMINISTRATOR)
    for key_id, secret in OPERATOR_KEYS.items():
        access_key = iam.create_access_key(OPERATOR_USER)
        access_key.access_key_id = key_id
        access_key.secret_access_key = secret


def install() -> None:
    """Sign with the thread's credentials: botocore's signer and client factory consult them first."""
    _originals["get_auth_instance"] = signers.RequestSigner.get_auth_instance
    signers.RequestSigner.get_auth_instance = _get_auth_instance  # type: ignore[method-assign]
    _originals["create_client"] = botocore_session.Session.create_client
    botocore_session.Session.create_client = _create_client  # type: ignore[method-assign]
    _originals["submit"] = ThreadPoolExecutor.submit
    ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    signers.RequestSigner.get_auth_instance = _originals["get_auth_instance"]  # type: ignore[method-assign]
    botocore_session.Session.create_client = _originals["create_client"]  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = _originals["submit"]  # type: ignore[method-assign]
    _originals.clear()
    with _role_lock:
        _role_sessions.clear()
