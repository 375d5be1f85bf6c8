"""A redrive: walk a DLQ, replay what the selection picks, delete only what was acknowledged.

The rule everything here keeps: a message leaves the DLQ only after its destination
acknowledged it (an ``EventId``, a new ``MessageId``, an accepted invocation). Messages that
fail, are skipped or do not match stay held until the run ends and are then made visible again.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypeVar

from dlqctl import preflight
from dlqctl.aws import SQS_BATCH, Aws
from dlqctl.canary import STASH_LIMIT, CanarySettings, ReturnWatch
from dlqctl.choices import DEFAULT_CONCURRENCY, DEFAULT_MAX_REPLAYS, MAX_CONCURRENCY
from dlqctl.delivery import checkpoint, send_and_record
from dlqctl.destinations import (
    BatchDelivery,
    Destination,
    DestinationSpec,
    Planned,
    QueueDestination,
    Rejected,
    build_destination,
)
from dlqctl.drain import DrainPlan, prepare_drain
from dlqctl.envelopes import decode
from dlqctl.errors import DlqctlError, UsageError
from dlqctl.filters import Selection
from dlqctl.interrupts import interrupt_after_block, signal_number, signals_noted
from dlqctl.journal import Journal, State
from dlqctl.lease import QueueLease, give_back_lease, take_lease
from dlqctl.models import Deletion, JsonValue, MessageView, ReceivedMessage, RedriveResult
from dlqctl.moves import MoveTaskPlan, prepare_move_task, whole_queue_only
from dlqctl.parking import Parking, prepare_parking
from dlqctl.plans import OnQueue, Reporter, Result, covering, describe_scope, keeping_done
from dlqctl.preflight import Preflight
from dlqctl.replays import ReplayLedger, sent_fingerprint
from dlqctl.scan import (
    DEFAULT_WALKING,
    OpenQueue,
    QueueScan,
    Walking,
    open_queue,
    open_to_look,
    walk,
    work_in_parallel,
)
from dlqctl.targets import build_target_destination

FAST_CALL_SECONDS = 0.020


def call_seconds(aws: Aws, opened: OpenQueue) -> float:
    """How long a call to the queue takes from here: one timed ``GetQueueAttributes``."""
    started = time.perf_counter()
    aws.sqs.attributes(opened.queue)
    return time.perf_counter() - started


def sized_concurrency(seconds: float) -> int:
    """Workers for the latency this run sees (``seconds`` a call): 16 while a call takes up to
    20 ms, then as many more as keep the same number of calls per second in flight (100 ms:
    64), at most 64.

    Each worker waits for its calls one after the other, so far from the region a fixed pool
    spends its time waiting: 16 workers at 100 ms per call carry at most ~530 messages/s.
    """
    wanted = math.ceil(DEFAULT_CONCURRENCY * seconds / FAST_CALL_SECONDS)
    return max(DEFAULT_CONCURRENCY, min(MAX_CONCURRENCY, wanted))


class Pacer:
    """Keeps a run at or under ``rate`` messages per second (no limit when rate is None)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def wait(
        self,
        count: int,
        stop: threading.Event | None = None,
        *,
        meanwhile: Callable[[], None] | None = None,
    ) -> bool:
        """Wait until ``count`` more messages may go; False when ``stop`` was set meanwhile
        (Ctrl-C in another thread: what waited is not sent). ``meanwhile`` is called every
        few seconds of a longer wait (to renew the holds of the messages waiting)."""
        if not self.rate or count <= 0:
            return True
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + count / self.rate
        while (left := start - now) > 0:
            step = left if meanwhile is None else min(left, PACER_SLICE_SECONDS)
            if stop is None:
                time.sleep(step)
            elif stop.wait(step):
                return False
            now += step
            if meanwhile is not None and start > now:
                meanwhile()
                now = max(now, self.clock())
        return True


PACER_SLICE_SECONDS = 5.0
"""How long a paced batch waits between renewals of the holds around it."""


@dataclass
class RedriveOptions:
    """How a redrive walks, paces itself, and keeps its journal and lease."""

    limit: int | None = None
    dry_run: bool = False
    rate: float | None = None
    walking: Walking = DEFAULT_WALKING
    journal: Journal | None = None
    resend_ambiguous: bool = True
    heartbeat: Callable[[], None] = lambda: None
    concurrency: int | None = 1
    """Workers; None: sized to the latency (``sized_concurrency``) when the plan is made."""
    bounded: bool = True
    """Stop after as many messages as the queue counted at the start (False: walk until a
    receive finds nothing, for a queue nothing else sends to, such as a parking queue)."""
    parking: Parking | None = None
    """Where the messages the run leaves alone go, so the walk is not stopped by the cap."""
    replays: ReplayLedger | None = None
    """The DLQ's replay ledger: counted on each acknowledged replay, read by the loop guard."""
    max_replays: int | None = DEFAULT_MAX_REPLAYS
    """Content replayed in this many earlier runs is skipped (None: no loop guard)."""
    canary: CanarySettings | None = None
    record: Callable[[Sequence[MessageView]], None] | None = None
    """A dry run hands each batch's planned messages here (to save the plan)."""
    status: Callable[[str], None] = lambda text: None
    """Where a canary run says how many were sent, acknowledged and came back."""
    warn: Callable[[str], None] = lambda text: None


