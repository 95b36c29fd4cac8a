"""`make demo`: the platform deployed into the local cloud, then used the way a data team would.

Each stage of the lifecycle adds its step here as the platform grows; today: deploy, inspect, call
the API (health with a signature, the function URL unsigned), ingest a clean file and a broken one,
train, gate and register a model, serve predictions over HTTP through the function URL (valid and
invalid requests), retrain and compare the two runs, roll back with the predictions
following the champion, detect drift (which retrains), send the ground truth back (accuracy falls
under its floor: the alarm, the mail, the labelled rows become a dataset version), judge a weaker
canary on outcomes (the A/B check rolls it back), write the model's lifecycle report, and end with
where every artifact is. A `[n/16] title (elapsed)` line opens each stage.

It lives with the command line, not the local cloud: it uses the platform the way the `mlops`
commands do (its training runs are followed by mlopsctl.training_runs, as `mlops train` follows
them), and the local cloud imports nothing of the platform. `make demo` runs `python -m mlopsctl.demo`.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.app import build_local_app
from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack, synthesize
from mlops.names import (
    CAPTURE_PREFIX,
    DATASETS_PREFIX,
    DRIFT_REPORTS_PREFIX,
    MODELS_PREFIX,
    RAW_PREFIX,
    VALIDATION_REPORTS_PREFIX,
)
from mlopsctl.target import Target
from mlopsctl.training_runs import follow_training

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = PROJECT_ROOT / ".local"


STAGES = 17


@dataclass
class Progress:
    """Where the demo is and how long it has taken: `[4/14] title  (12 s)`."""

    total: int
    started: float = field(default_factory=time.perf_counter)
    done: int = 0

    def stage(self, title: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        print(f"\n[{self.done}/{self.total}] {title}  ({elapsed:.0f} s elapsed)", flush=True)


_progress = Progress(STAGES)


def _step(title: str) -> None:
    _progress.stage(title)


def _http_get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _show_stack(cloud: LocalCloud, stack: DeployedStack) -> None:
    resources = cloud.session.client("cloudformation").describe_stack_resources(StackName=stack.stack_name)
    kinds = Counter(r["ResourceType"] for r in resources["StackResources"])
    print(f"stack {stack.stack_name}: {sum(kinds.values())} resources")
    for kind, count in sorted(kinds.items()):
        print(f"  {count:>3}  {kind}")
    print("outputs:")
    for key, value in sorted(stack.outputs.items()):
        print(f"  {key:<26} {value}")
    for warning in stack.warnings:
        print(f"  warning: {warning}")


def run_demo() -> int:
    global _progress
    _progress = Progress(STAGES)
    started = _progress.started
    _step("synthesize the CDK app (in-process, no Docker, cdk-nag AwsSolutions checks on)")
    synthesized = synthesize(build_local_app)
    print(
        f"template: {len(synthesized.template['Resources'])} resources, "
        f"{len(synthesized.assets.get('files', {}))} assets"
    )

    with LocalCloud.in_process(inbox_path=LOCAL_DIR / "demo-inbox.jsonl") as cloud:
        _step("deploy it into the local cloud (moto), as `cdk deploy` would into AWS")
        deploy_started = time.perf_counter()
        stack = cloud.deploy(synthesized)
        print(f"deployed in {time.perf_counter() - deploy_started:.2f} s")
        _show_stack(cloud, stack)

        _step("what a user finds with the AWS CLI")
        s3 = cloud.session.client("s3")
        print("buckets:", ", ".join(b["Name"] for b in s3.list_buckets()["Buckets"]))
        alarms = cloud.session.client("cloudwatch").describe_alarms()["MetricAlarms"]
        # CloudWatch's first evaluation moves every alarm from INSUFFICIENT_DATA to OK, mailing each
        # OK action; done quietly here so the mails later in the demo are the ones that matter.
        cloud.inbox.echo = False
        cloud.evaluate_alarms()
        cloud.inbox.echo = True
        alarms = cloud.session.client("cloudwatch").describe_alarms()["MetricAlarms"]
        print(f"alarms ({len(alarms)}), each notifying the alerts topic:")
        for alarm in alarms:
            print(f"  {alarm['StateValue']:<17} {alarm['AlarmDescription']}")

        _step("call the HTTPS API through the local gateway and the function URL, signed and unsigned")
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id)
        function_urls = cloud.serve_stack_function_urls(stack)
        door = FrontDoor(function_urls[stack.outputs["PredictFunctionUrl"]], cloud.session.region)
        api_url = gateway.url("prod") + "/"
        target = Target({**stack.outputs, "ApiUrl": api_url}, region=cloud.session.region)
        from mlopsctl.api import call

        print(
            f'curl --aws-sigv4 "aws:amz:{cloud.session.region}:execute-api" --user testing:testing {api_url}v1/health'
        )
        print(f"  -> {json.dumps(call(target, 'GET', '/v1/health'))}")
        status, body = _http_get(api_url + "v1/health", {})
        print(f"unsigned -> {status} {json.dumps(body)}")
        refused, answer = _http_post(door.url("v1/models/breast-cancer/predict"), {"instances": []}, {})
        print(f"the predict function URL ({door.base}), unsigned -> {refused} {json.dumps(answer)}")
        if status != 401 or refused != 403:
            print("error: the API answered without a signature")
            return 1
        _ingestion_stage(cloud, stack)
        _training_stage(cloud, stack)
        _serving_stage(door)
        _registry_stage(cloud, stack, api_url, door)
        _drift_stage(cloud, stack, door)
        _ground_truth_stage(cloud, stack, api_url, door)
        _ab_stage(cloud, stack, api_url, door)
        _import_stage(cloud, stack, api_url)
        target = Target({**stack.outputs, "ApiUrl": gateway.url("prod") + "/"}, region=cloud.session.region)
        report = _lifecycle_stage(target)
        outputs = cloud.outputs_file(LOCAL_DIR / "demo-outputs.json", api_url=api_url, function_urls=function_urls)
        _summary_stage(cloud, stack, report, outputs)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")
    return 0


def _ingestion_stage(cloud: LocalCloud, stack: DeployedStack) -> None:
    import io

    from sklearn.datasets import load_breast_cancer

    from mlops.contracts import draft_contract, render_contract_yaml

    s3 = cloud.session.client("s3")
    cloud.session.client("sns").subscribe(
        TopicArn=stack.outputs["AlertsTopicArn"], Protocol="email", Endpoint="data-team@example.com"
    )
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    _step("draft a data contract from a sample and deploy it (mlops contract draft / deploy)")
    contract = draft_contract(frame, dataset="breast-cancer", label="target")
    text = render_contract_yaml(contract)
    print("\n".join(text.splitlines()[:16]) + "\n  …")
    s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key="contracts/breast-cancer.yaml", Body=text.encode())

    _step("upload a clean file: it becomes an immutable, content-addressed dataset version")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    s3.put_object(
        Bucket=stack.outputs["RawBucketName"], Key="raw/breast-cancer/clinic-a.csv", Body=buffer.getvalue().encode()
    )
    cloud.settle()
    curated = s3.list_objects_v2(Bucket=stack.outputs["CuratedBucketName"]).get("Contents", [])
    for obj in curated:
        print(f"  s3://{stack.outputs['CuratedBucketName']}/{obj['Key']}  ({obj['Size']:,} bytes)")

    _step("upload a broken file: it goes to quarantine with a report, and the data team gets a mail")
    broken = frame.copy()
    broken.loc[[3, 17], "mean_radius"] = -5.0
    broken.loc[40, "mean_texture"] = None
    broken["notes"] = "typed by hand"
    s3.put_object(
        Bucket=stack.outputs["RawBucketName"],
        Key="raw/breast-cancer/clinic-b.csv",
        Body=broken.to_csv(index=False).encode(),
    )
    cloud.settle()
    quarantine = stack.outputs["QuarantineBucketName"]
    # The mail above carries the validation summary; it is not printed a second time here.
    for obj in s3.list_objects_v2(Bucket=quarantine).get("Contents", []):
        print(f"  s3://{quarantine}/{obj['Key']}")
    print(f"  ({len(cloud.inbox.messages())} notification(s) delivered to the local inbox)")
    _report_page(s3, stack.outputs["ArtifactsBucketName"], "breast-cancer/clinic-b.csv/")


def _report_page(s3: Any, artifacts: str, folder: str) -> None:
    """The rejected upload's report page (what the mail names), written under .local/ to open, as
    `mlops datasets page s3://…` writes it."""
    for key in _keys(s3, artifacts, VALIDATION_REPORTS_PREFIX + folder):
        if key.endswith(".html"):
            path = LOCAL_DIR / "reports" / key.removeprefix(VALIDATION_REPORTS_PREFIX).replace("/", "-")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=artifacts, Key=key)["Body"].read())
            print(f"  its report page: s3://{artifacts}/{key}")
            print(
                f"    written to {path.relative_to(PROJECT_ROOT)} ({path.stat().st_size:,} bytes, open it in a browser)"
            )


def _training_stage(cloud: LocalCloud, stack: DeployedStack) -> None:
    s3 = cloud.session.client("s3")
    sfn = cloud.session.client("stepfunctions")
    _step("deploy the training config and start the training pipeline (mlops config deploy / mlops train)")
    config = (PROJECT_ROOT / "configs" / "breast-cancer.yaml").read_bytes()
    s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key="configs/breast-cancer.yaml", Body=config)
    execution = _follow_training(sfn, stack, "demo-first-model", "demo")
    table = cloud.session.client("dynamodb")
    run = table.get_item(
        TableName=stack.outputs["RegistryTableName"], Key={"pk": {"S": "RUN#demo-first-model"}, "sk": {"S": "META"}}
    ).get("Item", {})
    if execution["status"] != "SUCCEEDED":
        print(f"  the run failed: {run.get('failure_reason', {}).get('S', execution.get('cause'))}")
        return
    registration = json.loads(execution["output"])["registration"]
    print("\n".join("  " + line for line in registration["message"].splitlines()))
    gates = json.loads(
        s3.get_object(
            Bucket=stack.outputs["ArtifactsBucketName"], Key="models/breast-cancer/runs/demo-first-model/gates.json"
        )["Body"].read()
    )
    for gate in gates["results"]:
        print(f"  {'✓' if gate['passed'] else '✗'} {gate['message']}")
    listing = s3.list_objects_v2(
        Bucket=stack.outputs["ArtifactsBucketName"], Prefix="models/breast-cancer/runs/demo-first-model/"
    )
    print("artifacts:")
    for obj in listing.get("Contents", []):
        if "/candidates/" not in obj["Key"]:
            print(f"  s3://{stack.outputs['ArtifactsBucketName']}/{obj['Key']}  ({obj['Size']:,} bytes)")


def _http_post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@dataclass(frozen=True)
class FrontDoor:
    """Where prediction requests go and how they prove who sends them: SigV4-signed (service lambda)
    to the predict function URL, or with the prediction key on the REST API (`front_door: rest`)."""

    base: str  # ends in /
    region: str
    key: str | None = None

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        sent = {"content-type": "application/json", **(headers or {})}
        if self.key is not None:
            sent["x-api-key"] = self.key
        else:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            request = AWSRequest(method="POST", url=url, data=data, headers=sent)
            SigV4Auth(Credentials("testing", "testing"), "lambda", self.region).add_auth(request)
            sent = dict(request.headers.items())
        return _http_post(url, body, sent)

    def curl(self, url: str, body: Any) -> str:
        """The same request as a person types it."""
        auth = (
            f"-H 'x-api-key: {self.key}'"
            if self.key is not None
            else f'--aws-sigv4 "aws:amz:{self.region}:lambda" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"'
        )
        return f"curl {auth} -H 'content-type: application/json' \\\n  -d '{json.dumps(body)}' \\\n  {url}"


@functools.cache
def _patients(rows: int) -> list[dict[str, float]]:
    """The last `rows` breast-cancer records as JSON rows (loaded once: the demo polls with them)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    return [{k: float(v) for k, v in r.items()} for r in frame.drop(columns=["target"]).tail(rows).to_dict("records")]


