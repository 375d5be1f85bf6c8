"""Recognising what put a message in a DLQ, and decoding what AWS recorded about it.

Each producer writes its own shape (AWS-DLQ-REFERENCE section A): Lambda's DLQ and destination
records, stream event-source-mapping failures, EventBridge rule, bus, Scheduler and Custom Event
Bus subscriber DLQs, SNS subscriptions, and SQS's own redrive. ``decode`` checks the signatures
in a fixed order (the first match wins) and returns a view that says what kind of message it is,
the error AWS recorded, every ARN it names, the payload the failed consumer was given, the
EventBridge event when there really is one, and why the message cannot be replayed, if it cannot.
The attribute names are constants here, shared with ``emulate``, which writes the same shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlparse

from dlqctl.choices import Kind
from dlqctl.models import ErrorInfo, JsonValue, MessageView, ReceivedMessage


class LambdaDlqAttribute(StrEnum):
    """Message attributes of a Lambda async invocation's DeadLetterConfig message."""

    REQUEST_ID = "RequestID"
    ERROR_CODE = "ErrorCode"
    ERROR_MESSAGE = "ErrorMessage"


class EventBridgeAttribute(StrEnum):
    """Message attributes of EventBridge's rule, Scheduler and subscriber DLQ messages."""

    RULE_ARN = "RULE_ARN"
    TARGET_ARN = "TARGET_ARN"
    ERROR_CODE = "ERROR_CODE"
    ERROR_MESSAGE = "ERROR_MESSAGE"
    EXHAUSTED_RETRY_CONDITION = "EXHAUSTED_RETRY_CONDITION"
    RETRY_ATTEMPTS = "RETRY_ATTEMPTS"
    SCHEDULE_ARN = "SCHEDULE_ARN"
    EXECUTION_ID = "EXECUTION_ID"
    SCHEDULED_TIME = "SCHEDULED_TIME"
    IS_PAYLOAD_TRUNCATED = "IS_PAYLOAD_TRUNCATED"
    SUBSCRIBER_ARN = "SUBSCRIBER_ARN"
    BUS_ARN = "BUS_ARN"


SOURCE_QUEUE_ATTRIBUTE = "DeadLetterQueueSourceArn"
"""The system attribute SQS adds when ``maxReceiveCount`` moves a message to its DLQ."""

LAMBDA_RESULT_SOURCES = frozenset({"lambda", "aws.lambda"})
"""The source of a Lambda destination's EventBridge event: ``lambda`` in the older developer
guide, ``aws.lambda`` in the current one."""
LAMBDA_RESULT_DETAIL_TYPES = frozenset(
    {"Lambda Function Invocation Result - Failure", "Lambda Function Invocation Result - Success"}
)
"""Its detail-types (the older guide prints them with an en dash, normalised before matching)."""
SUCCESS_CONDITION = "Success"
ENCRYPTED_DETAIL_TYPE = "Encrypted Events"

_EVENT_KEYS = frozenset({"source", "detail-type", "detail"})
_LAMBDA_DLQ_NAMES = frozenset(LambdaDlqAttribute)


@dataclass(frozen=True)
class QueueContext:
    """What is known about the queue as a whole, for the messages' clocks.

    Which SQS queues feed it is not part of it: on AWS, SQS stamps every message it moves with
    ``DeadLetterQueueSourceArn``, so the kind of an unmarked message is never guessed from them.
    """

    retention_seconds: int | None = None
    """The queue's MessageRetentionPeriod: how long a message lives from its enqueue time."""
    fifo: bool = False


class _Unparsed:
    """The text has not been parsed yet (``None`` means it is not JSON)."""


_UNPARSED = _Unparsed()


def parse_json(text: str) -> JsonValue:
    """The text as JSON, or None when it is not JSON (``NaN`` and ``Infinity``, which Python
    would read, are not JSON: such a body is text)."""
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None


