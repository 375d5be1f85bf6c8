"""A canary redrive: replay a few messages, watch the DLQ for them coming back, then the rest,
and stop (a circuit breaker) when too many of what was replayed came back.

A message *came back* when a DLQ message arrives after its replay (``SentTimestamp``, with a
little slack for clocks) carrying the same content fingerprint (``replays``): for a bus replay
the event's source, detail-type and detail; for a queue move the body and attributes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dlqctl.errors import UsageError
from dlqctl.filters import parse_duration
from dlqctl.models import JsonValue, MessageView
from dlqctl.replays import view_fingerprints

CLOCK_SLACK_SECONDS = 2.0
"""How much earlier than its replay a return may look by SQS's clock and still count."""
STASH_LIMIT = 2000
"""Messages of the rest a watch may read ahead (and hold) while looking for returns."""


def parse_rate(text: str) -> float:
    """'10%' or '10' → 0.10; '0%' stops at the first return."""
    cleaned = text.strip().removesuffix("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise UsageError(
            f"--max-return-rate {text!r} is not a percentage", "give e.g. 10% (0% to 100%)"
        )
    return value / 100


@dataclass(frozen=True)
class CanarySettings:
    """``--canary N --watch DURATION --max-return-rate P``."""

    size: int
    watch_seconds: float
    max_return_rate: float

    @classmethod
    def parse(
        cls, size: int | None, watch: str | None, max_rate: str | None
    ) -> CanarySettings | None:
        """The settings from the options (None without ``--canary``)."""
        if size is None:
            if watch is not None or max_rate is not None:
                raise UsageError(
                    "--watch and --max-return-rate go with --canary",
                    "add --canary N (the messages to replay first)",
                )
            return None
        return cls(
            size=size,
            watch_seconds=parse_duration(watch) if watch else 60.0,
            max_return_rate=parse_rate(max_rate) if max_rate else 0.10,
        )

    def describe(self) -> str:
        return (
            f"canary of {self.size:,}, watched for {self.watch_seconds:g} s; stops when more "
            f"than {self.max_return_rate:.0%} of what was replayed comes back"
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "size": self.size,
            "watch_seconds": self.watch_seconds,
            "max_return_rate": self.max_return_rate,
        }


class ReturnWatch:
    """What a run replayed (fingerprint → first replay time) and which DLQ messages are those
    replays coming back; thread-safe."""

    def __init__(self, settings: CanarySettings) -> None:
        self.settings = settings
        self._replayed: dict[int, float] = {}
        self.sent = 0
        self.replayed = 0
        self.returned: set[str] = set()
        self.looked_at = 0
        """Messages the watch received while looking for returns."""
        self.read_ahead_full = False
        self.stopped: str | None = None
        self.phase = "canary"
        self._lock = threading.Lock()

    def sending(self, fingerprints: Sequence[str]) -> None:
        """Replays about to be sent: a return may arrive before the send is acknowledged, so
        it counts from now."""
        now = time.time()
        with self._lock:
            self.sent += len(fingerprints)
            for fingerprint in fingerprints:
                self._replayed.setdefault(int(fingerprint, 16), now)

    def acknowledged(self, fingerprints: Sequence[str]) -> None:
        """Replays the destination acknowledged."""
        with self._lock:
            self.replayed += len(fingerprints)

    def unacknowledged(self) -> bool:
        """After the canary: whether some of its replays were refused or got no answer. Then
        the run stops there (a destination that does not acknowledge cannot be judged by what
        comes back, and the rest would go the same way)."""
        with self._lock:
            if self.stopped is None and self.sent > self.replayed:
                self.stopped = (
                    f"{self.sent - self.replayed:,} of the canary's {self.sent:,} replay(s) were "
                    "refused or got no answer: nothing more was sent"
                )
            return self.stopped is not None

    def looked(self, count: int) -> None:
        with self._lock:
            self.looked_at += count

    def returns(self, views: Sequence[MessageView]) -> list[MessageView]:
        """The views that are replays of this run coming back (counted once each)."""
        found: list[MessageView] = []
        with self._lock:
            if not self._replayed:
                return found
            for view in views:
                if view.sent_at is None:
                    continue
                arrived = view.sent_at.timestamp()
                for fingerprint in view_fingerprints(view):
                    replayed_at = self._replayed.get(int(fingerprint, 16))
                    if replayed_at is not None and arrived >= replayed_at - CLOCK_SLACK_SECONDS:
                        self.returned.add(view.message_id)
                        found.append(view)
                        break
        return found

    @property
    def rate(self) -> float:
        with self._lock:
            if not self.replayed:
                return 0.0
            return min(len(self.returned), self.replayed) / self.replayed

    def check(self) -> bool:
        """Whether the breaker trips now (more than the allowed share came back); once tripped,
        it stays so."""
        if self.stopped is None and self.rate > self.settings.max_return_rate:
            self.stopped = (
                f"{len(self.returned):,} of {self.replayed:,} replayed message(s) came back "
                f"({self.rate:.0%}, over {self.settings.max_return_rate:.0%}) during the "
                f"{self.phase}: nothing more was sent"
            )
        return self.stopped is not None

    def status(self) -> str:
        return (
            f"{self.phase}: {self.sent:,} sent, {self.replayed:,} acknowledged, "
            f"{len(self.returned):,} returned"
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            **self.settings.to_json(),
            "sent": self.sent,
            "replayed": self.replayed,
            "returned": len(self.returned),
            "return_rate": round(self.rate, 4),
            "returned_ids": sorted(self.returned),
            "watch_looked_at": self.looked_at,
            "watch_complete": not self.read_ahead_full,
            "stopped": self.stopped,
        }
