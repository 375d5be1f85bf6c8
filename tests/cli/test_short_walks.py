"""A walk that found the queue empty before it saw every message the queue held is not
presented as complete where that proves messages were missed: a FIFO DLQ hands out no more of
a group while the walk holds its first messages, and a DLQ with its own RedrivePolicy moves
messages on once reading them passes its maxReceiveCount. Such a run exits 5 and says why; a
dry run, which is a look, is refused on the second kind unless --yes; nothing is lost."""

from __future__ import annotations

import json

from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage, QueueRef
from tests.cli.test_exit_codes import one_error_line
from tests.helpers import counts, create_queue, put


def fifo_dlq(endpoint: str, count: int, groups: int) -> None:
    dlq = create_queue(endpoint, "orders-dlq.fifo", FifoQueue="true")
    put(
        endpoint,
        dlq,
        [
            OutgoingMessage(f"m{n}", f"order {n}", group_id=f"g{n % groups}",
                            deduplication_id=f"d{n}")
            for n in range(count)
        ],
    )  # fmt: skip


def test_a_fifo_redrive_is_complete_only_when_it_took_every_group_to_its_end(cli, fresh_endpoint):
    """Whether a run stops at groups it still holds depends on timing; whatever it does, exit 0
    and ``complete`` mean the DLQ is empty, and a run that stopped says so and the next goes
    on."""
    fifo_dlq(fresh_endpoint, 25, 3)
    target = create_queue(fresh_endpoint, "orders.fifo", FifoQueue="true")
    dlq = create_queue(fresh_endpoint, "orders-dlq.fifo", FifoQueue="true")
    moved = 0
    for _ in range(6):
        run = cli("redrive", "orders-dlq.fifo", "--to-queue", "orders.fifo", "--yes", "-o", "json")
        data = run.json()
        moved += data["redriven"]
        assert counts(fresh_endpoint, dlq) == (25 - moved, 0)
        if run.exit_code == ExitCode.OK:
            assert data["coverage"]["complete"] is True
            break
        assert run.exit_code == ExitCode.PARTIAL, run.stderr
        assert data["coverage"]["complete"] is False
        assert "orders-dlq.fifo is FIFO" in data["coverage"]["reason"]
        assert "the walk did not reach the end of the queue" in one_error_line(run.stderr)
    assert run.exit_code == ExitCode.OK, run.stderr
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert counts(fresh_endpoint, target) == (25, 0)


def test_a_fifo_summary_that_saw_only_the_heads_of_groups_is_not_complete(cli, fresh_endpoint):
    fifo_dlq(fresh_endpoint, 12, 1)
    result = cli("summary", "orders-dlq.fifo", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert result.json()["coverage"]["complete"] is False
    assert counts(fresh_endpoint, create_queue(fresh_endpoint, "orders-dlq.fifo",
                                               FifoQueue="true")) == (12, 0)  # fmt: skip


def dlq_with_own_policy(endpoint: str, max_receive_count: int) -> tuple[QueueRef, QueueRef]:
    final = create_queue(endpoint, "orders-dlq-final")
    dlq = create_queue(
        endpoint,
        "orders-dlq",
        RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": final.arn, "maxReceiveCount": str(max_receive_count)}
        ),
    )
    put(endpoint, dlq, [OutgoingMessage("m", f"order {n}") for n in range(5)])
    return dlq, final


def test_a_dry_run_on_a_dlq_that_moves_what_is_read_is_refused_without_yes(
    cli, boto, fresh_endpoint
):
    dlq, final = dlq_with_own_policy(fresh_endpoint, 1)
    create_queue(fresh_endpoint, "orders")
    for args in (
        ["redrive", "orders-dlq", "--to-queue", "orders", "--dry-run"],
        ["delete", "orders-dlq", "--filter", "contains(body, 'order')", "--dry-run"],
    ):
        result = cli(*args, "-o", "json")
        assert result.exit_code == ExitCode.USAGE, result.stderr
        line = one_error_line(result.stderr)
        assert "not read-only: orders-dlq has its own RedrivePolicy (maxReceiveCount 1" in line
        assert "pass --yes" in line
    assert counts(fresh_endpoint, dlq) == (5, 0)
    assert counts(fresh_endpoint, final) == (0, 0)
    received = boto("sqs").receive_message(
        QueueUrl=dlq.url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in received} == {"1"}


