"""`python -m localcloud up`: the local cloud for people (the AWS CLI, curl)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the local cloud loads moto (seconds): `mlops --help` reads this module's options
    from localcloud.deploy import Synthesized

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = PROJECT_ROOT / ".local"


def _synthesized(template: Path | None, app: str | None, state_dir: Path, say: Callable[..., None]) -> Synthesized:
    from localcloud.deploy import DeployError, load_synthesized, synthesize_in_subprocess

    if template is not None:
        return load_synthesized(template)
    if not app:
        raise DeployError("nothing to deploy: name the CDK app (--app package.module:factory) or a --template")
    say(f"synthesizing the CDK app {app} (no Docker) …")
    return synthesize_in_subprocess(state_dir / "cdk.out", app)


def add_up_arguments(parser: argparse.ArgumentParser, default_app: str | None = None) -> None:
    """`python -m localcloud up` and `mlops up` take the same options (`mlops up` names its app)."""
    parser.add_argument(
        "--app",
        default=default_app,
        help="the CDK app to synthesize and deploy, as package.module:factory"
        + (f" (default {default_app})" if default_app else ""),
    )
    parser.add_argument("--port", type=int, default=4566, help="moto server port (default 4566)")
    parser.add_argument("--api-port", type=int, default=4567, help="HTTP gateway port (default 4567)")
    parser.add_argument(
        "--function-url-port",
        type=int,
        default=4568,
        help="the stack's (first) function URL's port (default 4568; when busy, any free port, named in outputs.json)",
    )
    parser.add_argument("--template", type=Path, help="deploy this cdk.out/<stack>.template.json instead")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="the cloud's clock speed, for everything in it (60 = an hour a minute)"
    )
    parser.add_argument(
        "--alarm-interval",
        type=float,
        default=None,
        help="real seconds between the alarm evaluator's wake-ups (default: one minute of the cloud's clock, "
        "at least 0.1 s); each wake evaluates every cloud minute that elapsed, as CloudWatch does each minute",
    )
    parser.add_argument(
        "--email",
        default="you@localhost",
        help="subscribe this address to the alerts topic; its mail lands in the local inbox ('' for none)",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=LOCAL_DIR, help="where outputs.json, the inbox and logs go (default .local)"
    )


MIN_ALARM_WAKE_SECONDS = 0.1


def alarm_wake_seconds(interval: float | None, speed: float) -> float:
    """Real seconds between the alarm evaluator's wake-ups: the option, or one cloud minute (60 s at
    speed 1, 3 s at speed 20), no shorter than 0.1 s. The interval sets how soon an alarm changes, not
    whether: each wake evaluates every cloud minute since the last."""
    if interval is not None:
        return interval
    return max(60.0 / speed, MIN_ALARM_WAKE_SECONDS)


def configure_logging() -> None:
    """Quiet moto and werkzeug: the local cloud's own lines are the ones a person reads."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # A failing state logs its whole parse tree at ERROR; the run's own failure record says why.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)


def up(args: argparse.Namespace) -> int:
    """A long-lived local cloud: moto server, deployed stack, HTTP gateway, schedules and alarms.
    With `args.json` (from `mlops up --json`), stdout gets one JSON document once it is ready and
    the words go to stderr, so a script can read where everything is."""
    as_json = bool(getattr(args, "json", False))
    if as_json:  # the mail the inbox echoes (from other threads too) must not break the JSON on stdout
        document_out = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            return _up(args, document_out)
    return _up(args, None)