def _serving_stage(door: FrontDoor) -> None:
    _step("serve predictions over HTTPS through the function URL, signed (onnxruntime only, no scikit-learn)")
    url = door.url("v1/models/breast-cancer/predict")
    rows = _patients(3)
    print(door.curl(url, {"instances": rows[:1]}))
    status, answer = door.post(url, {"instances": rows})
    print(f"  -> {status}: model {answer.get('model')} v{answer.get('version')} ({answer.get('variant')})")
    for i, (label, probabilities) in enumerate(zip(answer["predictions"], answer["probabilities"], strict=True)):
        print(f"     row {i}: class {label}  probabilities {[round(p, 4) for p in probabilities]}")
    bad = [dict(rows[0], mean_radius="large"), {k: v for k, v in rows[1].items() if k != "mean_texture"}]
    status, answer = door.post(url, {"instances": bad})
    print(f"a request with a text value and a missing field -> {status} {answer['error']['message']}")
    for problem in answer["error"]["problems"]:
        print(f"     row {problem['row']} {problem['field']}: {problem['message']}")


def _wait_for_version(door: FrontDoor, version: int) -> None:
    """Promotions reach the predict function when its alias cache expires (5 s in the local cloud)."""
    started = time.perf_counter()
    while True:
        status, answer = door.post(door.url("v1/models/breast-cancer/predict"), {"instances": _patients(1)})
        if status != 200 or answer["version"] == version or time.perf_counter() - started > 40:
            break
        time.sleep(0.5)
    print(f"  the predict API answers with v{answer.get('version')} after {time.perf_counter() - started:.1f} s")


