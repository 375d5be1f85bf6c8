"""Typed shapes of what dlqctl reads from AWS, each parsed once from an API response."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonValue = Any
"""A value decoded from JSON: dict, list, str, int, float, bool or None."""


@dataclass(frozen=True)
class Arn:
    """The parts of an ARN that dlqctl needs: ``arn:partition:service:region:account:resource``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        """Split ``text`` into its parts, or return None when it is not an ARN."""
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])

    @property
    def name(self) -> str:
        """The last component of the resource (a queue, function or rule name)."""
        for separator in ("/", ":"):
            if separator in self.resource:
                return self.resource.rsplit(separator, 1)[-1]
        return self.resource


@dataclass(frozen=True)
class QueueRef:
    """A queue that is known to exist: its URL, name and ARN."""

    url: str
    name: str
    arn: str

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


@dataclass(frozen=True)
class RedrivePolicy:
    """A source queue's ``RedrivePolicy``: where its failures go, and after how many receives."""

    dead_letter_target_arn: str
    max_receive_count: int

    @classmethod
    def parse(cls, text: str | None) -> RedrivePolicy | None:
        """Parse the JSON string SQS returns; ``maxReceiveCount`` may be a string or a number."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["deadLetterTargetArn"]), int(data.get("maxReceiveCount", 10)))
        except (ValueError, KeyError, TypeError):
            return None


def _int_attribute(attributes: Mapping[str, str], name: str, default: int = 0) -> int:
    try:
        return int(attributes.get(name, default))
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class QueueAttributes:
    """The queue attributes dlqctl uses, from ``GetQueueAttributes(All)``."""

    arn: str
    visible: int
    in_flight: int
    delayed: int
    retention_seconds: int
    visibility_timeout: int
    maximum_message_size: int
    fifo: bool
    content_based_deduplication: bool
    redrive_policy: RedrivePolicy | None
    created_at: datetime | None
    read_at_ms: int | None = None
    """No earlier than when SQS answered: the later of the end of the answer's ``Date`` second
    (SQS's clock) and this machine's clock when the answer came (None when the answer had no
    ``Date``). A walk bounded by these counts takes messages sent after it for arrivals."""

    @classmethod
    def from_api(
        cls, attributes: Mapping[str, str], *, read_at_ms: int | None = None
    ) -> QueueAttributes:
        created = attributes.get("CreatedTimestamp")
        return cls(
            arn=attributes.get("QueueArn", ""),
            visible=_int_attribute(attributes, "ApproximateNumberOfMessages"),
            in_flight=_int_attribute(attributes, "ApproximateNumberOfMessagesNotVisible"),
            delayed=_int_attribute(attributes, "ApproximateNumberOfMessagesDelayed"),
            retention_seconds=_int_attribute(attributes, "MessageRetentionPeriod", 345600),
            visibility_timeout=_int_attribute(attributes, "VisibilityTimeout", 30),
            maximum_message_size=_int_attribute(attributes, "MaximumMessageSize", 1048576),
            fifo=attributes.get("FifoQueue", "false").lower() == "true",
            content_based_deduplication=(
                attributes.get("ContentBasedDeduplication", "false").lower() == "true"
            ),
            redrive_policy=RedrivePolicy.parse(attributes.get("RedrivePolicy")),
            created_at=(
                datetime.fromtimestamp(int(created), tz=UTC)
                if created and created.isdigit()
                else None
            ),
            read_at_ms=read_at_ms,
        )


@dataclass(frozen=True)
class MessageAttribute:
    """One SQS message attribute, kept with its data type so it can be sent again unchanged."""

    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None
    string_list_values: tuple[str, ...] = ()
    binary_list_values: tuple[bytes, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MessageAttribute:
        return cls(
            data_type=str(data.get("DataType", "String")),
            string_value=data.get("StringValue"),
            binary_value=data.get("BinaryValue"),
            string_list_values=tuple(data.get("StringListValues") or ()),
            binary_list_values=tuple(data.get("BinaryListValues") or ()),
        )

    @property
    def value(self) -> JsonValue:
        """The attribute's value as one JSON-friendly value (binary as base64)."""
        if self.binary_value is not None:
            return base64.b64encode(self.binary_value).decode("ascii")
        return self.string_value

    def to_json(self) -> dict[str, JsonValue]:
        """The full attribute, enough to re-create it (binary values as base64)."""
        data: dict[str, JsonValue] = {"DataType": self.data_type}
        if self.string_value is not None:
            data["StringValue"] = self.string_value
        if self.binary_value is not None:
            data["BinaryValue"] = base64.b64encode(self.binary_value).decode("ascii")
        return data


@dataclass(frozen=True)
class ReceivedMessage:
    """A message as ``ReceiveMessage`` returned it, with the receipt handle that holds it."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_attributes: Mapping[str, MessageAttribute] = field(default_factory=dict)

    @property
    def content_digest(self) -> str:
        """A fingerprint of what would be sent: the body and the message attributes (computed
        once: the journal asks for it at every step of a message; kept without a lock, as two
        threads computing it at once get the same value)."""
        cached: str | None = self.__dict__.get("_content_digest")
        if cached is None:
            hasher = hashlib.sha256(self.body.encode())
            for name in sorted(self.message_attributes):
                attribute = self.message_attributes[name]
                hasher.update(f"\0{name}\0{attribute.data_type}\0{attribute.value}".encode())
            cached = self.__dict__["_content_digest"] = hasher.hexdigest()[:32]
        return cached

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ReceivedMessage:
        return cls(
            message_id=str(data["MessageId"]),
            receipt_handle=str(data["ReceiptHandle"]),
            body=str(data.get("Body", "")),
            attributes=dict(data.get("Attributes") or {}),
            message_attributes={
                name: MessageAttribute.from_api(value)
                for name, value in (data.get("MessageAttributes") or {}).items()
            },
        )

    @classmethod
    def from_lambda_record(cls, record: Mapping[str, Any]) -> ReceivedMessage:
        """A message as Lambda's SQS event source mapping delivers it (camelCase keys)."""
        attributes: dict[str, MessageAttribute] = {}
        for name, value in (record.get("messageAttributes") or {}).items():
            binary = value.get("binaryValue")
            attributes[name] = MessageAttribute(
                data_type=str(value.get("dataType", "String")),
                string_value=value.get("stringValue"),
                binary_value=base64.b64decode(binary) if binary is not None else None,
            )
        return cls(
            message_id=str(record["messageId"]),
            receipt_handle=str(record.get("receiptHandle", "")),
            body=str(record.get("body", "")),
            attributes={key: str(value) for key, value in (record.get("attributes") or {}).items()},
            message_attributes=attributes,
        )

    @property
    def receive_count(self) -> int:
        return _int_attribute(self.attributes, "ApproximateReceiveCount")

    @property
    def sent_ms(self) -> int | None:
        """``SentTimestamp``: SQS's clock, in milliseconds, when the message was first sent."""
        stamp = self.attributes.get("SentTimestamp")
        return int(stamp) if stamp and stamp.isascii() and stamp.isdigit() else None

    @property
    def sent_at(self) -> datetime | None:
        """When the message was first sent (for SQS redrive: to the source queue)."""
        stamp = self.sent_ms
        if stamp is None:
            return None
        try:
            return datetime.fromtimestamp(stamp / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None  # past the years a datetime holds (an export record edited by hand)

    def string_attribute(self, name: str) -> str | None:
        """A message attribute's value as text, whatever its declared type."""
        attribute = self.message_attributes.get(name)
        if attribute is None:
            return None
        return attribute.string_value


@dataclass(frozen=True)
class ErrorInfo:
    """Why a message failed, as its producer recorded it."""

    code: str | None
    message: str | None

    def to_json(self) -> dict[str, JsonValue]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class MessageView:
    """One decoded DLQ message: what ``--output json``, filters and exports all see."""

    message: ReceivedMessage
    json: JsonValue
    kind: str
    error: ErrorInfo | None
    event: JsonValue
    payload: JsonValue
    origin: Mapping[str, str]
    unreplayable: str | None
    sent_at: datetime | None
    age_seconds: float | None
    expires_at: datetime | None = None
    """When SQS deletes it (the queue's retention from its enqueue time), if known."""
    expires_in_seconds: float | None = None
    expiry_approximate: bool = False
    """On a FIFO queue the clock restarts when a message moves, which SQS does not expose."""

    @property
    def message_id(self) -> str:
        return self.message.message_id

    def to_json(self) -> dict[str, JsonValue]:
        """The stable JSON view of a message; the README lists its keys."""
        message = self.message
        return {
            "message_id": message.message_id,
            "body": message.body,
            "json": self.json,
            "kind": str(self.kind),
            "error": self.error.to_json() if self.error else None,
            "event": self.event,
            "payload": self.payload,
            "origin": dict(self.origin),
            "replayable": self.unreplayable is None,
            "not_replayable_reason": self.unreplayable,
            "message_attributes": {
                name: attribute.value for name, attribute in message.message_attributes.items()
            },
            "attributes": dict(message.attributes),
            "receive_count": message.receive_count,
            "sent_at": iso_utc(self.sent_at),
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 3),
            "expires_at": iso_utc(self.expires_at),
            "expires_in_seconds": (
                None if self.expires_in_seconds is None else round(self.expires_in_seconds, 3)
            ),
            "expiry_approximate": self.expiry_approximate,
        }

    def line(self, record: Mapping[str, JsonValue] | None = None) -> str:
        """``record`` (the view's ``to_json()`` unless given: an export adds to it) as one line
        of JSON, with the body's own text where the record holds the parsed body (see
        ``json_line``)."""
        return json_line(self.to_json() if record is None else record, parsed_from=self)


_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
_PARSED_BODY_KEYS = ("json", "event", "payload")
_PLACEHOLDER_VALUE = "\0dlqctl: the parsed body\0"
_PLACEHOLDER = _LINE_ENCODER.encode(_PLACEHOLDER_VALUE)


def json_line(record: Mapping[str, JsonValue], *, parsed_from: MessageView | None = None) -> str:
    """``record`` as one line of JSON, as ``json.dumps(record, ensure_ascii=False,
    default=str)`` writes it, with a message's parsed body (an object or an array) written once
    for each of its ``json``, ``event`` and ``payload`` that holds that very object (for a plain
    event, all three): given the view it was ``parsed_from`` (checked by identity: the record's
    ``json`` must be the view's), the body's own text, its line breaks as spaces (the same JSON
    value, as its producer spaced it); else encoded once, and the line is exactly what
    ``json.dumps`` writes. Should the rest of the record's text hold the placeholder, it is
    encoded the plain way. Text that cannot be UTF-8 is escaped (see ``utf8_or_escaped``)."""
    return utf8_or_escaped(_json_line(record, parsed_from), record)


def utf8_or_escaped(
    text: str,
    value: object,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
) -> str:
    """JSON ``text`` of ``value`` as it is when it can be written as UTF-8, else ``value``
    again with everything past ASCII escaped: a body's JSON may hold half an emoji
    (``"\\ud83d"``: a lone surrogate), which no UTF-8 file or terminal takes."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, indent=indent, separators=separators, default=str)
    return text


def _json_line(record: Mapping[str, JsonValue], parsed_from: MessageView | None) -> str:
    parsed = record.get("json")
    if not isinstance(parsed, dict | list):
        return _LINE_ENCODER.encode(record)
    names = [name for name in _PARSED_BODY_KEYS if record.get(name) is parsed]
    body = None
    if parsed_from is not None and parsed_from.json is parsed:
        body = parsed_from.message.body
        if "\n" in body or "\r" in body:
            # JSON has line breaks only between its values (a string's are escaped, and the
            # body parsed): as spaces, the same value on one line.
            body = body.replace("\r", " ").replace("\n", " ")
    if body is None and len(names) < 2:
        return _LINE_ENCODER.encode(record)
    skeleton = dict(record)
    for name in names:
        skeleton[name] = _PLACEHOLDER_VALUE
    pieces = _LINE_ENCODER.encode(skeleton).split(_PLACEHOLDER)
    if len(pieces) != len(names) + 1:
        return _LINE_ENCODER.encode(record)
    return (_LINE_ENCODER.encode(parsed) if body is None else body).join(pieces)


def iso_utc(moment: datetime | None) -> str | None:
    """Format a moment as ISO 8601 in UTC with a ``Z`` suffix (None stays None)."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Source:
    """Something that feeds a DLQ: its type (``sqs``, ``lambda``, …) and ARN."""

    type: str
    arn: str
    detail: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {"type": self.type, "arn": self.arn}
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True)
class DeadLetterQueue:
    """A queue found by ``list``, with its counts and what feeds it."""

    queue: QueueRef
    attributes: QueueAttributes
    sources: tuple[Source, ...]
    named_like_dlq: bool
    oldest_age_seconds: float | None

    @property
    def is_dlq(self) -> bool:
        return bool(self.sources) or self.named_like_dlq

    @property
    def retention_left_seconds(self) -> float | None:
        if self.oldest_age_seconds is None:
            return None
        return max(0.0, self.attributes.retention_seconds - self.oldest_age_seconds)

    def to_json(self) -> dict[str, JsonValue]:
        attributes = self.attributes
        return {
            "name": self.queue.name,
            "url": self.queue.url,
            "arn": self.queue.arn,
            "fifo": attributes.fifo,
            "visible": attributes.visible,
            "in_flight": attributes.in_flight,
            "delayed": attributes.delayed,
            "oldest_age_seconds": self.oldest_age_seconds,
            "retention_seconds": attributes.retention_seconds,
            "retention_left_seconds": self.retention_left_seconds,
            "redrive_policy": (
                {
                    "dead_letter_target_arn": attributes.redrive_policy.dead_letter_target_arn,
                    "max_receive_count": attributes.redrive_policy.max_receive_count,
                }
                if attributes.redrive_policy
                else None
            ),
            "is_dlq": self.is_dlq,
            "sources": [source.to_json() for source in self.sources],
        }


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send with ``SendMessageBatch``; ``entry_id`` is unique within its batch."""

    entry_id: str
    body: str
    message_attributes: Mapping[str, MessageAttribute] = field(default_factory=dict)
    group_id: str | None = None
    deduplication_id: str | None = None

    def attribute_bytes(self) -> int:
        """Bytes the attributes count toward the message size (names, types and values)."""
        total = 0
        for name, attribute in self.message_attributes.items():
            total += len(name.encode()) + len(attribute.data_type.encode())
            if attribute.string_value is not None:
                total += len(attribute.string_value.encode())
            if attribute.binary_value is not None:
                total += len(attribute.binary_value)
        return total

    def size(self) -> int:
        """The size SQS checks against ``MaximumMessageSize``: body plus attributes, in bytes."""
        return len(self.body.encode()) + self.attribute_bytes()


@dataclass(frozen=True)
class EntryOutcome:
    """What became of one entry of a send, from the AWS answer up to the result: accepted
    (``detail`` is the ID the destination gave), refused (``detail`` is AWS's code and message;
    ``retryable`` when sending it again may succeed), or unanswered (``ambiguous``: the send got
    no answer, so it may have been delivered)."""

    accepted: bool
    detail: str = ""
    retryable: bool = False
    ambiguous: bool = False

    @classmethod
    def refused(cls, code: str, message: str, *, retryable: bool = False) -> EntryOutcome:
        return cls(False, f"{code}: {message}", retryable=retryable)


@dataclass(frozen=True)
class EventEntry:
    """One ``PutEvents`` entry rebuilt from a DLQ message."""

    bus: str
    source: str
    detail_type: str
    detail: str
    resources: tuple[str, ...] = ()
    time: datetime | None = None

    def size(self) -> int:
        """The entry size as EventBridge computes it (Time counts 14 bytes)."""
        return (
            14
            + len(self.source.encode())
            + len(self.detail_type.encode())
            + len(self.detail.encode())
            + sum(len(resource.encode()) for resource in self.resources)
        )

    def to_api(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "EventBusName": self.bus,
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": self.detail,
        }
        if self.resources:
            entry["Resources"] = list(self.resources)
        if self.time is not None:
            entry["Time"] = self.time
        return entry

    def to_json(self) -> dict[str, JsonValue]:
        """The entry as ``--dry-run -o json`` shows it."""
        data = self.to_api()
        if self.time is not None:
            data["Time"] = iso_utc(self.time)
        return data


@dataclass(frozen=True)
class MoveTask:
    """An SQS message move task, from ``ListMessageMoveTasks``."""

    status: str
    task_handle: str | None
    source_arn: str
    destination_arn: str | None
    moved: int
    to_move: int | None
    failure_reason: str | None
    started_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MoveTask:
        started = data.get("StartedTimestamp")
        return cls(
            status=str(data.get("Status", "")),
            task_handle=data.get("TaskHandle"),
            source_arn=str(data.get("SourceArn", "")),
            destination_arn=data.get("DestinationArn"),
            moved=int(data.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=data.get("ApproximateNumberOfMessagesToMove"),
            failure_reason=data.get("FailureReason"),
            started_at=datetime.fromtimestamp(int(started) / 1000, tz=UTC) if started else None,
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "status": self.status,
            "task_handle": self.task_handle,
            "source_arn": self.source_arn,
            "destination_arn": self.destination_arn,
            "moved": self.moved,
            "to_move": self.to_move,
            "failure_reason": self.failure_reason,
            "started_at": iso_utc(self.started_at),
        }


@dataclass(frozen=True)
class Failure:
    message_id: str
    reason: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"message_id": self.message_id, "reason": self.reason}


def compact_id(message_id: str) -> int | str:
    """A message ID as a walk keeps it, by the million: SQS's canonical UUIDs as 128-bit ints
    (77 bytes each in a set instead of 119), anything else as it is."""
    if len(message_id) == 36 and message_id.count("-") == 4:
        try:
            return uuid.UUID(message_id).int
        except ValueError:
            pass
    return message_id


def walk_complete(
    coverage: Mapping[str, JsonValue] | None, parking: Mapping[str, JsonValue] | None
) -> bool:
    """Whether a walk reached the end of its queue (``scan.Coverage`` as JSON) and its parking
    (``parking.ParkingResult`` as JSON) left nothing behind; None means not part of the run."""
    covered = coverage is None or bool(coverage.get("complete"))
    returned = parking is None or (not parking.get("failures") and not parking.get("left_parked"))
    return covered and returned


@dataclass
class RedriveResult:
    """What a redrive (or import) did; ``to_json`` is its stable JSON form."""

    destination: str
    selected: int = 0
    redriven: int = 0
    failed: int = 0
    skipped: int = 0
    dry_run: bool = False
    recovered: int = 0
    ambiguous: int = 0
    unanswered: int = 0
    unreleased: int = 0
    signal: int | None = None
    """The signal that interrupted the run (2 for Ctrl-C, 15 SIGTERM, 1 SIGHUP)."""
    journal: str | None = None
    failures: list[Failure] = field(default_factory=list)
    entries: list[dict[str, JsonValue]] = field(default_factory=list)
    title: str = "Redrive"
    coverage: dict[str, JsonValue] | None = None
    """How much of the queue the walk saw (``scan.Coverage``); None for an import."""
    parking: dict[str, JsonValue] | None = None
    """With ``--park``: what was parked and moved back (``parking.ParkingResult``)."""
    canary: dict[str, JsonValue] | None = None
    """With ``--canary``: what was replayed, what came back, and why the run stopped."""
    preflight: dict[str, JsonValue] | None = None
    """What the checks before sending found (``preflight.Preflight``); None for an import."""
    from_file: bool = False
    """An import's: what it sends comes from a file (left as it was) or stdin (read once)."""

    @property
    def complete(self) -> bool:
        return (
            self.failed == 0
            and self.skipped == 0
            and not self.interrupted
            and walk_complete(self.coverage, self.parking)
            and not (self.canary and self.canary.get("stopped"))
        )

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    @property
    def interrupted_by(self) -> int | None:
        return self.signal

    @interrupted_by.setter
    def interrupted_by(self, signum: int | None) -> None:
        self.signal = signum

    def reject(self, message_id: str, reason: str, *, skipped: bool) -> None:
        if skipped:
            self.skipped += 1
        else:
            self.failed += 1
        self.failures.append(Failure(message_id, reason))

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "destination": self.destination,
            "selected": self.selected,
            "redriven": self.redriven,
            "failed": self.failed,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
            "recovered": self.recovered,
            "ambiguous": self.ambiguous,
            "unanswered": self.unanswered,
            "unreleased": self.unreleased,
            "interrupted": self.interrupted,
            "signal": self.signal,
            "coverage": self.coverage,
            "parking": self.parking,
            "canary": self.canary,
            "preflight": self.preflight,
            "journal": self.journal,
            "failures": [failure.to_json() for failure in self.failures],
        }
        if self.dry_run:
            data["entries"] = self.entries
        return data


@dataclass(frozen=True)
class Deletion:
    """What ``DeleteMessageBatch`` said: the message IDs deleted and those that failed, why."""

    deleted: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DeadLetterPointer:
    """Something (its type and ARN) that sends its failures to the ARN ``target_arn``."""

    type: str
    arn: str
    target_arn: str
    detail: str | None = None


@dataclass(frozen=True)
class SourceMapping:
    """A Lambda event source mapping on a queue, and its function's environment variables."""

    uuid: str
    function_arn: str
    state: str
    environment: dict[str, str]


@dataclass(frozen=True)
class StackInfo:
    """A CloudFormation stack's state, outputs and parameters."""

    name: str
    status: str
    reason: str | None
    outputs: dict[str, str]
    parameters: dict[str, str]


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    type: str
    physical_id: str
    status: str


@dataclass(frozen=True)
class StackEvent:
    logical_id: str
    status: str
    reason: str | None
