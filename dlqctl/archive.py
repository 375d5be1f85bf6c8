"""Exporting messages to JSON lines (non-destructively, or moving them out) and importing them."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import stat
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from dlqctl.aws import SQS_BATCH, Aws
from dlqctl.delivery import send_and_record
from dlqctl.destinations import (
    Destination,
    DestinationSpec,
    Planned,
    Rejected,
    build_destination,
)
from dlqctl.envelopes import QueueContext, decode
from dlqctl.errors import DlqctlError, UsageError
from dlqctl.filters import Selection
from dlqctl.interrupts import interrupt_after_block, signal_number
from dlqctl.journal import Journal
from dlqctl.models import (
    Failure,
    JsonValue,
    MessageAttribute,
    MessageView,
    ReceivedMessage,
    RedriveResult,
    walk_complete,
)
from dlqctl.parking import Parking, prepare_parking
from dlqctl.plans import Confirmation, OnQueue, Reporter, covering, describe_scope, keeping_done
from dlqctl.preflight import Preflight, check_sample, enforce
from dlqctl.redrive import Pacer, RedriveOptions, count_refusals, run_parked, sort_by_journal
from dlqctl.remove import delete_views
from dlqctl.scan import (
    DEFAULT_WALKING,
    OpenQueue,
    Walking,
    check_read_only,
    open_queue,
    split_batches,
    walk,
)

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


class NotARecord(ValueError):
    """A line that is JSON but not an export record dlqctl can send again as it was."""


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise NotARecord(f"{what} is not text")
    return value


def _attribute_from_json(name: str, data: Any) -> MessageAttribute:
    if not isinstance(data, dict):
        raise NotARecord(f"message attribute {name} is not an object")
    binary = _text(
        data.get("BinaryValue"), f"message attribute {name}'s BinaryValue", optional=True
    )
    try:
        value = base64.b64decode(binary, validate=True) if binary is not None else None
    except ValueError:
        raise NotARecord(f"message attribute {name}'s BinaryValue is not base64") from None
    return MessageAttribute(
        data_type=str(_text(data.get("DataType"), f"message attribute {name}'s DataType")),
        string_value=_text(
            data.get("StringValue"), f"message attribute {name}'s StringValue", optional=True
        ),
        binary_value=value,
    )


def message_from_record(record: dict[str, Any]) -> ReceivedMessage:
    """Re-create a message from an export record (it has no receipt handle: it is not held).
    Raises ``NotARecord`` for one that cannot be sent again as it was: a format newer than this
    dlqctl writes, a body or message ID that is not text, an attribute that is not whole."""
    sqs = record.get("sqs")
    if not isinstance(sqs, dict):
        raise NotARecord("no sqs record")
    version = sqs.get("format", EXPORT_FORMAT)
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= EXPORT_FORMAT
    ):
        raise NotARecord(f"format {version!r} is not one this dlqctl reads ({EXPORT_FORMAT})")
    body = str(_text(sqs.get("body"), "the body"))
    message_id = str(_text(sqs.get("message_id"), "the message ID"))
    system = sqs.get("attributes") or {}
    own = sqs.get("message_attributes") or {}
    if not isinstance(system, dict) or not isinstance(own, dict):
        raise NotARecord("attributes are not objects")
    attributes = {
        key: str(value)
        for key, value in system.items()
        if key in _SYSTEM_KEPT or key == "DeadLetterQueueSourceArn"
    }
    if sqs.get("group_id"):
        attributes["MessageGroupId"] = str(sqs["group_id"])
    if sqs.get("deduplication_id"):
        attributes["MessageDeduplicationId"] = str(sqs["deduplication_id"])
    return ReceivedMessage(
        message_id=message_id,
        receipt_handle="",
        body=body,
        attributes=attributes,
        message_attributes={name: _attribute_from_json(name, value) for name, value in own.items()},
    )


class _ReplacingFile(io.TextIOWrapper):
    """A file written beside its final path (as ``FILE.XXXX.partial``, not hidden: after a
    crash it may hold deleted messages) and moved over it when the export succeeds, so
    ``--overwrite`` never leaves the old file cut short; after a failure it is kept where it is
    (``keep_partial``: its name is unique, so no other run's partial file is replaced)."""

    final_path: str
    temporary_path: str

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.replace(self.temporary_path, self.final_path)
            _sync_folder(self.final_path)

    def keep_partial(self) -> str:
        """Close without replacing; returns where the partial export now is."""
        with contextlib.suppress(OSError):  # what could not be written: the error says so
            super().close()
        _sync_folder(self.temporary_path)
        return self.temporary_path


def _open_empty(path: str) -> IO[str]:
    """An existing file opened to be written in place, refused unless it is empty now."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    except OSError as exc:
        raise UsageError(f"cannot use {path}: {exc.strerror}", "choose another file") from exc
    found = os.fstat(descriptor)
    if stat.S_ISREG(found.st_mode) and not found.st_size and stat.S_IMODE(found.st_mode) != 0o600:
        try:
            os.fchmod(descriptor, 0o600)  # the archive is owner-only, as a new one is
        except OSError as exc:
            os.close(descriptor)
            raise UsageError(
                f"cannot make {path} owner-only (0600): {exc.strerror}",
                "choose another file, or a new one",
            ) from exc
    if not stat.S_ISREG(found.st_mode) or found.st_size:
        os.close(descriptor)
        raise UsageError(
            f"{path} is no longer empty: it may hold messages already deleted from a DLQ",
            "choose another file",
        )
    return os.fdopen(descriptor, "a", encoding="utf-8")


def _holds_export(path: str) -> bool:
    """Whether a regular file's first line is an export record (dlqctl's); never waits (a
    FIFO, a terminal, ``/dev/stdout``)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            first = handle.readline(4 * 1024 * 1024)
        record = json.loads(first)
    except (OSError, ValueError, RecursionError):
        return False
    finally:
        os.close(descriptor)
    return isinstance(record, dict) and isinstance(record.get("sqs"), dict)