def _follow_training(sfn: Any, stack: DeployedStack, name: str, reason: str, *, quiet: bool = False) -> Any:
    """Run `name` of the training pipeline, printing each state it enters (unless quiet) as
    `mlops train` does, and how it ended. The demo names its runs itself (`demo-first-model`,
    `demo-retrain`): the stages after it read their artifacts under those names."""
    from mlops.training.start import TrainingRequest, start_training

    run = start_training(sfn, stack.outputs["TrainingStateMachineArn"], TrainingRequest("breast-cancer", reason), name)
    started = time.perf_counter()

    def show(label: str) -> None:
        print(f"  {time.perf_counter() - started:6.1f} s  {label}", flush=True)

    execution = follow_training(sfn, run.execution_arn, on_state=None if quiet else show, poll_seconds=0.3)
    assert execution is not None  # no timeout: it returns once the run has ended
    print(f"execution {name} {execution['status']} in {time.perf_counter() - started:.1f} s")
    return execution


def _registry_stage(cloud: LocalCloud, stack: DeployedStack, api_url: str, door: FrontDoor) -> None:
    from mlopsctl.api import call

    target = Target({**stack.outputs, "ApiUrl": api_url}, region=cloud.session.region)
    _step("retrain (a new version is gated against the champion), then read the registry over its API")
    _follow_training(cloud.session.client("stepfunctions"), stack, "demo-retrain", "scheduled retraining", quiet=True)
    model = call(target, "GET", "/v1/models/breast-cancer")["model"]
    versions = call(target, "GET", "/v1/models/breast-cancer/versions")["versions"]
    print("mlops models show breast-cancer")
    print("  aliases: " + ", ".join(f"{a}=v{i['version']}" for a, i in model["aliases"].items()))
    for version in versions:
        print(
            f"  v{version['version']}  {version['status']:<10} run {version['run_id']:<18} "
            f"roc_auc={version['metrics'].get('roc_auc', float('nan')):.4f}"
        )

    # The two runs side by side, as `mlops runs compare` prints them: what changed between them.
    from mlopsctl.runs_table import comparison_lines

    compared = call(target, "GET", "/v1/runs/demo-first-model/compare/demo-retrain")
    print("mlops runs compare demo-first-model demo-retrain --differences")
    for line in comparison_lines(compared, only_differences=True):
        print(f"  {line}")

    _wait_for_version(door, int(model["aliases"]["champion"]["version"]))

    _step("roll back the champion in one call (mlops rollback): predictions follow, then the audit trail")
    rolled = call(
        target, "POST", "/v1/models/breast-cancer/rollback", {"reason": "demo: pretend v2 misbehaves in production"}
    )["alias"]
    print(f"champion: v{rolled['previous_version']} -> v{rolled['version']}")
    _wait_for_version(door, int(rolled["version"]))
    from mlops.registry.views import audit_state

    for event in call(target, "GET", "/v1/models/breast-cancer/audit")["events"]:
        print(
            f"  {event['action']:<20} {audit_state(event.get('before')):<16} -> {audit_state(event.get('after')):<16} "
            f"by {event['actor'][:40]}: {event['reason']}"
        )


