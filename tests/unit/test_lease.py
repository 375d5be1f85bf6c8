"""The redrive lease against the local endpoint: a run that loses it at the same moment stops."""

from __future__ import annotations

import time

import pytest

from dlqctl.errors import LeaseHeld
from dlqctl.lease import LEASE_TAG, QueueLease
from tests.helpers import aws_for, create_queue


def test_a_run_whose_lease_was_taken_at_the_same_moment_stops_at_its_next_batch(fresh_endpoint):
    aws = aws_for(fresh_endpoint)
    queue = create_queue(fresh_endpoint, "orders-dlq")
    first = QueueLease(aws, queue, "run-1", settle_seconds=0.2)
    second = QueueLease(aws, queue, "run-2", settle_seconds=0.2)
    first.acquire()  # does not wait for the tag to settle
    second.acquire(force=True)  # stands for a writer that raced it
    first.renew()  # before the settle time: nothing read back yet
    time.sleep(0.25)
    with pytest.raises(LeaseHeld, match="at the same moment"):
        first.renew()
    second.renew()  # the winner goes on
    first.release()  # the loser leaves the winner's tag alone
    assert "run-2" in aws.sqs.tags(queue)[LEASE_TAG]
    second.release()
    assert LEASE_TAG not in aws.sqs.tags(queue)
