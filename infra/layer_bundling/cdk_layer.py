"""The CDK side: a `LayerVersion` whose asset CDK bundles through this package instead of Docker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.layer_bundling import log
from infra.layer_bundling.cache import build_layer, copy_tree
from infra.layer_bundling.spec import LayerSpec

# Never used (local bundling always runs or raises), but CDK requires an image.
DOCKER_IMAGE: Final = "public.ecr.aws/sam/build-python3.12"


@jsii.implements(cdk.ILocalBundling)
class LocalLayerBundler:
    """CDK's hook for bundling without Docker: builds (or reuses) the layer and copies it out."""

    def __init__(self, spec: LayerSpec, *, cache_root: Path | None = None) -> None:
        self._spec = spec
        self._cache_root = cache_root

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        started = time.monotonic()
        built = build_layer(self._spec, cache_root=self._cache_root)
        copy_tree(built.python_dir, Path(output_dir) / "python")
        source = "cache" if built.from_cache else "fresh build"
        log(
            f"{self._spec.name}/{self._spec.architecture}: {built.size_bytes / 2**20:.1f} MiB from {source} "
            f"in {time.monotonic() - started:.1f}s"
        )
        return True


def python_layer(
    scope: Construct,
    id: str,
    *,
    name: str,
    architecture: lambda_.Architecture,
    description: str,
) -> lambda_.LayerVersion:
    """A Python 3.12 layer from `layers/<name>/requirements.txt`, bundled locally for `architecture`."""
    spec = LayerSpec.for_layer(name, architecture)
    arch = spec.architecture
    bundling = cdk.BundlingOptions(
        image=cdk.DockerImage.from_registry(DOCKER_IMAGE),
        local=LocalLayerBundler(spec),
        # Kept verbatim (the module it names is now this package): CDK hashes the bundling options into
        # the asset hash, so new text would publish a new version of every layer on the next deploy.
        command=["bash", "-c", "echo 'layers are bundled locally by infra/layer_bundling.py' >&2; exit 1"],
        environment={"LAYER_NAME": name, "LAYER_ARCHITECTURE": arch, "LAYER_PYTHON_VERSION": spec.python_version},
        platform=f"linux/{'arm64' if arch == 'arm64' else 'amd64'}",
        output_type=cdk.BundlingOutput.NOT_ARCHIVED,
    )
    code = lambda_.Code.from_asset(
        str(spec.layer_dir),
        asset_hash=spec.cache_key(),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=bundling,
    )
    return lambda_.LayerVersion(
        scope,
        id,
        code=code,
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
        compatible_architectures=[architecture],
        description=description,
    )
