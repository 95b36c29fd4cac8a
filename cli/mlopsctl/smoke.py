"""`mlops smoke-test`: after `cdk deploy`, prove the deployment works end to end, against AWS or the
local cloud alike: the API answers its key, a dataset is ingested, trained on and served, and an
alarm's notification reaches the alerts topic's subscribers.

Everything it writes is named `smoke-test` (the dataset, its contract and config, the model, the
S3 objects), so it never touches a real dataset; what it creates only for itself (a temporary SQS
queue subscribed to the alerts topic) it removes again, and the alarm it fires is set back to OK.
Email cannot be read by a program, so the queue stands in for a subscriber: SNS delivers to it
exactly as to an inbox, and the alarm's history says why when it does not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from mlopsctl.target import Target

DATASET = "smoke-test"
# Outputs the steps read; a stack deployed from an older version may lack some.
REQUIRED_OUTPUTS = (
    "RawBucketName",
    "ArtifactsBucketName",
    "RegistryTableName",
    "TrainingStateMachineArn",
    "ApiUrl",
    "AlertsTopicArn",
)
# One quick candidate and a lenient gate: the run proves the pipeline works, not that the model is
# good. No capture and a weekly drift check, so the smoke model costs next to nothing afterwards.
TRAINING_CONFIG = """\
# Written by `mlops smoke-test`: one quick candidate, so training takes as little time as it can.
dataset: smoke-test
problem_type: binary
label: target
split: {test_fraction: 0.2, validation_fraction: 0.2, stratify: true, seed: 7}
candidates:
  - name: logistic
    estimator: logistic_regression
    params: {max_iter: 1000}
selection_metric: roc_auc
quality_gates:
  absolute:
    roc_auc: {min: 0.9}
promotion: auto
serving:
  capture_sample_rate: 0.0
monitoring:
  every_hours: 168
"""
PREDICT_ROWS = 3


class StepError(RuntimeError):
    """A step ran and the deployment did not do what it should; the message says what it did instead,
    `data` what the step found on the way (for --json)."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.data = data or {}


@dataclass
class StepResult:
    """One step's outcome: ok, failed, or skipped (a step it needs did not pass)."""

    name: str
    status: str  # "ok", "failed" or "skipped"
    seconds: float
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def line(self) -> str:
        mark = {"ok": "ok", "failed": "FAIL", "skipped": "skip"}[self.status]
        return f"{mark:<4}  {self.name:<10} {self.seconds:6.1f} s  {self.detail}"

    def as_document(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "detail": self.detail,
            **({"data": self.data} if self.data else {}),
        }


def duration_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def summary_text(results: list[StepResult], seconds: float) -> str:
    """The last line: passed only when every step passed; else which failed and which never ran."""
    failed = [r.name for r in results if r.status == "failed"]
    skipped = [r.name for r in results if r.status == "skipped"]
    if not failed and not skipped:
        return f"smoke test passed: {len(results)} of {len(results)} steps in {duration_text(seconds)}"
    parts = [f"{len(failed)} of {len(results)} steps failed ({', '.join(failed)})"] if failed else []
    if skipped:
        parts.append(f"{len(skipped)} skipped ({', '.join(skipped)})")
    return f"smoke test FAILED: {'; '.join(parts)}, in {duration_text(seconds)}"


def summary_document(results: list[StepResult], seconds: float, run_id: str) -> dict[str, Any]:
    return {
        "passed": bool(results) and all(r.ok for r in results),
        "run_id": run_id,
        "seconds": round(seconds, 2),
        "steps": [r.as_document() for r in results],
        "summary": summary_text(results, seconds),
    }


def missing_outputs(outputs: dict[str, str]) -> list[str]:
    return [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]


