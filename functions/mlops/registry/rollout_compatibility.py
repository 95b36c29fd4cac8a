"""Whether a challenger may take traffic: a canary answers a share of the champion's requests and a
shadow scores them, so a challenger that refuses requests the champion accepts would fail that
share (or say nothing about it). Checked before the alias moves; allowed only when asked, and then
recorded in the audit reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from mlops.names import CHAMPION
from mlops.registry.errors import RegistryError
from mlops.serving.signature import ServedSignature, signature_differences


class VersionSource(Protocol):
    def get_alias(self, name: str, alias: str) -> Mapping[str, Any] | None: ...

    def get_version(self, name: str, version: int) -> Mapping[str, Any] | None: ...


def served_signature(
    models: VersionSource, read_artifact: Callable[[str], bytes], name: str, version: int
) -> ServedSignature:
    """The input signature version `version` of `name` serves with; RegistryError when there is no such version."""
    record = models.get_version(name, version)
    if record is None:
        raise RegistryError("not_found", f"{name} has no version {version}")
    return ServedSignature.from_json(json.loads(read_artifact(str(record["signature_key"]))))


def rollout_reason(
    models: VersionSource,
    read_artifact: Callable[[str], bytes],
    name: str,
    version: int,
    *,
    mode: Literal["canary", "shadow"],
    reason: str,
    allow_signature_change: bool,
) -> str:
    """The audit reason for rolling `version` out as challenger; RegistryError (409) when it would
    refuse requests the champion accepts and no signature change is allowed."""
    champion = models.get_alias(name, CHAMPION)
    if champion is None or int(champion["version"]) == version:
        return reason
    differences = signature_differences(
        served_signature(models, read_artifact, name, int(champion["version"])),
        served_signature(models, read_artifact, name, version),
    )
    if not differences:
        return reason
    if not allow_signature_change:
        raise RegistryError(
            "conflict",
            f"{name} v{version} would refuse requests the champion accepts: {'; '.join(differences)}. "
            + (
                "A canary would fail its share of traffic"
                if mode == "canary"
                else "A shadow would fail on the requests it mirrors, so it would say nothing about them"
            )
            + "; roll out a version whose inputs the clients already send (or change the clients first), or "
            "roll out anyway with allow_signature_change (mlops promote --allow-signature-change)",
        )
    return f"{reason} [signature change allowed: {'; '.join(differences)}]"
