"""The one shape of every command that changes something: plan → confirm → run → show.

A core module builds a ``Plan`` from the command's options, resolving and checking everything
before any change is made. The plan knows its warnings, describes itself (for the confirmation
prompt and the dry run), says how it must be confirmed, and ``run`` does the work, reporting
progress and warnings through a ``Reporter`` (core never prints), and returns a ``Result``: its
stable JSON form, whether everything was done, and the signal that interrupted it, if one did.
The CLI only renders the warnings, confirms, runs the plan and shows the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from dlqctl.errors import DlqctlError
from dlqctl.models import JsonValue

if TYPE_CHECKING:
    from dlqctl.filters import Selection
    from dlqctl.scan import OpenQueue, QueueScan


def _ignore(value: object) -> None:
    """A reporter's default: nobody is listening."""


@dataclass(frozen=True)
class Reporter:
    """Where a running plan reports: messages done (for a progress bar), and warnings."""

    progress: Callable[[int], None] = _ignore
    warn: Callable[[str], None] = _ignore
    status: Callable[[str], None] = _ignore
    """A short line on how the run goes, beside the progress bar."""


class Confirmation(Enum):
    """How a plan must be confirmed before it runs (``--yes`` confirms any of them)."""

    NONE = "none"
    """Nothing is changed, or the change is asked for explicitly."""
    ASK = "ask"
    """A yes/no question showing the plan."""
    TYPE_NAME = "type-name"
    """The operator types the queue's name (emptying a whole queue)."""


class Result(Protocol):
    """What a plan did."""

    @property
    def title(self) -> str:
        """How a person calls the result ("Redrive", "Delete", …)."""
        ...

    @property
    def complete(self) -> bool:
        """Whether everything selected was done (else the command exits 5)."""
        ...

    @property
    def interrupted_by(self) -> int | None:
        """The signal that stopped the run, if one did (the command exits 128 + it)."""
        ...

    def to_json(self) -> dict[str, JsonValue]: ...


class Plan(Protocol):
    """What a command will do, resolved and checked, not yet done."""

    @property
    def warnings(self) -> Sequence[str]:
        """What the operator should know before confirming."""
        ...

    @property
    def confirmation(self) -> Confirmation: ...

    @property
    def dry_run(self) -> bool: ...

    @property
    def name(self) -> str:
        """The thing acted on (the queue's name), for a typed confirmation."""
        ...

    @property
    def activity(self) -> str:
        """What the progress bar says while it runs ("Redriving orders-dlq")."""
        ...

    @property
    def total(self) -> int | None:
        """Messages the run expects to handle, for a progress bar (None: unknown)."""
        ...

    def describe(self) -> str:
        """One sentence for the prompt and the dry run, with the selection in the user's words."""
        ...

    def run(self, reporter: Reporter) -> Result: ...


@contextmanager
def keeping_done(result: Result) -> Iterator[None]:
    """An error that stops a run part way (the endpoint lost, the credentials expired)
    carries what the run had done, ``result``, for the command to show before the error."""
    try:
        yield
    except DlqctlError as exc:
        if exc.done is None:
            exc.done = result
        raise


class Covered(Result, Protocol):
    """A result that says how much of the queue its walk covered."""

    coverage: dict[str, JsonValue] | None


@contextmanager
def covering(scan: QueueScan, result: Covered) -> Iterator[QueueScan]:
    """A run's walk of the queue: released when the run ends, however it ends; the result
    gets the walk's coverage, and an error that stops the run carries the result
    (``keeping_done``)."""
    try:
        with keeping_done(result), scan:
            yield scan
    finally:
        result.coverage = scan.coverage().to_json()


@dataclass(frozen=True)
class StoppedBy:
    """A run an error stopped part way: what it had done, and the error's message (its JSON
    form is the result's with ``error``)."""

    done: Result
    error: str
    complete: bool = False
    interrupted_by: int | None = None

    @property
    def title(self) -> str:
        return f"{self.done.title} (stopped by an error)"

    def to_json(self) -> dict[str, JsonValue]:
        return {**self.done.to_json(), "error": self.error}


@dataclass(frozen=True)
class PlannedOnly:
    """The result of a dry run of a plan that has no per-message entries: what it would do."""

    plan: str
    title: str = "Dry run"
    complete: bool = True
    interrupted_by: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {"dry_run": True, "plan": self.plan}


class OnQueue:
    """What plans that act on one queue share: they are named after it, warn what opening it
    found, ask before they change anything (a dry run asks nothing), and cannot say how many
    messages they will handle unless they override ``total``."""

    opened: OpenQueue
    more_warnings: Sequence[str] = ()
    """What preparing the plan found beyond opening the queue."""

    @property
    def name(self) -> str:
        return self.opened.queue.name

    @property
    def warnings(self) -> Sequence[str]:
        return (*self.opened.warnings, *self.more_warnings)

    @property
    def dry_run(self) -> bool:
        """Whether the plan only shows what it would do (a field or a property of the plan)."""
        raise NotImplementedError

    @property
    def confirmation(self) -> Confirmation:
        return Confirmation.NONE if self.dry_run else Confirmation.ASK

    @property
    def total(self) -> int | None:
        return None


def scope(visible: int, limit: int | None) -> str:
    """'up to N message(s)', bounded by the queue's depth and ``--limit``."""
    count = visible if limit is None else min(limit, visible)
    return f"up to {count:,} message(s)"


def describe_scope(
    action: str, opened: OpenQueue, selection: Selection, limit: int | None, then: str = ""
) -> str:
    """'ACTION up to N message(s) of QUEUE THEN, selected by …' (the selection as typed)."""
    text = f"{action} {scope(opened.attributes.visible, limit)} of {opened.queue.name}{then}"
    if selection.description:
        text += f", selected by {selection.description}"
    return text
