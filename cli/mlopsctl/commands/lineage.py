"""`mlops models lineage NAME V`: what trained a version, printed from the version back to the files
that were uploaded (`GET /v1/models/{name}/versions/{v}/lineage`; mlops.registry.lineage)."""

from __future__ import annotations

import argparse

from mlopsctl.commands import EXIT_OK, deployment_target, emit


def lineage(args: argparse.Namespace) -> int:
    from mlops.registry.lineage import Lineage
    from mlopsctl.api import call

    document = call(deployment_target(args), "GET", f"/v1/models/{args.name}/versions/{args.version}/lineage")
    emit(args, document, "\n".join(Lineage.from_json(document["lineage"]).lines()))
    return EXIT_OK
