"""Serving: prediction requests checked against a model's signature, answered by onnxruntime.

The predict and batch-scoring functions import this package and nothing of `mlops.training`,
scikit-learn, scipy, pandas or pydantic: numpy, onnxruntime and the standard library keep the cold
start short. The signature JSON it reads is written by `mlops.training.signature` at registration.

- `predict`: one predict request answered (`answer()`): the champion, a canary or a shadow, capture;
- `inputs`: a request's rows checked and encoded against the signature, each problem with its row
  and field; `signature`: the served signature; `date_parts`: a date's derived numbers, the one
  function training and serving share;
- `models`: versions loaded from the registry and the artifacts bucket, cached per alias;
  `rollout`: which version answers a request; `policy`: the deployed serving policy;
  `session`: the onnxruntime session; `capture`: captured requests, by model, version and hour;
- `explain`: a request's per-field contributions from the explanation artifact (linear models;
  tree ensembles by `tree_shap`, exact TreeSHAP, or Saabas past its budget);
- `batch/`: files under `batch/<model>/` scored chunk by chunk with the same code.
"""
