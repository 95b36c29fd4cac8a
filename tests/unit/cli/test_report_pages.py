"""`mlops datasets page` against a stand-in S3: only validation report pages are fetched, S3's
refusal is an error naming the bucket and key (not a botocore traceback), and the default file
name is safe whatever the uploaded file was called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlopsctl.commands import EXIT_ERROR, EXIT_OK
from mlopsctl.commands.datasets import PAGE_NAME_LIMIT, page_file_name
from mlopsctl.main import main
from mlopsctl.target import Target

PAGE = "reports/validation/churn/<img src=x onerror=alert(1)>.csv/u-1.html"


class _Artifacts(Target):
    """The artifacts bucket holding one page; any other bucket does not exist."""

    def __init__(self) -> None:
        super().__init__({"ArtifactsBucketName": "artifacts"})
        self.asked: list[tuple[str, str]] = []

    def client(self, service: str, **kwargs: Any) -> Any:
        return self

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803  (boto3's names)
        self.asked.append((Bucket, Key))
        if Bucket != "artifacts":
            raise ClientError(
                {"Error": {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist"}}, "GetObject"
            )
        if Key != PAGE:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}}, "GetObject"
            )
        return {"Body": self}

    def read(self) -> bytes:
        return b"<html>report</html>"


@pytest.fixture
def artifacts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Artifacts:
    stand_in = _Artifacts()
    monkeypatch.setattr("mlopsctl.commands.datasets.deployment_target", lambda args: stand_in)
    monkeypatch.chdir(tmp_path)
    return stand_in


def test_a_missing_bucket_or_page_is_an_error_naming_it(
    artifacts: _Artifacts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["datasets", "page", "s3://nope-bucket/reports/validation/churn/x.csv/u.html"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no bucket 'nope-bucket'" in err and "s3://nope-bucket/reports/validation/churn/x.csv/u.html" in err
    assert "Traceback" not in err
    assert main(["datasets", "page", "s3://artifacts/reports/validation/churn/gone.csv/u.html"]) == EXIT_ERROR
    assert "no report page at s3://artifacts/reports/validation/churn/gone.csv/u.html" in capsys.readouterr().err


@pytest.mark.parametrize(
    "uri", ["s3://nope-bucket/x.html", "s3://artifacts/models/churn/runs/r/report.html", "reports/training/a.html"]
)
def test_a_page_outside_the_validation_reports_is_refused_before_s3_is_asked(
    artifacts: _Artifacts, capsys: pytest.CaptureFixture[str], uri: str
) -> None:
    assert main(["datasets", "page", uri]) == EXIT_ERROR
    assert "is not a validation report page: those are under reports/validation/" in capsys.readouterr().err
    assert artifacts.asked == []
    assert not Path("reports").exists()


def test_the_default_file_name_keeps_only_safe_characters(artifacts: _Artifacts, tmp_path: Path) -> None:
    assert main(["datasets", "page", f"s3://artifacts/{PAGE}"]) == EXIT_OK
    (written,) = (tmp_path / "reports").iterdir()
    assert written.name == "churn-_img_src_x_onerror_alert_1__.csv-u-1.html"
    assert written.read_bytes() == b"<html>report</html>"


def test_a_long_name_is_bounded_and_keeps_both_ends() -> None:
    name = page_file_name(f"reports/validation/churn/{'x' * 400}.csv/upload-1234.html")
    assert len(name) == PAGE_NAME_LIMIT and name.startswith("churn-x") and name.endswith(".csv-upload-1234.html")
    assert page_file_name("reports/validation/../.html") == "report.html", "no hidden or dash-led name"