def test_a_redrive_whose_messages_moved_on_as_it_read_them_is_not_complete(
    cli, boto, fresh_endpoint
):
    dlq, final = dlq_with_own_policy(fresh_endpoint, 1)
    create_queue(fresh_endpoint, "orders")

    result = cli("redrive", "orders-dlq", "--to-queue", "orders", "--yes", "-o", "json")

    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    coverage = result.json()["coverage"]
    assert coverage["complete"] is False
    assert coverage["seen"] < 5
    assert "has its own RedrivePolicy (maxReceiveCount 1)" in coverage["reason"]
    assert f"may have been moved on to {final.arn}" in coverage["reason"]
    # Nothing lost: what was not redriven is in the queue the DLQ's own policy names.
    redriven = result.json()["redriven"]
    assert counts(fresh_endpoint, create_queue(fresh_endpoint, "orders"))[0] == redriven
    assert counts(fresh_endpoint, dlq)[0] + counts(fresh_endpoint, final)[0] == 5 - redriven


def test_messages_held_elsewhere_are_named_by_every_walk(cli, boto, fresh_endpoint, tmp_path):
    """A walk cannot see what another consumer (or an interrupted run) holds: each command
    that walks the queue says how many that is, once."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    create_queue(fresh_endpoint, "orders")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"order {n}") for n in range(20)])
    held = boto("sqs").receive_message(
        QueueUrl=dlq.url, MaxNumberOfMessages=5, VisibilityTimeout=600
    )["Messages"]
    assert len(held) == 5
    warning = (
        "Warning: 5 message(s) of orders-dlq are held by another consumer or an interrupted "
        "run; they are not in this run"
    )
    for args in (
        ["summary", "orders-dlq"],
        ["peek", "orders-dlq", "--all"],
        ["export", "orders-dlq", str(tmp_path / "out.jsonl")],
        ["delete", "orders-dlq", "--filter", "contains(body, 'nothing')", "--yes"],
        ["redrive", "orders-dlq", "--to-queue", "orders", "--dry-run"],
    ):
        result = cli(*args, "-o", "json")
        assert result.exit_code == ExitCode.OK, (args, result.stderr)
        assert result.stderr.count(warning) == 1, (args, result.stderr)
    assert counts(fresh_endpoint, dlq) == (15, 5)


def test_a_fifo_walk_that_stopped_at_what_it_was_asked_for_is_complete(cli, fresh_endpoint):
    """A limit reached, the IDs asked for found: the walk stopped on purpose, however many
    messages the held groups kept back."""
    fifo_dlq(fresh_endpoint, 40, 2)
    create_queue(fresh_endpoint, "orders.fifo", FifoQueue="true")
    dlq = create_queue(fresh_endpoint, "orders-dlq.fifo", FifoQueue="true")
    first = cli("peek", "orders-dlq.fifo", "-n", "5", "-o", "json")
    assert first.exit_code == ExitCode.OK, first.stderr
    assert len(first.json()) == 5
    some = first.json()[0]["message_id"]
    for args in (
        ["delete", "orders-dlq.fifo", "--id", some, "--yes"],
        ["export", "orders-dlq.fifo", "-", "-n", "10"],
        ["redrive", "orders-dlq.fifo", "--to-queue", "orders.fifo", "--limit", "10", "--yes"],
    ):
        result = cli(*args, "-o", "json")
        assert result.exit_code == ExitCode.OK, (args, result.stderr)
    assert counts(fresh_endpoint, dlq) == (29, 0)


def test_a_paced_redrive_with_a_limit_sends_every_batch_it_took(cli, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = create_queue(fresh_endpoint, "orders")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"order {n}") for n in range(40)])
    result = cli("redrive", "orders-dlq", "--to-queue", "orders", "--limit", "20", "--rate",
                 "20", "--concurrency", "4", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    assert result.json()["redriven"] == 20
    assert counts(fresh_endpoint, target) == (20, 0)
    assert counts(fresh_endpoint, dlq) == (20, 0)


def test_a_whole_queue_purge_does_not_say_held_messages_stay(cli, boto, fresh_endpoint):
    """PurgeQueue deletes the messages others hold too: no warning that they are left out."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"order {n}") for n in range(6)])
    boto("sqs").receive_message(QueueUrl=dlq.url, MaxNumberOfMessages=2, VisibilityTimeout=600)
    result = cli("purge", "orders-dlq", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "held by another consumer" not in result.stderr