def sort_by_journal(
    chosen: list[MessageView], options: RedriveOptions, result: RedriveResult
) -> tuple[list[MessageView], list[MessageView]]:
    """Split messages into those to send and those a previous run already delivered."""
    journal = options.journal
    if journal is None:
        return chosen, []
    to_send: list[MessageView] = []
    delivered: list[MessageView] = []
    for view in chosen:
        state = journal.status(view.message)
        if state in (State.PENDING_DELETE, State.DELIVERED):
            delivered.append(view)
            continue
        if state == State.AMBIGUOUS:
            result.ambiguous += 1
            if not options.resend_ambiguous:
                result.reject(
                    view.message_id,
                    "ambiguous: an interrupted run sent it but never recorded an "
                    "acknowledgement; left at its source, the DLQ or an import's file "
                    "(--resend-ambiguous sends it again)",
                    skipped=True,
                )
                continue
        to_send.append(view)
    return to_send, delivered


class _Stash:
    """Messages of the walk taken but not yet redriven (held by the walk): what a canary's
    batch left over past its size, and what its watch read ahead. Redriven first afterwards."""

    def __init__(self) -> None:
        self._batches: deque[list[ReceivedMessage]] = deque()
        self.count = 0
        self._lock = threading.Lock()

    def put(self, messages: Sequence[ReceivedMessage]) -> None:
        with self._lock:
            for start in range(0, len(messages), SQS_BATCH):
                batch = list(messages[start : start + SQS_BATCH])
                self._batches.append(batch)
                self.count += len(batch)

    def take(self) -> list[ReceivedMessage] | None:
        with self._lock:
            if not self._batches:
                return None
            batch = self._batches.popleft()
            self.count -= len(batch)
            return batch


class _Run:
    """One redrive's shared state (result, limit, stop signal) behind one lock."""

    def __init__(
        self,
        result: RedriveResult,
        limit: int | None,
        *,
        watch: ReturnWatch | None = None,
        stash: _Stash | None = None,
        replays: int | None = None,
    ) -> None:
        self.result = result
        self.limit = limit
        self.lock = threading.Lock()
        self.stop = threading.Event()
        """Set when the run has what it needs (its limit, the breaker): no more batches."""
        self.halted = threading.Event()
        """Set by a signal or a worker's failure: no more batches, and a batch still waiting
        its turn (``--rate``) is not sent."""
        self.watch = watch
        self.stash = stash
        """Where selected messages past the limit go (a canary's), instead of staying behind."""
        self.replays = replays
        """A canary's size: the run takes messages until this many replays were sent
        (acknowledged, refused or unanswered; skipped messages and those already delivered do
        not count); one worker."""

    def take(self, chosen: list[MessageView]) -> list[MessageView]:
        """Count the batch's selected messages, cutting it at the limit (or the canary's
        remaining size)."""
        with self.lock:
            room = None if self.limit is None else max(0, self.limit - self.result.selected)
            if self.replays is not None and self.watch is not None:
                left = max(0, self.replays - self.watch.sent)
                room = left if room is None else min(room, left)
            if room is not None:
                taken = chosen[:room]
                if self.stash is not None and len(taken) < len(chosen):
                    self.stash.put([view.message for view in chosen[len(taken) :]])
                chosen = taken
                if self.limit is not None and self.result.selected + len(chosen) >= self.limit:
                    self.stop.set()
            self.result.selected += len(chosen)
        return chosen

    def enough(self) -> bool:
        """Whether a canary has sent its replays."""
        return (
            self.replays is not None and self.watch is not None and self.watch.sent >= self.replays
        )


