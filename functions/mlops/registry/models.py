"""Data access for models on the registry table: versions numbered per model, aliases and their
rollout, the serving policy and the audit trail (training runs, drift and performance checks: their
own modules).

Each operation reads what it needs, asks the rules (mlops.registry.promotion, mlops.registry.limits)
whether the change is valid, and writes the change with its audit event in one conditional
transaction: concurrent changes never both win. The item layout is in mlops.registry.keys.

One module past 500 lines: every operation here writes the same version, alias and audit items in
one transaction, and read side by side they show which conditions guard which item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from mlops.names import CHALLENGER, CHAMPION
from mlops.registry.drift_checks import DriftChecks
from mlops.registry.errors import RegistryError
from mlops.registry.keys import (
    ALIASES,
    AUDIT_EVENTS,
    GSI1,
    META_SK,
    MODELS_PARTITION,
    SERVING_POLICY_SK,
    VERSIONS,
    alias_sk,
    audit_sk,
    model_pk,
    page,
    run_pk,
    start_key,
    status_partition,
    version_sk,
)
from mlops.registry.limits import check_fits, check_tags, tag_change
from mlops.registry.numbers import to_dynamo
from mlops.registry.performance_checks import PerformanceChecks
from mlops.registry.promotion import (
    APPROVE,
    ARCHIVE,
    StatusChange,
    alias_conflict,
    alias_state,
    check_archivable,
    check_expected,
    check_servable,
    check_status,
    checked_rollout,
    ends_rollout,
    held_version,
    is_repeat,
    next_history,
    rollback_target,
    status_conflict,
)
from mlops.registry.runs import TrainingRuns
from mlops.registry.versions import VERSION_KIND, ModelVersion

MAX_ALLOCATION_ATTEMPTS = 10
SERVING_POLICY_FIELDS = ("out_of_range", "unseen_category", "capture_sample_rate")


def _audit_item(
    name: str,
    at: str,
    action: str,
    actor: str,
    reason: str,
    before: Any,
    after: Any,
    evidence: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit event; `evidence` holds the figures an automatic change acted on (an A/B test's)."""
    item = {
        "pk": model_pk(name),
        "sk": audit_sk(at),
        "kind": "audit",
        "model": name,
        "at": at,
        "action": action,
        "actor": actor,
        "reason": reason,
        "before": before,
        "after": after,
    }
    if evidence is not None:
        item["evidence"] = to_dynamo(evidence)
    return item


