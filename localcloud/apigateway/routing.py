"""Resource+method routing of a REST API, with API Gateway's precedence.

API Gateway resolves the path and the verb together: among the resources whose template matches
the path, the most specific one that declares the verb (or `ANY`) wins; a literal segment beats
`{param}`, which beats `{proxy+}`. So `POST /jobs/x` falls through to `/{proxy+}` when
`/jobs/{id}` only has `GET`, and a path no resource+verb pair matches is answered 403
"Missing Authentication Token" (measured on AWS by other emulators: ministack PR 1423,
floci PR 3399/3547). An explicit verb beats `ANY` on the same resource.

The routes are rebuilt from moto's live resource tree on every request: moto has no deployment
snapshots, so a redeploy is never needed and never observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.apigateway.models import Method, Resource, RestAPI

_LITERAL, _PARAM, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class RouteMatch:
    """The resource and method a request resolved to, with the path parameters it bound."""

    resource: Resource
    resource_path: str  # the template, e.g. "/items/{id}" (the proxy event's `resource`)
    method: Method
    path_parameters: dict[str, str]


def resource_paths(api: RestAPI) -> dict[str, str]:
    """Full path template of every resource, computed once per request from parent links."""
    resources = api.resources
    paths: dict[str, str] = {}

    def path_of(resource_id: str, depth: int = 0) -> str:
        known = paths.get(resource_id)
        if known is not None:
            return known
        resource = resources[resource_id]
        if not resource.parent_id or resource.parent_id not in resources or depth > 64:
            result = "/"
        else:
            parent = path_of(resource.parent_id, depth + 1)
            result = (parent.rstrip("/") + "/" + resource.path_part) if parent != "/" else "/" + resource.path_part
        paths[resource_id] = result
        return result

    for resource_id in list(resources):
        path_of(resource_id)
    return paths


def split_path(path: str) -> list[str]:
    """Segments of a request path; a trailing slash is ignored and `/` has none."""
    return [segment for segment in path.split("/") if segment != ""]


_Compiled = tuple[tuple[tuple[int, str], ...], str, Resource]
_ROUTE_CACHE: dict[int, tuple[tuple[str, ...], list[_Compiled]]] = {}


def _compile(api: RestAPI) -> list[_Compiled]:
    """Parsed templates of the API, reused while its set of resources is unchanged.

    Methods are read live from each resource at match time, so re-putting a method needs no
    invalidation; adding or deleting a resource changes the key and recompiles.
    """
    key = tuple(api.resources)
    cached = _ROUTE_CACHE.get(id(api))
    if cached is not None and cached[0] == key:
        return cached[1]
    compiled: list[_Compiled] = []
    for resource_id, template in resource_paths(api).items():
        parts: list[tuple[int, str]] = []
        for part in split_path(template):
            if part.startswith("{") and part.endswith("+}"):
                parts.append((_GREEDY, part[1:-2]))
            elif part.startswith("{") and part.endswith("}"):
                parts.append((_PARAM, part[1:-1]))
            else:
                parts.append((_LITERAL, part))
        compiled.append((tuple(parts), template, api.resources[resource_id]))
    if len(_ROUTE_CACHE) > 256:  # moto resets make old APIs unreachable; keep the cache small
        _ROUTE_CACHE.clear()
    _ROUTE_CACHE[id(api)] = (key, compiled)
    return compiled


def _match_template(
    parts: tuple[tuple[int, str], ...], segments: list[str]
) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Specificity key (lower is more specific) and bound parameters, or None if no match."""
    key: list[int] = []
    params: dict[str, str] = {}
    last = len(parts) - 1
    for index, (kind, text) in enumerate(parts):
        if kind == _GREEDY:
            rest = segments[index:]
            if index != last or not rest:
                return None  # greedy must be last and needs at least one segment
            params[text] = "/".join(rest)
            key.append(_GREEDY)
            return tuple(key), params
        if index >= len(segments):
            return None
        if kind == _PARAM:
            params[text] = segments[index]
        elif text != segments[index]:
            return None
        key.append(kind)
    if len(parts) != len(segments):
        return None
    return tuple(key), params


def match_route(api: RestAPI, path: str, http_method: str) -> RouteMatch | None:
    """Resolve `path` (relative to the stage, not decoded) and the verb to a resource+method."""
    segments = split_path(path)
    candidates: list[tuple[tuple[int, ...], str, Resource, dict[str, str]]] = []
    for parts, template, resource in _compile(api):
        matched = _match_template(parts, segments)
        if matched is not None:
            candidates.append((matched[0], template, resource, matched[1]))
    candidates.sort(key=lambda candidate: candidate[0])
    verb = http_method.upper()
    for _key, template, resource, params in candidates:
        methods = resource.resource_methods
        method = methods.get(verb) or methods.get("ANY")
        if method is not None:
            return RouteMatch(resource=resource, resource_path=template, method=method, path_parameters=params)
    return None


def truthy(value: Any) -> bool:
    """A flag as moto stores it on a method, key or validator: a bool, or the text "true"."""
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
