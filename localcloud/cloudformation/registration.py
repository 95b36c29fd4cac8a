"""How the resource types below join moto's CloudFormation: a model per type, registered with moto.

moto finds a type's model among the direct subclasses of its `CloudFormationModel`; `LocalResource`
is the mixin every model here shares (a physical id, attributes for Fn::GetAtt, a delete action),
and each model creates the real thing through `client()`, with the same API call a user would make.
`register_models(session)` points those clients at the local cloud and makes moto's stack creation safe to
share with custom resources answering from the Lambda thread; `deploy()` calls it before each stack.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing

from localcloud.session import AwsSession

_session: AwsSession | None = None
# moto creates a stack's resources in the request thread while a custom resource's answer, arriving
# from the Lambda thread, walks the same lazy resource map: both would create a resource not yet made.
stack_creation_lock = threading.RLock()
_moto_create_resources = cfn_models.Stack.create_resources


def _create_resources_exclusively(self: cfn_models.Stack) -> None:
    with stack_creation_lock:
        _moto_create_resources(self)


_moto_parse_template = cfn_models.Stack.parse_template


def _parse_template(template: str) -> dict[str, Any]:
    """moto parses every template as YAML first (half a second for a CDK template); JSON is JSON."""
    if template.lstrip().startswith("{"):
        try:
            return json.loads(template)  # type: ignore[no-any-return]
        except json.JSONDecodeError:
            pass
    return _moto_parse_template(template)  # type: ignore[no-any-return]


def register_models(session: AwsSession) -> None:
    """Make moto's CloudFormation create the types of this package, through `session`'s endpoint."""
    global _session
    _session = session
    cfn_models.Stack.create_resources = _create_resources_exclusively  # type: ignore[method-assign]
    cfn_models.Stack.parse_template = staticmethod(_parse_template)  # type: ignore[method-assign,assignment]
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def client(service: str, region: str) -> Any:
    """A client of the local cloud for `region` (models are created in the stack's region)."""
    if _session is None:
        raise RuntimeError("localcloud.cloudformation.register() was not called before deploying")
    if region != _session.region:
        return AwsSession(region=region, account_id=_session.account_id, endpoint_url=_session.endpoint_url).client(
            service
        )
    return _session.client(service)


def plain(value: Any) -> Any:
    """moto resolves a Ref to some of its own models (an API Gateway deployment) as the object itself."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    for attribute in ("physical_resource_id", "id", "name", "arn"):
        found = getattr(value, attribute, None)
        if isinstance(found, str):
            return found
    raise TypeError(f"cannot use a {type(value).__name__} as a property value")


class LocalResource:
    """Mixin of the models below: a physical id, attributes for Fn::GetAtt, and a delete action.

    Each model also names CloudFormationModel as a direct base: moto finds models by direct subclass.
    """

    resource_type = ""
    name_property: str | None = None

    def __init__(
        self,
        physical_resource_id: str,
        attributes: dict[str, Any] | None = None,
        delete: Callable[[], None] | None = None,
    ) -> None:
        self._physical_id = physical_resource_id
        self._attributes = attributes or {}
        self._delete = delete

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self._attributes.get(attribute_name, self._physical_id)

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property or ""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> LocalResource:
        return cls.create(resource_name, plain(cloudformation_json.get("Properties", {})), region_name)

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        raise TypeError(f"{cls.__name__} must define create()")

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        if self._delete is not None:
            self._delete()
