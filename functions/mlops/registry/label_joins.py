"""The join of labels with captured predictions, on the registry table: one item per model saying how
far the join has read and which hours it joins again, with the lease that lets one join at a time
hold the model.

The watermark is the received time of the newest label object already joined: an hour whose label
folder holds a newer object has new labels. Open hours were joined while their capture could still
be landing (or failed), so later runs join them again. One item, so a run's claim reads the state it
starts from, and its commit writes what it ended with and frees the model in one conditional write:
a run that outlived its lease (another run holds the model now) changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops.registry.keys import LABEL_JOIN_SK, model_pk
from mlops.registry.numbers import from_dynamo, to_dynamo

LABEL_JOIN_KIND = "label_join"


@dataclass(frozen=True)
class JoinState:
    """Where the previous join of a model's labels left off."""

    watermark: datetime | None = None  # received time of the newest label object joined; None: none yet
    open_hours: tuple[datetime, ...] = ()  # hours joined again on the next run
    joined_at: datetime | None = None  # when a run last committed
    summary: Mapping[str, Any] = field(default_factory=dict)  # that run's figures

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> JoinState:
        item = item or {}
        watermark, joined_at = item.get("watermark"), item.get("joined_at")
        return cls(
            watermark=datetime.fromisoformat(str(watermark)) if watermark else None,
            open_hours=tuple(sorted(datetime.fromisoformat(str(h)) for h in item.get("open_hours") or [])),
            joined_at=datetime.fromisoformat(str(joined_at)) if joined_at else None,
            summary=from_dynamo(dict(item.get("summary") or {})),
        )


@dataclass(frozen=True)
class JoinClaim:
    """A claim's answer: the state to start from, or who holds the model (state None)."""

    state: JoinState | None
    held_by: str | None = None


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@dataclass
class LabelJoins:
    table: Any  # a boto3 DynamoDB Table resource

    def _key(self, name: str) -> dict[str, str]:
        return {"pk": model_pk(name), "sk": LABEL_JOIN_SK}

    def claim_label_join(self, name: str, *, owner: str, now: datetime, lease: timedelta) -> JoinClaim:
        """Take the model's join until `now + lease` and read where the last join left off.

        Two overlapping joins could each write an hour from a different listing of its labels, the
        older listing last. A lease ends by itself, so a run that died holding it blocks the next
        for at most `lease`; a retry by the same owner (the same invocation) takes it again."""
        try:
            response = self.table.update_item(
                Key=self._key(name),
                UpdateExpression="SET #kind = :kind, #model = :model, #owner = :owner, #taken = :now, #until = :until",
                ConditionExpression="attribute_not_exists(pk) OR #until <= :now OR #owner = :owner",
                ExpressionAttributeNames={
                    "#kind": "kind",
                    "#model": "model",
                    "#owner": "owner",
                    "#taken": "taken_at",
                    "#until": "lease_until",
                },
                ExpressionAttributeValues={
                    ":kind": LABEL_JOIN_KIND,
                    ":model": name,
                    ":owner": owner,
                    ":now": _at(now),
                    ":until": _at(now + lease),
                },
                ReturnValues="ALL_NEW",
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            held = self.table.get_item(Key=self._key(name)).get("Item") or {}
            return JoinClaim(None, f"{held.get('owner', '?')} since {held.get('taken_at', '?')}")
        return JoinClaim(JoinState.from_item(response.get("Attributes")))

    def commit_label_join(
        self,
        name: str,
        *,
        owner: str,
        now: datetime,
        watermark: datetime | None,
        open_hours: Sequence[datetime],
        summary: Mapping[str, Any],
    ) -> bool:
        """Record where this run left off and free the model; False (nothing written) when the run no
        longer holds it."""
        names = {"#owner": "owner", "#until": "lease_until", "#open": "open_hours", "#at": "joined_at", "#s": "summary"}
        values: dict[str, Any] = {
            ":owner": owner,
            ":now": _at(now),
            ":open": [_at(h) for h in sorted(set(open_hours))],
            ":summary": to_dynamo(dict(summary)),
        }
        update = "SET #until = :now, #open = :open, #at = :now, #s = :summary"
        if watermark is not None:
            names["#w"] = "watermark"
            values[":w"] = _at(watermark)
            update += ", #w = :w"
        try:
            self.table.update_item(
                Key=self._key(name),
                UpdateExpression=update,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_label_join(self, name: str, *, owner: str, now: datetime) -> None:
        """Free the model without recording anything (a run that failed); only its holder may."""
        with contextlib.suppress(self.table.meta.client.exceptions.ConditionalCheckFailedException):
            self.table.update_item(
                Key=self._key(name),
                UpdateExpression="SET #until = :now",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner", "#until": "lease_until"},
                ExpressionAttributeValues={":owner": owner, ":now": _at(now)},
            )

    def label_join_state(self, name: str) -> JoinState:
        """Where the last join left off (an empty state before the first)."""
        return JoinState.from_item(self.table.get_item(Key=self._key(name)).get("Item"))
