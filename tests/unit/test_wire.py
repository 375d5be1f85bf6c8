"""The direct caller for per-batch calls (``aws.Wire``) says and answers what botocore would.

Its signature is checked against AWS's own SigV4 test vector and against botocore's signer; its
requests and answers against botocore's client on the real local endpoint (moto's server over
HTTP): the same messages, the same bytes of binary attributes, the same error codes. Retries go
through the fault proxy, which answers with AWS errors before the endpoint is reached.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dlqctl.aws import Aws, Connection, _direct_url, sigv4_authorization
from dlqctl.errors import AmbiguousSend
from dlqctl.models import MessageAttribute, OutgoingMessage
from tests.helpers import REGION, aws_for, create_queue


def test_signature_matches_the_aws_sigv4_test_suite():
    # AWS General Reference, "Signature Version 4 test suite", case post-vanilla: POST / to
    # example.amazonaws.com, no body, signed at 20150830T123600Z with the suite's example keys.
    authorization = sigv4_authorization(
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        service="service",
        amz_date="20150830T123600Z",
        path="/",
        headers={"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"},
        body=b"",
    )
    assert authorization == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    )


def test_signature_matches_botocore_for_an_sqs_call_with_a_session_token():
    credentials = Credentials("AKIDEXAMPLE", "secret/+key", "session-token==")
    body = b'{"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "Entries": []}'
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AmazonSQS.DeleteMessageBatch",
        "x-amzn-query-mode": "true",
    }
    request = AWSRequest(
        method="POST", url="https://sqs.eu-west-1.amazonaws.com/", data=body, headers=headers
    )
    SigV4Auth(credentials, "sqs", "eu-west-1").add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    ours = sigv4_authorization(
        access_key="AKIDEXAMPLE",
        secret_key="secret/+key",
        region="eu-west-1",
        service="sqs",
        amz_date=amz_date,
        path="/",
        headers={
            **{name.lower(): value for name, value in headers.items()},
            "host": "sqs.eu-west-1.amazonaws.com",
            "x-amz-date": amz_date,
            "x-amz-security-token": "session-token==",
        },
        body=body,
    )
    assert ours == request.headers["Authorization"]


def binary_message(n: int) -> OutgoingMessage:
    return OutgoingMessage(
        entry_id=str(n),
        body=f'{{"n": {n}}}',
        message_attributes={
            "blob": MessageAttribute("Binary", binary_value=bytes([0, 255, n, 10])),
            "text": MessageAttribute("String", string_value=f"t-{n} ü"),
            "count": MessageAttribute("Number", string_value=str(n)),
        },
    )


def test_receive_answers_as_the_client_does(fresh_endpoint, boto):
    aws = aws_for(fresh_endpoint)
    assert aws.wire("sqs").direct and aws.wire("sqs", sends=True).direct
    queue = create_queue(fresh_endpoint, "wire-q")
    outcomes = aws.sqs.send(queue, [binary_message(n) for n in range(3)])  # sent by the wire
    assert all(outcome.accepted for outcome in outcomes.values())

    request = {
        "QueueUrl": queue.url,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": 0,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    direct = aws.wire("sqs").call("ReceiveMessage", request, retry=True)["Messages"]
    client = boto("sqs").receive_message(**request)["Messages"]

    def comparable(messages):
        ignored = {"ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"}
        return sorted(
            (
                message["MessageId"],
                message["Body"],
                message["MD5OfBody"],
                message.get("MD5OfMessageAttributes"),
                {k: v for k, v in message["Attributes"].items() if k not in ignored},
                message["MessageAttributes"],
            )
            for message in messages
        )

    assert len(direct) == 3
    assert comparable(direct) == comparable(client)
    blobs = sorted(message["MessageAttributes"]["blob"]["BinaryValue"] for message in direct)
    assert blobs == [bytes([0, 255, n, 10]) for n in range(3)]


def test_an_error_is_the_clients_error(fresh_endpoint, boto):
    aws = aws_for(fresh_endpoint)
    missing = f"{fresh_endpoint}/123456789012/no-such-queue"
    request = {"QueueUrl": missing, "Entries": [{"Id": "0", "ReceiptHandle": "x"}]}
    with pytest.raises(botocore.exceptions.ClientError) as direct:
        aws.wire("sqs").call("DeleteMessageBatch", request, retry=True)
    with pytest.raises(botocore.exceptions.ClientError) as client:
        boto("sqs").delete_message_batch(**request)
    assert direct.value.response["Error"] == client.value.response["Error"]
    assert direct.value.operation_name == "DeleteMessageBatch"
    assert direct.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_times_go_out_as_the_client_sends_them(fresh_endpoint, boto):
    aws = aws_for(fresh_endpoint)
    events, sqs = boto("events"), boto("sqs")
    events.create_event_bus(Name="wire-bus")
    queue = create_queue(fresh_endpoint, "wire-target")
    events.put_rule(Name="all", EventBusName="wire-bus", EventPattern='{"source": ["wire"]}')
    events.put_targets(Rule="all", EventBusName="wire-bus", Targets=[{"Id": "q", "Arn": queue.arn}])
    entry = {
        "EventBusName": "wire-bus",
        "Source": "wire",
        "DetailType": "Tick",
        "Detail": "{}",
        "Time": datetime(2026, 11, 27, 3, 4, 5, tzinfo=UTC),
    }
    answer = aws.wire("events", sends=True).call("PutEvents", {"Entries": [entry]}, retry=False)
    assert answer["FailedEntryCount"] == 0
    [delivered] = sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(delivered["Body"])["time"] == "2026-11-27T03:04:05Z"


def test_throttling_is_retried_and_a_send_is_not(faults, fresh_endpoint):
    aws = Aws(Connection(region=REGION, endpoint_url=faults.url))
    queue = create_queue(fresh_endpoint, "wire-retry")
    faults.fail("sqs", "ReceiveMessage", "ThrottlingException", times=2)
    request = {"QueueUrl": queue.url, "MaxNumberOfMessages": 1}
    assert aws.wire("sqs").call("ReceiveMessage", request, retry=True).get("Messages") is None
    assert faults.count("sqs", "ReceiveMessage") == 3

    faults.fail("sqs", "SendMessageBatch", "ThrottlingException", times=1)
    entries = {"QueueUrl": queue.url, "Entries": [{"Id": "0", "MessageBody": "x"}]}
    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        aws.wire("sqs", sends=True).call("SendMessageBatch", entries, retry=False)
    assert faults.count("sqs", "SendMessageBatch") == 1


def test_another_retry_mode_leaves_the_calls_to_the_client(fresh_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    aws = aws_for(fresh_endpoint)
    assert not aws.wire("sqs").direct  # the client's adaptive retries apply
    assert aws.wire("sqs", sends=True).direct  # a send is tried once either way
    queue = create_queue(fresh_endpoint, "wire-adaptive")
    aws.sqs.send(queue, [binary_message(1)])
    [message] = aws.sqs.receive(queue, max_messages=10, wait_seconds=1, hold_seconds=0)
    assert message.message_attributes["blob"].binary_value == bytes([0, 255, 1, 10])


def test_a_cut_answer_to_a_send_is_ambiguous_and_a_receive_is_tried_again(faults, fresh_endpoint):
    aws = Aws(Connection(region=REGION, endpoint_url=faults.url))
    queue = create_queue(fresh_endpoint, "wire-cut")
    faults.cut_responses("sqs", "SendMessageBatch", times=1)
    with pytest.raises(AmbiguousSend, match="may have been delivered"):
        aws.sqs.send(queue, [binary_message(1)])
    assert faults.count("sqs", "SendMessageBatch") == 1  # not sent again blindly
    faults.cut_responses("sqs", "ReceiveMessage", times=1)
    got = aws.sqs.receive(queue, max_messages=10, wait_seconds=0, hold_seconds=0)
    assert [message.body for message in got] == ['{"n": 1}']  # the cut send was delivered
    assert faults.count("sqs", "ReceiveMessage") == 2


def _attempts_of_a_failing_delete(faults, queue, call) -> int:
    """How many DeleteMessageBatch calls ``call`` makes while every one fails with a 500."""
    before = faults.count("sqs", "DeleteMessageBatch")
    faults.fail("sqs", "DeleteMessageBatch", "InternalError", status=500)
    with pytest.raises(botocore.exceptions.ClientError):
        call({"QueueUrl": queue.url, "Entries": [{"Id": "0", "ReceiptHandle": "x"}]})
    return faults.count("sqs", "DeleteMessageBatch") - before


def _only_the_profile(monkeypatch, tmp_path, settings: str) -> None:
    """Retry settings from a default profile of ``settings`` alone, none from the environment."""
    config = tmp_path / "config"
    config.write_text(f"[default]\n{settings}")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def _sdk_client(url: str):
    """A plain botocore client, configured only by the environment and the profile."""
    import botocore.session

    return botocore.session.get_session().create_client("sqs", region_name=REGION, endpoint_url=url)


@pytest.mark.parametrize("direct", ["1", "0"])
@pytest.mark.parametrize("where", ["environment", "profile"])
def test_retries_as_many_times_as_the_sdk(
    faults, fresh_endpoint, monkeypatch, tmp_path, direct, where
):
    # AWS_MAX_ATTEMPTS and a profile's max_attempts count the first call, for the aws CLI and
    # every SDK; dlqctl's two paths make as many calls as a plain botocore client does.
    monkeypatch.setenv("DLQCTL_DIRECT", direct)
    if where == "environment":
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    else:
        _only_the_profile(monkeypatch, tmp_path, "max_attempts = 2\nretry_mode = standard\n")
    aws = Aws(Connection(region=REGION, endpoint_url=faults.url))
    assert aws.wire("sqs").direct is (direct == "1")
    queue = create_queue(fresh_endpoint, "wire-attempts")
    sdk = _sdk_client(faults.url)
    by_sdk = _attempts_of_a_failing_delete(
        faults, queue, lambda request: sdk.delete_message_batch(**request)
    )
    by_dlqctl = _attempts_of_a_failing_delete(
        faults,
        queue,
        lambda request: aws.wire("sqs").call("DeleteMessageBatch", request, retry=True),
    )
    assert by_sdk == 2
    assert by_dlqctl == by_sdk


def test_without_a_setting_eight_attempts_in_all(faults, fresh_endpoint, monkeypatch, tmp_path):
    _only_the_profile(monkeypatch, tmp_path, "")
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the backoff, not what is counted
    aws = Aws(Connection(region=REGION, endpoint_url=faults.url))
    queue = create_queue(fresh_endpoint, "wire-default-attempts")
    attempts = _attempts_of_a_failing_delete(
        faults,
        queue,
        lambda request: aws.wire("sqs").call("DeleteMessageBatch", request, retry=True),
    )
    assert attempts == 8


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_MAX_ATTEMPTS", "many"), ("AWS_MAX_ATTEMPTS", "0"), ("AWS_RETRY_MODE", "eager")],
)
def test_a_bad_retry_setting_is_a_usage_error(monkeypatch, variable, value):
    from dlqctl.errors import UsageError

    monkeypatch.setenv(variable, value)
    aws = Aws(
        Connection(region=REGION, endpoint_url="http://127.0.0.1:9", static_credentials=("a", "b"))
    )
    with pytest.raises(UsageError, match=value):
        aws.client("sqs")


def test_endpoints_the_direct_path_does_not_sign_go_through_the_client():
    assert _direct_url("https://sqs.eu-west-1.amazonaws.com") == (
        "https://sqs.eu-west-1.amazonaws.com/",
        "sqs.eu-west-1.amazonaws.com",
    )
    assert _direct_url("http://127.0.0.1:4566/") == ("http://127.0.0.1:4566/", "127.0.0.1:4566")
    assert _direct_url("http://[::1]:80") == ("http://[::1]:80/", "[::1]")
    assert _direct_url("http://[::1]:4566") == ("http://[::1]:4566/", "[::1]:4566")
    assert _direct_url("https://proxy.example.com/aws/sqs") is None
    assert _direct_url("https://proxy.example.com/?x=1") is None
    # FIPS and dual-stack endpoints of the isolated partitions are not the client's base URL.
    isolated = Aws(Connection(region="us-iso-east-1", static_credentials=("a", "b")))
    assert not isolated.wire("sqs").direct
    assert Aws(Connection(region="eu-west-1", static_credentials=("a", "b"))).wire("sqs").direct
