"""`mlops contract draft|check|deploy`: data contracts drafted from a sample, checked (alone or
against a data file, as ingestion would) and deployed where the ingest function reads them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError, deployment_target, emit
from mlopsctl.target import Target


def contract_draft(args: argparse.Namespace) -> int:
    from mlops.contracts import FileProblem, draft_contract, read_table, render_contract_yaml

    try:
        frame = read_table(args.file.read_bytes(), filename=args.file.name, contract=None)
    except FileProblem as problem:
        raise CommandError(f"{args.file}: {problem.message}") from problem
    contract = draft_contract(frame, dataset=args.dataset, label=args.label)
    text = render_contract_yaml(contract)
    if args.output:
        args.output.write_text(text)
    emit(
        args,
        {"dataset": args.dataset, "columns": len(contract.columns), "output": str(args.output or "-")},
        text
        if not args.output
        else f"drafted {args.output} ({len(contract.columns)} columns): review it, then "
        f"`mlops contract deploy {args.output}`",
    )
    return EXIT_OK


def contract_check(args: argparse.Namespace) -> int:
    from mlops.contracts import FileProblem, load_contract, read_table, validate

    contract = load_contract(args.contract.read_bytes(), source=str(args.contract))
    if args.data is None:
        emit(
            args,
            {"contract": str(args.contract), "valid": True},
            f"{args.contract}: a valid contract for dataset '{contract.dataset}' ({len(contract.columns)} columns)",
        )
        return EXIT_OK
    try:
        frame = read_table(args.data.read_bytes(), filename=args.data.name, contract=contract)
    except FileProblem as problem:
        emit(
            args,
            {"accepted": False, "file_problem": {"code": problem.code, "message": problem.message}},
            f"REJECTED {args.data}: {problem.message}",
        )
        return EXIT_REJECTED
    report = validate(frame, contract, file_name=args.data.name)
    if report.accepted:
        # What ingestion does next: store the parsed values; a value it cannot keep rejects the upload there.
        from mlops.datasets.ingestion import stored_frame
        from mlops.datasets.versioning import ColumnBuildError, column_arrays

        try:
            column_arrays(stored_frame(frame, contract), {c.name: c.type.value for c in contract.columns})
        except ColumnBuildError as error:
            message = f"{error}; the file passes validation but this value cannot be kept in a dataset version"
            document = {
                **json.loads(report.to_json()),
                "accepted": False,
                "file_problem": {
                    "code": "unstorable_values",
                    "message": message,
                    "column": error.column,
                    "row": error.row,
                },
            }
            emit(args, document, f"REJECTED {args.data}: unstorable_values: {message}")
            return EXIT_REJECTED
    emit(args, json.loads(report.to_json()), report.summary())
    return EXIT_OK if report.accepted else EXIT_REJECTED


def contract_deploy(args: argparse.Namespace) -> int:
    from mlops.contracts import load_contract

    paths: list[Path] = args.paths or sorted(Path("contracts").glob("*.y*ml")) + sorted(
        Path("contracts").glob("*.json")
    )
    if not paths:
        raise CommandError("no contracts given and none in ./contracts")
    contracts = [(path, load_contract(path.read_bytes(), source=str(path))) for path in paths]  # all valid first
    target = deployment_target(args)
    bucket = target.output("ArtifactsBucketName")
    deployed = []
    for path, contract in contracts:
        key = put_definition(target, "contracts", contract.dataset, path.suffix, path.read_bytes())
        deployed.append({"dataset": contract.dataset, "version": contract.version, "key": key})
    emit(
        args,
        {"deployed": deployed},
        "\n".join(
            f"deployed contract v{d['version']} for '{d['dataset']}' to s3://{bucket}/{d['key']}" for d in deployed
        ),
    )
    return EXIT_OK


def put_definition(target: Target, folder: str, dataset: str, suffix: str, body: bytes) -> str:
    """A contract (`contracts/`) or training config (`configs/`) where the functions look for it; its key."""
    key = f"{folder}/{dataset}{suffix}"
    s3, bucket = target.client("s3"), target.output("ArtifactsBucketName")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/yaml")
    # The functions read .yaml, then .yml, then .json: a copy under another suffix would shadow this one.
    from mlops.names import DEFINITION_SUFFIXES

    others = [f"{folder}/{dataset}{other}" for other in DEFINITION_SUFFIXES if other != suffix]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in others], "Quiet": True})
    return key
