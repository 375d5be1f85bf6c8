"""Every DLQ message shape AWS writes, decoded, shown and replayed (or refused) through the CLI.

The messages are the fixtures in ``tests/fixtures/shapes/``, each transcribed from a primary
source that the file cites (AWS documentation; LocalStack snapshot files recorded against real
AWS, e.g. ``tests/aws/services/lambda_/test_lambda_destinations.snapshot.json``; published
captures such as aws-samples/aws-serverless-failure-modes ``docs/streams_dlq_example.md``).
The expectations below are read from those sources, not from dlqctl's output.

Messages that SQS moved by ``maxReceiveCount`` carry the ``DeadLetterQueueSourceArn`` system
attribute, which no client can send: those shapes go through a real source queue with a
RedrivePolicy, and the embedded endpoint stamps the attribute as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dlqctl.choices import Kind
from dlqctl.envelopes import decode
from dlqctl.errors import ExitCode
from dlqctl.models import Arn
from tests import shapes
from tests.cli.test_redrive import bus_with_queue_target, drain
from tests.helpers import counts, create_queue, put

DLQ = "shapes-dlq"

# name: (kind, error code, origin entries that must be there, event source or None, replayable)
EXPECTED: dict[str, tuple[Kind, str | None, dict[str, str], str | None, bool]] = {
    "lambda_dlq": (
        Kind.LAMBDA_DLQ,
        "200",
        {"request_id": "6f1d7b1e-2c4a-4b8e-9a3f-5d2c1e0b7a93"},
        None,
        True,
    ),
    "lambda_dlq_via_sns_nonraw": (
        Kind.LAMBDA_DLQ,
        "200",
        {
            "via": "sns",
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:test-topic-9c1d2e3f",
            "request_id": "3b8e2f4a-7c1d-4e9b-a6f2-0d5c8e1b3a79",
        },
        None,
        True,
    ),
    "lambda_dlq_via_sns_raw": (
        Kind.LAMBDA_DLQ,
        "200",
        {"request_id": "3b8e2f4a-7c1d-4e9b-a6f2-0d5c8e1b3a79"},
        None,
        True,
    ),
    "lambda_destination_docs_example": (
        Kind.LAMBDA_DESTINATION,
        "Unhandled",
        {
            "function_arn": "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST",
            "condition": "RetriesExhausted",
        },
        None,
        True,
    ),
    "lambda_destination_retries_exhausted": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {"condition": "RetriesExhausted", "approximate_invoke_count": "3"},
        None,
        True,
    ),
    "lambda_destination_event_age_exceeded": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {"condition": "EventAgeExceeded", "approximate_invoke_count": "1"},
        None,
        True,
    ),
    "lambda_destination_zero_reserved_concurrency": (
        Kind.LAMBDA_DESTINATION,
        "ZeroReservedConcurrency",
        {"condition": "ZeroReservedConcurrency", "approximate_invoke_count": "0"},
        None,
        True,
    ),
    "lambda_destination_timeout": (
        Kind.LAMBDA_DESTINATION,
        "Sandbox.Timedout",
        {"condition": "RetriesExhausted"},
        None,
        True,
    ),
    "lambda_destination_s3_event_payload": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {"condition": "RetriesExhausted"},
        None,
        True,
    ),
    "lambda_destination_list_payload": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {"condition": "RetriesExhausted"},
        None,
        True,
    ),
    "lambda_destination_string_payload": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {"condition": "RetriesExhausted"},
        None,
        True,
    ),
    "lambda_destination_success": (
        Kind.LAMBDA_SUCCESS,
        None,
        {"condition": "Success"},
        None,
        False,
    ),
    "lambda_destination_via_sns": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {"via": "sns", "topic_arn": "arn:aws:sns:us-east-1:123456789012:lambda-destination-topic"},
        None,
        True,
    ),
    "lambda_destination_via_eventbridge": (
        Kind.LAMBDA_DESTINATION,
        "Exception",
        {
            "via": "eventbridge",
            "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
        },
        None,
        True,
    ),
    "kinesis_esm_failure": (
        Kind.LAMBDA_STREAM_FAILURE,
        "RetryAttemptsExhausted",
        {
            "stream_arn": (
                "arn:aws:kinesis:eu-west-1:012345678901:stream/"
                "aws-sls-failure-modes-KinesisStream-VNyLC42KYxKD"
            ),
            "shard_id": "shardId-000000000000",
            "start_sequence_number": "49625681492847716055798994229222865552900196919517642754",
            "batch_size": "1",
        },
        None,
        False,
    ),
    "kafka_esm_failure": (
        Kind.LAMBDA_STREAM_FAILURE,
        "Unhandled",
        {
            "batch_info": "KafkaBatchInfo",
            "event_source_arn": (
                "arn:aws:kafka:us-east-1:123456789012:cluster/vpc-2priv-2pub/"
                "751d2973-a626-431c-9d4e-d7975eb44dd7-2"
            ),
            "batch_size": "500",
            "records": (
                "Topic-0 offsets 49601189658422359378836298521827638475320189012309704722 to "
                "49601189658422359378836298522902373528957594348623495186; Topic-1 offsets "
                "49601189658422359378836298521827638475320189012309704722 to "
                "49601189658422359378836298522902373528957594348623495186"
            ),
        },
        None,
        False,
    ),
    "dynamodb_esm_failure": (
        Kind.LAMBDA_STREAM_FAILURE,
        "Unhandled",
        {"batch_info": "DDBStreamBatchInfo", "condition": "RetryAttemptsExhausted"},
        None,
        False,
    ),
    "eventbridge_rule_dlq": (
        Kind.EVENTBRIDGE_DLQ,
        "THROTTLING",
        {
            "rule_arn": "arn:aws:events:us-west-1:111122223333:rule/ec2-state-change",
            "target_arn": (
                "arn:aws:lambda:us-west-1:111122223333:function:handle-ec2-state-change"
            ),
            "retry_attempts": "3",
            "exhausted_retry_condition": "MaximumRetryAttempts",
        },
        "aws.ec2",
        True,
    ),
    "eventbridge_rule_dlq_kms": (
        Kind.EVENTBRIDGE_ENCRYPTED,
        "NO_PERMISSIONS",
        {
            "kms_key_arn": (
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            ),
            "target_arn": "arn:aws:sqs:us-east-1:123456789012:order-created-target",
        },
        None,
        False,
    ),
    "eventbridge_bus_dlq_kms": (
        Kind.EVENTBRIDGE_ENCRYPTED,
        None,
        {"bus_arn": "arn:aws:events:us-east-1:123456789012:event-bus/orders-bus"},
        None,
        False,
    ),
    "scheduler_dlq": (
        Kind.SCHEDULER,
        "AWS.SimpleQueueService.NonExistentQueue",
        {
            "schedule_arn": "arn:aws:scheduler:us-west-2:123456789012:schedule/DLQ-test",
            "target_arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage",
            "execution_id": "ad06616e51cdf74a",
        },
        None,
        True,
    ),
    "custom_bus_subscriber_dlq": (
        Kind.EVENTBRIDGE_SUBSCRIBER,
        "ACCESS_DENIED",
        {
            "subscriber_arn": (
                "arn:aws:events:us-east-1:111122223333:subscriber/large-orders/"
                "EXAMPLEabcdef1234567890"
            ),
            "event_ids": (
                "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d,e5f6a7b8-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
            ),
        },
        None,
        False,
    ),
    "sns_nonraw": (
        Kind.SNS,
        None,
        {"topic_arn": "arn:aws:sns:us-east-1:123456789012:test-topic-6d8f0a2c"},
        None,
        True,
    ),
    "sns_raw": (Kind.UNKNOWN, None, {}, None, True),
    "sqs_redrive": (
        Kind.SQS,
        None,
        {"source_queue_arn": "arn:aws:sqs:us-east-1:123456789012:MyQueue"},
        None,
        True,
    ),
    "sqs_redrive_of_lambda_dlq": (
        Kind.SQS,
        "200",
        {
            "source_queue_arn": "arn:aws:sqs:us-east-1:123456789012:test-5e6f7a8b",
            "producer": "lambda-dlq",
            "request_id": "6f1d7b1e-2c4a-4b8e-9a3f-5d2c1e0b7a93",
        },
        None,
        True,
    ),
}

# What the failed consumer was given, as each source shows it (None: nothing to give).
PAYLOADS: dict[str, Any] = {
    "lambda_dlq": {"raise_error": 1},
    "lambda_destination_retries_exhausted": {"message": "retry-msg-4a7c91d2"},
    "lambda_destination_string_payload": "9e07af03-ce31-4ff3-xmpl-36dce652cb4f",
    "lambda_destination_via_sns": {"raise_error": 1},
    "lambda_destination_via_eventbridge": {"raise_error": 1},
    "kinesis_esm_failure": None,
    "kafka_esm_failure": None,
    "eventbridge_bus_dlq_kms": None,
    "custom_bus_subscriber_dlq": None,
    "sns_nonraw": "test_dlq_after_sqs_endpoint_deleted",
    "sns_raw": "test_dlq_after_sqs_endpoint_deleted",
    "sqs_redrive": "This is a test message",
}


def test_every_fixture_has_an_expectation_and_a_source():
    assert sorted(EXPECTED) == shapes.NAMES
    assert all(shapes.source_of(name).strip() for name in shapes.NAMES)


@pytest.mark.parametrize("name", shapes.NAMES)
def test_decoding_each_shape_as_received(name):
    """The fixture as ReceiveMessage returns it, system attributes included."""
    kind, code, origin, event_source, replayable = EXPECTED[name]
    view = decode(shapes.received(name))
    assert view.kind == kind
    assert (view.error.code if view.error else None) == code
    assert origin.items() <= dict(view.origin).items()
    assert (view.event or {}).get("source") == event_source
    assert (view.unreplayable is None) == replayable
    if name in PAYLOADS:
        assert view.payload == PAYLOADS[name]


def _put_shape(boto: Any, endpoint: str, name: str, dlq: Any) -> str:
    """Put a shape in the DLQ as its producer would (SQS-moved shapes through their source
    queue, which keeps the message ID); returns the message ID."""
    source_arn = shapes.source_queue_of(name)
    if source_arn is None:
        [message_id] = put(endpoint, dlq, [shapes.outgoing(name)])
        return message_id
    source = create_queue(
        endpoint,
        Arn.parse(source_arn).name,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"}),
    )
    assert source.arn == source_arn
    [message_id] = put(endpoint, source, [shapes.outgoing(name)])
    sqs = boto("sqs")
    for _ in range(3):  # the second receive finds it over maxReceiveCount and moves it
        sqs.receive_message(QueueUrl=source.url, VisibilityTimeout=0)
    assert counts(endpoint, source) == (0, 0)
    return message_id


@pytest.mark.parametrize("name", shapes.NAMES)
def test_peek_shows_each_shape(cli, boto, fresh_endpoint, name):
    kind, code, origin, event_source, replayable = EXPECTED[name]
    dlq = create_queue(fresh_endpoint, DLQ)
    _put_shape(boto, fresh_endpoint, name, dlq)
    result = cli("peek", DLQ, "-o", "json")
    assert result.exit_code == 0, result.stderr
    [view] = result.json()
    assert view["kind"] == kind.value
    assert (view["error"] or {}).get("code") == code
    assert origin.items() <= view["origin"].items()
    assert (view["event"] or {}).get("source") == event_source
    assert view["replayable"] is replayable
    assert (view["not_replayable_reason"] is None) is replayable
    if name in PAYLOADS:
        assert view["payload"] == PAYLOADS[name]
    assert counts(fresh_endpoint, dlq) == (1, 0)


def _all_shapes_in_one_dlq(cli: Any, boto: Any, endpoint: str) -> tuple[Any, dict[str, str]]:
    """Every shape in one DLQ; returns it and the shape name of each message ID."""
    dlq = create_queue(endpoint, DLQ)
    names = {_put_shape(boto, endpoint, name, dlq): name for name in shapes.NAMES}
    result = cli("peek", DLQ, "--all", "-o", "jsonl")
    assert result.exit_code == 0, result.stderr
    shown = {view["message_id"]: view["kind"] for view in result.jsonl()}
    assert {names[message_id]: kind for message_id, kind in shown.items()} == {
        name: expected[0].value for name, expected in EXPECTED.items()
    }
    return dlq, names


def test_bus_replay_sends_only_real_events_and_never_a_failure_notification(
    cli, boto, fresh_endpoint
):
    """Without --source, only a real EventBridge event may go back on the bus. The one real
    event here has an aws.* source, which PutEvents refuses, so nothing is sent: in particular
    not the Lambda failure notification that arrived through EventBridge (a replay loop)."""
    dlq, names = _all_shapes_in_one_dlq(cli, boto, fresh_endpoint)
    target = bus_with_queue_target(boto, fresh_endpoint)
    result = cli("redrive", DLQ, "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["skipped"]) == (0, len(names))
    reasons = {names[failure["message_id"]]: failure["reason"] for failure in data["failures"]}
    assert "aws.* sources" in reasons["eventbridge_rule_dlq"]
    assert "no EventBridge event" in reasons["lambda_destination_via_eventbridge"]
    assert "re-read shard shardId-000000000000" in reasons["kinesis_esm_failure"]
    assert "re-read Topic-0 offsets" in reasons["kafka_esm_failure"]
    assert "shard" not in reasons["kafka_esm_failure"]
    assert "ciphertext" in reasons["eventbridge_bus_dlq_kms"]
    assert "holds no events" in reasons["custom_bus_subscriber_dlq"]
    assert "on-success" in reasons["lambda_destination_success"]
    assert drain(boto, target) == []
    assert counts(fresh_endpoint, dlq) == (len(names), 0)


def test_bus_replay_with_a_source_sends_each_payload_as_the_detail(cli, boto, fresh_endpoint):
    dlq, names = _all_shapes_in_one_dlq(cli, boto, fresh_endpoint)
    target = bus_with_queue_target(boto, fresh_endpoint)
    result = cli(
        "redrive", DLQ, "--to-bus", "shop", "--source", "shop.replay",
        "--detail-type", "Replayed", "--yes", "-o", "json",
    )  # fmt: skip
    data = result.json()
    unreplayable = {name for name, expected in EXPECTED.items() if not expected[4]}
    assert data["redriven"] == len(names) - len(unreplayable)
    assert {names[failure["message_id"]] for failure in data["failures"]} == unreplayable
    details = sorted(json.dumps(event["detail"], sort_keys=True) for event in drain(boto, target))
    expected = []
    for name in names.values():
        if name in unreplayable:
            continue
        view = decode(shapes.received(name))
        # A real event keeps its detail (its source is rewritten); any other payload is the
        # detail, wrapped in "payload" when it is not a JSON object.
        if view.event:
            detail = view.event["detail"]
        elif isinstance(view.payload, dict):
            detail = view.payload
        else:
            detail = {"payload": view.payload}
        expected.append(json.dumps(detail, sort_keys=True))
    assert details == sorted(expected)
    # The message an SNS envelope carried, never the envelope (its signature, unsubscribe URL).
    assert not any(json.loads(detail).get("Type") == "Notification" for detail in details)
    assert '{"payload": "9e07af03-ce31-4ff3-xmpl-36dce652cb4f"}' in details
    assert counts(fresh_endpoint, dlq) == (len(unreplayable), 0)


def test_source_replay_dry_run_names_each_real_source(cli, boto, fresh_endpoint):
    dlq, names = _all_shapes_in_one_dlq(cli, boto, fresh_endpoint)
    result = cli("redrive", DLQ, "--to-source", "--dry-run", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL  # some would be refused
    data = result.json()
    planned = {names[entry["message_id"]]: entry for entry in data["entries"]}
    # SQS-moved messages go back to the queue SQS named, even one a Lambda DLQ wrote first.
    assert planned["sqs_redrive"]["target"] == "MyQueue"
    assert planned["sqs_redrive_of_lambda_dlq"]["target"] == "test-5e6f7a8b"
    assert planned["sqs_redrive_of_lambda_dlq"]["entry"]["MessageBody"] == '{"raise_error": 1}'
    # Failure records invoke their function again with the payload it failed on, as JSON.
    invocation = planned["lambda_destination_s3_event_payload"]["entry"]
    assert invocation["InvocationType"] == "Event"
    assert invocation["Payload"]["Records"][0]["eventSource"] == "aws:s3"
    assert planned["lambda_destination_via_eventbridge"]["entry"] == {
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
        "InvocationType": "Event",
        "Payload": {"raise_error": 1},
    }
    assert "b'" not in result.stdout
    refused = {names[failure["message_id"]]: failure["reason"] for failure in data["failures"]}
    assert set(refused) | set(planned) == set(names.values())
    for name in ("kinesis_esm_failure", "dynamodb_esm_failure", "lambda_destination_success"):
        assert name in refused
    assert "does not name its function" in refused["lambda_dlq"]
    assert "source of this sns message is not known" in refused["sns_nonraw"]
    assert "source of this unknown message is not known" in refused["sns_raw"]
    assert counts(fresh_endpoint, dlq) == (len(names), 0)


def test_a_500_kb_event_replays_to_the_bus(cli, boto, fresh_endpoint):
    """EventBridge and SQS take up to 1 MiB since January 2026 (AWS Compute Blog, 2026-01-29)."""
    from dlqctl import emulate

    dlq = create_queue(fresh_endpoint, DLQ)
    target = bus_with_queue_target(boto, fresh_endpoint)
    big = emulate.event({"blob": "x" * 500_000})
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(big, "too big for 256 KB")])
    result = cli("redrive", DLQ, "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [event] = drain(boto, target)
    assert len(event["detail"]["blob"]) == 500_000
    assert counts(fresh_endpoint, dlq) == (0, 0)
