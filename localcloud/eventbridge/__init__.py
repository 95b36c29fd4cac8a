"""EventBridge as the local cloud needs it: rule matching, target delivery and a schedule clock.

What moto 5.2 does with EventBridge (measured): it stores rules and targets, and `put_events`
hands each event to every rule on the bus, but

* a schedule-only rule has an empty pattern and so matches *every* `put_events`;
* disabled rules receive events too;
* Lambda, Step Functions and SNS targets raise NotImplementedError, which fails the whole
  `put_events` call;
* Input and InputPath are ignored and InputTransformer only works for JSON templates;
* schedules never fire.

This package supplies those behaviours on top of moto's own state, so the rules and targets the
CloudFormation template creates are the ones that run: `patterns` (EventBridge's event-pattern
semantics), `target_input` (Input, InputPath, InputTransformer), `targets` (`deliver(event)` matches
an event against every rule on a bus and delivers it: Lambda as an asynchronous invoke with up to 2
retries, Step Functions `start_execution`, SNS `publish`, SQS `send_message`; CloudWatch Logs,
archives, other buses and API destinations are left to moto; services that emit events call it),
`event_format`, and the scheduling: `schedule_expressions` (`rate(...)` / `cron(...)`, pure),
`clocks` and `scheduler` (`Scheduler` fires ENABLED schedule rules against a clock that may run
faster than real time, from a background thread or step by step with `advance()`, which stops at
each firing on the way; in a `LocalCloud` that clock is the cloud's, `localcloud.clock`).

How it is installed: `install()` / `uninstall()` (or `with installed():`) route moto's own
`put_events` (and S3's EventBridge notifications and replays) through `targets` (`put_events`);
the local cloud runs one `Scheduler`.
"""

from localcloud.eventbridge.clocks import Clock, ManualClock, ScaledClock
from localcloud.eventbridge.patterns import matches_pattern
from localcloud.eventbridge.put_events import drain, install, installed, is_installed, uninstall
from localcloud.eventbridge.schedule_expressions import Schedule, ScheduleExpressionError, parse_schedule_expression
from localcloud.eventbridge.scheduler import Firing, Scheduler
from localcloud.eventbridge.target_input import render_target_input
from localcloud.eventbridge.targets import Delivery, LambdaInvocation, deliver, invoke_lambda_async, recent_deliveries

__all__ = [
    "Clock",
    "Delivery",
    "Firing",
    "LambdaInvocation",
    "ManualClock",
    "ScaledClock",
    "Schedule",
    "ScheduleExpressionError",
    "Scheduler",
    "deliver",
    "drain",
    "install",
    "installed",
    "invoke_lambda_async",
    "is_installed",
    "matches_pattern",
    "parse_schedule_expression",
    "recent_deliveries",
    "render_target_input",
    "uninstall",
]
