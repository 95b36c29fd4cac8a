"""S3's event notifications to Lambda: invoked asynchronously, in S3's event shape, behind the
function's resource policy.

moto calls the function inline and drops its errors, quotes the `/` of object keys and leaves out the
object's `versionId` and `sequencer`; and it invokes whatever the function's policy says. Here the
notification is refused (and recorded) unless the function's AWS::Lambda::Permission lets S3 invoke
it for the bucket, and otherwise queued as Lambda's asynchronous invocation, in the shape S3 sends.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from localcloud import iam
from localcloud.lambda_.async_invocations import invoke_async

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefusedDelivery:
    """An event a service could not deliver because a resource-based policy did not allow it."""

    service: str
    source_arn: str
    target_arn: str
    reason: str


refused: list[RefusedDelivery] = []


def refused_deliveries() -> list[RefusedDelivery]:
    """S3 notifications refused by the function's resource policy (EventBridge's refusals are
    failed deliveries in `eventbridge.recent_deliveries()`)."""
    return list(refused)


def s3_notification(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    """S3 invokes Lambda asynchronously; moto calls it inline and drops errors."""
    from moto.awslambda.utils import get_backend

    try:
        fn = get_backend(account_id, region_name).get_function(fn_arn)
    except Exception:  # S3 keeps no record of a notification to a missing function
        log.error("S3 notification to missing function %s dropped", fn_arn)
        return
    buckets = {r.get("s3", {}).get("bucket", {}).get("name") for r in (event_body or {}).get("Records", [])}
    for bucket in sorted(b for b in buckets if b):
        denial = iam.lambda_invoke_denial(
            fn, service="s3.amazonaws.com", source_arn=f"arn:aws:s3:::{bucket}", source_account=account_id
        )
        if denial:  # S3 drops the event; nothing is invoked and no error reaches anyone
            log.error("S3 notification from %s to %s refused: %s", bucket, fn.function_name, denial)
            refused.append(RefusedDelivery("s3.amazonaws.com", f"arn:aws:s3:::{bucket}", fn.function_arn, denial))
            return
    invoke_async(fn, s3_event_as_aws_sends_it(event_body, account_id))


_sequence = iter(range(1, 1 << 62))


def s3_event_as_aws_sends_it(event: Any, account_id: str) -> Any:
    """moto quotes the `/` of object keys (`in%2Ffile.csv`) where S3 keeps it, and leaves out the
    object's `versionId` and `sequencer`, which S3 sends and which tell two writes of one key apart."""
    from moto.s3.models import s3_backends

    for record in event.get("Records", []) if isinstance(event, dict) else []:
        obj = record.get("s3", {}).get("object", {})
        if "key" not in obj:
            continue
        key = urllib.parse.unquote_plus(obj["key"])
        obj["key"] = urllib.parse.quote_plus(key, safe="/")
        obj.setdefault("sequencer", f"{next(_sequence):016X}")
        bucket_name = record.get("s3", {}).get("bucket", {}).get("name")
        try:
            stored = s3_backends[account_id]["aws"].get_object(bucket_name, key)
        except Exception:  # deleted meanwhile, or not an object event
            continue
        version = getattr(stored, "version_id", None)
        if version and version != "null":
            obj.setdefault("versionId", version)
    return event