# -- the alarm step's pieces ----------------------------------------------------------------------
def queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """Lets the alerts topic, and only it, deliver to the temporary queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlertsTopicDelivers",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def pick_alarm(
    alarms: list[dict[str, Any]], topic_arn: str, dead_letter_queue: str | None, requested: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The alarm to fire: `requested`, else the dead-letters alarm, else any alarm of the stack (one
    that notifies the alerts topic) not in ALARM now: firing an alarm already in ALARM changes no
    state, and CloudWatch runs actions only on a change. Returns (alarm, why not) ."""
    if requested:
        alarm = next((a for a in alarms if a["AlarmName"] == requested), None)
        if alarm is None:
            return None, f"no alarm named {requested!r}"
        if topic_arn not in alarm.get("AlarmActions", []):
            return None, f"alarm {requested!r} does not notify the alerts topic {topic_arn}"
        if alarm.get("StateValue") == "ALARM":
            return None, f"alarm {requested!r} is in ALARM already: firing it changes nothing"
        return alarm, ""
    ours = [a for a in alarms if topic_arn in a.get("AlarmActions", [])]
    if not ours:
        return None, f"no alarm notifies the alerts topic {topic_arn}"

    def watches_dead_letters(alarm: dict[str, Any]) -> bool:
        return any(d.get("Name") == "QueueName" and d.get("Value") == dead_letter_queue for d in alarm["Dimensions"])

    candidates = sorted(
        (a for a in ours if a.get("StateValue") != "ALARM"),
        key=lambda a: (not (dead_letter_queue and watches_dead_letters(a)), a["AlarmName"]),
    )
    if not candidates:
        return None, f"all {len(ours)} alarms of the alerts topic are in ALARM: look at them first"
    return candidates[0], ""


def alarm_notification(body: str) -> dict[str, Any] | None:
    """The CloudWatch alarm message in an SQS body: inside SNS's envelope, or raw. None when it is not one."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            document = json.loads(document.get("Message") or "null")
    except ValueError:
        return None
    return document if isinstance(document, dict) and "AlarmName" in document else None


def is_smoke_notification(message: dict[str, Any], alarm_name: str, run_id: str) -> bool:
    """This run's ALARM notification (not a real alarm's, nor an earlier run's)."""
    return (
        message.get("AlarmName") == alarm_name
        and message.get("NewStateValue") == "ALARM"
        and run_id in str(message.get("NewStateReason", ""))
    )


def action_lines(items: list[dict[str, Any]], run_id: str | None = None) -> list[str]:
    """The alarm history's Action items, oldest first, with AWS's reason for a failed one. With
    `run_id`, an item whose published message is another run's (or a real alarm's) is left out."""
    lines = []
    for item in sorted(items, key=lambda i: i["Timestamp"]):
        try:
            data = json.loads(item.get("HistoryData") or "{}")
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        published = data.get("publishedMessage")
        if run_id and isinstance(published, str) and published and run_id not in published:
            continue
        line = str(item.get("HistorySummary", ""))
        if data.get("error"):
            line += f": {data['error']}"
        elif line.startswith("Failed"):  # the reason under another name: show the record as it is
            line += f": {str(item.get('HistoryData'))[:300]}"
        lines.append(line)
    return lines


def subscribers_note(subscriptions: list[dict[str, Any]], own: str | None) -> str:
    """Who else the topic delivers to, and who gets nothing yet (an email subscription not confirmed)."""
    others = [s for s in subscriptions if s.get("SubscriptionArn") != own]
    if not others:
        return "the topic has no other subscriber: nobody receives alarms (deploy with alarm_email, or subscribe)"
    confirmed = [s for s in others if s.get("SubscriptionArn", "").startswith("arn:")]
    pending = [s for s in others if not s.get("SubscriptionArn", "").startswith("arn:")]
    text = "also delivered to " + (
        ", ".join(f"{s.get('Endpoint')} ({s.get('Protocol')})" for s in confirmed[:3]) or "nobody else"
    )
    if len(confirmed) > 3:
        text += f" and {len(confirmed) - 3} more"
    if pending:
        text += "; not confirmed, so receiving nothing: " + ", ".join(
            f"{s.get('Endpoint')} ({s.get('Protocol')})" for s in pending[:3]
        )
    return text


