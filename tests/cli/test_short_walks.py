"""A walk that found the queue empty before it saw every message the queue held is not
presented as complete where that proves messages were missed: a FIFO DLQ hands out no more of
a group while the walk holds its first messages, and a DLQ with its own RedrivePolicy moves
messages on once reading them passes its maxReceiveCount. Such a run exits 5 and says why; a
dry run, which is a look, is refused on the second kind unless --yes; nothing is lost."""

from __future__ import annotations

import json

import pytest

from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage, QueueRef
from tests.cli.test_exit_codes import one_error_line
from tests.helpers import counts, create_queue, put, receive_all


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


def test_a_fifo_redrive_goes_on_as_its_deletes_free_the_groups(cli, boto, fresh_endpoint):
    """SQS hands out no more of a group while its first messages are held, and the next ones
    once they are deleted: a redrive, which deletes what it delivered, takes every group to its
    end in one run."""
    fifo_dlq(fresh_endpoint, 100, 2)
    target = create_queue(fresh_endpoint, "orders.fifo", FifoQueue="true")
    dlq = create_queue(fresh_endpoint, "orders-dlq.fifo", FifoQueue="true")
    run = cli("redrive", "orders-dlq.fifo", "--to-queue", "orders.fifo", "--yes", "-o", "json")
    assert run.exit_code == ExitCode.OK, run.stderr
    data = run.json()
    assert data["redriven"] == 100
    assert data["coverage"] == {
        "complete": True,
        "seen": 100,
        "queue_depth": 100,
        "reason": None,
        "unreleased": 0,
        "arrived": 0,
    }
    assert counts(fresh_endpoint, dlq) == (0, 0)
    by_group: dict[str, list[int]] = {}
    for message in receive_all(boto, target, attributes=["MessageGroupId"]):
        group = message["Attributes"]["MessageGroupId"]
        by_group.setdefault(group, []).append(int(message["Body"].split()[1]))
    # Each message once, in its group. (The order within a group is SQS's to keep; moto's
    # concurrent receives can split a group between two batches, which SQS does not.)
    assert {group: sorted(numbers) for group, numbers in by_group.items()} == {
        f"g{g}": list(range(g, 100, 2)) for g in range(2)
    }


def test_a_fifo_redrive_with_a_canary_takes_every_group_to_its_end(cli, fresh_endpoint):
    """The canary's phase ends when it has its replays; the rest of the run goes on with the
    walk, as far as the deletes free the groups, and is complete only when the DLQ is empty."""
    fifo_dlq(fresh_endpoint, 60, 2)
    create_queue(fresh_endpoint, "orders.fifo", FifoQueue="true")
    dlq = create_queue(fresh_endpoint, "orders-dlq.fifo", FifoQueue="true")
    run = cli("redrive", "orders-dlq.fifo", "--to-queue", "orders.fifo", "--canary", "5",
              "--watch", "1s", "--yes", "-o", "json")  # fmt: skip
    data = run.json()
    remaining = counts(fresh_endpoint, dlq)
    assert run.exit_code == ExitCode.OK, (run.stderr, data["coverage"], remaining)
    assert data["redriven"] == 60
    assert data["coverage"]["complete"] is True
    assert remaining == (0, 0)


def test_a_filtered_fifo_canary_run_that_stopped_at_kept_groups_says_so(cli, fresh_endpoint):
    """What the filter leaves alone holds its group back: the run cannot see the rest, and
    the canary's end is not a reason to call that complete."""
    fifo_dlq(fresh_endpoint, 30, 2)
    create_queue(fresh_endpoint, "orders.fifo", FifoQueue="true")
    # The first batch has the canary's two replays; "order 9" stays, and holds group g1.
    run = cli("redrive", "orders-dlq.fifo", "--to-queue", "orders.fifo", "--canary", "2",
              "--watch", "1s", "--filter", "!contains(body, '9')", "--yes",
              "-o", "json")  # fmt: skip
    assert run.exit_code == ExitCode.PARTIAL, run.stderr
    coverage = run.json()["coverage"]
    assert coverage["complete"] is False
    assert "orders-dlq.fifo is FIFO" in coverage["reason"]


