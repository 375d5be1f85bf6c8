"""``--park``: a filtered walk of a queue deeper than SQS's in-flight cap reaches every message.

The fault proxy enforces the cap (AWS: about 120,000; here 25) as AWS does at it. Without
parking a filtered redrive stops at the cap (see test_deep_queues); with it, what the selection
leaves alone goes to a parking queue and comes back at the end, with body and attributes intact.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from dlqctl.parking import PARKING_TAG
from tests.cli.conftest import DEEP_CAP as CAP
from tests.cli.conftest import DEEP_DEPTH as DEPTH
from tests.helpers import aws_for, counts, create_queue, put, receive_all, start_dlqctl

FIXABLE = DEPTH // 10
HOLD = 2


def contents(messages):
    """What a message is, apart from its ID: the body and the message attributes."""
    return Counter(
        (
            message["Body"],
            tuple(
                sorted(
                    (name, value.get("StringValue"))
                    for name, value in message.get("MessageAttributes", {}).items()
                )
            ),
        )
        for message in messages
    )


def snapshot(boto, queue):
    """The queue's contents, left in place (received, then made visible again)."""
    messages = receive_all(boto, queue)
    sqs = boto("sqs")
    for message in messages:
        sqs.send_message(
            QueueUrl=queue.url,
            MessageBody=message["Body"],
            MessageAttributes={
                name: {k: v for k, v in value.items() if k in ("DataType", "StringValue")}
                for name, value in message.get("MessageAttributes", {}).items()
            },
        )
    return contents(messages)


REDRIVE = ["redrive", "orders-dlq", "--to-queue", "orders", "--error-contains", "fix me",
           "--park", "orders-dlq-parked", "--concurrency", "1", "--hold", "2",
           "--yes", "-o", "json"]  # fmt: skip


def test_a_filtered_redrive_with_parking_reaches_every_match(
    cli_via, boto, faults, fresh_endpoint, deep_dlq
):
    before = snapshot(boto, deep_dlq)
    target = create_queue(fresh_endpoint, "orders")
    result = cli_via(*REDRIVE)
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["redriven"] == FIXABLE
    assert data["coverage"]["complete"] is True
    assert data["parking"] == {
        "queue": "orders-dlq-parked",
        "parked": DEPTH - FIXABLE,
        "returned": DEPTH - FIXABLE,
        "left_parked": 0,
        "failures": [],
    }
    moved = receive_all(boto, target)
    assert all("fix me" in m["MessageAttributes"]["ErrorMessage"]["StringValue"] for m in moved)
    assert contents(moved) + snapshot(boto, deep_dlq) == before, "body and attributes kept"
    park = aws_for(fresh_endpoint).sqs.resolve("orders-dlq-parked")
    assert park[1].retention_seconds == 86400, "created like the DLQ"
    assert aws_for(fresh_endpoint).sqs.tags(park[0]) == {PARKING_TAG: deep_dlq.arn}
    assert counts(fresh_endpoint, park[0]) == (0, 0)
    calls = sum(
        faults.count("sqs", operation)
        for operation in ("ReceiveMessage", "SendMessageBatch", "DeleteMessageBatch")
    )
    assert calls / (DEPTH - FIXABLE) < 1.0, f"{calls} calls for {DEPTH - FIXABLE} parked"
    journals = {j["destination"]: j for j in cli_via("journal", "orders-dlq", "-o", "json").json()}
    parked = journals[f"queue {park[0].arn}"]  # a destination is known by its ARN
    assert parked["delivered"] == DEPTH - FIXABLE
    assert parked["finished"] is True


