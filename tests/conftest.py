"""Fixtures shared by every tier: fake credentials, and one synthesized template per test process."""

from __future__ import annotations

import os

import pytest

# Nothing in the suite may reach a real AWS account. The keys are the local cloud's operator (an
# administrator, as the deployer is on AWS): long-term keys, so no session token.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
)
for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(variable, None)
os.environ.pop("AWS_ENDPOINT_URL", None)

# Property-based tests draw the same examples on every run (and on both xdist workers), so a red CI
# means a change broke something, not that the dice found an old bug; HYPOTHESIS_PROFILE=explore
# searches afresh on a workstation. A found failure becomes an explicit @example or test.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def platform_synth():  # type: ignore[no-untyped-def]
    """The platform app synthesized once (with cdk-nag) the way the local cloud deploys it."""
    from infra.app import build_local_app
    from localcloud.deploy import synthesize

    return synthesize(build_local_app)


@pytest.fixture(scope="session")
def platform_rest_synth():  # type: ignore[no-untyped-def]
    """The platform with `serving.front_door: rest` (prediction routes on the REST API behind the key and
    usage plan), as the local cloud deploys it: the option the tests of that front door run against."""
    from infra.app import build_local_app
    from localcloud.deploy import synthesize

    return synthesize(build_local_app, {"platform": {"serving": {"front_door": "rest"}}})


@pytest.fixture(scope="session")
def platform_template(platform_synth):  # type: ignore[no-untyped-def]
    return platform_synth.template