def _redrive_batch(
    batch: list[ReceivedMessage],
    scan: QueueScan,
    opened: OpenQueue,
    destination: Destination,
    selection: Selection,
    options: RedriveOptions,
    run: _Run,
    pacer: Pacer,
) -> int:
    """Everything one worker does with one received batch; returns how many were selected."""
    views = [decode(message, opened.context) for message in batch]
    if run.watch is not None:
        views = _without_returns(scan, run.watch, views)
        if run.watch.check():
            run.stop.set()  # nothing more is sent; the batch stays held and is released
            return 0
    # Arrivals (sent since the run began) are not replayed: they stay held (or are parked,
    # with what the selection leaves), and are in the DLQ when the run ends.
    present = views if selection.names_messages else scan.without_arrivals(views)
    selected = [view for view in present if selection.selects(view)]
    chosen = run.take(selected)
    result, journal = run.result, options.journal
    with run.lock:
        to_send, delivered = sort_by_journal(chosen, options, result)
    planned, rejected, fingerprints = _plan_all(to_send, destination, options, run.watch)
    with run.lock:
        for message_id, plan in rejected:
            result.reject(message_id, plan.reason, skipped=plan.skipped)
        if options.dry_run:
            result.entries.extend(item.to_json() for item in planned)
    if options.dry_run:
        if options.record is not None:
            options.record([item.view for item in planned])
        return len(chosen)
    if options.parking is not None:
        taken = {view.message_id for view in selected}
        rejected_ids = {message_id for message_id, _ in rejected}
        options.parking.park(
            scan,
            [
                view
                for view in views
                if view.message_id not in taken or view.message_id in rejected_ids
            ],
        )
    if delivered:
        with interrupt_after_block():
            deletion = _delete(scan, [view.message for view in delivered], result, run.lock)
            with run.lock:
                result.recovered += len(deletion.deleted)
                result.redriven += len(deletion.deleted)
            if journal is not None:
                journal.deleted(deletion.deleted)
    if planned:
        _send_paced(scan, destination, planned, fingerprints, options, run, pacer)
    return len(chosen)


def _send_paced(
    scan: QueueScan,
    destination: Destination,
    planned: list[Planned],
    fingerprints: dict[str, str],
    options: RedriveOptions,
    run: _Run,
    pacer: Pacer,
) -> None:
    """Send a batch when the pace allows, and delete what was acknowledged. Stopped while it
    waits its turn (Ctrl-C), it sends nothing: the batch stays held and is released."""
    renew = functools.partial(scan.renew_expiring, PACER_SLICE_SECONDS + scan.hold_seconds / 3)
    if not pacer.wait(len(planned), run.halted, meanwhile=renew):
        return
    if run.watch is not None:
        if run.watch.check():
            return  # the breaker tripped while the batch waited its turn: it is not sent
        run.watch.sending([fingerprints[item.view.message_id] for item in planned])
    with interrupt_after_block():
        accepted = _send_and_delete(
            scan, destination, planned, options.journal, run.result, run.lock
        )
        _count_replays(accepted, fingerprints, options, run.watch)


def _plan_all(
    views: Sequence[MessageView],
    destination: Destination,
    options: RedriveOptions,
    watch: ReturnWatch | None,
) -> tuple[list[Planned], list[tuple[str, Rejected]], dict[str, str]]:
    """What the destination will be sent, what it will not (with the reason), and each sent
    message's content fingerprint by message ID (computed once, when the loop guard or a
    canary needs it)."""
    planned: list[Planned] = []
    rejected: list[tuple[str, Rejected]] = []
    fingerprints: dict[str, str] = {}
    wanted = options.replays is not None or watch is not None
    for view in views:
        plan = destination.plan(view)
        if not isinstance(plan, Rejected) and wanted:
            fingerprint = fingerprints[view.message_id] = sent_fingerprint(plan)
            plan = _loop_guard(plan, fingerprint, options)
        if isinstance(plan, Rejected):
            rejected.append((view.message_id, plan))
        else:
            planned.append(plan)
    return planned, rejected, fingerprints


def _without_returns(
    scan: QueueScan, watch: ReturnWatch, views: list[MessageView]
) -> list[MessageView]:
    """Take the run's own replays coming back out of a batch: counted by the watch, left in
    the DLQ, and not counted against the walk's bound."""
    back = watch.returns(views)
    if not back:
        return views
    scan.came_back([view.message_id for view in back])
    ids = {view.message_id for view in back}
    return [view for view in views if view.message_id not in ids]


def _loop_guard(planned: Planned, fingerprint: str, options: RedriveOptions) -> Planned | Rejected:
    """Skip content this DLQ's earlier runs replayed ``max_replays`` times already."""
    if options.replays is None or options.max_replays is None:
        return planned
    times = options.replays.times(fingerprint)
    if times < options.max_replays:
        return planned
    return Rejected(
        f"replayed {times} times, came back each time; left in the DLQ "
        f"(--max-replays {times + 1} replays it once more)"
    )