def _sync_folder(path: str) -> None:
    """Make a created or renamed file's directory entry durable too."""
    descriptor = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_export_file(path: str, *, overwrite: bool, only_empty: bool = False) -> IO[str]:
    """Create the export file readable by its owner only (0600).

    With ``overwrite``, an existing regular file is replaced atomically when the export is
    closed; anything else that exists (a device, a directory, a link's target) is refused, and
    nothing but the file dlqctl creates has its mode set. With ``only_empty`` (an export that
    deletes what it writes) an existing file is written in place, and only if it is empty
    when it is opened: it cannot be replaced by a run that has deleted what it held.
    """
    try:
        existing = os.stat(path) if overwrite else None
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise UsageError(f"cannot use {path}: {exc.strerror}", "check the path") from exc
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise UsageError(f"{path} is not a regular file", "give a file path to export to")
    if existing is not None and only_empty:
        return _open_empty(path)
    try:
        if existing is None:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            _sync_folder(path)
            return os.fdopen(descriptor, "w", encoding="utf-8")
        folder, name = os.path.split(os.path.abspath(path))
        descriptor, temporary = tempfile.mkstemp(prefix=f"{name}.", suffix=".partial", dir=folder)
    except FileExistsError as exc:
        if _holds_export(path):
            raise UsageError(
                f"{path} exists and holds a dlqctl export, which may be the only copy of "
                "messages deleted since",
                "choose another file (--overwrite would replace it)",
            ) from exc
        raise UsageError(f"{path} exists", "choose another file, or pass --overwrite") from exc
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}", "check the path") from exc
    # Buffered, as os.fdopen's: a write the disk or a file-size limit cuts short raises
    # (TextIOWrapper on the raw file would drop the rest of it, and its batch be deleted).
    handle = _ReplacingFile(io.BufferedWriter(io.FileIO(descriptor, "w")), encoding="utf-8")
    handle.final_path, handle.temporary_path = path, temporary
    return handle


@dataclass
class ExportResult:
    """What ``export`` did; ``to_json`` is its stable JSON form."""

    file: str
    exported: int = 0
    deleted: int = 0
    failures: list[Failure] = field(default_factory=list)
    title: str = "Export"
    interrupted_by: int | None = None
    coverage: dict[str, JsonValue] | None = None
    parking: dict[str, JsonValue] | None = None

    @property
    def complete(self) -> bool:
        return not self.failures and walk_complete(self.coverage, self.parking)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "file": self.file,
            "exported": self.exported,
            "deleted": self.deleted,
            "failures": [failure.to_json() for failure in self.failures],
            "coverage": self.coverage,
            "parking": self.parking,
        }


