"""The local inbox: where SNS email lands, one JSON line per mail, and a readable copy on the console."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from localcloud.sns.messages import SENDER

# The project's .local/ directory (localcloud/sns/inbox.py -> the project root).
DEFAULT_INBOX_PATH = Path(__file__).resolve().parents[2] / ".local" / "inbox.jsonl"


@dataclass(frozen=True)
class MailMessage:
    """One email as the recipient would get it; also the JSON line written to the inbox file."""

    to: str
    subject: str
    body: str
    topic: str
    timestamp: str
    message_id: str
    sender: str = f"AWS Notifications <{SENDER}>"
    protocol: str = "email"
    subscription: str = ""


class Inbox:
    """A local mailbox: a JSON-lines file plus a readable echo on a stream.

    `path` defaults to `.local/inbox.jsonl` in the project; `stream` to the process's real standard
    output, `sys.__stdout__`, not `sys.stdout`: while a handler runs, the local Lambda runtime
    routes `sys.stdout` into that function's log, and a mail sent from a handler must still reach
    the person at the console. `echo=False` keeps it quiet.
    """

    def __init__(self, path: Path | str | None = None, *, stream: TextIO | None = None, echo: bool = True) -> None:
        self.path = Path(path) if path is not None else DEFAULT_INBOX_PATH
        self._stream = stream
        self.echo = echo
        self._lock = threading.Lock()
        self._announced: set[str] = set()

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.__stdout__ or sys.stdout

    def deliver(self, message: MailMessage) -> None:
        """Append the mail to the file and show it."""
        line = json.dumps(asdict(message), ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            if self.echo:
                self.stream.write(self.render(message))
                self.stream.flush()

    @staticmethod
    def render(message: MailMessage) -> str:
        rule = "─" * 72
        return (
            f"\n{rule}\n"
            f"📧 To:      {message.to}\n"
            f"   From:    {message.sender}\n"
            f"   Subject: {message.subject}\n"
            f"   Date:    {message.timestamp}\n"
            f"   Topic:   {message.topic}\n"
            f"{rule}\n"
            f"{message.body}\n"
            f"{rule}\n"
        )

    def announce_confirmation(self, subscription_arn: str, endpoint: str, topic_arn: str, protocol: str) -> None:
        """Say once per subscription that AWS would have waited for the recipient to confirm."""
        with self._lock:
            if subscription_arn in self._announced:
                return
            self._announced.add(subscription_arn)
            if self.echo:
                self.stream.write(
                    f"[local inbox] {protocol} subscription of {endpoint} to {topic_arn}: AWS would send a "
                    "confirmation mail and deliver nothing until it is confirmed; the local cloud treats it "
                    "as confirmed.\n"
                )
                self.stream.flush()

    def messages(self) -> list[MailMessage]:
        """Every mail in the file, oldest first."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [MailMessage(**json.loads(line)) for line in handle if line.strip()]

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)
