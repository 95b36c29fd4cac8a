"""A container's process: started in its own session, its output read line by line, its memory held
to the container's limit, its exit code reported as Docker reports it.

The limit is on resident memory, summed over the process and its children, as the container's cgroup
counts it: a watchdog samples `/proc` every few milliseconds and kills the whole session with SIGKILL
once it is over, which ECS then reports as exit code 137 and "OutOfMemoryError: Container killed due
to memory usage". An address-space limit (RLIMIT_AS) is not used: it refuses the virtual reservations
(thread stacks, allocator arenas, BLAS buffers) that a cgroup lets through, so code that runs on
Fargate would fail here, and Python would report a MemoryError with exit code 1 instead of being killed.
A process killed by a signal exits with 128 + the signal's number, as Docker reports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
WATCH_INTERVAL_S = 0.01


@dataclass(frozen=True)
class ContainerExit:
    """How a container's process ended."""

    exit_code: int
    out_of_memory: bool
    peak_rss_mib: float


def session_rss_bytes(session_id: int) -> int:
    """Resident memory of every process in a session (the container and whatever it started)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) != session_id:  # fields after the name: state, ppid, pgrp, session, ...
                continue
            total += int(Path(entry.path, "statm").read_text().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return total


class ContainerProcess:
    """One running container; `wait()` returns its exit once the process and its output are done."""

    def __init__(
        self,
        argv: list[str],
        environment: dict[str, str],
        cwd: Path,
        memory_limit_mib: int | None,
        on_line: Callable[[str, float], None],
    ) -> None:
        self._limit = memory_limit_mib * 1024 * 1024 if memory_limit_mib else None
        self._on_line = on_line
        self._oom = False
        self._peak = 0
        self.process = subprocess.Popen(
            argv,
            env=environment,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True, name=f"container-output-{self.pid}")
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self._on_line(raw.decode("utf-8", "replace").rstrip("\r\n"), time.time())

    def wait(self) -> ContainerExit:
        while self.process.poll() is None:
            rss = session_rss_bytes(self.pid)
            self._peak = max(self._peak, rss)
            if self._limit is not None and rss > self._limit:
                self._oom = True
                self.signal(signal.SIGKILL)
            time.sleep(WATCH_INTERVAL_S)
        self.signal(signal.SIGKILL)  # whatever the container started dies with it, as in a container
        for reader in self._readers:
            reader.join(timeout=10)
        code = self.process.returncode
        return ContainerExit(
            exit_code=128 - code if code < 0 else code,
            out_of_memory=self._oom,
            peak_rss_mib=self._peak / 1024 / 1024,
        )

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
            os.killpg(self.pid, signum)