def _write_durably(handle: IO[str], lines: list[str], *, sync: bool = True) -> None:
    """Write, flush and (for a regular file, with ``sync``) fsync; an error here stops before
    any delete."""
    try:
        handle.write("".join(lines))  # one system call a batch (line by line: one per 8 KB)
        handle.flush()
        if not sync:
            return
        try:
            descriptor = handle.fileno()
        except io.UnsupportedOperation:
            return  # an in-memory stream: nothing on disk to sync
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fsync(descriptor)
    except OSError as exc:
        raise DlqctlError(
            f"writing the export failed: {exc.strerror or exc}",
            "free space or choose another file",
        ) from exc


def export_messages(
    aws: Aws,
    opened: OpenQueue,
    selection: Selection,
    handle: IO[str],
    into: ExportResult,
    *,
    delete: bool = False,
    limit: int | None = None,
    walking: Walking = DEFAULT_WALKING,
    progress: Callable[[int], None] = lambda count: None,
    parking: Parking | None = None,
) -> ExportResult:
    """Write one JSON line per selected message; with ``delete``, delete each batch only
    after its lines are flushed and synced to disk (without it, nothing leaves the DLQ, and the
    file is synced once, at the end). With ``parking``, what stays in the DLQ (the rest of each
    batch; without ``delete``, the exported messages too) is parked. ``into`` is the result
    the run fills in (it names the file and the command)."""
    result = into
    try:
        with _saying_counts(result, delete), covering(walk(aws, opened, walking), result) as scan:
            # A copy leaves nothing out; what is deleted is only what was there at the start.
            for chosen, rest in split_batches(
                scan, selection, context=opened.context, limit=limit, leave_arrivals=delete
            ):
                lines = [view.line(export_record(view)) + "\n" for view in chosen]
                # Deleting: a signal waits for the batch (written, synced, counted, deleted),
                # so the file and the queue agree with the result. (A copy deletes nothing.)
                with interrupt_after_block() if delete else contextlib.nullcontext():
                    _write_durably(handle, lines, sync=delete)
                    result.exported += len(chosen)
                    if delete and chosen:
                        result.deleted += delete_views(
                            scan, chosen, "exported, but delete failed", result.failures
                        )
                if parking is not None:
                    parking.park(scan, rest if delete else chosen + rest)
                progress(len(chosen))
        if not delete:
            _write_durably(handle, [])
    except KeyboardInterrupt as exc:  # the batch in flight was finished: say what was done
        result.interrupted_by = signal_number(exc)
        _write_durably(handle, [])  # what the file holds is on disk, as the result says
    except DlqctlError as exc:
        if not delete and parking is None and isinstance(exc.__cause__, BrokenPipeError):
            for note in getattr(exc, "__notes__", ()):  # what the walk left hidden
                exc.__cause__.add_note(note)
            raise exc.__cause__ from None  # `export Q - | head`: a closed pipe is not an error
        raise
    return result


@contextlib.contextmanager
def _saying_counts(result: ExportResult, delete: bool) -> Iterator[None]:
    """A write that fails says how many messages the file holds and, for an export that
    deletes, how many of them were deleted (the batch that did not fit stays in the queue)."""
    try:
        yield
    except DlqctlError as exc:
        if isinstance(exc.__cause__, OSError) and exc.message.startswith("writing the export"):
            where = "the output" if result.file == "-" else result.file
            held = f"{where} holds {result.exported:,} message(s)"
            if delete:
                held += f", {result.deleted:,} of them deleted from the queue; the batch that "
                held += "did not fit stays in the queue"
            exc.message = f"{exc.message}; {held}"
        raise


@dataclass(frozen=True)
class ExportLine:
    """One line of an export file: its number, and the message it holds or why it holds
    none."""

    number: int
    message: ReceivedMessage | None
    problem: str | None = None


