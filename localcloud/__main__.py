"""`python -m localcloud up|demo`: the local cloud for people (the AWS CLI, curl) and the demo."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from localcloud.cloud import LocalCloud, LocalCloudError, ensure_port_free
from localcloud.deploy import DeployError, Synthesized, load_synthesized, synthesize_in_subprocess
from localcloud.events import ScaledClock
from localcloud.gateway_core import GatewayError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = PROJECT_ROOT / ".local"


def _synthesized(template: Path | None, state_dir: Path) -> Synthesized:
    if template is not None:
        return load_synthesized(template)
    print("synthesizing the CDK app (no Docker, cdk-nag checks on) …", flush=True)
    return synthesize_in_subprocess(state_dir / "cdk.out")


def up(args: argparse.Namespace) -> int:
    """A long-lived local cloud: moto server, deployed stack, HTTP gateway, schedules and alarms."""
    args.state_dir.mkdir(parents=True, exist_ok=True)
    for port in (args.port, args.api_port):  # before the synth: a busy port should cost no waiting
        ensure_port_free(port)
    synthesized = _synthesized(args.template, args.state_dir)
    clock = ScaledClock(speed=args.speed)
    with LocalCloud.server(port=args.port, inbox_path=args.state_dir / "inbox.jsonl", clock=clock) as cloud:
        stack = cloud.deploy(synthesized)
        gateway = None
        api_id = stack.outputs.get("ApiUrl", "").split("//", 1)[-1].split(".", 1)[0]
        if api_id:
            gateway = cloud.serve_api(api_id, port=args.api_port, access_log=args.state_dir / "api-access.log")
        api_url = gateway.url(_stage(stack.outputs.get("ApiUrl", ""))) + "/" if gateway else None
        outputs = cloud.outputs_file(args.state_dir / "outputs.json", api_url=api_url)
        if args.email and "AlertsTopicArn" in stack.outputs:
            cloud.session.client("sns").subscribe(
                TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint=args.email
            )
        cloud.scheduler.start()
        cloud.alarm_evaluator.start(interval_seconds=args.alarm_interval)
        endpoint = cloud.session.endpoint_url
        print(f"\nlocal cloud up: stack {stack.stack_name} deployed into moto at {endpoint}")
        for key, value in sorted(stack.outputs.items()):
            print(f"  {key:<26} {api_url if key == 'ApiUrl' and api_url else value}")
        print(f"\n  outputs file      {outputs}  (the shape of cdk deploy --outputs-file)")
        print(f"  email inbox       {args.state_dir / 'inbox.jsonl'}")
        print(f"  schedule clock    {args.speed:g}x real time; alarms evaluated every {args.alarm_interval:g} s")
        print("\nuse it with the AWS CLI:")
        print(
            f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"AWS_DEFAULT_REGION={cloud.session.region}"
        )
        print(f"  aws --endpoint-url {endpoint} s3 ls")
        if "PredictionApiKeyId" in stack.outputs and api_url:
            print(
                f"  KEY=$(aws --endpoint-url {endpoint} apigateway get-api-key --include-value "
                f"--api-key {stack.outputs['PredictionApiKeyId']} --query value --output text)"
            )
            print(f'  curl -H "x-api-key: $KEY" {api_url}v1/health')
        for warning in stack.warnings:
            print(f"warning: {warning}")
        print("\nCtrl-C stops it.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        print("\nstopping the local cloud")
    return 0


def _stage(api_url: str) -> str:
    parts = [p for p in api_url.split("/") if p]
    return parts[-1] if parts else "prod"


def demo(args: argparse.Namespace) -> int:
    from localcloud.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run a long-lived local cloud until Ctrl-C")
    up_parser.add_argument("--port", type=int, default=4566, help="moto server port (default 4566)")
    up_parser.add_argument("--api-port", type=int, default=4567, help="HTTP gateway port (default 4567)")
    up_parser.add_argument("--template", type=Path, help="deploy this cdk.out/<stack>.template.json instead")
    up_parser.add_argument("--speed", type=float, default=1.0, help="schedule clock speed (60 = an hour a minute)")
    up_parser.add_argument("--alarm-interval", type=float, default=60.0, help="seconds between alarm evaluations")
    up_parser.add_argument(
        "--email",
        default="you@localhost",
        help="subscribe this address to the alerts topic; its mail lands in the local inbox ('' for none)",
    )
    up_parser.add_argument(
        "--state-dir", type=Path, default=LOCAL_DIR, help="where outputs.json, the inbox and logs go (default .local)"
    )
    up_parser.set_defaults(run=up)
    demo_parser = commands.add_parser("demo", help="run the platform's lifecycle on an in-process local cloud")
    demo_parser.set_defaults(run=demo)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # A failing state logs its whole parse tree at ERROR; the run's own failure record says why.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    try:
        return int(args.run(args))
    except (LocalCloudError, DeployError, GatewayError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
