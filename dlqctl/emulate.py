"""Messages in the exact shapes AWS producers write to a DLQ, for the sandbox, demo and tests.

Shapes follow AWS's documentation: a Lambda DLQ keeps the event as the body with ``RequestID``,
``ErrorCode`` and ``ErrorMessage`` attributes; an EventBridge rule DLQ keeps the event with
``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``
and ``RETRY_ATTEMPTS``; a Lambda on-failure destination writes an invocation record; an SNS
subscription DLQ keeps the notification envelope.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

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
            "RequestID": _string(request_id or str(uuid.uuid4())),
            # Documented as the HTTP status code; a function error reports 200.
            "ErrorCode": MessageAttribute("Number", string_value="200"),
            "ErrorMessage": _string(error_message[:1024]),
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
    attributes = {
        "RULE_ARN": _string(rule_arn),
        "TARGET_ARN": _string(target_arn),
        "ERROR_CODE": _string(error_code),
        "ERROR_MESSAGE": _string(error_message),
        "RETRY_ATTEMPTS": _string(str(retry_attempts)),
    }
    if exhausted_retry_condition:
        attributes["EXHAUSTED_RETRY_CONDITION"] = _string(exhausted_retry_condition)
    return OutgoingMessage(entry_id="m", body=json.dumps(payload), message_attributes=attributes)


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
    request_id = request_id or str(uuid.uuid4())
    record = {
        "version": "1.0",
        "timestamp": iso_utc(datetime.now(UTC)),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": error_message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": [],
        },
    }
    return OutgoingMessage(entry_id="m", body=json.dumps(record))


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
