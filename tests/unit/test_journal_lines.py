"""The journal's file after a crash and on a full disk (a real file in a temporary folder)."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import pytest

from dlqctl.errors import BusyError, ExitCode, PartialFailure, UsageError
from dlqctl.journal import Journal, State
from dlqctl.models import ReceivedMessage

QUEUE = "arn:aws:sqs:us-east-1:111122223333:orders-dlq"
MESSAGE = ReceivedMessage("m-1", "h-1", '{"orderId":"o-1"}')


def test_a_last_line_a_crash_left_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    first = Journal.open(path, QUEUE, "queue orders", "run-1")
    first.sending([MESSAGE])
    first.acked([(MESSAGE, "target-1")])
    first.close()
    # The crash: the acknowledgement reached the disk, its newline did not.
    path.write_bytes(path.read_bytes().removesuffix(b"\n"))
    second = Journal.open(path, QUEUE, "queue orders", "run-2")
    second.close()
    assert second.status(MESSAGE) == State.PENDING_DELETE  # deleted, never sent again
    third = Journal.open(path, QUEUE, "queue orders", "run-3")
    third.close()
    assert third.status(MESSAGE) == State.PENDING_DELETE, "the next run's line is on its own"
    assert third.runs == 3


def test_a_journal_that_cannot_be_written_stops_the_run_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl", QUEUE, "queue orders", "run-1")

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dlqctl.journal.os.fsync", full)
    with pytest.raises(PartialFailure) as stopped:
        journal.acked([(MESSAGE, "target-1")])
    assert stopped.value.exit_code == ExitCode.PARTIAL
    assert "cannot write the journal" in stopped.value.message
    assert "No space left on device" in stopped.value.message
    journal.close()


def test_one_run_at_a_time_in_a_journal(tmp_path: Path) -> None:
    """Two imports of one file at once would each send everything: the second is refused
    (exit 6) until the first has ended."""
    path = tmp_path / "journal.jsonl"
    first = Journal.open(path, QUEUE, "queue orders", "run-1")
    with pytest.raises(BusyError) as refused:
        Journal.open(path, QUEUE, "queue orders", "run-2")
    assert refused.value.exit_code == ExitCode.BUSY
    assert f"another run is using the journal {path}" in refused.value.message
    first.sending([MESSAGE])
    first.acked([(MESSAGE, "target-1")])
    first.close()
    second = Journal.open(path, QUEUE, "queue orders", "run-2")
    assert second.status(MESSAGE) == State.PENDING_DELETE, "what the first run wrote is read"
    second.close()


def test_a_journal_on_a_file_system_without_locks_is_used_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    def no_locks(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    journal = Journal.open(tmp_path / "journal.jsonl", QUEUE, "queue orders", "run-1")
    assert journal.unlocked is not None and "cannot be locked (No locks available)" in (
        journal.unlocked
    )
    journal.sending([MESSAGE])
    journal.close()


def test_prune_leaves_the_journal_of_a_run_under_way(tmp_path: Path) -> None:
    """Between its batches a run's journal has nothing pending, like a finished one: prune
    must not delete it under the run (a crash then would resend what it had delivered)."""
    from dlqctl import journal as journals

    path = tmp_path / "journal.jsonl"
    running = Journal.open(path, QUEUE, "queue orders", "run-1")
    running.sending([MESSAGE])
    running.acked([(MESSAGE, "target-1")])
    running.deleted([MESSAGE.message_id])
    assert journals._unlink_unless_in_use(path) is False
    assert path.exists()
    running.close()
    assert journals._unlink_unless_in_use(path) is True
    assert not path.exists()


def test_a_journal_whose_header_cannot_be_written_is_refused_and_leaves_no_torn_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    real_fsync = os.fsync

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dlqctl.journal.os.fsync", full)
    with pytest.raises(UsageError) as refused:
        Journal.open(path, QUEUE, "queue orders", "run-1")
    assert refused.value.exit_code == ExitCode.USAGE
    assert "No space left on device" in refused.value.message
    assert not path.exists(), "nothing left to refuse the next run"
    monkeypatch.setattr("dlqctl.journal.os.fsync", real_fsync)
    Journal.open(path, QUEUE, "queue orders", "run-2").close()


def test_a_header_a_crash_cut_short_is_a_journal_not_begun(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"op": "journal", "v')
    journal = Journal.open(path, QUEUE, "queue orders", "run-1")
    journal.close()
    assert json.loads(path.read_text().splitlines()[0])["queue"] == QUEUE


def test_closing_after_a_failed_write_does_not_fail_again(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl", QUEUE, "queue orders", "run-1")
    handle = journal._handle
    assert handle is not None

    class Failing(io.TextIOWrapper):
        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    failing = Failing(io.FileIO(tmp_path / "disk", "w"), encoding="utf-8")
    journal._handle = failing
    with pytest.raises(PartialFailure):
        journal.acked([(MESSAGE, "target-1")])
    journal.close()  # the same failure again would hide the first: not raised here
    handle.close()


def test_a_journal_path_that_is_not_a_regular_file_is_refused_and_left_alone(
    tmp_path: Path,
) -> None:
    """A FIFO (or a device: never tried here, a failed run must not be able to remove one) is
    refused at once, not waited on, and left where it is."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError) as refused:
        Journal.open(fifo, QUEUE, "queue orders", "run-1")
    assert refused.value.exit_code == ExitCode.USAGE
    assert fifo.exists()


def test_a_journal_this_run_did_not_create_is_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text("")  # made by someone else, empty

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dlqctl.journal.os.fsync", full)
    with pytest.raises(UsageError):
        Journal.open(path, QUEUE, "queue orders", "run-1")
    assert path.exists()
