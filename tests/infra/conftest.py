"""Templates of the platform under other settings than the default, synthesized once per session."""

from __future__ import annotations

from typing import Any

import pytest

from infra.app import build_app


@pytest.fixture(scope="session")
def rest_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The platform with `serving.front_door: rest`: the prediction routes on the REST API, behind a key."""
    app, stack = build_app(
        context={"aws:cdk:bundling-stacks": [], "platform": {"serving": {"front_door": "rest"}}},
        outdir=str(tmp_path_factory.mktemp("rest")),
    )
    return dict(app.synth().get_stack_by_name(stack.stack_name).template)