def read_export(lines: Iterable[bytes]) -> Iterator[ExportLine]:
    """Each non-blank line of an export file, read as bytes so that one undecodable line is
    reported alone instead of ending the read."""
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a BOM an editor added
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield ExportLine(number, None, "not UTF-8 text")
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield ExportLine(number, None, "not JSON")
            continue
        except RecursionError:
            yield ExportLine(number, None, "JSON nested too deeply")
            continue
        if not isinstance(record, dict):
            yield ExportLine(number, None, "not a dlqctl export record")
            continue
        try:
            message = message_from_record(record)
        except NotARecord as exc:
            yield ExportLine(number, None, f"not a dlqctl export record: {exc}")
            continue
        yield ExportLine(number, message)


def _plan_line(
    line: ExportLine,
    destination: Destination,
    selection: Selection,
    options: RedriveOptions,
    result: RedriveResult,
    taken: set[str],
) -> list[Planned]:
    """What one line of an export file sends: nothing (junk, not selected, a message this run
    already took from an earlier line, sent before, refused by the destination) or one entry."""
    if line.message is None:
        result.reject(f"line {line.number}", line.problem or "unreadable", skipped=True)
        return []
    view = decode(line.message, QueueContext())
    if not selection.selects(view):
        return []
    if view.message_id in taken:
        result.reject(
            f"line {line.number}", f"message {view.message_id} again; sent once", skipped=True
        )
        return []
    taken.add(view.message_id)
    result.selected += 1
    to_send, sent_before = sort_by_journal([view], options, result)
    result.recovered += len(sent_before)
    planned: list[Planned] = []
    for chosen in to_send:
        plan = destination.plan(chosen)
        if isinstance(plan, Rejected):
            result.reject(chosen.message_id, plan.reason, skipped=plan.skipped)
        else:
            planned.append(plan)
    return planned


def import_messages(
    lines: Iterable[bytes],
    destination: Destination,
    selection: Selection,
    options: RedriveOptions,
    progress: Callable[[int], None] = lambda count: None,
    *,
    read_once: str | None = None,
) -> RedriveResult:
    """Send an export file's messages to a destination: a redrive whose source is a file.

    Batches of up to 10 are recorded in the journal, sent, and their acknowledgements synced,
    so a rerun sends only what was not acknowledged (``recovered`` counts those it skips;
    ambiguous ones follow ``resend_ambiguous``). Lines that are not records are skipped and
    reported by line number. Ctrl-C, SIGTERM or SIGHUP let the batch in flight finish and
    return the partial result. ``read_once`` names an input that could not be sampled before
    the run (stdin, a pipe): its first lines are read ahead (``_read_ahead``).
    """
    result = RedriveResult(
        destination=destination.description,
        dry_run=options.dry_run,
        title="Import",
        from_file=True,
    )
    if options.journal is not None:
        result.journal = str(options.journal.path)
    pacer = Pacer(options.rate)
    pending: list[Planned] = []
    taken: set[str] = set()

    def flush() -> None:
        if options.dry_run:
            result.entries.extend(item.to_json() for item in pending)
        elif pending:
            pacer.wait(len(pending))
            with interrupt_after_block():
                delivery = send_and_record(destination, pending, options.journal)
                result.redriven += len(delivery.accepted)
                count_refusals(result, delivery)
        progress(len(pending))
        pending.clear()

    try:
        if read_once is not None:
            lines = _read_ahead(read_once, lines)
        with keeping_done(result):
            for line in read_export(lines):
                # What an earlier run delivered is not counted: a rerun goes on past it.
                if (
                    options.limit is not None
                    and result.selected - result.recovered >= options.limit
                ):
                    break
                pending.extend(_plan_line(line, destination, selection, options, result, taken))
                if len(pending) >= SQS_BATCH:
                    flush()
            flush()
    except KeyboardInterrupt as exc:
        result.signal = signal_number(exc)
    return result


