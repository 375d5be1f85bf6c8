"""The endpoint lost in the middle of a run (a network gone, a VPN dropped): what the run did
before is shown, in the table or the JSON, with the error line and its exit code after it, and
a rerun once the endpoint is back goes on without loss or a known duplicate."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import QueueRef
from tests.cli.test_exit_codes import one_error_line, to_full_disk
from tests.helpers import aws_for, counts, create_queue, put, receive_all


def dlq_with(endpoint: str, count: int) -> QueueRef:
    dlq = create_queue(endpoint, "orders-dlq")
    events = [emulate.event({"orderId": f"o-{n}"}) for n in range(count)]
    put(endpoint, dlq, [emulate.lambda_dlq(event, "boom") for event in events])
    return dlq


def test_a_redrive_shows_what_it_did_and_a_rerun_goes_on(cli_via, faults, boto, fresh_endpoint):
    dlq = dlq_with(fresh_endpoint, 30)
    destination = create_queue(fresh_endpoint, "orders-retry")
    # The second batch is acknowledged by the destination, then the network is gone: its
    # delete gets no answer, and the held messages cannot be made visible again.
    faults.lose_endpoint_after("sqs", "SendMessageBatch", calls=2)
    args = ("redrive", "orders-dlq", "--to-queue", "orders-retry", "--concurrency", "1",
            "--hold", "2", "--yes", "-o", "json")  # fmt: skip
    result = cli_via(*args)
    assert result.exit_code == ExitCode.ACCESS
    line = one_error_line(result.stderr)
    assert "connection to AWS lost (deleting from queue orders-dlq)" in line
    assert "10 held message(s) could not be made visible again" in line
    assert "within 2 s" in line
    data = result.json()
    assert (data["redriven"], data["failed"], data["unreleased"]) == (10, 10, 10)
    assert all(
        failure["reason"].startswith(
            "delivered, but deleting it from the DLQ failed "
            "(no answer, so it may have been deleted)"
        )
        for failure in data["failures"]
    )
    assert data["coverage"]["complete"] is False
    assert data["coverage"]["reason"] == "an error stopped the walk"
    assert data["error"] in line

    faults.lost.clear()  # the network is back
    time.sleep(2.5)  # the held messages' hold ends
    # --force: the lease's owner is this test's own process, which still runs (a dlqctl
    # process that ended leaves a lease the next run on the machine takes over).
    again = cli_via(*args, "--force")
    assert again.exit_code == 0, again.stderr
    assert (again.json()["recovered"], again.json()["redriven"]) == (10, 20)
    assert counts(fresh_endpoint, dlq) == (0, 0)
    bodies = [message["Body"] for message in receive_all(boto, destination)]
    assert len(bodies) == len(set(bodies)) == 30  # each exactly once


def test_a_delete_shows_what_it_deleted_in_its_table(cli_via, faults, fresh_endpoint):
    dlq = dlq_with(fresh_endpoint, 30)
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=2)
    result = cli_via("delete", "orders-dlq", "--error-contains", "boom", "--hold", "2", "--yes",
                     "-o", "table")  # fmt: skip
    assert result.exit_code == ExitCode.ACCESS
    # Whether the third of the walk's receives came back before the endpoint was lost
    # depends on timing: what was deleted does not.
    assert "Delete (stopped by an error): selected " in result.stdout
    assert ", deleted 20" in result.stdout
    line = one_error_line(result.stderr)
    assert "connection to AWS lost (deleting from queue orders-dlq)" in line
    faults.lost.clear()
    time.sleep(2.5)
    assert counts(fresh_endpoint, dlq) == (10, 0)


def test_a_delete_whose_call_got_no_answer_lists_its_messages(cli_via, faults, fresh_endpoint):
    dlq = dlq_with(fresh_endpoint, 30)
    # Every delete is delivered, and its answer lost: the first batch is deleted, but the run
    # cannot know it, so it names those messages as not known to be deleted.
    faults.drop_responses("sqs", "DeleteMessageBatch")
    result = cli_via("delete", "orders-dlq", "--error-contains", "boom", "--hold", "2", "--yes",
                     "-o", "json")  # fmt: skip
    assert result.exit_code == ExitCode.ACCESS
    line = one_error_line(result.stderr)
    assert "connection to AWS lost (deleting from queue orders-dlq)" in line
    data = result.json()
    assert (data["selected"], data["deleted"]) == (10, 0)
    reasons = [failure["reason"] for failure in data["failures"]]
    assert reasons == ["delete failed: no answer, so it may have been deleted"] * 10
    assert data["coverage"]["complete"] is False
    faults.rules.clear()
    time.sleep(2.5)
    assert counts(fresh_endpoint, dlq) == (20, 0)  # the unanswered call had deleted its ten


def test_a_selective_purge_keeps_its_title(cli_via, faults, fresh_endpoint):
    dlq_with(fresh_endpoint, 30)
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=1)
    result = cli_via("purge", "orders-dlq", "--error-contains", "boom", "--yes", "-o", "table")
    assert result.exit_code == ExitCode.ACCESS
    assert "Purge (selected) (stopped by an error): " in result.stdout


def test_an_archiving_purge_keeps_its_title(cli_via, faults, fresh_endpoint, tmp_path):
    dlq_with(fresh_endpoint, 30)
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=1)
    archive = str(tmp_path / "archive.jsonl")
    result = cli_via("purge", "orders-dlq", "--archive", archive, "--yes", "-o", "table")
    assert result.exit_code == ExitCode.ACCESS
    assert "Purge (archived) (stopped by an error): " in result.stdout


def test_an_export_to_stdout_says_its_error_once(cli_via, faults, fresh_endpoint):
    dlq_with(fresh_endpoint, 50)
    faults.lose_endpoint_after("sqs", "ReceiveMessage", calls=2)  # the readers' others fail
    result = cli_via("export", "orders-dlq", "-", "--hold", "2")
    assert result.exit_code == ExitCode.ACCESS
    assert result.stderr.count("connection to AWS lost") == 1, result.stderr
    title, _, text = result.stderr.splitlines()[0].partition(": ")
    assert title == "Export (stopped by an error)"
    assert json.loads(text)["exported"] == 20
    assert len(result.stdout.splitlines()) == 20  # the lines written before the error


def parking_queue(endpoint: str) -> QueueRef:
    return aws_for(endpoint).sqs.resolve("orders-dlq-parked")[0]


def rerun_moves_everything_back(cli_via, faults, boto, endpoint: str, dlq: QueueRef) -> None:
    """Once the network is back and the holds have ended, the same command run again moves
    every parked message back into the DLQ: none lost, none twice."""
    faults.lost.clear()
    time.sleep(2.5)
    again = cli_via(*PARKING_DELETE)
    assert again.exit_code == 0, again.stderr
    assert counts(endpoint, parking_queue(endpoint)) == (0, 0)
    bodies = [message["Body"] for message in receive_all(boto, dlq)]
    assert len(bodies) == len(set(bodies)) == 30


PARKING_DELETE = ("delete", "orders-dlq", "--error-contains", "no such error", "--park",
                  "orders-dlq-parked", "--hold", "2", "--yes", "-o", "json")  # fmt: skip


def test_a_parking_run_stopped_by_an_error_counts_what_it_parked(
    cli_via, faults, boto, fresh_endpoint
):
    dlq = dlq_with(fresh_endpoint, 30)
    # Nothing is selected: each batch is parked (sent to the parking queue, then deleted from
    # the DLQ). Two batches are parked, then the network is gone.
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=2)
    result = cli_via(*PARKING_DELETE)
    assert result.exit_code == ExitCode.ACCESS
    data = result.json()
    assert data["parking"]["queue"] == "orders-dlq-parked"
    assert (data["parking"]["parked"], data["parking"]["returned"]) == (20, 0)
    assert data["parking"]["left_parked"] is None  # not counted: the endpoint is gone
    line = one_error_line(result.stderr)
    assert "connection to AWS lost" in line
    assert "parking queue orders-dlq-parked may still hold messages: run the same" in line

    rerun_moves_everything_back(cli_via, faults, boto, fresh_endpoint, dlq)


def test_an_error_moving_parked_messages_back_shows_the_commands_result(
    cli_via, faults, boto, fresh_endpoint
):
    dlq = dlq_with(fresh_endpoint, 30)
    # The three batches are parked (three deletes from the DLQ); moving them back, the first
    # delete from the parking queue is answered, then the network is gone.
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=4)
    result = cli_via(*PARKING_DELETE)
    assert result.exit_code == ExitCode.ACCESS
    data = result.json()
    assert (data["selected"], data["deleted"], data["not_found"]) == (0, 0, [])  # the delete's
    assert "redriven" not in data
    parking = data["parking"]
    assert parking["parked"] == 30
    assert parking["returned"] >= 10
    assert parking["left_parked"] is None
    assert "parking queue orders-dlq-parked may still hold" in one_error_line(result.stderr)

    rerun_moves_everything_back(cli_via, faults, boto, fresh_endpoint, dlq)


def test_a_summary_shows_what_it_read_before_the_error(cli_via, faults, fresh_endpoint):
    dlq_with(fresh_endpoint, 50)
    faults.lose_endpoint_after("sqs", "ReceiveMessage", calls=2)  # the readers' others fail
    result = cli_via("summary", "orders-dlq", "--hold", "2", "-o", "json")
    assert result.exit_code == ExitCode.ACCESS
    line = one_error_line(result.stderr)
    assert "connection to AWS lost (receiving from queue orders-dlq)" in line
    data = result.json()
    assert data["total"] == 20
    assert [group["count"] for group in data["by_kind"]] == [20]
    assert data["coverage"]["complete"] is False
    assert data["coverage"]["reason"] == "an error stopped the walk"
    assert data["error"] in line

    faults.lost.clear()
    faults.rules.clear()
    time.sleep(2.5)
    faults.lose_endpoint_after("sqs", "ReceiveMessage", calls=1)
    table = cli_via("summary", "orders-dlq", "--hold", "2", "-o", "table")
    assert table.exit_code == ExitCode.ACCESS
    heading = re.search(r"orders-dlq: (\d+) message\(s\) \(stopped by an error: what was read "
                        r"before it\)", " ".join(table.stdout.split()))  # fmt: skip
    assert heading and heading[1] == "10"
    # Stopped before it read anything, it shows no summary of nothing: only the error.
    faults.lost.clear()
    faults.rules.clear()
    time.sleep(2.5)
    faults.drop_responses("sqs", "ReceiveMessage")
    nothing = cli_via("summary", "orders-dlq", "--hold", "2", "-o", "json")
    assert nothing.exit_code == ExitCode.ACCESS
    assert nothing.stdout == ""
    assert "connection to AWS lost" in one_error_line(nothing.stderr)


def test_a_parking_delete_that_got_no_answer_is_listed_and_nothing_is_lost(
    cli_via, faults, boto, fresh_endpoint
):
    dlq = dlq_with(fresh_endpoint, 30)
    # The first batch is parked (the parking queue acknowledged it), and its delete from the
    # DLQ is done but its answer lost: the run stops, listing those ten under parking.
    faults.drop_responses("sqs", "DeleteMessageBatch")
    result = cli_via(*PARKING_DELETE)
    assert result.exit_code == ExitCode.ACCESS
    parking = result.json()["parking"]
    assert parking["parked"] == 0
    assert [failure["reason"] for failure in parking["failures"]] == [
        "parked, but deleting it from the DLQ failed (no answer, so it may have been deleted)"
    ] * 10
    assert "parking queue orders-dlq-parked may still hold" in one_error_line(result.stderr)
    faults.rules.clear()
    rerun_moves_everything_back(cli_via, faults, boto, fresh_endpoint, dlq)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_stopped_summary_that_cannot_be_written_keeps_its_error(faults, fresh_endpoint):
    dlq_with(fresh_endpoint, 30)
    faults.lose_endpoint_after("sqs", "ReceiveMessage", calls=1)
    done = to_full_disk(faults.url, "summary", "orders-dlq", "--hold", "2", "-o", "json")
    assert done.returncode == ExitCode.ACCESS
    assert "connection to AWS lost (receiving from queue orders-dlq)" in one_error_line(done.stderr)


def test_a_dry_run_with_park_stopped_by_an_error_parks_nothing(cli_via, faults, fresh_endpoint):
    dlq_with(fresh_endpoint, 30)
    create_queue(fresh_endpoint, "orders-retry")
    # The pre-flight sample (three batches of ten) is read and released, then the network is
    # gone: the dry run's walk stops at its first receive.
    faults.lose_endpoint_after("sqs", "ChangeMessageVisibilityBatch", calls=3)
    result = cli_via("redrive", "orders-dlq", "--to-queue", "orders-retry", "--error-contains",
                     "no such error", "--park", "orders-dlq-parked", "--hold", "2", "--dry-run",
                     "-o", "json")  # fmt: skip
    assert result.exit_code == ExitCode.ACCESS
    data = result.json()
    assert data["dry_run"] is True
    assert data["parking"] is None
    assert "parking queue" not in one_error_line(result.stderr)


def test_a_parking_run_stopped_by_an_error_says_what_it_parked_in_its_table(
    cli_via, faults, fresh_endpoint
):
    dlq_with(fresh_endpoint, 30)
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=2)
    table = [arg if arg != "json" else "table" for arg in PARKING_DELETE]
    result = cli_via(*table)
    assert result.exit_code == ExitCode.ACCESS
    text = " ".join(result.stdout.split())
    assert "Delete (stopped by an error): " in text
    assert "Parking in orders-dlq-parked: 20 parked, 0 moved back, left parked: not counted" in text


def test_an_apply_stopped_by_an_error_shows_itself(cli_via, faults, fresh_endpoint, tmp_path):
    dlq_with(fresh_endpoint, 30)
    plan = str(tmp_path / "plan.json")
    saved = cli_via("purge", "orders-dlq", "--error-contains", "boom", "--save-plan", plan,
                    "--yes", "-o", "json")  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    faults.lose_endpoint_after("sqs", "DeleteMessageBatch", calls=1)
    result = cli_via("apply", plan, "--yes", "-o", "table")
    assert result.exit_code == ExitCode.ACCESS
    assert "Apply (delete) (stopped by an error): " in result.stdout
    assert "connection to AWS lost" in one_error_line(result.stderr)


def test_a_delete_by_id_that_an_error_stopped_names_the_ids_it_had_not_found(
    cli_via, faults, fresh_endpoint
):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    events = [emulate.event({"n": n}) for n in range(30)]
    ids = put(fresh_endpoint, dlq, [emulate.lambda_dlq(event, "boom") for event in events])
    wanted = sorted(["no-such-id", *ids[-2:]])
    args = ["delete", "orders-dlq", *(f"--id={i}" for i in wanted), "--hold", "2", "--yes"]
    # The first receive (the oldest ten) is answered, then the network is gone: the IDs the
    # walk had not reached are named, not left out as if they had been deleted.
    faults.lose_endpoint_after("sqs", "ReceiveMessage", calls=1)
    result = cli_via(*args, "-o", "json")
    assert result.exit_code == ExitCode.ACCESS
    data = result.json()
    assert (data["deleted"], data["not_found"]) == (0, wanted)
    assert data["coverage"]["complete"] is False
    faults.lost.clear()
    faults.rules.clear()
    time.sleep(2.5)
    faults.lose_endpoint_after("sqs", "ReceiveMessage", calls=1)
    text = cli_via(*args, "-o", "table")
    assert text.exit_code == ExitCode.ACCESS
    assert f"Not found (in what was read): {', '.join(wanted)}" in " ".join(text.stdout.split())
    faults.lost.clear()
    faults.rules.clear()
    time.sleep(2.5)
    assert counts(fresh_endpoint, dlq) == (30, 0), "nothing deleted"
