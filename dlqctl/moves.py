"""SQS message move tasks: let SQS move a DLQ's messages (``redrive --server-side``), follow
them, and cancel the running one.

A move task works only for DLQs whose sources are SQS queues (AWS refuses the others), moves
the whole queue, and cannot filter: ``prepare_move_task`` checks all three before anything is
started.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlqctl.aws import Aws
from dlqctl.errors import NotFoundError, UsageError
from dlqctl.filters import Selection
from dlqctl.models import JsonValue, MoveTask
from dlqctl.plans import Confirmation, OnQueue, PlannedOnly, Reporter
from dlqctl.scan import OpenQueue, source_queue_arns


def whole_queue_only(selection: Selection, limit: int | None) -> None:
    """Server-side replays move the whole queue: no filter, no limit."""
    if not selection.is_everything or limit is not None:
        raise UsageError(
            "--server-side replays the whole queue",
            "drop the filters and --limit, or redrive without --server-side",
        )


@dataclass(frozen=True)
class MoveTaskStarted:
    """A started move task: its handle, to follow it with ``dlqctl moves``."""

    task_handle: str
    source_arn: str
    destination_arn: str | None
    title: str = "Message move task started"
    complete: bool = True
    interrupted_by: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "task_handle": self.task_handle,
            "source_arn": self.source_arn,
            "destination_arn": self.destination_arn,
        }


@dataclass
class MoveTaskPlan(OnQueue):
    """``redrive --server-side`` to a queue or back to the sources: one SQS move task."""

    aws: Aws
    opened: OpenQueue
    destination_arn: str | None
    rate: float | None = None
    dry_run: bool = False

    @property
    def activity(self) -> str:
        return f"Starting a move task for {self.name}"

    def describe(self) -> str:
        where = self.destination_arn or "their original source queues"
        pace = f", at most {int(self.rate):,} a second" if self.rate else ""
        return (
            f"Start a message move task of all {self.opened.attributes.visible:,} message(s) "
            f"of {self.name} to {where}{pace}"
        )

    def run(self, reporter: Reporter) -> MoveTaskStarted | PlannedOnly:
        if self.dry_run:
            return PlannedOnly(self.describe())
        handle = self.aws.sqs.start_move_task(
            self.opened.queue,
            destination_arn=self.destination_arn,
            max_per_second=int(self.rate) if self.rate else None,
        )
        return MoveTaskStarted(handle, self.opened.queue.arn, self.destination_arn)


def prepare_move_task(
    aws: Aws, opened: OpenQueue, to_queue: str | None, *, rate: float | None, dry_run: bool
) -> MoveTaskPlan:
    destination_arn = aws.sqs.resolve(to_queue)[0].arn if to_queue else None
    if not source_queue_arns(aws, opened):  # StartMessageMoveTask takes no other DLQ
        raise UsageError(
            f"no SQS queue sends its failures to {opened.queue.name}",
            "a message move task works only for DLQs of SQS queues; redrive without --server-side",
        )
    return MoveTaskPlan(aws, opened, destination_arn, rate, dry_run)


def move_tasks(aws: Aws, opened: OpenQueue) -> list[MoveTask]:
    """The queue's recent move tasks, newest first."""
    return aws.sqs.move_tasks(opened.queue)


@dataclass(frozen=True)
class MoveTaskCancelled:
    task_handle: str
    moved: int
    title: str = "Message move task cancelled (moved messages stay moved)"
    complete: bool = True
    interrupted_by: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {"cancelled": self.task_handle, "moved": self.moved}


@dataclass
class CancelPlan(OnQueue):
    """``moves --cancel``: stop the running move task of a queue."""

    aws: Aws
    opened: OpenQueue
    task_handle: str
    dry_run: bool = False
    confirmation: Confirmation = Confirmation.ASK

    @property
    def activity(self) -> str:
        return f"Cancelling the move task of {self.name}"

    def describe(self) -> str:
        return f"Cancel the move task of {self.name}"

    def run(self, reporter: Reporter) -> MoveTaskCancelled:
        return MoveTaskCancelled(self.task_handle, self.aws.sqs.cancel_move_task(self.task_handle))


def prepare_cancel(aws: Aws, opened: OpenQueue) -> CancelPlan:
    running = [
        task for task in move_tasks(aws, opened) if task.status == "RUNNING" and task.task_handle
    ]
    if not running:
        raise NotFoundError(f"no running move task for {opened.queue.name}")
    return CancelPlan(aws, opened, running[0].task_handle or "")
