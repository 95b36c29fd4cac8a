"""Lambda in the local cloud: handlers run in-process, where moto would need Docker.

What moto lacks: moto runs a function only in a Docker container, runs `InvocationType=Event` and
S3 notifications inline and drops their errors, and keeps neither a function's log group nor its
dead-letter target. Here every path that invokes a function (boto3 `invoke`, S3 notifications, Step
Functions tasks, custom resources, SNS, EventBridge) runs the handler from its source directory
(`code`) in a sandbox with the function's environment, role and timeout (`sandbox`, `invocation`),
writes its logs and metrics (`logs_and_metrics`; what reaches the log group as its LoggingConfig says,
`logging_config`), queues asynchronous events with Lambda's retries
and dead-letter target (`async_invocations`), and holds S3's notifications to the function's
resource policy (`s3_notifications`), and serves function URLs over HTTP with their SigV4 and IAM checks
(`function_urls`; `LocalCloud.serve_function_url`). `runtime_state` is what the runtime knows beyond moto.

How it is installed: `install(endpoint_url=...)` replaces moto's `LambdaFunction._invoke_lambda`
and `invoke` and S3's notification to Lambda (`hooks`); `deploy()` registers each asset's source
(`register_code`) and what the template says that moto drops (`supplement`); `uninstall()` restores
moto and forgets every loaded handler (`reset`). The package is `lambda_` because `lambda` is a keyword.
"""

from localcloud.lambda_.async_invocations import ASYNC_RETRY_ATTEMPTS, drain, invoke_async, send_to_dead_letter_target
from localcloud.lambda_.hooks import install, reset, uninstall
from localcloud.lambda_.invocation import run
from localcloud.lambda_.logging_config import LoggingConfig, LoggingConfigError
from localcloud.lambda_.logs_and_metrics import dead_letter_error_metrics, lambda_service_metrics
from localcloud.lambda_.runtime_state import (
    DeadLetterSink,
    FunctionSupplement,
    Invocation,
    MetricSink,
    endpoint_url,
    history,
    register_code,
    set_dead_letter_sink,
    set_metric_sink,
    supplement,
)
from localcloud.lambda_.s3_notifications import RefusedDelivery, refused_deliveries
from localcloud.lambda_.sandbox import LambdaTimeout

__all__ = [
    "ASYNC_RETRY_ATTEMPTS",
    "DeadLetterSink",
    "FunctionSupplement",
    "Invocation",
    "LambdaTimeout",
    "LoggingConfig",
    "LoggingConfigError",
    "MetricSink",
    "RefusedDelivery",
    "dead_letter_error_metrics",
    "drain",
    "endpoint_url",
    "history",
    "install",
    "invoke_async",
    "lambda_service_metrics",
    "refused_deliveries",
    "register_code",
    "reset",
    "run",
    "send_to_dead_letter_target",
    "set_dead_letter_sink",
    "set_metric_sink",
    "supplement",
    "uninstall",
]