def test_a_filtered_delete_with_parking_reaches_every_match(
    cli_via, boto, fresh_endpoint, deep_dlq
):
    before = snapshot(boto, deep_dlq)
    result = cli_via("delete", "orders-dlq", "--error-contains", "fix me",
                     "--park", "orders-dlq-parked", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert (data["deleted"], data["coverage"]["complete"]) == (FIXABLE, True)
    assert data["parking"]["returned"] == DEPTH - FIXABLE
    left = snapshot(boto, deep_dlq)
    assert sum(left.values()) == DEPTH - FIXABLE
    assert left == Counter({k: v for k, v in before.items() if "fix me" not in str(k)})


def test_a_fifo_dlq_gets_every_parked_message_back(cli_via, boto, fresh_endpoint, monkeypatch):
    """A message moved back within SQS's 5-minute deduplication window with its old
    deduplication ID would be dropped; every parked message must come back."""
    monkeypatch.setenv("DLQCTL_SQS_IN_FLIGHT_LIMIT", str(CAP))
    dlq = create_queue(fresh_endpoint, "orders-dlq.fifo", FifoQueue="true")
    put(
        fresh_endpoint,
        dlq,
        [
            OutgoingMessage(
                f"m{n}", f"keep {n}" if n % 4 else f"drop {n}", group_id=f"g{n % 3}",
                deduplication_id=f"d{n}",
            )
            for n in range(40)
        ],
    )  # fmt: skip
    result = cli_via("delete", "orders-dlq.fifo", "--filter", "starts_with(body, 'drop')",
                     "--park", "orders-dlq-parked.fifo", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted"] == 10
    left = receive_all(boto, dlq)
    assert sorted(m["Body"] for m in left) == sorted(f"keep {n}" for n in range(40) if n % 4)


def test_a_parking_queue_of_another_dlq_or_the_wrong_type_is_refused(
    cli_via, fresh_endpoint, deep_dlq
):
    other = create_queue(fresh_endpoint, "other-parked")
    aws_for(fresh_endpoint).sqs.tag(other, {PARKING_TAG: "arn:aws:sqs:us-east-1:1:other-dlq"})
    refused = cli_via("delete", "orders-dlq", "--error-contains", "fix me",
                      "--park", "other-parked", "--yes")  # fmt: skip
    assert refused.exit_code == ExitCode.USAGE
    assert "parks messages of arn:aws:sqs:us-east-1:1:other-dlq" in refused.stderr
    fifo = cli_via("delete", "orders-dlq", "--error-contains", "fix me",
                   "--park", "parked.fifo", "--yes")  # fmt: skip
    assert fifo.exit_code == ExitCode.USAGE
    same = cli_via("delete", "orders-dlq", "--error-contains", "x", "--park", "orders-dlq", "--yes")
    assert same.exit_code == ExitCode.USAGE
    assert counts(fresh_endpoint, deep_dlq) == (DEPTH, 0), "nothing touched"


@pytest.mark.parametrize("step", ["after-send", "after-ack"])
def test_a_kill_while_parking_loses_nothing_and_a_rerun_finishes(
    boto, faults, fresh_endpoint, deep_dlq, step
):
    before = snapshot(boto, deep_dlq)
    target = create_queue(fresh_endpoint, "orders")
    process = start_dlqctl(faults.url, *REDRIVE, module=["tests.crash_run", f"kill@{step}:3", "--"])
    process.communicate(timeout=120)
    assert process.returncode == -9
    time.sleep(HOLD + 0.5)  # the killed run's holds run out
    park = aws_for(fresh_endpoint).sqs.resolve("orders-dlq-parked")[0]
    assert counts(fresh_endpoint, park)[0] > 0, "the kill left messages parked"
    rerun = start_dlqctl(faults.url, *REDRIVE)
    _, stderr = rerun.communicate(timeout=120)
    time.sleep(HOLD + 0.5)
    assert rerun.returncode == 0, stderr
    after = contents(receive_all(boto, target)) + snapshot(boto, deep_dlq)
    assert before - after == Counter(), "nothing lost"
    if step == "after-ack":
        assert after == before, "acknowledged parking is not done twice"
    else:  # sent without a recorded answer: parked again (at least once), at most one batch
        assert sum((after - before).values()) <= 9
    assert counts(fresh_endpoint, park) == (0, 0)


@pytest.mark.parametrize("delete", [False, True], ids=["export", "export --delete"])
def test_a_selective_export_with_parking_reaches_every_match(
    cli_via, boto, fresh_endpoint, deep_dlq, tmp_path, delete
):
    before = snapshot(boto, deep_dlq)
    out = tmp_path / "fixable.jsonl"
    result = cli_via("export", "orders-dlq", str(out), "--error-contains", "fix me",
                     *(["--delete"] if delete else []),
                     "--park", "orders-dlq-parked", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert (data["exported"], data["coverage"]["complete"]) == (FIXABLE, True)
    assert data["parking"]["left_parked"] == 0
    assert len(out.read_text().splitlines()) == FIXABLE
    left = snapshot(boto, deep_dlq)
    if delete:
        assert left == Counter({k: v for k, v in before.items() if "fix me" not in str(k)})
    else:
        assert left == before, "everything back, body and attributes unchanged"


def test_parked_messages_come_back_when_the_counts_lag(
    cli_via, boto, faults, fresh_endpoint, deep_dlq
):
    """SQS's counts are approximate ("the result is approximate because of the distributed
    architecture of Amazon SQS": SQS developer guide, "Resources required to process Amazon
    SQS messages"), so just after the walk sent them the parking queue may still count 0. Every
    parked message must come back all the same, and the run must not call itself complete with
    any left. The proxy answers 0 for the parking queue's counts throughout."""

    def lagging(request, answer):
        if "orders-dlq-parked" in request.get("QueueUrl", ""):
            attributes = answer.get("Attributes", {})
            for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"):
                if name in attributes:
                    attributes[name] = "0"

    before = snapshot(boto, deep_dlq)
    # An earlier run, killed, left 7 messages parked: they come back too, and do not make up
    # for this run's own.
    park = create_queue(fresh_endpoint, "orders-dlq-parked", MessageRetentionPeriod="86400")
    aws_for(fresh_endpoint).sqs.tag(park, {PARKING_TAG: deep_dlq.arn})
    put(fresh_endpoint, park, [OutgoingMessage(f"m{n}", f"left parked {n}") for n in range(7)])
    faults.rewrite_answers("sqs", "GetQueueAttributes", lagging)
    target = create_queue(fresh_endpoint, "orders")
    result = cli_via(*REDRIVE)
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["parking"]["returned"] == DEPTH - FIXABLE + 7
    assert data["parking"]["left_parked"] == 0
    assert receive_all(boto, park) == [], "nothing stranded in the parking queue"
    after = contents(receive_all(boto, target)) + snapshot(boto, deep_dlq)
    assert after - before == Counter({(f"left parked {n}", ()): 1 for n in range(7)})
    assert before - after == Counter()


@pytest.mark.parametrize(
    ("command", "journals"),
    [
        (["delete", "orders-dlq"], 1),
        (["redrive", "orders-dlq", "--to-queue", "orders"], 2),
        (["export", "orders-dlq", "{tmp}/picked.jsonl", "--delete"], 1),
    ],
    ids=["delete", "redrive", "export"],
)
def test_a_parking_journal_that_cannot_be_locked_is_said(
    cli, fresh_endpoint, monkeypatch, tmp_path, command, journals
):
    """On a file system without locks (some NFS mounts) the parking journal is used as a
    redrive's own journal is: with a warning that names it, so that no second run is started on
    it at the same time."""
    import errno
    import fcntl

    def no_locks(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    dlq = create_queue(fresh_endpoint, "orders-dlq")
    create_queue(fresh_endpoint, "orders")
    put(fresh_endpoint, dlq, [OutgoingMessage(f"m{n}", f'{{"n":{n}}}') for n in range(5)])
    monkeypatch.setattr(fcntl, "flock", no_locks)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    result = cli(*args, "--filter", "json.n < `2`", "--park", "orders-dlq-parked", "--yes",
                 "-o", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["parking"]["returned"] == 3
    warnings = [line for line in result.stderr.splitlines() if "cannot be locked" in line]
    assert len(warnings) == journals, result.stderr
    assert any("orders-dlq-parked" in line for line in warnings), result.stderr
    assert counts(fresh_endpoint, dlq) == (3, 0)
