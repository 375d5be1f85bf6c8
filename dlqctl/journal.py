"""The redrive journal: what each run sent, had acknowledged and deleted, kept on disk.

A crash between "the destination acknowledged it" and "it was deleted from the DLQ" would
otherwise make the next run send the message again. With the journal, the next run against the
same queue and destination deletes such a message without sending it. A message whose send was
recorded but whose acknowledgement was not is *ambiguous*: it may or may not have arrived.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from dlqctl.errors import BusyError, PartialFailure, UsageError
from dlqctl.models import JsonValue, ReceivedMessage

VERSION = 1


class Op(StrEnum):
    """What a journal line records about a message."""

    SENDING = "sending"
    ACKED = "acked"
    REFUSED = "refused"
    DELETED = "deleted"


_MESSAGE_OPS = frozenset(Op)


class State(StrEnum):
    """What the journal says about a message when a run meets it again."""

    NEW = "new"
    PENDING_DELETE = "pending-delete"
    AMBIGUOUS = "ambiguous"
    DELIVERED = "delivered"


def state_dir() -> Path:
    """Where dlqctl keeps state: ``$XDG_STATE_HOME/dlqctl`` (``~/.local/state/dlqctl``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dlqctl"


def _is_journal_header(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and entry.get("op") == "journal"


def digest(message: ReceivedMessage) -> str:
    """A fingerprint of what would be sent: the body and the message attributes."""
    return message.content_digest


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60]


def stable_name(queue_arn: str, what: str) -> str:
    """A file name for state kept about a queue: readable, and unique to the queue's ARN."""
    key = hashlib.sha256(f"{queue_arn}\n{what}".encode()).hexdigest()[:12]
    return f"{_slug(queue_arn.rsplit(':', 1)[-1])}--{_slug(what)}--{key}.jsonl"


def default_path(queue_arn: str, destination: str) -> Path:
    """One journal per queue and destination."""
    return state_dir() / "journals" / stable_name(queue_arn, destination)


@dataclass(frozen=True, slots=True)
class Record:
    """The last thing the journal knows of a message not yet deleted (the acknowledged target
    ID is in the file only)."""

    op: str
    digest: str


def _delivered_key(message_id: str, fingerprint: str) -> int:
    """One int per delivered message (its ID and content; 128 bits, so two messages never
    share one in practice): a journal of a million deliveries stays under 100 MB in memory."""
    text = f"{message_id}\0{fingerprint}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "big")


@dataclass
class JournalSummary:
    path: str
    queue: str
    destination: str
    runs: int = 0
    sent: int = 0
    delivered: int = 0
    pending_delete: int = 0
    ambiguous: int = 0
    refused: int = 0

    @property
    def finished(self) -> bool:
        return self.pending_delete == 0 and self.ambiguous == 0

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "path": self.path,
            "queue": self.queue,
            "destination": self.destination,
            "runs": self.runs,
            "sent": self.sent,
            "delivered": self.delivered,
            "pending_delete": self.pending_delete,
            "ambiguous": self.ambiguous,
            "refused": self.refused,
            "finished": self.finished,
        }


