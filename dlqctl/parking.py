"""Parking: how a selective walk gets past SQS's in-flight cap.

SQS lets a reader hold about 120,000 messages of a queue at a time. A selective walk (a filtered
redrive, delete or purge) holds every message it passes over, so on a deeper queue it stops at
the cap. With ``--park QUEUE`` each message the run leaves alone is moved into a parking queue
instead (sent, the send acknowledged and journaled, then deleted from the DLQ), so the walk
holds almost nothing and goes on to the end of the queue. When the walk ends, everything in the
parking queue is moved back into the DLQ the same way (a redrive of the parking queue).

What it costs: a parked message comes back with a new message ID, a fresh retention clock and
receive count, and without the system attributes SQS had set on it (``DeadLetterQueueSourceArn``
among them, so ``--to-source`` can no longer find its source queue); and API calls: a send and
a delete per ten messages on the way out, a receive, a send and a delete per ten on the way
back. A run that stops early (Ctrl-C, a crash) leaves its messages parked: the same command run
again parks what it skips and, when it ends, moves everything back, and ``dlqctl journal``
shows the parking journals. A parking queue belongs to one DLQ (a tag says which): dlqctl never
moves into a DLQ messages that another DLQ parked.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from dlqctl.aws import Aws
from dlqctl.delivery import send_and_record
from dlqctl.destinations import Planned, QueueDestination, Rejected
from dlqctl.errors import DlqctlError, NotFoundError, UsageError
from dlqctl.interrupts import interrupt_after_block
from dlqctl.journal import Journal, State
from dlqctl.models import (
    Failure,
    JsonValue,
    MessageView,
    QueueAttributes,
    QueueRef,
    RedriveResult,
)
from dlqctl.scan import OpenQueue, QueueScan

_NOT_DELETED = "parked, but deleting it from the DLQ failed"

PARKING_TAG = "dlqctl-parking-for"
"""Tag on a parking queue: the ARN of the DLQ whose messages it holds."""


@dataclass
class ParkingResult:
    """What parking did in one run; ``to_json`` is its stable JSON form."""

    queue: str
    parked: int = 0
    returned: int = 0
    left_parked: int | None = 0
    """Messages still in the parking queue when the run ended (approximate; None: not
    counted, the endpoint not answering)."""
    failures: list[Failure] = field(default_factory=list)
    interrupted_by: int | None = None
    """The signal that stopped moving the parked messages back, if one did."""

    @property
    def complete(self) -> bool:
        return not self.failures and self.left_parked == 0

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "queue": self.queue,
            "parked": self.parked,
            "returned": self.returned,
            "left_parked": self.left_parked,
            "failures": [failure.to_json() for failure in self.failures],
        }


class Parking:
    """The parking queue of one run: ``start`` it after the confirmation, ``park`` what the
    run skips (from any worker), and ``bring_back`` everything when the walk ends."""

    def __init__(
        self, aws: Aws, dlq: OpenQueue, name: str, found: tuple[QueueRef, QueueAttributes] | None
    ) -> None:
        self.aws = aws
        self.dlq = dlq
        self.name = name
        self.found = found
        self.result = ParkingResult(name)
        self._destination: QueueDestination | None = None
        self._journal: Journal | None = None
        self._run_id = ""
        self._lock = threading.Lock()

    def describe(self) -> str:
        created = "" if self.found else " (created like it)"
        return (
            f"messages it leaves alone are parked in {self.name}{created} and moved back into "
            f"{self.dlq.queue.name} at the end, with new message IDs"
        )

    def start(self, run_id: str) -> str | None:
        """Create the parking queue if needed and open its journal; returns why the journal
        could not be locked, on a file system without locks (``Journal.unlocked``)."""
        dlq = self.dlq.queue
        if self.found is None:
            ref = self.aws.sqs.create_like(self.name, dlq, {PARKING_TAG: dlq.arn})
            self.found = (ref, self.aws.sqs.attributes(ref))
        ref, attributes = self.found
        if self.aws.sqs.tags(ref).get(PARKING_TAG) != dlq.arn:
            self.aws.sqs.tag(ref, {PARKING_TAG: dlq.arn})
        self._destination = QueueDestination(self.aws, ref, attributes)
        self._run_id = run_id
        self._journal = Journal.for_run(
            None, dlq.arn, self._destination.journal_key, self._destination.description, run_id
        )
        return self._journal.unlocked

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def park(self, scan: QueueScan, views: Sequence[MessageView]) -> None:
        """Move messages the run leaves alone out of the DLQ; those that cannot be parked stay
        held (and are released at the end)."""
        destination, journal = self._destination, self._journal
        if not views or destination is None or journal is None:
            return
        sent_before: list[MessageView] = []
        planned: list[Planned] = []
        failures: list[Failure] = []
        for view in views:
            if journal.status(view.message) in (State.PENDING_DELETE, State.DELIVERED):
                sent_before.append(view)  # parked by a run that stopped before the delete
                continue
            plan = destination.plan(view)
            if isinstance(plan, Rejected):
                failures.append(Failure(view.message_id, f"not parked: {plan.reason}"))
            else:
                planned.append(plan)
        with interrupt_after_block():
            delivery = send_and_record(destination, planned, journal)
            failures.extend(
                Failure(view.message_id, f"not parked: {reason}")
                for view, reason in delivery.refused + delivery.unanswered
            )
            acknowledged = [view.message for view, _ in delivery.accepted]
            parked = [view.message for view in sent_before] + acknowledged

            def note(failed: Sequence[tuple[str, str]]) -> None:
                failures.extend(Failure(i, f"{_NOT_DELETED} ({why})") for i, why in failed)

            try:
                deletion = scan.delete_noting(parked, note)
            except DlqctlError:  # in the parking queue, and maybe still in the DLQ
                with self._lock:
                    self.result.failures.extend(failures)
                raise
            with self._lock:
                self.result.parked += len(deletion.deleted)
                self.result.failures.extend(failures)
            journal.deleted(deletion.deleted)

    @property
    def queue(self) -> QueueRef | None:
        """The parking queue, once it exists."""
        return self.found[0] if self.found else None

    def journal_for_return(self, back: QueueDestination) -> Journal:
        """The journal of moving the parked messages back to ``back`` (the DLQ)."""
        park = self.found[0] if self.found else None
        assert park is not None, "start() first"
        return Journal.for_run(None, park.arn, back.journal_key, back.description, self._run_id)

    def returned(self, result: RedriveResult) -> None:
        """Count one walk of moving the parked messages back."""
        with self._lock:
            self.result.returned += result.redriven
            self.result.failures.extend(
                Failure(failure.message_id, f"not moved back: {failure.reason}")
                for failure in result.failures
            )

    def owed(self) -> int:
        """How many of the messages this run parked have not come back (at least that many are
        still parked, whatever SQS's approximate counts say)."""
        with self._lock:
            return max(0, self.result.parked - self.result.returned)

    def stopped(self) -> dict[str, JsonValue]:
        """What parking did in a run an error stopped: what is left parked is not counted
        (``left_parked`` None: the endpoint is not asked again, it may be what failed)."""
        with self._lock:
            self.result.left_parked = None
            return self.result.to_json()

    def count_left(self, *, quietly: bool = False) -> None:
        """Note how many messages are still parked: SQS's approximate count, or how many of
        those this run parked have not come back if that is more; ``quietly`` (after a signal,
        which must stay the run's end) an error leaves them not counted."""
        if self.found is None:
            return
        try:
            attributes = self.aws.sqs.attributes(self.found[0])
        except DlqctlError:
            if not quietly:
                raise
            self.result.left_parked = None
            return
        self.result.left_parked = max(attributes.visible + attributes.in_flight, self.owed())


def prepare_parking(aws: Aws, dlq: OpenQueue, name: str) -> Parking:
    """Check a ``--park`` queue before anything changes: not the DLQ, the DLQ's type, and either
    missing (created at the start of the run) or parking for this DLQ (or empty)."""
    queue = dlq.queue
    if name in (queue.name, queue.url, queue.arn):
        raise UsageError("--park must name a queue other than the DLQ", "e.g. --park NAME-parked")
    if dlq.attributes.fifo != name.endswith(".fifo") and not name.startswith(("http", "arn:")):
        kind = "FIFO: its name must end in .fifo" if dlq.attributes.fifo else "not FIFO"
        raise UsageError(
            f"the parking queue must be of the DLQ's type ({queue.name} is {kind})",
            "pick another --park name",
        )
    try:
        ref, attributes = aws.sqs.resolve(name)
    except NotFoundError:
        if name.startswith(("http", "arn:")):
            raise UsageError(
                f"parking queue {name} does not exist",
                "give --park a queue name: dlqctl creates it like the DLQ",
            ) from None
        return Parking(aws, dlq, name, None)
    if attributes.fifo != dlq.attributes.fifo:
        raise UsageError(
            f"parking queue {ref.name} is {'' if attributes.fifo else 'not '}FIFO and "
            f"{queue.name} is {'' if dlq.attributes.fifo else 'not '}FIFO",
            "pick another --park queue",
        )
    owner = aws.sqs.tags(ref).get(PARKING_TAG)
    if owner != queue.arn and (owner or attributes.visible or attributes.in_flight):
        whose = f"parks messages of {owner}" if owner else "holds messages dlqctl did not park"
        raise UsageError(
            f"queue {ref.name} {whose}; its messages must not be moved into {queue.name}",
            "pick another --park queue",
        )
    return Parking(aws, dlq, ref.name, (ref, attributes))
