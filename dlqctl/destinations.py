"""Where a replay goes: a bus, a queue, or each message's source.

A destination turns a decoded message into what it will be sent (``plan``: a ``Planned`` entry,
or a ``Rejected`` one with the reason), sends planned entries in batches sized as the service
counts them, retries only entries the answer refused for a retryable reason, and reports one
``Delivery`` per message: accepted with the ID the destination gave, refused with the reason, or
unanswered. ``deliver_batch`` is the one call ``redrive``, ``import`` and the redriver Lambda
use to send.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from dlqctl.aws import SQS_BATCH, Aws
from dlqctl.choices import EVENT_MAX_BYTES, Kind
from dlqctl.errors import AmbiguousSend, DlqctlError, UsageError
from dlqctl.models import (
    EntryOutcome,
    EventEntry,
    JsonValue,
    MessageAttribute,
    MessageView,
    OutgoingMessage,
    QueueAttributes,
    QueueRef,
    utf8_or_escaped,
)
from dlqctl.scan import OpenQueue

EVENTS_BATCH = 10
PAYLOAD_KEY = "payload"
"""The detail key that wraps a payload that is not a JSON object when it is replayed as a detail."""
SQS_BATCH_MAX_BYTES = 1048576
MAX_ENTRY_ATTEMPTS = 5


@dataclass(frozen=True)
class Invocation:
    """An asynchronous Lambda invocation: the function and the JSON payload it is sent."""

    function_arn: str
    payload: bytes

    def to_json(self) -> dict[str, JsonValue]:
        """The invocation as ``--dry-run -o json`` shows it (the payload as JSON)."""
        return {
            "FunctionName": self.function_arn,
            "InvocationType": "Event",
            "Payload": json.loads(self.payload),
        }


@dataclass(frozen=True)
class Planned:
    """A message turned into what its destination will be sent."""

    view: MessageView
    payload: Any
    size: int
    target: str

    def to_json(self) -> dict[str, JsonValue]:
        payload = self.payload
        entry: JsonValue
        if isinstance(payload, OutgoingMessage):
            entry = {
                "MessageBody": payload.body,
                "MessageAttributes": {
                    name: attribute.to_json()
                    for name, attribute in payload.message_attributes.items()
                },
                "MessageGroupId": payload.group_id,
                "MessageDeduplicationId": payload.deduplication_id,
            }
        else:  # EventEntry, Invocation, TargetSend
            entry = payload.to_json()
        return {"message_id": self.view.message_id, "target": self.target, "entry": entry}


@dataclass(frozen=True)
class Rejected:
    """A message that will not be sent: skipped (nothing to send) or failed (invalid entry)."""

    reason: str
    skipped: bool = True


def unanswered_outcome(error: AmbiguousSend) -> EntryOutcome:
    return EntryOutcome(
        False,
        f"{error.message}. Left at its source (the DLQ, or an import's file); the journal marks "
        "it ambiguous: a rerun sends it again (at least once), --no-resend-ambiguous keeps it",
        ambiguous=True,
    )


class Destination(Protocol):
    """Where a redrive sends messages."""

    description: str
    journal_key: str
    """What the journal of a run to it is named by: the destination itself (its ARN where it
    has one), not its name as typed, so a run to a bus named one way finds the journal of a run
    to it named the other, and an import never takes another region's or account's journal
    for its own."""

    def plan(self, view: MessageView) -> Planned | Rejected: ...

    def deliver(self, planned: Sequence[Planned]) -> dict[str, EntryOutcome]: ...


def _backoff(attempt: int) -> None:
    time.sleep(min(5.0, 0.2 * 2**attempt))


def _size_batches(
    planned: Sequence[Planned], count: int, max_bytes: int
) -> Iterator[list[Planned]]:
    """Consecutive batches of at most ``count`` entries and ``max_bytes`` in total."""
    batch: list[Planned] = []
    total = 0
    for item in planned:
        if batch and (len(batch) >= count or total + item.size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += item.size
    if batch:
        yield batch


def _parse_time(value: JsonValue) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _deliver_with_retries(
    planned: Sequence[Planned],
    batches: Callable[[list[Planned]], Iterator[list[Planned]]],
    send: Callable[[list[Planned]], Iterator[tuple[Planned, EntryOutcome]]],
) -> dict[str, EntryOutcome]:
    """Send in batches; entries refused for a retryable reason are sent again with backoff."""
    results: dict[str, EntryOutcome] = {}
    pending = list(planned)
    for attempt in range(MAX_ENTRY_ATTEMPTS):
        retry: list[Planned] = []
        for batch in batches(pending):
            try:
                answers = list(send(batch))
            except AmbiguousSend as exc:
                results.update((item.view.message_id, unanswered_outcome(exc)) for item in batch)
                continue
            except DlqctlError as exc:
                # This request was refused whole (throttled past the retries, access denied,
                # the destination gone): its entries stay in the DLQ, and what earlier
                # requests had acknowledged is kept, so it is recorded and deleted.
                refusal = EntryOutcome(False, exc.message)
                results.update((item.view.message_id, refusal) for item in batch)
                continue
            for item, outcome in answers:
                results[item.view.message_id] = outcome
                if outcome.retryable:
                    retry.append(item)
        if not retry:
            break
        pending = retry
        if attempt + 1 < MAX_ENTRY_ATTEMPTS:
            _backoff(attempt)
    return results


class BusDestination:
    """Replays each message's event to an EventBridge bus with PutEvents."""

    def __init__(
        self,
        aws: Aws,
        bus: str,
        *,
        source: str | None = None,
        detail_type: str | None = None,
        new_time: bool = False,
        max_event_bytes: int = EVENT_MAX_BYTES,
        mark: bool = False,
        arn: str | None = None,
    ) -> None:
        self.aws = aws
        self.bus = bus
        self.source = source
        self.detail_type = detail_type
        self.new_time = new_time
        self.max_event_bytes = max_event_bytes
        self.mark = mark
        self.description = f"event bus {bus}"
        self.journal_key = f"event bus {arn or bus}"

    def plan(self, view: MessageView) -> Planned | Rejected:
        if view.unreplayable:
            return Rejected(view.unreplayable)
        event = view.event
        if isinstance(event, dict):
            source = self.source or str(event.get("source", ""))
            detail_type = self.detail_type or str(event.get("detail-type", ""))
            detail: JsonValue = event.get("detail")
            resources = tuple(str(item) for item in event.get("resources") or ())
            moment = None if self.new_time else _parse_time(event.get("time"))
        elif self.source and self.detail_type:
            if view.payload is None:
                return Rejected(f"this {view.kind} message has no payload to send")
            source, detail_type, resources, moment = self.source, self.detail_type, (), None
            detail = view.payload if isinstance(view.payload, dict) else {PAYLOAD_KEY: view.payload}
        else:
            return Rejected(
                f"no EventBridge event in this {view.kind} message; give --source and "
                "--detail-type to send its payload as the detail"
            )
        if source.startswith("aws."):
            return Rejected(
                f"source {source} cannot be put on a bus (AWS rejects aws.* sources); "
                "rewrite it with --source"
            )
        if not source or not detail_type:
            return Rejected("the event has no source or detail-type")
        if self.mark:
            if not isinstance(detail, dict):
                return Rejected("--mark needs an event whose detail is a JSON object")
            previous = detail.get(REPLAY_FIELD)
            count = previous.get("replay_count", 0) if isinstance(previous, dict) else 0
            detail = {
                **detail,
                REPLAY_FIELD: {"replay_of": view.message_id, "replay_count": int(count) + 1},
            }
        entry = EventEntry(
            bus=self.bus,
            source=source,
            detail_type=detail_type,
            detail=json_text({} if detail is None else detail, separators=(",", ":")),
            resources=resources,
            time=moment,
        )
        if entry.size() > self.max_event_bytes:
            return Rejected(
                f"EntryTooLarge: the event is {entry.size():,} bytes, over the "
                f"{self.max_event_bytes:,}-byte PutEvents limit (--max-event-bytes)",
                skipped=False,
            )
        return Planned(view, entry, entry.size(), self.bus)

    def deliver(self, planned: Sequence[Planned]) -> dict[str, EntryOutcome]:
        return _deliver_with_retries(
            planned,
            lambda pending: _size_batches(pending, EVENTS_BATCH, self.max_event_bytes),
            self._put,
        )

    def _put(self, batch: list[Planned]) -> Iterator[tuple[Planned, EntryOutcome]]:
        answers = self.aws.events.put_events([item.payload for item in batch])
        yield from zip(batch, answers, strict=True)


