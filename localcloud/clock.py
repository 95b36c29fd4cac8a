"""The local cloud's one clock: functions, moto, the threads they start and the scheduler read one time.

On AWS a schedule, a function's `datetime.now()`, an S3 object's LastModified and a metric's
timestamp come from one time. In-process they would not: the scheduler had a clock of its own while
everything else read the machine's. `CloudClock` moves the process's wall clock instead (time-machine:
`time.time`, `time.time_ns`, `datetime.now`, `gmtime`, `clock_gettime(CLOCK_REALTIME)` and what is
built on them, in every thread, moto's timestamps, EMF lines and request signatures included) to the
cloud's time for as long as the cloud runs: it starts where the cloud is told (default: now), ticks
with real time, `advance(delta)` jumps it forward, and `speed` > 1 runs it faster.

The monotonic clocks (`time.monotonic`, `perf_counter`) stay real on purpose: Lambda timeouts,
throttles, waits and the caches measured on them keep real seconds, so a jump neither interrupts a
running handler nor ages a cache (on AWS three days would expire the predict function's alias cache;
here it expires five real seconds after it was filled, as before). A process outside the cloud (the
AWS CLI beside `make up`) keeps its own clock. Stopping the cloud ends the travel, so no moved time
leaks into what runs after it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Self

import time_machine


class CloudClock:
    """The cloud's time as the whole process reads it, between `start()` and `stop()`.

    At `speed` > 1 the extra time is added each time `now()` is read (the scheduler reads it every
    tick): between reads, time runs at real speed, so the process's time moves forward in small
    jumps and never back.
    """

    def __init__(self, start: datetime | None = None, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_at = start.astimezone(UTC) if start is not None else None
        self.speed = speed
        self._travel: time_machine.travel | None = None
        self._traveller: time_machine.Traveller | None = None
        self._real_mark = 0.0
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._traveller is not None

    def start(self) -> Self:
        """Move the process's wall clock to the cloud's start; from here it ticks."""
        if self._traveller is not None:
            raise RuntimeError("this clock is already running")
        self._travel = time_machine.travel(self.start_at or datetime.now(UTC), tick=True)
        self._traveller = self._travel.start()
        self._real_mark = time.monotonic()
        return self

    def stop(self) -> None:
        """Give the process its real time back."""
        with self._lock:
            if self._travel is not None:
                self._travel.stop()
            self._travel = self._traveller = None

    def now(self) -> datetime:
        self._catch_up()
        return datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        """Jump forward: every reader of the wall clock, in every thread, sees the moved time."""
        if delta < timedelta(0):
            raise ValueError("the cloud's clock only moves forward")
        with self._lock:
            if self._traveller is None:
                raise RuntimeError("the cloud's clock is not running")
            self._traveller.shift(delta)

    def _catch_up(self) -> None:
        if self.speed == 1.0:
            return
        with self._lock:
            if self._traveller is None:
                return
            real = time.monotonic()
            self._traveller.shift(timedelta(seconds=(real - self._real_mark) * (self.speed - 1.0)))
            self._real_mark = real