@dataclass
class ExportPlan(OnQueue):
    """``export`` (and ``purge --archive``): write the selected messages to a file, and with
    ``delete`` remove each batch once it is synced to disk."""

    aws: Aws
    opened: OpenQueue
    selection: Selection
    file: str
    overwrite: bool = False
    delete: bool = False
    limit: int | None = None
    walking: Walking = DEFAULT_WALKING
    title: str = "Export"
    confirmation: Confirmation = Confirmation.NONE
    dry_run: bool = False
    parking: Parking | None = None

    @property
    def activity(self) -> str:
        return f"Exporting {self.name}"

    @property
    def total(self) -> int | None:
        return None if self.file == "-" else self.opened.attributes.visible

    def describe(self) -> str:
        action = f"Export to {self.file} and delete" if self.delete else f"Export to {self.file}"
        then = f"; {self.parking.describe()}" if self.parking else ""
        return describe_scope(action, self.opened, self.selection, self.limit, then=then)

    def run(self, reporter: Reporter) -> ExportResult:
        """Open the file (stdout for ``-``) only now, after the confirmation."""
        writing_stdout = self.file == "-"
        handle = (
            sys.stdout
            if writing_stdout
            else open_export_file(self.file, overwrite=self.overwrite, only_empty=self.delete)
        )
        try:
            result = run_parked(
                self.aws,
                self.parking,
                self.walking,
                reporter,
                lambda parking: export_messages(
                    self.aws,
                    self.opened,
                    self.selection,
                    handle,
                    ExportResult(self.file, title=self.title),
                    delete=self.delete,
                    limit=self.limit,
                    walking=self.walking,
                    progress=reporter.progress,
                    parking=parking,
                ),
            )
        except BaseException as exc:
            if isinstance(handle, _ReplacingFile):
                partial = handle.keep_partial()
                kept = f"what was exported is in {partial} ({self.file} is as it was)"
                if isinstance(exc, DlqctlError):
                    exc.message += f"; {kept}"
                else:
                    reporter.warn(kept)  # a signal
            elif not writing_stdout:
                with contextlib.suppress(OSError):  # what could not be written: said above
                    handle.close()
            raise
        if result.interrupted_by is not None and isinstance(handle, _ReplacingFile):
            partial = handle.keep_partial()  # a part must not replace a whole
            reporter.warn(f"what was exported is in {partial} ({self.file} is as it was)")
        elif not writing_stdout:
            handle.close()
            if result.interrupted_by is not None:
                reporter.warn(
                    f"{self.file} holds only the {result.exported:,} message(s) exported before "
                    "the signal"
                )
        return result


def prepare_export(
    aws: Aws,
    queue: str,
    selection: Selection,
    file: str,
    *,
    overwrite: bool = False,
    delete: bool = False,
    limit: int | None = None,
    walking: Walking = DEFAULT_WALKING,
    look_anyway: bool = False,
    park: str | None = None,
) -> ExportPlan:
    """An export; without ``delete`` it is a look, so it must not move messages on. Parking
    changes the queue (new message IDs), so it is confirmed like a delete."""
    if delete:
        _archive_file(file, "--delete", overwrite)
    opened = open_queue(aws, queue)
    if not delete and park is None:
        check_read_only(opened, look_anyway=look_anyway)
    parking = None if park is None else prepare_parking(aws, opened, park)
    confirmation = Confirmation.ASK if delete or parking else Confirmation.NONE
    return ExportPlan(
        aws,
        opened,
        selection,
        file,
        overwrite,
        delete,
        limit,
        walking,
        confirmation=confirmation,
        parking=parking,
    )


def _archive_file(file: str, option: str, overwrite: bool) -> None:
    """A run that deletes what it writes needs a file: a message goes only once its line is
    synced to disk, which stdout (a pipe, a terminal) cannot promise. And a new one, checked
    before the confirmation: a file that exists may be the archive of messages already
    deleted (an earlier run's), which ``--overwrite`` would replace."""
    if file == "-":
        raise UsageError(
            f"{option} needs a file, not stdout: each message is deleted only once its line is "
            "synced to disk",
            "give a file name",
        )
    try:
        found = os.lstat(file)
    except OSError:
        return  # missing (or unreadable: said when it is opened)
    if not stat.S_ISREG(found.st_mode):
        raise UsageError(f"{file} is not a regular file", "give a new file path to export to")
    size = found.st_size
    if not overwrite:
        hint = "choose another file" + (", or pass --overwrite (it is empty)" if not size else "")
        raise UsageError(f"{file} exists", hint)
    if size:
        raise UsageError(
            f"{file} exists and {option} deletes what it archives: --overwrite would replace "
            "what the file holds, which may be messages already deleted from a DLQ",
            "choose another file, or move this one away first",
        )


