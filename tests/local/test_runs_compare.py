"""Two training runs of the deployed pipeline compared and searched, through `mlops runs compare` /
`mlops runs search` and through the registry API they call, as a user coming from MLflow would:
the chosen hyperparameters side by side with the metrics, and runs of another dataset said to be so."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from sklearn.datasets import load_wine

from localcloud.deploy import DeployedStack
from mlops.contracts import draft_contract, render_contract_yaml
from mlopsctl.main import EXIT_ERROR, EXIT_OK, main
from tests.local.conftest import OPERATOR, Platform, front_door, send
from tests.local.test_training import _config, _train


def _forest(depths: list[int]) -> dict[str, Any]:
    """One small forest whose depth a grid search chooses: cheap, and a hyperparameter to compare."""
    return _config(
        candidates=[
            {
                "name": "forest",
                "estimator": "random_forest",
                "params": {"n_estimators": 10},
                "search": {"grid": {"max_depth": depths}},
            }
        ]
    )


def _cli(capsys: pytest.CaptureFixture[str], outputs: Path, *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main([*argv, "--outputs", str(outputs), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else captured.err


def _wine_run(stack: DeployedStack) -> None:
    """The wine set ingested and trained once (one logistic regression): a run of another dataset."""
    frame = load_wine(as_frame=True).frame
    s3 = boto3.client("s3")
    contract = render_contract_yaml(draft_contract(frame, dataset="wine", label="target"))
    s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key="contracts/wine.yaml", Body=contract.encode())
    s3.put_object(
        Bucket=stack.outputs["RawBucketName"], Key="raw/wine/wine.csv", Body=frame.to_csv(index=False).encode()
    )
    config = _config(
        dataset="wine",
        problem_type="multiclass",
        selection_metric="f1_macro",
        candidates=[{"name": "logistic", "estimator": "logistic_regression", "params": {"max_iter": 2000}}],
        quality_gates={"absolute": {"f1_macro": {"min": 0.5}}, "latency_budget_ms_per_row": 50},
    )
    s3.put_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key="configs/wine.yaml", Body=yaml.safe_dump(config).encode()
    )
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["TrainingStateMachineArn"], name="wine-run", input=json.dumps({"dataset": "wine"})
    )["executionArn"]
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        time.sleep(0.2)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_two_runs_compared_and_searched_through_the_cli_and_the_api(
    breast_cancer_platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, stack = breast_cancer_platform
    assert _train(stack, _forest([2, 3]), "shallow")["status"] == "SUCCEEDED"
    assert _train(stack, _forest([6, 8]), "deep")["status"] == "SUCCEEDED"
    door = front_door(cloud, stack)
    outputs = door.outputs_file(cloud, tmp_path / "outputs.json")

    code, compared = _cli(capsys, outputs, "runs", "compare", "shallow", "deep")
    assert code == EXIT_OK, compared
    rows = {(r["section"], r["name"]): r for r in compared["rows"]}
    depth = rows["hyperparameters", "max_depth"]
    assert depth["a"] in (2, 3) and depth["b"] in (6, 8) and depth["differs"]
    assert not rows["hyperparameters", "n_estimators"]["differs"]
    assert {"roc_auc", "accuracy"} <= {name for section, name in rows if section == "metrics"}
    assert rows["run", "version"]["a"] == 1 and rows["run", "version"]["b"] == 2
    assert compared["same_dataset"] and compared["notes"] == []
    assert compared["a"]["searched"] == ["max_depth"]

    status, through_api = send(
        "GET", f"{door.api_url}/v1/runs/shallow/compare/deep", None, {}, credentials=OPERATOR, service="execute-api"
    )
    assert status == 200 and through_api == compared  # the CLI shows what the API answers

    capsys.readouterr()
    assert main(["runs", "compare", "shallow", "deep", "--differences", "--outputs", str(outputs)]) == EXIT_OK
    text = capsys.readouterr().out
    assert "* hyperparameters" in text and "max_depth" in text and "n_estimators" not in text

    code, found = _cli(
        capsys,
        outputs,
        "runs",
        "search",
        "--dataset",
        "breast-cancer",
        "--param",
        "max_depth>=6",
        "--metric",
        "roc_auc>0.5",
    )
    assert code == EXIT_OK and [r["run_id"] for r in found["runs"]] == ["deep"]
    assert found["runs"][0]["hyperparameters"]["max_depth"] in (6, 8)
    code, ranked = _cli(capsys, outputs, "runs", "search", "--dataset", "breast-cancer", "--sort", "version")
    assert [r["run_id"] for r in ranked["runs"]] == ["deep", "shallow"]

    # Each run's chosen hyperparameters: in `mlops runs`, `mlops runs RUN_ID` and the model card.
    code, listed = _cli(capsys, outputs, "runs", "--dataset", "breast-cancer")
    assert {r["run_id"]: r["hyperparameters"]["max_depth"] for r in listed["runs"]} == {
        "shallow": depth["a"],
        "deep": depth["b"],
    }
    capsys.readouterr()
    assert main(["runs", "deep", "--outputs", str(outputs)]) == EXIT_OK
    chosen = f"chosen: forest (random_forest): max_depth={depth['b']} n_estimators=10 (searched: max_depth)"
    assert chosen in capsys.readouterr().out
    capsys.readouterr()
    assert main(["models", "show", "breast-cancer", "--version", "2", "--outputs", str(outputs)]) == EXIT_OK
    assert f"hyperparameters (forest): max_depth={depth['b']} n_estimators=10" in capsys.readouterr().out

    code, error = _cli(capsys, outputs, "runs", "compare", "shallow", "no-such-run")
    assert code == EXIT_ERROR and error["error"]["message"].startswith("no training run 'no-such-run'")
    code, error = _cli(capsys, outputs, "runs", "search", "--dataset", "breast-cancer", "--metric", "auc>0.9")
    assert code == EXIT_ERROR and "--metric 'auc>0.9': no metric 'auc' (did you mean roc_auc?)" in error

    _wine_run(stack)
    code, across = _cli(capsys, outputs, "runs", "compare", "deep", "wine-run")
    assert code == EXIT_OK and not across["same_dataset"]
    assert across["notes"][0].startswith("the runs trained on different datasets (breast-cancer and wine)")
    capsys.readouterr()
    assert main(["runs", "compare", "deep", "wine-run", "--outputs", str(outputs)]) == EXIT_OK
    assert "NOTE: the runs trained on different datasets" in capsys.readouterr().out.splitlines()[2]
