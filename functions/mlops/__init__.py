"""The platform's pure core: contracts, datasets, training, ONNX, registry records, serving, drift."""

__version__ = "0.1.0"
