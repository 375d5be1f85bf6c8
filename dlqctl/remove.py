"""Deleting selected messages from a DLQ: by filter or by message ID, bounded like a redrive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dlqctl.aws import Aws
from dlqctl.errors import UsageError
from dlqctl.filters import Selection
from dlqctl.interrupts import interrupt_after_block, signal_number
from dlqctl.models import Failure, JsonValue, MessageView, walk_complete
from dlqctl.parking import Parking, prepare_parking
from dlqctl.plans import Confirmation, OnQueue, Reporter, covering, describe_scope
from dlqctl.redrive import run_parked
from dlqctl.scan import (
    DEFAULT_WALKING,
    OpenQueue,
    QueueScan,
    Walking,
    check_read_only,
    open_queue,
    split_batches,
    walk,
)


def delete_views(
    scan: QueueScan, views: Sequence[MessageView], failure_prefix: str, failures: list[Failure]
) -> int:
    """Delete held messages and return how many were deleted (the caller counts them inside
    ``interrupt_after_block``, so a Ctrl-C waits for the call and its count).
    Each message not deleted goes into ``failures``, those of a call that failed whole (the
    endpoint lost: it may have been done) too, before that call's error stops the run."""

    def note(failed: Sequence[tuple[str, str]]) -> None:
        failures.extend(Failure(i, f"{failure_prefix}: {why}") for i, why in failed)

    deletion = scan.delete_noting([view.message for view in views], note)
    return len(deletion.deleted)


@dataclass
class DeleteResult:
    """What ``delete`` did; ``to_json`` is its stable JSON form."""

    selected: int = 0
    deleted: int = 0
    not_found: list[str] = field(default_factory=list)
    dry_run: bool = False
    failures: list[Failure] = field(default_factory=list)
    title: str = "Delete"
    interrupted_by: int | None = None
    coverage: dict[str, JsonValue] | None = None
    parking: dict[str, JsonValue] | None = None

    @property
    def complete(self) -> bool:
        return (
            not self.failures and not self.not_found and walk_complete(self.coverage, self.parking)
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "selected": self.selected,
            "deleted": self.deleted,
            "not_found": self.not_found,
            "dry_run": self.dry_run,
            "failures": [failure.to_json() for failure in self.failures],
            "coverage": self.coverage,
            "parking": self.parking,
        }


def delete_messages(
    aws: Aws,
    opened: OpenQueue,
    selection: Selection,
    *,
    message_ids: Sequence[str] = (),
    limit: int | None = None,
    walking: Walking = DEFAULT_WALKING,
    progress: Callable[[int], None] = lambda count: None,
    parking: Parking | None = None,
    record: Callable[[Sequence[MessageView]], None] | None = None,
    into: DeleteResult | None = None,
) -> DeleteResult:
    """Walk the queue once and delete the messages selected (and named by ID, when given);
    with ``parking``, the others are parked as the walk goes.

    IDs that were not found in the walk are reported, so a typo never looks like success; a
    walk that an error or a signal stopped reports those it had not found by then.
    ``into`` is the result the run fills in, when the caller names it or makes it a dry run.
    """
    result = DeleteResult() if into is None else into
    dry_run = result.dry_run
    wanted = set(message_ids)
    try:
        with covering(walk(aws, opened, walking), result) as scan:
            for chosen, rest in split_batches(
                scan,
                selection,
                context=opened.context,
                limit=limit,
                leave_arrivals=not message_ids,  # an ID asked for is deleted, whenever sent
            ):
                if wanted:
                    rest += [view for view in chosen if view.message_id not in wanted]
                    chosen = [view for view in chosen if view.message_id in wanted]
                    wanted.difference_update(view.message_id for view in chosen)
                result.selected += len(chosen)
                if dry_run and record is not None:
                    record(chosen)
                if chosen and not dry_run:
                    with interrupt_after_block():
                        result.deleted += delete_views(
                            scan, chosen, "delete failed", result.failures
                        )
                progress(len(chosen))
                if message_ids and not wanted:
                    scan.cut()  # every ID asked for was found
                    break
                if parking is not None and not dry_run:
                    parking.park(scan, rest)
    except KeyboardInterrupt as exc:  # the batch in flight was finished: say what was done
        result.interrupted_by = signal_number(exc)
    finally:
        result.not_found = sorted(wanted)  # also in the result an error carries
    return result