class Journal:
    """An append-only JSON-lines file; acknowledgements are fsynced before any delete."""

    def __init__(self, path: Path, queue_arn: str, destination: str) -> None:
        self.path = path
        self.queue_arn = queue_arn
        self.destination = destination
        self.records: dict[str, Record] = {}
        """Messages sent, acknowledged or refused but not deleted, by ID."""
        self.delivered: set[int] = set()
        """Messages earlier runs deleted after delivery, as ``_delivered_key``s. This run's own
        are not kept in memory: its walk never takes a message it deleted a second time."""
        self.delivered_now = 0
        self.runs = 0
        self._former = ""
        self._handle: IO[str] | None = None
        self.unlocked: str | None = None
        """Why the file could not be locked for this run (a file system without locks)."""
        self._fresh = False
        self._unfinished = False
        self._created = False
        self._lock = threading.RLock()

    @classmethod
    def for_run(
        cls, path: Path | None, queue_arn: str, destination: str, former: str, run_id: str
    ) -> Journal:
        """The journal of a run from ``queue_arn`` to ``destination`` (a destination's
        ``journal_key``): at ``path`` when given, else the default one. A journal written by a
        version that named the destination ``former`` (its description) is still this
        destination's: used where no journal by the new name exists, and accepted at ``path``,
        so a run interrupted before an upgrade goes on where it stopped."""
        if path is None:
            path = default_path(queue_arn, destination)
            earlier = default_path(queue_arn, former)
            if not path.exists() and earlier.exists():
                path = earlier
        return cls.open(path, queue_arn, destination, run_id, former=former)

    @classmethod
    def open(
        cls, path: Path, queue_arn: str, destination: str, run_id: str, *, former: str = ""
    ) -> Journal:
        """Load the journal at ``path`` (creating it, owner-only) and start a run in it; one
        whose header names the destination ``former`` is accepted as this destination's."""
        journal = cls(path, queue_arn, destination)
        journal._former = former
        try:
            journal._open_locked(path)
            journal._start(run_id)
        except BaseException:
            journal.close()  # the lock too: nothing of this run holds the file any more
            raise
        return journal

    def _open_locked(self, path: Path) -> None:
        """Open (creating it), lock for this run, and read the journal at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            for _ in range(3):
                self._handle, self._created = _open_journal_file(path)
                # Locked before it is read: what another run wrote up to its end is read.
                self.unlocked = _lock_for_this_run(self._handle.fileno(), path)
                if _same_file(path, self._handle.fileno()):
                    break
                self.close()  # pruned between the open and the lock: open the new one
            else:
                raise UsageError(
                    f"the journal {path} was replaced each time it was opened",
                    "pass --journal with a file of this run's own",
                )
            text = path.read_text(encoding="utf-8")
            torn = "\n" not in text and text.startswith('{"op": "journal"')
            if torn and not _is_journal_header(text):
                # A header a crash cut short, and nothing after it: a journal not begun.
                os.ftruncate(self._handle.fileno(), 0)
                text = ""
        except (OSError, UnicodeDecodeError, RecursionError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(
                f"cannot use the journal {path}: {reason}",
                "pass --journal with a writable file path",
            ) from exc
        lines = text.splitlines()
        if lines and not _is_journal_header(lines[0]):
            raise UsageError(
                f"{path} is not a dlqctl journal; it is left as it is",
                "pass --journal with a new file or an existing journal",
            )
        self._load(lines)
        self._fresh = not text
        self._unfinished = bool(text) and not text.endswith("\n")

    def _start(self, run_id: str) -> None:
        """Write the header (a new journal) and the run's first line, synced; nothing has been
        sent yet, so a failure here is a journal that cannot be used (exit 2)."""
        header: dict[str, JsonValue] = {
            "op": "journal",
            "version": VERSION,
            "queue": self.queue_arn,
            "destination": self.destination,
        }
        run: dict[str, JsonValue] = {"op": "run", "run": run_id, "at": round(time.time(), 3)}
        try:
            # A crash left the last line without its newline: the next line must not be
            # written onto it (both would be lost).
            self._append(
                [header, run] if self._fresh else [run],
                sync=True,
                prefix="\n" if self._unfinished else "",
            )
        except PartialFailure as exc:
            # No torn header left behind to refuse the next run: the file this run created
            # is removed while it still holds it.
            handle = self._handle
            if self._created and handle is not None and _same_file(self.path, handle.fileno()):
                with contextlib.suppress(OSError):
                    self.path.unlink()
            raise UsageError(
                f"cannot use the journal {self.path}: {exc.message}",
                "free space on its disk, or pass --journal with a writable file path",
            ) from exc
        self.runs += 1

    @classmethod
    def read(cls, path: Path) -> Journal:
        """Load a journal without writing to it."""
        journal = cls(path, "", "")
        journal._load(path.read_text(encoding="utf-8").splitlines())
        return journal

    def _load(self, lines: Sequence[str]) -> None:
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            except RecursionError:
                entry = None
            op = entry.get("op") if isinstance(entry, dict) else None
            if (
                not isinstance(entry, dict)
                or not isinstance(op, str | None)
                or (op in _MESSAGE_OPS and not isinstance(entry.get("id"), str))
            ):
                raise UsageError(
                    f"{self.path} line {number} is not a dlqctl journal entry",
                    "pass --journal with a journal dlqctl wrote, or a new file",
                )
            if op == "journal":
                queue, destination = entry.get("queue", ""), entry.get("destination", "")
                if destination and destination == self._former:
                    destination = self.destination  # written by a version that named it so
                if self.queue_arn and (queue, destination) != (self.queue_arn, self.destination):
                    raise UsageError(
                        f"journal {self.path} belongs to {queue} → {destination}",
                        "use another --journal for this queue and destination",
                    )
                self.queue_arn, self.destination = queue, destination
            elif op == "run":
                self.runs += 1
            elif op == Op.DELETED:
                self._forget_delivered(entry["id"])
            elif op in (Op.SENDING, Op.ACKED, Op.REFUSED):
                previous = self.records.get(entry["id"])
                self.records[entry["id"]] = Record(
                    op, entry.get("digest") or (previous.digest if previous else "")
                )

    def _forget_delivered(self, message_id: str) -> None:
        """A message was deleted: keep only its compact key (under the lock when running)."""
        record = self.records.pop(message_id, None)
        if record is not None and record.digest:
            self.delivered.add(_delivered_key(message_id, record.digest))

    def _append(
        self,
        entries: Iterable[dict[str, JsonValue]],
        *,
        sync: bool,
        deletes: bool = False,
        prefix: str = "",
    ) -> None:
        """Write under the lock; fsync outside it, so workers' syncs overlap (group commit).
        An fsync covers everything written to the file before it, this thread's lines too.
        ``deletes``: the entries record deletes already done (said if they cannot be)."""
        lines = prefix + "".join(json.dumps(entry) + "\n" for entry in entries)
        try:
            with self._lock:
                assert self._handle is not None
                self._handle.write(lines)
                self._handle.flush()
                descriptor = self._handle.fileno()
            if sync:
                os.fsync(descriptor)
        except OSError as exc:
            raise PartialFailure(
                f"cannot write the journal {self.path}: {exc.strerror or exc}",
                "free space on its disk, then run again: "
                + (
                    "the batch was delivered and deleted, only not recorded so, and a rerun "
                    "sends none of it again"
                    if deletes
                    else "nothing this batch sent was deleted, and what it may have delivered "
                    "is sent again unless --no-resend-ambiguous"
                ),
            ) from exc

    def status(self, message: ReceivedMessage) -> str:
        """What the journal says about a message: new, pending-delete, ambiguous or delivered."""
        fingerprint = digest(message)
        with self._lock:
            record = self.records.get(message.message_id)
            delivered = _delivered_key(message.message_id, fingerprint) in self.delivered
        if record is None or record.digest != fingerprint:
            return State.DELIVERED if delivered else State.NEW
        if record.op == Op.REFUSED:
            return State.NEW
        if record.op == Op.ACKED:
            return State.PENDING_DELETE
        return State.AMBIGUOUS

    def sending(self, messages: Sequence[ReceivedMessage]) -> None:
        entries: list[dict[str, JsonValue]] = []
        with self._lock:
            for message in messages:
                fingerprint = digest(message)
                self.records[message.message_id] = Record(Op.SENDING, fingerprint)
                entries.append({"op": Op.SENDING, "id": message.message_id, "digest": fingerprint})
        self._append(entries, sync=True)

    def acked(self, acknowledged: Sequence[tuple[ReceivedMessage, str]]) -> None:
        """Record acknowledgements, synced to disk: only then may the messages be deleted."""
        entries: list[dict[str, JsonValue]] = []
        with self._lock:
            for message, target_id in acknowledged:
                fingerprint = digest(message)
                self.records[message.message_id] = Record(Op.ACKED, fingerprint)
                entries.append(
                    {
                        "op": Op.ACKED,
                        "id": message.message_id,
                        "digest": fingerprint,
                        "target": target_id,
                    }
                )
        if entries:
            self._append(entries, sync=True)

    def refused(self, messages: Sequence[ReceivedMessage]) -> None:
        with self._lock:
            for message in messages:
                self.records[message.message_id] = Record(Op.REFUSED, digest(message))
        if messages:
            self._append(
                [{"op": Op.REFUSED, "id": message.message_id} for message in messages], sync=False
            )

    def deleted(self, message_ids: Sequence[str]) -> None:
        with self._lock:
            for message_id in message_ids:
                self.records.pop(message_id, None)
            self.delivered_now += len(message_ids)
        if message_ids:
            self._append(
                [{"op": Op.DELETED, "id": message_id} for message_id in message_ids],
                sync=False,
                deletes=True,
            )

    def summary(self) -> JournalSummary:
        result = JournalSummary(str(self.path), self.queue_arn, self.destination, runs=self.runs)
        result.delivered = result.sent = len(self.delivered) + self.delivered_now
        for record in self.records.values():
            result.sent += 1
            if record.op == Op.ACKED:
                result.pending_delete += 1
            elif record.op == Op.SENDING:
                result.ambiguous += 1
            elif record.op == Op.REFUSED:
                result.refused += 1
        return result

    def close(self) -> None:
        """Close the file (and so its lock). What a failed write left in the buffer is not
        written again here: that failure was said when it happened."""
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                with contextlib.suppress(OSError, ValueError):
                    os.close(handle.fileno())


def _open_journal_file(path: Path) -> tuple[IO[str], bool]:
    """The journal file opened to append, and whether this call created it. Only a regular
    file: never waits on a FIFO, never writes to a device."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK
    try:
        descriptor, created = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600), True
    except FileExistsError:
        descriptor, created = os.open(path, flags), False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "a", encoding="utf-8"), created