@dataclass(frozen=True)
class Answered:
    """A prediction the demo will later send the truth for: its request id, row and true class."""

    request_id: str
    row: int
    truth: int


def _truth(rows: int) -> list[int]:
    """The true classes of `_patients(rows)`."""
    from sklearn.datasets import load_breast_cancer

    return [int(t) for t in load_breast_cancer(as_frame=True).frame["target"].tail(rows)]


def _shifted_traffic(door: FrontDoor) -> tuple[list[Answered], int]:
    """The new scanner's patients (radius, area and perimeter read 1.6 times larger), predicted in
    requests of 50: each answer to label later, and how many values drew a warning."""
    shifted = [
        {k: v * 1.6 if ("radius" in k or "area" in k or "perimeter" in k) else v for k, v in r.items()}
        for r in _patients(400)
    ]
    warned = 0
    truth = _truth(400)
    answered: list[Answered] = []
    for start in range(0, len(shifted), 50):
        _, answer = door.post(door.url("v1/models/breast-cancer/predict"), {"instances": shifted[start : start + 50]})
        warned += len(answer.get("warnings", []))
        answered += [
            Answered(answer["request_id"], row, truth[start + row]) for row in range(len(answer["predictions"]))
        ]
    return answered, warned


def _drift_stage(cloud: LocalCloud, stack: DeployedStack, door: FrontDoor) -> None:
    from datetime import UTC, datetime, timedelta

    _step("traffic shifts (larger tumours: a new scanner?), the drift schedule fires")
    rows = _patients(400)
    _, warned = _shifted_traffic(door)
    print(f"  400 shifted rows predicted ({warned} values outside the contract's range, answered with warnings)")
    from sklearn.datasets import load_breast_cancer

    # Labelled data keeps arriving: retraining learns from every accepted dataset version (a run on
    # the champion's own data would only reproduce the champion, so drift alone starts none). New
    # patients, not copies of the first upload's rows: a row already uploaded counts once.
    labelled = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    newcomers = labelled.sample(n=400, random_state=11).assign(mean_texture=lambda f: f.mean_texture * 1.001)
    cloud.session.client("s3").put_object(
        Bucket=stack.outputs["RawBucketName"],
        Key="raw/breast-cancer/clinic-c.csv",
        Body=newcomers.to_csv(index=False).encode(),
    )
    cloud.settle()
    print("  400 newly labelled rows uploaded (raw/breast-cancer/clinic-c.csv): a new dataset version")
    time.sleep(5.5)  # the local cloud writes a capture batch once it is 5 s old, on the next request
    door.post(door.url("v1/models/breast-cancer/predict"), {"instances": rows[:1]})
    time.sleep(1.0)
    cloud.fire_schedule(cloud.schedule_targeting("DriftChecker"))
    import boto3

    from mlops.registry.models import ModelRegistry

    table = boto3.resource("dynamodb", region_name=cloud.session.region).Table(stack.outputs["RegistryTableName"])

    result = ModelRegistry(table).drift_results("breast-cancer", limit=1)[0]
    print(
        f"drift check: {result['rows']} rows, drift share {float(result['drift_share']):.2f}, "
        f"dataset drift: {result['dataset_drift']}"
    )
    bucket = stack.outputs["ArtifactsBucketName"]
    report = json.loads(cloud.session.client("s3").get_object(Bucket=bucket, Key=result["report_key"])["Body"].read())
    print(f"  {_drift_count(report)}")
    print(f"  drifted features: {', '.join(result['drifted_features'])}")
    print(f"  report: s3://{bucket}/{result['report_page']}")
    transitions = cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1))
    for transition in transitions:
        if transition.new_state == "ALARM":
            print(f"  alarm {transition.alarm_name}: ALARM")
    print(f"  retraining: {result['retraining']['reason']}")
    arn = result.get("execution_arn")
    if arn:
        sfn = cloud.session.client("stepfunctions")
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.3)
        print(f"  retraining execution {execution['name']}: {execution['status']}")


