"""One redrive per queue at a time: a lease kept in a queue tag.

Two operators redriving the same DLQ at once would send messages twice. Before a redrive,
dlqctl writes a tag naming its run and an expiry, reads it back to detect a concurrent writer
(once the tag has had time to settle, ``DLQCTL_LEASE_SETTLE_SECONDS``, while the run already
works), reads it again before each renewal (a run whose lease another run took, after a stall
or with ``--force``, stops), and removes it at the end. The tag's value uses only the
characters SQS allows in one (letters, digits, spaces and ``_ . : / = + - @``: the SQS
developer guide's queue quotas), as ``owner=… run=… expires=… pid=…``. Limits: SQS tags are
not a lock (two writers within the same instant can both read their own value back, as tag
writes are eventually consistent), a run killed hard leaves its lease until it expires
(``LEASE_SECONDS``), and only dlqctl honours it. It narrows the race; the journal still
protects each run's own messages.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dlqctl.aws import Aws
from dlqctl.errors import AccessError, DlqctlError, LeaseHeld
from dlqctl.models import QueueRef
from dlqctl.plans import Reporter

LEASE_TAG = "dlqctl:redrive-lease"
LEASE_SECONDS = 120


def _default_settle_seconds() -> float:
    """How long to wait before reading the tag back (``DLQCTL_LEASE_SETTLE_SECONDS``, 1 s)."""
    try:
        return float(os.environ.get("DLQCTL_LEASE_SETTLE_SECONDS") or 1.0)
    except ValueError:
        return 1.0


@dataclass(frozen=True)
class Lease:
    owner: str
    run: str
    expires_at: float
    pid: int | None = None

    def encode(self) -> str:
        """The tag's value: ``owner=… run=… expires=… [pid=…]``, in SQS's tag characters."""
        parts = [f"owner={_tag_text(self.owner)}", f"run={_tag_text(self.run)}"]
        parts.append(f"expires={int(self.expires_at)}")
        if self.pid is not None:
            parts.append(f"pid={self.pid}")
        return " ".join(parts)

    @classmethod
    def decode(cls, text: str) -> Lease | None:
        """A lease from a tag's value (also the JSON an earlier version wrote); None when the
        value is not a lease."""
        try:
            if text.startswith("{"):
                data = json.loads(text)
            else:
                data = dict(part.split("=", 1) for part in text.split())
            pid = data.get("pid")
            return cls(
                str(data["owner"]),
                str(data["run"]),
                float(data["expires"]),
                int(pid) if pid is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            return None

    def is_dead_local_run(self) -> bool:
        """Whether the lease belongs to a process of this machine that no longer runs."""
        me = who()
        if self.owner not in (me, _tag_text(me)) or self.pid is None:  # as written, or before
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def _tag_text(text: str) -> str:
    """``text`` in the characters SQS allows in a tag value (others become ``_``)."""
    return "".join(c if c.isalnum() or c in "_.:/+-@" else "_" for c in text)


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:100]


class QueueLease:
    """The lease of one run on one queue."""

    def __init__(
        self,
        aws: Aws,
        queue: QueueRef,
        run: str,
        *,
        clock: Callable[[], float] = time.time,
        settle_seconds: float | None = None,
    ) -> None:
        self.aws = aws
        self.queue = queue
        self.run = run
        self.clock = clock
        self.settle_seconds = (
            settle_seconds if settle_seconds is not None else _default_settle_seconds()
        )
        self.held: Lease | None = None
        self._verify_at: float | None = None
        self._lock = threading.Lock()

    def current(self) -> Lease | None:
        value = self.aws.sqs.tags(self.queue).get(LEASE_TAG)
        return Lease.decode(value) if value else None

    def acquire(self, *, force: bool = False) -> Lease | None:
        """Take the lease; returns the live lease that was taken over, if any (with ``force``,
        or because it belongs to a run on this machine that is gone)."""
        existing = self.current()
        overridden = None
        if existing and existing.run != self.run and existing.expires_at > self.clock():
            if not force and not existing.is_dead_local_run():
                left = int(existing.expires_at - self.clock())
                raise LeaseHeld(
                    f"queue {self.queue.name} is being redriven by {existing.owner} "
                    f"(run {existing.run}, lease ends in {left}s)",
                    "wait for that run to finish, or pass --force if it is gone",
                )
            overridden = existing
        self._write()
        self._verify_at = time.monotonic() + self.settle_seconds
        return overridden

    def _verify(self) -> None:
        """Read the tag back once it has settled: another run that wrote it at the same moment
        wins, and this one stops. The run does not wait for it: until then SQS's visibility
        keeps two runs' messages apart."""
        self._verify_at = None
        after = self.current()
        if after is None or after.run != self.run:
            self.held = None
            raise LeaseHeld(
                f"another run took the redrive lease of {self.queue.name} at the same moment",
                "run again in a little while",
            )

    def _write(self) -> None:
        self.held = Lease(who(), self.run, self.clock() + LEASE_SECONDS, os.getpid())
        self.aws.sqs.tag(self.queue, {LEASE_TAG: self.held.encode()})

    def renew(self) -> None:
        """Called before each batch (from any thread): check the lease once it has settled,
        and extend it when less than half of it is left, after reading it again: a run that
        stalled past its lease, or whose lease was taken with ``--force``, finds another run's
        name there and stops instead of taking it back."""
        with self._lock:
            if self._verify_at is not None and time.monotonic() >= self._verify_at:
                self._verify()
            if self.held and self.held.expires_at - self.clock() < LEASE_SECONDS / 2:
                current = self.current()
                if current is not None and current.run != self.run:
                    self.held = None
                    raise LeaseHeld(
                        f"{current.owner} (run {current.run}) took the redrive lease of "
                        f"{self.queue.name} while this run worked; this run stopped",
                        "let that run finish; what this run did not do is still in the DLQ",
                    )
                self._write()

    def release(self) -> None:
        if self.held is None:
            return
        current = self.current()
        if current is not None and current.run == self.run:
            self.aws.sqs.untag(self.queue, [LEASE_TAG])
        self.held = None


def give_back_lease(lease: QueueLease, reporter: Reporter) -> None:
    """Give the lease back at the end of a run; when that fails (the endpoint gone), say so and
    let the run's own result or error stand: the lease runs out by itself."""
    try:
        lease.release()
    except DlqctlError as exc:
        reporter.warn(
            f"the redrive lease on {lease.queue.name} could not be given back ({exc.message}); "
            f"it runs out within {LEASE_SECONDS} s"
        )


def take_lease(lease: QueueLease, force: bool, reporter: Reporter) -> bool:
    """Take the queue's lease; False when the credentials may not tag the queue (the run goes
    on, with a warning). A live lease of another run raises ``LeaseHeld``."""
    try:
        overridden = lease.acquire(force=force)
    except AccessError as exc:
        reporter.warn(
            f"no redrive lease (cannot tag {lease.queue.name}: {exc.message}); "
            "make sure nobody else redrives this queue now"
        )
        return False
    if overridden is not None:
        reporter.warn(f"took the redrive lease from {overridden.owner} (run {overridden.run})")
    return True