def _sendable_attributes(view: MessageView) -> dict[str, MessageAttribute]:
    """Message attributes SQS accepts on send (it refuses empty list-valued ones)."""
    return {
        name: attribute
        for name, attribute in view.message.message_attributes.items()
        if attribute.string_value is not None or attribute.binary_value is not None
    }


REPLAY_OF = "dlqctl-replay-of"
REPLAY_COUNT = "dlqctl-replay-count"
REPLAY_FIELD = "dlqctl-replay"
MAX_MESSAGE_ATTRIBUTES = 10


def _marked_attributes(view: MessageView) -> dict[str, MessageAttribute]:
    """The message's attributes plus who it replays and how often it has been replayed."""
    attributes = _sendable_attributes(view)
    previous = attributes.get(REPLAY_COUNT)
    try:
        count = int(previous.string_value or 0) if previous else 0
    except ValueError:
        count = 0
    attributes[REPLAY_OF] = MessageAttribute(
        "String", view.message.string_attribute(REPLAY_OF) or view.message_id
    )
    attributes[REPLAY_COUNT] = MessageAttribute("Number", str(count + 1))
    return attributes


def replay_deduplication_id(view: MessageView) -> str:
    """A FIFO deduplication ID for replaying this DLQ copy: never the original one (within 5
    minutes SQS would accept the replay and silently drop it), and the same for every resend of
    this copy, so a rerun's resend of an ambiguous send is deduplicated."""
    copy = f"{view.message_id}:{view.message.attributes.get('SequenceNumber', '')}:replay"
    return hashlib.sha256(copy.encode()).hexdigest()


