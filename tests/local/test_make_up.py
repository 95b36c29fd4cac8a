"""`make up`: the platform deployed into a long-lived local cloud, served until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from localcloud.deploy import Synthesized
from tests.local.conftest import OPERATOR, send

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"never printed {text!r}:\n{''.join(seen)}")


def test_make_up_serves_the_platform_until_ctrl_c(platform_synth: Synthesized, tmp_path: Path) -> None:
    template = tmp_path / f"{platform_synth.stack_name}.template.json"
    template.write_text(json.dumps(platform_synth.template))
    (tmp_path / f"{platform_synth.stack_name}.assets.json").write_text(json.dumps(platform_synth.assets))
    port, api_port, url_port = _free_port(), _free_port(), _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcloud",
            "up",
            "--port",
            str(port),
            "--api-port",
            str(api_port),
            "--function-url-port",
            str(url_port),
            "--template",
            str(template),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = _wait_for(process, "Ctrl-C stops it.", timeout=90)
        assert f"aws --endpoint-url http://127.0.0.1:{port} s3 ls" in banner
        assert f"export MLOPS_OUTPUTS={(tmp_path / 'state' / 'outputs.json').resolve()}\n" in banner  # one setting
        outputs: dict[str, Any] = json.loads((tmp_path / "state" / "outputs.json").read_text())
        stack_outputs = outputs[platform_synth.stack_name]
        assert stack_outputs["ApiUrl"] == f"http://127.0.0.1:{api_port}/prod/"
        # the banner lists the outputs file's values: the local gateway's URLs, not execute-api's
        assert "execute-api" not in banner
        # and the predict function URL where it is served, not lambda-url's
        assert stack_outputs["PredictFunctionUrl"] == f"http://127.0.0.1:{url_port}/"
        assert stack_outputs["PredictUrlTemplate"] == f"http://127.0.0.1:{url_port}/v1/models/{{name}}/predict"
        assert "lambda-url" not in banner.split("function URL https://", 1)[0]
        for key in ("ApiUrl", "PredictUrlTemplate", "PredictFunctionUrl"):
            assert f"  {key:<26} {stack_outputs[key]}\n" in banner
        assert 'curl --aws-sigv4 "aws:amz:us-east-1:lambda"' in banner
        # the first evaluation (every alarm INSUFFICIENT_DATA -> OK) mailed the inbox, not the console
        mails = [json.loads(line) for line in (tmp_path / "state" / "inbox.jsonl").read_text().splitlines()]
        assert mails and all("INSUFFICIENT_DATA -> OK" in mail["body"] for mail in mails)
        assert "INSUFFICIENT_DATA -> OK" not in banner and "You are receiving this email" not in banner
        # health answers a signed request (IAM: no prediction key exists under the function URL)
        status, health = send(
            "GET", stack_outputs["ApiUrl"] + "v1/health", None, {}, credentials=OPERATOR, service="execute-api"
        )
        assert (status, health["status"]) == (200, "ok")
        # the function URL answers a signed request and refuses an unsigned one, as on AWS
        predict = stack_outputs["PredictFunctionUrl"] + "v1/models/nothing-yet/predict"
        body, sent = b'{"instances": [{}]}', {"content-type": "application/json"}
        assert send("POST", predict, body, sent, credentials=OPERATOR, service="lambda")[0] == 404
        assert send("POST", predict, body, sent, credentials=None, service="lambda")[0] == 403
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, rest
        assert "Traceback" not in rest
    finally:
        if process.poll() is None:
            process.kill()