def prepare_purge_archive(
    aws: Aws, queue: str, selection: Selection, file: str, *, overwrite: bool, walking: Walking
) -> ExportPlan:
    """``purge --archive FILE``: each message is deleted only once it is safely in the file."""
    _archive_file(file, "--archive", overwrite)
    opened = open_queue(aws, queue)
    return ExportPlan(
        aws,
        opened,
        selection,
        file,
        overwrite,
        delete=True,
        walking=walking,
        title="Purge (archived)",
        confirmation=Confirmation.TYPE_NAME,
    )


@dataclass
class ImportPlan:
    """``import``: a redrive whose source is an export file (or stdin), journaled per file and
    destination so that a rerun sends only what was not acknowledged."""

    file: str
    destination: Destination
    selection: Selection
    options: RedriveOptions
    journal_path: Path | None = None
    warnings: Sequence[str] = ()
    checked: Preflight | None = None

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def notes(self) -> list[str]:
        """The fan-out of a bus replay, for the prompt and the dry run."""
        return [] if self.checked is None else self.checked.notes()

    @property
    def confirmation(self) -> Confirmation:
        return Confirmation.NONE if self.dry_run else Confirmation.ASK

    @property
    def name(self) -> str:
        return self.file

    @property
    def activity(self) -> str:
        return f"Importing {self.file}"

    @property
    def total(self) -> int | None:
        return None

    def describe(self) -> str:
        text = f"Import the messages of {self.file} to {self.destination.description}"
        if self.selection.description:
            text += f", selected by {self.selection.description}"
        if self.options.limit is not None:
            text += f", at most {self.options.limit:,}"
        return text

    def run(self, reporter: Reporter) -> RedriveResult:
        options = replace(self.options)
        with ExitStack() as resources:
            handle = resources.enter_context(_open_input(self.file))
            if not self.dry_run:
                source = "file:" + ("-" if self.file == "-" else os.path.abspath(self.file))
                journal = Journal.for_run(
                    self.journal_path,
                    source,
                    self.destination.journal_key,
                    self.destination.description,
                    uuid.uuid4().hex[:12],
                )
                resources.callback(journal.close)
                if journal.unlocked:
                    reporter.warn(journal.unlocked)
                options.journal = journal
            result = import_messages(
                handle,
                self.destination,
                self.selection,
                options,
                reporter.progress,
                read_once=self.file if self.checked is None else None,  # not sampled
            )
            if self.checked is not None:
                result.preflight = self.checked.to_json()
            if options.journal is not None and result.recovered:
                reporter.warn(
                    f"{result.recovered:,} record(s) were found in the journal of an earlier run "
                    f"of this import ({options.journal.path}); what it had delivered was not sent "
                    "again (to send everything again, pass --journal with a new file; a FIFO queue "
                    "drops, unsaid, what it got in the last 5 minutes with the same deduplication "
                    "ID)"
                )
            return result


def _open_input(file: str) -> IO[bytes]:
    if file == "-":
        return sys.stdin.buffer
    try:
        return open(file, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}", "check the path") from exc


def prepare_import(
    aws: Aws,
    file: str,
    queue: str | None,
    spec: DestinationSpec,
    selection: Selection,
    options: RedriveOptions,
    *,
    journal_path: Path | None = None,
    force: bool = False,
) -> ImportPlan:
    """Check the file can be read, resolve the destination (a queue, or ``--to-bus``) and run
    the pre-flight checks on the file's first records, as a redrive does on a sample."""
    if queue is None and spec.to_bus is None:
        raise UsageError("give a QUEUE or --to-bus", "see 'dlqctl import --help'")
    if queue is not None and spec.to_bus is not None:
        raise UsageError("give a QUEUE or --to-bus, not both", "see 'dlqctl import --help'")
    if _rereadable(file):
        _open_input(file).close()  # unreadable: said now, before the confirmation
    elif file != "-" and not os.access(file, os.R_OK):  # a pipe is opened only once
        _open_input(file).close()
    destination = build_destination(aws, None, replace(spec, to_queue=queue), [])
    warnings: list[str] = []
    checked = None
    if not _rereadable(file):
        warnings.append(
            f"{'stdin' if file == '-' else file} can be read only once (stdin, a pipe, a "
            "descriptor): the pre-flight checks did not sample it"
        )
    else:
        checked = check_sample(aws, Preflight(), destination, _first_records(file, selection))
        warnings.extend(checked.warnings)
        if options.dry_run:
            warnings.extend(f"pre-flight check failed: {failure}" for failure in checked.failures)
        else:
            enforce(checked, force=force)
    return ImportPlan(file, destination, selection, options, journal_path, warnings, checked)


