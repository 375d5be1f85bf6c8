"""A clock on every message: when SQS deletes it (the queue's retention from its enqueue time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dlqctl.envelopes import QueueContext, decode
from dlqctl.models import OutgoingMessage
from tests import shapes
from tests.helpers import create_queue, put


def test_expiry_counts_from_the_original_enqueue_time():
    """SQS keeps a standard DLQ message's original SentTimestamp (AWS-DLQ-REFERENCE A5), so
    the time it spent in the source queue counts against the DLQ's retention."""
    message = shapes.received("sqs_redrive")  # SentTimestamp 1677112427387
    sent = datetime.fromtimestamp(1677112427.387, tz=UTC)
    now = sent + timedelta(days=13)
    view = decode(message, QueueContext(retention_seconds=14 * 86400), now=now)
    assert view.expires_at == sent + timedelta(days=14)
    assert view.expires_in_seconds == 86400
    assert view.expiry_approximate is False
    fifo = decode(message, QueueContext(retention_seconds=14 * 86400, fifo=True), now=now)
    assert fifo.expiry_approximate is True
    assert decode(message, QueueContext(), now=now).expires_at is None


def test_peek_shows_expiry_and_selects_what_is_about_to_go(cli, fresh_endpoint):
    short = create_queue(fresh_endpoint, "short-dlq", MessageRetentionPeriod="600")
    put(fresh_endpoint, short, [OutgoingMessage("m", f"m{n}") for n in range(3)])
    views = cli("peek", "short-dlq", "-o", "json").json()
    for view in views:
        sent = datetime.fromisoformat(view["sent_at"].replace("Z", "+00:00"))
        expires = datetime.fromisoformat(view["expires_at"].replace("Z", "+00:00"))
        assert expires - sent == timedelta(seconds=600)
        assert 0 < view["expires_in_seconds"] <= 600
    soon = cli("peek", "short-dlq", "--expiring-within", "15m", "-o", "json")
    assert len(soon.json()) == 3
    later = cli("peek", "short-dlq", "--expiring-within", "5m", "-o", "json")
    assert later.json() == []
    assert "matched none of the 3" in later.stderr


def test_summary_warns_about_what_expires_within_a_day(cli, fresh_endpoint):
    short = create_queue(fresh_endpoint, "short-dlq", MessageRetentionPeriod="3600")
    put(fresh_endpoint, short, [OutgoingMessage("m", f"m{n}") for n in range(4)])
    result = cli("summary", "short-dlq", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["expiring_within_24h"] == 4
    assert data["soonest_expiry"] is not None
    assert "4 message(s) expire within 24 hours" in result.stderr
    long = create_queue(fresh_endpoint, "long-dlq")
    put(fresh_endpoint, long, [OutgoingMessage("m", "x")])
    assert cli("summary", "long-dlq", "-o", "json").json()["expiring_within_24h"] == 0
