"""The onnxruntime session every model runs in, at training (parity, latency gate) and serving alike."""

from __future__ import annotations

import onnxruntime as ort


def session_options() -> ort.SessionOptions:
    """One thread (a Lambda has one or two vCPUs; threads only add contention for one request),
    every graph optimization, sequential execution."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def inference_session(onnx_bytes: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(onnx_bytes, sess_options=session_options(), providers=["CPUExecutionProvider"])
