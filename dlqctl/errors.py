"""dlqctl's exceptions and the stable exit codes they map to."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlqctl.plans import Result


class ExitCode(IntEnum):
    """Process exit codes. Scripts depend on these: never renumber."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    ACCESS = 4
    PARTIAL = 5
    BUSY = 6
    STACK_FAILED = 7
    INTERRUPTED = 130


class DlqctlError(Exception):
    """An error the user can act on: one line of message, one line of hint."""

    exit_code: int = ExitCode.UNEXPECTED
    done: Result | None = None
    """What the run this stopped had done before (``plans.keeping_done``): shown before the
    error line, so an operator knows what is already done."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class OutputFailed(DlqctlError):
    """What a command prints could not be written (a full disk, a closed file); what it did
    before that is done. A closed pipe (``| head``) is not an error."""

    @classmethod
    def of(cls, exc: OSError) -> OutputFailed:
        return cls(f"writing the output failed: {exc.strerror or exc}", "check where it goes")


class UsageError(DlqctlError):
    """Bad options or arguments, a bad filter, a refused confirmation."""

    exit_code = ExitCode.USAGE


class NotFoundError(DlqctlError):
    """A queue, bus or other resource does not exist (in this account and region)."""

    exit_code = ExitCode.NOT_FOUND


class AccessError(DlqctlError):
    """Missing credentials or region, or the credentials lack a permission."""

    exit_code = ExitCode.ACCESS


class ThrottledError(DlqctlError):
    """AWS kept throttling after the retries were spent: busy, try again later."""

    exit_code = ExitCode.BUSY


class BusyError(DlqctlError):
    """Something else is at work: another redrive holds the lease, a purge ran less than 60
    seconds ago, a sandbox is already running. Wait, or use what is running."""

    exit_code = ExitCode.BUSY


class LeaseHeld(BusyError):
    """Another run holds the queue's redrive lease."""


class PurgeInProgress(BusyError):
    """SQS refused a purge because one ran less than 60 seconds ago."""


class StackFailed(DlqctlError):
    """The stack did not reach a good state; the message names the failing resources."""

    exit_code = ExitCode.STACK_FAILED


class InFlightCap(DlqctlError):
    """SQS refused to hand out more messages: the queue holds as many in flight as it allows
    (about 120,000); ``OverLimit`` on a short poll."""

    exit_code = ExitCode.PARTIAL


class DemoFailed(DlqctlError):
    """A step of the demo did not do what it should."""


class UnreachableError(DlqctlError):
    """The endpoint could not be reached, or the connection to it was lost."""

    exit_code = ExitCode.ACCESS


class AmbiguousSend(DlqctlError):
    """A send that got no answer: it may or may not have been delivered."""

    exit_code = ExitCode.PARTIAL


class PartialFailure(DlqctlError):
    """Some messages were not processed; the result says which."""

    exit_code = ExitCode.PARTIAL


class Interrupted(DlqctlError):
    """Ctrl-C, SIGTERM or SIGHUP; held messages were released. Exits 128 + the signal."""

    exit_code: int = ExitCode.INTERRUPTED

    def __init__(self, message: str, hint: str | None = None, *, signum: int = 2) -> None:
        super().__init__(message, hint)
        self.exit_code = 128 + signum


def whole_call_failed(exc: DlqctlError) -> str:
    """What a batch delete that failed whole (its error stops the run) means for each of its
    messages, for their entries in the result: with no answer, the delete may have been done."""
    if isinstance(exc, UnreachableError):
        return "no answer, so it may have been deleted"
    return "the call failed: see the error"
