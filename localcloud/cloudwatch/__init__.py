"""CloudWatch in the local cloud: the metrics AWS would extract or publish, and alarm evaluation.

What moto 5.2 lacks (measured):

* nothing extracts metrics from the EMF lines Powertools prints, and no service publishes its own
  metrics (AWS/Lambda, AWS/States, AWS/SQS): `emf`, `metrics` (the Lambda runtime and Step
  Functions call them);
* `put_metric_alarm` stores alarms, in state OK with reason "Unchecked: Initial alarm creation"
  (AWS starts them in INSUFFICIENT_DATA), and nothing ever evaluates them or runs their actions:
  `AlarmEvaluator` (`alarm_evaluator`), with `statistics`, `metric_math`, the decision
  (`alarm_decision`), the notification and mail text (`alarm_notifications`) and the state-change
  event (`alarm_events`);
* `set_alarm_state` changes the state and keeps the previous one in `Alarm.history`, but
  `describe_alarm_history` is not implemented and no action runs: `alarm_history`, `alarm_api`;
* `get_metric_statistics` ignores `ExtendedStatistics` (no percentiles), starts its periods at
  the first datapoint instead of on period boundaries, and matches dimensions as a subset;
  `get_metric_data` with a `p99` stat fails to serialise: so `statistics` reads moto's stored
  datapoints and computes them itself.

How it is installed: `install()` adds `describe_alarm_history` to moto's CloudWatch API and actions
to `set_alarm_state` (`uninstall()` removes them); the local cloud runs an `AlarmEvaluator` on demand
(`LocalCloud.evaluate_alarms`) or on a background thread (`make up`).
"""

from localcloud.cloudwatch.alarm_api import install, installed, is_installed, uninstall
from localcloud.cloudwatch.alarm_decision import Decision, decide
from localcloud.cloudwatch.alarm_evaluator import AlarmEvaluator, AlarmTransition
from localcloud.cloudwatch.alarm_history import alarm_history
from localcloud.cloudwatch.alarm_notifications import region_name
from localcloud.cloudwatch.emf import metrics_from_emf_lines
from localcloud.cloudwatch.metric_math import AlarmExpressionError
from localcloud.cloudwatch.metrics import Dimension, MetricDatum, publish_queue_metrics, store_metric_data
from localcloud.cloudwatch.statistics import Datapoint

__all__ = [
    "AlarmEvaluator",
    "AlarmExpressionError",
    "AlarmTransition",
    "Datapoint",
    "Decision",
    "Dimension",
    "MetricDatum",
    "alarm_history",
    "decide",
    "install",
    "installed",
    "is_installed",
    "metrics_from_emf_lines",
    "publish_queue_metrics",
    "region_name",
    "store_metric_data",
    "uninstall",
]
