"""Sends that are not idempotent are never repeated blindly.

A fault proxy in front of the real endpoint delivers a request and then drops the answer (the
connection closes after the endpoint acted), or answers with a 5xx or throttling. SDK retries
are off for sends: what got no answer is left in the DLQ, reported as unanswered (exit 5), and
marked ambiguous in the journal; only what AWS surely did not act on is sent again.
"""

from __future__ import annotations

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from tests.cli.test_redrive import bus_with_queue_target, drain
from tests.helpers import counts, create_queue, put, receive_all


def dlq_with(endpoint, count):
    dlq = create_queue(endpoint, "orders-dlq")
    put(
        endpoint,
        dlq,
        [emulate.lambda_dlq(emulate.event({"orderId": f"o-{n}"}), "boom") for n in range(count)],
    )
    return dlq


def test_a_lost_answer_is_not_sent_again_in_the_run(cli_via, faults, boto, fresh_endpoint):
    dlq = dlq_with(fresh_endpoint, 30)
    destination = create_queue(fresh_endpoint, "orders-retry")
    faults.drop_responses("sqs", "SendMessageBatch", times=1)
    args = ("redrive", "orders-dlq", "--to-queue", "orders-retry", "--concurrency", "1")
    result = cli_via(*args, "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["unanswered"], data["failed"]) == (20, 10, 10)
    assert all("no answer from AWS" in failure["reason"] for failure in data["failures"])
    assert faults.count("sqs", "SendMessageBatch") == 3  # one request per batch, none repeated
    # The dropped request was delivered: each of the 30 arrived exactly once.
    bodies = [message["Body"] for message in receive_all(boto, destination)]
    assert len(bodies) == len(set(bodies)) == 30
    assert counts(fresh_endpoint, dlq) == (10, 0)

    # A rerun decides by --resend-ambiguous: kept with --no-resend-ambiguous ...
    kept = cli_via(*args, "--no-resend-ambiguous", "--yes", "-o", "json")
    assert (kept.json()["ambiguous"], kept.json()["skipped"], kept.json()["redriven"]) == (
        10,
        10,
        0,
    )
    assert counts(fresh_endpoint, dlq) == (10, 0)
    # ... and sent again by default: at least once across runs, as the README says.
    again = cli_via(*args, "--yes", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert (again.json()["ambiguous"], again.json()["redriven"]) == (10, 10)
    assert counts(fresh_endpoint, dlq) == (0, 0)


def test_a_server_error_on_a_send_is_unanswered_not_retried(cli_via, faults, boto, fresh_endpoint):
    dlq = dlq_with(fresh_endpoint, 5)
    target = bus_with_queue_target(boto, fresh_endpoint)
    faults.fail("events", "PutEvents", "InternalFailure", status=500, times=1)
    result = cli_via("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["unanswered"]) == (0, 5)
    assert "InternalFailure (HTTP 500)" in data["failures"][0]["reason"]
    assert faults.count("events", "PutEvents") == 1
    assert drain(boto, target) == []
    assert counts(fresh_endpoint, dlq) == (5, 0)


def test_a_throttled_send_is_sent_again_because_aws_did_not_act(
    cli_via, faults, boto, fresh_endpoint
):
    dlq = dlq_with(fresh_endpoint, 5)
    target = bus_with_queue_target(boto, fresh_endpoint)
    faults.fail("events", "PutEvents", "ThrottlingException", status=400, times=2)
    result = cli_via("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 5
    assert faults.count("events", "PutEvents") == 3
    assert sorted(event["detail"]["orderId"] for event in drain(boto, target)) == [
        f"o-{n}" for n in range(5)
    ]
    assert counts(fresh_endpoint, dlq) == (0, 0)


def test_a_lost_answer_on_an_invoke_is_unanswered(cli_via, faults, boto, fresh_endpoint):
    from tests.helpers import create_function

    dlq = create_queue(fresh_endpoint, "fn-failures")
    function = create_function(boto)
    put(
        fresh_endpoint,
        dlq,
        [
            emulate.lambda_destination(
                {"n": n}, function_arn=function["FunctionArn"], error_type="E", error_message="m"
            )
            for n in range(2)
        ],
    )
    faults.drop_responses("lambda", "/invocations", times=1)
    result = cli_via("redrive", "fn-failures", "--to-source", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    assert (result.json()["redriven"], result.json()["unanswered"]) == (1, 1)
    invocations = [op for service, op in faults.calls if op.endswith("/invocations")]
    assert len(invocations) == 2
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_a_request_refused_whole_keeps_what_was_acknowledged(cli_via, faults, boto, fresh_endpoint):
    """The second SendMessageBatch is denied outright: the first batch's acknowledgements are
    kept (recorded and deleted), the denied batch stays, and the run reports it (exit 5)."""
    dlq = dlq_with(fresh_endpoint, 20)
    destination = create_queue(fresh_endpoint, "orders-retry")
    faults.fail("sqs", "SendMessageBatch", "AccessDenied", status=403, after=1)
    result = cli_via("redrive", "orders-dlq", "--to-queue", "orders-retry", "--concurrency", "1",
                     "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["failed"]) == (10, 10)
    assert all("access denied" in failure["reason"] for failure in data["failures"])
    assert len(receive_all(boto, destination)) == 10
    assert counts(fresh_endpoint, dlq) == (10, 0)


def test_a_source_queue_that_is_gone_fails_only_its_messages(cli, boto, fresh_endpoint):
    import json as json_module

    dlq = create_queue(fresh_endpoint, "work-dlq")
    policy = json_module.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"})
    kept = create_queue(fresh_endpoint, "kept", RedrivePolicy=policy)
    gone = create_queue(fresh_endpoint, "gone", RedrivePolicy=policy)
    sqs = boto("sqs")
    for queue in (kept, gone):
        sqs.send_message(QueueUrl=queue.url, MessageBody=f"from {queue.name}")
        for _ in range(3):
            sqs.receive_message(QueueUrl=queue.url, VisibilityTimeout=0)
    sqs.delete_queue(QueueUrl=gone.url)
    result = cli("redrive", "work-dlq", "--to-source", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["failed"]) == (1, 1)
    assert "cannot send it back to" in data["failures"][0]["reason"]
    assert [m["Body"] for m in receive_all(boto, kept)] == ["from kept"]
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_a_lease_that_cannot_be_given_back_does_not_hide_the_result(
    cli_via, faults, fresh_endpoint
):
    """The endpoint gone when the run gives its lease back: the run's result stands (the lease
    runs out by itself), with a warning, instead of an error about the lease's tags."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = create_queue(fresh_endpoint, "orders")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"order {n}") for n in range(15)])
    faults.fail("sqs", "UntagQueue", "ServiceUnavailable", status=503)
    result = cli_via("redrive", "orders-dlq", "--to-queue", "orders", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 15
    assert "the redrive lease on orders-dlq could not be given back" in result.stderr
    assert "runs out within 120 s" in result.stderr
    assert counts(fresh_endpoint, target) == (15, 0)


def test_a_canary_whose_replays_get_no_answer_stops_after_it(cli_via, faults, boto, fresh_endpoint):
    # Every send is delivered and its answer lost. The canary counted only acknowledged
    # replays, so it went on batch after batch: the whole DLQ went out, and no watch ran.
    dlq = dlq_with(fresh_endpoint, 60)
    destination = create_queue(fresh_endpoint, "orders-retry")
    faults.drop_responses("sqs", "SendMessageBatch", times=100)
    result = cli_via(
        "redrive", "orders-dlq", "--to-queue", "orders-retry", "--canary", "20", "--watch", "1s",
        "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert (data["unanswered"], data["redriven"]) == (20, 0)
    assert (data["canary"]["sent"], data["canary"]["replayed"]) == (20, 0)
    assert (
        "20 of the canary's 20 replay(s) were refused or got no answer"
        in (data["canary"]["stopped"])
    )
    assert faults.count("sqs", "SendMessageBatch") == 2
    assert len(receive_all(boto, destination)) == 20  # the canary arrived; nothing after it
    assert counts(fresh_endpoint, dlq) == (60, 0)


def test_an_answer_that_leaves_out_entries_makes_them_unanswered(
    cli_via, faults, boto, fresh_endpoint
):
    """A reply that does not account for every entry sent (an entry missing from
    SendMessageBatch's Successful and Failed; fewer PutEvents results than entries) does not say
    those were refused: they may have been delivered, so they are unanswered (ambiguous) and
    --no-resend-ambiguous protects them, as it does a lost answer."""
    dlq = dlq_with(fresh_endpoint, 3)
    target = create_queue(fresh_endpoint, "orders-retry")

    def lose_one(request, answer):
        answer["Successful"] = answer.get("Successful", [])[1:]

    faults.rewrite_answers("sqs", "SendMessageBatch", lose_one)
    args = ("redrive", "orders-dlq", "--to-queue", "orders-retry", "--yes", "-o", "json")
    result = cli_via(*args)
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["unanswered"], data["failed"]) == (2, 1, 1), data
    assert len(receive_all(boto, target)) == 3, "all three were delivered"
    faults.answer_rewrites.clear()
    kept = cli_via(*args[:-3], "--no-resend-ambiguous", "--yes", "-o", "json")
    assert (kept.json()["ambiguous"], kept.json()["redriven"]) == (1, 0)
    assert counts(fresh_endpoint, dlq) == (1, 0)

    bus_target = bus_with_queue_target(boto, fresh_endpoint)

    def one_result_short(request, answer):
        answer["Entries"] = answer.get("Entries", [])[1:]

    faults.rewrite_answers("events", "PutEvents", one_result_short)
    to_bus = cli_via("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    data = to_bus.json()
    assert (data["redriven"], data["unanswered"]) == (0, 1), data
    assert "may have been delivered" in data["failures"][0]["reason"]
    assert len(drain(boto, bus_target)) == 1
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_a_delete_answer_that_leaves_an_entry_out_is_not_counted_as_deleted(
    cli_via, faults, fresh_endpoint
):
    """An entry missing from both DeleteMessageBatch's Successful and Failed was not confirmed
    deleted: the run names it as a failure and does not call itself complete."""
    dlq_with(fresh_endpoint, 3)

    def lose_one(request, answer):
        answer["Successful"] = answer.get("Successful", [])[1:]

    faults.rewrite_answers("sqs", "DeleteMessageBatch", lose_one)
    result = cli_via("delete", "orders-dlq", "--filter", "kind!='x'", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert (data["selected"], data["deleted"]) == (3, 2), data
    assert [f["reason"] for f in data["failures"]] == ["delete failed: no answer for this entry"]