def _performance_check(cloud: LocalCloud, stack: DeployedStack, door: FrontDoor) -> dict[str, Any]:
    """Fire the hourly performance schedule; the newest check's registry row."""
    import boto3

    from mlops.registry.models import ModelRegistry

    time.sleep(5.5)  # the local cloud writes a capture batch once it is 5 s old, on the next request
    door.post(door.url("v1/models/breast-cancer/predict"), {"instances": _patients(1)})
    time.sleep(1.0)
    cloud.fire_schedule(cloud.schedule_targeting("PerformanceChecker"))
    table = boto3.resource("dynamodb", region_name=cloud.session.region).Table(stack.outputs["RegistryTableName"])
    return ModelRegistry(table).performance_results("breast-cancer", limit=1)[0]


def _ground_truth_stage(cloud: LocalCloud, stack: DeployedStack, api_url: str, door: FrontDoor) -> None:
    from datetime import UTC, datetime, timedelta

    _step("the truth comes back: labels by API and by file, the performance check, the alarm and the mail")
    feedback_url = door.url("v1/models/breast-cancer/feedback")
    mailed = len(cloud.inbox.messages())
    # The retrained champion answers the new scanner's patients too (once the predict function's alias
    # cache, 5 s in the local cloud, has seen the promotion); later, their outcomes come back.
    time.sleep(5.5)
    answered, _ = _shifted_traffic(door)
    print("  the retrained champion answers 400 more of the new scanner's patients; their outcomes come back")
    by_api, by_file = answered[:300], answered[300:]
    body = {"labels": [{"request_id": a.request_id, "row": a.row, "label": a.truth} for a in by_api]}
    shown = {"labels": body["labels"][:1]}
    print(door.curl(feedback_url, shown))
    status, answer = door.post(feedback_url, body)
    print(f"  -> {status}: {answer.get('accepted')} labels accepted, refused {answer.get('refused')}")
    bad = {"labels": [{"request_id": by_api[0].request_id, "row": 0, "label": "benign?"}]}
    status, answer = door.post(feedback_url, bad)
    problem = (answer.get("error", {}).get("problems") or [{}])[0]
    print(f"  a label that is no class -> {status}: {problem.get('field')} {problem.get('message')}")
    csv_text = "request_id,row,label\n" + "".join(f"{a.request_id},{a.row},{a.truth}\n" for a in by_file)
    cloud.session.client("s3").put_object(
        Bucket=stack.outputs["RawBucketName"],
        Key="feedback/breast-cancer/clinic-c-outcomes.csv",
        Body=csv_text.encode(),
    )
    cloud.settle()
    print(f"  {len(by_file)} more labels uploaded as s3://…/feedback/breast-cancer/clinic-c-outcomes.csv")
    check = _performance_check(cloud, stack, door)
    for variant in check["variants"]:
        accuracy = variant["metrics"].get("accuracy") or {}
        print(
            f"  v{variant['version']} {variant['variant']}: accuracy {float(accuracy.get('value') or 0):.3f} "
            f"[{float(accuracy.get('low') or 0):.3f}, {float(accuracy.get('high') or 0):.3f}] on "
            f"{variant['labelled']} labelled rows (test split {float(accuracy.get('test') or 0):.3f}), "
            f"{variant['status'].replace('_', ' ')}"
        )
    for transition in cloud.evaluate_alarms(datetime.now(UTC) + timedelta(minutes=1)):
        if transition.new_state == "ALARM":
            print(f"  alarm {transition.alarm_name}: ALARM")
    mail = next((m for m in cloud.inbox.messages()[mailed:] if m.subject.startswith("Performance")), None)
    if mail is not None:
        print(f"  mail: {mail.subject}")
    feedback = check.get("feedback") or {}
    print(f"  feedback: {feedback.get('detail', 'none written')}")
    written = str(feedback.get("key") or "")
    if written:
        quarantine = stack.outputs["QuarantineBucketName"]
        name = written.rsplit("/", 1)[-1]
        if any(k.endswith("/" + name) for k in _keys(cloud.session.client("s3"), quarantine)):
            print(
                "  ingestion checked it against the contract, as any upload: quarantined, the new scanner's values "
                "are outside the contract's ranges (if they are real, widen the contract and the rows become a "
                "dataset version)"
            )
        else:
            print("  ingestion checked it against the contract, as any upload: a new dataset version")
    print(f"  retraining: {(check.get('retraining') or {}).get('summary', 'none')}")
    print(f"  report: s3://{stack.outputs['ArtifactsBucketName']}/{check['report_page']}")