class QueueDestination:
    """Moves messages to an SQS queue with SendMessageBatch, body and attributes unchanged."""

    def __init__(
        self,
        aws: Aws,
        queue: QueueRef,
        attributes: QueueAttributes,
        *,
        group_id: str | None = None,
        mark: bool = False,
    ) -> None:
        self.aws = aws
        self.queue = queue
        self.mark = mark
        self.attributes = attributes
        self.group_id = group_id
        self.description = f"queue {queue.name}"
        self.journal_key = f"queue {queue.arn}"

    def plan(self, view: MessageView) -> Planned | Rejected:
        system = view.message.attributes
        message = OutgoingMessage(
            entry_id=view.message_id,
            body=view.message.body,
            message_attributes=_sendable_attributes(view),
        )
        if self.mark:
            marked = _marked_attributes(view)
            if len(marked) > MAX_MESSAGE_ATTRIBUTES:
                return Rejected(
                    f"--mark would give the message {len(marked)} attributes; SQS allows "
                    f"{MAX_MESSAGE_ATTRIBUTES}",
                    skipped=False,
                )
            message = replace(message, message_attributes=marked)
        if self.attributes.fifo:
            group = system.get("MessageGroupId") or self.group_id
            if not group:
                return Rejected(
                    f"{self.queue.name} is FIFO and this message has no group; pass --group-id",
                    skipped=False,
                )
            message = replace(
                message, group_id=group, deduplication_id=replay_deduplication_id(view)
            )
        size = message.size()
        if size > self.attributes.maximum_message_size:
            return Rejected(
                f"MessageTooLarge: {size:,} bytes, over {self.queue.name}'s "
                f"MaximumMessageSize of {self.attributes.maximum_message_size:,}",
                skipped=False,
            )
        return Planned(view, message, size, self.queue.name)

    def deliver(self, planned: Sequence[Planned]) -> dict[str, EntryOutcome]:
        return _deliver_with_retries(
            planned,
            lambda pending: _size_batches(pending, SQS_BATCH, SQS_BATCH_MAX_BYTES),
            self._send,
        )

    def _send(self, batch: list[Planned]) -> Iterator[tuple[Planned, EntryOutcome]]:
        by_entry = {str(index): item for index, item in enumerate(batch)}
        outcomes = self.aws.sqs.send(
            self.queue, [replace(item.payload, entry_id=key) for key, item in by_entry.items()]
        )
        for key, outcome in outcomes.items():
            yield by_entry[key], outcome


