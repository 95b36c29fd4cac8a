"""Fixtures shared by every tier: fake credentials, and one synthesized template per test process."""

from __future__ import annotations

import os

import pytest

# Nothing in the suite may reach a real AWS account.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(scope="session")
def platform_synth():  # type: ignore[no-untyped-def]
    """The platform app synthesized once (with cdk-nag) the way the local cloud deploys it."""
    from localcloud.deploy import synthesize

    return synthesize()


@pytest.fixture(scope="session")
def platform_template(platform_synth):  # type: ignore[no-untyped-def]
    return platform_synth.template
