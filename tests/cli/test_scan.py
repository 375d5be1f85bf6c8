"""The queue walk against the real endpoint: holds are renewed before they run out."""

from __future__ import annotations

from dlqctl.models import OutgoingMessage
from dlqctl.scan import QueueScan
from tests.helpers import aws_for, counts, create_queue, put


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_holds_are_renewed_and_released(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"{n}") for n in range(25)])
    clock = Clock()
    aws = aws_for(fresh_endpoint)
    with QueueScan(aws.sqs, queue, hold_seconds=60, clock=clock) as scan:
        batches = scan.batches()
        first = next(batches)
        assert len(first) == 10
        clock.now += 50  # the first batch's hold ends within the renewal margin
        second = next(batches)
        assert scan.stats.renewed == 10
        assert {m.message_id for m in first}.isdisjoint(m.message_id for m in second)
        rest = [message for batch in batches for message in batch]
        assert len(first) + len(second) + len(rest) == 25
        assert counts(fresh_endpoint, queue) == (0, 25)
    assert scan.stats.released == 25
    assert counts(fresh_endpoint, queue) == (25, 0)


def test_forgotten_messages_are_not_released(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"{n}") for n in range(5)])
    aws = aws_for(fresh_endpoint)
    with QueueScan(aws.sqs, queue, hold_seconds=60) as scan:
        messages = list(scan.messages())
        deletion = aws.sqs.delete(queue, messages[:2])
        assert len(deletion.deleted) == 2
        scan.forget(deletion.deleted)
    assert scan.stats.released == 3
    assert scan.stats.release_failures == 0
    assert counts(fresh_endpoint, queue) == (3, 0)