class FunctionDestination:
    """Invokes a Lambda function asynchronously with a message's original payload."""

    def __init__(self, aws: Aws, function_arn: str) -> None:
        self.aws = aws
        self.function_arn = function_arn
        self.description = self.journal_key = f"function {function_arn}"

    def plan(self, view: MessageView, payload: JsonValue) -> Planned:
        """The payload as it was when it is the message's whole body (a Lambda DLQ message),
        byte for byte; else written as JSON (numbers as Python reads them)."""
        if payload is view.json and payload is not None:
            text = view.message.body
        else:
            text = json_text(payload)
        invocation = Invocation(self.function_arn, text.encode())
        return Planned(view, invocation, len(invocation.payload), self.function_arn)

    def invoke(self, payload: bytes) -> str:
        """One asynchronous invocation; returns its request ID."""
        return self.aws.lambda_.invoke_async(self.function_arn, payload)

    def deliver(self, planned: Sequence[Planned]) -> dict[str, EntryOutcome]:
        results: dict[str, EntryOutcome] = {}
        for item in planned:
            try:
                request_id = self.invoke(item.payload.payload)
            except AmbiguousSend as exc:
                results[item.view.message_id] = unanswered_outcome(exc)
                continue
            except DlqctlError as exc:
                # Refused (the function gone, no permission): the message stays, and the
                # invocations already accepted are kept.
                results[item.view.message_id] = EntryOutcome(False, exc.message)
                continue
            results[item.view.message_id] = EntryOutcome(True, request_id)
        return results


class SourceDestination:
    """Sends each message back where it came from: its SQS source queue or its function.

    Only two sources are known for certain: the queue SQS names in ``DeadLetterQueueSourceArn``
    (the message goes back unchanged), and the function of a Lambda failure record or of a
    Lambda DLQ whose DeadLetterConfig only one function points at (it is invoked again with the
    payload it failed on). Everything else is refused with the reason, and stays in the DLQ.
    """

    description = journal_key = "each message's source"

    def __init__(
        self,
        aws: Aws,
        opened: OpenQueue,
        dead_letter_functions: Mapping[str, Sequence[str]] | None = None,
        *,
        group_id: str | None = None,
    ) -> None:
        self.aws = aws
        self.opened = opened
        self.dead_letter_functions = dict(dead_letter_functions or {})
        self.group_id = group_id
        self._queues: dict[str, QueueDestination] = {}
        self._functions: dict[str, FunctionDestination] = {}

    def _queue(self, arn: str) -> QueueDestination:
        if arn not in self._queues:
            queue, attributes = self.aws.sqs.resolve(arn)
            self._queues[arn] = QueueDestination(
                self.aws, queue, attributes, group_id=self.group_id
            )
        return self._queues[arn]

    def _function(self, arn: str) -> FunctionDestination:
        # The qualifier ($LATEST, a version) is kept: that is the code that failed.
        if arn not in self._functions:
            self._functions[arn] = FunctionDestination(self.aws, arn)
        return self._functions[arn]

    def _dlq_function(self, view: MessageView) -> str | Rejected:
        """The one function whose DeadLetterConfig sent this Lambda DLQ message here."""
        target = view.origin.get("topic_arn") or self.opened.queue.arn
        # Versions of one function share its configuration: invoke the function itself.
        functions = sorted({unqualified(arn) for arn in self.dead_letter_functions.get(target, ())})
        if len(functions) == 1:
            return functions[0]
        which = "no function's" if not functions else f"{len(functions)} functions'"
        return Rejected(
            f"this Lambda DLQ message does not name its function, and {which} "
            f"DeadLetterConfig points at {target}; use --to-queue or --to-bus"
        )

    def plan(self, view: MessageView) -> Planned | Rejected:
        source_queue = view.origin.get("source_queue_arn")
        if view.kind == Kind.SQS and source_queue:
            try:
                return self._queue(source_queue).plan(view)
            except DlqctlError as exc:  # the source queue is gone, or in another region
                return Rejected(
                    f"cannot send it back to {source_queue}: {exc.message}", skipped=False
                )
        if view.unreplayable:
            return Rejected(view.unreplayable)
        if view.kind == Kind.LAMBDA_DESTINATION and view.origin.get("function_arn"):
            return self._function(view.origin["function_arn"]).plan(view, view.payload)
        if view.kind == Kind.LAMBDA_DLQ:
            function = self._dlq_function(view)
            if isinstance(function, Rejected):
                return function
            return self._function(function).plan(view, view.payload)
        return Rejected(
            f"the source of this {view.kind} message is not known; use --to-queue or --to-bus"
        )

    def deliver(self, planned: Sequence[Planned]) -> dict[str, EntryOutcome]:
        results: dict[str, EntryOutcome] = {}
        by_target: dict[str, list[Planned]] = {}
        for item in planned:
            by_target.setdefault(item.target, []).append(item)
        for target, items in by_target.items():
            if isinstance(items[0].payload, OutgoingMessage):
                destination: Any = next(
                    queue for queue in self._queues.values() if queue.queue.name == target
                )
            else:
                destination = self._function(target)
            results.update(destination.deliver(items))
        return results


