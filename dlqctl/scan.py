"""Walking a queue safely: receive and hold, dedupe by message ID, release everything at the end."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Protocol, TypeVar, cast

from dlqctl.aws import SQS_BATCH, Aws, Sqs
from dlqctl.envelopes import QueueContext, decode
from dlqctl.errors import DlqctlError, InFlightCap, UsageError, whole_call_failed
from dlqctl.filters import Selection
from dlqctl.interrupts import (
    Deferral,
    deferrable_signals,
    interrupt_after_block,
    interrupt_for,
    signals_noted,
)
from dlqctl.models import (
    Deletion,
    JsonValue,
    MessageView,
    QueueAttributes,
    QueueRef,
    ReceivedMessage,
    compact_id,
)

MAX_HOLD_SECONDS = 43200
"""SQS's largest visibility timeout."""


def default_hold_seconds(visible: int) -> int:
    """A hold long enough to walk ``visible`` messages without renewing (at ~100 messages/s)."""
    return max(60, min(MAX_HOLD_SECONDS, 60 + 2 * (visible // 100)))


SQS_IN_FLIGHT_LIMIT = 120_000
"""Messages one queue may have in flight (AWS-DLQ-REFERENCE B, standard and FIFO alike)."""
CAP_SHARE = 0.9
"""A walk counts as capped when the queue's in-flight count reaches this share of the limit."""


def sqs_in_flight_limit() -> int:
    """The limit dlqctl assumes: ``DLQCTL_SQS_IN_FLIGHT_LIMIT`` if set (should AWS change it),
    else 120,000."""
    try:
        return int(os.environ.get("DLQCTL_SQS_IN_FLIGHT_LIMIT") or SQS_IN_FLIGHT_LIMIT)
    except ValueError as exc:
        raise UsageError(
            "DLQCTL_SQS_IN_FLIGHT_LIMIT is not a number", "unset it, or give e.g. 120000"
        ) from exc


HAND_OUT_POLL_SECONDS = 0.5
"""How often a read-ahead waiting for its readers looks at the signals noted meanwhile."""
_READER_ENDED = object()
"""A read-ahead thread's last item: it receives no more."""

READERS = 10
"""Receives a walk keeps under way at once: far from the region a walk waits on the network,
and alone it also wakes from idle for every batch, which costs CPU of its own."""


def cap_reason(limit: int) -> str:
    """Why a capped walk stopped, with the limit it assumed."""
    return (
        f"SQS lets a reader hold about {limit:,} messages of a queue at a time, and this walk "
        "reached that: the rest of the queue was not seen"
    )


@dataclass(frozen=True)
class Coverage:
    """How much of a queue a walk saw: everything, or (capped) only the first ``seen``; and
    how many of the messages it held could not be made visible again (``unreleased``: hidden
    until their hold ends)."""

    complete: bool
    seen: int
    queue_depth: int | None
    reason: str | None = None
    unreleased: int = 0
    arrived: int | None = None
    """Messages sent to the queue after a bounded walk began: not part of it, left there (None
    where the walk did not look for them: unbounded, or no time to tell them by)."""

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "complete": self.complete,
            "seen": self.seen,
            "queue_depth": self.queue_depth,
            "reason": self.reason,
            "unreleased": self.unreleased,
            "arrived": self.arrived,
        }


def describe_coverage(coverage: Mapping[str, JsonValue]) -> str:
    """One line for a terminal: 'saw 118,112 of ~800,000: SQS lets …'."""
    depth = coverage.get("queue_depth")
    of = f"~{depth:,}" if isinstance(depth, int) else "an unknown number"
    return f"saw {coverage.get('seen', 0):,} of {of}: {coverage.get('reason')}"


@dataclass
class ScanStats:
    """Counts of what a walk did, for the result and for tests."""

    receives: int = 0
    received: int = 0
    duplicates: int = 0
    renewed: int = 0
    released: int = 0
    release_failures: int = 0
    renewal_failures: int = 0
    """Holds that could not be extended (refused, the endpoint not answering, or past SQS's 12
    hours from a message's receive): those messages became visible again."""
    capped: str | None = None
    """Why the walk stopped before the end of the queue (SQS's in-flight cap), if it did."""


class _Identified(Protocol):
    @property
    def message_id(self) -> str: ...


ViewT = TypeVar("ViewT", bound=_Identified)

ARRIVAL_SLACK_MS = 1000
"""How much later than its start (``QueueAttributes.read_at_ms``) a message's ``SentTimestamp``
must be for a bounded walk to take it for one that arrived during the walk."""

FIFO_DELETE_WAIT_SECONDS = 1.0
"""How long an empty receive of a FIFO walk that deletes as it goes waits for a delete to free
the groups it holds before it counts as the end (``QueueScan.go_on``)."""


class QueueScan:
    """Receives a queue's messages in batches and holds every one it has seen.

    Each message is yielded once, however often SQS delivers it. Held messages stay invisible
    (the hold is renewed before it runs out) until ``release()``, which sets their visibility
    back to 0; use the scan as a context manager so that happens on errors and Ctrl-C too.
    Messages the caller deleted are forgotten so they are not released.

    The walk ends on an empty long-poll receive, after ``max_messages`` new messages, or after
    several receives in a row that bring nothing new.

    A bounded walk (``max_messages``: the messages visible at its start) given the time of
    that count (``started``) is about the messages in the queue then. One sent later (its
    ``SentTimestamp``: a new failure, or a replay that failed again and came back) *arrived*:
    it is held like the messages a selection leaves, but takes no place in the bound, so the
    walk still reaches every message it is for, and ``without_arrivals`` leaves it out of
    what the caller acts on. Up to as many arrivals as the bound are not counted; past that
    they are, and a walk that then ends on its bound says it may have missed some.

    ``next_batch`` may be called from several threads at once; each caller then owns the
    batch it got.

    SQS lets a queue have about 120,000 messages in flight; past that a long poll comes back
    empty (a short poll fails with ``OverLimit``), and a walk that holds what it has seen would
    look finished when it is not. So an empty receive while this walk holds messages is checked
    against the queue: messages still visible while the queue's in-flight count is near the
    limit means the walk is *capped*, and ``coverage()`` says so. (Visible messages alone prove
    nothing: the counts lag, and a FIFO queue holds back the rest of a group whose head is
    held.)
    """

    STALE_RECEIVES = 5
    """Receives in a row with only already-seen messages before the walk gives up."""

    def __init__(
        self,
        sqs: Sqs,
        queue: QueueRef,
        *,
        hold_seconds: int,
        wait_seconds: int = 1,
        max_messages: int | None = None,
        depth_at_start: int | None = None,
        in_flight_limit: int | None = None,
        short_reason: str | None = None,
        fifo: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sqs = sqs
        self.fifo = fifo
        self._arrival_from: int | None = None
        """``SentTimestamp`` from which a message arrived after the walk began (``started``)."""
        self._arrivals: set[int | str] = set()  # compact_id of each arrival
        self._uncounted: set[int | str] = set()
        """Arrivals the bound does not count (at most ``max_messages`` of them)."""
        self.leaves_arrivals = True
        """Whether the caller leaves arrivals alone (``coverage`` counts them as left)."""
        self._deleted = 0
        self._deleted_at_end = 0
        """``_deleted`` when the receive that ended the walk was sent (a FIFO walk goes on
        while its deletes free groups: ``go_on``)."""
        self.depth_at_start = depth_at_start
        self.in_flight_at_start = 0
        """Messages others held when the walk began: at the cap already, an empty first
        receive is the cap, not the end of the queue."""
        self.short_reason = short_reason
        """Why a walk that an empty receive ended before it saw ``depth_at_start`` messages
        missed some (a FIFO queue's held groups, messages moved on by the queue's own
        RedrivePolicy), or None where that proves nothing (the counts lag, others consume)."""
        self._ended_empty = False
        self._ended_stale = False
        """The walk ended on receives of messages it had already seen (their holds ran out)."""
        self._cut = False
        self.in_flight_limit = in_flight_limit or sqs_in_flight_limit()
        self.queue = queue
        self.hold_seconds = max(1, min(MAX_HOLD_SECONDS, hold_seconds))
        self.wait_seconds = max(0, min(20, wait_seconds))
        self.max_messages = max_messages
        self.stats = ScanStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._receive_ended = threading.Condition(self._lock)
        self._deletes = threading.Condition(self._lock)
        self._receiving = 0
        """Receives under way in other workers (a bounded walk's last ones are not doubled)."""
        self._held: dict[str, str] = {}
        self._seen: set[int | str] = set()  # compact_id of each message seen
        self._extra_handles: list[str] = []
        self._expiry: deque[tuple[float, str]] = deque()
        self._stale = 0
        self._done = False
        self._interrupt: KeyboardInterrupt | None = None
        self._readers: list[tuple[threading.Event, threading.Thread]] = []
        self._closing = threading.Event()
        """Set by a signal during a read-ahead and by ``release``: no receive starts after."""

    def __enter__(self) -> QueueScan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        signalled = isinstance(exc, KeyboardInterrupt) or self._interrupt is not None
        if signalled and self.stats.capped is None:
            self._cap("a signal stopped the walk")  # before the release, which a signal may cut
        noted = self.release(signalled=signalled)
        if isinstance(exc, DlqctlError):
            if self.stats.capped is None:
                self._cap("an error stopped the walk")
            if self.stats.release_failures:
                exc.message = f"{exc.message.rstrip('.')}; {self.unreleased_note()}"
                exc.add_note(self.unreleased_note())  # for a caller that raises its cause
            return
        interrupt = exc if isinstance(exc, KeyboardInterrupt) else self._interrupt
        self._interrupt = None
        if interrupt is None and noted is not None:
            interrupt = interrupt_for(noted)  # the first signal came during the release
        if exc is not None and not isinstance(exc, (KeyboardInterrupt, BrokenPipeError)):
            interrupt = None  # an unexpected error is not hidden behind a signal
        carrier = interrupt or exc  # what the run ends on says what was left hidden
        if carrier is not None and self.stats.release_failures:
            carrier.add_note(self.unreleased_note())
        if interrupt is not None and interrupt is not exc:
            raise interrupt from exc  # a signal ends the run, even one a broken pipe ends

    def unreleased_note(self) -> str:
        """What an operator must know when held messages could not be released."""
        return (
            f"{self.stats.release_failures:,} held message(s) could not be made visible "
            f"again: they reappear when their hold ends, within {self.hold_seconds:,} s"
        )

    @property
    def seen(self) -> int:
        return len(self._seen)

    def started(self, started_ms: int | None) -> None:
        """A bounded walk's start (``read_at_ms`` of the count it is bounded by): messages
        sent later are arrivals (see the class)."""
        if started_ms is not None and self.max_messages is not None:
            self._arrival_from = started_ms + ARRIVAL_SLACK_MS

    @property
    def _counted(self) -> int:
        """The messages seen that count against the bound."""
        return len(self._seen) - len(self._uncounted)

    def without_arrivals(self, views: list[ViewT]) -> list[ViewT]:
        """The views of messages that were in the queue when the walk began."""
        if not self._arrivals:
            return views
        return [view for view in views if compact_id(view.message_id) not in self._arrivals]

    def came_back(self, message_ids: Sequence[str]) -> None:
        """Messages the walk took that are not part of it (a canary's replays coming back):
        those the bound still counts stop counting, so the walk reaches what it is for."""
        with self._lock:
            counted = sum(1 for i in message_ids if compact_id(i) not in self._uncounted)
            if self.max_messages is not None:
                self.max_messages += counted

    def next_batch(self) -> list[ReceivedMessage] | None:
        """The next receive's new messages (possibly none), or None when the walk is over.

        A signal that arrives during a receive takes effect at the next call (or when the walk
        ends): the batch it brought is held, returned and shown, never hidden unseen. (A
        read-ahead's readers leave a noted signal to ``read_ahead``.)
        """
        if self._interrupt is not None and threading.current_thread() is threading.main_thread():
            interrupt, self._interrupt = self._interrupt, None
            raise interrupt
        with self._lock:
            while True:
                if self._closing.is_set():
                    return None
                if self._done or (
                    self.max_messages is not None and self._counted >= self.max_messages
                ):
                    self._done = True
                    return None
                if self.max_messages is None:
                    wanted = SQS_BATCH
                    break
                wanted = self.max_messages - self._counted
                # The receives under way may bring all that is left: another one now would
                # find nothing visible and wait out its long poll at the end of every walk.
                # Wait for them instead; what they did not bring is asked for then.
                if not self._receiving or wanted > SQS_BATCH * self._receiving:
                    break
                self._receive_ended.wait()
            self._receiving += 1
        self.renew_expiring()
        batch: list[ReceivedMessage] | None = None
        try:
            with interrupt_after_block():
                batch = self._receive_and_hold(wanted)
        except KeyboardInterrupt as exc:
            self._interrupt = exc  # the receive and the hold completed: raised at the next call
        finally:
            with self._lock:
                self._receiving -= 1
                self._receive_ended.notify_all()
        return batch

    def _receive_and_hold(self, wanted: int) -> list[ReceivedMessage] | None:
        deleted_before = self._deleted
        # Arrivals take no place in the bound: once there are some, the walk's last messages
        # may be behind them.
        asked = SQS_BATCH if self._arrivals else min(SQS_BATCH, wanted)
        try:
            received = self.sqs.receive(
                self.queue,
                max_messages=asked,
                wait_seconds=self.wait_seconds,
                hold_seconds=self.hold_seconds,
            )
        except InFlightCap:
            self._cap(cap_reason(self.in_flight_limit))
            return None
        if not received and self._capped_now():
            return None
        with self._lock:
            self.stats.receives += 1
            self.stats.received += len(received)
            if not received and self.fifo:
                if self._deleted and self._deleted == deleted_before and self._held:
                    # Held groups this walk deletes as it goes: wait a moment for a delete.
                    self._deletes.wait_for(
                        lambda: self._deleted != deleted_before or self._closing.is_set(),
                        timeout=FIFO_DELETE_WAIT_SECONDS,
                    )
                if self._deleted > deleted_before:
                    # The walk's deletes freed groups while this receive waited: it proves
                    # nothing (``go_on``).
                    self._stale = 0
                    return []
                self._deleted_at_end = deleted_before
            fresh = self._hold(received)
            self._stale = 0 if fresh else self._stale + 1
            if not received or self._stale >= self.STALE_RECEIVES:
                self._done = True
                self._ended_empty = self._ended_empty or not received
                self._ended_stale = bool(received)
        return fresh if received else None

    def poll(self, wait_seconds: int = 0) -> list[ReceivedMessage]:
        """One receive past the walk's bound and end, for a watch looking for messages that
        arrive during a run: the new messages, held like the walk's. It never ends the walk."""
        if self._interrupt is not None:
            interrupt, self._interrupt = self._interrupt, None
            raise interrupt
        self.renew_expiring()
        fresh: list[ReceivedMessage] = []
        try:
            with interrupt_after_block():
                try:
                    received = self.sqs.receive(
                        self.queue,
                        max_messages=SQS_BATCH,
                        wait_seconds=max(0, min(20, wait_seconds)),
                        hold_seconds=self.hold_seconds,
                    )
                except InFlightCap:
                    return fresh
                with self._lock:
                    self.stats.receives += 1
                    self.stats.received += len(received)
                    fresh = self._hold(received, bounded=False)
        except KeyboardInterrupt as exc:
            self._interrupt = exc
        return fresh

    def over_bound(self) -> int:
        """How many of the messages taken are past the walk's bound (0 for an unbounded walk)."""
        with self._lock:
            if self.max_messages is None:
                return 0
            return max(0, self._counted - self.max_messages)

    def _capped_now(self) -> bool:
        """After an empty receive: whether the in-flight limit stopped the walk (then marked)."""
        with self._lock:
            holding = bool(self._held)
        if not holding and self.in_flight_at_start < CAP_SHARE * self.in_flight_limit:
            return False
        attributes = self.sqs.attributes(self.queue)
        if attributes.visible and attributes.in_flight >= CAP_SHARE * self.in_flight_limit:
            self._cap(cap_reason(self.in_flight_limit))
            return True
        return False

    def _cap(self, reason: str) -> None:
        with self._lock:
            self.stats.capped = reason
            self._done = True

    def coverage(self) -> Coverage:
        """How much of the queue the walk saw, and why it stopped early if it did."""
        reason = self.stats.capped
        if (
            reason is None
            and self._ended_empty
            and not self._cut
            and self.short_reason is not None
            and self.depth_at_start is not None
            and self.seen - len(self._arrivals) < self.depth_at_start
        ):
            reason = f"{self.short_reason}; run it again for the rest"
        if (
            reason is None
            and len(self._arrivals) > len(self._uncounted)
            and self.max_messages is not None
            and self._counted >= self.max_messages
            and not self._cut
        ):
            reason = (
                f"{len(self._arrivals):,} messages arrived during the walk, more than the "
                f"{self.max_messages:,} it was for; it stopped at that many again, so some that "
                "were in the queue at its start may not have been read; run it again for the rest"
            )
        if reason is None and self._ended_stale and self.stats.renewal_failures:
            reason = (
                f"the holds of {self.stats.renewal_failures:,} message(s) could not be extended, "
                "so they became visible again and the walk, seeing them again, stopped before "
                "the end of the queue; run it again for the rest"
            )
        return Coverage(
            complete=reason is None,
            seen=self.seen - (len(self._arrivals) if self.leaves_arrivals else 0),
            queue_depth=self.depth_at_start,
            reason=reason,
            unreleased=self.stats.release_failures,
            arrived=(
                None
                if self._arrival_from is None
                else len(self._arrivals)
                if self.leaves_arrivals
                else 0
            ),
        )

    def cut(self) -> None:
        """The caller stopped the walk on purpose (its limit, what it came for): that it saw
        fewer messages than the queue held says nothing of what the walk missed."""
        self._cut = True

    def batches(self) -> Iterator[list[ReceivedMessage]]:
        """Yield each receive's new messages (a batch may be empty when all were duplicates)."""
        while (batch := self.next_batch()) is not None:
            yield batch

    def read_ahead(self, readers: int) -> Iterator[list[ReceivedMessage]]:
        """Like ``batches``, received by ``readers`` threads at once (by this one when 1), at
        most two batches per reader ahead of the caller; each batch's hold is renewed before it
        is handed out, as ``next_batch`` does.

        A signal that arrives while this waits for a batch is noted, not raised at once: no
        receive starts after it, no batch is handed out after it (a delete or an export does
        not go on with what the receives under way bring), and once those receives have ended
        it is raised, here or by the scan's exit when the caller stopped first. ``release``
        stops the readers and waits for their receives first however the walk ends (even while
        this generator is left suspended by an error or a signal): what they took is held, so
        it is made visible again. A reader's failure is raised here once the others stopped
        (a signal noted before it wins).
        """
        if readers <= 1:
            yield from self.batches()
            return
        arrived: queue.SimpleQueue[object] = queue.SimpleQueue()
        room = threading.Semaphore(2 * readers)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=self._read, args=(arrived, room, stop), name=f"read-{n}", daemon=True
            )
            for n in range(readers)
        ]
        self._readers.extend((stop, thread) for thread in threads)
        for thread in threads:
            thread.start()
        try:
            with deferrable_signals() as signals:
                yield from self._hand_out(readers, arrived, room, signals)
        finally:
            self._stop_readers()
        if self._interrupt is not None:
            interrupt, self._interrupt = self._interrupt, None
            raise interrupt

    def _hand_out(
        self,
        readers: int,
        arrived: queue.SimpleQueue[object],
        room: threading.Semaphore,
        signals: Deferral,
    ) -> Iterator[list[ReceivedMessage]]:
        """``read_ahead``'s batches as the readers bring them; signals noted while waiting.

        Each reader's last item says it ended, so the walk ends with its last reader, not at
        the next look at the threads (the wait's timeout is only for noting signals).
        """
        running = readers
        while running:
            signals.noting = True
            try:
                item = arrived.get(timeout=HAND_OUT_POLL_SECONDS)
            except queue.Empty:
                item = None
            finally:
                signals.noting = False
            if signals.arrived:
                self._note_interrupt(interrupt_for(signals.arrived[0]))
            if item is _READER_ENDED:
                running -= 1
                continue
            if isinstance(item, BaseException):
                if self._interrupt is not None:
                    raise self._interrupt from item
                raise item
            if item is None or self._interrupt is not None:
                continue  # after a signal: drained, not handed out
            room.release()
            self.renew_expiring()
            yield cast(list[ReceivedMessage], item)

    def _note_interrupt(self, interrupt: KeyboardInterrupt) -> None:
        """A signal during a read-ahead: no new receive; raised once the receives end."""
        self._interrupt = self._interrupt or interrupt
        self._close()

    def _read(
        self,
        arrived: queue.SimpleQueue[object],
        room: threading.Semaphore,
        stop: threading.Event,
    ) -> None:
        """One read-ahead thread: batches (or its failure) into ``arrived``."""
        try:
            while not (stop.is_set() or self._closing.is_set()):
                if not room.acquire(timeout=0.2):
                    continue
                batch = self.next_batch()
                if batch is None:
                    break
                arrived.put(batch)
        except BaseException as exc:  # noqa: BLE001  # raised in the caller's thread
            arrived.put(exc)
        finally:
            arrived.put(_READER_ENDED)

    def _stop_readers(self, on_signal: Callable[[list[int]], None] | None = None) -> None:
        """Stop the read-ahead threads and wait for their receives under way; a signal
        meanwhile is noted (see ``read_ahead``; and passed to ``on_signal``), so the wait is
        never cut short."""
        with signals_noted(on_signal) as signals:
            for stop, _ in self._readers:
                stop.set()
            for _, thread in self._readers:
                thread.join()
            self._readers.clear()
        if signals:
            self._note_interrupt(interrupt_for(signals[0]))

    def messages(self) -> Iterator[ReceivedMessage]:
        """Yield each new message, one at a time."""
        for batch in self.batches():
            yield from batch

    def _hold(
        self, received: list[ReceivedMessage], *, bounded: bool = True
    ) -> list[ReceivedMessage]:
        expires = self._clock() + self.hold_seconds
        fresh: list[ReceivedMessage] = []
        for message in received:
            key = compact_id(message.message_id)
            if key in self._seen:
                self.stats.duplicates += 1
                previous = self._held.get(message.message_id)
                if previous is not None:
                    self._extra_handles.append(previous)
                    self._held[message.message_id] = message.receipt_handle
                    # Its hold ran out (a renewal failed, say): looked after again from now.
                    self._expiry.append((expires, message.message_id))
                else:
                    # Already deleted by the caller: a redelivery of a standard queue. Release it.
                    self._extra_handles.append(message.receipt_handle)
                continue
            if bounded and self.max_messages is not None and self._counted >= self.max_messages:
                # Past the bound (several receives raced): not part of this walk.
                self._extra_handles.append(message.receipt_handle)
                continue
            if self._arrival_from is not None:
                sent = message.sent_ms
                if sent is not None and sent >= self._arrival_from:
                    self._arrivals.add(key)
                    if len(self._uncounted) < (self.max_messages or 0):
                        self._uncounted.add(key)
            self._seen.add(key)
            self._held[message.message_id] = message.receipt_handle
            self._expiry.append((expires, message.message_id))
            fresh.append(message)
        return fresh

    def renew_expiring(self, margin_seconds: float | None = None) -> None:
        """Extend the hold of messages whose hold ends within ``margin_seconds``."""
        margin = self.hold_seconds / 3 if margin_seconds is None else margin_seconds
        with self._lock:
            deadline = self._clock() + margin
            due: list[tuple[str, str]] = []
            while self._expiry and self._expiry[0][0] <= deadline:
                _, message_id = self._expiry.popleft()
                handle = self._held.get(message_id)
                if handle is not None:
                    due.append((message_id, handle))
            if not due:
                return
            expires = self._clock() + self.hold_seconds
        failed = set(
            self.sqs.change_visibility(self.queue, [handle for _, handle in due], self.hold_seconds)
        )
        with self._lock:
            # A hold that was not extended runs out: not looked after until it is received
            # again. One deleted meanwhile (no longer held) did not fail.
            held = set(self._held.values())
            lost = {handle for handle in failed if handle in held}
            self._expiry.extend((expires, i) for i, handle in due if handle not in failed)
            self.stats.renewed += len(due) - len(failed)
            self.stats.renewal_failures += len(lost)

    def delete(self, messages: Sequence[ReceivedMessage]) -> Deletion:
        """Delete held messages from the queue and stop holding those that were deleted."""
        if not messages:
            return Deletion((), ())
        # A message SQS delivered again (a hold ran out) is held by its newest receipt handle;
        # an older one may "succeed" without deleting.
        with self._lock:
            current = [
                replace(
                    message,
                    receipt_handle=self._held.get(message.message_id, message.receipt_handle),
                )
                for message in messages
            ]
        deletion = self.sqs.delete(self.queue, current)
        self.forget(deletion.deleted)
        return deletion

    def delete_noting(
        self,
        messages: Sequence[ReceivedMessage],
        note: Callable[[Sequence[tuple[str, str]]], None],
    ) -> Deletion:
        """``delete``, with each message not deleted passed to ``note`` (its ID and why): those
        the answer names, or all of them when the call failed whole (the endpoint lost: they
        may have been deleted), noted before that call's error stops the run."""
        try:
            deletion = self.delete(messages)
        except DlqctlError as exc:
            reason = whole_call_failed(exc)
            note([(message.message_id, reason) for message in messages])
            raise
        note(deletion.failed)
        return deletion

    def go_on(self) -> bool:
        """Called by a walk that deletes, once it has dealt with every batch the walk handed
        out: whether a FIFO walk that ended on an empty receive goes on, because it deleted
        messages since. SQS hands out no more of a message group while its earlier messages
        are held, and the next ones once those are deleted, so such an empty receive says only
        that the groups were held (an empty receive with deletes before it does not even end
        the walk). Each time the walk goes on it has deleted new messages, and its bound still
        holds, so it ends."""
        with self._lock:
            if not (
                self.fifo
                and self._ended_empty
                and self._deleted > self._deleted_at_end
                and self.stats.capped is None
                and not self._cut
                and not self._closing.is_set()
                and self._interrupt is None
                and (self.max_messages is None or self._counted < self.max_messages)
            ):
                return False
            self._done = self._ended_empty = False
            self._stale = 0
            return True

    def forget(self, message_ids: Sequence[str]) -> None:
        """Stop holding messages that were deleted (they must not be released), and count
        them (a FIFO walk goes on while its deletes free groups: ``go_on``)."""
        with self._lock:
            self._deleted += len(message_ids)
            self._deletes.notify_all()
            for message_id in message_ids:
                self._held.pop(message_id, None)
            if len(self._expiry) > 2 * len(self._held) + 1000:
                # The hold clock of deleted messages: dropped now and then, so memory follows
                # what is held, not what was seen.
                self._expiry = deque(item for item in self._expiry if item[1] in self._held)

    def _close(self) -> None:
        """No receive starts after this, and a FIFO receive waiting for a delete stops
        waiting."""
        self._closing.set()
        with self._lock:
            self._deletes.notify_all()

    def release(self, *, signalled: bool = False) -> int | None:
        """Make every held message visible again (visibility 0); returns the first signal that
        arrived meanwhile, or None. A signal waits for the release, so what could not be made
        visible is always counted; the next one (the first, when the run ends by a signal
        already: ``signalled``) sends no more of it, and what was not sent counts as not
        released.

        ``stats.released`` and ``stats.release_failures`` count messages, not receipt handles:
        handles left over from redeliveries are released too but not counted.
        """
        stop = threading.Event()
        enough = 1 if signalled else 2
        count = [0]  # the signals of the whole release, the wait for the readers too

        def noted(arrived: list[int]) -> None:
            count[0] += 1
            if count[0] == enough:  # once: a handler may run inside this one
                stop.set()

        with signals_noted(noted) as arrived:
            self._close()
            self._stop_readers(noted)
            with self._lock:
                held = list(self._held.values())
                extra = list(self._extra_handles)
            if held or extra:
                handles = held + extra
                failed = set(self.sqs.change_visibility(self.queue, handles, 0, stop=stop))
                failed_held = sum(1 for handle in held if handle in failed)
                self.stats.released += len(held) - failed_held
                self.stats.release_failures += failed_held
            with self._lock:
                self._held.clear()
                self._extra_handles.clear()
                self._expiry.clear()
        return arrived[0] if arrived else None


@dataclass(frozen=True)
class Walking:
    """How a walk holds and polls: ``--hold`` (None: sized to the queue) and ``--wait``."""

    hold_seconds: int | None = None
    wait_seconds: int = 1


DEFAULT_WALKING = Walking()


def walk(
    aws: Aws,
    opened: OpenQueue,
    walking: Walking = DEFAULT_WALKING,
    *,
    bounded: bool = True,
    holding: int | None = None,
) -> QueueScan:
    """A scan of an opened queue; ``bounded`` stops after the messages visible at the start.
    Without ``--hold`` the hold is sized to what the walk will hold (``holding``: say a look
    at the first 10; else the whole queue), so what a crash leaves hidden comes back soon."""
    expected = opened.attributes.visible if holding is None else holding
    scan = QueueScan(
        aws.sqs,
        opened.queue,
        hold_seconds=walking.hold_seconds or default_hold_seconds(expected),
        wait_seconds=walking.wait_seconds,
        max_messages=opened.attributes.visible if bounded else None,
        depth_at_start=opened.attributes.visible,
        short_reason=short_walk_reason(opened.queue, opened.attributes),
        fifo=opened.attributes.fifo,
    )
    scan.in_flight_at_start = opened.attributes.in_flight
    scan.started(opened.attributes.read_at_ms)
    return scan


def short_walk_reason(queue: QueueRef, attributes: QueueAttributes) -> str | None:
    """Why a walk of this queue that found it empty before it saw as many messages as it held
    at the start missed some, or None where fewer proves nothing."""
    if attributes.fifo:
        return (
            f"{queue.name} is FIFO: SQS hands out no more of a message group while the walk "
            "holds its first messages"
        )
    policy = attributes.redrive_policy
    if policy is not None:
        return (
            f"{queue.name} has its own RedrivePolicy (maxReceiveCount "
            f"{policy.max_receive_count}): messages whose receive count passed it may have been "
            f"moved on to {policy.dead_letter_target_arn}"
        )
    return None


def peek_warnings(
    queue: QueueRef, attributes: QueueAttributes, *, walked: bool = True
) -> list[str]:
    """What an operator should know before a walk raises receive counts on this queue
    (``walked``: the command walks it, so messages held elsewhere are not in its run)."""
    warnings: list[str] = []
    policy = attributes.redrive_policy
    if policy is not None:
        warnings.append(
            f"queue {queue.name} has its own RedrivePolicy (maxReceiveCount "
            f"{policy.max_receive_count}): each peek raises receive counts and can move "
            f"messages on to {policy.dead_letter_target_arn}"
        )
    if attributes.fifo:
        warnings.append(
            f"queue {queue.name} is FIFO: while a message is held, later messages of its group "
            "are not delivered, so a peek may show only the head of each group"
        )
    if walked and attributes.in_flight:
        warnings.append(
            f"{attributes.in_flight:,} message(s) of {queue.name} are held by another consumer "
            "or an interrupted run; they are not in this run (they come back when that hold ends)"
        )
    return warnings


def moves_when_read(queue: QueueRef, attributes: QueueAttributes) -> str | None:
    """Why reading this queue can move its messages on (it has its own RedrivePolicy), or None.

    Every receive raises a message's receive count, and a receive that would take it past
    ``maxReceiveCount`` moves it to the next queue. A walk only learns a message's count after
    raising it, so a look that leaves every message where it is cannot be promised.
    """
    policy = attributes.redrive_policy
    if policy is None:
        return None
    return (
        f"{queue.name} has its own RedrivePolicy (maxReceiveCount {policy.max_receive_count}, "
        f"to {policy.dead_letter_target_arn}): each look raises a message's receive count, and "
        "past that count SQS moves it on"
    )


def check_read_only(opened: OpenQueue, *, look_anyway: bool) -> None:
    """A look (peek, summary, a non-destructive export) must not move messages on: on a queue
    whose own RedrivePolicy can move them, it is refused unless ``look_anyway`` (``--yes``)."""
    reason = moves_when_read(opened.queue, opened.attributes)
    if reason is not None and not look_anyway:
        raise UsageError(
            f"not read-only: {reason}",
            "pass --yes to look anyway, or look at the queue it sends its messages to",
        )


def open_to_look(aws: Aws, ref: str, *, look_anyway: bool) -> OpenQueue:
    """Open a queue for a look (peek, summary): refused where a look can move messages on,
    unless ``look_anyway``."""
    opened = open_queue(aws, ref)
    check_read_only(opened, look_anyway=look_anyway)
    return opened


def split_batches(
    scan: QueueScan,
    selection: Selection,
    *,
    context: QueueContext | None = None,
    limit: int | None = None,
    leave_arrivals: bool = True,
) -> Iterator[tuple[list[MessageView], list[MessageView]]]:
    """Decode each receive's messages and yield (those the selection matches, up to ``limit``;
    the rest of the batch). The walk ends once ``limit`` messages matched. With
    ``leave_arrivals`` (unless the selection names its messages), messages that arrived after
    a bounded walk began are in the rest, whatever the selection."""
    leave = leave_arrivals and not selection.names_messages
    scan.leaves_arrivals = leave
    matched = 0
    if limit is not None and limit <= 0:
        return
    # A filter may match few of the messages read: ``limit`` says nothing of how many to read.
    expected = limit if selection.is_everything else None
    while True:
        for batch in scan.read_ahead(readers_for(scan, expected)):
            views = [decode(message, context) for message in batch]
            candidates = scan.without_arrivals(views) if leave else views
            chosen = [view for view in candidates if selection.selects(view)]
            if limit is not None:
                chosen = chosen[: limit - matched]
            matched += len(chosen)
            taken = {view.message_id for view in chosen}
            yield chosen, [view for view in views if view.message_id not in taken]
            if limit is not None and matched >= limit:
                scan.cut()
                return
        if not scan.go_on():  # a FIFO queue's groups, freed by the deletes (see ``go_on``)
            return


def selected_batches(
    scan: QueueScan,
    selection: Selection,
    *,
    context: QueueContext | None = None,
    limit: int | None = None,
) -> Iterator[list[MessageView]]:
    """The selected messages of each receive, up to ``limit`` (see ``split_batches``).

    Messages that do not match stay held by the scan and are released with the rest.
    """
    for chosen, _ in split_batches(scan, selection, context=context, limit=limit):
        yield chosen


def selected_views(
    scan: QueueScan,
    selection: Selection,
    *,
    context: QueueContext | None = None,
    limit: int | None = None,
) -> Iterator[MessageView]:
    """Like ``selected_batches``, one message at a time."""
    for batch in selected_batches(scan, selection, context=context, limit=limit):
        yield from batch


@dataclass(frozen=True)
class OpenQueue:
    """A queue ready to walk: where it is, its attributes, what feeds it, and what to warn about."""

    queue: QueueRef
    attributes: QueueAttributes
    context: QueueContext
    warnings: tuple[str, ...]


def open_queue(aws: Aws, ref: str, *, walked: bool = True) -> OpenQueue:
    """Resolve a queue by name, URL or ARN and read its attributes (two calls); ``walked``:
    whether the command walks it (else SQS acts on the whole queue, held messages too)."""
    queue, attributes = aws.sqs.resolve(ref)
    context = QueueContext(attributes.retention_seconds, attributes.fifo)
    warnings = peek_warnings(queue, attributes, walked=walked)
    return OpenQueue(queue, attributes, context, tuple(warnings))


def source_queue_arns(aws: Aws, opened: OpenQueue) -> tuple[str, ...]:
    """The SQS queues whose RedrivePolicy names this queue (only move tasks need them)."""
    urls = aws.sqs.dead_letter_source_urls(opened.queue)
    return tuple(ref.arn for ref, _ in aws.sqs.describe_urls(urls))


def readers_for(scan: QueueScan, limit: int | None = None) -> int:
    """How many receives to keep under way: enough for the messages the walk expects (its
    bound, the ``limit`` asked for, or the queue's depth), so a short look does not hold more
    messages than it shows; at most ``READERS``; and few enough that what they hold before the
    caller has it (three batches a reader) stays within a hundredth of the in-flight cap,
    which a parked walk keeps its distance from."""
    expected = [
        count for count in (scan.max_messages, limit, scan.depth_at_start) if count is not None
    ]
    needed = -(-min(expected) // SQS_BATCH) if expected else READERS
    room = scan.in_flight_limit // (100 * 3 * SQS_BATCH)
    return max(1, min(READERS, needed, room))


def work_in_parallel(work: Callable[[], None], workers: int, stop: threading.Event) -> None:
    """Run ``work`` in ``workers`` threads; a failure or Ctrl-C sets ``stop`` (which ``work``
    checks between batches) and is raised once every thread has finished its batch, so no
    thread is left receiving after the walk is closed."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="walk") as pool:

        def guarded() -> None:
            try:
                work()
            except BaseException:
                stop.set()  # one failure stops the others after their batch
                raise

        futures = [pool.submit(guarded) for _ in range(workers)]
        interrupt: KeyboardInterrupt | None = None
        while True:
            try:
                _, pending = wait(futures, timeout=0.2)
            except KeyboardInterrupt as exc:
                stop.set()
                interrupt = interrupt or exc
                continue
            if not pending:
                break
        for future in futures:
            future.result()
        if interrupt is not None:
            raise interrupt
