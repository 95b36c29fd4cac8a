"""The local cloud as one object: moto, the deployed stack, and every behaviour moto lacks, switched on.

Two ways in:
- `LocalCloud.in_process(...)`: moto's decorator mode in this process (tests; fast).
- `LocalCloud.server(port)`: a threaded moto server on a port, for the AWS CLI, curl and the demo.

Either way the cloud runs on one clock (`localcloud.clock`): while it is up, the process's wall
clock is the cloud's, which starts at `start` (default now), runs at `speed` and jumps with
`advance_clock`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from moto import mock_aws

from localcloud import cloudwatch, dynamodb, ecs, eventbridge, iam, lambda_, s3, sns, stepfunctions
from localcloud.clock import CloudClock
from localcloud.cloudwatch import publish_queue_metrics, store_metric_data
from localcloud.deploy import DeployedStack, Synthesized, deploy
from localcloud.session import DEFAULT_ACCOUNT, DEFAULT_REGION, AwsSession

if TYPE_CHECKING:
    from localcloud.apigateway import LocalApiGateway
    from localcloud.lambda_.function_urls import LocalFunctionUrl

log = logging.getLogger(__name__)

MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}
# What CloudFormation gives as a function URL (AWS::Lambda::Url's FunctionUrl attribute).
_FUNCTION_URL = re.compile(r"https://[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.on\.aws/")


class LocalCloudError(RuntimeError):
    """The local cloud could not start; the message says what to do."""


@dataclass
class LocalCloud:
    """A running local cloud. Create it with `in_process()` or `server()`."""

    session: AwsSession
    inbox: sns.Inbox
    clock: CloudClock
    scheduler: eventbridge.Scheduler
    alarm_evaluator: cloudwatch.AlarmEvaluator
    stacks: dict[str, DeployedStack] = field(default_factory=dict)
    gateways: dict[str, LocalApiGateway] = field(default_factory=dict)
    function_urls: dict[str, LocalFunctionUrl] = field(default_factory=dict)

    # -- starting ------------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def in_process(
        cls,
        *,
        inbox_path: Path | None = None,
        inbox_stream: TextIO | None = None,
        start: datetime | None = None,
        speed: float = 1.0,
        region: str = DEFAULT_REGION,
    ) -> Iterator[LocalCloud]:
        """moto in this process: every boto3 client created inside the block talks to it, and the
        process's time is the cloud's (from `start`, default now, at `speed`) until the block ends."""
        stepfunctions.point_cloudformation_at_executing_backend()
        with mock_aws(config=MOTO_CONFIG):
            cloud = cls._start(AwsSession(region=region), inbox_path, inbox_stream, CloudClock(start, speed=speed))
            try:
                yield cloud
            finally:
                cloud._stop()

    @classmethod
    @contextlib.contextmanager
    def server(
        cls,
        *,
        port: int = 4566,
        inbox_path: Path | None = None,
        inbox_stream: TextIO | None = None,
        start: datetime | None = None,
        speed: float = 1.0,
        region: str = DEFAULT_REGION,
    ) -> Iterator[LocalCloud]:
        """A moto server on 127.0.0.1:`port`; handlers and the AWS CLI reach it through `AWS_ENDPOINT_URL`.
        The server runs in this process, so its time is the cloud's (from `start`, at `speed`)."""
        from moto.server import ThreadedMotoServer

        ensure_port_free(port)
        stepfunctions.point_cloudformation_at_executing_backend()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        # moto's own service-to-service calls (Step Functions invoking Lambda) go to MOTO_PORT.
        previous_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)
        try:
            _reset_server_state(endpoint)  # moto's backends are per process, not per server
            _apply_server_config(endpoint)
            session = AwsSession(region=region, endpoint_url=endpoint)
            cloud = cls._start(session, inbox_path, inbox_stream, CloudClock(start, speed=speed))
            try:
                yield cloud
            finally:
                cloud._stop()
                _reset_server_state(endpoint)
        finally:
            server.stop()
            if previous_port is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = previous_port

    @classmethod
    def _start(
        cls, session: AwsSession, inbox_path: Path | None, inbox_stream: TextIO | None, clock: CloudClock
    ) -> LocalCloud:
        dynamodb.install()
        iam.install(session.account_id)
        s3.install()
        lambda_.install(endpoint_url=session.endpoint_url)
        lambda_.set_metric_sink(store_metric_data)
        lambda_.set_dead_letter_sink(lambda_.send_to_dead_letter_target)
        eventbridge.install()
        stepfunctions.install()
        ecs.install(endpoint_url=session.endpoint_url)
        mailbox = sns.install(sns.Inbox(inbox_path, stream=inbox_stream))
        cloudwatch.install()
        scheduler = eventbridge.Scheduler(session.account_id, session.region, clock=clock)
        evaluator = cloudwatch.AlarmEvaluator(
            session.account_id,
            session.region,
            # SQS publishes queue depth each minute on AWS: every evaluation, the background one of
            # `make up` included, sees the dead-letter queue as it is now.
            before_evaluation=lambda now: publish_queue_metrics(session.account_id, session.region, now),
        )
        clock.start()  # last: nothing after it can fail and leave the process's time moved
        return cls(session=session, inbox=mailbox, clock=clock, scheduler=scheduler, alarm_evaluator=evaluator)

    def _stop(self) -> None:
        try:
            for gateway in self.gateways.values():
                gateway.stop()
            for function_url in self.function_urls.values():
                function_url.stop()
            self.scheduler.stop()
            with contextlib.suppress(TimeoutError):
                lambda_.drain(timeout=30)
            cloudwatch.uninstall()
            sns.uninstall()
            ecs.uninstall()
            stepfunctions.uninstall()
            eventbridge.uninstall()
            lambda_.uninstall()
            iam.uninstall()
        finally:
            self.clock.stop()  # whatever failed above, the process gets its real time back

    # -- deploying -----------------------------------------------------------------------------
    def deploy(self, synthesized: Synthesized) -> DeployedStack:
        stack = deploy(self.session, synthesized)
        self.stacks[stack.stack_name] = stack
        self.scheduler.sync()
        return stack

    def serve_api(self, rest_api_id: str, *, port: int = 0, access_log: Any = None) -> LocalApiGateway:
        """Serve one REST API over HTTP on loopback (port 0: any free port)."""
        from localcloud.apigateway import LocalApiGateway

        gateway = LocalApiGateway(
            rest_api_id,
            account_id=self.session.account_id,
            region_name=self.session.region,
            port=port,
            access_log=access_log,
        )
        gateway.start()
        self.gateways[rest_api_id] = gateway
        return gateway

    def serve_function_url(self, deployed_url: str, *, port: int = 0) -> LocalFunctionUrl:
        """Serve one function URL (as deployed: `https://<url-id>.lambda-url.<region>.on.aws/`) over HTTP
        on loopback (port 0: any free port)."""
        from localcloud.lambda_.function_urls import LocalFunctionUrl, function_url_targets

        wanted = deployed_url.rstrip("/") + "/"
        targets = function_url_targets(self.session.account_id, self.session.region)
        target = next((t for t in targets if t.url == wanted), None)
        if target is None:
            raise LocalCloudError(f"no function URL {deployed_url} in this cloud (known: {[t.url for t in targets]})")
        served = LocalFunctionUrl(target, port=port).start()
        self.function_urls[wanted] = served
        return served

    def serve_stack_function_urls(self, stack: DeployedStack, *, port: int = 0) -> dict[str, str]:
        """Serve every function URL a stack's outputs name (the first on `port`, others on any free
        port): deployed URL -> the local URL that answers for it."""
        served: dict[str, str] = {}
        for value in stack.outputs.values():
            if _FUNCTION_URL.fullmatch(value) and value not in served:
                served[value] = self.serve_function_url(value, port=0 if served else port).url
        return served

    # -- what the cloud does by itself, on demand -----------------------------------------------
    def settle(self, timeout: float = 120.0) -> None:
        """Wait until every asynchronous delivery (S3 → Lambda, Event invokes, EventBridge) has run."""
        lambda_.drain(timeout)
        eventbridge.drain(timeout)
        lambda_.drain(timeout)

    def advance_clock(self, delta: timedelta) -> list[eventbridge.Firing]:
        """Move the cloud's time forward by `delta`: every rule that falls due on the way fires at its
        scheduled time (the clock stops there until what it started has run), and the cloud settles."""
        firings = self.scheduler.advance(delta, settle=self.settle)
        self.settle()
        return firings

    def fire_schedule(self, rule_name: str) -> eventbridge.Firing:
        firing = self.scheduler.fire_rule(rule_name)
        self.settle()
        return firing

    def schedule_targeting(self, function: str) -> str:
        """The name of the scheduled rule whose target's ARN contains `function` (a construct's id,
        such as a function's logical id prefix): how a test or the demo finds a schedule to fire."""
        events = self.session.client("events")
        for rule in events.list_rules()["Rules"]:
            if "ScheduleExpression" not in rule:
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            if any(function in t["Arn"] for t in targets):
                return str(rule["Name"])
        raise LocalCloudError(f"no schedule targets a function named like {function!r}")

    def evaluate_alarms(self, now: datetime | None = None) -> list[cloudwatch.AlarmTransition]:
        """Evaluate every alarm now (as CloudWatch does each period); state changes notify SNS.

        `now` sets the periods evaluated: callers pass a minute ahead to count the current minute
        as complete. The state changes are stamped with the time they happen, never later."""
        self.settle()
        current = self.clock.now()
        moment = now or current
        transitions = self.alarm_evaluator.evaluate(moment, changed_at=min(moment, current))
        self.settle()
        return transitions

    def local_outputs(
        self, stack: DeployedStack, *, api_url: str | None = None, function_urls: dict[str, str] | None = None
    ) -> dict[str, str]:
        """A stack's outputs as reached here: the API URLs point at the local gateway (`api_url`)
        instead of the execute-api host, function URLs (and outputs built on them) at where they are
        served (`function_urls`, from `serve_stack_function_urls`), and LocalCloudEndpoint says where
        moto listens."""
        outputs = dict(stack.outputs)
        for deployed, local in (function_urls or {}).items():
            outputs = {name: value.replace(deployed, local) for name, value in outputs.items()}
        if api_url and "ApiUrl" in outputs:
            deployed_url = outputs["ApiUrl"]
            outputs["ApiUrl"] = api_url
            if "PredictUrlTemplate" in outputs:  # <ApiUrl>v1/models/{name}/predict
                outputs["PredictUrlTemplate"] = outputs["PredictUrlTemplate"].replace(deployed_url, api_url)
        if self.session.endpoint_url:
            outputs["LocalCloudEndpoint"] = self.session.endpoint_url
        return outputs

    def outputs_file(
        self, path: Path, *, api_url: str | None = None, function_urls: dict[str, str] | None = None
    ) -> Path:
        """Stack outputs in the shape of `cdk deploy --outputs-file` (ApiUrl: the local gateway's URL;
        function URLs: where they are served)."""
        document = {
            name: self.local_outputs(stack, api_url=api_url, function_urls=function_urls)
            for name, stack in self.stacks.items()
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path


def ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LocalCloudError(
                f"port {port} on 127.0.0.1 is busy ({exc.strerror}); stop what uses it or pick another port"
            ) from exc


def _reset_server_state(endpoint: str) -> None:
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()


def _apply_server_config(endpoint: str) -> None:
    import requests

    response = requests.post(f"{endpoint}/moto-api/config", json=MOTO_CONFIG, timeout=10)
    response.raise_for_status()


__all__ = ["DEFAULT_ACCOUNT", "LocalCloud", "LocalCloudError"]
