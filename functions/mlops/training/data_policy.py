"""Which accepted dataset versions a run trains on, as the training config's `data` section says
it (`mlops.training.data` applies it to a dataset's versions). pydantic only: the CLI checks a
config's versions with `match_versions` without loading numpy."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, WithJsonSchema, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from mlops.training.config_base import ConfigModel

# The prepare function (1,769 MB) combines the chosen versions in memory: above this many rows
# (before duplicates are dropped) a run is refused rather than killed for lack of memory.
DEFAULT_MAX_TRAINING_ROWS = 1_000_000
DATA_USES = ("all", "latest")
# A dataset version is the sha256 hex of its content; a config may name it by a prefix of 12 or more.
VERSION_PREFIX_MIN = 12


def _since(value: Any) -> Any:
    """An ISO date (midnight UTC) or date-time (UTC when it names no zone)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "since",
                "{value} is not an ISO date (e.g. 2026-11-01 or 2026-11-01T08:00:00+00:00)",
                {"value": repr(value)},
            ) from None
    else:
        raise PydanticCustomError(
            "since", "must be an ISO date such as 2026-11-01, not {kind}", {"kind": type(value).__name__}
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _version_id(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "version_id",
            "{value} was read as a {kind}: quote the version id",
            {"value": value, "kind": type(value).__name__},
        )
    if not re.fullmatch(rf"[0-9a-f]{{{VERSION_PREFIX_MIN},64}}", value):
        raise PydanticCustomError(
            "version_id",
            "{value} is not a dataset version: give its id (64 hex digits) or its first 12 or more",
            {"value": repr(value)},
        )
    return value


VersionId = Annotated[
    str, BeforeValidator(_version_id), WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{12,64}$"})
]
Since = Annotated[
    datetime,
    BeforeValidator(_since),
    WithJsonSchema({"type": "string", "description": "ISO date (midnight UTC) or date-time"}),
]


def data_shorthand(value: Any) -> Any:
    """`data: all` and `data: latest` are short for `data: {use: all}` and `data: {use: latest}`."""
    if isinstance(value, str):
        if value not in DATA_USES:
            raise PydanticCustomError(
                "data",
                "must be all, latest, {since: <ISO date>} or {versions: [<version id>, ...]}, not {value}",
                {"value": repr(value)},
            )
        return {"use": value}
    return value


class DataPolicy(ConfigModel):
    """Which accepted dataset versions a run trains on: rows uploaded in parts, or again, are one table.

    A `dataset_version` named in the training request (`mlops train --dataset-version`) wins over it.
    """

    use: Literal["all", "latest"] | None = Field(
        default=None,
        description="all (the default): every accepted version, a row already in an older version counted once; "
        "latest: the newest version only",
    )
    since: Since | None = Field(default=None, description="the versions accepted at or after this date")
    versions: list[VersionId] | None = Field(
        default=None, min_length=1, description="these versions (ids, or prefixes of 12 or more hex digits)"
    )
    max_rows: int = Field(
        default=DEFAULT_MAX_TRAINING_ROWS,
        ge=1,
        description="refuse a run whose chosen versions hold more rows (before duplicates are dropped): prepare "
        "holds them all in memory",
    )

    @model_validator(mode="after")
    def _one_choice(self) -> DataPolicy:
        given = [name for name in ("use", "since", "versions") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of use, since or versions, not {' and '.join(given)}")
        if self.versions is not None and len(set(self.versions)) != len(self.versions):
            raise ValueError("versions lists a version twice")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [{"type": "string", "enum": list(DATA_USES)}, handler(core_schema)]}

    @property
    def choice(self) -> Literal["all", "latest", "since", "versions"]:
        if self.versions is not None:
            return "versions"
        if self.since is not None:
            return "since"
        return self.use or "all"

    def describe(self) -> str:
        """The policy in the config's own words, for the run's record and report."""
        if self.since is not None:
            return f"since: {self.since.isoformat()}"
        if self.versions is not None:
            return f"versions: [{', '.join(v[:12] for v in self.versions)}]"
        return self.choice


def match_versions(wanted: Sequence[str], known: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The full ids of `data.versions` among a dataset's `known` versions, and a problem (by field)
    for each one that names no version or more than one."""
    matched: list[str] = []
    problems: list[tuple[str, str]] = []
    for i, prefix in enumerate(wanted):
        hits = [version for version in known if version.startswith(prefix)]
        if len(hits) == 1:
            matched.append(hits[0])
        elif not hits:
            problems.append((f"data.versions[{i}]", f"no accepted dataset version {prefix!r}"))
        else:
            problems.append(
                (f"data.versions[{i}]", f"{prefix!r} names {len(hits)} versions ({', '.join(h[:16] for h in hits)})")
            )
    return matched, problems
