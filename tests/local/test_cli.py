"""The `mlops` command line against a running local cloud (server mode), as a person uses it."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlopsctl.main import EXIT_ERROR, EXIT_OK, EXIT_REJECTED, main

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def outputs(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One deployment for the module: training runs are the costly part, so tests share them."""
    state = tmp_path_factory.mktemp("cloud")
    with LocalCloud.server(port=_free_port(), inbox_path=state / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id, port=_free_port())  # the registry API, as `make up` serves it
        function_urls = cloud.serve_stack_function_urls(stack)  # the predict front door, likewise
        yield cloud.outputs_file(state / "outputs.json", api_url=gateway.url("prod") + "/", function_urls=function_urls)


def _quiet(*argv: str) -> tuple[int, Any]:
    """`main` outside a test's capsys (module fixtures have none)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([*argv, "--json"])
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None


@pytest.fixture(scope="module")
def trained(outputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A breast-cancer model with one trained version: reused when an earlier test trained it."""
    target = ["--outputs", str(outputs)]
    if any(m["model"] == "breast-cancer" for m in _quiet("models", "list", *target)[1]["models"]):
        return outputs
    folder = tmp_path_factory.mktemp("data")
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    sample = folder / "patients.csv"
    frame.to_csv(sample, index=False)
    contract = folder / "breast-cancer.yaml"
    steps = [
        ("contract", "draft", str(sample), "--dataset", "breast-cancer", "--label", "target", "-o", str(contract)),
        ("contract", "deploy", str(contract), *target),
        ("config", "deploy", str(PROJECT_ROOT / "configs" / "breast-cancer.yaml"), *target),
        ("upload", str(sample), "--dataset", "breast-cancer", "--wait", *target),
        ("train", "--dataset", "breast-cancer", *target),
    ]
    for step in steps:
        code, document = _quiet(*step)
        assert code == EXIT_OK, (step, document)
    return outputs


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_draft_check_deploy_upload_and_train(outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    sample = tmp_path / "patients.csv"
    frame.to_csv(sample, index=False)
    contract = tmp_path / "breast-cancer.yaml"
    code, drafted = _run(
        capsys, "contract", "draft", str(sample), "--dataset", "breast-cancer", "--label", "target", "-o", str(contract)
    )
    assert (code, drafted["columns"]) == (EXIT_OK, 31)
    assert _run(capsys, "contract", "check", str(contract), str(sample))[0] == EXIT_OK
    target = ["--outputs", str(outputs)]
    assert _run(capsys, "contract", "deploy", str(contract), *target)[0] == EXIT_OK
    capsys.readouterr()
    assert main(["train", "--dataset", "breast-cancer", *target]) == EXIT_ERROR  # no config yet: named, not started
    assert "mlops config deploy configs/breast-cancer.yaml" in capsys.readouterr().err
    assert _run(capsys, "config", "deploy", str(PROJECT_ROOT / "configs" / "breast-cancer.yaml"), *target)[0] == 0

    code, outcome = _run(capsys, "upload", str(sample), "--dataset", "breast-cancer", "--wait", *target)
    assert (code, outcome["status"]) == (EXIT_OK, "accepted")
    broken = tmp_path / "broken.csv"
    frame.assign(mean_radius=-1.0).to_csv(broken, index=False)
    saved = tmp_path / "broken.html"
    code, outcome = _run(
        capsys, "upload", str(broken), "--dataset", "breast-cancer", "--wait", "--page", str(saved), *target
    )
    assert (code, outcome["status"]) == (EXIT_REJECTED, "rejected")
    assert any("mean_radius" in failure for failure in outcome["first_failures"])
    # The report page: its S3 URI (what the rejection mail names) and the page written here to open.
    page = outcome["report_page"]
    assert page["uri"].startswith("s3://") and page["uri"].endswith(f"/{outcome['report_key'][:-5]}.html")
    assert page["file"] == str(saved) and "569 (100 %)" in saved.read_text()  # every row below the minimum
    capsys.readouterr()
    assert main(["datasets", "page", page["uri"], "-o", str(tmp_path / "again.html"), *target]) == EXIT_OK
    assert f"written to {tmp_path / 'again.html'}" in capsys.readouterr().out
    assert (tmp_path / "again.html").read_bytes() == saved.read_bytes()
    json_uri = page["uri"].removesuffix(".html") + ".json"  # the mail's JSON report names the same page
    assert main(["datasets", "page", json_uri, "-o", str(tmp_path / "from-json.html"), *target]) == EXIT_OK
    assert (tmp_path / "from-json.html").read_bytes() == saved.read_bytes()
    assert main(["datasets", "page", f"s3://bucket/raw/breast-cancer/{broken.name}", *target]) == EXIT_ERROR
    assert "is not a report page" in capsys.readouterr().err

    assert main(["train", "--dataset", "breast-cancer", *target]) == EXIT_OK  # as a person reads it
    followed = capsys.readouterr().out
    for candidate in ("logistic", "forest", "histogram-boosting", "boosting"):  # each Map iteration named
        assert f"  Fit candidate: {candidate}\n" in followed, followed
    gates = [line for line in followed.splitlines() if line.startswith(("  ✓ ", "  ✗ "))]
    assert gates and all(line.startswith("  ✓ ") for line in gates), followed  # each gate with its detail
    assert "no champion yet" in followed
    code, listed = _run(capsys, "runs", *target)
    assert (listed["runs"][0]["status"], listed["runs"][0]["version"]) == ("succeeded", 1)
    assert listed["runs"][0]["reason"] == "requested from the command line"


def test_clear_errors_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: x\nversion: 1\ncolumns:\n  - name: a\n    type: integer\n")
    assert main(["contract", "check", str(bad)]) == EXIT_ERROR
    assert "columns[0].type" in capsys.readouterr().err
    assert main(["upload", str(bad), "--dataset", "x", "--outputs", str(tmp_path / "none.json")]) == EXIT_ERROR
    assert "make up" in capsys.readouterr().err


def test_runs_report_and_models_show(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlopsctl.target import find_target

    target = ["--outputs", str(trained)]
    code, listed = _run(capsys, "runs", *target)
    assert code == EXIT_OK
    run = listed["runs"][0]
    assert (run["status"], run["dataset"], run["execution_status"]) == ("succeeded", "breast-cancer", "SUCCEEDED")
    assert run["version"] >= 1 and run["duration_seconds"] > 0
    assert _run(capsys, "runs", "--dataset", "no-such-dataset", *target)[1] == {"runs": []}

    code, details = _run(capsys, "runs", run["run_id"], *target)
    assert code == EXIT_OK
    states = [s["state"] for s in details["states"]]
    assert states[0] == "Prepare" and "Register" in states
    assert all(c["status"] in ("succeeded", "failed") and c["metric"] == "roc_auc" for c in details["candidates"])
    assert any(isinstance(c["value"], float) for c in details["candidates"])
    (selected,) = [c for c in details["candidates"] if c["selected"]]
    assert main(["runs", run["run_id"], *target]) == EXIT_OK
    text = capsys.readouterr().out
    for c in details["candidates"]:  # every value printed, an int 1 (DynamoDB's Decimal 1) included
        if c["value"] is not None:
            shown = f"{c['value']:.4g}" if isinstance(c["value"], float) else str(c["value"])
            assert f"roc_auc={shown}" in text, text
    assert f"  * {selected['name']:<20} succeeded" in text and "(* selected)" in text
    # Which dataset versions the run combined, each with its rows (one upload of 569 here).
    assert details["training_data"]["policy"] == "all" and details["training_data"]["rows"] == 569
    assert "  data (all): 569 rows, 0 duplicates dropped\n" in text
    assert f"    {details['dataset_version'][:12]}        569 rows        0 duplicates\n" in text
    assert main(["runs", *target]) == EXIT_OK
    table = capsys.readouterr().out.splitlines()
    header = table[0].split()
    assert header[:6] == ["RUN", "STATUS", "DATASET", "STARTED", "TOOK", "MODEL"] and header[-1] == "REASON"
    assert "ROC_AUC" in header  # the registered version's test metrics, one column each
    assert table[1].startswith(run["run_id"]) and table[1].endswith("requested from the command line")
    code, sorted_runs = _run(capsys, "runs", "--sort", "roc_auc", "--filter", "status=succeeded", *target)
    assert code == EXIT_OK and sorted_runs["runs"] and all(r["status"] == "succeeded" for r in sorted_runs["runs"])
    assert all("roc_auc" in r["metrics"] for r in sorted_runs["runs"])
    assert _run(capsys, "runs", "--filter", "roc_auc>1.5", *target)[1] == {"runs": []}
    assert main(["runs", "--filter", "roc_auc>1.5", *target]) == EXIT_OK
    assert "no run matches roc_auc>1.5 (of " in capsys.readouterr().out  # not "no training runs yet"
    code, worst_first = _run(capsys, "runs", "--sort=-roc_auc", "--filter", "status=succeeded", *target)
    assert code == EXIT_OK and [r["run_id"] for r in worst_first["runs"]] == [
        r["run_id"] for r in reversed(sorted_runs["runs"])
    ]
    assert main(["runs", "--sort", "no_such_column", *target]) == EXIT_ERROR
    assert "no column 'no_such_column'" in capsys.readouterr().err
    assert main(["runs", "no-such-run", *target]) == EXIT_ERROR
    assert "no training run 'no-such-run'" in capsys.readouterr().err

    assert main(["models", "show", "breast-cancer", *target]) == EXIT_OK
    version_line = capsys.readouterr().out.splitlines()[1]
    metrics_text, tags = version_line.split("logistic_regression", 1)[1].split("  tags: ")  # then its tags
    metrics = metrics_text.split()  # the selection metric, then by name
    assert "selected_candidate=" in tags
    assert metrics[0].startswith("roc_auc=") and metrics[1:] == sorted(metrics[1:])

    assert main(["--json", "drift", "breast-cancer", "--run", *target]) == EXIT_OK  # no traffic: too little data
    assert json.loads(capsys.readouterr().out)["checks"][0]["status"] == "insufficient_data"  # --json first
    assert main(["drift", "breast-cancer", *target]) == EXIT_OK
    drift_text = capsys.readouterr().out
    bucket = find_target(trained, None, None).output("ArtifactsBucketName")
    assert f"    report: s3://{bucket}/reports/drift/breast-cancer/" in drift_text
    monkeypatch.chdir(tmp_path)
    code, written = _run(capsys, "report", "breast-cancer", *target)
    assert code == EXIT_OK
    assert (written["path"], written["versions"], written["drift_checks"]) == ("reports/breast-cancer.html", 1, 1)
    page = (tmp_path / "reports" / "breast-cancer.html").read_text()
    deployment = find_target(trained, None, None)
    evaluation_key = next(
        v["artifacts"]["evaluation.json"]["key"]
        for v in _quiet("models", "show", "breast-cancer", *target)[1]["versions"]
        if v["version"] == written["champion"]
    )
    evaluation = json.loads(
        deployment.client("s3")
        .get_object(Bucket=deployment.output("ArtifactsBucketName"), Key=evaluation_key)["Body"]
        .read()
    )
    for row in evaluation["confusion_matrix"]["matrix"]:
        for count in row:
            assert f">{count:,}</td>" in page
    history = page.split("Version history", 1)[1].split("Drift over time", 1)[0]
    assert f"<td>v{written['champion']}</td><td><span class='badge champion'>champion</span>" in history
    assert "max abs probability diff" in page and "label agreement" in page
    assert 'aria-label="drift share over time"' in page and "insufficient_data" in page
    assert not any(asset in page for asset in ("src=", "<link", "<script", "url(")), "self-contained"
    # The one kind of link: each version to its run's report, copied beside the page.
    links = re.findall(r"href=['\"]([^'\"]*)['\"]", page)
    assert links and all(link.startswith("breast-cancer-runs/") for link in links), links
    assert all(b"Training report" in (tmp_path / "reports" / link).read_bytes() for link in links)

    output = tmp_path / "elsewhere" / "page.html"
    assert main(["report", "breast-cancer", "-o", str(output), *target]) == EXIT_OK
    assert str(output) in capsys.readouterr().out and output.exists()
    assert main(["report", "no-such-model", *target]) == EXIT_ERROR
    assert "no model named 'no-such-model'" in capsys.readouterr().err


def test_bench_runs_here_and_names_make_bench_for_missing_baselines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    code, results = _run(capsys, "bench", "drift", "--quick", "--out", str(tmp_path))
    assert code == EXIT_OK and results["quick"] is True
    assert {f["benchmark"] for f in results["figures"]} == {"drift"}
    assert (tmp_path / "results.md").exists()
    if importlib.util.find_spec("pandera") is None:
        assert main(["bench", "ingestion", "--quick", "--out", str(tmp_path)]) == EXIT_ERROR
        assert "make bench" in capsys.readouterr().err
    assert main(["bench", "no-such-benchmark"]) == EXIT_ERROR


def test_a_retried_rollback_is_refused_not_applied_twice(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--expected-version` makes promote and rollback safe to retry from scripts (after the report test:
    this one trains a second version)."""
    target = ["--outputs", str(trained)]
    code, outcome = _run(capsys, "train", "--dataset", "breast-cancer", "--reason", "second version", *target)
    assert code == EXIT_OK and outcome["promoted"], outcome
    second = outcome["version"]
    reason = ["--reason", "the new version misbehaves"]
    code, rolled = _run(capsys, "rollback", "breast-cancer", "--expected-version", str(second), *reason, *target)
    assert code == EXIT_OK and rolled["alias"]["version"] == second - 1
    # The same command again (a script's retry): refused with what the champion holds now, not a second rollback.
    assert main(["rollback", "breast-cancer", "--expected-version", str(second), *reason, *target]) == EXIT_REJECTED
    assert f"is version {second - 1}, not {second}" in capsys.readouterr().err
    promote = ["promote", "breast-cancer", str(second), "--expected-version", str(second - 1), *reason, *target]
    assert _run(capsys, *promote)[0] == EXIT_OK
    code, again = _run(capsys, *promote)  # repeated: already in place, so the same answer and no new audit event
    assert code == EXIT_OK and again["alias"]["version"] == second and again["changed"] is False
    assert main(promote) == EXIT_OK
    assert (
        capsys.readouterr().out
        == f"breast-cancer champion: already v{second}; nothing changed (no audit event written)\n"
    )
    events = _run(capsys, "models", "audit", "breast-cancer", *target)[1]["events"]
    champion_changes = [e["reason"] for e in events if e["action"] == "set_alias:champion"]
    # two auto promotions, one rollback, one promotion: the refused retry and the repeat wrote nothing
    assert len(champion_changes) == 4, champion_changes
    assert sum(r.startswith("rollback:") for r in champion_changes) == 1


def test_a_config_the_deployed_contract_cannot_serve_is_refused_by_field_before_any_upload(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3
    import yaml

    target = ["--outputs", str(trained)]
    outputs = json.loads(trained.read_text())
    (stack,) = outputs.values()
    s3 = boto3.client("s3", endpoint_url=stack["LocalCloudEndpoint"])
    deployed = s3.get_object(Bucket=stack["ArtifactsBucketName"], Key="configs/breast-cancer.yaml")["Body"].read()
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "breast-cancer.yaml").read_text())
    config.update(
        label="diagnosis",  # the contract calls it `target`
        features=["mean_radius", "mean_radiuss"],
        segment_column="mean_area",  # a float: no groups
        data={"versions": ["abcdefabcdef"]},  # no such dataset version
        candidates=[
            {"name": "forest", "estimator": "random_forest", "params": {"n_estimators": -5}},
            {"name": "logistic", "estimator": "logistic_regression", "search": {"grid": {"C": [1.0, 0.0]}}},
        ],
    )
    wrong = tmp_path / "breast-cancer.yaml"
    wrong.write_text(yaml.safe_dump(config))
    assert main(["config", "deploy", str(wrong), *target]) == EXIT_REJECTED
    refused = capsys.readouterr().err
    for fragment in (
        "label: no column 'diagnosis' in the contract (columns: mean_radius,",
        "features[1]: no column 'mean_radiuss' in the contract",
        "segment_column: 'mean_area' is a float column; segments are groups",
        "data.versions[0]: no accepted dataset version 'abcdefabcdef'",
        "candidates[0].params.n_estimators: The 'n_estimators' parameter of RandomForestClassifier must be an int "
        "in the range [1, inf). Got -5 instead.",
        "candidates[1].search.grid.C: The 'C' parameter of LogisticRegression must be a float in the range "
        "(0.0, inf]. Got 0.0 instead.",
    ):
        assert fragment in refused, refused
    not_a_date = tmp_path / "not-a-date" / "breast-cancer.yaml"
    not_a_date.parent.mkdir()
    not_a_date.write_text(yaml.safe_dump({**config, "data": {"since": "last tuesday"}}))
    assert main(["config", "deploy", str(not_a_date), *target]) == EXIT_ERROR
    assert "data.since: 'last tuesday' is not an ISO date" in capsys.readouterr().err
    after = s3.get_object(Bucket=stack["ArtifactsBucketName"], Key="configs/breast-cancer.yaml")["Body"].read()
    assert after == deployed, "a refused config uploads nothing"
    config.update(dataset="no-contract-yet", label="target", features=None, segment_column=None)
    config["candidates"] = config["candidates"][:1]
    config["candidates"][0]["params"] = {}
    unknown = tmp_path / "no-contract-yet.yaml"
    unknown.write_text(yaml.safe_dump(config))
    assert main(["config", "deploy", str(unknown), *target]) == EXIT_REJECTED
    assert "dataset: no contract deployed for 'no-contract-yet': run `mlops contract deploy` first" in (
        capsys.readouterr().err
    )


def _rows(count: int) -> Any:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    return frame.head(count)


def test_predict_prints_every_problem_and_reads_csv_and_json_lines(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--outputs", str(trained)]
    frame = _rows(5)
    csv_file = tmp_path / "rows.csv"
    frame.to_csv(csv_file, index=False)  # with the label column, which the model does not take
    assert main(["predict", "breast-cancer", str(csv_file), *target]) == EXIT_OK
    captured = capsys.readouterr()
    assert "left out column(s) the model does not take: target" in captured.err
    assert [line.split()[:2] for line in captured.out.splitlines()[1:6]] == [["row", f"{i}:"] for i in range(5)]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(frame.drop(columns="target").to_json(orient="records", lines=True).splitlines()))
    code, answer = _run(capsys, "predict", "breast-cancer", str(jsonl), *target)
    assert code == EXIT_OK and len(answer["predictions"]) == 5

    broken = frame.drop(columns="target").assign(mean_radius="large")  # a text value in every row
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"instances": broken.to_dict("records")}))
    assert main(["predict", "breast-cancer", str(bad), *target]) == EXIT_ERROR
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: 400 invalid_input: 5 problems in 5 rows")
    assert [line.split(":")[0] for line in err[1:]] == [f"  row {i} mean_radius" for i in range(5)]
    code, body = _run(capsys, "predict", "breast-cancer", str(bad), *target)  # --json: the whole body
    assert code == EXIT_ERROR and body["status"] == 400 and body["error"]["problem_count"] == 5
    assert [(p["row"], p["field"]) for p in body["error"]["problems"]] == [(i, "mean_radius") for i in range(5)]
    # From a CSV, a problem also names the file line its row starts on (the header is line 1).
    bad_csv = tmp_path / "bad.csv"
    broken.iloc[:2].to_csv(bad_csv, index=False)
    assert main(["predict", "breast-cancer", str(bad_csv), *target]) == EXIT_ERROR
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err[1:]] == [f"  row {i} (line {i + 2}) mean_radius" for i in range(2)]


def test_datasets_show_versions_and_a_prefix_names_one_before_any_run_starts(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlopsctl.target import find_target

    target = ["--outputs", str(trained)]
    code, listed = _run(capsys, "datasets", "list", *target)
    (summary,) = [d for d in listed["datasets"] if d["dataset"] == "breast-cancer"]
    assert code == EXIT_OK and summary["versions"] >= 1 and summary["rows"] >= 569
    code, shown = _run(capsys, "datasets", "show", "breast-cancer", *target)
    assert code == EXIT_OK
    version = next(v for v in shown["versions"] if v["rows"] == 569)
    assert version["contract_version"] == 1
    trained_on = version["trained_on"]
    assert trained_on and all(t["model"] == "breast-cancer" for t in trained_on if t["model_version"] is not None)
    assert main(["datasets", "show", "breast-cancer", *target]) == EXIT_OK
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["VERSION", "CREATED", "ROWS", "CONTRACT", "TRAINED"]
    assert any(line.startswith(version["version"][:12]) and "breast-cancer v" in line for line in text[1:])
    code, one = _run(capsys, "datasets", "show", "breast-cancer", "--version", version["version"][:6], *target)
    assert code == EXIT_OK and one["version"] == version["version"]

    deployment = find_target(trained, None, None)
    sfn = deployment.client("stepfunctions")
    machine = deployment.output("TrainingStateMachineArn")
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    assert main(["train", "--dataset", "breast-cancer", "--dataset-version", "ffffffffffff", *target]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no accepted version of dataset 'breast-cancer' starts with 'ffffffffffff'" in err
    assert version["version"][:12] in err  # the candidates
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before, "no run started"


def test_one_setting_serves_a_shell_and_stack_finds_the_local_gateway(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .local/outputs.json here
    assert main(["models", "list"]) == EXIT_ERROR
    assert "MLOPS_OUTPUTS" in capsys.readouterr().err
    monkeypatch.setenv("MLOPS_OUTPUTS", str(trained))
    code, listed = _run(capsys, "models", "list")
    assert code == EXIT_OK and any(m["model"] == "breast-cancer" for m in listed["models"])

    (stack_name, stack), *_ = json.loads(trained.read_text()).items()
    by_stack = ["--stack", stack_name, "--endpoint-url", stack["LocalCloudEndpoint"]]
    code, listed = _run(capsys, "models", "list", *by_stack)  # the gateway from $MLOPS_OUTPUTS's file
    assert code == EXIT_OK and any(m["model"] == "breast-cancer" for m in listed["models"])
    monkeypatch.delenv("MLOPS_OUTPUTS")
    assert _run(capsys, "datasets", "list", *by_stack)[0] == EXIT_OK  # no API needed: works as it is
    code, listed_runs = _run(capsys, "runs", "--limit", "1", *by_stack)  # the runs, without metric columns
    assert code == EXIT_OK and "metrics" not in listed_runs["runs"][0]
    assert main(["models", "list", *by_stack]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"stack {stack_name!r} is in the local cloud" in err and "--outputs" in err and "make up" not in err[:20]


def test_tags_set_through_the_api_filter_the_version_listing(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`models tag` through the signed registry API; its 400 printed as the API said it; `--tag` filters."""
    target = ["--outputs", str(trained)]
    assert main(["models", "tag", "breast-cancer", "1", "owner=ml", "stage=beta", *target]) == EXIT_OK
    said = capsys.readouterr().out.strip()  # with the tag training set (the selected candidate)
    assert said.startswith("breast-cancer v1 tags: ") and "owner=ml, " in said and said.endswith("stage=beta")
    many = [f"k{i}=v" for i in range(50)]  # as many as a version holds, so only the merge is past the limit
    assert main(["models", "tag", "breast-cancer", "1", *many, *target]) == EXIT_ERROR
    refused = capsys.readouterr().err
    assert refused.startswith("error: 400 invalid: breast-cancer v1 would hold ") and "at most 50" in refused
    code, listed = _run(capsys, "models", "list", "--tag", "owner=ml", "--tag", "stage=beta", *target)
    [model] = [m for m in listed["models"] if m["model"] == "breast-cancer"]
    assert code == EXIT_OK and [v["version"] for v in model["versions"]] == [1]
    assert main(["models", "show", "breast-cancer", "--tag", "owner=ops", *target]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[1:] == []
