"""Data access for the registry table (one DynamoDB table, single-table design).

Items written here, by access pattern:
- dataset version:   pk `DATASET#<dataset>`, sk `VERSION#<hash>`; listed newest first through
  gsi1 (`gsi1pk` `DATASET#<dataset>#VERSIONS`, `gsi1sk` `<created_at>#<hash>`).
- processed upload:  pk `DATASET#<dataset>`, sk `UPLOAD#<key>#<s3 version>`: makes a redelivered
  S3 event a no-op.
Every write that creates something is conditional, so retries and races never overwrite.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.names import CHALLENGER, CHAMPION
from mlops.registry.limits import MAX_ITEM_BYTES, MAX_TAGS, readable_tags, tag_problems, too_large

GSI1 = "gsi1"
SERVING_POLICY_SK = "POLICY#serving"
SERVING_POLICY_FIELDS = ("out_of_range", "unseen_category", "capture_sample_rate")


def table_definition(name: str) -> dict[str, Any]:
    """`create_table` arguments for a table with this layer's keys (what infra/constructs/registry.py
    deploys): for tests and benchmarks that stand the table up in moto without the stack."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def dataset_pk(dataset: str) -> str:
    return f"DATASET#{dataset}"


@dataclass
class RegistryTable:
    table: Any  # a boto3 DynamoDB Table resource

    # -- dataset versions ------------------------------------------------------------------------
    def put_dataset_version(self, dataset: str, version: str, created_at: str, attributes: dict[str, Any]) -> bool:
        """Record a dataset version once; False when it already existed (same content uploaded again)."""
        item = {
            "pk": dataset_pk(dataset),
            "sk": f"VERSION#{version}",
            "kind": "dataset_version",
            "dataset": dataset,
            "version": version,
            "created_at": created_at,
            "gsi1pk": f"{dataset_pk(dataset)}#VERSIONS",
            "gsi1sk": f"{created_at}#{version}",
            **attributes,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get_dataset_version(self, dataset: str, version: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": f"VERSION#{version}"}).get("Item")
        return dict(item) if item else None

    def dataset_versions(self, dataset: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        response = self.table.query(
            IndexName=GSI1,
            KeyConditionExpression=Key("gsi1pk").eq(f"{dataset_pk(dataset)}#VERSIONS"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [dict(item) for item in response.get("Items", [])]

    def all_dataset_versions(self, dataset: str) -> list[dict[str, Any]]:
        """Every accepted version, oldest first (the order training combines them in), page by page."""
        versions: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while True:
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("gsi1pk").eq(f"{dataset_pk(dataset)}#VERSIONS"),
                ScanIndexForward=True,
                **start,
            )
            versions += [dict(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return versions
            start = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def latest_dataset_version(self, dataset: str) -> dict[str, Any] | None:
        versions = self.dataset_versions(dataset, limit=1)
        return versions[0] if versions else None

    # -- processed uploads ----------------------------------------------------------------------
    def processed_upload(self, dataset: str, key: str, s3_version: str | None) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": _upload_sk(key, s3_version)}).get("Item")
        return dict(item) if item else None

    def record_upload(self, dataset: str, key: str, s3_version: str | None, outcome: dict[str, Any]) -> bool:
        """Record how an upload ended; False if another delivery of the same event recorded it first."""
        item = {"pk": dataset_pk(dataset), "sk": _upload_sk(key, s3_version), "kind": "upload", **outcome}
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _upload_sk(key: str, s3_version: str | None) -> str:
    return f"UPLOAD#{key}#{s3_version or 'null'}"


# ---------------------------------------------------------------------------------------------
# Models: versions numbered per model, aliases, training runs and the audit trail.
#   model:    pk MODEL#<name>, sk META (holds the version counter; listed through gsi1 MODELS)
#   version:  pk MODEL#<name>, sk VERSION#<000000n> (gsi1: MODEL#<name>#STATUS#<status>)
#   alias:    pk MODEL#<name>, sk ALIAS#<alias> (version, previous_version for rollback)
#   audit:    pk MODEL#<name>, sk AUDIT#<time>#<id>: who, what, why, before, after (append-only)
#   run:      pk RUN#<run id>, sk META (gsi1: DATASET#<dataset>#RUNS by start time)
#   drift:    pk MODEL#<name>, sk DRIFT#<checked at>: one summary row per drift check
#   lease:    pk MODEL#<name>, sk LEASE#DRIFT: which drift check holds the model, and until when
# ---------------------------------------------------------------------------------------------
VERSION_STATUSES = ("registered", "pending_approval", "rejected", "archived")
SERVABLE_STATUSES = ("registered",)
MAX_ALLOCATION_ATTEMPTS = 10
ALIAS_HISTORY = 20
DRIFT_LEASE_SK = "LEASE#DRIFT"


class RegistryError(Exception):
    """A registry operation was refused; `code` maps to an HTTP status (not_found 404, conflict 409,
    invalid 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fits(item: Mapping[str, Any], what: str) -> None:
    """Refuse, before the write, an item DynamoDB would refuse: its error would be the caller's 5xx."""
    size = too_large(item)
    if size is not None:
        raise RegistryError(
            "invalid", f"{what} would be {size:,} bytes; DynamoDB stores at most {MAX_ITEM_BYTES:,} in one item"
        )


def model_pk(name: str) -> str:
    return f"MODEL#{name}"


def version_sk(version: int) -> str:
    return f"VERSION#{version:09d}"


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def _audit_item(name: str, at: str, action: str, actor: str, reason: str, before: Any, after: Any) -> dict[str, Any]:
    import time
    import uuid

    return {
        "pk": model_pk(name),
        # `at` orders events; the clock's nanoseconds order events given the same `at`.
        "sk": f"AUDIT#{at}#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}",
        "kind": "audit",
        "model": name,
        "at": at,
        "action": action,
        "actor": actor,
        "reason": reason,
        "before": before,
        "after": after,
    }


def _page(response: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    import base64
    import json as _json

    key = response.get("LastEvaluatedKey")
    token = base64.urlsafe_b64encode(_json.dumps(key, default=str).encode()).decode() if key else None
    return [dict(i) for i in response.get("Items", [])], token


def _start_key(token: str | None, partition: dict[str, str]) -> dict[str, Any]:
    """The query's ExclusiveStartKey from a token `_page` made for this same query (`partition`:
    the key value the query is on); anything else is the caller's mistake, never DynamoDB's error."""
    import base64
    import binascii
    import json as _json

    if not token:
        return {}
    try:
        key = _json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, RecursionError) as error:
        raise RegistryError("invalid", "next_token is not one this API returned") from error
    names = {"pk", "sk", "gsi1pk", "gsi1sk"} if "gsi1pk" in partition else {"pk", "sk"}
    if (
        not isinstance(key, dict)
        or set(key) != names
        or not all(isinstance(v, str) for v in key.values())
        or any(key[k] != v for k, v in partition.items())
    ):
        raise RegistryError("invalid", "next_token is not one this API returned")
    return {"ExclusiveStartKey": key}


ROLLOUT_MODES = ("canary", "shadow")
WEIGHT_STEP = Decimal("0.000001")


def _drift_lease(name: str, owner: str, taken_at: datetime, until: datetime) -> dict[str, Any]:
    return {
        "pk": model_pk(name),
        "sk": DRIFT_LEASE_SK,
        "kind": "drift_lease",
        "owner": owner,
        "taken_at": taken_at.isoformat(),
        "lease_until": until.isoformat(),
    }


def _alias_state(version: int | None, rollout: dict[str, Any] | None) -> dict[str, Any]:
    return {"version": version, **({"rollout": rollout} if rollout else {})}


def _rollout(alias: str, rollout: dict[str, Any]) -> dict[str, Any]:
    """A checked rollout for a non-champion alias: canary answers `weight` of the requests,
    shadow is scored on every request while the champion answers."""
    if alias == CHAMPION:
        raise RegistryError("invalid", "rollout applies to a challenger alias, not to the champion")
    mode = rollout.get("mode")
    if mode not in ROLLOUT_MODES:
        raise RegistryError("invalid", f"rollout.mode must be one of {', '.join(ROLLOUT_MODES)}; got {mode!r}")
    weight = rollout.get("weight", 0 if mode == "shadow" else None)
    if isinstance(weight, bool) or not isinstance(weight, int | float | Decimal) or not 0 <= weight <= 1:
        raise RegistryError("invalid", f"rollout.weight must be a number from 0 to 1; got {weight!r}")
    if mode == "shadow" and weight:
        raise RegistryError("invalid", "a shadow answers no requests: leave rollout.weight out (or 0)")
    # A share to a millionth: DynamoDB's numbers stop at 38 digits and 1e-130, and a float past them
    # (1e-200) would fail the write rather than round.
    return {"mode": mode, "weight": Decimal(str(weight)).quantize(WEIGHT_STEP).normalize()}


@dataclass
class ModelRegistry:
    """Models, versions, aliases, runs and audit on the registry table; every change is conditional."""

    table: Any

    @property
    def _client(self) -> Any:
        return self.table.meta.client

    # -- runs -------------------------------------------------------------------------------------
    def start_run(self, run_id: str, attributes: dict[str, Any]) -> bool:
        item = {
            "pk": run_pk(run_id),
            "sk": "META",
            "kind": "training_run",
            "run_id": run_id,
            "status": "running",
            "gsi1pk": f"DATASET#{attributes['dataset']}#RUNS",
            "gsi1sk": f"{attributes['started_at']}#{run_id}",
            **attributes,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update_run(self, run_id: str, changes: dict[str, Any]) -> None:
        names = {f"#k{i}": key for i, key in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values())}
        self.table.update_item(
            Key={"pk": run_pk(run_id), "sk": "META"},
            UpdateExpression="SET " + ", ".join(f"#k{i} = :v{i}" for i in range(len(changes))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": run_pk(run_id), "sk": "META"}).get("Item")
        return dict(item) if item else None

    def runs_for_dataset(self, dataset: str, *, limit: int = 50) -> list[dict[str, Any]]:
        response = self.table.query(
            IndexName=GSI1,
            KeyConditionExpression=Key("gsi1pk").eq(f"DATASET#{dataset}#RUNS"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [dict(i) for i in response.get("Items", [])]

    # -- versions ---------------------------------------------------------------------------------
    def register_version(
        self, name: str, record: dict[str, Any], *, run_id: str, at: str, actor: str = "training-pipeline"
    ) -> int:
        """Allocate the next version number and write the version in one transaction.

        Idempotent per training run: the run item remembers its version, so a retried registration
        returns the number the first attempt got instead of registering a second version.
        """
        status = record.get("status", "registered")
        if status not in VERSION_STATUSES:
            raise RegistryError("invalid", f"status must be one of {', '.join(VERSION_STATUSES)}; got {status!r}")
        for _ in range(MAX_ALLOCATION_ATTEMPTS):
            existing = self.get_run(run_id)
            if existing is not None and existing.get("registered_version") is not None:
                return int(existing["registered_version"])
            meta = self.table.get_item(Key={"pk": model_pk(name), "sk": "META"}).get("Item")
            current = int(meta["latest_version"]) if meta else 0
            version = current + 1
            version_item = {
                "pk": model_pk(name),
                "sk": version_sk(version),
                "kind": "model_version",
                "model": name,
                "version": version,
                "run_id": run_id,
                "created_at": at,
                "gsi1pk": f"{model_pk(name)}#STATUS#{status}",
                "gsi1sk": version_sk(version),
                **record,
                "status": status,
            }
            register_event = _audit_item(
                name,
                at,
                "register",
                actor,
                record.get("reason", "training run"),
                None,
                {"version": version, "status": status, "run_id": run_id},
            )
            _fits(version_item, f"{name} v{version}'s record")
            _fits(register_event, f"the audit event registering {name} v{version}")
            meta_update: dict[str, Any] = {
                "Update": {
                    "TableName": self.table.name,
                    "Key": {"pk": model_pk(name), "sk": "META"},
                    "UpdateExpression": "SET latest_version = :next, #m = :name, gsi1pk = :models, gsi1sk = :name,"
                    " updated_at = :at, created_at = if_not_exists(created_at, :at)",
                    "ConditionExpression": "attribute_not_exists(pk) OR latest_version = :current",
                    "ExpressionAttributeNames": {"#m": "model"},
                    "ExpressionAttributeValues": {
                        ":next": version,
                        ":current": current,
                        ":name": name,
                        ":models": "MODELS",
                        ":at": at,
                    },
                }
            }
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        meta_update,
                        {
                            "Put": {
                                "TableName": self.table.name,
                                "Item": version_item,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {
                            "Update": {
                                "TableName": self.table.name,
                                "Key": {"pk": run_pk(run_id), "sk": "META"},
                                "UpdateExpression": "SET registered_version = :v, model = :name",
                                "ConditionExpression": "attribute_exists(pk)"
                                " AND attribute_not_exists(registered_version)",
                                "ExpressionAttributeValues": {":v": version, ":name": name},
                            }
                        },
                        {"Put": {"TableName": self.table.name, "Item": register_event}},
                    ]
                )
            except self._client.exceptions.TransactionCanceledException:
                if self.get_run(run_id) is None:
                    raise RegistryError("not_found", f"training run {run_id} does not exist") from None
                continue  # another registration took this number (or this run registered): look again
            return version
        raise RegistryError("conflict", f"could not allocate a version of {name} after {MAX_ALLOCATION_ATTEMPTS} tries")

    def get_version(self, name: str, version: int) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": model_pk(name), "sk": version_sk(version)}).get("Item")
        return dict(item) if item else None

    # -- aliases ----------------------------------------------------------------------------------
    def get_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": model_pk(name), "sk": f"ALIAS#{alias}"}).get("Item")
        return dict(item) if item else None

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        """Every alias of a model in one query (what serving resolves on each cache refresh)."""
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with("ALIAS#")
        )
        return {str(i["alias"]): dict(i) for i in response.get("Items", [])}

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str,
        actor: str,
        at: str,
        expected_version: int | str | None = "any",
        rolling_back: bool = False,
        rollout: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Point `alias` at `version` if that version is servable; concurrent changes: one wins, the
        other gets a conflict. `expected_version` (None: alias must not exist) guards against racing."""
        target = self.get_version(name, version)
        if target is None:
            raise RegistryError("not_found", f"{name} has no version {version}")
        if target["status"] not in SERVABLE_STATUSES:
            raise RegistryError("conflict", f"{name} version {version} is {target['status']}: it cannot be {alias}")
        current = self.get_alias(name, alias)
        before = int(current["version"]) if current else None
        if rollout is not None:
            rollout = _rollout(alias, rollout)
        if before == version and (current or {}).get("rollout") == rollout:
            return current or {}  # already so (a retried request): no write, no second audit event
        if expected_version not in ("any", before):
            raise RegistryError(
                "conflict",
                f"{alias} of {name} is version {before}, not {expected_version}: it changed meanwhile; "
                "nothing was changed",
            )
        # The versions this alias held before, oldest first: a rollback steps back through them, so a
        # second rollback goes further back instead of returning to the version just rolled back.
        history = [int(v) for v in (current or {}).get("history", [])]
        if rolling_back:
            history = history[:-1]
        elif before is not None:
            history = [*history, before][-ALIAS_HISTORY:]
        item = {
            "pk": model_pk(name),
            "sk": f"ALIAS#{alias}",
            "kind": "alias",
            "model": name,
            "alias": alias,
            "version": version,
            "previous_version": before,
            "history": history if before != version else [int(v) for v in (current or {}).get("history", [])],
            "updated_at": at,
            "reason": reason,
            "actor": actor,
        }
        if rollout is not None:
            item["rollout"] = rollout
        event = _audit_item(
            name,
            at,
            f"set_alias:{alias}",
            actor,
            reason,
            _alias_state(before, (current or {}).get("rollout")),
            _alias_state(version, rollout),
        )
        _fits(item, f"{alias} of {name}")
        _fits(event, f"the audit event for {alias} of {name}")
        condition = "attribute_not_exists(pk)" if before is None else "version = :before"
        values = {} if before is None else {":before": before}
        put: dict[str, Any] = {"TableName": self.table.name, "Item": item, "ConditionExpression": condition}
        if values:
            put["ExpressionAttributeValues"] = values
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table.name,
                            "Key": {"pk": model_pk(name), "sk": version_sk(version)},
                            "ConditionExpression": "#s = :ok",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":ok": "registered"},
                        }
                    },
                    {"Put": put},
                    {"Put": {"TableName": self.table.name, "Item": event}},
                    *self._finished_rollout(name, alias, version, actor=actor, at=at),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            raise RegistryError("conflict", self._promotion_conflict(name, alias, version, before, error)) from None
        return item

    def _finished_rollout(self, name: str, alias: str, version: int, *, actor: str, at: str) -> list[dict[str, Any]]:
        """Promoting the challenger's version to champion ends its canary or shadow: the challenger
        alias goes in the same transaction, or it would keep answering its share after a later
        rollback of the champion."""
        if alias != CHAMPION:
            return []
        challenger = self.get_alias(name, CHALLENGER)
        if challenger is None or int(challenger["version"]) != version:
            return []
        return [
            {
                "Delete": {
                    "TableName": self.table.name,
                    "Key": {"pk": model_pk(name), "sk": f"ALIAS#{CHALLENGER}"},
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": version},
                }
            },
            {
                "Put": {
                    "TableName": self.table.name,
                    "Item": _audit_item(
                        name,
                        at,
                        f"remove_alias:{CHALLENGER}",
                        actor,
                        f"version {version} became champion: its rollout is over",
                        _alias_state(version, challenger.get("rollout")),
                        None,
                    ),
                }
            },
        ]

    def _promotion_conflict(self, name: str, alias: str, version: int, before: int | None, error: Exception) -> str:
        """What changed under a promotion whose transaction was cancelled: the version's status (the
        first item's condition) or the alias (the second's), read again to say what it is now."""
        reasons = [r.get("Code") for r in getattr(error, "response", {}).get("CancellationReasons", [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            target = self.get_version(name, version)
            status = target["status"] if target else "gone"
            return f"{name} version {version} became {status} while promoting it to {alias}; nothing was changed"
        now = self.get_alias(name, alias)
        held = f"version {int(now['version'])}" if now else "no version"
        was = f"version {before}" if before is not None else "unset"
        return (
            f"{alias} of {name} changed while promoting version {version}: it now holds {held} (it was {was} "
            "when this request read it); nothing was changed, read it again and retry"
        )

    def _set_status(
        self,
        name: str,
        version: int,
        *,
        to: str,
        allowed_from: tuple[str, ...],
        reason: str,
        actor: str,
        at: str,
        action: str,
    ) -> dict[str, Any]:
        current = self.get_version(name, version)
        if current is None:
            raise RegistryError("not_found", f"{name} has no version {version}")
        if current["status"] not in allowed_from:
            raise RegistryError(
                "conflict",
                f"{name} version {version} is {current['status']}; {action} needs {' or '.join(allowed_from)}",
            )
        event = _audit_item(
            name,
            at,
            action,
            actor,
            reason,
            {"version": version, "status": current["status"]},
            {"version": version, "status": to},
        )
        _fits(event, f"the audit event to {action} {name} v{version}")
        _fits({**current, "status": to, "updated_at": at}, f"{name} v{version}'s record")
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": {"pk": model_pk(name), "sk": version_sk(version)},
                            "UpdateExpression": "SET #s = :to, gsi1pk = :g, updated_at = :at",
                            "ConditionExpression": "#s = :from",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":to": to,
                                ":from": current["status"],
                                ":at": at,
                                ":g": f"{model_pk(name)}#STATUS#{to}",
                            },
                        }
                    },
                    {"Put": {"TableName": self.table.name, "Item": event}},
                ]
            )
        except self._client.exceptions.TransactionCanceledException:
            raise RegistryError("conflict", f"{name} version {version} changed meanwhile; read it again") from None
        return {**current, "status": to}

    def list_models(self, *, limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        response = self.table.query(
            IndexName=GSI1,
            KeyConditionExpression=Key("gsi1pk").eq("MODELS"),
            Limit=limit,
            **_start_key(next_token, {"gsi1pk": "MODELS"}),
        )
        return _page(response)

    def list_versions(
        self, name: str, *, status: str | None = None, limit: int = 50, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; `status` uses the status index instead of filtering a scan."""
        if status is not None:
            if status not in VERSION_STATUSES:
                raise RegistryError("invalid", f"status must be one of {', '.join(VERSION_STATUSES)}; got {status!r}")
            partition = f"{model_pk(name)}#STATUS#{status}"
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("gsi1pk").eq(partition),
                ScanIndexForward=False,
                Limit=limit,
                **_start_key(next_token, {"gsi1pk": partition}),
            )
        else:
            response = self.table.query(
                KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with("VERSION#"),
                ScanIndexForward=False,
                Limit=limit,
                **_start_key(next_token, {"pk": model_pk(name)}),
            )
        return _page(response)

    def get_model(self, name: str) -> dict[str, Any]:
        meta = self.table.get_item(Key={"pk": model_pk(name), "sk": "META"}).get("Item")
        if meta is None:
            raise RegistryError("not_found", f"no model named {name!r}")
        aliases = self.table.query(
            KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with("ALIAS#")
        ).get("Items", [])
        return {**dict(meta), "aliases": {a["alias"]: dict(a) for a in aliases}}

    def remove_alias(self, name: str, alias: str, *, reason: str, actor: str, at: str) -> None:
        current = self.get_alias(name, alias)
        if current is None:
            raise RegistryError("not_found", f"{name} has no alias {alias!r}")
        event = _audit_item(name, at, f"remove_alias:{alias}", actor, reason, {"version": current["version"]}, None)
        _fits(event, f"the audit event removing {alias} of {name}")
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table.name,
                            "Key": {"pk": model_pk(name), "sk": f"ALIAS#{alias}"},
                            "ConditionExpression": "version = :v",
                            "ExpressionAttributeValues": {":v": current["version"]},
                        }
                    },
                    {"Put": {"TableName": self.table.name, "Item": event}},
                ]
            )
        except self._client.exceptions.TransactionCanceledException:
            raise RegistryError("conflict", f"{alias} of {name} changed meanwhile; read it again") from None

    def rollback(
        self,
        name: str,
        *,
        alias: str = "champion",
        reason: str,
        actor: str,
        at: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Point the alias back at the version it held before, in one call; again goes further back.

        A rollback is not idempotent (each steps one further back), so a caller that may retry names
        the version it is rolling back from as `expected_version`: if the alias no longer holds it
        (the first attempt went through, or someone else moved it), nothing changes and the conflict
        names the version the alias holds now."""
        current = self.get_alias(name, alias)
        if current is None:
            if self.table.get_item(Key={"pk": model_pk(name), "sk": "META"}).get("Item") is None:
                raise RegistryError("not_found", f"no model named {name!r}")
            raise RegistryError("conflict", f"{name} has no {alias} to roll back")
        if expected_version is not None and int(current["version"]) != expected_version:
            raise RegistryError(
                "conflict",
                f"{alias} of {name} is version {int(current['version'])}, not {expected_version}: it was already "
                "rolled back or moved since; nothing was changed",
            )
        history = [int(v) for v in current.get("history", [])]
        if not history:
            raise RegistryError(
                "conflict", f"{name}'s {alias} (version {current['version']}) replaced no earlier version"
            )
        return self.set_alias(
            name,
            alias,
            history[-1],
            reason=f"rollback: {reason}",
            actor=actor,
            at=at,
            expected_version=int(current["version"]),
            rolling_back=True,
        )

    def tag(self, name: str, version: int, tags: dict[str, str], *, actor: str, at: str) -> dict[str, Any]:
        """Merge `tags` into the version's (at most MAX_TAGS in all). Stored tags no write accepts now
        (an empty key from before tags were checked) are dropped by this write, and its audit event
        names them: carried over, they would fail the write as they fail every read."""
        problems = tag_problems(tags)
        if problems:
            raise RegistryError("invalid", "; ".join(problems))
        current = self.get_version(name, version)
        if current is None:
            raise RegistryError("not_found", f"{name} has no version {version}")
        stored = current.get("tags")
        kept = readable_tags(stored)
        dropped = [repr(k)[:40] for k in (stored if isinstance(stored, Mapping) else {}) if k not in kept]
        merged = {**kept, **tags}
        if len(merged) > MAX_TAGS:
            raise RegistryError(
                "invalid",
                f"{name} v{version} would hold {len(merged)} tags; a version holds at most {MAX_TAGS} "
                f"(it has {len(kept)})",
            )
        reason = "tags changed"
        if dropped:
            reason += f"; dropped stored tags no reader accepts: {', '.join(dropped)}"
        elif stored is not None and not isinstance(stored, Mapping):
            reason += "; replaced stored tags that were not a map"
        event = _audit_item(name, at, "tag", actor, reason, {"tags": kept}, {"tags": merged})
        _fits({**current, "tags": merged}, f"{name} v{version} with these tags")
        _fits(event, f"the audit event tagging {name} v{version}")
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": {"pk": model_pk(name), "sk": version_sk(version)},
                            "UpdateExpression": "SET tags = :t",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":t": merged},
                        }
                    },
                    {"Put": {"TableName": self.table.name, "Item": event}},
                ]
            )
        except self._client.exceptions.TransactionCanceledException:
            raise RegistryError("conflict", f"{name} version {version} changed meanwhile; read it again") from None
        return {**current, "tags": merged}

    def approve(self, name: str, version: int, *, reason: str, actor: str, at: str) -> dict[str, Any]:
        return self._set_status(
            name,
            version,
            to="registered",
            allowed_from=("pending_approval",),
            reason=reason,
            actor=actor,
            at=at,
            action="approve",
        )

    def archive(self, name: str, version: int, *, reason: str, actor: str, at: str) -> dict[str, Any]:
        model = self.get_model(name)
        holding = [a for a, item in model["aliases"].items() if int(item["version"]) == version]
        if holding:
            raise RegistryError("conflict", f"{name} version {version} is {', '.join(holding)}: move the alias first")
        return self._set_status(
            name,
            version,
            to="archived",
            allowed_from=("registered", "pending_approval", "rejected"),
            reason=reason,
            actor=actor,
            at=at,
            action="archive",
        )

    def serving_policy(self, name: str) -> dict[str, Any] | None:
        """The serving policy deployed for a model (`mlops config deploy`), or None: each version's own."""
        item = self.table.get_item(Key={"pk": model_pk(name), "sk": SERVING_POLICY_SK}).get("Item")
        return dict(item) if item else None

    def set_serving_policy(
        self, name: str, policy: dict[str, Any], *, source: str, reason: str, actor: str, at: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Deploy the policy the live versions answer under, and its audit event, in one transaction:
        (before, after). Serving reads it at most a cache time later; no version record changes."""
        current = self.serving_policy(name)
        before = {k: current.get(k) for k in SERVING_POLICY_FIELDS} if current else None
        after = {k: policy.get(k) for k in SERVING_POLICY_FIELDS}
        stored = json.loads(json.dumps(after), parse_float=Decimal)  # DynamoDB takes no float
        item = {"pk": model_pk(name), "sk": SERVING_POLICY_SK, "kind": "serving_policy", "model": name}
        item |= {**stored, "source": source, "deployed_at": at, "deployed_by": actor}
        audit = _audit_item(name, at, "deploy_serving_policy", actor, reason, {"serving": before}, {"serving": stored})
        _fits(audit, f"the audit event for {name}'s serving policy")
        self._client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table.name, "Item": item}},
                {"Put": {"TableName": self.table.name, "Item": audit}},
            ]
        )
        return before, after

    # -- drift results ----------------------------------------------------------------------------
    def put_drift_result(self, name: str, version: int, checked_at: str, summary: dict[str, Any]) -> bool:
        """One summary row per drift check (the full report stays in S3); a rerun of the same check
        (same model and time) is a no-op."""
        item = {
            "pk": model_pk(name),
            "sk": f"DRIFT#{checked_at}",
            "kind": "drift_result",
            "model": name,
            "version": version,
            "checked_at": checked_at,
            **summary,
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self._client.exceptions.ConditionalCheckFailedException:
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
        except self._client.exceptions.ConditionalCheckFailedException:
            held = self.table.get_item(Key={"pk": model_pk(name), "sk": DRIFT_LEASE_SK}).get("Item") or {}
            return f"{held.get('owner', '?')} since {held.get('taken_at', '?')}"
        return None

    def release_drift_check(self, name: str, *, owner: str, now: datetime) -> None:
        """End the lease early (a PutItem, so the drift role needs no DeleteItem); only its owner may:
        when the lease ran out and another check holds it now, it is theirs to end."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self.table.put_item(
                Item=_drift_lease(name, owner, now, now),
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )

    def drift_results(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with("DRIFT#"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [dict(i) for i in response.get("Items", [])]

    def audit(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The `limit` most recent events, newest first: what someone asking "who changed what" wants
        first, and a long history must not hide its latest changes behind its oldest."""
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with("AUDIT#"),
            Limit=limit,
            ScanIndexForward=False,
        )
        return [dict(i) for i in response.get("Items", [])]
