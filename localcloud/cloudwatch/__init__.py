"""CloudWatch: metrics from EMF lines, the metrics AWS publishes itself, and alarm evaluation."""

from localcloud.cloudwatch.emf import metrics_from_emf_lines
from localcloud.cloudwatch.metrics import Dimension, MetricDatum, publish_queue_metrics, store_metric_data

__all__ = ["Dimension", "MetricDatum", "metrics_from_emf_lines", "publish_queue_metrics", "store_metric_data"]
