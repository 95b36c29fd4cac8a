"""What `mlops models download` fetches: a version's ONNX model, input signature and reference
profile, each as a short-lived presigned S3 GET URL with the digest the registry recorded for it.

The URL is signed with the registry API function's role, so it works only while that role may read
the key (s3:GetObject on these files, granted in infra/constructs/registry_api.py) and only while the
role's session lasts: AWS ends a URL signed with temporary credentials when they expire, whatever
expiry it names ("Who can create a presigned URL", https://docs.aws.amazon.com/AmazonS3/latest/
userguide/using-presigned-url.html). The model card is the API's own answer, not a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlops.names import MODEL_FILE, PROFILE_FILE, SIGNATURE_FILE
from mlops.registry.errors import RegistryError
from mlops.registry.versions import ModelVersion

# Long enough to fetch a model of a few hundred MB, short enough that a URL pasted somewhere is soon dead.
DOWNLOAD_URL_SECONDS = 300
DOWNLOADABLE = (MODEL_FILE, SIGNATURE_FILE, PROFILE_FILE)


@dataclass(frozen=True, kw_only=True)
class ArtifactLink:
    """One file of a version, where to GET it until `expires_in` seconds from now, and its digest
    (None: registered before the registry recorded this file's; the download says it is unchecked)."""

    name: str
    key: str
    sha256: str | None
    url: str
    expires_in: int


def _key(version: ModelVersion, name: str) -> tuple[str | None, str | None]:
    stored = version.artifacts.get(name) or {}
    key = stored.get("key") or {SIGNATURE_FILE: version.signature_key, PROFILE_FILE: version.profile_key}.get(name)
    digest = stored.get("sha256") or (version.onnx_sha256 if name == MODEL_FILE else None)
    return (str(key) if key else None), (str(digest) if digest else None)


def artifact_links(
    version: ModelVersion, presign: Callable[[str, int], str], *, expires_in: int = DOWNLOAD_URL_SECONDS
) -> list[ArtifactLink]:
    """The version's downloadable files, each with a URL from `presign(key, seconds)`; a file the
    version never had is left out, and a version without a model is refused (nothing to download)."""
    links = []
    for name in DOWNLOADABLE:
        key, digest = _key(version, name)
        if key is None:
            if name == MODEL_FILE:
                raise RegistryError("not_found", f"{version.model} v{version.version} has no {MODEL_FILE}")
            continue
        links.append(
            ArtifactLink(name=name, key=key, sha256=digest, url=presign(key, expires_in), expires_in=expires_in)
        )
    return links
