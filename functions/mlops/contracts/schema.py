"""Prints the data contract's JSON Schema: ``python -m mlops.contracts.schema > schemas/data-contract.schema.json``."""

from __future__ import annotations

import json

from mlops.contracts.model import contract_json_schema


def render_schema() -> str:
    """The committed file's exact text, so a test can tell when it is stale."""
    return json.dumps(contract_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    print(render_schema(), end="")


if __name__ == "__main__":
    main()
