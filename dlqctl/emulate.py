"""Messages in the exact shapes AWS producers write to a DLQ, for the sandbox, demo and tests.

Shapes follow AWS's documentation: a Lambda DLQ keeps the event as the body with ``RequestID``,
``ErrorCode`` and ``ErrorMessage`` attributes; an EventBridge rule DLQ keeps the event with
``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``
and ``RETRY_ATTEMPTS``; a Lambda on-failure destination writes an invocation record; an SNS
subscription DLQ keeps the notification envelope.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from dlqctl.envelopes import ENCRYPTED_DETAIL_TYPE, SUCCESS_CONDITION, LambdaDlqAttribute
from dlqctl.envelopes import EventBridgeAttribute as EB
from dlqctl.models import JsonValue, MessageAttribute, OutgoingMessage, iso_utc


def _string(value: str) -> MessageAttribute:
    return MessageAttribute("String", string_value=value)


def event(
    detail: JsonValue,
    *,
    source: str = "shop.orders",
    detail_type: str = "OrderPlaced",
    account: str = "123456789012",
    region: str = "us-east-1",
    time: datetime | None = None,
    resources: list[str] | None = None,
) -> dict[str, Any]:
    """An EventBridge event as a target receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": (iso_utc(time or datetime.now(UTC)) or "").replace(".000Z", "Z"),
        "region": region,
        "resources": resources or [],
        "detail": detail,
    }


def lambda_dlq(
    payload: JsonValue, error_message: str, *, request_id: str | None = None
) -> OutgoingMessage:
    """What Lambda writes to a function's DeadLetterConfig queue after the last retry."""
    return OutgoingMessage(
        entry_id="m",
        body=json.dumps(payload),
        message_attributes={
            LambdaDlqAttribute.REQUEST_ID: _string(request_id or str(uuid.uuid4())),
            # Documented as the HTTP status code; a function error reports 200.
            LambdaDlqAttribute.ERROR_CODE: MessageAttribute("Number", string_value="200"),
            LambdaDlqAttribute.ERROR_MESSAGE: _string(error_message[:1024]),
        },
    )


def eventbridge_dlq(
    payload: JsonValue,
    *,
    rule_arn: str,
    target_arn: str,
    error_code: str,
    error_message: str,
    retry_attempts: int = 0,
    exhausted_retry_condition: str | None = None,
) -> OutgoingMessage:
    """What EventBridge writes to a rule target's DeadLetterConfig queue."""
    attributes: dict[str, MessageAttribute] = {
        EB.RULE_ARN: _string(rule_arn),
        EB.TARGET_ARN: _string(target_arn),
        EB.ERROR_CODE: _string(error_code),
        EB.ERROR_MESSAGE: _string(error_message),
        EB.RETRY_ATTEMPTS: _string(str(retry_attempts)),
    }
    if exhausted_retry_condition:
        attributes[EB.EXHAUSTED_RETRY_CONDITION] = _string(exhausted_retry_condition)
    return OutgoingMessage(entry_id="m", body=json.dumps(payload), message_attributes=attributes)


def destination_record(
    payload: JsonValue,
    *,
    function_arn: str,
    error_type: str | None,
    error_message: str | None,
    condition: str = "RetriesExhausted",
    invoke_count: int = 3,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The invocation record Lambda sends to a destination (``condition`` "Success" for an
    on-success record, which carries the function's response and no error)."""
    request_id = request_id or str(uuid.uuid4())
    success = condition == SUCCESS_CONDITION
    return {
        "version": "1.0",
        "timestamp": iso_utc(datetime.now(UTC)),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"}
        | ({} if success else {"functionError": "Unhandled"}),
        "responsePayload": None
        if success
        else {
            "errorMessage": error_message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": [],
        },
    }


def lambda_destination(
    payload: JsonValue,
    *,
    function_arn: str,
    error_type: str,
    error_message: str,
    condition: str = "RetriesExhausted",
    invoke_count: int = 3,
    request_id: str | None = None,
) -> OutgoingMessage:
    """The invocation record Lambda sends to an on-failure destination queue."""
    record = destination_record(
        payload,
        function_arn=function_arn,
        error_type=error_type,
        error_message=error_message,
        condition=condition,
        invoke_count=invoke_count,
        request_id=request_id,
    )
    return OutgoingMessage(entry_id="m", body=json.dumps(record))


def destination_event(record: dict[str, Any], *, region: str = "us-east-1") -> OutgoingMessage:
    """A destination record delivered through an EventBridge destination, then to a queue."""
    failure = record["requestContext"]["condition"] != SUCCESS_CONDITION
    wrapped = event(
        record,
        source="lambda",
        detail_type=f"Lambda Function Invocation Result - {'Failure' if failure else 'Success'}",
        region=region,
        resources=[record["requestContext"]["functionArn"]],
    )
    return OutgoingMessage(entry_id="m", body=json.dumps(wrapped))


def stream_failure(
    *,
    function_arn: str,
    stream_arn: str,
    shard_id: str,
    start_sequence: str,
    end_sequence: str,
    batch_size: int,
) -> OutgoingMessage:
    """What a Kinesis event-source mapping sends to its on-failure destination: where the
    failed batch is in the stream, not its records."""
    now = iso_utc(datetime.now(UTC))
    record = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
        "version": "1.0",
        "timestamp": now,
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": start_sequence,
            "endSequenceNumber": end_sequence,
            "approximateArrivalOfFirstRecord": now,
            "approximateArrivalOfLastRecord": now,
            "batchSize": batch_size,
            "streamArn": stream_arn,
        },
    }
    return OutgoingMessage(entry_id="m", body=json.dumps(record, separators=(",", ":")))


