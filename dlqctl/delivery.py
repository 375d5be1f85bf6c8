"""One batch's delivery with its journal: record, send, record the acknowledgements.

Every path that replays messages and deletes them after (a redrive, an import, parking) goes
through ``send_and_record``, so a crash at any step leaves the journal able to tell the next run
what was acknowledged (delete it, do not send it again) and what was sent without an answer.
"""

from __future__ import annotations

from collections.abc import Callable

from dlqctl.destinations import BatchDelivery, Destination, Planned, deliver_batch
from dlqctl.journal import Journal

STEPS = ("before-send", "after-send", "after-ack", "after-delete")
"""The steps of one batch, in order: record, send, record the acknowledgements, delete."""

step_observers: list[Callable[[str], None]] = []
"""Called with each step's name as a batch reaches it. Empty in normal runs; the crash tests
install an observer that stops the process at a chosen step."""


def checkpoint(step: str) -> None:
    for observer in step_observers:
        observer(step)


def send_and_record(
    destination: Destination, planned: list[Planned], journal: Journal | None
) -> BatchDelivery:
    """Record → send → record the acknowledgements (synced): after this, what was acknowledged
    may be deleted, and a rerun knows what was sent without an answer."""
    if journal is not None:
        journal.sending([item.view.message for item in planned])
    checkpoint("before-send")
    delivery = deliver_batch(destination, planned)
    checkpoint("after-send")
    if journal is not None:
        # Unanswered sends stay as "sending": a rerun sees them as ambiguous.
        journal.acked([(view.message, target) for view, target in delivery.accepted])
        journal.refused([view.message for view, _ in delivery.refused])
    checkpoint("after-ack")
    return delivery