def _rereadable(file: str) -> bool:
    """Whether a sample can be read before the import reads the file: a regular file, not
    stdin or a pipe (``<(zcat …)``, ``/dev/stdin``), which a sample would consume."""
    if file == "-" or os.path.realpath(file).startswith(("/dev/", "/proc/")):
        return False  # stdin or a descriptor (on macOS ``/dev/fd/N`` shares its offset)
    try:
        return stat.S_ISREG(os.stat(file).st_mode)
    except OSError:
        return False


SAMPLE_LINES = 1000
SAMPLE_BYTES = 16 * 1024 * 1024


def _first_lines(handle: IO[bytes]) -> Iterator[bytes]:
    """The lines a sample reads: at most ``SAMPLE_LINES`` and ``SAMPLE_BYTES`` (a huge line is
    cut there: a file that is no export, say)."""
    left = SAMPLE_BYTES
    for _ in range(SAMPLE_LINES):
        line = handle.readline(left)
        if not line:
            return
        yield line
        left -= len(line)
        if left <= 0:
            return


def _first_records(file: str, selection: Selection, count: int = 100) -> list[MessageView]:
    """Up to ``count`` records the selection picks, from the file's first lines
    (``_first_lines``); a file whose first lines hold no record at all is refused in one line,
    not line by line."""
    picks = selection.fresh()
    views: list[MessageView] = []
    records = 0
    first_problem: ExportLine | None = None
    with _open_input(file) as handle:
        for line in read_export(_first_lines(handle)):
            if line.message is None:
                first_problem = first_problem or line
                continue
            records += 1
            view = decode(line.message, QueueContext())
            if picks.selects(view):
                views.append(view)
                if len(views) >= count:
                    break
    if first_problem is not None and not records:
        raise _not_an_export(file, first_problem)
    return views


def _not_an_export(file: str, first_problem: ExportLine) -> UsageError:
    return UsageError(
        f"{'stdin' if file == '-' else file} is not a dlqctl export this version reads "
        f"(line {first_problem.number}: {first_problem.problem})",
        "give a file that 'dlqctl export' wrote",
    )


def _read_ahead(file: str, lines: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of an input read only once (stdin, a pipe), its first ones read ahead until
    one holds a record: one whose first lines (``SAMPLE_LINES``, or ``SAMPLE_BYTES``, whole
    lines) hold none at all is refused in one line before anything is sent, as a file is by
    its sample. The input's end, once met, is not read again (at a terminal that would wait
    for a second Ctrl-D)."""
    source = iter(lines)
    ahead: list[bytes] = []
    ended = False

    def reading() -> Iterator[bytes]:
        nonlocal ended
        size = 0
        while len(ahead) < SAMPLE_LINES and size < SAMPLE_BYTES:
            line = next(source, None)
            if line is None:
                ended = True
                return
            ahead.append(line)
            size += len(line)
            yield line

    first_problem: ExportLine | None = None
    for line in read_export(reading()):
        if line.message is not None:
            break
        first_problem = first_problem or line
    else:
        if first_problem is not None:
            raise _not_an_export(file, first_problem)
    return _ahead_then_rest(ahead, None if ended else source)


def _ahead_then_rest(ahead: list[bytes], rest: Iterator[bytes] | None) -> Iterator[bytes]:
    """The lines read ahead, each let go once handed on, then the rest of the input."""
    ahead.reverse()
    while ahead:
        yield ahead.pop()
    if rest is not None:
        yield from rest