def scheduler_dlq(
    target_input: JsonValue,
    *,
    schedule_arn: str,
    target_arn: str,
    error_code: str,
    error_message: str,
) -> OutgoingMessage:
    """What EventBridge Scheduler writes to a schedule's dead-letter queue."""
    attributes = {
        EB.ERROR_CODE: error_code,
        EB.ERROR_MESSAGE: error_message,
        EB.EXECUTION_ID: uuid.uuid4().hex[:16],
        EB.EXHAUSTED_RETRY_CONDITION: "MaximumEventAgeInSeconds",
        EB.IS_PAYLOAD_TRUNCATED: "false",
        EB.RETRY_ATTEMPTS: "0",
        EB.SCHEDULED_TIME: (iso_utc(datetime.now(UTC)) or "").replace(".000Z", "Z"),
        EB.SCHEDULE_ARN: schedule_arn,
        EB.TARGET_ARN: target_arn,
    }
    return OutgoingMessage(
        entry_id="m",
        body=json.dumps(target_input),
        message_attributes={name: _string(value) for name, value in attributes.items()},
    )


def subscriber_record(
    *,
    bus_arn: str,
    subscriber_arn: str,
    target_arn: str,
    event_ids: list[str],
    error_code: str,
    error_message: str,
) -> OutgoingMessage:
    """What a Custom Event Bus subscriber writes to its dead-letter queue: a record of the
    events that failed (their IDs), not the events."""
    record = {
        "version": "1.0",
        "busArn": bus_arn,
        "subscriberArn": subscriber_arn,
        "targetArn": target_arn,
        "errorCode": error_code,
        "errorMessage": error_message,
        "exhaustedRetryCondition": "MaximumRetryAttempts",
        "retryAttempts": 5,
        "failedMessages": [
            {
                "eventId": event_id,
                "eventGroupId": None,
                "deduplicationId": None,
                "timestamp": iso_utc(datetime.now(UTC)),
                "targetRequestId": str(uuid.uuid4()),
            }
            for event_id in event_ids
        ],
    }
    attributes = {
        EB.ERROR_CODE: error_code,
        EB.ERROR_MESSAGE: error_message,
        EB.SUBSCRIBER_ARN: subscriber_arn,
        EB.TARGET_ARN: target_arn,
        EB.BUS_ARN: bus_arn,
        EB.EXHAUSTED_RETRY_CONDITION: "MaximumRetryAttempts",
        EB.RETRY_ATTEMPTS: "5",
    }
    return OutgoingMessage(
        entry_id="m",
        body=json.dumps(record),
        message_attributes={name: _string(value) for name, value in attributes.items()},
    )


def encrypted_events(
    *, bus_arn: str, rule_arn: str, kms_key_arn: str, region: str = "us-east-1"
) -> OutgoingMessage:
    """EventBridge's "Encrypted Events" wrapper, as a bus-level DLQ gets it when the bus's
    customer-managed key cannot be used (the payload stays encrypted)."""
    wrapper = event(
        {
            "event-bus-arn": bus_arn,
            "rule-arn": rule_arn,
            "kms-key-arn": kms_key_arn,
            "encrypted-payload": base64.b64encode(uuid.uuid4().bytes * 4).decode(),
        },
        source="aws.events",
        detail_type=ENCRYPTED_DETAIL_TYPE,
        region=region,
    )
    return OutgoingMessage(entry_id="m", body=json.dumps(wrapper))


def sns_notification(message: str, *, topic_arn: str, subscription_arn: str) -> OutgoingMessage:
    """An SNS notification envelope, as a subscription DLQ keeps it (raw delivery off)."""
    envelope = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": iso_utc(datetime.now(UTC)),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
        "UnsubscribeURL": (
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
            f"&SubscriptionArn={subscription_arn}"
        ),
    }
    return OutgoingMessage(entry_id="m", body=json.dumps(envelope))
