"""A queue deeper than SQS lets one reader hold: no walk presents itself as complete.

The fault proxy enforces the in-flight cap (AWS: about 120,000 messages; here 25) exactly as
AWS behaves at it: a long poll at the cap comes back empty, a short poll fails with OverLimit.
"""

from __future__ import annotations

import json

import boto3

from dlqctl.errors import ExitCode
from tests.cli.conftest import DEEP_CAP as CAP
from tests.cli.conftest import DEEP_DEPTH as DEPTH
from tests.helpers import counts, create_queue, put, receive_all


def coverage_line(stderr):
    [line] = [line for line in stderr.splitlines() if line.startswith("Warning: saw ")]
    return line


def test_peek_all_stops_at_the_cap_and_says_so(cli_via, fresh_endpoint, deep_dlq):
    result = cli_via("peek", "orders-dlq", "--all", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    shown = result.json()
    assert CAP <= len(shown) < DEPTH
    assert f"saw {len(shown)} of ~{DEPTH}: SQS lets a reader hold" in coverage_line(result.stderr)
    assert counts(fresh_endpoint, deep_dlq) == (DEPTH, 0)


def test_summary_of_a_capped_walk_is_a_sample(cli_via, deep_dlq):
    result = cli_via("summary", "orders-dlq", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert data["coverage"]["complete"] is False
    assert data["coverage"]["queue_depth"] == DEPTH
    assert data["total"] == data["coverage"]["seen"] < DEPTH
    table = cli_via("summary", "orders-dlq", "-o", "table")
    assert "a sample: the oldest messages" in table.stdout


def test_a_filtered_redrive_reports_what_it_could_not_see(cli_via, boto, fresh_endpoint, deep_dlq):
    target = create_queue(fresh_endpoint, "orders")
    result = cli_via("redrive", "orders-dlq", "--to-queue", "orders", "--error-contains", "fix me",
                     "--concurrency", "1", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert data["coverage"]["complete"] is False
    assert data["redriven"] < DEPTH // 10, "the matches past the cap were never seen"
    assert "SQS lets a reader hold" in coverage_line(result.stderr)
    moved = receive_all(boto, target)
    assert len(moved) == data["redriven"]
    assert counts(fresh_endpoint, deep_dlq) == (DEPTH - len(moved), 0), "nothing lost"


def test_a_selective_export_is_incomplete_and_delete_too(
    cli_via, fresh_endpoint, deep_dlq, tmp_path
):
    export = cli_via("export", "orders-dlq", str(tmp_path / "out.jsonl"), "-o", "json")
    assert export.exit_code == ExitCode.PARTIAL
    assert export.json()["coverage"]["complete"] is False
    delete = cli_via("delete", "orders-dlq", "--error-contains", "fix me", "--yes", "-o", "json")
    assert delete.exit_code == ExitCode.PARTIAL
    assert delete.json()["coverage"]["complete"] is False
    assert counts(fresh_endpoint, deep_dlq) == (DEPTH - delete.json()["deleted"], 0)


def test_an_unfiltered_redrive_goes_to_the_end(cli_via, boto, fresh_endpoint, deep_dlq):
    """What it deletes is no longer in flight, so the cap never bites."""
    target = create_queue(fresh_endpoint, "orders")
    result = cli_via("redrive", "orders-dlq", "--to-queue", "orders", "--concurrency", "1",
                     "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["coverage"] == {
        "complete": True, "seen": DEPTH, "queue_depth": DEPTH, "reason": None, "unreleased": 0,
        "arrived": 0,
    }  # fmt: skip
    assert len(receive_all(boto, target)) == DEPTH
    assert counts(fresh_endpoint, deep_dlq) == (0, 0)


def test_over_limit_on_a_short_poll_is_the_cap_not_throttling(faults, fresh_endpoint, deep_dlq):
    """A short poll at the cap fails with OverLimit: the walk stops as capped at once."""
    from dlqctl.scan import QueueScan
    from tests.helpers import aws_for

    aws = aws_for(faults.url)
    with QueueScan(
        aws.sqs,
        deep_dlq,
        hold_seconds=60,
        wait_seconds=0,
        depth_at_start=DEPTH,
        in_flight_limit=CAP,
    ) as scan:
        seen = sum(len(batch) for batch in scan.batches())
    coverage = scan.coverage()
    assert (coverage.complete, coverage.seen) == (False, seen)
    assert CAP <= seen < DEPTH
    assert faults.count("sqs", "ReceiveMessage") == seen // 10 + 1
    assert counts(fresh_endpoint, deep_dlq) == (DEPTH, 0)
    assert json.dumps(coverage.to_json())


def test_a_fifo_group_held_back_is_not_taken_for_the_cap(cli, fresh_endpoint):
    """While a walk holds a group's head, SQS holds back the rest of the group: the queue
    still shows visible messages, far below the in-flight limit. That is not the cap, but
    the walk did not see the whole queue either, and says why (exit 5)."""
    from dlqctl.models import OutgoingMessage

    fifo = create_queue(
        fresh_endpoint, "orders-dlq.fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    put(
        fresh_endpoint,
        fifo,
        [OutgoingMessage("m", f"m{n}", group_id="one") for n in range(25)],
    )
    result = cli("peek", "orders-dlq.fifo", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert "SQS lets a reader hold" not in result.stderr
    assert "saw 10 of ~25: orders-dlq.fifo is FIFO" in result.stderr
    assert len(result.json()) == 10
    assert counts(fresh_endpoint, fifo) == (25, 0)


def test_a_queue_others_hold_to_the_cap_is_not_read_as_empty(cli_via, faults, deep_dlq):
    """Another reader (a consumer, a run killed part way) holds as many messages as SQS lets a
    queue have in flight: this walk's first long poll comes back empty, which is the cap,
    not the end of the queue."""
    other = boto3.client(
        "sqs", endpoint_url=faults.url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    held = 0
    while held < CAP:
        answer = other.receive_message(
            QueueUrl=deep_dlq.url, MaxNumberOfMessages=10, VisibilityTimeout=120
        )
        held += len(answer.get("Messages", []))
    result = cli_via("summary", "orders-dlq", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    coverage = result.json()["coverage"]
    assert coverage["complete"] is False
    assert "SQS lets a reader hold" in coverage["reason"]
