"""The endpoint lost in the middle of a run (a network gone, a VPN dropped): what the run did
before is shown, in the table or the JSON, with the error line and its exit code after it, and
a rerun once the endpoint is back goes on without loss or a known duplicate."""

from __future__ import annotations

import time

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import QueueRef
from tests.cli.test_exit_codes import one_error_line
from tests.helpers import counts, create_queue, put, receive_all


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
        failure["reason"].startswith("delivered, but deleting it from the DLQ failed (no answer)")
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
