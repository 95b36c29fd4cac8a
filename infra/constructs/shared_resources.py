"""What every capability construct is built on, handed over as one object."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from infra.constructs.alerts import Alerts
from infra.constructs.data_storage import DataStorage
from infra.constructs.layers import Layers
from infra.constructs.registry import Registry
from infra.settings import PlatformSettings


@dataclass(frozen=True)
class SharedResources:
    """The deployment's settings and the resources several capabilities use: built once by the stack.

    A capability receives this plus only what is its own to depend on (e.g. the training state
    machine that ingestion and drift start), so its signature says what is particular to it.
    """

    settings: PlatformSettings
    data: DataStorage
    registry: Registry
    alerts: Alerts
    layers: Layers
    # Resolved from the settings once, in the CDK types every function takes.
    architecture: lambda_.Architecture
    log_retention: logs.RetentionDays
