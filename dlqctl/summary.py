"""Triage: group a DLQ's messages by kind, error, origin and event, and when they failed."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dlqctl.models import JsonValue, MessageView, iso_utc

_NORMALISERS = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.I), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)
_BUCKET_SIZES = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 24
DAY_SECONDS = 86400


def normalise(text: str | None, width: int = 160) -> str:
    """An error text with IDs, times and numbers replaced, so one cause makes one group."""
    if not text:
        return ""
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Group:
    """Messages sharing one key, with when the first and the last of them were sent."""

    key: dict[str, str | None]
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def add(self, sent_at: datetime | None) -> None:
        self.count += 1
        if sent_at is None:
            return
        if self.first_seen is None or sent_at < self.first_seen:
            self.first_seen = sent_at
        if self.last_seen is None or sent_at > self.last_seen:
            self.last_seen = sent_at

    def to_json(self) -> dict[str, JsonValue]:
        return {
            **self.key,
            "count": self.count,
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
        }


@dataclass(frozen=True)
class Bucket:
    start: datetime
    count: int


@dataclass
class Summary:
    """What ``summary`` reports; ``to_json`` is its stable JSON form."""

    queue: str
    total: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    groups: dict[str, list[Group]] = field(default_factory=dict)
    bucket_seconds: int = 60
    buckets: list[Bucket] = field(default_factory=list)
    coverage: dict[str, JsonValue] | None = None
    """How much of the queue was read (``Coverage.to_json``); a capped walk is a sample."""
    expiring_within_24h: int = 0
    """Messages SQS deletes within a day (the queue's retention runs out)."""
    soonest_expiry: datetime | None = None
    error: str | None = None
    """The error that stopped the walk part way: the summary is of what was read before it."""
    signal: int | None = None
    """The signal (Ctrl-C) that stopped the walk part way, likewise."""

    @property
    def is_sample(self) -> bool:
        return self.coverage is not None and not self.coverage.get("complete", True)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "queue": self.queue,
            "total": self.total,
            "coverage": self.coverage,
            "expiring_within_24h": self.expiring_within_24h,
            "soonest_expiry": iso_utc(self.soonest_expiry),
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            **{name: [group.to_json() for group in groups] for name, groups in self.groups.items()},
            "histogram": {
                "bucket_seconds": self.bucket_seconds,
                "buckets": [
                    {"start": iso_utc(bucket.start), "count": bucket.count}
                    for bucket in self.buckets
                ],
            },
            **({} if self.error is None else {"error": self.error}),
            **({} if self.signal is None else {"signal": self.signal}),
        }


def _keys(view: MessageView) -> dict[str, dict[str, str | None]]:
    event = view.event if isinstance(view.event, dict) else {}
    origin = view.origin
    origin_arn = (
        origin.get("function_arn")
        or origin.get("rule_arn")
        or origin.get("topic_arn")
        or origin.get("source_queue_arn")
    )
    return {
        "by_kind": {"kind": view.kind},
        "by_error": {
            "kind": view.kind,
            "code": view.error.code if view.error else None,
            "message": normalise(view.error.message) if view.error else None,
        },
        "by_origin": {
            "kind": view.kind,
            "origin": origin_arn,
            "target": origin.get("target_arn"),
        },
        "by_event": {
            "source": str(event["source"]) if "source" in event else None,
            "detail_type": str(event["detail-type"]) if "detail-type" in event else None,
        },
    }


def bucket_size(span_seconds: float) -> int:
    """The smallest of the usual sizes that fits ``span_seconds`` in at most 24 buckets."""
    for size in _BUCKET_SIZES:
        if span_seconds / size < MAX_BUCKETS:
            return size
    return _BUCKET_SIZES[-1]


def summarize(queue: str, views: Iterable[MessageView]) -> Summary:
    """Group messages as they stream by; keeps counts per minute, not the messages."""
    tally = Tally(queue)
    for view in views:
        tally.add(view)
    return tally.summary()


class Tally:
    """A summary in the making: ``add`` each message as it streams by, and ``summary`` gives
    what was added so far (all of it, or what came before an error stopped the stream)."""

    def __init__(self, queue: str) -> None:
        self._summary = Summary(queue=queue)
        self._groups: dict[str, dict[tuple[tuple[str, str | None], ...], Group]] = {
            "by_kind": {},
            "by_error": {},
            "by_origin": {},
            "by_event": {},
        }
        self._per_minute: Counter[int] = Counter()
        self._overall = Group(key={})

    def add(self, view: MessageView) -> None:
        summary = self._summary
        self._overall.add(view.sent_at)
        if view.expires_in_seconds is not None and view.expires_in_seconds <= DAY_SECONDS:
            summary.expiring_within_24h += 1
        if view.expires_at is not None and (
            summary.soonest_expiry is None or view.expires_at < summary.soonest_expiry
        ):
            summary.soonest_expiry = view.expires_at
        if view.sent_at is not None:
            self._per_minute[int(view.sent_at.timestamp()) // 60] += 1
        for name, key in _keys(view).items():
            frozen = tuple(sorted(key.items()))
            group = self._groups[name].get(frozen)
            if group is None:
                group = self._groups[name][frozen] = Group(key=key)
            group.add(view.sent_at)

    def summary(self) -> Summary:
        summary, overall, per_minute = self._summary, self._overall, self._per_minute
        summary.total = overall.count
        summary.first_seen, summary.last_seen = overall.first_seen, overall.last_seen
        summary.groups = {
            name: sorted(found.values(), key=lambda group: (-group.count, str(group.key)))
            for name, found in self._groups.items()
        }
        if per_minute:
            first, last = min(per_minute) * 60, max(per_minute) * 60
            size = bucket_size(last + 60 - first)
            start = first - first % size
            counts: Counter[int] = Counter()
            for minute, count in per_minute.items():
                counts[(minute * 60 - start) // size] += count
            summary.bucket_seconds = size
            summary.buckets = [
                Bucket(datetime.fromtimestamp(start + index * size, tz=UTC), counts.get(index, 0))
                for index in range((last - start) // size + 1)
            ]
        return summary