def json_text(value: JsonValue, separators: tuple[str, str] | None = None) -> str:
    """``value`` as JSON with its text as UTF-8 (the size AWS counts), or escaped where it
    cannot be UTF-8 (a lone surrogate, as a producer that cut an emoji in two writes)."""
    text = json.dumps(value, separators=separators, ensure_ascii=False)
    return utf8_or_escaped(text, value, separators=separators)


def unqualified(function_arn: str) -> str:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME`` without a version or alias (a name is
    returned as it is)."""
    if not function_arn.startswith("arn:"):
        return function_arn
    return ":".join(function_arn.split(":")[:7])


def dead_letter_functions(aws: Aws) -> dict[str, list[str]]:
    """Functions by the queue or topic their DeadLetterConfig names (to re-invoke Lambda DLQ
    messages, which do not name their function)."""
    functions: dict[str, list[str]] = {}
    for pointer in aws.lambda_.dead_letter_configs():
        functions.setdefault(pointer.target_arn, []).append(pointer.arn)
    return functions


@dataclass(frozen=True)
class BatchDelivery:
    """What became of a batch: (view, ID the destination gave) for each acknowledged message,
    (view, reason) for each refused one, and (view, reason) for each send with no answer."""

    accepted: list[tuple[MessageView, str]] = field(default_factory=list)
    refused: list[tuple[MessageView, str]] = field(default_factory=list)
    unanswered: list[tuple[MessageView, str]] = field(default_factory=list)


def deliver_batch(destination: Destination, planned: Sequence[Planned]) -> BatchDelivery:
    """Send planned messages and sort them by the destination's answer."""
    delivery = BatchDelivery()
    if not planned:
        return delivery
    answers = destination.deliver(planned)
    for item in planned:
        answer = answers.get(  # AWS answered the call but not for this entry: it may be there
            item.view.message_id,
            EntryOutcome(False, "no answer for this entry", ambiguous=True),
        )
        if answer.accepted:
            delivery.accepted.append((item.view, answer.detail))
        elif answer.ambiguous:
            delivery.unanswered.append((item.view, answer.detail))
        else:
            delivery.refused.append((item.view, answer.detail))
    return delivery


_OTHER_REGION_HINT = (
    "a redrive sends within the DLQ's region ({in_use}): give a queue of {in_use}, or export "
    "the messages and import them with --region {region}"
)


