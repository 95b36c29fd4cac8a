"""`python -m mlops.training.schema > schemas/training-config.schema.json`: the published JSON
Schema of the training config (editors validate against it; a unit test keeps it current)."""

from __future__ import annotations

import json
import sys
from typing import Any

from mlops.training.config import TrainingConfig


def training_config_schema() -> dict[str, Any]:
    schema = TrainingConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render() -> str:
    return json.dumps(training_config_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
