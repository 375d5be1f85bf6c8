"""Recognising what put a message in a DLQ (Lambda, EventBridge, SNS, SQS) and decoding it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

from dlqctl.models import ErrorInfo, JsonValue, MessageView, ReceivedMessage

LAMBDA_DLQ = "lambda-dlq"
LAMBDA_DESTINATION = "lambda-destination"
EVENTBRIDGE_DLQ = "eventbridge-dlq"
SNS = "sns"
SQS = "sqs"
UNKNOWN = "unknown"
KINDS = (LAMBDA_DLQ, LAMBDA_DESTINATION, EVENTBRIDGE_DLQ, SNS, SQS, UNKNOWN)

_EVENT_KEYS = ("source", "detail-type", "detail")


@dataclass(frozen=True)
class QueueContext:
    """What is known about the queue as a whole, used where a message carries no markers."""

    sqs_source_arns: Sequence[str] = ()


def parse_json(text: str) -> JsonValue:
    """The body as JSON, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def is_event(value: JsonValue) -> bool:
    """Whether ``value`` looks like an EventBridge event (source, detail-type and detail)."""
    return isinstance(value, dict) and all(key in value for key in _EVENT_KEYS)


def _event_or_none(value: JsonValue) -> JsonValue:
    return value if is_event(value) else None


def _drop_none(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def _lambda_dlq(
    message: ReceivedMessage, body: JsonValue
) -> tuple[ErrorInfo, JsonValue, dict[str, str]]:
    error = ErrorInfo(
        message.string_attribute("ErrorCode"), message.string_attribute("ErrorMessage")
    )
    origin = _drop_none({"request_id": message.string_attribute("RequestID")})
    return error, _event_or_none(body), origin


def _eventbridge_dlq(
    message: ReceivedMessage, body: JsonValue
) -> tuple[ErrorInfo, JsonValue, dict[str, str]]:
    error = ErrorInfo(
        message.string_attribute("ERROR_CODE"), message.string_attribute("ERROR_MESSAGE")
    )
    origin = _drop_none(
        {
            "rule_arn": message.string_attribute("RULE_ARN"),
            "target_arn": message.string_attribute("TARGET_ARN"),
            "retry_attempts": message.string_attribute("RETRY_ATTEMPTS"),
            "exhausted_retry_condition": message.string_attribute("EXHAUSTED_RETRY_CONDITION"),
        }
    )
    return error, _event_or_none(body), origin


def _lambda_destination(body: dict[str, Any]) -> tuple[ErrorInfo, JsonValue, dict[str, str]]:
    context = body.get("requestContext") or {}
    response_context = body.get("responseContext") or {}
    payload = body.get("responsePayload")
    error_type = payload.get("errorType") if isinstance(payload, dict) else None
    error_message = payload.get("errorMessage") if isinstance(payload, dict) else None
    if error_message is None and payload is not None and not isinstance(payload, dict):
        error_message = str(payload)
    error = ErrorInfo(
        error_type or response_context.get("functionError") or context.get("condition"),
        error_message or context.get("condition"),
    )
    origin = _drop_none(
        {
            "function_arn": context.get("functionArn"),
            "request_id": context.get("requestId"),
            "condition": context.get("condition"),
            "approximate_invoke_count": context.get("approximateInvokeCount"),
        }
    )
    return error, body.get("requestPayload"), origin


def _sns_notification(body: dict[str, Any]) -> tuple[JsonValue, dict[str, str]]:
    subscription = None
    unsubscribe = body.get("UnsubscribeURL")
    if isinstance(unsubscribe, str):
        subscription = parse_qs(urlparse(unsubscribe).query).get("SubscriptionArn", [None])[0]
    inner = body.get("Message")
    event = _event_or_none(parse_json(inner)) if isinstance(inner, str) else None
    origin = _drop_none({"topic_arn": body.get("TopicArn"), "subscription_arn": subscription})
    return event, origin


def _is_lambda_destination(body: JsonValue) -> bool:
    return (
        isinstance(body, dict)
        and body.get("version") == "1.0"
        and isinstance(body.get("requestContext"), dict)
        and "condition" in body["requestContext"]
    )


def decode(
    message: ReceivedMessage, context: QueueContext | None = None, now: datetime | None = None
) -> MessageView:
    """Decode a received message into its view: kind, error, replayable event and origin."""
    context = context or QueueContext()
    body = parse_json(message.body)
    names = message.message_attributes.keys()
    error: ErrorInfo | None = None
    event: JsonValue = None
    origin: dict[str, str] = {}
    source_queue = message.attributes.get("DeadLetterQueueSourceArn")

    if {"RequestID", "ErrorCode", "ErrorMessage"} <= names:
        kind = LAMBDA_DLQ
        error, event, origin = _lambda_dlq(message, body)
    elif names & {"RULE_ARN", "TARGET_ARN", "ERROR_CODE"}:
        kind = EVENTBRIDGE_DLQ
        error, event, origin = _eventbridge_dlq(message, body)
    elif _is_lambda_destination(body):
        kind = LAMBDA_DESTINATION
        error, event, origin = _lambda_destination(body)
    elif source_queue:
        kind = SQS
        event = _event_or_none(body)
        origin = {"source_queue_arn": source_queue}
    elif isinstance(body, dict) and body.get("Type") == "Notification" and "TopicArn" in body:
        kind = SNS
        event, origin = _sns_notification(body)
    elif context.sqs_source_arns:
        # No markers, but only SQS queues feed this DLQ: an SQS redrive whose endpoint did not
        # add DeadLetterQueueSourceArn.
        kind = SQS
        event = _event_or_none(body)
        if len(context.sqs_source_arns) == 1:
            origin = {"source_queue_arn": context.sqs_source_arns[0]}
    else:
        kind = UNKNOWN
        event = _event_or_none(body)

    sent_at = message.sent_at
    now = now or datetime.now(UTC)
    age = (now - sent_at).total_seconds() if sent_at else None
    return MessageView(
        message=message,
        json=body,
        kind=kind,
        error=error,
        event=event,
        origin=origin,
        sent_at=sent_at,
        age_seconds=age,
    )


def one_line(view: MessageView, width: int = 80) -> str:
    """A short description of a message: the event's source / detail-type, or the body."""
    event = view.event
    if isinstance(event, dict):
        text = f"{event.get('source')} / {event.get('detail-type')}"
    else:
        text = " ".join(view.message.body.split())
    return text if len(text) <= width else text[: width - 1] + "…"