def _not_json(constant: str) -> JsonValue:
    raise ValueError(f"{constant} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_not_json)


def is_event(value: JsonValue) -> bool:
    """Whether ``value`` looks like an EventBridge event (source, detail-type and detail)."""
    return isinstance(value, dict) and value.keys() >= _EVENT_KEYS


def _event_or_none(value: JsonValue) -> JsonValue:
    return value if is_event(value) else None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _origin(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: text for key, value in values.items() if (text := _text(value)) is not None}


@dataclass(frozen=True)
class _Decoded:
    """What one producer's shape says; ``decode`` adds the message's own facts."""

    kind: Kind
    payload: JsonValue = None
    event: JsonValue = None
    error: ErrorInfo | None = None
    origin: Mapping[str, str] = field(default_factory=dict)
    unreplayable: str | None = None


def _payload_of(text: str, parsed: JsonValue | _Unparsed = _UNPARSED) -> JsonValue:
    """What a consumer was given as text: parsed when it is JSON, else the text itself.
    ``parsed``: the text already parsed (``parse_json``), so it is not parsed again."""
    if isinstance(parsed, _Unparsed):
        parsed = parse_json(text)
    return text if parsed is None and text.strip() not in ("null",) else parsed


# --- Lambda records (destinations and stream event-source mappings) ------------------------


def _is_invocation_record(body: JsonValue) -> bool:
    return (
        isinstance(body, dict)
        and body.get("version") == "1.0"
        and isinstance(body.get("requestContext"), dict)
        and "condition" in body["requestContext"]
    )


def _batch_info(record: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The stream batch pointer of an event-source-mapping failure record, if it has one."""
    for key, value in record.items():
        if key.endswith("BatchInfo") and isinstance(value, dict):
            return key, value
    return None


def _record_error(record: Mapping[str, Any]) -> ErrorInfo:
    context = record.get("requestContext") or {}
    response_context = record.get("responseContext") or {}
    response = record.get("responsePayload")
    error_type = response.get("errorType") if isinstance(response, dict) else None
    error_message = response.get("errorMessage") if isinstance(response, dict) else None
    if error_message is None and response is not None and not isinstance(response, dict):
        error_message = _text(response)
    code = error_type or response_context.get("functionError") or context.get("condition")
    return ErrorInfo(_text(code), _text(error_message))


def _record_origin(record: Mapping[str, Any]) -> dict[str, Any]:
    """What every Lambda record says about the invocation: function, request, condition."""
    context = record.get("requestContext") or {}
    return {
        "function_arn": context.get("functionArn"),
        "request_id": context.get("requestId"),
        "condition": context.get("condition"),
        "approximate_invoke_count": context.get("approximateInvokeCount"),
    }


def _kafka_failure(record: Mapping[str, Any], batch: Mapping[str, Any]) -> _Decoded:
    """An MSK or self-managed Kafka event-source-mapping failure: offsets per topic-partition
    (``recordsInfo``), or one record's offset (``recordInfo``), on the cluster
    ``eventSourceArn`` (Lambda developer guide, "Capturing discarded batches for Amazon MSK and
    self-managed Apache Kafka event sources")."""
    ranges: list[str] = []
    partitions = batch.get("recordsInfo")
    if isinstance(partitions, dict):
        for partition, info in partitions.items():
            if isinstance(info, dict):
                first, last = info.get("firstRecordOffset"), info.get("lastRecordOffset")
                ranges.append(f"{partition} offsets {first} to {last}")
    single = batch.get("recordInfo")
    if isinstance(single, dict):
        ranges.append(f"offset {single.get('offset')}")
    origin = _origin(
        {
            **_record_origin(record),
            "batch_info": "KafkaBatchInfo",
            "event_source_arn": batch.get("eventSourceArn"),
            "bootstrap_servers": batch.get("bootstrapServers"),
            "batch_size": batch.get("batchSize"),
            "records": "; ".join(ranges) or None,
        }
    )
    where = (
        f"{'; '.join(ranges) or 'the records'} of {origin.get('event_source_arn', 'the cluster')}"
    )
    return _Decoded(
        Kind.LAMBDA_STREAM_FAILURE,
        error=_record_error(record),
        origin=origin,
        unreplayable=(
            "a Kafka event-source-mapping failure holds no records, only where they are: "
            f"re-read {where} while the topic retains them, then delete this message"
        ),
    )


def _stream_failure(record: Mapping[str, Any], key: str, batch: Mapping[str, Any]) -> _Decoded:
    if key == "KafkaBatchInfo":
        return _kafka_failure(record, batch)
    origin = _origin(
        {
            **_record_origin(record),
            "batch_info": key,
            "stream_arn": batch.get("streamArn"),
            "shard_id": batch.get("shardId"),
            "start_sequence_number": batch.get("startSequenceNumber"),
            "end_sequence_number": batch.get("endSequenceNumber"),
            "batch_size": batch.get("batchSize"),
            "first_record_arrival": batch.get("approximateArrivalOfFirstRecord"),
            "last_record_arrival": batch.get("approximateArrivalOfLastRecord"),
        }
    )
    where = (
        f"shard {origin.get('shard_id', '?')} of {origin.get('stream_arn', 'the stream')}, "
        f"sequence numbers {origin.get('start_sequence_number', '?')} to "
        f"{origin.get('end_sequence_number', '?')}"
    )
    return _Decoded(
        Kind.LAMBDA_STREAM_FAILURE,
        error=_record_error(record),
        origin=origin,
        unreplayable=(
            "a stream event-source-mapping failure holds no records, only where they are: "
            f"re-read {where} while the stream retains them (e.g. GetShardIterator with "
            "AT_SEQUENCE_NUMBER), then delete this message"
        ),
    )


def _invocation_record(record: Mapping[str, Any]) -> _Decoded:
    """A Lambda destination record: a stream failure, an on-success or an on-failure record."""
    batch = _batch_info(record)
    if batch is not None and "requestPayload" not in record:
        return _stream_failure(record, *batch)
    context = record.get("requestContext") or {}
    response_context = record.get("responseContext") or {}
    origin = _origin(
        {
            **_record_origin(record),
            "executed_version": response_context.get("executedVersion"),
            "timestamp": record.get("timestamp"),
        }
    )
    payload = record.get("requestPayload")
    event = _event_or_none(payload)
    if context.get("condition") == SUCCESS_CONDITION:
        return _Decoded(
            Kind.LAMBDA_SUCCESS,
            payload=payload,
            event=event,
            origin=origin,
            unreplayable=(
                "an on-success destination record: the invocation succeeded, there is "
                "nothing to replay; delete it, or point the function's OnSuccess destination "
                "elsewhere"
            ),
        )
    unreplayable = None
    if "requestPayload" not in record:
        unreplayable = (
            "the destination record holds no request payload (Lambda drops it from records "
            "too large for the destination); find the event by its request ID in the "
            "function's logs"
        )
    return _Decoded(
        Kind.LAMBDA_DESTINATION,
        payload=payload,
        event=event,
        error=_record_error(record),
        origin=origin,
        unreplayable=unreplayable,
    )


def _is_lambda_result_event(body: JsonValue) -> bool:
    return (
        is_event(body)
        and body.get("source") in LAMBDA_RESULT_SOURCES
        and str(body.get("detail-type")).replace("\u2013", "-") in LAMBDA_RESULT_DETAIL_TYPES
        and _is_invocation_record(body.get("detail"))
    )


def _via(decoded: _Decoded, how: str, **origin: Any) -> _Decoded:
    return _Decoded(
        decoded.kind,
        payload=decoded.payload,
        event=decoded.event,
        error=decoded.error,
        origin={**decoded.origin, "via": how, **_origin(origin)},
        unreplayable=decoded.unreplayable,
    )


# --- EventBridge: rule, bus, Scheduler and Custom Event Bus subscriber DLQs ---------------


def _is_encrypted_wrapper(body: JsonValue) -> bool:
    return (
        is_event(body)
        and body.get("detail-type") == ENCRYPTED_DETAIL_TYPE
        and isinstance(body.get("detail"), dict)
        and "encrypted-payload" in body["detail"]
    )


def _attribute_error(message: ReceivedMessage) -> ErrorInfo:
    return ErrorInfo(
        message.string_attribute(EventBridgeAttribute.ERROR_CODE),
        message.string_attribute(EventBridgeAttribute.ERROR_MESSAGE),
    )


def _retry_origin(message: ReceivedMessage) -> dict[str, Any]:
    return {
        "retry_attempts": message.string_attribute(EventBridgeAttribute.RETRY_ATTEMPTS),
        "exhausted_retry_condition": message.string_attribute(
            EventBridgeAttribute.EXHAUSTED_RETRY_CONDITION
        ),
    }


def _encrypted(message: ReceivedMessage, body: Mapping[str, Any]) -> _Decoded:
    detail = body["detail"]
    origin = _origin(
        {
            "bus_arn": detail.get("event-bus-arn"),
            "rule_arn": detail.get("rule-arn")
            or message.string_attribute(EventBridgeAttribute.RULE_ARN),
            "target_arn": message.string_attribute(EventBridgeAttribute.TARGET_ARN),
            "kms_key_arn": detail.get("kms-key-arn"),
            **_retry_origin(message),
        }
    )
    has_error = message.string_attribute(EventBridgeAttribute.ERROR_CODE) is not None
    key = origin.get("kms_key_arn", "the bus's KMS key")
    return _Decoded(
        Kind.EVENTBRIDGE_ENCRYPTED,
        error=_attribute_error(message) if has_error else None,
        origin=origin,
        unreplayable=(
            "the body is EventBridge's 'Encrypted Events' wrapper: the event is ciphertext. "
            "Decrypt detail.encrypted-payload with the AWS Encryption SDK and "
            f"{key} (see 'Decrypting events in EventBridge dead-letter queues'), then put "
            "the decrypted event back, e.g. with 'dlqctl import'"
        ),
    )


def _rule_dlq(message: ReceivedMessage, body: JsonValue) -> _Decoded:
    origin = _origin(
        {
            "rule_arn": message.string_attribute(EventBridgeAttribute.RULE_ARN),
            "target_arn": message.string_attribute(EventBridgeAttribute.TARGET_ARN),
            **_retry_origin(message),
        }
    )
    return _Decoded(
        Kind.EVENTBRIDGE_DLQ,
        payload=_payload_of(message.body, body),
        event=_event_or_none(body),
        error=_attribute_error(message),
        origin=origin,
    )


def _scheduler(message: ReceivedMessage, body: JsonValue) -> _Decoded:
    origin = _origin(
        {
            "schedule_arn": message.string_attribute(EventBridgeAttribute.SCHEDULE_ARN),
            "target_arn": message.string_attribute(EventBridgeAttribute.TARGET_ARN),
            "execution_id": message.string_attribute(EventBridgeAttribute.EXECUTION_ID),
            "scheduled_time": message.string_attribute(EventBridgeAttribute.SCHEDULED_TIME),
            **_retry_origin(message),
        }
    )
    truncated = (
        message.string_attribute(EventBridgeAttribute.IS_PAYLOAD_TRUNCATED) or ""
    ).lower() == "true"
    return _Decoded(
        Kind.SCHEDULER,
        payload=_payload_of(message.body, body),
        event=_event_or_none(body),
        error=_attribute_error(message),
        origin=origin,
        unreplayable=(
            "Scheduler truncated this target input (IS_PAYLOAD_TRUNCATED); replaying it "
            "would send a cut payload: run the schedule's target again by hand"
            if truncated
            else None
        ),
    )


def _is_subscriber_record(body: JsonValue) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("failedMessages"), list)
        and ("subscriberArn" in body or "busArn" in body)
    )


def _subscriber(message: ReceivedMessage, body: JsonValue) -> _Decoded:
    record = body if isinstance(body, dict) else {}
    failed = [item for item in record.get("failedMessages") or () if isinstance(item, dict)]
    event_ids = [str(item["eventId"]) for item in failed if item.get("eventId")]

    def field_or_attribute(key: str, name: EventBridgeAttribute) -> Any:
        return record.get(key) if record.get(key) is not None else message.string_attribute(name)

    origin = _origin(
        {
            "bus_arn": field_or_attribute("busArn", EventBridgeAttribute.BUS_ARN),
            "subscriber_arn": field_or_attribute(
                "subscriberArn", EventBridgeAttribute.SUBSCRIBER_ARN
            ),
            "target_arn": field_or_attribute("targetArn", EventBridgeAttribute.TARGET_ARN),
            "retry_attempts": field_or_attribute(
                "retryAttempts", EventBridgeAttribute.RETRY_ATTEMPTS
            ),
            "exhausted_retry_condition": field_or_attribute(
                "exhaustedRetryCondition", EventBridgeAttribute.EXHAUSTED_RETRY_CONDITION
            ),
            "event_ids": ",".join(event_ids),
        }
    )
    error = ErrorInfo(
        _text(field_or_attribute("errorCode", EventBridgeAttribute.ERROR_CODE)),
        _text(field_or_attribute("errorMessage", EventBridgeAttribute.ERROR_MESSAGE)),
    )
    return _Decoded(
        Kind.EVENTBRIDGE_SUBSCRIBER,
        error=error,
        origin=origin,
        unreplayable=(
            f"a Custom Event Bus subscriber record holds no events, only {len(event_ids)} "
            "event ID(s) (origin.event_ids): replay those events from the bus "
            f"{origin.get('bus_arn', '')}".rstrip()
        ),
    )


# --- Lambda DLQ and SNS ---------------------------------------------------------------------


def _lambda_dlq(
    error_code: str | None,
    error_message: str | None,
    request_id: str | None,
    text: str,
    parsed: JsonValue | _Unparsed = _UNPARSED,
) -> _Decoded:
    payload = _payload_of(text, parsed)
    return _Decoded(
        Kind.LAMBDA_DLQ,
        payload=payload,
        event=_event_or_none(payload),
        error=ErrorInfo(error_code, error_message),
        origin=_origin({"request_id": request_id}),
    )


def _is_sns_notification(body: JsonValue) -> bool:
    return isinstance(body, dict) and body.get("Type") == "Notification" and "TopicArn" in body


def _sns_attribute(envelope: Mapping[str, Any], name: str) -> str | None:
    attributes = envelope.get("MessageAttributes")
    if not isinstance(attributes, dict):
        return None
    value = attributes.get(name)
    return _text(value.get("Value")) if isinstance(value, dict) else None


def _sns(envelope: Mapping[str, Any]) -> _Decoded:
    """An SNS notification envelope; a Lambda DLQ or destination record may be inside."""
    subscription = None
    unsubscribe = envelope.get("UnsubscribeURL")
    if isinstance(unsubscribe, str):
        subscription = parse_qs(urlparse(unsubscribe).query).get("SubscriptionArn", [None])[0]
    where = {
        "topic_arn": envelope.get("TopicArn"),
        "subscription_arn": subscription,
        "sns_message_id": envelope.get("MessageId"),
    }
    inner = envelope.get("Message")
    text = inner if isinstance(inner, str) else _text(inner) or ""
    parsed = parse_json(text)
    if _is_invocation_record(parsed):
        return _via(_invocation_record(parsed), "sns", **where)
    names = envelope.get("MessageAttributes")
    if isinstance(names, dict) and names.keys() >= _LAMBDA_DLQ_NAMES:
        decoded = _lambda_dlq(
            _sns_attribute(envelope, LambdaDlqAttribute.ERROR_CODE),
            _sns_attribute(envelope, LambdaDlqAttribute.ERROR_MESSAGE),
            _sns_attribute(envelope, LambdaDlqAttribute.REQUEST_ID),
            text,
            parsed,
        )
        return _via(decoded, "sns", **where)
    payload = _payload_of(text, parsed)
    return _Decoded(Kind.SNS, payload=payload, event=_event_or_none(payload), origin=_origin(where))


# --- the precedence list -------------------------------------------------------------------


_RULE_NAMES = frozenset(
    {
        EventBridgeAttribute.RULE_ARN,
        EventBridgeAttribute.TARGET_ARN,
        EventBridgeAttribute.ERROR_CODE,
    }
)
_SUBSCRIBER_NAMES = frozenset({EventBridgeAttribute.SUBSCRIBER_ARN, EventBridgeAttribute.BUS_ARN})

Signature = Callable[[ReceivedMessage, JsonValue], bool]
Decoder = Callable[[ReceivedMessage, JsonValue], _Decoded]

_PRECEDENCE: tuple[tuple[Signature, Decoder], ...] = (
    # The reference's "Telling DLQ messages apart" list, in its order; the first match wins.
    # (DeadLetterQueueSourceArn, first on that list, is applied by ``decode`` on top.)
    (
        lambda message, body: _is_invocation_record(body),
        lambda message, body: _invocation_record(body),
    ),
    (
        lambda message, body: _is_lambda_result_event(body),
        lambda message, body: _via(_invocation_record(body["detail"]), "eventbridge"),
    ),
    (
        lambda message, body: EventBridgeAttribute.SCHEDULE_ARN in message.message_attributes,
        _scheduler,
    ),
    (
        lambda message, body: (
            bool(_SUBSCRIBER_NAMES & message.message_attributes.keys())
            or _is_subscriber_record(body)
        ),
        _subscriber,
    ),
    (
        lambda message, body: (
            bool(_RULE_NAMES & message.message_attributes.keys()) and _is_encrypted_wrapper(body)
        ),
        _encrypted,
    ),
    (
        lambda message, body: bool(_RULE_NAMES & message.message_attributes.keys()),
        _rule_dlq,
    ),
    (lambda message, body: _is_encrypted_wrapper(body), _encrypted),
    (
        lambda message, body: message.message_attributes.keys() >= _LAMBDA_DLQ_NAMES,
        lambda message, body: _lambda_dlq(
            message.string_attribute(LambdaDlqAttribute.ERROR_CODE),
            message.string_attribute(LambdaDlqAttribute.ERROR_MESSAGE),
            message.string_attribute(LambdaDlqAttribute.REQUEST_ID),
            message.body,
            body,
        ),
    ),
    (lambda message, body: _is_sns_notification(body), lambda message, body: _sns(body)),
)


def _producer(message: ReceivedMessage, body: JsonValue) -> _Decoded:
    """The producer's shape: the first signature of ``_PRECEDENCE`` that matches, else
    unknown. A message that carries a producer's marks but not the rest of its shape (a field
    of the wrong type, say: no AWS producer writes one, a hand-sent message may) is unknown
    and not replayed as an event, instead of ending the walk that read it."""
    for matches, decoder in _PRECEDENCE:
        if matches(message, body):
            try:
                return decoder(message, body)
            except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
                return _Decoded(
                    Kind.UNKNOWN,
                    payload=_payload_of(message.body, body),
                    unreplayable=(
                        "it looks like a message an AWS service wrote but is not in its "
                        f"shape ({type(exc).__name__}: {exc})"
                    ),
                )
    payload = _payload_of(message.body, body)
    return _Decoded(Kind.UNKNOWN, payload=payload, event=_event_or_none(payload))


def decode(
    message: ReceivedMessage, context: QueueContext | None = None, now: datetime | None = None
) -> MessageView:
    """Decode a received message into its view: kind, error, origin, payload and event.

    ``DeadLetterQueueSourceArn`` wins over every other marker: the message came to this queue
    from that source queue, whatever its body says about how it failed before; the earlier
    producer's error, origin and payload are kept beside it.
    """
    body = parse_json(message.body)
    decoded = _producer(message, body)
    source_queue = message.attributes.get(SOURCE_QUEUE_ATTRIBUTE)
    if source_queue:
        earlier = {"producer": decoded.kind.value} if decoded.kind is not Kind.UNKNOWN else {}
        decoded = _Decoded(
            Kind.SQS,
            payload=decoded.payload,
            event=decoded.event,
            error=decoded.error,
            origin={"source_queue_arn": source_queue, **earlier, **decoded.origin},
            unreplayable=decoded.unreplayable,
        )
    sent_at = message.sent_at
    now = now or datetime.now(UTC)
    age = (now - sent_at).total_seconds() if sent_at else None
    context = context or QueueContext()
    expires_at = None
    if sent_at is not None and context.retention_seconds is not None:
        # A standard DLQ keeps the original enqueue time, so the time spent in the source
        # queue counts; a FIFO DLQ restarts the clock on the move, which SQS does not expose.
        expires_at = sent_at + timedelta(seconds=context.retention_seconds)
    return MessageView(
        message=message,
        json=body,
        kind=decoded.kind,
        error=decoded.error,
        event=decoded.event,
        payload=decoded.payload,
        origin=decoded.origin,
        unreplayable=decoded.unreplayable,
        sent_at=sent_at,
        age_seconds=age,
        expires_at=expires_at,
        expires_in_seconds=(expires_at - now).total_seconds() if expires_at else None,
        expiry_approximate=context.fifo,
    )


def one_line(view: MessageView, width: int = 80) -> str:
    """A short description of a message: the event's source / detail-type, or the body."""
    event = view.event
    if isinstance(event, dict):
        text = f"{event.get('source')} / {event.get('detail-type')}"
    else:
        text = " ".join(view.message.body.split())
    return text if len(text) <= width else text[: width - 1] + "…"