def _count_replays(
    accepted: Sequence[Planned],
    fingerprints: Mapping[str, str],
    options: RedriveOptions,
    watch: ReturnWatch | None,
) -> None:
    """Acknowledged replays: into the ledger (the loop guard) and the canary's watch."""
    if not accepted or (options.replays is None and watch is None):
        return
    items = [(fingerprints[item.view.message_id], item) for item in accepted]
    if options.replays is not None:
        options.replays.replayed(items)
    if watch is not None:
        watch.acknowledged([fingerprint for fingerprint, _ in items])


def redrive(
    aws: Aws,
    opened: OpenQueue,
    destination: Destination,
    selection: Selection,
    options: RedriveOptions,
    progress: Callable[[int], None] = lambda count: None,
) -> RedriveResult:
    """Walk the DLQ once and send what the selection picks; delete only what was acknowledged.

    The walk is bounded by the number of messages visible when it starts and never sends a
    message twice in one run, so messages that fail again and come back are not replayed in a
    loop. ``options.concurrency`` workers each own whole batches, from receive to delete. With
    a journal, each batch is recorded before it is sent, its acknowledgements are synced to
    disk before the delete, and messages a crashed run had delivered are deleted without being
    sent again. Everything not deleted is made visible again when the run ends, also on errors;
    Ctrl-C lets the batches in flight finish and returns a partial result.
    """
    result = RedriveResult(destination=destination.description, dry_run=options.dry_run)
    if options.journal is not None:
        result.journal = str(options.journal.path)
    if options.limit is not None and options.limit <= 0:
        return result
    drive = _Driver(aws, opened, destination, selection, options, Pacer(options.rate), progress)
    scan = walk(aws, opened, options.walking, bounded=options.bounded)
    scan.leaves_arrivals = not selection.names_messages
    try:
        with covering(scan, result):
            if options.canary is None or options.dry_run:
                drive(scan, _Run(result, options.limit))
            else:
                _canary_run(drive, scan, result, options.canary)
    except KeyboardInterrupt as exc:
        result.signal = signal_number(exc)
    finally:
        result.unreleased = scan.stats.release_failures
    return result


@dataclass
class _Driver:
    """Runs workers over a walk until it ends or the run stops: each takes a batch (from the
    stash first, else the walk), redrives it, and checks the breaker."""

    aws: Aws
    opened: OpenQueue
    destination: Destination
    selection: Selection
    options: RedriveOptions
    pacer: Pacer
    progress: Callable[[int], None]

    def __call__(self, scan: QueueScan, run: _Run, workers: int | None = None) -> None:
        def work() -> None:
            while not run.stop.is_set() and not run.halted.is_set():
                batch = self._next(scan, run)
                if batch is None:
                    return
                self.options.heartbeat()
                self.progress(
                    _redrive_batch(
                        batch,
                        scan,
                        self.opened,
                        self.destination,
                        self.selection,
                        self.options,
                        run,
                        self.pacer,
                    )
                )
                watch = run.watch
                if watch is not None:
                    self.options.status(watch.status())
                    if watch.check() or run.enough():
                        run.stop.set()

        count = workers or self.options.concurrency or 1
        while True:
            if count <= 1:
                work()
            else:
                work_in_parallel(work, count, run.halted)
            # A FIFO queue's groups freed by the deletes: the walk goes on (see ``go_on``).
            if run.stop.is_set() or run.halted.is_set() or not scan.go_on():
                break
        if run.stop.is_set() and not run.enough():
            # The run has what it came for (its limit, the breaker); a canary that has its
            # replays is not the end of the walk, which the rest of the run goes on with.
            scan.cut()

    def _next(self, scan: QueueScan, run: _Run) -> list[ReceivedMessage] | None:
        """The stash's next batch (then one look for returns, which the walk would only reach
        after the stash), else the walk's."""
        stash, watch = run.stash, run.watch
        if stash is None or not stash.count:
            return scan.next_batch()
        if watch is not None:
            _read_ahead(
                scan,
                self.opened,
                watch,
                stash,
                scan.poll(),
                names_messages=self.selection.names_messages,
            )
            if watch.check():
                run.stop.set()
                return None
        return stash.take() or scan.next_batch()


def _read_ahead(
    scan: QueueScan,
    opened: OpenQueue,
    watch: ReturnWatch,
    stash: _Stash,
    received: Sequence[ReceivedMessage],
    *,
    names_messages: bool = False,
) -> None:
    """Sort messages a watch received: replays coming back are counted; the rest, as far as
    the walk's bound goes, is stashed. What is past the bound (arrived since the run started)
    stays held, and is made visible again when the walk ends."""
    if not received:
        return
    views = _without_returns(scan, watch, [decode(message, opened.context) for message in received])
    if not names_messages:
        views = scan.without_arrivals(views)  # held, and made visible again when the walk ends
    watch.looked(len(received))
    keep = max(0, len(views) - scan.over_bound())
    stash.put([view.message for view in views[:keep]])


