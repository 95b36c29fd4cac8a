"""`mlops`: one command line over the platform.

Exit codes scripts can rely on: 0 success; 1 the platform said no (a rejected file, a failed check);
2 the command could not run (bad arguments, malformed input, no deployment found).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops.names import CHAMPION
from mlopsctl.commands.config import config_deploy
from mlopsctl.commands.contracts import contract_check, contract_deploy, contract_draft
from mlopsctl.commands.datasets import datasets, datasets_page, upload
from mlopsctl.commands.download import download
from mlopsctl.commands.drift import drift
from mlopsctl.commands.lineage import lineage
from mlopsctl.commands.local import bench, up
from mlopsctl.commands.model_import import import_model
from mlopsctl.commands.models import models, promote, report, rollback
from mlopsctl.commands.performance import performance
from mlopsctl.commands.predict import predict
from mlopsctl.commands.runs import runs, runs_compare, runs_search, train
from mlopsctl.commands.smoke_test import smoke_test

# The app `mlops up` synthesizes and deploys into the local cloud (infra/app.py); named, not imported:
# importing the CDK app starts CDK's Node.js kernel, which `mlops --help` should not wait for.
PLATFORM_APP = "infra.app:build_local_app"
# `mlops runs compare` and `mlops runs search`: `runs` takes an optional RUN_ID, which argparse cannot
# tell from a subcommand, so parse_args joins the two words into one command name first.
RUNS_SUBCOMMANDS = ("compare", "search")
EXPECTED_VERSION_HELP = (
    "only if the alias holds version V now: a retried or stale command is refused (exit 1) instead of applied twice"
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    deployment = argparse.ArgumentParser(add_help=False)
    deployment.add_argument(
        "--outputs", type=Path, help="stack outputs file (default: $MLOPS_OUTPUTS, else .local/outputs.json)"
    )
    deployment.add_argument("--stack", help="look the stack up by name instead of an outputs file")
    deployment.add_argument("--endpoint-url", help="AWS endpoint (default: $AWS_ENDPOINT_URL or the local cloud's)")

    parser = argparse.ArgumentParser(
        prog="mlops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Its own dest: a subcommand's `--json` default (False) would overwrite a shared one; main() merges them.
    parser.add_argument("--json", dest="json_first", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)

    contract = commands.add_parser("contract", help="draft, check and deploy data contracts")
    contract_commands = contract.add_subparsers(dest="contract_command", required=True)
    draft = contract_commands.add_parser("draft", parents=[common], help="draft a contract from a sample file")
    draft.add_argument("file", type=Path, help="a CSV (optionally .gz) or Parquet sample")
    draft.add_argument("--dataset", required=True)
    draft.add_argument("--label", help="the label column")
    draft.add_argument("-o", "--output", type=Path, help="write the YAML here (default: print it)")
    draft.set_defaults(run=contract_draft)
    check = contract_commands.add_parser(
        "check", parents=[common], help="check a contract, and optionally a data file against it"
    )
    check.add_argument("contract", type=Path)
    check.add_argument("data", type=Path, nargs="?")
    check.set_defaults(run=contract_check)
    deploy = contract_commands.add_parser(
        "deploy", parents=[common, deployment], help="upload contracts (default ./contracts/*) to the artifacts bucket"
    )
    deploy.add_argument("paths", type=Path, nargs="*")
    deploy.set_defaults(run=contract_deploy)

    config = commands.add_parser("config", help="deploy training configs")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_deployer = config_commands.add_parser(
        "deploy", parents=[common, deployment], help="upload training configs (default ./configs/*) after checking them"
    )
    config_deployer.add_argument("paths", type=Path, nargs="*")
    config_deployer.set_defaults(run=config_deploy)

    uploader = commands.add_parser("upload", parents=[common, deployment], help="upload a data file for a dataset")
    uploader.add_argument("file", type=Path)
    uploader.add_argument("--dataset", required=True)
    uploader.add_argument("--wait", action="store_true", help="wait for the validation outcome and print it")
    uploader.add_argument("--timeout", type=float, default=120.0)
    uploader.add_argument(
        "--page", type=Path, help="with --wait: write the validation report page (HTML) to this file as well"
    )
    uploader.set_defaults(run=upload)

    trainer = commands.add_parser(
        "train", parents=[common, deployment], help="start the training pipeline for a dataset and follow it to the end"
    )
    trainer.add_argument("--dataset", required=True)
    trainer.add_argument(
        "--dataset-version",
        help="train on this dataset version alone (its hash or any unique prefix; `mlops datasets show D` lists "
        "them), whatever the config's data policy says "
        "(default: the versions the config's data section chooses, every accepted one unless it says otherwise)",
    )
    trainer.add_argument("--reason", default="requested from the command line")
    trainer.add_argument("--timeout", type=float, default=900.0)
    trainer.set_defaults(run=train)

    data = commands.add_parser("datasets", help="accepted dataset versions: rows, contract, what trained on them")
    data_commands = data.add_subparsers(dest="datasets_command", required=True)
    data_commands.add_parser(
        "list", parents=[common, deployment], help="every dataset with a deployed contract: versions, rows, latest"
    ).set_defaults(run=datasets)
    data_show = data_commands.add_parser(
        "show",
        parents=[common, deployment],
        help="a dataset's versions (rows, contract version, the model versions trained on each), or one version",
    )
    data_show.add_argument("name")
    data_show.add_argument("--version", help="one version: its hash or any unique prefix of it")
    data_show.set_defaults(run=datasets)
    data_page = data_commands.add_parser(
        "page",
        parents=[common, deployment],
        help="write a validation report page (the s3:// URI a rejection mail or `upload --wait` names) to a file",
    )
    data_page.add_argument("page", help="the page's s3:// URI (or its key in the artifacts bucket; .json works too)")
    data_page.add_argument("-o", "--output", type=Path, help="where to write it (default reports/<dataset>-…html)")
    data_page.set_defaults(run=datasets_page)

    registry = commands.add_parser(
        "models", help="the model registry: list, show, tag, approve, archive, audit, import, download, lineage"
    )
    registry_commands = registry.add_subparsers(dest="models_command", required=True)
    tag_filter = argparse.ArgumentParser(add_help=False)
    tag_filter.add_argument(
        "--tag",
        action="append",
        metavar="KEY=VALUE",
        help="only versions carrying this tag (repeatable: all must match); matched by the CLI over every page",
    )
    registry_commands.add_parser(
        "list", parents=[common, deployment, tag_filter], help="every model, or with --tag the versions carrying it"
    ).set_defaults(run=models)
    show = registry_commands.add_parser(
        "show",
        parents=[common, deployment, tag_filter],
        help="a model's aliases and versions, or one version's model card",
    )
    show.add_argument("name")
    show.add_argument("--version", type=int)
    show.set_defaults(run=models)
    tagger = registry_commands.add_parser(
        "tag",
        parents=[common, deployment],
        help="set tags on a version, merged into the ones it has (the API removes none)",
    )
    tagger.add_argument("name")
    tagger.add_argument("version", type=int)
    tagger.add_argument("tags", nargs="+", metavar="KEY=VALUE", help="the value is everything after the first =")
    tagger.set_defaults(run=models)
    for verb in ("approve", "archive"):
        sub = registry_commands.add_parser(verb, parents=[common, deployment], help=f"{verb} a version")
        sub.add_argument("name")
        sub.add_argument("version", type=int)
        sub.add_argument("--reason", required=True, help="why (3 to 500 characters); kept in the audit trail")
        sub.set_defaults(run=models)
    history = registry_commands.add_parser("audit", parents=[common, deployment], help="who changed what, and why")
    history.add_argument("name")
    history.set_defaults(run=models)
    fetcher = registry_commands.add_parser(
        "download",
        parents=[common, deployment],
        help="write a version's ONNX model, signature, reference profile and model card into a directory, "
        "each checked against the registry's sha256",
    )
    fetcher.add_argument("name")
    fetcher.add_argument("--version", type=int, help="default: the champion")
    fetcher.add_argument("--out", type=Path, metavar="DIR", help="default: ./NAME-vV/")
    fetcher.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    fetcher.set_defaults(run=download)
    chain = registry_commands.add_parser(
        "lineage",
        parents=[common, deployment],
        help="what trained a version: trigger, code, config, compared champion, dataset versions, uploaded files",
    )
    chain.add_argument("name")
    chain.add_argument("version", type=int)
    chain.set_defaults(run=lineage)
    importer = registry_commands.add_parser(
        "import",
        parents=[common, deployment],
        help="register a model trained elsewhere (ONNX, or scikit-learn via joblib): evaluated on the dataset "
        "version's test split, then the same parity, gates, approval and rollout as a trained one",
    )
    importer.add_argument("name", help="the model (its dataset's name; the dataset needs a deployed training config)")
    importer.add_argument("file", help="model.onnx (inputs named as the dataset's features) or model.joblib")
    importer.add_argument(
        "--dataset-version", required=True, help="the version whose test split it is evaluated on (hash or prefix)"
    )
    importer.add_argument("--reason", default="imported from the command line")
    importer.add_argument(
        "--again",
        action="store_true",
        help="import a file already imported as a version of this model (refused without it: a new version each time)",
    )
    importer.add_argument("--timeout", type=float, default=900.0)
    importer.set_defaults(run=import_model)

    promoter = commands.add_parser("promote", parents=[common, deployment], help="point an alias at a version")
    promoter.add_argument("name")
    promoter.add_argument("version", type=int)
    promoter.add_argument("--alias", default=CHAMPION)
    promoter.add_argument("--reason", required=True)
    promoter.add_argument("--expected-version", type=int, metavar="V", help=EXPECTED_VERSION_HELP)
    rollout = promoter.add_mutually_exclusive_group()
    rollout.add_argument(
        "--canary", type=float, metavar="WEIGHT", help="as challenger, answer this share (0-1) of requests"
    )
    rollout.add_argument("--shadow", action="store_true", help="as challenger, score every request; never answer")
    promoter.add_argument(
        "--allow-signature-change",
        action="store_true",
        help="with --canary/--shadow: roll out even if the version refuses requests the champion accepts "
        "(otherwise refused, naming the differing fields); the audit trail records the differences",
    )
    promoter.set_defaults(run=promote)
    predictor = commands.add_parser(
        "predict", parents=[common, deployment], help="ask the predict API (with the prediction key)"
    )
    predictor.add_argument("name")
    predictor.add_argument(
        "file",
        nargs="?",
        help='JSON ({"instances": [...]}, {"columns": [...], "data": [...]} or a list of rows), JSON Lines (one '
        "row object a line) or CSV (a header, then rows; typed by the model's signature, columns it does not take "
        "left out); - or none for stdin",
    )
    predictor.add_argument(
        "--format", choices=["json", "jsonl", "csv"], help="how to read FILE (default: by its extension or content)"
    )
    predictor.add_argument(
        "--request-key",
        help="sticky canary assignment (the same key, the same side), and a key labels may name the prediction by",
    )
    predictor.add_argument(
        "--explain",
        action="store_true",
        help='ask for each input field\'s contribution to the score ("explain": true; up to 100 rows)',
    )
    predictor.set_defaults(run=predict)
    drifter = commands.add_parser(
        "drift", parents=[common, deployment], help="drift checks of a model (exit 1 if the newest found drift)"
    )
    drifter.add_argument("name")
    drifter.add_argument("--run", dest="run_now", action="store_true", help="run a check now, due or not")
    drifter.add_argument("--limit", type=int, default=10)
    drifter.set_defaults(run=drift)
    performer = commands.add_parser(
        "performance",
        parents=[common, deployment],
        help="performance checks of a model on labelled traffic, per version and variant (exit 1 if the newest "
        "found one below a floor)",
    )
    performer.add_argument("name")
    performer.add_argument("--run", dest="run_now", action="store_true", help="run a check now, due or not")
    performer.add_argument("--limit", type=int, default=10)
    performer.set_defaults(run=performance)
    roller = commands.add_parser(
        "rollback", parents=[common, deployment], help="point an alias back at the version it replaced"
    )
    roller.add_argument("name")
    roller.add_argument("--alias", default=CHAMPION)
    roller.add_argument("--reason", required=True)
    roller.add_argument("--expected-version", type=int, metavar="V", help=EXPECTED_VERSION_HELP)
    roller.set_defaults(run=rollback)

    reporter = commands.add_parser(
        "report", parents=[common, deployment], help="write a model's lifecycle report: one self-contained HTML page"
    )
    reporter.add_argument("name")
    reporter.add_argument("-o", "--output", type=Path, help="where to write it (default reports/NAME.html)")
    reporter.set_defaults(run=report)
    runner = commands.add_parser(
        "runs",
        parents=[common, deployment],
        help="training runs, newest first; with RUN_ID, one run's candidates and states (exit 1 if it failed)",
    )
    runner.add_argument("run_id", nargs="?", metavar="RUN_ID")
    runner.add_argument("--dataset", help="only this dataset's runs")
    runner.add_argument("--limit", type=int, default=20)
    runner.add_argument(
        "--sort",
        metavar="COLUMN",
        help="status, dataset, started, took, version or a metric (e.g. roc_auc): metrics best first, "
        "started/took/version highest first; a leading - flips it (write --sort=-roc_auc)",
    )
    runner.add_argument("--reverse", action="store_true", help="with --sort: the other way round")
    runner.add_argument(
        "--filter",
        action="append",
        metavar="EXPR",
        help="COLUMN OP VALUE with = != > >= < <=, e.g. status=failed, roc_auc>=0.95 (repeat: all must hold)",
    )
    runner.add_argument(
        "--metrics", metavar="NAMES", help="comma-separated metric columns (default: every metric of the runs shown)"
    )
    runner.set_defaults(run=runs)
    comparer = commands.add_parser(
        "runs compare",
        parents=[common, deployment],
        help="two training runs side by side: data versions, chosen hyperparameters, metrics, gates and "
        "candidates, each difference marked (through the registry API)",
    )
    comparer.add_argument("run_a", metavar="RUN_A")
    comparer.add_argument("run_b", metavar="RUN_B")
    comparer.add_argument("--differences", action="store_true", help="only the lines where the runs differ")
    comparer.set_defaults(run=runs_compare)
    searcher = commands.add_parser(
        "runs search",
        parents=[common, deployment],
        help="a dataset's training runs by test metric and chosen hyperparameter (through the registry API)",
    )
    searcher.add_argument("--dataset", required=True)
    searcher.add_argument(
        "--metric",
        action="append",
        metavar="EXPR",
        help="METRIC OP VALUE on the registered version's test metrics, e.g. roc_auc>0.9 (repeat: all must hold)",
    )
    searcher.add_argument(
        "--param",
        action="append",
        metavar="EXPR",
        help="PARAM OP VALUE on the chosen hyperparameters, e.g. max_depth=6 (repeat: all must hold)",
    )
    searcher.add_argument(
        "--sort",
        metavar="COLUMN",
        help="a metric (best first) or started/version (newest first); a leading - flips it (--sort -roc_auc)",
    )
    searcher.add_argument("--limit", type=int, default=20)
    searcher.set_defaults(run=runs_search)

    smoker = commands.add_parser(
        "smoke-test",
        parents=[common, deployment],
        help="after cdk deploy: upload, train, predict and fire a test alarm, each step timed (exit 0: all passed)",
    )
    smoker.add_argument(
        "--alarm", metavar="NAME", help="the alarm to fire (default: the dead-letters alarm, or another in OK)"
    )
    smoker.add_argument(
        "--train-timeout", type=float, default=900.0, metavar="S", help="seconds the training run may take"
    )
    smoker.add_argument(
        "--notify-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for the alarm's notification (default 60)",
    )
    smoker.set_defaults(run=smoke_test)

    from localcloud.__main__ import add_up_arguments

    starter = commands.add_parser(
        "up", parents=[common], help="run the local cloud in the foreground until Ctrl-C (as `make up`)"
    )
    add_up_arguments(starter, default_app=PLATFORM_APP)
    starter.set_defaults(run=up)
    bencher = commands.add_parser(
        "bench", parents=[common], help="run the benchmarks (pandera / Great Expectations baselines need `make bench`)"
    )
    bencher.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    bencher.add_argument("--quick", action="store_true", help="small data: checks the harness, not the figures")
    bencher.add_argument(
        "--out", type=Path, help="results directory (default bench/results; .local/bench-quick with --quick)"
    )
    bencher.set_defaults(run=bench)
    return parser


def _joined_subcommand(argv: list[str]) -> list[str]:
    """`runs compare A B` as the one command `runs compare` (see RUNS_SUBCOMMANDS), and `--sort -roc_auc`
    as `--sort=-roc_auc` (argparse takes a value that starts with `-` for an option)."""
    argv = list(argv)
    for i, word in enumerate(argv[:-1]):
        following = argv[i + 1]
        if word == "--sort" and following.startswith("-") and following[1:2].isalpha():
            return _joined_subcommand([*argv[:i], f"--sort={following}", *argv[i + 2 :]])
    for i, word in enumerate(argv):
        if not word.startswith("-"):
            if word == "runs" and argv[i + 1 : i + 2] and argv[i + 1] in RUNS_SUBCOMMANDS:
                return [*argv[:i], f"runs {argv[i + 1]}", *argv[i + 2 :]]
            break
    return list(argv)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with `--json` taken before the command (`mlops --json drift x`) or after it."""
    args = build_parser().parse_args(_joined_subcommand(sys.argv[1:] if argv is None else argv))
    args.json = bool(getattr(args, "json", False) or args.json_first)
    return args