def _ab_stage(cloud: LocalCloud, stack: DeployedStack, api_url: str, door: FrontDoor) -> None:
    """A version whose offline gates passed but whose training labels were inverted by an export bug
    (its test split was inverted too, so its offline figures look fine) goes to a 50 % canary; the
    truth for its answers comes back, and the A/B check rolls it back."""
    from sklearn.datasets import load_breast_cancer

    from mlopsctl.api import call

    target = Target({**stack.outputs, "ApiUrl": api_url}, region=cloud.session.region)
    _step("a canary judged on outcomes: the A/B check rolls back a version its offline gates let through")
    mailed = len(cloud.inbox.messages())
    s3 = cloud.session.client("s3")
    artifacts, raw = stack.outputs["ArtifactsBucketName"], stack.outputs["RawBucketName"]
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    exported = frame.sample(n=400, random_state=23).assign(mean_texture=lambda f: f.mean_texture * 1.002)
    exported["target"] = 1 - exported["target"]  # the export bug: every label inverted
    s3.put_object(Bucket=raw, Key="raw/breast-cancer/partner-export.csv", Body=exported.to_csv(index=False).encode())
    cloud.settle()
    config_key = "configs/breast-cancer.yaml"
    config = (PROJECT_ROOT / config_key).read_bytes()
    # This one run asks for a person's approval instead of promoting itself (then the config is restored).
    s3.put_object(Bucket=artifacts, Key=config_key, Body=config.replace(b"promotion: auto", b"promotion: manual"))
    import boto3

    from mlops.datasets.records import DatasetRecords

    table = boto3.resource("dynamodb", region_name=cloud.session.region).Table(stack.outputs["RegistryTableName"])
    newest = DatasetRecords(table).latest_dataset_version("breast-cancer")  # the partner's export
    assert newest is not None
    from mlops.training.start import TrainingRequest, start_training

    run = start_training(
        cloud.session.client("stepfunctions"),
        stack.outputs["TrainingStateMachineArn"],
        TrainingRequest("breast-cancer", "demo: the partner's export only", dataset_version=newest.version),
        "demo-partner-export",
    )
    execution = follow_training(cloud.session.client("stepfunctions"), run.execution_arn, poll_seconds=0.3)
    s3.put_object(Bucket=artifacts, Key=config_key, Body=config)
    versions = call(target, "GET", "/v1/models/breast-cancer/versions")["versions"]
    weak = max(versions, key=lambda v: int(v["version"]))
    print(
        f"  {execution['name'] if execution else run.run_id}: v{weak['version']} {weak['status']}, offline accuracy "
        f"{float(weak['metrics'].get('accuracy', 0)):.3f} on its own (inverted) test split: the gates pass"
    )
    call(target, "POST", f"/v1/models/breast-cancer/versions/{weak['version']}/approve", {"reason": "demo: try it"})
    alias = call(
        target,
        "PUT",
        "/v1/models/breast-cancer/aliases/challenger",
        {
            "version": int(weak["version"]),
            "reason": "demo: canary the partner-export model",
            "rollout": {"mode": "canary", "weight": 0.5},
        },
    )["alias"]
    print(f"  mlops promote breast-cancer {weak['version']} --canary 0.5  -> challenger v{alias['version']}")
    time.sleep(5.5)  # the predict function's alias cache (5 s in the local cloud)
    rows, truth = _patients(440), _truth(440)
    labels: list[dict[str, Any]] = []
    answered_by: Counter[str] = Counter()
    for start in range(0, len(rows), 4):  # 75 clients, 4 patients each; a client's key keeps its version
        headers = {"x-request-key": f"clinic-{start // 4}"}
        predict_url = door.url("v1/models/breast-cancer/predict")
        while (reply := door.post(predict_url, {"instances": rows[start : start + 4]}, headers))[0] == 429:
            time.sleep(0.5)  # throttled: back off, as a client should
        answer = reply[1]
        answered_by[f"v{answer['version']} {answer['variant']}"] += len(answer["predictions"])
        labels += [
            {"request_id": answer["request_id"], "row": r, "label": truth[start + r]}
            for r in range(len(answer["predictions"]))
        ]
    print(f"  440 rows answered: {dict(answered_by)}; the truth for each comes back")
    door.post(door.url("v1/models/breast-cancer/feedback"), {"labels": labels})
    check = _performance_check(cloud, stack, door)
    ab = check.get("ab_test") or {}
    print(f"  A/B: {ab.get('text', 'no comparison')}")
    canary = check.get("canary") or {}
    print(f"  canary: {canary.get('action', '-')}")
    aliases = call(target, "GET", "/v1/models/breast-cancer")["model"]["aliases"]
    print("  aliases now: " + ", ".join(f"{a}=v{i['version']}" for a, i in sorted(aliases.items())))
    mail = next((m for m in cloud.inbox.messages()[mailed:] if m.subject.startswith("A/B")), None)
    if mail is not None:
        print(f"  mail: {mail.subject}")


