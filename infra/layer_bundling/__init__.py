"""Lambda layers built without Docker: installed for the Lambda platform, trimmed, cached, size-known.

`cdk_layer.python_layer` is what constructs call. The asset hash is the layer's cache key
(requirements, architecture, Python version, the lock pins the layer installs, bundler version), so
synthesis never needs Docker and a layer changes exactly when what it installs changes. A built
layer lives in `${XDG_CACHE_HOME:-~/.cache}/serverless-mlops/layers/`, outside the checkout; later
synths copy (hard-link) it from there.

One module per step, in the order a layer goes through them:
- `spec`: what a layer is built from (`layers/<name>/` for one architecture) and the key naming it;
- `lock`: the project's lock, whose pins a layer must match and whose graph gives its closure;
- `toolchain`: the Python 3.12 interpreter and the installer (uv, else pip) found on this machine;
- `cache`: where built layers live, and reusing one instead of building it twice;
- `build`: one build, from installing to the manifest;
- `install`: the uv/pip invocation for Lambda's platform, and which distributions stay;
- `trim`: deleting what Lambda never reads, precompiling what it does;
- `cdk_layer`: the CDK side, a `LayerVersion` whose asset is bundled locally.
"""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Progress on stderr: a cold build takes minutes and `cdk synth` shows nothing else meanwhile."""
    print(f"[layer_bundling] {message}", file=sys.stderr, flush=True)
