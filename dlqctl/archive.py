"""Exporting messages to JSON lines (non-destructively, or moving them out) and importing them."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from dlqctl.aws import Aws
from dlqctl.envelopes import QueueContext, decode
from dlqctl.errors import DlqctlError, UsageError
from dlqctl.filters import Selection
from dlqctl.interrupts import interrupt_after_block
from dlqctl.models import JsonValue, MessageAttribute, MessageView, ReceivedMessage
from dlqctl.redrive import (
    Destination,
    Failure,
    Planned,
    RedriveResult,
    Rejected,
    deliver_batch,
)
from dlqctl.remove import delete_views
from dlqctl.scan import OpenQueue, selected_batches, walk

EXPORT_FORMAT = 1
_SYSTEM_KEPT = ("MessageGroupId", "MessageDeduplicationId", "SentTimestamp", "SequenceNumber")


def export_record(view: MessageView) -> dict[str, JsonValue]:
    """The message view plus everything needed to send the message again unchanged."""
    message = view.message
    record = view.to_json()
    record["sqs"] = {
        "format": EXPORT_FORMAT,
        "message_id": message.message_id,
        "body": message.body,
        "message_attributes": {
            name: attribute.to_json() for name, attribute in message.message_attributes.items()
        },
        "group_id": message.attributes.get("MessageGroupId"),
        "deduplication_id": message.attributes.get("MessageDeduplicationId"),
        "attributes": dict(message.attributes),
    }
    return record


def _attribute_from_json(data: dict[str, Any]) -> MessageAttribute:
    binary = data.get("BinaryValue")
    return MessageAttribute(
        data_type=str(data["DataType"]),
        string_value=data.get("StringValue"),
        binary_value=base64.b64decode(binary) if binary is not None else None,
    )


def message_from_record(record: dict[str, Any]) -> ReceivedMessage:
    """Re-create a message from an export record (it has no receipt handle: it is not held)."""
    sqs = record["sqs"]
    attributes = {
        key: str(value)
        for key, value in (sqs.get("attributes") or {}).items()
        if key in _SYSTEM_KEPT or key == "DeadLetterQueueSourceArn"
    }
    if sqs.get("group_id"):
        attributes["MessageGroupId"] = str(sqs["group_id"])
    if sqs.get("deduplication_id"):
        attributes["MessageDeduplicationId"] = str(sqs["deduplication_id"])
    return ReceivedMessage(
        message_id=str(sqs["message_id"]),
        receipt_handle="",
        body=str(sqs["body"]),
        attributes=attributes,
        message_attributes={
            name: _attribute_from_json(value)
            for name, value in (sqs.get("message_attributes") or {}).items()
        },
    )


def open_export_file(path: str, *, overwrite: bool) -> IO[str]:
    """Create the export file readable by its owner only (0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise UsageError(f"{path} exists", "choose another file, or pass --overwrite") from exc
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}", "check the path") from exc
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "w", encoding="utf-8")


@dataclass
class ExportResult:
    """What ``export`` did; ``to_json`` is its stable JSON form."""

    file: str
    exported: int = 0
    deleted: int = 0
    failures: list[Failure] = field(default_factory=list)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "file": self.file,
            "exported": self.exported,
            "deleted": self.deleted,
            "failures": [failure.to_json() for failure in self.failures],
        }


def _write_durably(handle: IO[str], lines: list[str]) -> None:
    """Write, flush and (for a regular file) fsync; an error here stops before any delete."""
    try:
        handle.writelines(lines)
        handle.flush()
        try:
            descriptor = handle.fileno()
        except io.UnsupportedOperation:
            return  # an in-memory stream: nothing on disk to sync
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fsync(descriptor)
    except OSError as exc:
        raise DlqctlError(
            f"writing the export failed: {exc.strerror or exc}",
            "nothing of this batch was deleted; free space or choose another file",
        ) from exc


def export_messages(
    aws: Aws,
    opened: OpenQueue,
    selection: Selection,
    handle: IO[str],
    *,
    name: str,
    delete: bool = False,
    limit: int | None = None,
    hold_seconds: int | None = None,
    wait_seconds: int = 1,
    progress: Callable[[int], None] = lambda count: None,
) -> ExportResult:
    """Write one JSON line per selected message; with ``delete``, delete each batch only
    after its lines are flushed and synced to disk."""
    result = ExportResult(file=name)
    with walk(aws, opened, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        for chosen in selected_batches(scan, selection, context=opened.context, limit=limit):
            _write_durably(
                handle,
                [json.dumps(export_record(view), ensure_ascii=False) + "\n" for view in chosen],
            )
            result.exported += len(chosen)
            if delete and chosen:
                deleted, failures = delete_views(scan, chosen, "exported, but delete failed")
                result.deleted += deleted
                result.failures.extend(failures)
            progress(len(chosen))
    return result


def read_export(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, record) for each non-blank line; None for a line that is not a record."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield number, None
            continue
        valid = isinstance(record, dict) and isinstance(record.get("sqs"), dict)
        valid = valid and "body" in record["sqs"] and "message_id" in record["sqs"]
        yield number, record if valid else None


def import_messages(
    lines: Iterable[str],
    destination: Destination,
    selection: Selection,
    *,
    dry_run: bool = False,
    batch_size: int = 10,
    progress: Callable[[int], None] = lambda count: None,
) -> RedriveResult:
    """Send an export file's messages to a destination with per-entry acknowledgement."""
    result = RedriveResult(destination=destination.description, dry_run=dry_run)
    pending: list[Planned] = []

    def flush() -> None:
        if dry_run:
            result.entries.extend(item.to_json() for item in pending)
        elif pending:
            with interrupt_after_block():
                delivery = deliver_batch(destination, pending)
            result.redriven += len(delivery.accepted)
            result.unanswered += len(delivery.unanswered)
            for view, reason in delivery.refused + delivery.unanswered:
                result.reject(view.message_id, reason, skipped=False)
        progress(len(pending))
        pending.clear()

    for number, record in read_export(lines):
        if record is None:
            result.selected += 1
            result.reject(f"line {number}", "not a dlqctl export record", skipped=True)
            continue
        view = decode(message_from_record(record), QueueContext())
        if not selection.selects(view):
            continue
        result.selected += 1
        plan = destination.plan(view)
        if isinstance(plan, Rejected):
            result.reject(view.message_id, plan.reason, skipped=plan.skipped)
            continue
        pending.append(plan)
        if len(pending) >= batch_size:
            flush()
    flush()
    return result
