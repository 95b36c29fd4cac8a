"""Unit-tier fixtures: a registry table on moto's DynamoDB, shaped as the CDK construct defines it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.dynamodb import atomicity as dynamodb_atomicity
from mlops.registry.keys import table_definition


@pytest.fixture
def registry_table() -> Iterator[Any]:
    dynamodb_atomicity.install()  # DynamoDB applies each request atomically; moto needs telling
    with mock_aws():
        yield boto3.resource("dynamodb", region_name="us-east-1").create_table(**table_definition("registry"))
