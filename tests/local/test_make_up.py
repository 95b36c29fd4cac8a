"""`make up`: the platform deployed into a long-lived local cloud, served until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from localcloud.deploy import Synthesized

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
    port, api_port = _free_port(), _free_port()
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
        for key in ("ApiUrl", "PredictUrlTemplate"):
            assert f"  {key:<26} {stack_outputs[key]}\n" in banner
        # the first evaluation (every alarm INSUFFICIENT_DATA -> OK) mailed the inbox, not the console
        mails = [json.loads(line) for line in (tmp_path / "state" / "inbox.jsonl").read_text().splitlines()]
        assert mails and all("INSUFFICIENT_DATA -> OK" in mail["body"] for mail in mails)
        assert "INSUFFICIENT_DATA -> OK" not in banner and "You are receiving this email" not in banner
        apigw = boto3.client("apigateway", endpoint_url=f"http://127.0.0.1:{port}")
        key = apigw.get_api_key(apiKey=stack_outputs["PredictionApiKeyId"], includeValue=True)["value"]
        request = urllib.request.Request(stack_outputs["ApiUrl"] + "v1/health", headers={"x-api-key": key})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["status"] == "ok"
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, rest
        assert "Traceback" not in rest
    finally:
        if process.poll() is None:
            process.kill()