def _same_file(path: Path, descriptor: int) -> bool:
    """Whether ``path`` still names the file open at ``descriptor`` (not deleted since)."""
    try:
        named, opened = os.stat(path), os.fstat(descriptor)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _lock_for_this_run(descriptor: int, path: Path) -> str | None:
    """One run at a time in a journal (two imports of one file would each send everything):
    a lock the system drops when the process ends, however it ends. Returns why it could not
    be locked where the file system has no such locks (the run goes on)."""
    try:
        import fcntl
    except ImportError:  # no such locks here (Windows)
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise BusyError(
            f"another run is using the journal {path}",
            "wait for it to end, or pass --journal with another file",
        ) from exc
    except OSError as exc:  # a file system without such locks (some NFS, FUSE, SMB mounts)
        return (
            f"the journal {path} cannot be locked ({exc.strerror or exc}): make sure no other "
            "run uses it at the same time"
        )
    return None


def journals_for(queue_arn: str) -> list[JournalSummary]:
    """Summaries of every journal kept for a queue."""
    directory = state_dir() / "journals"
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.jsonl")):
        try:
            journal = Journal.read(path)
        except (OSError, UnicodeDecodeError, UsageError):
            continue  # not a journal dlqctl wrote (or not readable): not one of this queue's
        if journal.queue_arn == queue_arn:
            found.append(journal.summary())
    return found


