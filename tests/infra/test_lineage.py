"""What the template gives lineage and downloads (issue #22): the training functions know the hash of
the code asset they run, and the registry API's role may read exactly the files it signs download
URLs for (a presigned URL can do no more than its signer)."""

from __future__ import annotations

from typing import Any

import tests.infra.template_queries as tq
from mlops.registry.downloads import DOWNLOADABLE


def test_each_training_step_records_the_hash_of_the_code_asset_it_runs(platform_template: dict[str, Any]) -> None:
    steps = {
        logical: function["Properties"]
        for logical, function in tq.resources(platform_template, "AWS::Lambda::Function").items()
        if logical.startswith("Training") and "CODE_ASSET_HASH" in function["Properties"]["Environment"]["Variables"]
    }
    assert {"register", "prepare", "gate"} <= {p["Handler"].rsplit(".", 1)[-1] for p in steps.values()}
    for logical, properties in steps.items():
        key = properties["Code"]["S3Key"]
        assert key == f"{properties['Environment']['Variables']['CODE_ASSET_HASH']}.zip", logical


def test_the_registry_api_may_read_the_files_it_signs_download_urls_for(platform_template: dict[str, Any]) -> None:
    reads = {resource for action, resource in tq.grants(platform_template, "RegistryApi") if action == "s3:GetObject"}
    assert {resource.rsplit("/", 1)[-1] for resource in reads} == set(DOWNLOADABLE)
    assert all(resource.endswith(f"/models/*/{resource.rsplit('/', 1)[-1]}") for resource in reads), reads