def test_a_fifo_export_with_delete_takes_every_group_to_its_end(cli, fresh_endpoint, tmp_path):
    fifo_dlq(fresh_endpoint, 100, 2)
    path = tmp_path / "out.jsonl"
    run = cli("export", "orders-dlq.fifo", str(path), "--delete", "--yes", "-o", "json")
    assert run.exit_code == ExitCode.OK, run.stderr
    assert (run.json()["exported"], run.json()["deleted"]) == (100, 100)
    assert len(path.read_text().splitlines()) == 100


def test_a_filtered_fifo_delete_stops_at_the_groups_it_keeps(cli, fresh_endpoint):
    """What a filter leaves alone stays held until the walk ends, and so does the rest of its
    group: the walk ends there, and says so (--park is the way past it)."""
    fifo_dlq(fresh_endpoint, 30, 1)
    run = cli("delete", "orders-dlq.fifo", "--filter", "contains(body, '1')", "--yes",
              "-o", "json")  # fmt: skip
    assert run.exit_code == ExitCode.PARTIAL, run.stderr
    data = run.json()
    assert data["coverage"]["complete"] is False
    assert "orders-dlq.fifo is FIFO" in data["coverage"]["reason"]
    dlq = create_queue(fresh_endpoint, "orders-dlq.fifo", FifoQueue="true")
    assert counts(fresh_endpoint, dlq) == (30 - data["deleted"], 0)


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
    cli, boto, fresh_endpoint, tmp_path
):
    dlq, final = dlq_with_own_policy(fresh_endpoint, 1)
    create_queue(fresh_endpoint, "orders")
    plan = str(tmp_path / "plan.json")
    for args in (
        ["redrive", "orders-dlq", "--to-queue", "orders", "--dry-run"],
        ["delete", "orders-dlq", "--filter", "contains(body, 'order')", "--dry-run"],
        # Saving a plan is a dry run too.
        ["redrive", "orders-dlq", "--to-queue", "orders", "--save-plan", plan],
        ["purge", "orders-dlq", "--filter", "contains(body, 'order')", "--save-plan", plan],
    ):
        result = cli(*args, "-o", "json")
        assert result.exit_code == ExitCode.USAGE, result.stderr
        line = one_error_line(result.stderr)
        assert "not read-only: orders-dlq has its own RedrivePolicy (maxReceiveCount 1" in line
        assert "pass --yes" in line
    assert not (tmp_path / "plan.json").exists()
    assert counts(fresh_endpoint, dlq) == (5, 0)
    assert counts(fresh_endpoint, final) == (0, 0)
    received = boto("sqs").receive_message(
        QueueUrl=dlq.url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in received} == {"1"}


@pytest.mark.parametrize("destination", ["--to-queue", "--to-bus"])
def test_the_refusal_of_such_a_dry_run_comes_before_a_missing_destination(
    cli, fresh_endpoint, destination
):
    """The DLQ is looked up beside its destination; its refusal is still the error reported,
    as when the two were looked up one after the other."""
    dlq, _ = dlq_with_own_policy(fresh_endpoint, 1)
    result = cli("redrive", "orders-dlq", destination, "no-such-destination", "--dry-run")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "not read-only: orders-dlq has its own RedrivePolicy" in one_error_line(result.stderr)
    assert counts(fresh_endpoint, dlq) == (5, 0)


def test_a_redrive_whose_messages_moved_on_as_it_read_them_is_not_complete(
    cli, boto, fresh_endpoint
):
    dlq, final = dlq_with_own_policy(fresh_endpoint, 1)
    create_queue(fresh_endpoint, "orders")
    # Each message received once already (an earlier look): the walk's receive is past the
    # DLQ's maxReceiveCount, and SQS moves it on instead of handing it out.
    looked = boto("sqs").receive_message(
        QueueUrl=dlq.url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    assert len(looked["Messages"]) == 5

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