def _unlink_unless_in_use(path: Path) -> bool:
    """Delete a journal no run is using (one that is, between its batches, has nothing
    pending either); whether it was deleted."""
    try:
        import fcntl
    except ImportError:  # no such locks here (Windows)
        path.unlink(missing_ok=True)
        return True
    try:
        # Opened to write (NFS locks only such files), without waiting on a FIFO.
        descriptor = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a run holds it
        except OSError:
            pass  # a file system without locks: deleted as before
        if not _same_file(path, descriptor):
            return False  # replaced since it was listed: the new one is another's
        try:  # what was read before the lock may be stale: read again under it
            if not Journal.read(path).summary().finished:
                return False
        except (OSError, UnicodeDecodeError, UsageError):
            return False
        path.unlink(missing_ok=True)  # under the lock: a run that opens it meanwhile sees
        return True  # that it was deleted (``_same_file``) and opens a new one
    finally:
        os.close(descriptor)


def journal_records(queue_arn: str, *, prune: bool = False) -> list[dict[str, JsonValue]]:
    """The journals kept for a queue, as ``dlqctl journal`` shows them; with ``prune``, the
    journals of finished runs (nothing pending) are deleted and marked ``pruned``."""
    records = []
    for summary in journals_for(queue_arn):
        data = summary.to_json()
        if prune and summary.finished and _unlink_unless_in_use(Path(summary.path)):
            data["pruned"] = True
        records.append(data)
    return records
