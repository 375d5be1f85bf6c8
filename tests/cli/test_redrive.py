"""redrive: replays reach the bus's targets, queue moves keep attributes, nothing is lost."""

from __future__ import annotations

import json
from typing import Any

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import MessageAttribute, OutgoingMessage
from tests.helpers import counts, create_queue, put, receive_all

RULE = "arn:aws:events:us-east-1:123456789012:rule/shop/orders"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:process"


def bus_with_queue_target(boto, endpoint, bus="shop"):
    """A bus whose rule copies every shop.* event to a queue, so replays can be read back."""
    target = create_queue(endpoint, "replayed")
    events = boto("events")
    events.create_event_bus(Name=bus)
    events.put_rule(
        Name="all", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": "shop"}]})
    )
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": target.arn}])
    return target


def drain(boto, queue):
    return [json.loads(message["Body"]) for message in receive_all(boto, queue)]


def test_redrive_to_bus_replays_every_kind_that_carries_an_event(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    originals = [
        emulate.event({"orderId": "o-1", "amount": 5}, resources=["arn:aws:s3:::bucket"]),
        emulate.event({"orderId": "o-2"}, detail_type="OrderCancelled"),
        emulate.event({"orderId": "o-3"}, source="shop.payments"),
    ]
    put(
        fresh_endpoint,
        dlq,
        [
            emulate.lambda_dlq(originals[0], "boom"),
            emulate.eventbridge_dlq(
                originals[1],
                rule_arn=RULE,
                target_arn=FUNCTION,
                error_code="TIMEOUT",
                error_message="t",
            ),
            emulate.lambda_destination(
                originals[2], function_arn=FUNCTION, error_type="E", error_message="m"
            ),
        ],
    )
    result = cli("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {
        "destination": "event bus shop",
        "selected": 3,
        "redriven": 3,
        "failed": 0,
        "skipped": 0,
        "dry_run": False,
        "recovered": 0,
        "ambiguous": 0,
        "unanswered": 0,
        "unreleased": 0,
        "interrupted": False,
        "signal": None,
        "coverage": {
            "complete": True,
            "seen": 3,
            "queue_depth": 3,
            "reason": None,
            "unreleased": 0,
            "arrived": 0,
        },
        "parking": None,
        "canary": None,
        "preflight": result.json()["preflight"],
        "journal": result.json()["journal"],
        "failures": [],
    }
    checked = result.json()["preflight"]
    assert checked["sampled"] == 3 and checked["failures"] == []
    assert {
        group["events"]: [rule["name"] for rule in group["rules"]] for group in checked["fan_out"]
    } == {
        "shop.orders / OrderPlaced": ["all"],
        "shop.orders / OrderCancelled": ["all"],
        "shop.payments / OrderPlaced": ["all"],
    }
    assert result.json()["journal"].endswith(".jsonl")
    assert counts(fresh_endpoint, dlq) == (0, 0)
    replayed = {event["detail"]["orderId"]: event for event in drain(boto, target)}
    assert set(replayed) == {"o-1", "o-2", "o-3"}
    for original in originals:
        event = replayed[original["detail"]["orderId"]]
        assert event["source"] == original["source"]
        assert event["detail-type"] == original["detail-type"]
        assert event["detail"] == original["detail"]
        assert event["id"] != original["id"]
    assert replayed["o-1"]["resources"] == ["arn:aws:s3:::bucket"]


def test_messages_without_an_event_are_skipped_and_stay(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    ids = put(
        fresh_endpoint,
        dlq,
        [
            OutgoingMessage("m", '{"plain": true}'),
            OutgoingMessage("m", "not json"),
            emulate.lambda_dlq(emulate.event({"orderId": "x"}, source="aws.s3"), "boom"),
            emulate.lambda_dlq(emulate.event({"orderId": "ok"}), "boom"),
        ],
    )
    # The dry run says so too, in the words of a forecast: nothing was meant to be done yet.
    dry = cli("redrive", "orders-dlq", "--to-bus", "shop", "--dry-run", "-o", "json")
    assert dry.exit_code == ExitCode.PARTIAL
    assert dry.json()["skipped"] == 3
    assert "Error: redrive (dry run): not everything selected would be done" in dry.stderr
    assert counts(fresh_endpoint, dlq) == (4, 0)
    result = cli("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL == 5
    data = result.json()
    assert (data["selected"], data["redriven"], data["skipped"], data["failed"]) == (4, 1, 3, 0)
    reasons = {failure["message_id"]: failure["reason"] for failure in data["failures"]}
    assert "--source and --detail-type" in reasons[ids[0]]
    assert "aws.* sources" in reasons[ids[2]]
    assert "Error: redrive: not everything selected was done" in result.stderr
    assert counts(fresh_endpoint, dlq) == (3, 0)
    assert [event["detail"]["orderId"] for event in drain(boto, target)] == ["ok"]

    # With a source and detail-type, a payload that is a JSON object is the detail; any other
    # payload (here, text) is wrapped in the documented "payload" key.
    result = cli(
        "redrive",
        "orders-dlq",
        "--to-bus",
        "shop",
        "--source",
        "shop.replay",
        "--detail-type",
        "Replayed",
        "--kind",
        "unknown",
        "--yes",
        "-o",
        "json",
    )
    data = result.json()
    assert (data["selected"], data["redriven"], data["skipped"]) == (2, 2, 0)
    events = drain(boto, target)
    assert {event["source"] for event in events} == {"shop.replay"}
    assert sorted(json.dumps(event["detail"]) for event in events) == [
        '{"payload": "not json"}',
        '{"plain": true}',
    ]
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_redrive_to_bus_partial_failure_leaves_the_failed_entry(
    cli_via, faults, boto, fresh_endpoint
):
    """One Detail is corrupted on the wire: the endpoint fails that entry alone."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    ids = put(
        fresh_endpoint,
        dlq,
        [
            emulate.lambda_dlq(emulate.event({"orderId": name}), "e")
            for name in ("good", "poison", "fine")
        ],
    )

    def corrupt(request):
        for entry in request["Entries"]:
            if "poison" in entry["Detail"]:
                entry["Detail"] = "{not json"

    faults.rewrite("events", "PutEvents", corrupt)
    result = cli_via("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["selected"], data["redriven"], data["failed"]) == (3, 2, 1)
    assert data["failures"][0]["message_id"] == ids[1]
    assert data["failures"][0]["reason"].startswith("MalformedDetail")
    assert faults.count("events", "PutEvents") == 1  # not retryable: sent once
    assert counts(fresh_endpoint, dlq) == (1, 0)
    assert sorted(event["detail"]["orderId"] for event in drain(boto, target)) == ["fine", "good"]


def test_send_partial_failure_keeps_the_refused_message(cli_via, faults, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    jobs = create_queue(fresh_endpoint, "jobs")
    ids = put(fresh_endpoint, dlq, [OutgoingMessage("m", body) for body in ("a", "poison", "c")])

    def invalid_delay(request):
        for entry in request["Entries"]:
            if entry["MessageBody"] == "poison":
                entry["DelaySeconds"] = 9999

    faults.rewrite("sqs", "SendMessageBatch", invalid_delay)
    result = cli_via("redrive", "jobs-dlq", "--to-queue", "jobs", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["failed"]) == (2, 1)
    assert data["failures"][0]["message_id"] == ids[1]
    assert "InvalidParameterValue" in data["failures"][0]["reason"]
    assert counts(fresh_endpoint, dlq) == (1, 0)
    assert counts(fresh_endpoint, jobs) == (2, 0)


def test_delete_failure_after_delivery_is_reported(cli_via, faults, fresh_endpoint):
    """Delivered but not deleted: the message is still in the DLQ and the result says so."""
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    jobs = create_queue(fresh_endpoint, "jobs")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", body) for body in ("a", "b", "c")])

    def stale_handle(request):
        request["Entries"][0]["ReceiptHandle"] = "stale"

    faults.rewrite("sqs", "DeleteMessageBatch", stale_handle)
    result = cli_via("redrive", "jobs-dlq", "--to-queue", "jobs", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["failed"]) == (2, 1)
    assert (
        "deleting it from the DLQ failed (ReceiptHandleIsInvalid)" in data["failures"][0]["reason"]
    )
    assert counts(fresh_endpoint, dlq) == (1, 0)
    assert counts(fresh_endpoint, jobs) == (3, 0)


def test_throttled_sends_are_retried(cli_via, faults, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    jobs = create_queue(fresh_endpoint, "jobs")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"{n}") for n in range(10)])
    faults.fail("sqs", "SendMessageBatch", "ThrottlingException", times=2)
    faults.fail("sqs", "DeleteMessageBatch", "ThrottlingException", times=1)
    result = cli_via("redrive", "jobs-dlq", "--to-queue", "jobs", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 10
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert counts(fresh_endpoint, jobs) == (10, 0)


def test_throttling_that_never_ends_loses_nothing(cli_via, faults, fresh_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    jobs = create_queue(fresh_endpoint, "jobs")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"{n}") for n in range(4)])
    faults.fail("sqs", "SendMessageBatch", "ThrottlingException")
    result = cli_via("redrive", "jobs-dlq", "--to-queue", "jobs", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["failed"]) == (0, 4)
    assert all("throttled" in failure["reason"] for failure in data["failures"])
    assert counts(fresh_endpoint, dlq) == (4, 0)
    assert counts(fresh_endpoint, jobs) == (0, 0)


def test_unknown_bus_is_not_found_and_changes_nothing(cli, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({}), "e")])
    result = cli("redrive", "orders-dlq", "--to-bus", "nope", "--yes")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_dry_run_and_refused_confirmation_change_nothing(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": n}), "e") for n in range(4)])

    dry = cli("redrive", "orders-dlq", "--to-bus", "shop", "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    data = dry.json()
    assert data["dry_run"] is True and data["redriven"] == 0 and data["selected"] == 4
    assert sorted(entry["entry"]["Detail"] for entry in data["entries"]) == [
        f'{{"n":{n}}}' for n in range(4)
    ]
    assert all(entry["entry"]["Source"] == "shop.orders" for entry in data["entries"])

    refused = cli("redrive", "orders-dlq", "--to-bus", "shop")  # no terminal, no --yes
    assert refused.exit_code == ExitCode.USAGE
    assert "pass --yes" in refused.stderr

    assert counts(fresh_endpoint, dlq) == (4, 0)
    assert drain(boto, target) == []


def test_choose_exactly_one_destination(cli):
    assert cli("redrive", "q", "--yes").exit_code == ExitCode.USAGE
    assert cli("redrive", "q", "--to-bus", "b", "--to-source", "--yes").exit_code == ExitCode.USAGE


def test_redrive_to_queue_keeps_body_and_attributes(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    create_queue(fresh_endpoint, "jobs")
    attributes = {
        "tenant": MessageAttribute("String", "acme"),
        "priority": MessageAttribute("Number", "7"),
        "blob": MessageAttribute("Binary", binary_value=b"\x00\x01\xff"),
    }
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"job {n}", attributes) for n in range(12)])
    result = cli("redrive", "jobs-dlq", "--to-queue", "jobs", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 12
    assert counts(fresh_endpoint, dlq) == (0, 0)
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    seen = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            seen.append(message["Body"])
            assert message["MessageAttributes"]["tenant"] == {
                "StringValue": "acme",
                "DataType": "String",
            }
            assert message["MessageAttributes"]["priority"] == {
                "StringValue": "7",
                "DataType": "Number",
            }
            assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xff"
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(seen) == sorted(f"job {n}" for n in range(12))


def test_redrive_to_a_fifo_queue_needs_a_group(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    create_queue(fresh_endpoint, "jobs.fifo", FifoQueue="true")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"job {n}") for n in range(3)])
    # Caught before anything is sent: a standard DLQ's messages have no group.
    refused = cli("redrive", "jobs-dlq", "--to-queue", "jobs.fifo", "--yes", "-o", "json")
    assert refused.exit_code == ExitCode.USAGE
    assert "pre-flight check failed: none of the 3 sampled" in refused.stderr
    assert "--group-id" in refused.stderr and "--force" in refused.stderr
    assert counts(fresh_endpoint, dlq) == (3, 0)
    forced = cli(
        "redrive", "jobs-dlq", "--to-queue", "jobs.fifo", "--force", "--yes", "-o", "json"
    )  # fmt: skip
    assert forced.exit_code == ExitCode.PARTIAL
    assert forced.json()["failed"] == 3
    assert "--group-id" in forced.json()["failures"][0]["reason"]
    assert counts(fresh_endpoint, dlq) == (3, 0)
    result = cli(
        "redrive",
        "jobs-dlq",
        "--to-queue",
        "jobs.fifo",
        "--group-id",
        "replay",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 3
    url = boto("sqs").get_queue_url(QueueName="jobs.fifo")["QueueUrl"]
    messages = boto("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in messages] == ["job 0", "job 1", "job 2"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"replay"}


def test_oversize_message_fails_alone(cli, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    create_queue(fresh_endpoint, "small", MaximumMessageSize="1024")
    ids = put(
        fresh_endpoint, dlq, [OutgoingMessage("m", "x" * 2000), OutgoingMessage("m", "small")]
    )
    result = cli("redrive", "jobs-dlq", "--to-queue", "small", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert data["redriven"] == 1
    assert data["failures"][0]["message_id"] == ids[0]
    assert "MessageTooLarge" in data["failures"][0]["reason"]
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_bounded_redrive_of_messages_that_keep_failing_terminates(cli, fresh_endpoint):
    """Redriving a DLQ into the queue that feeds it straight back must stop after one pass."""
    dlq = create_queue(fresh_endpoint, "loop-dlq")
    create_queue(
        fresh_endpoint,
        "loop",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"}),
    )
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"{n}") for n in range(5)])
    result = cli("redrive", "loop-dlq", "--to-queue", "loop", "--yes", "-o", "json")
    assert result.exit_code == 0
    assert result.json()["selected"] == 5
    assert result.json()["redriven"] == 5


def test_filter_and_limit_select_and_release_the_rest(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    put(
        fresh_endpoint,
        dlq,
        [
            emulate.lambda_dlq(emulate.event({"n": n}), "timeout" if n % 2 else "invalid")
            for n in range(10)
        ],
    )
    result = cli(
        "redrive",
        "orders-dlq",
        "--to-bus",
        "shop",
        "--error-contains",
        "timeout",
        "--limit",
        "3",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 3
    assert counts(fresh_endpoint, dlq) == (7, 0)
    assert all(event["detail"]["n"] % 2 for event in drain(boto, target))


def test_mark_stamps_replays_for_consumers(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    jobs = create_queue(fresh_endpoint, "jobs")
    [original] = put(
        fresh_endpoint,
        dlq,
        [OutgoingMessage("m", "job", {"tenant": MessageAttribute("String", "acme")})],
    )
    assert cli("redrive", "jobs-dlq", "--to-queue", "jobs", "--mark", "--yes").exit_code == 0
    sqs = boto("sqs")
    [moved] = sqs.receive_message(QueueUrl=jobs.url, MessageAttributeNames=["All"])["Messages"]
    attributes = moved["MessageAttributes"]
    assert attributes["dlqctl-replay-of"]["StringValue"] == original
    assert attributes["dlqctl-replay-count"] == {"StringValue": "1", "DataType": "Number"}
    assert attributes["tenant"]["StringValue"] == "acme"
    assert moved["Body"] == "job"

    # A second round trip keeps the original ID and counts up.
    sqs.send_message(QueueUrl=dlq.url, MessageBody=moved["Body"], MessageAttributes=attributes)
    sqs.delete_message(QueueUrl=jobs.url, ReceiptHandle=moved["ReceiptHandle"])
    assert cli("redrive", "jobs-dlq", "--to-queue", "jobs", "--mark", "--yes").exit_code == 0
    [again] = sqs.receive_message(QueueUrl=jobs.url, MessageAttributeNames=["All"])["Messages"]
    assert again["MessageAttributes"]["dlqctl-replay-of"]["StringValue"] == original
    assert again["MessageAttributes"]["dlqctl-replay-count"]["StringValue"] == "2"


def test_mark_on_bus_replays_adds_a_detail_field_only_when_asked(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    ids = put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"orderId": "o-1"}), "e")])
    assert cli("redrive", "orders-dlq", "--to-bus", "shop", "--mark", "--yes").exit_code == 0
    [event] = drain(boto, target)
    assert event["detail"] == {
        "orderId": "o-1",
        "dlqctl-replay": {"replay_of": ids[0], "replay_count": 1},
    }


def test_a_fifo_replay_never_reuses_the_original_deduplication_id(cli, boto, fresh_endpoint):
    """Within 5 minutes SQS accepts a FIFO message with a deduplication ID it has seen and
    silently drops it (AWS-DLQ-REFERENCE B): the replay gets an ID of its own, the same for
    every resend of this DLQ copy."""
    dlq = create_queue(fresh_endpoint, "jobs-dlq.fifo", FifoQueue="true")
    target = create_queue(fresh_endpoint, "jobs.fifo", FifoQueue="true")
    put(fresh_endpoint, dlq, [
        OutgoingMessage("m", f"job {n}", group_id="g", deduplication_id=f"original-{n}")
        for n in range(3)
    ])  # fmt: skip
    result = cli("redrive", "jobs-dlq.fifo", "--to-queue", "jobs.fifo", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    messages = boto("sqs").receive_message(
        QueueUrl=target.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in messages) == ["job 0", "job 1", "job 2"]
    replay_ids = {m["Attributes"]["MessageDeduplicationId"] for m in messages}
    assert len(replay_ids) == 3
    assert not replay_ids & {"original-0", "original-1", "original-2"}


def test_the_pre_flight_sample_goes_out_together_only_far_from_the_region(
    cli_via, faults, fresh_endpoint, monkeypatch
):
    """The sample's receives side by side as far as the timed call says they pay: all ten
    when a call takes 0.3 s, one after another when the gate's time allows it (set here to
    10 s, so how loaded the machine is does not decide). The sample reads as much either
    way, and leaves the queue as it was."""
    from dlqctl import preflight
    from dlqctl.scan import QueueScan

    readers: list[int] = []
    original = QueueScan.read_ahead

    def read_ahead(scan: QueueScan, count: int) -> Any:
        readers.append(count)
        return original(scan, count)

    monkeypatch.setattr(QueueScan, "read_ahead", read_ahead)
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    create_queue(fresh_endpoint, "orders")
    put(fresh_endpoint, dlq, [OutgoingMessage(str(n), f'{{"n": {n}}}') for n in range(120)])
    dry = ("redrive", "orders-dlq", "--to-queue", "orders", "--dry-run", "-o", "json")

    with monkeypatch.context() as near:
        near.setattr(preflight, "SAMPLE_SECONDS", 10.0)
        result = cli_via(*dry)
    assert result.exit_code == 0, result.stderr
    assert result.json()["preflight"]["sampled"] == 100
    assert readers == [1]

    readers.clear()
    faults.delay("sqs", "GetQueueAttributes", 0.3)
    result = cli_via(*dry)
    assert result.exit_code == 0, result.stderr
    assert result.json()["preflight"]["sampled"] == 100
    assert readers == [10]
    assert counts(fresh_endpoint, dlq) == (120, 0)


def test_a_rule_that_could_not_be_tested_is_not_called_nowhere(
    cli_via, boto, faults, fresh_endpoint
):
    # An endpoint that cannot answer TestEventPattern: the preview says which rule it could not
    # test, concludes nothing from it, and the run is not refused as going nowhere.
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = bus_with_queue_target(boto, fresh_endpoint)
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"orderId": "o-1"}), "boom")])
    faults.fail("events", "TestEventPattern", "ValidationException")
    dry = cli_via("redrive", "orders-dlq", "--to-bus", "shop", "--dry-run", "-o", "table")
    assert dry.exit_code == 0, dry.stderr
    shown = dry.stdout + dry.stderr
    assert "shop.orders / OrderPlaced (1 sampled) → could not test all" in shown
    assert "nowhere" not in shown
    result = cli_via("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [group] = result.json()["preflight"]["fan_out"]
    assert (group["rules"], group["untested"]) == ([], ["all"])
    assert result.json()["preflight"]["failures"] == []
    assert [event["detail"]["orderId"] for event in drain(boto, target)] == ["o-1"]
    assert counts(fresh_endpoint, dlq) == (0, 0)
