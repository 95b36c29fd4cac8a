"""The platform's Lambda layers, built without Docker (see infra/layer_bundling/)."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.function_layers import layers_for
from infra.layer_bundling.cdk_layer import python_layer


class Layers(Construct):
    """One layer per dependency family, so each function carries only what it imports.

    inference: onnxruntime + numpy; data: pandas and a Parquet reader; training: scikit-learn,
    skl2onnx, onnx, scipy; powertools: Powertools for AWS Lambda with pydantic and the X-Ray SDK.
    """

    def __init__(self, scope: Construct, construct_id: str, *, architecture: lambda_.Architecture) -> None:
        super().__init__(scope, construct_id)
        self.powertools = python_layer(
            self,
            "Powertools",
            name="powertools",
            architecture=architecture,
            description="Powertools for AWS Lambda (logger, metrics, tracer, parser, event handler)",
        )
        self.inference = python_layer(
            self,
            "Inference",
            name="inference",
            architecture=architecture,
            description="onnxruntime and numpy: everything the predict and drift functions import",
        )
        self.data = python_layer(
            self,
            "Data",
            name="data",
            architecture=architecture,
            description="pandas and a Parquet reader for ingestion",
        )
        self.training = python_layer(
            self,
            "Training",
            name="training",
            architecture=architecture,
            description="scikit-learn, skl2onnx, onnx and scipy for the training pipeline",
        )

    def for_function(self, function: str) -> list[lambda_.ILayerVersion]:
        """The layers `infra/function_layers.py` assigns to a function (the size check reads the same table)."""
        by_name: dict[str, lambda_.ILayerVersion] = {
            "powertools": self.powertools,
            "inference": self.inference,
            "data": self.data,
            "training": self.training,
        }
        return [by_name[name] for name in layers_for(function)]