def _import_stage(cloud: LocalCloud, stack: DeployedStack, api_url: str) -> None:
    """A model trained in this process (elsewhere, as far as the platform knows), exported with
    skl2onnx, registered through the training pipeline awaiting approval, then approved; then a text
    file renamed .onnx, refused."""
    import hashlib

    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops.datasets.records import DatasetRecords
    from mlops.names import import_key
    from mlops.training.start import ImportedFile, TrainingRequest, start_training
    from mlopsctl.api import call

    _step("bring your own model: one trained outside the platform, imported (mlops models import)")
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    features = frame.drop(columns="target").astype("float32")
    columns = ColumnTransformer([("scale", StandardScaler(), list(features.columns))])
    model = Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=5000))])
    model.fit(features, frame["target"])
    exported = to_onnx(model, features[:1], options={LogisticRegression: {"zipmap": False}}).SerializeToString()
    target = Target({**stack.outputs, "ApiUrl": api_url}, region=cloud.session.region)
    records = DatasetRecords(target.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))
    version = records.all_dataset_versions("breast-cancer")[-1].version
    s3, sfn = cloud.session.client("s3"), cloud.session.client("stepfunctions")
    for name, data in (("logistic.onnx", exported), ("notes.onnx", b"feature,weight\nmean_radius,0.5\n")):
        digest = hashlib.sha256(data).hexdigest()
        imported = ImportedFile(import_key("breast-cancer", digest, "onnx"), digest, name, "onnx")
        s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=imported.key, Body=data)
        print(f"mlops models import breast-cancer {name} --dataset-version {version[:12]}")
        request = TrainingRequest("breast-cancer", "demo: a model trained elsewhere", version, imported=imported)
        run = start_training(sfn, stack.outputs["TrainingStateMachineArn"], request, f"demo-import-{name[:-5]}")
        execution = follow_training(sfn, run.execution_arn, poll_seconds=0.3)
        assert execution is not None
        if execution["status"] == "SUCCEEDED":
            registration = json.loads(execution["output"])["registration"]
            print("\n".join("  " + line for line in registration["message"].splitlines()))
            card = call(target, "GET", f"/v1/models/breast-cancer/versions/{registration['version']}")["model_card"]
            file = card["lineage"]["imported_file"]
            print(
                f"  lineage: {card['lineage']['origin']} from {file['file_name']} ({file['format']}, sha256 "
                f"{file['sha256'][:12]}), stored at s3://{stack.outputs['ArtifactsBucketName']}/{file['key']}"
            )
            # This model was fitted on all 569 rows, the test split among them: a user approves only a
            # model fitted on other data; the demo approves it anyway, to show the step, and says so.
            number, reason = registration["version"], "demo: the step shown (this one saw the test split)"
            print(f'mlops models approve breast-cancer {number} --reason "{reason}"')
            approved = call(target, "POST", f"/v1/models/breast-cancer/versions/{number}/approve", {"reason": reason})[
                "version"
            ]
            print(f"  breast-cancer v{number} approved: now {approved['status']} (the champion stays where it was)")
        else:
            item = records.table.get_item(Key={"pk": f"RUN#{run.run_id}", "sk": "META"}).get("Item", {})
            print(f"  refused, nothing registered: {item.get('failure_reason', execution.get('cause'))}")


