"""Which files a download gets, with which digests: the model, signature and reference profile of a
version, each through a URL signed for five minutes."""

from __future__ import annotations

import pytest

from mlops.registry.downloads import DOWNLOAD_URL_SECONDS, artifact_links
from mlops.registry.errors import RegistryError
from mlops.registry.versions import ModelVersion
from tests.unit.registry.test_versions import PREFIX, STORED


def _presign(key: str, seconds: int) -> str:
    return f"https://artifacts.example/{key}?expires={seconds}"


def test_each_file_comes_with_the_digest_the_registry_recorded() -> None:
    artifacts = {
        name: {"key": f"{PREFIX}{name}", "sha256": digest * 32}
        for name, digest in (("model.onnx", "ab"), ("signature.json", "cd"), ("profile.json", "ef"))
    }
    links = artifact_links(ModelVersion.from_item({**STORED, "artifacts": artifacts}), _presign)
    assert [(link.name, link.sha256) for link in links] == [
        ("model.onnx", "ab" * 32),
        ("signature.json", "cd" * 32),
        ("profile.json", "ef" * 32),
    ]
    assert links[0].url == f"https://artifacts.example/{PREFIX}model.onnx?expires=300"
    assert {link.expires_in for link in links} == {DOWNLOAD_URL_SECONDS} == {300}


def test_a_version_registered_before_digests_were_recorded_still_downloads_unchecked() -> None:
    """STORED's signature has no digest and its profile is named only by `profile_key`, as the
    register step wrote them before issue #22."""
    links = {link.name: link for link in artifact_links(ModelVersion.from_item(STORED), _presign)}
    assert links["model.onnx"].sha256 == "ab" * 32
    assert links["signature.json"].sha256 is None
    assert (links["profile.json"].key, links["profile.json"].sha256) == (f"{PREFIX}profile.json", None)


def test_a_version_without_a_model_is_refused() -> None:
    bare = {k: v for k, v in STORED.items() if k not in ("artifacts", "onnx_sha256")}
    with pytest.raises(RegistryError) as refused:
        artifact_links(ModelVersion.from_item(bare), _presign)
    assert (refused.value.code, refused.value.message) == ("not_found", "churn v3 has no model.onnx")
