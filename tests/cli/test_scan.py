"""The queue walk against the real endpoint: holds are renewed before they run out."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dlqctl import scan as scan_module
from dlqctl.errors import AccessError
from dlqctl.filters import build_selection
from dlqctl.models import OutgoingMessage
from dlqctl.scan import READERS, QueueScan, readers_for, split_batches
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


def test_read_ahead_keeps_receives_under_way_and_yields_each_message_once(faults, fresh_endpoint):
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"{n}") for n in range(95)])
    faults.delay("sqs", "ReceiveMessage", 0.3)
    sqs = aws_for(faults.url).sqs
    under_way, most = [0], [0]
    lock = threading.Lock()
    receive = sqs.receive

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            under_way[0] += 1
            most[0] = max(most[0], under_way[0])
        try:
            return receive(*args, **kwargs)
        finally:
            with lock:
                under_way[0] -= 1

    sqs.receive = counted  # type: ignore[method-assign]
    with QueueScan(sqs, queue, hold_seconds=60, depth_at_start=95) as scan:
        readers = readers_for(scan)
        assert readers == 10
        ids = [message.message_id for batch in scan.read_ahead(readers) for message in batch]
        assert len(ids) == len(set(ids)) == 95
        assert counts(fresh_endpoint, queue) == (0, 95)
    assert most[0] > 1, "the receives overlapped"
    assert scan.stats.released == 95
    assert counts(fresh_endpoint, queue) == (95, 0)


def test_a_second_read_ahead_of_the_same_walk_goes_on(fresh_endpoint):
    """Closing a read-ahead stops its readers only; what they read ahead stays held (and is
    released with the rest), and a later read-ahead of the walk reads on to the end."""
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"{n}") for n in range(60)])
    with QueueScan(aws_for(fresh_endpoint).sqs, queue, hold_seconds=60) as scan:
        first = scan.read_ahead(3)
        handed = len(next(first))
        first.close()
        then = sum(len(batch) for batch in scan.read_ahead(3))
        assert then > 0
        assert handed + then <= scan.seen == 60
    assert scan.stats.released == 60
    assert counts(fresh_endpoint, queue) == (60, 0)


def test_a_read_ahead_ends_with_its_last_reader_not_at_its_next_look(fresh_endpoint, monkeypatch):
    """The walk ends when its readers do: with the signal poll at an hour, a walk that looked
    at its threads only then would still be waiting when the join below gives up."""
    monkeypatch.setattr(scan_module, "HAND_OUT_POLL_SECONDS", 3600.0)
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"{n}") for n in range(25)])
    walked: list[int] = []

    def walk(max_messages: int | None) -> None:
        sqs = aws_for(fresh_endpoint).sqs
        with QueueScan(sqs, queue, hold_seconds=60, max_messages=max_messages) as scan:
            walked.append(sum(len(batch) for batch in scan.read_ahead(3)))

    for bound in (None, 12):  # to the end of the queue, and to a walk's bound
        worker = threading.Thread(target=walk, args=(bound,), daemon=True)
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), f"the walk (bound {bound}) did not end with its readers"
    assert walked[0] == 25
    assert walked[1] == 12
    assert counts(fresh_endpoint, queue) == (25, 0)


def test_readers_are_as_many_as_the_look_needs_and_stay_far_from_the_cap(
    fresh_endpoint, monkeypatch
):
    queue = create_queue(fresh_endpoint, "walk-dlq")
    sqs = aws_for(fresh_endpoint).sqs

    def scan(**options: int) -> QueueScan:
        return QueueScan(sqs, queue, hold_seconds=60, **options)

    assert readers_for(scan(depth_at_start=100_000), limit=20) == 2
    assert readers_for(scan(depth_at_start=35)) == 4
    assert readers_for(scan(depth_at_start=0)) == 1, "an empty queue: one long poll, not ten"
    assert readers_for(scan(depth_at_start=100_000, max_messages=5)) == 1
    assert readers_for(scan(depth_at_start=100_000)) == READERS
    # Three batches a reader within a hundredth of the cap: 10 readers need a cap of 30,000.
    assert readers_for(scan(depth_at_start=100_000, in_flight_limit=6_000)) == 2
    assert readers_for(scan(depth_at_start=100_000, in_flight_limit=25)) == 1


def test_a_filtered_look_for_a_few_reads_ahead_by_the_queue_not_by_its_limit(fresh_endpoint):
    """``-n 1`` with a filter may have to read the whole queue to find its one message: the
    readers follow the queue's depth, while an unfiltered ``-n 1`` reads one batch."""
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage(f"{n}", f"{n}") for n in range(95)])
    sqs = aws_for(fresh_endpoint).sqs
    asked: list[int] = []

    def spied(scan: QueueScan) -> QueueScan:
        read_ahead = scan.read_ahead

        def counted(readers: int) -> Any:
            asked.append(readers)
            return read_ahead(readers)

        scan.read_ahead = counted  # type: ignore[method-assign]
        return scan

    wanted = build_selection("body == '90'")
    with spied(QueueScan(sqs, queue, hold_seconds=60, depth_at_start=95)) as scan:
        found = [view for chosen, _ in split_batches(scan, wanted, limit=1) for view in chosen]
    assert [view.message.body for view in found] == ["90"]
    assert asked == [10]
    with spied(QueueScan(sqs, queue, hold_seconds=60, depth_at_start=95)) as scan:
        first = [
            view for chosen, _ in split_batches(scan, build_selection(), limit=1) for view in chosen
        ]
    assert len(first) == 1
    assert asked == [10, 1]
    assert counts(fresh_endpoint, queue) == (95, 0)


