"""The three registry reads serving makes (a model's aliases, a version's record, its deployed
serving policy), through botocore's low-level DynamoDB client.

`mlops.registry.models.ModelRegistry` reads the same items through a boto3 Table; importing boto3
costs a predict container ~0.2 s of its cold start (s3transfer comes with it), and a Table's
resource model ~10 ms more, for reads that need neither (issue #21). The items come back as boto3's
resource layer gives them (numbers as Decimal), so `ModelVersion.from_item` reads them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlops.registry.keys import ALIASES, SERVING_POLICY_SK, model_pk, version_sk
from mlops.registry.versions import ModelVersion


def plain(value: Mapping[str, Any]) -> Any:
    """One attribute value in DynamoDB's typed JSON (`{"N": "3"}`) as boto3's TypeDeserializer gives it."""
    [(kind, data)] = value.items()
    if kind in {"S", "B"}:
        return data
    if kind == "N":
        return Decimal(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(v) for k, v in data.items()}
    if kind == "L":
        return [plain(v) for v in data]
    if kind == "NS":
        return {Decimal(v) for v in data}
    if kind in {"SS", "BS"}:
        return set(data)
    raise ValueError(f"a DynamoDB attribute of unknown type {kind!r}")


def plain_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: plain(value) for name, value in item.items()}


@dataclass(frozen=True)
class ServingRegistry:
    """What `ServedModels` and `DeployedPolicies` read from the registry table (`AliasSource`)."""

    client: Any  # botocore's DynamoDB client
    table: str

    def _item(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return plain_item(item) if item else None

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        """Every alias of a model in one query (a page holds them all; the loop is for form)."""
        found: dict[str, dict[str, Any]] = {}
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": model_pk(name)}, ":prefix": {"S": ALIASES}},
        }
        while True:
            page = self.client.query(**query)
            for item in page.get("Items", []):
                alias = plain_item(item)
                found[str(alias["alias"])] = alias
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self._item(model_pk(name), version_sk(version))
        return ModelVersion.from_item(item) if item else None

    def serving_policy(self, name: str) -> dict[str, Any] | None:
        return self._item(model_pk(name), SERVING_POLICY_SK)
