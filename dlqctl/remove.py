"""Deleting selected messages from a DLQ: by filter or by message ID, bounded like a redrive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dlqctl.aws import Aws
from dlqctl.filters import Selection
from dlqctl.interrupts import interrupt_after_block
from dlqctl.models import Failure, JsonValue, MessageView
from dlqctl.scan import OpenQueue, QueueScan, selected_batches, walk


def delete_views(
    scan: QueueScan, views: Sequence[MessageView], failure_prefix: str
) -> tuple[int, list[Failure]]:
    """Delete held messages (a Ctrl-C waits for the call); returns the count and the failures."""
    with interrupt_after_block():
        deletion = scan.delete([view.message for view in views])
    failures = [
        Failure(message_id, f"{failure_prefix}: {code}") for message_id, code in deletion.failed
    ]
    return len(deletion.deleted), failures


@dataclass
class DeleteResult:
    """What ``delete`` did; ``to_json`` is its stable JSON form."""

    selected: int = 0
    deleted: int = 0
    not_found: list[str] = field(default_factory=list)
    dry_run: bool = False
    failures: list[Failure] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failures and not self.not_found

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "selected": self.selected,
            "deleted": self.deleted,
            "not_found": self.not_found,
            "dry_run": self.dry_run,
            "failures": [failure.to_json() for failure in self.failures],
        }


def delete_messages(
    aws: Aws,
    opened: OpenQueue,
    selection: Selection,
    *,
    message_ids: Sequence[str] = (),
    limit: int | None = None,
    dry_run: bool = False,
    hold_seconds: int | None = None,
    wait_seconds: int = 1,
    progress: Callable[[int], None] = lambda count: None,
) -> DeleteResult:
    """Walk the queue once and delete the messages selected (and named by ID, when given).

    IDs that were not found in the walk are reported, so a typo never looks like success.
    """
    result = DeleteResult(dry_run=dry_run)
    wanted = set(message_ids)
    with walk(aws, opened, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        for chosen in selected_batches(scan, selection, context=opened.context, limit=limit):
            if wanted:
                chosen = [view for view in chosen if view.message_id in wanted]
                wanted.difference_update(view.message_id for view in chosen)
            result.selected += len(chosen)
            if chosen and not dry_run:
                deleted, failures = delete_views(scan, chosen, "delete failed")
                result.deleted += deleted
                result.failures.extend(failures)
            progress(len(chosen))
            if message_ids and not wanted:
                break
    result.not_found = sorted(wanted)
    return result