# -- the run ------------------------------------------------------------------------------------
@dataclass
class SmokeTest:
    """The steps against one deployment. `say` gets each step's line as it ends, and progress."""

    target: Target
    say: Callable[[str], None] = print
    alarm_name: str | None = None
    ingest_timeout: float = 180.0
    train_timeout: float = 900.0
    predict_timeout: float = 60.0
    notify_timeout: float = 60.0
    run_id: str = field(default_factory=lambda: f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
    results: list[StepResult] = field(default_factory=list)
    _frame: Any = field(default=None, repr=False)

    # (step, the steps it needs): a step whose needs did not pass is skipped, the others still run.
    STEPS: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = (
        ("deployment", ()),
        ("health", ("deployment",)),
        ("contract", ("deployment",)),
        ("config", ("deployment",)),
        ("upload", ("contract",)),
        ("train", ("config", "upload")),
        ("predict", ("train", "health")),
        ("alarm", ("deployment",)),
    )

    def run(self) -> list[StepResult]:
        started = time.perf_counter()
        self.say(f"smoke test {self.run_id} against {self.target.outputs.get('ApiUrl', 'a stack without ApiUrl')}")
        passed: set[str] = set()
        for name, needs in self.STEPS:
            missing = [n for n in needs if n not in passed]
            if missing:
                result = StepResult(name, "skipped", 0.0, f"not run: {', '.join(missing)} did not pass")
            else:
                result = self._run_step(name)
            if result.ok:
                passed.add(name)
            self.results.append(result)
            self.say(result.line())
        self.say(summary_text(self.results, time.perf_counter() - started))
        return self.results

    def _run_step(self, name: str) -> StepResult:
        from botocore.exceptions import EndpointConnectionError, NoCredentialsError

        step: Callable[[], tuple[str, dict[str, Any]]] = getattr(self, f"step_{name}")
        started = time.perf_counter()
        try:
            detail, data = step()
            status = "ok"
        except NoCredentialsError:
            raise  # nothing can run: the command says how to give it credentials
        except StepError as failure:
            detail, data, status = str(failure), failure.data, "failed"
        except Exception as error:  # an AWS error is the deployment's answer: report it, go on
            if name == "deployment" and isinstance(error, EndpointConnectionError):
                raise  # nothing answers at the endpoint: the command says what to start
            detail, data, status = f"{type(error).__name__}: {error}", {}, "failed"
        return StepResult(name, status, time.perf_counter() - started, detail, data)

    def _progress(self, text: str) -> None:
        self.say(f"{'':<6}{'':<10} {text}")

    def frame(self) -> Any:
        """The breast-cancer set scikit-learn ships (569 rows, 30 features, binary), columns in snake_case."""
        if self._frame is None:
            from sklearn.datasets import load_breast_cancer

            self._frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        return self._frame

    # -- steps: each returns (its line's detail, data for --json), or raises StepError -------------
    def step_deployment(self) -> tuple[str, dict[str, Any]]:
        missing = missing_outputs(self.target.outputs)
        if missing:
            raise StepError(f"the stack outputs lack {', '.join(missing)}: is the stack deployed from this version?")
        identity = self.target.client("sts").get_caller_identity()
        where = self.target.endpoint_url or f"AWS {self.target.region}"
        return f"account {identity['Account']} as {identity['Arn']}, at {where}", {
            "account": identity["Account"],
            "caller": identity["Arn"],
            "endpoint_url": self.target.endpoint_url,
            "region": self.target.region,
        }

    def step_health(self) -> tuple[str, dict[str, Any]]:
        from mlopsctl.api import call, front_door_key

        key = front_door_key(self.target)
        answer = call(self.target, "GET", "/v1/health", api_key=key)
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            raise StepError(f"GET /v1/health answered {answer!r}")
        credential = "the prediction key" if key is not None else "a signed request"
        return (
            f"GET /v1/health with {credential}: ok (stack {answer.get('stack')}, "
            f"platform {answer.get('platform_version')})",
            answer,
        )

    def step_contract(self) -> tuple[str, dict[str, Any]]:
        from mlops.contracts import draft_contract, load_contract, render_contract_yaml
        from mlopsctl.commands.contracts import put_definition

        text = render_contract_yaml(draft_contract(self.frame(), dataset=DATASET, label="target"))
        contract = load_contract(text.encode(), source="the smoke-test contract")  # as the ingest function will
        key = put_definition(self.target, "contracts", DATASET, ".yaml", text.encode())
        uri = f"s3://{self.target.output('ArtifactsBucketName')}/{key}"
        return f"drafted from the breast-cancer sample ({len(contract.columns)} columns), deployed to {uri}", {
            "key": key
        }

    def step_config(self) -> tuple[str, dict[str, Any]]:
        from mlops.training.config import load_training_config
        from mlopsctl.commands.contracts import put_definition

        config = load_training_config(TRAINING_CONFIG, source="the smoke-test training config")
        key = put_definition(self.target, "configs", DATASET, ".yaml", TRAINING_CONFIG.encode())
        uri = f"s3://{self.target.output('ArtifactsBucketName')}/{key}"
        return f"{len(config.candidates)} candidate ({config.candidates[0].estimator}), deployed to {uri}", {"key": key}

    def step_upload(self) -> tuple[str, dict[str, Any]]:
        from mlopsctl.commands.datasets import upload_raw, wait_for_ingestion

        body = self.frame().to_csv(index=False).encode()
        bucket, key, version_id = upload_raw(self.target, DATASET, f"smoke-test-{self.run_id}.csv", body)
        self._progress(f"uploaded s3://{bucket}/{key}; waiting up to {self.ingest_timeout:g} s for the ingest function")
        outcome = wait_for_ingestion(self.target, DATASET, key, version_id, self.ingest_timeout)
        if outcome is None:
            raise StepError(f"no verdict on s3://{bucket}/{key} after {self.ingest_timeout:g} s: is ingestion wired?")
        verdict = f"{str(outcome['status']).upper()} s3://{bucket}/{key}: {outcome.get('summary', '')}"
        if outcome["status"] not in ("accepted", "duplicate"):  # the same rows as an earlier run: a duplicate
            raise StepError(verdict + "".join(f"; {f}" for f in outcome.get("first_failures", [])[:3]))
        return verdict, outcome

    def step_train(self) -> tuple[str, dict[str, Any]]:
        from mlopsctl.training_runs import follow_training, start_run, training_outcome, training_succeeded

        run = start_run(self.target, DATASET, f"mlops smoke-test {self.run_id}")
        run_id = run.run_id
        self._progress(f"training run {run_id} (timeout {self.train_timeout:g} s)")
        started = time.perf_counter()
        execution = follow_training(
            self.target.client("stepfunctions"),
            run.execution_arn,
            timeout=self.train_timeout,
            on_state=lambda label: self._progress(f"  {time.perf_counter() - started:6.1f} s  {label}"),
        )
        if execution is None:
            raise StepError(f"run {run_id} still running after {self.train_timeout:g} s (pass --train-timeout)")
        document, text = training_outcome(self.target, execution, run_id)
        first_line = text.splitlines()[0] if text else ""
        if not training_succeeded(document):
            raise StepError(first_line)
        return f"run {run_id}: {first_line}", document

    def step_predict(self) -> tuple[str, dict[str, Any]]:
        from mlopsctl.api import ApiError, call_predict_route, front_door_key

        rows = self.frame().drop(columns=["target"]).head(PREDICT_ROWS)
        body = {"instances": [{k: float(v) for k, v in row.items()} for row in rows.to_dict("records")]}
        key = front_door_key(self.target)
        deadline = time.monotonic() + self.predict_timeout
        while True:
            try:
                answer = call_predict_route(self.target, "POST", f"/v1/models/{DATASET}/predict", body, key=key)
                break
            except ApiError as error:  # a champion just promoted reaches the function when its cache expires
                if error.status != 404 or time.monotonic() > deadline:
                    raise StepError(f"POST /v1/models/{DATASET}/predict: {error}") from error
                self._progress(f"{error.code}: asking again (for up to {self.predict_timeout:g} s)")
                time.sleep(2.0)
        predictions = answer.get("predictions") or []
        if len(predictions) != PREDICT_ROWS:
            raise StepError(f"{len(predictions)} predictions for {PREDICT_ROWS} rows: {answer!r}"[:500])
        shown = ", ".join(str(p) for p in predictions)
        return (
            f"{DATASET} v{answer.get('version')} ({answer.get('variant')}) answered {PREDICT_ROWS} rows: {shown}",
            answer,
        )

    def step_alarm(self) -> tuple[str, dict[str, Any]]:
        topic_arn = self.target.output("AlertsTopicArn")
        cloudwatch = self.target.client("cloudwatch")
        alarms: list[dict[str, Any]] = []
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            alarms += page.get("MetricAlarms", [])
        dead_letters = (self.target.outputs.get("DeadLetterQueueUrl") or "").rstrip("/").rsplit("/", 1)[-1] or None
        alarm, why_not = pick_alarm(alarms, topic_arn, dead_letters, self.alarm_name)
        if alarm is None:
            raise StepError(why_not)
        name = str(alarm["AlarmName"])
        data: dict[str, Any] = {"alarm": name, "previous_state": alarm.get("StateValue")}
        problems: list[str] = []  # what the cleanup could not undo
        try:
            message, waited, fired_at = self._fire(cloudwatch, name, topic_arn, data, problems)
        except Exception as error:  # with what the cleanup could not undo, and which alarm it was
            raise StepError("; ".join([f"{type(error).__name__}: {error}", *problems]), data) from error
        data["actions"] = self._actions(cloudwatch, name, fired_at, wait=message is None)
        data["notified"] = message is not None
        if message is None:
            history = "; ".join(data["actions"]) or "no action in the alarm's history"
            raise StepError(
                f"no notification from {name} on the alerts topic within {self.notify_timeout:g} s; "
                f"alarm history: {history}" + "".join(f"; {p}" for p in problems),
                data,
            )
        if problems:
            raise StepError(f"the notification arrived, but cleaning up failed: {'; '.join(problems)}", data)
        data["message"] = message
        return (
            f"{name} ALARM notification reached a subscriber of the alerts topic in {waited:.1f} s; "
            f"set back to OK; {data['subscribers']}",
            data,
        )

    def _fire(
        self, cloudwatch: Any, name: str, topic_arn: str, data: dict[str, Any], problems: list[str]
    ) -> tuple[dict[str, Any] | None, float, datetime]:
        """Subscribe a queue, set the alarm to ALARM, wait for its notification, set it back to OK,
        remove the queue: (the notification or None, seconds waited, when it was fired)."""
        with self._subscribed_queue(topic_arn, problems) as (queue_url, subscription):
            data["subscribers"] = subscribers_note(self._subscriptions(topic_arn), subscription)
            fired_at = datetime.now(UTC)
            cloudwatch.set_alarm_state(
                AlarmName=name,
                StateValue="ALARM",
                StateReason=f"mlops smoke-test {self.run_id}: a test of the alarm notifications, not a real alarm",
            )
            try:
                self._progress(f"set {name} to ALARM; waiting up to {self.notify_timeout:g} s for its notification")
                message, waited = self._wait_for_notification(queue_url, name)
            finally:
                try:
                    cloudwatch.set_alarm_state(
                        AlarmName=name,
                        StateValue="OK",
                        StateReason=f"mlops smoke-test {self.run_id}: test over (CloudWatch re-evaluates it next)",
                    )
                except Exception as error:
                    problems.append(f"could not set {name} back to OK: {error}")
        return message, waited, fired_at

    @contextmanager
    def _subscribed_queue(self, topic_arn: str, problems: list[str]) -> Iterator[tuple[str, str]]:
        """A temporary SSE-SQS queue subscribed to the topic: (queue URL, subscription ARN). Both are
        removed afterwards, whatever happened; failures to remove them go into `problems`."""
        sqs, sns = self.target.client("sqs"), self.target.client("sns")
        queue_url = sqs.create_queue(
            QueueName=f"mlops-smoke-test-{self.run_id}",
            Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "900"},
        )["QueueUrl"]
        subscription: str | None = None
        try:
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(queue_policy(queue_arn, topic_arn))}
            )
            subscription = str(
                sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)[
                    "SubscriptionArn"
                ]
            )
            yield queue_url, subscription
        finally:
            if subscription and subscription.startswith("arn:"):
                try:
                    sns.unsubscribe(SubscriptionArn=subscription)
                except Exception as error:
                    problems.append(f"could not unsubscribe {subscription}: {error}")
            try:
                sqs.delete_queue(QueueUrl=queue_url)
            except Exception as error:
                problems.append(f"could not delete the queue {queue_url}: {error}")

    def _subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        sns = self.target.client("sns")
        found: list[dict[str, Any]] = []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            found += page.get("Subscriptions", [])
        return found

    def _wait_for_notification(self, queue_url: str, alarm_name: str) -> tuple[dict[str, Any] | None, float]:
        sqs = self.target.client("sqs")
        started = time.monotonic()
        deadline = started + self.notify_timeout
        while (left := deadline - time.monotonic()) > 0:
            received = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=max(1, min(20, int(left)))
            )
            for entry in received.get("Messages", []):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=entry["ReceiptHandle"])
                message = alarm_notification(entry["Body"])
                if message is not None and is_smoke_notification(message, alarm_name, self.run_id):
                    return message, time.monotonic() - started
        return None, time.monotonic() - started

    def _actions(self, cloudwatch: Any, name: str, since: datetime, *, wait: bool) -> list[str]:
        """The alarm's Action history since it was fired: how CloudWatch fared publishing to SNS.
        AWS writes it within seconds; with no notification, give it a few (at most 15) to say why."""
        deadline = time.monotonic() + (min(15.0, self.notify_timeout) if wait else 0.0)
        while True:
            items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action", MaxRecords=20).get(
                "AlarmHistoryItems", []
            )
            # A few seconds' grace for clocks apart; other runs' items are told apart by their message.
            lines = action_lines([i for i in items if i["Timestamp"] >= since - timedelta(seconds=5)], self.run_id)
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(2.0)
