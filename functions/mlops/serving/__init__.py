"""Serving: prediction requests checked against a model's signature, answered by onnxruntime.

The predict and batch-scoring functions import this package and nothing of `mlops.training`,
scikit-learn, scipy, pandas or pydantic: numpy, onnxruntime and the standard library keep the cold
start short. The signature JSON it reads is written by `mlops.training.signature` at registration.
"""
