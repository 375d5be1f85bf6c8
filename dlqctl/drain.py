"""Server-side replay: let the bundled redriver Lambda drain a DLQ to the bus, then stop it.

``dlqctl redrive QUEUE --to-bus BUS --server-side`` enables the redriver's event source
mapping, watches the queue until it is empty (or stops shrinking), and disables the mapping
again, whatever happens. The replay rules are those of ``redrive --to-bus``: the function runs
the same code and reports every message it could not replay as a batch item failure, so Lambda
leaves it in the queue.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dlqctl.aws import Aws
from dlqctl.errors import DlqctlError, NotFoundError, UnreachableError
from dlqctl.interrupts import interrupt_after_block, signal_number
from dlqctl.lease import QueueLease, give_back_lease, take_lease
from dlqctl.models import Arn, JsonValue, SourceMapping
from dlqctl.plans import OnQueue, PlannedOnly, Reporter
from dlqctl.scan import OpenQueue

REDRIVER_BUS_VARIABLE = "DLQCTL_REDRIVER_BUS"


def _bus_name(bus: str) -> str:
    arn = Arn.parse(bus)
    return arn.name if arn is not None else bus


def find_redriver(aws: Aws, opened: OpenQueue, bus: str) -> SourceMapping:
    """The redriver mapping that reads this DLQ and replays to ``bus``."""
    for mapping in aws.lambda_.event_source_mappings(opened.queue.arn):
        target = mapping.environment.get(REDRIVER_BUS_VARIABLE)
        if target is not None and _bus_name(target) == _bus_name(bus):
            return mapping
    raise NotFoundError(
        f"no redriver function reads {opened.queue.name} and replays to {bus}",
        "deploy the bundled stack (dlqctl stack deploy), or redrive without --server-side",
    )


@dataclass
class DrainResult:
    """What a server-side drain did; ``to_json`` is its stable JSON form."""

    mapping: str
    function: str
    started_with: int
    remaining: int
    drained: bool
    seconds: float
    title: str = "Server-side redrive"
    interrupted_by: int | None = None

    @property
    def complete(self) -> bool:
        return self.drained

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "mapping": self.mapping,
            "function": self.function,
            "started_with": self.started_with,
            "remaining": self.remaining,
            "drained": self.drained,
            "seconds": round(self.seconds, 1),
        }


def drain(
    aws: Aws,
    opened: OpenQueue,
    mapping: SourceMapping,
    *,
    timeout_seconds: float = 3600,
    stall_seconds: float = 120,
    poll_seconds: float = 5,
    on_remaining: Callable[[int], None] = lambda remaining: None,
    clock: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Enable the mapping until the queue is empty, stops shrinking, or time runs out; a
    signal ends the watch too (the result says which signal), and the mapping is disabled
    however the drain ends."""
    started = clock()
    start_count = opened.attributes.visible + opened.attributes.in_flight
    remaining = start_count
    empty_polls = 0
    best, best_at = remaining, started
    enabled = False
    interrupted_by: int | None = None
    try:
        try:
            try:
                with interrupt_after_block():  # enabled, then the signal: the finally disables it
                    aws.lambda_.set_mapping_enabled(mapping.uuid, True, busy_seconds=0)
                    enabled = True
            except DlqctlError as exc:
                enabled = isinstance(exc, UnreachableError)  # no answer: it may be enabled
                raise
            while True:
                attributes = aws.sqs.attributes(opened.queue)
                remaining = attributes.visible + attributes.in_flight + attributes.delayed
                on_remaining(remaining)
                now = clock()
                # Counts are approximate: call the queue empty only when two polls agree.
                empty_polls = empty_polls + 1 if remaining == 0 else 0
                if empty_polls >= 2:
                    break
                if remaining < best:
                    best, best_at = remaining, now
                if now - best_at > stall_seconds or now - started > timeout_seconds:
                    break
                time.sleep(poll_seconds)
        except KeyboardInterrupt as interrupt:  # the watch ends (or never starts): the result
            interrupted_by = signal_number(interrupt)  # is still shown
    finally:
        if enabled:
            try:
                disable(aws, opened.queue.name, mapping)  # the call completes, then the signal
            except KeyboardInterrupt as interrupt:  # takes effect: the result is still shown
                interrupted_by = interrupted_by or signal_number(interrupt)
    return DrainResult(
        mapping=mapping.uuid,
        function=mapping.function_arn,
        started_with=start_count,
        remaining=remaining,
        drained=remaining == 0 and interrupted_by is None,
        seconds=clock() - started,
        interrupted_by=interrupted_by,
    )


def disable(aws: Aws, queue: str, mapping: SourceMapping) -> None:
    """Turn the redriver off: a signal waits for the call (a second Ctrl-C must not leave it
    replaying with nobody watching), and when it cannot be turned off the error says so and
    how, in place of whatever ended the drain."""
    try:
        with interrupt_after_block():
            aws.lambda_.set_mapping_enabled(mapping.uuid, False)
    except DlqctlError as exc:
        raise DlqctlError(
            f"the redriver may still be replaying {queue}: disabling its event "
            f"source mapping {mapping.uuid} failed ({exc.message})",
            f"disable it: aws lambda update-event-source-mapping --uuid {mapping.uuid} "
            "--no-enabled",
        ) from exc


@dataclass
class DrainPlan(OnQueue):
    """``redrive --to-bus BUS --server-side``: the redriver that will drain the queue."""

    aws: Aws
    opened: OpenQueue
    bus: str
    mapping: SourceMapping
    dry_run: bool = False
    force: bool = False
    """Take the redrive lease even from a live run (``--force``)."""

    @property
    def activity(self) -> str:
        return f"Draining {self.name}"

    def describe(self) -> str:
        return (
            f"Enable {self.mapping.function_arn} to replay all "
            f"{self.opened.attributes.visible:,} message(s) of {self.name} to {self.bus}, "
            "and disable it when the queue is empty"
        )

    def run(self, reporter: Reporter) -> DrainResult | PlannedOnly:
        if self.dry_run:
            return PlannedOnly(self.describe())
        # The redrive lease, as a client-side redrive takes it: the two never drain one DLQ
        # together (each would replay what the other is replaying).
        lease = QueueLease(self.aws, self.opened.queue, uuid.uuid4().hex[:12])
        taken = take_lease(lease, self.force, reporter)

        def polled(remaining: int) -> None:
            reporter.progress(0)
            if taken:
                lease.renew()

        try:
            return drain(self.aws, self.opened, self.mapping, poll_seconds=2, on_remaining=polled)
        finally:
            if taken:
                give_back_lease(lease, reporter)


def prepare_drain(
    aws: Aws, opened: OpenQueue, bus: str, *, dry_run: bool, force: bool = False
) -> DrainPlan:
    """Find the bundled redriver that reads this DLQ and replays to ``bus``."""
    return DrainPlan(aws, opened, bus, find_redriver(aws, opened, bus), dry_run, force)
