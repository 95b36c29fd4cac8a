"""How fast the local cloud deploys the platform's synthesized template (the foundation issue's
"deployed in under 3 s once the template exists"), against synthesizing that template, in one run."""

from __future__ import annotations

import statistics
import time

from bench.figures import Figure


def run(quick: bool) -> list[Figure]:
    from infra.app import build_local_app
    from localcloud.cloud import LocalCloud
    from localcloud.deploy import synthesize

    started = time.perf_counter()
    synthesized = synthesize(build_local_app)
    synth_seconds = time.perf_counter() - started
    deploys: list[float] = []
    for _ in range(2 if quick else 5):
        with LocalCloud.in_process() as cloud:
            started = time.perf_counter()
            cloud.deploy(synthesized)
            deploys.append(time.perf_counter() - started)
    first, warm = deploys[0], statistics.median(deploys[1:])
    data = f"{len(synthesized.template['Resources'])} template resources"
    return [
        Figure(
            benchmark="localcloud",
            figure="deploy, first in the process",
            value=first,
            unit="s",
            baseline="cdk synth (in-process)",
            baseline_value=synth_seconds,
            ratio=synth_seconds / first,
            target="< 3 s",
            met=first < 3.0,
            data=data,
        ),
        Figure(
            benchmark="localcloud",
            figure="deploy, warm (median)",
            value=warm,
            unit="s",
            baseline="cdk synth (in-process)",
            baseline_value=synth_seconds,
            ratio=synth_seconds / warm,
            target="< 3 s",
            met=warm < 3.0,
            data=data,
        ),
    ]
