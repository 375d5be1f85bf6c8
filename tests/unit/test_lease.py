"""The redrive lease against the local endpoint: a run that loses it at the same moment stops."""

from __future__ import annotations

import time

import pytest

from dlqctl.errors import LeaseHeld
from dlqctl.lease import LEASE_SECONDS, LEASE_TAG, Lease, QueueLease
from tests.helpers import aws_for, create_queue


def test_a_run_whose_lease_was_taken_at_the_same_moment_stops_at_its_next_batch(fresh_endpoint):
    aws = aws_for(fresh_endpoint)
    queue = create_queue(fresh_endpoint, "orders-dlq")
    first = QueueLease(aws, queue, "run-1", settle_seconds=2.0)  # room for a loaded machine
    second = QueueLease(aws, queue, "run-2", settle_seconds=2.0)
    first.acquire()  # does not wait for the tag to settle
    second.acquire(force=True)  # stands for a writer that raced it
    first.renew()  # before the settle time: nothing read back yet
    time.sleep(2.1)
    with pytest.raises(LeaseHeld, match="at the same moment"):
        first.renew()
    second.renew()  # the winner goes on
    first.release()  # the loser leaves the winner's tag alone
    assert "run-2" in aws.sqs.tags(queue)[LEASE_TAG]
    second.release()
    assert LEASE_TAG not in aws.sqs.tags(queue)


def test_the_lease_tag_uses_only_the_characters_sqs_allows_and_reads_back():
    """SQS developer guide, "Amazon SQS queue quotas", Queue tag: a value may hold Unicode
    letters, digits, whitespace and _ . : / = + - @ (no emulator checks it)."""
    lease = Lease('domain\\o"brien {x}@host-1.example', "a1b2c3", 1_767_225_600.7, 4242)
    value = lease.encode()
    assert all(c.isalnum() or c.isspace() or c in "_.:/=+-@" for c in value), value
    assert len(value) <= 256
    back = Lease.decode(value)
    assert back is not None
    assert (back.run, back.expires_at, back.pid) == ("a1b2c3", 1_767_225_600, 4242)
    assert back.owner == "domain_o_brien__x_@host-1.example"
    assert Lease.decode(Lease("me@here", "r", 5.0).encode()) == Lease("me@here", "r", 5.0)


def test_a_lease_written_by_an_earlier_version_is_still_read():
    earlier = '{"owner":"me@here","run":"r9","expires":1767225600,"pid":7}'
    assert Lease.decode(earlier) == Lease("me@here", "r9", 1_767_225_600.0, 7)
    assert Lease.decode("not a lease") is None


def test_a_run_whose_lease_was_taken_while_it_stalled_stops_at_its_next_renewal(fresh_endpoint):
    aws = aws_for(fresh_endpoint)
    queue = create_queue(fresh_endpoint, "orders-dlq")
    now = [1000.0]
    first = QueueLease(aws, queue, "run-1", clock=lambda: now[0], settle_seconds=0)
    first.acquire()
    first.renew()  # read back: its own
    now[0] += LEASE_SECONDS + 10  # a stall past the lease: another run takes it
    second = QueueLease(aws, queue, "run-2", clock=lambda: now[0], settle_seconds=0)
    assert second.acquire() is None, "an expired lease is free"
    second.renew()
    with pytest.raises(LeaseHeld, match=r"run-2\) took the redrive lease of orders-dlq"):
        first.renew()
    assert "run=run-2" in aws.sqs.tags(queue)[LEASE_TAG], "the stalled run did not take it back"
    first.release()
    assert "run=run-2" in aws.sqs.tags(queue)[LEASE_TAG]
