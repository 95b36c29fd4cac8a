"""Drift checks on the registry table: one summary row per check of a model (the full report stays
in S3), and the lease that lets one check at a time hold a model."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.registry.keys import DRIFT_LEASE_SK, DRIFT_RESULTS, drift_sk, model_pk


def _drift_lease(name: str, owner: str, taken_at: datetime, until: datetime) -> dict[str, Any]:
    return {
        "pk": model_pk(name),
        "sk": DRIFT_LEASE_SK,
        "kind": "drift_lease",
        "owner": owner,
        "taken_at": taken_at.isoformat(),
        "lease_until": until.isoformat(),
    }


@dataclass
class DriftChecks:
    table: Any  # a boto3 DynamoDB Table resource

    def put_drift_result(self, name: str, version: int, checked_at: str, summary: dict[str, Any]) -> bool:
        """One summary row per drift check; a rerun of the same check (same model and time) is a no-op."""
        item = {
            "pk": model_pk(name),
            "sk": drift_sk(checked_at),
            "kind": "drift_result",
            "model": name,
            "version": version,
            "checked_at": checked_at,
            **summary,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def claim_drift_check(self, name: str, *, owner: str, now: datetime, lease: timedelta) -> str | None:
        """Take the model's drift-check lease until `now + lease`; None when taken, else who holds it.

        Two overlapping checks of one model would read the same capture window twice: one check at
        a time comes from this conditional write, not from reserved concurrency (which can fail a
        deploy in an account with little unreserved concurrency). A lease ends by itself, so a check
        that died holding it blocks the next one for at most `lease`. A retry by the same owner (the
        same invocation) takes it again."""
        try:
            self.table.put_item(
                Item=_drift_lease(name, owner, now, now + lease),
                ConditionExpression="attribute_not_exists(pk) OR lease_until <= :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": now.isoformat(), ":owner": owner},
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            held = self.table.get_item(Key={"pk": model_pk(name), "sk": DRIFT_LEASE_SK}).get("Item") or {}
            return f"{held.get('owner', '?')} since {held.get('taken_at', '?')}"
        return None

    def release_drift_check(self, name: str, *, owner: str, now: datetime) -> None:
        """End the lease early (a PutItem, so the drift role needs no DeleteItem); only its owner may:
        when the lease ran out and another check holds it now, it is theirs to end."""
        with contextlib.suppress(self.table.meta.client.exceptions.ConditionalCheckFailedException):
            self.table.put_item(
                Item=_drift_lease(name, owner, now, now),
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )

    def drift_results(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with(DRIFT_RESULTS),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [dict(i) for i in response.get("Items", [])]
