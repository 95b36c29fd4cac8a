"""`mlops models download`: a version's ONNX model, input signature, reference profile and model card
written into a directory, each file checked against the digest the registry recorded for it.

The files come through the presigned URLs of `GET /v1/models/{name}/versions/{v}/artifacts`: plain
HTTPS GETs, no credentials of the caller's own. Each is written beside its final name first and
moved there only when every file has arrived and matched, so a mismatch or a refused URL leaves no
file behind (nor the directory, when the command created it), and nothing that was there is
overwritten without `--force`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.commands import EXIT_OK, CommandError, deployment_target, emit
from mlopsctl.target import Target

MODEL_CARD_FILE = "model-card.json"
CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadedFile:
    name: str
    path: Path
    sha256: str
    size: int
    verified: bool  # False: the registry recorded no digest for it (a version from before it did)

    def as_document(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def _fetch(url: str, name: str, partial: Path) -> tuple[str, int]:
    """GET `url` into `partial`, hashing as it arrives: (sha256, bytes)."""
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as error:
        said = error.read().decode(errors="replace")
        message = said.split("<Message>", 1)[1].split("</Message>", 1)[0] if "<Message>" in said else said[:200]
        raise CommandError(f"{name}: S3 refused the download URL: {error.code} {message}") from None
    return digest.hexdigest(), size


def _remove_empty(created: list[Path]) -> None:
    """The directories this command made (`created`, deepest first), removed when a refused download
    left them empty: a refusal leaves the disk as it found it."""
    for directory in created:
        try:
            directory.rmdir()
        except OSError:  # something else was put there meanwhile: not ours to delete
            return


def champion_version(target: Target, name: str) -> int:
    """The version `name`'s champion alias holds: what `--version` defaults to."""
    from mlopsctl.api import call

    champion = call(target, "GET", f"/v1/models/{name}")["model"].get("aliases", {}).get("champion")
    if champion is None:
        raise CommandError(f"{name} has no champion: name a version with --version")
    return int(champion["version"])


def download(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    if args.version is not None and args.version < 1:  # 0 is a version asked for, not the champion
        raise CommandError("--version must be 1 or more")
    target = deployment_target(args)
    version = args.version if args.version is not None else champion_version(target, args.name)
    out: Path = args.out or Path(f"{args.name}-v{version}")
    card = call(target, "GET", f"/v1/models/{args.name}/versions/{version}")["model_card"]
    answer = call(target, "GET", f"/v1/models/{args.name}/versions/{version}/artifacts")
    names = [link["name"] for link in answer["artifacts"]] + [MODEL_CARD_FILE]
    existing = [n for n in names if (out / n).exists()]
    if existing and not args.force:
        raise CommandError(f"{out} already holds {', '.join(existing)}: nothing written (--force overwrites them)")
    created = [d for d in (out, *out.parents) if not d.exists()]
    out.mkdir(parents=True, exist_ok=True)
    written: list[DownloadedFile] = []
    partials = [_partial(out / n) for n in names]
    finished = False
    try:
        for link in answer["artifacts"]:
            path = out / link["name"]
            sha256, size = _fetch(link["url"], link["name"], _partial(path))
            if link["sha256"] is not None and sha256 != link["sha256"]:
                raise CommandError(
                    f"{link['name']}: its sha256 is {sha256}, the registry recorded {link['sha256']}: "
                    "nothing written (the partial file is deleted)"
                )
            written.append(DownloadedFile(link["name"], path, sha256, size, link["sha256"] is not None))
        card_bytes = (json.dumps(card, indent=2, sort_keys=True) + "\n").encode()
        card_path = out / MODEL_CARD_FILE
        _partial(card_path).write_bytes(card_bytes)
        written.append(
            DownloadedFile(MODEL_CARD_FILE, card_path, hashlib.sha256(card_bytes).hexdigest(), len(card_bytes), True)
        )
        for file in written:
            os.replace(_partial(file.path), file.path)
        finished = True
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)
        if not finished:
            _remove_empty(created)
    document = {
        "model": args.name,
        "version": version,
        "directory": str(out),
        "files": [f.as_document() for f in written],
    }
    lines = [f"{args.name} v{version} -> {out}/"]
    lines += [
        f"  {f.name:<16} {f.size:>12,} bytes  sha256 {f.sha256[:16]}…  "
        + ("verified" if f.verified else "not checked: the registry recorded no digest for it")
        for f in written
    ]
    emit(args, document, "\n".join(lines))
    return EXIT_OK
