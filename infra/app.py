"""The CDK app entry point (`cdk.json` runs `python -m infra.app`)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

from infra.paths import PROJECT_ROOT
from infra.settings import CONTEXT_KEY, SettingsError, load_settings
from infra.stack import MlopsPlatformStack


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[cdk.App, MlopsPlatformStack]:
    """Build the app with cdk-nag attached; tests and the local cloud call this in-process.

    The context starts from cdk.json, as the CDK CLI's does, so in-process builds match `cdk synth`.
    """
    base = json.loads((PROJECT_ROOT / "cdk.json").read_text()).get("context", {})
    app = cdk.App(context=_merged(base, context or {}), outdir=outdir)
    settings = load_settings(app.node.try_get_context(CONTEXT_KEY))
    stack = MlopsPlatformStack(app, settings.stack_name, settings=settings)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


# What the local cloud deploys (`make up`, `make demo`, the tests): a laptop session wants a promotion
# or rollback to show within seconds, and captured traffic written soon enough for a drift check:
# shorter than the deployed defaults (30 s and 60 s, and a check's window ending 30 s before it runs;
# the local cloud's uploads complete before a check lists, and label objects before a join lists).
LOCAL_CONTEXT: dict[str, Any] = {
    CONTEXT_KEY: {
        "serving": {"alias_cache_seconds": 5, "config_cache_seconds": 5, "capture_max_age_seconds": 5},
        "monitoring": {"capture_settle_seconds": 0, "label_settle_seconds": 0},
    },
}


def build_local_app(
    context: dict[str, Any] | None = None, outdir: str | None = None
) -> tuple[cdk.App, MlopsPlatformStack]:
    """The app with the local cloud's settings (`LOCAL_CONTEXT`) under `context`."""
    return build_app(_merged(LOCAL_CONTEXT, context or {}), outdir)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, nested settings merged key by key (so `{"platform": {"serving":
    {...}}}` changes the serving settings and keeps cdk.json's stack name)."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        merged[key] = _merged(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def main() -> None:
    try:
        app, _ = build_app()
    except SettingsError as error:  # the message names every bad field; a traceback would bury it
        raise SystemExit(f"cdk.json or -c platform=...: {error}") from None
    app.synth()


if __name__ == "__main__":
    main()
