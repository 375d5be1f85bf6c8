"""Summary grouping, error normalisation and histogram buckets (no AWS)."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

import pytest

from dlqctl import summary
from dlqctl.envelopes import decode
from dlqctl.interrupts import each_whole
from dlqctl.models import MessageAttribute, ReceivedMessage
from dlqctl.summary import Tally, bucket_size, normalise, summarize

BASE = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def lambda_failure(index: int, error: str, minutes: int) -> ReceivedMessage:
    sent = BASE + timedelta(minutes=minutes)
    return ReceivedMessage(
        message_id=f"m{index}",
        receipt_handle=f"h{index}",
        body='{"source": "shop.orders", "detail-type": "OrderPlaced", "detail": {}}',
        attributes={
            "SentTimestamp": str(int(sent.timestamp() * 1000)),
            "ApproximateReceiveCount": "1",
        },
        message_attributes={
            "RequestID": MessageAttribute("String", f"req-{index}"),
            "ErrorCode": MessageAttribute("Number", "200"),
            "ErrorMessage": MessageAttribute("String", error),
        },
    )


def test_normalise_merges_ids_and_numbers():
    a = normalise(
        "Order 1234 failed: request 6f1c2b8e-0b0a-4c3e-9a55-0a1b2c3d4e5f timed out after 3.5s"
    )
    b = normalise(
        "Order 98 failed: request 0d5e8f5c-1111-4222-8333-444455556666 timed out after 10s"
    )
    assert a == b == "Order <n> failed: request <id> timed out after <n>s"
    assert normalise(None) == ""


def test_bucket_sizes_fit_the_span():
    assert bucket_size(10 * 60) == 60
    assert bucket_size(3 * 3600) == 900
    assert bucket_size(5 * 86400) == 6 * 3600
    assert bucket_size(400 * 86400) == 7 * 86400


def test_summarize_groups_and_histogram():
    messages = [lambda_failure(i, f"Order {i} declined", minutes=i) for i in range(6)]
    messages += [lambda_failure(10 + i, "Timeout", minutes=30 + i) for i in range(2)]
    result = summarize(
        "orders-dlq", (decode(message, now=BASE + timedelta(hours=1)) for message in messages)
    )
    data = result.to_json()
    assert data["total"] == 8
    assert data["by_kind"] == [
        {
            "kind": "lambda-dlq",
            "count": 8,
            "first_seen": "2026-11-27T03:00:00.000Z",
            "last_seen": "2026-11-27T03:31:00.000Z",
        }
    ]
    errors = [(group["message"], group["count"]) for group in data["by_error"]]
    assert errors == [("Order <n> declined", 6), ("Timeout", 2)]
    assert data["by_event"][0]["source"] == "shop.orders"
    histogram = data["histogram"]
    assert histogram["bucket_seconds"] == 300
    assert sum(bucket["count"] for bucket in histogram["buckets"]) == 8
    assert histogram["buckets"][0] == {"start": "2026-11-27T03:00:00.000Z", "count": 5}
    assert histogram["buckets"][-1]["start"] == "2026-11-27T03:30:00.000Z"
    assert len(histogram["buckets"]) == 7


def test_summarize_nothing():
    data = summarize("empty", []).to_json()
    assert data["total"] == 0 and data["histogram"]["buckets"] == []


def test_a_ctrl_c_while_a_message_is_tallied_takes_effect_after_it(monkeypatch):
    # The summary an interrupted `dlqctl summary` shows is what was read before the Ctrl-C:
    # the message being counted when it came is counted whole (in the total and in every
    # grouping), so the partial summary is exactly the summary of those messages.
    views = [
        decode(lambda_failure(i, f"Order {i} declined", minutes=i), now=BASE + timedelta(hours=1))
        for i in range(6)
    ]
    original = summary.Group.add
    adds = 0

    def add(group: summary.Group, sent_at: datetime | None) -> None:
        nonlocal adds
        adds += 1
        if adds == 2 * 5 + 3:  # the third message: its overall count and two of its groups
            os.kill(os.getpid(), signal.SIGINT)
        original(group, sent_at)

    monkeypatch.setattr(summary.Group, "add", add)
    tally = Tally("orders-dlq")
    with pytest.raises(KeyboardInterrupt):
        each_whole(views, tally.add)
    partial = tally.summary().to_json()
    monkeypatch.setattr(summary.Group, "add", original)
    assert partial["total"] == 3
    assert partial == summarize("orders-dlq", views[:3]).to_json()