def test_a_reader_that_fails_stops_the_walk_and_nothing_stays_hidden(faults, fresh_endpoint):
    """The failure is raised once the receives under way have completed; everything they took
    is made visible again."""
    queue = create_queue(fresh_endpoint, "walk-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"{n}") for n in range(200)])
    faults.fail("sqs", "ReceiveMessage", "AccessDenied", status=403, after=12)
    scan = QueueScan(aws_for(faults.url).sqs, queue, hold_seconds=600, depth_at_start=200)
    taken: list[str] = []

    def walk() -> None:
        with scan:
            for batch in scan.read_ahead(readers_for(scan)):
                taken.extend(message.message_id for message in batch)

    with pytest.raises(AccessError, match="AccessDenied"):
        walk()
    assert 0 < len(taken) <= 120
    assert scan.stats.released == scan.seen >= len(taken)
    assert counts(fresh_endpoint, queue) == (200, 0)


def test_a_fifo_receive_waiting_for_a_delete_stops_waiting_when_the_walk_is_released(
    fresh_endpoint, monkeypatch
):
    # The walk holds both groups' heads and has deleted one message: SQS hands out nothing
    # more until a delete, so the receive waits for one, and stops waiting when the walk is
    # released, not after the wait.
    monkeypatch.setattr(scan_module, "FIFO_DELETE_WAIT_SECONDS", 60.0)
    queue = create_queue(fresh_endpoint, "walk-dlq.fifo", FifoQueue="true")
    bodies = [f"{group}{n}" for group in "ab" for n in range(2)]
    put(
        fresh_endpoint,
        queue,
        [OutgoingMessage("m", body, group_id=body[0], deduplication_id=body) for body in bodies],
    )
    aws = aws_for(fresh_endpoint)
    scan = QueueScan(aws.sqs, queue, hold_seconds=60, wait_seconds=0, fifo=True)
    held = scan.next_batch()
    assert held
    scan.delete(held[:1])
    ended: list[object] = []
    waiting = threading.Thread(target=lambda: ended.append(scan.next_batch()), daemon=True)
    waiting.start()
    waiting.join(timeout=1.5)
    assert waiting.is_alive()  # it waits for a delete
    scan.release()
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert ended == [None]  # the walk is over: nothing was received after the release
