"""Messages that arrive in a DLQ while a redrive, a delete or an export walks it are not part
of the run: they are neither replayed nor deleted, and take no place in the walk's bound.

A walk is bounded by the queue's count at its start, and SQS's counts are approximate ("the
result is approximate because of the distributed architecture of Amazon SQS": SQS developer
guide, "Resources required to process Amazon SQS messages"). Here the proxy answers a count
that lags 10 messages behind the queue (a consumer has just deleted them), so the walk looks
for 10 more messages than there are, and meets the ones that arrived meanwhile. A message
arrived when SQS's ``SentTimestamp`` is past the ``Date`` of the count's answer (both SQS's
clock; the ``Date`` to the second): the run's first receive is held long enough for the
new messages to be clearly later.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from tests.helpers import counts, create_queue, put, receive_all

LAG = 10


def lagging_count(queue_name):
    def change(request, answer):
        if request.get("QueueUrl", "").endswith(f"/{queue_name}"):
            attributes = answer.get("Attributes", {})
            if "ApproximateNumberOfMessages" in attributes:
                visible = int(attributes["ApproximateNumberOfMessages"])
                attributes["ApproximateNumberOfMessages"] = str(visible + LAG)

    return change


def new_failures_meanwhile(endpoint, dlq, count=5):
    """Receives held until ``count`` new failures are in the DLQ, 2.5 s after the first (a
    request rewrite that changes nothing: the endpoint sees each receive after that)."""
    first, put_done = threading.Lock(), threading.Event()

    def change(request):
        if first.acquire(blocking=False):
            time.sleep(2.5)
            put(endpoint, dlq, orders(count, start=100))
            put_done.set()
        put_done.wait(10)

    return change


def orders(count, start=0):
    return [OutgoingMessage(f"m{n}", f"order {n}") for n in range(start, start + count)]


def test_a_replay_that_fails_again_is_not_replayed_again(cli_via, boto, faults, fresh_endpoint):
    """The source queue's consumer is still broken: each replay fails, and SQS moves it back
    to the DLQ (maxReceiveCount 1) while the run goes on. Each message is replayed once."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    source = create_queue(
        fresh_endpoint,
        "orders",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"}),
    )
    put(fresh_endpoint, dlq, orders(30))
    faults.rewrite_answers("sqs", "GetQueueAttributes", lagging_count("orders-dlq"))
    faults.delay("sqs", "ReceiveMessage", 2.5).times = 1
    attempts: list[str] = []
    stop = threading.Event()

    def broken_consumer() -> None:  # each message it reads fails; the next receive moves it
        sqs = boto("sqs")
        while not stop.is_set():
            batch = sqs.receive_message(
                QueueUrl=source.url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            attempts.extend(message["Body"] for message in batch)
            if not batch:
                time.sleep(0.01)

    consumer = threading.Thread(target=broken_consumer)
    consumer.start()
    try:
        result = cli_via(
            "redrive",
            "orders-dlq",
            "--to-queue",
            "orders",
            "--concurrency",
            "1",
            "--wait",
            "3",
            "--yes",
            "-o",
            "json",
        )  # fmt: skip  (each empty poll gives the consumer 3 s to bounce a replay back)
        deadline = time.monotonic() + 30
        while (len(attempts) < 30 or counts(fresh_endpoint, source) != (0, 0)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)  # the last replays fail too, and are moved back
    finally:
        stop.set()
        consumer.join()
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["redriven"] == 30
    assert Counter(attempts) == Counter(f"order {n}" for n in range(30)), "each replayed once"
    assert data["coverage"]["complete"] is True
    assert data["coverage"]["arrived"] >= 1  # replays that had come back while it ran
    assert "arrived in the queue while the redrive ran" in result.stderr
    back: list[str] = []
    while len(back) < 30 and time.monotonic() < deadline:
        back += [message["Body"] for message in receive_all(boto, dlq)]
    assert Counter(back) == Counter(f"order {n}" for n in range(30))


def test_a_delete_leaves_what_arrived_while_it_ran(cli_via, boto, faults, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, orders(30))
    faults.rewrite_answers("sqs", "GetQueueAttributes", lagging_count("orders-dlq"))
    faults.rewrite("sqs", "ReceiveMessage", new_failures_meanwhile(fresh_endpoint, dlq))
    result = cli_via(
        "delete", "orders-dlq", "--filter", "starts_with(body, 'order')", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["deleted"] == 30
    assert data["coverage"]["arrived"] == 5
    left = [message["Body"] for message in receive_all(boto, dlq)]
    assert sorted(left) == sorted(f"order {n}" for n in range(100, 105))


@pytest.mark.parametrize("delete", [True, False], ids=["export-delete", "export"])
def test_an_export_that_deletes_leaves_what_arrived_and_a_copy_writes_it(
    cli_via, boto, faults, fresh_endpoint, tmp_path, delete
):
    """A copy cannot loop, and may be followed by a purge: it leaves out nothing it read."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, orders(30))
    faults.rewrite_answers("sqs", "GetQueueAttributes", lagging_count("orders-dlq"))
    faults.rewrite("sqs", "ReceiveMessage", new_failures_meanwhile(fresh_endpoint, dlq))
    out = tmp_path / "out.jsonl"
    deleting = ["--delete"] if delete else []
    result = cli_via("export", "orders-dlq", str(out), *deleting, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    old, new = [f"order {n}" for n in range(30)], [f"order {n}" for n in range(100, 105)]
    exported = [json.loads(line)["sqs"]["body"] for line in out.read_text().splitlines()]
    left = [message["Body"] for message in receive_all(boto, dlq)]
    if delete:
        assert (data["exported"], data["deleted"], data["coverage"]["arrived"]) == (30, 30, 5)
        assert (sorted(exported), sorted(left)) == (sorted(old), sorted(new))
        assert "arrived in the queue while the export ran" in result.stderr
    else:
        assert (data["exported"], data["coverage"]["arrived"]) == (35, 0)
        assert sorted(exported) == sorted(left) == sorted(old + new)
        assert "arrived" not in result.stderr


def test_a_walk_that_more_arrived_in_than_it_was_for_is_not_called_complete(
    cli_via, boto, faults, fresh_endpoint
):
    """Arrivals take no place in the bound up to as many as the bound (40 here); past that
    they count, so 60 arrivals end the walk on its bound: it cannot tell it saw every message
    that was there at its start, and says so (exit 5). None of the arrivals is deleted."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, orders(30))
    faults.rewrite_answers("sqs", "GetQueueAttributes", lagging_count("orders-dlq"))
    faults.rewrite("sqs", "ReceiveMessage", new_failures_meanwhile(fresh_endpoint, dlq, 60))
    result = cli_via(
        "delete", "orders-dlq", "--filter", "starts_with(body, 'order')", "--yes", "-o", "json"
    )
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert data["deleted"] == 30
    assert data["coverage"]["complete"] is False
    assert "arrived during the walk" in data["coverage"]["reason"]
    left = [message["Body"] for message in receive_all(boto, dlq)]
    assert sorted(left) == sorted(f"order {n}" for n in range(100, 160))


def test_new_failures_delivered_first_do_not_crowd_out_older_messages(
    cli_via, boto, faults, fresh_endpoint
):
    """A standard queue hands messages out in no set order ("Standard queues provide
    best-effort ordering": SQS developer guide), so a walk may meet new failures before the
    messages it is for. Here a colleague's peek holds the 30 old messages for a moment just
    as 5 new failures come in, so the walk's first receive brings only the new ones; they must
    not take the place of 5 old ones in the bound (30)."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, orders(30))
    first, put_done = threading.Lock(), threading.Event()

    def colleague_peeks_as_failures_arrive(request):
        if first.acquire(blocking=False):
            sqs = boto("sqs")
            held = 0
            while held < 30:  # all 30 hidden for 3 s, as a peek holds what it shows
                held += len(
                    sqs.receive_message(
                        QueueUrl=dlq.url, MaxNumberOfMessages=10, VisibilityTimeout=3
                    ).get("Messages", [])
                )
            time.sleep(2.2)
            put(fresh_endpoint, dlq, orders(5, start=100))
            put_done.set()
        put_done.wait(10)

    faults.rewrite("sqs", "ReceiveMessage", colleague_peeks_as_failures_arrive)
    result = cli_via(
        "delete", "orders-dlq", "--filter", "starts_with(body, 'order')", "--wait", "5",
        "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    left = [message["Body"] for message in receive_all(boto, dlq)]
    assert sorted(left) == sorted(f"order {n}" for n in range(100, 105)), "every old one deleted"
    data = result.json()
    assert data["deleted"] == 30
    assert data["coverage"]["complete"] is True and data["coverage"]["arrived"] == 5