def _drift_count(report: dict[str, Any]) -> str:
    """What the drift share counts: the features, and the prediction as one more when configured.
    The mail's `10 of 31 … drifted` and the retraining line's `dataset drift in 9 features` then agree."""
    features = len(report["features"])
    drifted = len(report["drifted_features"])
    prediction = report.get("prediction")
    if not (report["config"].get("prediction_drift") and prediction is not None):
        return f"{drifted} of {features} features drifted"
    if prediction.get("drifted"):
        return (
            f"{drifted + 1} of {features + 1} drifted: {drifted} of the {features} features and the prediction "
            "(counted as one more feature in the drift share; the retraining reason names the features only)"
        )
    return f"{drifted} of {features + 1} drifted: {drifted} of the {features} features (the prediction did not)"


def _lifecycle_stage(target: Target) -> Path:
    from mlopsctl.lifecycle import write_lifecycle_report

    _step("write the model's lifecycle report (mlops report breast-cancer)")
    written = write_lifecycle_report(target, "breast-cancer", LOCAL_DIR / "reports" / "breast-cancer.html")
    lifecycle = written.lifecycle
    aliases = ", ".join(f"{a.name}=v{a.version}" for a in lifecycle.aliases) or "none"
    print(
        f"  {len(lifecycle.versions)} versions (aliases: {aliases}), {len(lifecycle.drift_checks)} drift check(s), "
        f"{len(lifecycle.audit)} audit event(s); evaluation of v{lifecycle.evaluation_version}"
    )
    print(f"  {written.path.relative_to(PROJECT_ROOT)}  ({written.path.stat().st_size:,} bytes, open it in a browser)")
    return written.path


def _keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


def _summary_stage(cloud: LocalCloud, stack: DeployedStack, report: Path, outputs: Path) -> None:
    """Every artifact the demo made and where it is: S3 in the local cloud, files under .local/."""
    _step("what the demo left behind, and where")
    s3 = cloud.session.client("s3")
    raw, curated = stack.outputs["RawBucketName"], stack.outputs["CuratedBucketName"]
    quarantine, artifacts = stack.outputs["QuarantineBucketName"], stack.outputs["ArtifactsBucketName"]
    runs = sorted({k.split("/")[3] for k in _keys(s3, artifacts, f"{MODELS_PREFIX}breast-cancer/runs/")})
    capture = _keys(s3, artifacts, CAPTURE_PREFIX)
    rows: list[tuple[str, list[str]]] = [
        ("raw uploads", [f"s3://{raw}/{k}" for k in _keys(s3, raw, RAW_PREFIX)]),
        (
            "dataset version",
            [
                f"s3://{curated}/{k}"
                for k in _keys(s3, curated, DATASETS_PREFIX)
                if k.endswith(("manifest.json", ".npz"))
            ],
        ),
        ("quarantine", [f"s3://{quarantine}/{k}" for k in _keys(s3, quarantine)]),
        ("validation reports", [f"s3://{artifacts}/{k}" for k in _keys(s3, artifacts, VALIDATION_REPORTS_PREFIX)]),
        (
            "training runs",
            [
                f"s3://{artifacts}/models/breast-cancer/runs/{run}/ (model.onnx, report.html, parity.json, …)"
                for run in runs
            ],
        ),
        (
            "registry",
            [
                f"DynamoDB {stack.outputs['RegistryTableName']}: pk MODEL#breast-cancer (versions, aliases, "
                "audit, drift checks), pk RUN#<run> (runs)"
            ],
        ),
        ("capture", [f"s3://{artifacts}/capture/breast-cancer/ ({len(capture)} batch file(s))"] if capture else []),
        (
            "drift reports",
            [f"s3://{artifacts}/{k}" for k in _keys(s3, artifacts, DRIFT_REPORTS_PREFIX) if k.endswith(".html")],
        ),
        ("lifecycle report", [str(report.relative_to(PROJECT_ROOT))]),
        ("stack outputs", [str(outputs.relative_to(PROJECT_ROOT))]),
        (
            "mail inbox",
            [f"{(LOCAL_DIR / 'demo-inbox.jsonl').relative_to(PROJECT_ROOT)} ({len(cloud.inbox.messages())} mails)"],
        ),
    ]
    for label, places in rows:
        print(f"  {label:<19} {places[0] if places else '(none)'}")
        for place in places[1:]:
            print(f"  {'':<19} {place}")


def main() -> int:
    """`make demo`: quiet logging, and the local cloud's own errors as one line and exit code 2
    (as `python -m localcloud up` reports them)."""
    from localcloud.__main__ import configure_logging
    from localcloud.apigateway import GatewayError
    from localcloud.cloud import LocalCloudError
    from localcloud.deploy import DeployError

    configure_logging()
    try:
        return run_demo()
    except (LocalCloudError, DeployError, GatewayError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