def _up(args: argparse.Namespace, document_out: TextIO | None) -> int:
    from localcloud.cloud import LocalCloud, LocalCloudError, ensure_port_free

    say = functools.partial(print, flush=True)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    for port in (args.port, args.api_port):  # before the synth: a busy port should cost no waiting
        ensure_port_free(port)
    url_port = args.function_url_port
    try:
        ensure_port_free(url_port)
    except LocalCloudError as busy:  # the outputs file names wherever the URL ends up: clients read it
        say(f"warning: {busy}; the function URL is served on another free port")
        url_port = 0
    synthesized = _synthesized(args.template, args.app, args.state_dir, say)
    with LocalCloud.server(
        port=args.port,
        inbox_path=args.state_dir / "inbox.jsonl",
        inbox_stream=sys.stderr if document_out is not None else None,  # the inbox writes to the real stdout
        speed=args.speed,
    ) as cloud:
        stack = cloud.deploy(synthesized)
        gateway = None
        api_id = stack.outputs.get("ApiUrl", "").split("//", 1)[-1].split(".", 1)[0]
        if api_id:
            gateway = cloud.serve_api(api_id, port=args.api_port, access_log=args.state_dir / "api-access.log")
        api_url = gateway.url(_stage(stack.outputs.get("ApiUrl", ""))) + "/" if gateway else None
        function_urls = cloud.serve_stack_function_urls(stack, port=url_port)
        outputs = cloud.outputs_file(args.state_dir / "outputs.json", api_url=api_url, function_urls=function_urls)
        # the values in the outputs file
        local_outputs = cloud.local_outputs(stack, api_url=api_url, function_urls=function_urls)
        if args.email and "AlertsTopicArn" in stack.outputs:
            cloud.session.client("sns").subscribe(
                TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint=args.email
            )
        # CloudWatch's first evaluation moves every alarm from INSUFFICIENT_DATA to OK, mailing each
        # OK action: done quietly (the mails still reach the inbox file) so the banner below stays on
        # screen; the console echoes the transitions after it.
        cloud.inbox.echo = False
        try:
            cloud.evaluate_alarms()
        finally:
            cloud.inbox.echo = True
        cloud.scheduler.start()
        alarm_interval = alarm_wake_seconds(args.alarm_interval, args.speed)
        cloud.alarm_evaluator.start(interval_seconds=alarm_interval, clock=cloud.clock.now, initial_delay=True)
        endpoint = cloud.session.endpoint_url
        if document_out is not None:
            document = {
                "endpoint_url": endpoint,
                "api_url": api_url,
                "function_urls": function_urls,
                "stack": stack.stack_name,
                "outputs": local_outputs,
                "outputs_file": str(outputs),
                "inbox": str(args.state_dir / "inbox.jsonl"),
                "warnings": list(stack.warnings),
            }
            print(json.dumps(document, indent=2), file=document_out, flush=True)
        say(f"\nlocal cloud up: stack {stack.stack_name} deployed into moto at {endpoint}")
        for key, value in sorted(local_outputs.items()):
            say(f"  {key:<26} {value}")
        say(f"\n  outputs file      {outputs}  (the shape of cdk deploy --outputs-file)")
        say(f"  email inbox       {args.state_dir / 'inbox.jsonl'}")
        say(
            f"  the cloud's clock {args.speed:g}x real time; alarms evaluated for each cloud minute "
            f"(caught up every {alarm_interval:g} real s)"
        )
        say("\nuse it with the AWS CLI:")
        say(
            f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"AWS_DEFAULT_REGION={cloud.session.region}"
        )
        say(f"  aws --endpoint-url {endpoint} s3 ls")
        say("and with mlops (every command in this shell then finds this deployment):")
        say(f"  export MLOPS_OUTPUTS={outputs.resolve()}")
        if "PredictionApiKeyId" in stack.outputs and api_url:
            say(
                f"  KEY=$(aws --endpoint-url {endpoint} apigateway get-api-key --include-value "
                f"--api-key {stack.outputs['PredictionApiKeyId']} --query value --output text)"
            )
            say(f'  curl -H "x-api-key: $KEY" {api_url}v1/health')
        for deployed, local in function_urls.items():
            say(f"function URL {deployed} answers at {local} (AWS_IAM: sign with SigV4, service lambda):")
            say(
                f'  curl --aws-sigv4 "aws:amz:{cloud.session.region}:lambda" --user testing:testing '
                f"-H 'content-type: application/json' -d '{{\"instances\": [...]}}' {local}v1/models/NAME/predict"
            )
        for warning in stack.warnings:
            say(f"warning: {warning}")
        say("\nCtrl-C stops it.")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        say("\nstopping the local cloud")
    return 0


def _stage(api_url: str) -> str:
    parts = [p for p in api_url.split("/") if p]
    return parts[-1] if parts else "prod"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run a long-lived local cloud until Ctrl-C")
    add_up_arguments(up_parser)
    up_parser.set_defaults(run=up)
    args = parser.parse_args(argv)
    configure_logging()
    from localcloud.apigateway import GatewayError
    from localcloud.cloud import LocalCloudError
    from localcloud.deploy import DeployError

    try:
        return int(args.run(args))
    except (LocalCloudError, DeployError, GatewayError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