@dataclass
class ModelRegistry(TrainingRuns, DriftChecks, PerformanceChecks):
    """Models, versions, aliases, the serving policy and the audit trail on the registry table, with
    the training runs (mlops.registry.runs), drift checks (mlops.registry.drift_checks) and
    performance checks (mlops.registry.performance_checks) recorded beside them; every change is
    conditional."""

    @property
    def _client(self) -> Any:
        return self.table.meta.client

    def _item(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": pk, "sk": sk}).get("Item")
        return dict(item) if item else None

    def _items(self, pk: str, sk_prefix: str, **query: Any) -> list[dict[str, Any]]:
        condition = Key("pk").eq(pk) & Key("sk").begins_with(sk_prefix)
        return [dict(i) for i in self.table.query(KeyConditionExpression=condition, **query).get("Items", [])]

    # -- versions ---------------------------------------------------------------------------------
    def register_version(
        self, name: str, record: Mapping[str, Any], *, run_id: str, at: str, actor: str = "training-pipeline"
    ) -> int:
        """Allocate the next version number and write the version (`record`: its attributes, as
        TrainedVersion.attributes() gives them) in one transaction.

        Idempotent per training run: the run item remembers its version, so a retried registration
        returns the number the first attempt got instead of registering a second version.
        """
        status = record.get("status", "registered")
        check_status(status)
        for _ in range(MAX_ALLOCATION_ATTEMPTS):
            existing = self.get_run(run_id)
            if existing is not None and existing.get("registered_version") is not None:
                return int(existing["registered_version"])
            meta = self._item(model_pk(name), META_SK)
            current = int(meta["latest_version"]) if meta else 0
            version = current + 1
            version_item = {
                "pk": model_pk(name),
                "sk": version_sk(version),
                "kind": VERSION_KIND,
                "model": name,
                "version": version,
                "run_id": run_id,
                "created_at": at,
                "gsi1pk": status_partition(name, status),
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
            check_fits(version_item, f"{name} v{version}'s record")
            check_fits(register_event, f"the audit event registering {name} v{version}")
            meta_update: dict[str, Any] = {
                "Update": {
                    "TableName": self.table.name,
                    "Key": {"pk": model_pk(name), "sk": META_SK},
                    "UpdateExpression": "SET latest_version = :next, #m = :name, gsi1pk = :models, gsi1sk = :name,"
                    " updated_at = :at, created_at = if_not_exists(created_at, :at)",
                    "ConditionExpression": "attribute_not_exists(pk) OR latest_version = :current",
                    "ExpressionAttributeNames": {"#m": "model"},
                    "ExpressionAttributeValues": {
                        ":next": version,
                        ":current": current,
                        ":name": name,
                        ":models": MODELS_PARTITION,
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
                                "Key": {"pk": run_pk(run_id), "sk": META_SK},
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
        """The stored item, every attribute as it is (what the API shows, through mlops.registry.views)."""
        return self._item(model_pk(name), version_sk(version))

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        """The version as a typed record (what serving, drift checks and training read)."""
        item = self.get_version(name, version)
        return ModelVersion.from_item(item) if item else None

    # -- aliases ----------------------------------------------------------------------------------
    def get_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        return self._item(model_pk(name), alias_sk(alias))

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        """Every alias of a model in one query (what serving resolves on each cache refresh)."""
        return {str(i["alias"]): i for i in self._items(model_pk(name), ALIASES)}

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
        evidence: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Point `alias` at `version` if that version is servable; concurrent changes: one wins, the
        other gets a conflict. `expected_version` (None: alias must not exist) guards against racing;
        `evidence` goes into the audit event."""
        target = self.get_version(name, version)
        if target is None:
            raise RegistryError("not_found", f"{name} has no version {version}")
        check_servable(name, version, target["status"], alias)
        current = self.get_alias(name, alias)
        before = held_version(current)
        if rollout is not None:
            rollout = checked_rollout(alias, rollout)
        if is_repeat(current, version, rollout):
            return current or {}  # already so (a retried request): no write, no second audit event
        check_expected(name, alias, before, expected_version)
        item = {
            "pk": model_pk(name),
            "sk": alias_sk(alias),
            "kind": "alias",
            "model": name,
            "alias": alias,
            "version": version,
            "previous_version": before,
            "history": next_history(current, version, rolling_back=rolling_back),
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
            alias_state(before, (current or {}).get("rollout")),
            alias_state(version, rollout),
            evidence,
        )
        check_fits(item, f"{alias} of {name}")
        check_fits(event, f"the audit event for {alias} of {name}")
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
        """The challenger's removal and its audit event, when this promotion ends its rollout."""
        if alias != CHAMPION:  # only a champion's promotion can end a rollout: no read for the others
            return []
        challenger = self.get_alias(name, CHALLENGER)
        if challenger is None or not ends_rollout(alias, version, challenger):
            return []
        return [
            {
                "Delete": {
                    "TableName": self.table.name,
                    "Key": {"pk": model_pk(name), "sk": alias_sk(CHALLENGER)},
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
                        alias_state(version, challenger.get("rollout")),
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
            return status_conflict(name, alias, version, target["status"] if target else "gone")
        return alias_conflict(name, alias, version, before, held_version(self.get_alias(name, alias)))

    def _set_status(
        self, name: str, version: int, change: StatusChange, *, reason: str, actor: str, at: str
    ) -> dict[str, Any]:
        current = self.get_version(name, version)
        if current is None:
            raise RegistryError("not_found", f"{name} has no version {version}")
        change.check(name, version, current["status"])
        to = change.to
        event = _audit_item(
            name,
            at,
            change.action,
            actor,
            reason,
            {"version": version, "status": current["status"]},
            {"version": version, "status": to},
        )
        check_fits(event, f"the audit event to {change.action} {name} v{version}")
        check_fits({**current, "status": to, "updated_at": at}, f"{name} v{version}'s record")
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
                                ":g": status_partition(name, to),
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
            KeyConditionExpression=Key("gsi1pk").eq(MODELS_PARTITION),
            Limit=limit,
            **start_key(next_token, {"gsi1pk": MODELS_PARTITION}),
        )
        return page(response)

    def list_versions(
        self, name: str, *, status: str | None = None, limit: int = 50, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; `status` uses the status index instead of filtering a scan."""
        if status is not None:
            check_status(status)
            partition = status_partition(name, status)
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("gsi1pk").eq(partition),
                ScanIndexForward=False,
                Limit=limit,
                **start_key(next_token, {"gsi1pk": partition}),
            )
        else:
            response = self.table.query(
                KeyConditionExpression=Key("pk").eq(model_pk(name)) & Key("sk").begins_with(VERSIONS),
                ScanIndexForward=False,
                Limit=limit,
                **start_key(next_token, {"pk": model_pk(name)}),
            )
        return page(response)

    def get_model(self, name: str) -> dict[str, Any]:
        meta = self._item(model_pk(name), META_SK)
        if meta is None:
            raise RegistryError("not_found", f"no model named {name!r}")
        return {**meta, "aliases": {a["alias"]: a for a in self._items(model_pk(name), ALIASES)}}

    def remove_alias(
        self,
        name: str,
        alias: str,
        *,
        reason: str,
        actor: str,
        at: str,
        expected_version: int | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> None:
        """Remove the alias; with `expected_version`, only while it names that version (a caller
        that decided on what it read: a change in between is a conflict, nothing removed)."""
        current = self.get_alias(name, alias)
        if current is None:
            raise RegistryError("not_found", f"{name} has no alias {alias!r}")
        if expected_version is not None and int(current["version"]) != expected_version:
            raise RegistryError(
                "conflict",
                f"{alias} of {name} is version {current['version']}, not {expected_version}: it changed "
                "meanwhile; nothing was changed",
            )
        before = {"version": current["version"]}
        event = _audit_item(name, at, f"remove_alias:{alias}", actor, reason, before, None, evidence)
        check_fits(event, f"the audit event removing {alias} of {name}")
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table.name,
                            "Key": {"pk": model_pk(name), "sk": alias_sk(alias)},
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
        alias: str = CHAMPION,
        reason: str,
        actor: str,
        at: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Point the alias back at the version it held before, in one call; again goes further back
        (mlops.registry.promotion.rollback_target says which version, or why not)."""
        current = self.get_alias(name, alias)
        if current is None:
            if self._item(model_pk(name), META_SK) is None:
                raise RegistryError("not_found", f"no model named {name!r}")
            raise RegistryError("conflict", f"{name} has no {alias} to roll back")
        return self.set_alias(
            name,
            alias,
            rollback_target(name, alias, current, expected_version),
            reason=f"rollback: {reason}",
            actor=actor,
            at=at,
            expected_version=int(current["version"]),
            rolling_back=True,
        )

    def tag(self, name: str, version: int, tags: dict[str, str], *, actor: str, at: str) -> dict[str, Any]:
        """Merge `tags` into the version's (mlops.registry.limits.tag_change: at most MAX_TAGS, and
        stored tags no reader accepts are dropped, the audit event naming them)."""
        check_tags(tags)
        current = self.get_version(name, version)
        if current is None:
            raise RegistryError("not_found", f"{name} has no version {version}")
        change = tag_change(name, version, current.get("tags"), tags)
        event = _audit_item(name, at, "tag", actor, change.reason, {"tags": change.kept}, {"tags": change.merged})
        check_fits({**current, "tags": change.merged}, f"{name} v{version} with these tags")
        check_fits(event, f"the audit event tagging {name} v{version}")
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": {"pk": model_pk(name), "sk": version_sk(version)},
                            "UpdateExpression": "SET tags = :t",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":t": change.merged},
                        }
                    },
                    {"Put": {"TableName": self.table.name, "Item": event}},
                ]
            )
        except self._client.exceptions.TransactionCanceledException:
            raise RegistryError("conflict", f"{name} version {version} changed meanwhile; read it again") from None
        return {**current, "tags": change.merged}

    def approve(self, name: str, version: int, *, reason: str, actor: str, at: str) -> dict[str, Any]:
        return self._set_status(name, version, APPROVE, reason=reason, actor=actor, at=at)

    def archive(self, name: str, version: int, *, reason: str, actor: str, at: str) -> dict[str, Any]:
        check_archivable(name, version, self.get_model(name)["aliases"])
        return self._set_status(name, version, ARCHIVE, reason=reason, actor=actor, at=at)

    # -- serving policy ---------------------------------------------------------------------------
    def serving_policy(self, name: str) -> dict[str, Any] | None:
        """The serving policy deployed for a model (`mlops config deploy`), or None: each version's own."""
        return self._item(model_pk(name), SERVING_POLICY_SK)

    def set_serving_policy(
        self, name: str, policy: dict[str, Any], *, source: str, reason: str, actor: str, at: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Deploy the policy the live versions answer under, and its audit event, in one transaction:
        (before, after). Serving reads it at most a cache time later; no version record changes."""
        current = self.serving_policy(name)
        before = {k: current.get(k) for k in SERVING_POLICY_FIELDS} if current else None
        after = {k: policy.get(k) for k in SERVING_POLICY_FIELDS}
        stored = to_dynamo(after)
        item = {"pk": model_pk(name), "sk": SERVING_POLICY_SK, "kind": "serving_policy", "model": name}
        item |= {**stored, "source": source, "deployed_at": at, "deployed_by": actor}
        audit = _audit_item(name, at, "deploy_serving_policy", actor, reason, {"serving": before}, {"serving": stored})
        check_fits(audit, f"the audit event for {name}'s serving policy")
        self._client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table.name, "Item": item}},
                {"Put": {"TableName": self.table.name, "Item": audit}},
            ]
        )
        return before, after

    def audit(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The `limit` most recent events, newest first: what someone asking "who changed what" wants
        first, and a long history must not hide its latest changes behind its oldest."""
        return self._items(model_pk(name), AUDIT_EVENTS, Limit=limit, ScanIndexForward=False)