@dataclass
class DeletePlan(OnQueue):
    """``delete``: the messages a selection (or a list of IDs) picks, after confirmation."""

    aws: Aws
    opened: OpenQueue
    selection: Selection
    message_ids: tuple[str, ...] = ()
    limit: int | None = None
    dry_run: bool = False
    walking: Walking = DEFAULT_WALKING
    parking: Parking | None = None
    record: Callable[[Sequence[MessageView]], None] | None = None
    """A dry run hands the messages it would delete here (to save the plan)."""

    @property
    def activity(self) -> str:
        return f"Deleting from {self.name}"

    def describe(self) -> str:
        what = (
            f"Delete {len(self.message_ids)} message ID(s) from" if self.message_ids else "Delete"
        )
        then = f"; {self.parking.describe()}" if self.parking else ""
        return describe_scope(what, self.opened, self.selection, self.limit, then=then)

    def run(self, reporter: Reporter) -> DeleteResult:
        return run_parked(
            self.aws,
            None if self.dry_run else self.parking,
            self.walking,
            reporter,
            lambda parking: delete_messages(
                self.aws,
                self.opened,
                self.selection,
                message_ids=self.message_ids,
                limit=self.limit,
                walking=self.walking,
                progress=reporter.progress,
                parking=parking,
                record=self.record,
                into=DeleteResult(dry_run=self.dry_run),
            ),
        )


def prepare_delete(
    aws: Aws,
    queue: str,
    selection: Selection,
    *,
    message_ids: Sequence[str] = (),
    limit: int | None = None,
    dry_run: bool = False,
    walking: Walking = DEFAULT_WALKING,
    park: str | None = None,
    look_anyway: bool = False,
) -> DeletePlan:
    """A delete needs IDs or a filter (emptying a queue is ``purge``), checked first. A dry run
    is a look: refused on a queue whose own RedrivePolicy moves messages on as they are read,
    unless ``look_anyway`` (``--yes``)."""
    if not message_ids and selection.is_everything:
        raise UsageError(
            "delete needs --id or a filter", "to empty the whole queue, use dlqctl purge"
        )
    opened = open_queue(aws, queue)
    if dry_run:
        check_read_only(opened, look_anyway=look_anyway)
    parking = None if park is None else prepare_parking(aws, opened, park)
    return DeletePlan(aws, opened, selection, tuple(message_ids), limit, dry_run, walking, parking)


@dataclass(frozen=True)
class PurgeStarted:
    """A PurgeQueue call SQS accepted (it finishes within 60 seconds)."""

    queue: str
    approximate_messages: int
    title: str = "Purge started (SQS takes up to 60 seconds to finish it)"
    complete: bool = True
    interrupted_by: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "queue": self.queue,
            "purged": True,
            "approximate_messages": self.approximate_messages,
        }


@dataclass
class PurgePlan(OnQueue):
    """``purge``: empty a queue (PurgeQueue), or delete what a selection picks; the operator
    types the queue's name to confirm. With an archive, see ``archive.prepare_export``."""

    aws: Aws
    opened: OpenQueue
    selection: Selection
    walking: Walking = DEFAULT_WALKING
    dry_run: bool = False
    confirmation: Confirmation = Confirmation.TYPE_NAME

    @property
    def activity(self) -> str:
        return f"Purging {self.name}"

    def describe(self) -> str:
        if not self.selection.is_everything:
            return describe_scope("This deletes", self.opened, self.selection, None)
        # PurgeQueue deletes every message: those others hold (in flight) and delayed too.
        attributes = self.opened.attributes
        parts = [f"~{attributes.visible:,} visible"]
        if attributes.in_flight:
            parts.append(f"~{attributes.in_flight:,} in flight (held by a consumer or a run)")
        if attributes.delayed:
            parts.append(f"~{attributes.delayed:,} delayed")
        return f"This deletes every message of {self.name}: {', '.join(parts)}"

    def run(self, reporter: Reporter) -> DeleteResult | PurgeStarted:
        if not self.selection.is_everything:
            return delete_messages(
                self.aws,
                self.opened,
                self.selection,
                walking=self.walking,
                progress=reporter.progress,
                into=DeleteResult(title="Purge (selected)"),
            )
        self.aws.sqs.purge(self.opened.queue)
        attributes = self.opened.attributes
        return PurgeStarted(
            self.name, attributes.visible + attributes.in_flight + attributes.delayed
        )
