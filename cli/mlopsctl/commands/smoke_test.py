"""`mlops smoke-test`: the command around mlopsctl.smoke's steps."""

from __future__ import annotations

import argparse
import json
import sys
import time

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, deployment_target


def smoke_test(args: argparse.Namespace) -> int:
    """After `cdk deploy` (or `make up`): every step once against the deployment; exit 0 only if all pass."""
    from mlopsctl.smoke import SmokeTest, summary_document

    target = deployment_target(args)
    # With --json, stdout holds one document; the step lines still go out as they happen, on stderr.
    out = sys.stderr if args.json else sys.stdout
    test = SmokeTest(
        target,
        say=lambda line: print(line, file=out, flush=True),
        alarm_name=args.alarm,
        train_timeout=args.train_timeout,
        notify_timeout=args.notify_timeout,
    )
    started = time.perf_counter()
    results = test.run()
    document = summary_document(results, time.perf_counter() - started, test.run_id)
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    return EXIT_OK if document["passed"] else EXIT_REJECTED
