"""redrive --to-source: SQS sources get their messages back; functions are invoked again.

SQS message move tasks (--server-side) are not implemented by moto's server, so that path is
tested with botocore's Stubber at the AWS boundary, with the exact parameters AWS expects.
"""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage, QueueRef
from tests.helpers import aws_for, counts, create_function, create_queue, put


def sqs_fed_dlq(boto, endpoint, count=3):
    dlq = create_queue(endpoint, "work-dlq")
    source = create_queue(
        endpoint,
        "work",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"}),
    )
    sqs = boto("sqs")
    for n in range(count):
        sqs.send_message(
            QueueUrl=source.url,
            MessageBody=f"job {n}",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": str(n)}},
        )
    for _ in range(4 * count):
        if not sqs.receive_message(
            QueueUrl=source.url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages"):
            break
    assert counts(endpoint, dlq) == (count, 0)
    return dlq, source


def test_sqs_messages_go_back_to_their_source_queue(cli, boto, fresh_endpoint):
    dlq, source = sqs_fed_dlq(boto, fresh_endpoint)
    result = cli("redrive", "work-dlq", "--to-source", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 3
    assert counts(fresh_endpoint, dlq) == (0, 0)
    messages = boto("sqs").receive_message(
        QueueUrl=source.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in messages) == ["job 0", "job 1", "job 2"]
    assert all(m["MessageAttributes"]["n"]["DataType"] == "Number" for m in messages)


def test_lambda_destination_records_invoke_their_function_again(
    cli_via, faults, boto, fresh_endpoint
):
    dlq = create_queue(fresh_endpoint, "fn-failures")
    function = create_function(boto)
    payload = emulate.event({"orderId": "o-9"})
    put(
        fresh_endpoint,
        dlq,
        [
            emulate.lambda_destination(
                payload, function_arn=function["FunctionArn"], error_type="E", error_message="m"
            ),
            OutgoingMessage("m", "no idea where I came from"),
        ],
    )
    result = cli_via("redrive", "fn-failures", "--to-source", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["redriven"], data["skipped"]) == (1, 1), data["failures"]
    assert "source of this unknown message is not known" in data["failures"][0]["reason"]
    invocations = [
        body
        for service, operation, body in faults.bodies
        if service == "lambda" and operation.endswith("/invocations")
    ]
    assert [json.loads(body) for body in invocations] == [payload]
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_server_side_needs_an_sqs_fed_dlq_and_no_filter(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    create_queue(fresh_endpoint, "elsewhere")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "from a function")])
    for destination in (["--to-source"], ["--to-queue", "elsewhere"]):
        # StartMessageMoveTask takes only DLQs of SQS queues (API reference, SourceArn);
        # refused before anything is asked or started, whatever the destination
        result = cli("redrive", "orders-dlq", *destination, "--server-side", "--yes")
        assert result.exit_code == ExitCode.USAGE, destination
        assert "only for DLQs of SQS queues" in result.stderr
    assert counts(fresh_endpoint, dlq) == (1, 0)
    sqs_fed_dlq(boto, fresh_endpoint, count=1)
    filtered = cli("redrive", "work-dlq", "--to-source", "--server-side", "--kind", "sqs", "--yes")
    assert filtered.exit_code == ExitCode.USAGE


def test_server_side_on_moto_fails_cleanly(cli, boto, fresh_endpoint):
    dlq, _ = sqs_fed_dlq(boto, fresh_endpoint, count=2)
    result = cli("redrive", "work-dlq", "--to-source", "--server-side", "--yes")
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert counts(fresh_endpoint, dlq) == (2, 0)


@pytest.fixture
def stubbed_sqs():
    aws = aws_for("http://127.0.0.1:9")  # never contacted: every call is answered by the stub
    client = aws.client("sqs")
    with Stubber(client) as stubber:
        yield aws, stubber
        stubber.assert_no_pending_responses()


DLQ = QueueRef(
    url="https://sqs.us-east-1.amazonaws.com/123456789012/work-dlq",
    name="work-dlq",
    arn="arn:aws:sqs:us-east-1:123456789012:work-dlq",
)


def test_move_task_start_list_and_cancel(stubbed_sqs):
    aws, stubber = stubbed_sqs
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-1"},
        {"SourceArn": DLQ.arn, "MaxNumberOfMessagesPerSecond": 50},
    )
    stubber.add_response(
        "list_message_move_tasks",
        {
            "Results": [
                {
                    "TaskHandle": "handle-1",
                    "Status": "RUNNING",
                    "SourceArn": DLQ.arn,
                    "ApproximateNumberOfMessagesMoved": 120,
                    "ApproximateNumberOfMessagesToMove": 500,
                    "StartedTimestamp": 1795700000000,
                }
            ]
        },
        {"SourceArn": DLQ.arn, "MaxResults": 10},
    )
    stubber.add_response(
        "cancel_message_move_task",
        {"ApproximateNumberOfMessagesMoved": 130},
        {"TaskHandle": "handle-1"},
    )
    assert aws.sqs.start_move_task(DLQ, destination_arn=None, max_per_second=50) == "handle-1"
    [task] = aws.sqs.move_tasks(DLQ)
    assert task.to_json() == {
        "status": "RUNNING",
        "task_handle": "handle-1",
        "source_arn": DLQ.arn,
        "destination_arn": None,
        "moved": 120,
        "to_move": 500,
        "failure_reason": None,
        "started_at": "2026-11-26T13:33:20.000Z",
    }
    assert aws.sqs.cancel_move_task("handle-1") == 130


def test_move_task_refused_for_a_non_sqs_dlq(stubbed_sqs):
    from dlqctl.errors import UsageError

    aws, stubber = stubbed_sqs
    stubber.add_client_error(
        "start_message_move_task",
        service_error_code="InvalidParameterValue",
        service_message="Source queue must be configured as a Dead Letter Queue.",
        expected_params={
            "SourceArn": DLQ.arn,
            "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:other",
        },
    )
    with pytest.raises(UsageError, match="Dead Letter Queue"):
        aws.sqs.start_move_task(
            DLQ, destination_arn="arn:aws:sqs:us-east-1:123456789012:other", max_per_second=None
        )