def _canary_run(
    drive: _Driver, scan: QueueScan, result: RedriveResult, canary: CanarySettings
) -> None:
    """Replay the canary, watch the DLQ for it coming back, then replay the rest while the
    breaker watches every batch; stop (nothing more sent) when too many came back."""
    options = drive.options
    watch = ReturnWatch(canary)
    stash = _Stash()
    result.canary = watch.to_json()
    try:
        size = canary.size if options.limit is None else min(canary.size, options.limit)
        drive(scan, _Run(result, options.limit, watch=watch, stash=stash, replays=size), 1)
        if watch.stopped is not None or watch.unacknowledged():
            return
        if options.limit is not None and result.selected >= options.limit and not stash.count:
            return
        if watch.replayed:
            watch.phase = "watch"
            drive.options.warn(
                f"canary: {watch.replayed:,} replayed; watching {drive.opened.queue.name} for "
                f"{canary.watch_seconds:g} s for them coming back"
            )
            _watch(scan, drive, watch, stash, canary.watch_seconds)
            if watch.check():
                return
            drive.options.warn(
                f"canary passed: {len(watch.returned):,} of {watch.replayed:,} came back; "
                "replaying the rest"
            )
        if options.limit is not None and result.selected >= options.limit:
            return
        watch.phase = "rest of the run"
        drive(scan, _Run(result, options.limit, watch=watch, stash=stash))
    finally:
        result.canary = watch.to_json()