def check_destination_differs(source: QueueRef, destination: QueueRef) -> None:
    if source.arn == destination.arn:
        raise UsageError(
            f"{source.name} is both the DLQ and the destination",
            "choose another --to-queue",
        )


@dataclass(frozen=True)
class DestinationSpec:
    """Where a replay goes, as the operator asked for it (exactly one of the three)."""

    to_bus: str | None = None
    to_queue: str | None = None
    to_source: bool = False
    to_target: bool = False
    source: str | None = None
    detail_type: str | None = None
    new_time: bool = False
    max_event_bytes: int = EVENT_MAX_BYTES
    group_id: str | None = None
    mark: bool = False

    def check(self) -> None:
        """Exactly one destination, before any AWS call."""
        chosen = (self.to_bus is not None, self.to_queue is not None, self.to_source)
        if sum((*chosen, self.to_target)) != 1:
            raise UsageError(
                "choose exactly one destination",
                "pass --to-bus BUS, --to-queue QUEUE, --to-source or --to-target",
            )
        rewrites = {"--source": self.source, "--detail-type": self.detail_type}
        given = [option for option, value in rewrites.items() if value]
        if self.to_target and (given or self.mark or self.new_time or self.group_id):
            raise UsageError(
                "--to-target sends each target what its rule sends it; it cannot rewrite or "
                "mark the event",
                "drop --source, --detail-type, --new-time, --mark and --group-id (a FIFO "
                "target's group is its rule's SqsParameters), or use --to-bus",
            )
        rewriting = [*given, *(["--new-time"] if self.new_time else [])]
        if rewriting and self.to_bus is None and not self.to_target:
            raise UsageError(
                f"{', '.join(rewriting)} rewrite the event a bus replay sends; a queue is sent "
                "the message as it is",
                "use them with --to-bus, or drop them",
            )
        if self.group_id and self.to_bus is not None:
            raise UsageError(
                "--group-id names the message group of a FIFO queue; a bus has none",
                "drop --group-id, or replay to a FIFO queue with --to-queue",
            )


def _dlq(opened: OpenQueue | Callable[[], OpenQueue]) -> OpenQueue:
    return opened() if callable(opened) else opened


def build_destination(
    aws: Aws,
    opened: OpenQueue | Callable[[], OpenQueue] | None,
    spec: DestinationSpec,
    warnings: list[str],
) -> Destination:
    """The destination the spec names, resolved and checked (the bus or queue exists, and is
    not the DLQ ``opened`` itself; an import has no DLQ); what could not be looked up is added
    to ``warnings``.

    ``opened`` may be a function that gives the DLQ once it is open: a bus or a queue is then
    looked up while the DLQ is, and the DLQ is waited for only where it is needed."""
    spec.check()
    if spec.to_bus is not None:
        return BusDestination(
            aws,
            spec.to_bus,
            arn=aws.events.bus_arn(spec.to_bus),
            source=spec.source,
            detail_type=spec.detail_type,
            new_time=spec.new_time,
            max_event_bytes=spec.max_event_bytes,
            mark=spec.mark,
        )
    if spec.to_queue is not None:
        target, attributes = aws.sqs.resolve(
            spec.to_queue, other_region_hint=None if opened is None else _OTHER_REGION_HINT
        )
        if opened is not None:
            check_destination_differs(_dlq(opened).queue, target)
        if spec.group_id and not attributes.fifo:
            raise UsageError(
                f"--group-id names the message group of a FIFO queue; {target.name} is a "
                "standard queue",
                "drop --group-id",
            )
        return QueueDestination(aws, target, attributes, group_id=spec.group_id, mark=spec.mark)
    if opened is None:
        raise UsageError("--to-source needs a DLQ", "give --to-bus or --to-queue")
    opened = _dlq(opened)
    try:
        functions = dead_letter_functions(aws)
    except DlqctlError as exc:
        warnings.append(
            f"cannot look up the functions that feed {opened.queue.name}: {exc.message}"
        )
        functions = {}
    return SourceDestination(aws, opened, functions, group_id=spec.group_id)