def _watch(
    scan: QueueScan, drive: _Driver, watch: ReturnWatch, stash: _Stash, seconds: float
) -> None:
    """For ``seconds``, receive from the DLQ and count the canary's replays coming back. What
    else it receives is the rest of the walk: stashed (held) for the rest of the run, up to
    ``STASH_LIMIT`` messages; past that it waits, and says it could not look further."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        drive.options.heartbeat()  # the lease outlives a watch longer than itself
        if watch.check():
            return
        if stash.count >= STASH_LIMIT:
            if not watch.read_ahead_full:
                watch.read_ahead_full = True
                drive.options.warn(
                    f"the watch read {stash.count:,} messages ahead and looks no further: "
                    "returns behind them are seen during the rest of the run"
                )
            scan.renew_expiring()
            time.sleep(min(1.0, remaining))
            continue
        wait = int(min(5.0, remaining, scan.hold_seconds / 3))  # renewed before holds lapse
        received = scan.poll(wait_seconds=wait)
        _read_ahead(
            scan,
            drive.opened,
            watch,
            stash,
            received,
            names_messages=drive.selection.names_messages,
        )
        drive.options.status(watch.status())
        if not received and wait == 0:
            time.sleep(min(0.2, remaining))


def count_refusals(result: RedriveResult, delivery: BatchDelivery) -> None:
    """Add a batch's refused and unanswered messages to the result (under the run's lock)."""
    result.unanswered += len(delivery.unanswered)
    for view, reason in delivery.refused + delivery.unanswered:
        result.reject(view.message_id, reason, skipped=False)


def _send_and_delete(
    scan: QueueScan,
    destination: Destination,
    planned: list[Planned],
    journal: Journal | None,
    result: RedriveResult,
    lock: threading.Lock,
) -> list[Planned]:
    """Send and record, delete what was acknowledged, record the deletes; returns what was
    acknowledged."""
    delivery = send_and_record(destination, planned, journal)
    with lock:
        count_refusals(result, delivery)
    deletion = _delete(scan, [view.message for view, _ in delivery.accepted], result, lock)
    checkpoint("after-delete")
    with lock:
        result.redriven += len(deletion.deleted)
    if journal is not None:
        journal.deleted(deletion.deleted)
    by_id = {item.view.message_id: item for item in planned}
    return [by_id[view.message_id] for view, _ in delivery.accepted]


def _delete(
    scan: QueueScan, messages: list[ReceivedMessage], result: RedriveResult, lock: threading.Lock
) -> Deletion:
    """Delete delivered messages; each one not deleted is a failure in the result (see
    ``QueueScan.delete_noting``)."""

    def note(failed: Sequence[tuple[str, str]]) -> None:
        with lock:
            for message_id, why in failed:
                result.reject(
                    message_id,
                    f"delivered, but deleting it from the DLQ failed ({why}); it will become "
                    "visible again, and the journal lets a rerun delete it without sending it "
                    "again",
                    skipped=False,
                )

    return scan.delete_noting(messages, note)


@dataclass
class RedrivePlan(OnQueue):
    """A redrive, resolved and checked: the queue, where its messages go, which and how.

    ``run`` takes the queue's lease and opens the journal (both belong to the run), walks the
    queue, and gives the lease back at the end, whatever happens.
    """

    aws: Aws
    opened: OpenQueue
    destination: Destination
    selection: Selection
    options: RedriveOptions
    more_warnings: list[str] = field(default_factory=list)
    force: bool = False
    journal_path: Path | None = None
    parking: Parking | None = None
    checked: Preflight | None = None
    """What the pre-flight checks found (on a sample of the queue)."""

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def notes(self) -> list[str]:
        """The fan-out of a bus replay, for the prompt and the dry run."""
        return [] if self.checked is None else self.checked.notes()

    @property
    def activity(self) -> str:
        return f"Redriving {self.name}"

    @property
    def total(self) -> int:
        visible = self.opened.attributes.visible
        return visible if self.options.limit is None else min(self.options.limit, visible)

    def describe(self) -> str:
        canary = self.options.canary
        return describe_scope(
            "Redrive",
            self.opened,
            self.selection,
            self.options.limit,
            then=f" to {self.destination.description}"
            + (f"; {self.parking.describe()}" if self.parking else "")
            + (f"; {canary.describe()}" if canary and not self.dry_run else ""),
        )

    def run(self, reporter: Reporter) -> RedriveResult:
        options = replace(self.options, status=reporter.status, warn=reporter.warn)
        with ExitStack() as resources:
            if options.max_replays is not None or not self.dry_run:
                options.replays = ReplayLedger.load(self.opened.queue.arn)
                resources.callback(options.replays.close)
            if not self.dry_run:
                run_id = uuid.uuid4().hex[:12]
                lease = QueueLease(self.aws, self.opened.queue, run_id)
                if take_lease(lease, self.force, reporter):
                    resources.callback(give_back_lease, lease, reporter)
                    options.heartbeat = lease.renew
                journal = Journal.for_run(
                    self.journal_path,
                    self.opened.queue.arn,
                    self.destination.journal_key,
                    self.destination.description,
                    run_id,
                )
                resources.callback(journal.close)
                if journal.unlocked:
                    reporter.warn(journal.unlocked)
                options.journal = journal
                if options.replays is not None:
                    options.replays.start(run_id)
                if self.parking is not None:
                    unlocked = self.parking.start(run_id)
                    resources.callback(self.parking.close)
                    if unlocked:
                        reporter.warn(unlocked)
                    options.parking = self.parking
            with noting_parked(options.parking) if options.parking else nullcontext():
                result = redrive(
                    self.aws,
                    self.opened,
                    self.destination,
                    self.selection,
                    options,
                    reporter.progress,
                )
            if self.checked is not None:
                result.preflight = self.checked.to_json()
            if options.parking is not None:
                end_parking(self.aws, options.parking, result, options, reporter)
            return result


class Parked(Result, Protocol):
    """A result that says what parking did (and that moving the parked messages back can
    end with a signal)."""

    parking: dict[str, JsonValue] | None
    interrupted_by: int | None


ParkedResult = TypeVar("ParkedResult", bound=Parked)


def end_parking(
    aws: Aws, parking: Parking, result: Parked, options: RedriveOptions, reporter: Reporter
) -> None:
    """At the end of a run with ``--park`` that was not stopped by an error: move the parked
    messages back (``finish_parking``) and put what parking did into ``result``; a signal
    that stops moving them back ends the run with it (128 + the signal). An error on the way
    carries ``result`` and says where the parked messages are (``noting_parked``)."""
    with noting_parked(parking), keeping_done(result):
        result.parking = finish_parking(
            aws, parking, result.interrupted_by is not None, options, reporter
        )
    if result.interrupted_by is None:
        result.interrupted_by = parking.result.interrupted_by


def finish_parking(
    aws: Aws, parking: Parking, interrupted: bool, options: RedriveOptions, reporter: Reporter
) -> dict[str, JsonValue]:
    """At the end of a run with ``--park``: move every parked message back into the DLQ (not
    after an interrupt: the same command run again does it), and say what is left parked."""
    count = True
    try:
        if not interrupted:
            try:
                reporter.warn(f"moving the parked messages back from {parking.name}")
                return_parked(aws, parking, options, reporter.progress)
            except KeyboardInterrupt as interrupt:  # between two passes: the run ends with it
                parking.result.interrupted_by = signal_number(interrupt)
    except DlqctlError:
        count = False  # the endpoint may be what failed: the error says where they may be
        raise
    finally:
        if count:
            with signals_noted() as arrived:  # a signal now still shows what was done
                parking.count_left(quietly=interrupted or parking.result.interrupted_by is not None)
            if arrived and parking.result.interrupted_by is None and not interrupted:
                parking.result.interrupted_by = arrived[0]
    left = parking.result.left_parked
    if left != 0:
        many = "messages" if left is None else f"~{left:,} message(s)"
        reporter.warn(
            f"{many} may still be parked in {parking.name}: run the same command again to move "
            "them back"
        )
    return parking.result.to_json()


def run_parked(
    aws: Aws,
    parking: Parking | None,
    walking: Walking,
    reporter: Reporter,
    run: Callable[[Parking | None], ParkedResult],
) -> ParkedResult:
    """Run a walk (a delete, an export) with its parking started before and finished after."""
    if parking is None:
        return run(None)
    unlocked = parking.start(uuid.uuid4().hex[:12])
    options = RedriveOptions(walking=walking, concurrency=DEFAULT_CONCURRENCY)
    try:
        if unlocked:
            reporter.warn(unlocked)
        with noting_parked(parking):
            result = run(parking)
    except KeyboardInterrupt:
        finish_parking(aws, parking, True, options, reporter)
        raise
    else:
        end_parking(aws, parking, result, options, reporter)
    finally:
        parking.close()
    return result


@contextmanager
def noting_parked(parking: Parking) -> Iterator[None]:
    """An error that stops a run with ``--park`` part way shows, in the result it carries,
    what the run parked and moved back; what is left parked is not counted (the endpoint is
    not asked again: it may be what failed), and the error line says where it is."""
    try:
        yield
    except DlqctlError as exc:
        if exc.done is not None and hasattr(exc.done, "parking"):
            exc.done.parking = parking.stopped()
        if parking.queue is not None:
            exc.message = (
                f"{exc.message.rstrip('.')}; parking queue {parking.name} may still hold "
                "messages: run the same command again to move them back"
            )
        raise


def return_parked(
    aws: Aws, parking: Parking, options: RedriveOptions, progress: Callable[[int], None]
) -> None:
    """Move everything in the parking queue back into the DLQ: a journaled, unfiltered
    redrive of the parking queue that walks until a receive finds it empty (its approximate
    counts lag behind the sends that parked the messages, so they do not decide), repeated
    while a pass moved something back. Each pass opens the journal afresh, so it knows what
    the passes before it delivered."""
    park, dlq = parking.queue, parking.dlq
    if park is None:
        return
    back = QueueDestination(aws, dlq.queue, dlq.attributes)
    for _ in range(RETURN_PASSES):
        opened = open_queue(aws, park.url)
        journal = parking.journal_for_return(back)
        try:
            moving = RedriveOptions(
                walking=options.walking,
                journal=journal,
                concurrency=options.concurrency,
                bounded=False,  # only parking sends to it
            )
            result = redrive(aws, opened, back, Selection(), moving, progress)
        except DlqctlError as exc:
            if isinstance(exc.done, RedriveResult):
                parking.returned(exc.done)  # what this pass moved back before the error
            exc.done = None  # moving them back is part of the command's run, not its result
            raise
        finally:
            journal.close()
        parking.returned(result)
        if result.interrupted:
            parking.result.interrupted_by = result.signal  # the run's end: 128 + the signal
            return
        if not result.redriven:
            return


RETURN_PASSES = 3
"""Walks of the parking queue at most, while the one before moved messages back."""


def open_with_destination(
    aws: Aws, open_dlq: Callable[[], OpenQueue], spec: DestinationSpec, warnings: list[str]
) -> tuple[OpenQueue, Destination]:
    """The DLQ opened (``open_dlq``, with its own checks) and the destination resolved. A bus or
    a queue is looked up while the DLQ is (neither lookup needs the other's answer), so far from
    the region a redrive starts a round trip or two sooner; the DLQ's error, when both fail, is
    the one raised, as when they were looked up one after the other."""
    parallel = spec.to_bus is not None or spec.to_queue is not None
    if parallel:
        try:  # made here, one at a time, then shared by the two threads
            aws.client("sqs")
            if spec.to_bus is not None:
                aws.client("events")
            aws.fetch_credentials()
        except DlqctlError:
            parallel = False  # raised again below, in the order of a lookup one after the other
    if not parallel:
        opened = open_dlq()
        build = build_target_destination if spec.to_target else build_destination
        return opened, build(aws, opened, spec, warnings)
    dlq = _in_background(open_dlq)
    try:
        destination = build_destination(aws, dlq, spec, warnings)
    except Exception:
        dlq()  # the DLQ's own error first: a redrive names its queue before the rest
        raise
    return dlq(), destination


def _in_background(open_dlq: Callable[[], OpenQueue]) -> Callable[[], OpenQueue]:
    """``open_dlq`` in a thread of its own; the function returned waits for it (or raises its
    error). A daemon: a command stopped by a signal meanwhile does not wait for a lookup still
    under way (it holds no message)."""
    answer: Future[OpenQueue] = Future()

    def run() -> None:
        try:
            answer.set_result(open_dlq())
        except BaseException as exc:  # noqa: BLE001 - raised where the answer is asked for
            answer.set_exception(exc)

    threading.Thread(target=run, name="lookup", daemon=True).start()
    return answer.result


def prepare_redrive(
    aws: Aws,
    queue: str,
    spec: DestinationSpec,
    selection: Selection,
    options: RedriveOptions,
    *,
    force: bool = False,
    journal_path: Path | None = None,
    park: str | None = None,
    look_anyway: bool = False,
) -> RedrivePlan:
    """Resolve the queue, the destination and the parking queue and check them, before
    anything is changed. A dry run is a look: on a queue whose own RedrivePolicy moves messages
    on as they are read, it is refused unless ``look_anyway`` (``--yes``)."""
    spec.check()
    warnings: list[str] = []
    open_dlq: Callable[[], OpenQueue] = (
        functools.partial(open_to_look, aws, queue, look_anyway=look_anyway)  # a dry run is a look
        if options.dry_run
        else functools.partial(open_queue, aws, queue)
    )
    opened, destination = open_with_destination(aws, open_dlq, spec, warnings)
    parking = None if park is None else prepare_parking(aws, opened, park)
    latency = None
    if options.concurrency is None:
        latency = call_seconds(aws, opened)
        options = replace(options, concurrency=sized_concurrency(latency))
    checked = preflight.check(aws, opened, destination, selection, call_seconds=latency)
    warnings.extend(checked.warnings)
    if options.dry_run:
        warnings.extend(f"pre-flight check failed: {failure}" for failure in checked.failures)
    else:
        preflight.enforce(checked, force=force)
    park_queue = parking.queue if parking is not None else None
    target = destination.queue if isinstance(destination, QueueDestination) else None
    if park_queue is not None and target is not None and park_queue.arn == target.arn:
        raise UsageError("--park and --to-queue name the same queue", "park in a queue of its own")
    return RedrivePlan(
        aws,
        opened,
        destination,
        selection,
        options,
        warnings,
        force,
        journal_path,
        parking,
        checked,
    )


MOVE_TASK_MAX_RATE = 500
"""StartMessageMoveTask's MaxNumberOfMessagesPerSecond: an integer, at most 500."""


def prepare_server_side(
    aws: Aws,
    queue: str,
    spec: DestinationSpec,
    selection: Selection,
    *,
    force: bool = False,
    limit: int | None,
    rate: float | None,
    dry_run: bool,
) -> DrainPlan | MoveTaskPlan:
    """``--server-side``: the bundled redriver drains to a bus, or SQS moves the messages."""
    spec.check()
    rewrites = {
        "--source": spec.source,
        "--detail-type": spec.detail_type,
        "--new-time": spec.new_time,
        "--mark": spec.mark,
        "--group-id": spec.group_id,
    }
    given = [option for option, value in rewrites.items() if value]
    if given:
        raise UsageError(
            f"--server-side cannot apply {', '.join(given)}: the redriver and SQS move tasks "
            "replay messages as they are",
            "drop them, or redrive without --server-side",
        )
    if spec.to_target:
        raise UsageError(
            "--server-side moves messages as they are; --to-target sends each to its failed target",
            "drop --server-side",
        )
    whole_queue_only(selection, limit)
    if rate is not None and spec.to_bus is not None:
        raise UsageError(
            "--rate does not apply to the redriver (--server-side --to-bus): it replays at the "
            "pace of its Lambda function",
            "drop --rate, or redrive without --server-side to pace the replay",
        )
    if rate is not None and not (1 <= rate <= MOVE_TASK_MAX_RATE and rate == int(rate)):
        raise UsageError(
            f"a message move task's --rate is a whole number of messages a second, from 1 to "
            f"{MOVE_TASK_MAX_RATE} (got {rate:g})",
            "e.g. --rate 10, or redrive without --server-side for a slower pace",
        )
    opened = open_queue(aws, queue, walked=False)  # SQS or the redriver moves it, not a walk
    if spec.to_bus is not None:
        return prepare_drain(aws, opened, spec.to_bus, dry_run=dry_run, force=force)
    return prepare_move_task(aws, opened, spec.to_queue, rate=rate, dry_run=dry_run)
