"""A demo step's exit code decides the demo's: a signal that stopped the step stops the demo
with that signal's code (130 for Ctrl-C), any other failure fails it (exit code 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from dlqctl.demo import _step
from dlqctl.errors import DemoFailed, ExitCode, Interrupted


def exits(code: int) -> Callable[[Sequence[str]], int]:
    """A step runner whose command ends with ``code``, as ``_run_in_process`` reports it."""

    def run(argv: Sequence[str]) -> int:
        assert argv == ["peek", "orders-dlq"]
        return code

    return run


@pytest.mark.parametrize("code", [130, 143, 129])
def test_a_step_stopped_by_a_signal_stops_the_demo_with_its_code(code):
    with pytest.raises(Interrupted) as stopped:
        _step(exits(code), ["peek", "orders-dlq"], record=False)
    assert stopped.value.exit_code == code
    assert "'dlqctl peek orders-dlq' was interrupted" in stopped.value.message


@pytest.mark.parametrize("code", [ExitCode.UNEXPECTED, ExitCode.NOT_FOUND, ExitCode.PARTIAL])
def test_a_step_that_fails_fails_the_demo(code):
    with pytest.raises(DemoFailed) as failed:
        _step(exits(code), ["peek", "orders-dlq"], record=False)
    assert failed.value.exit_code == ExitCode.UNEXPECTED
    assert f"exited {int(code)}, expected 0" in failed.value.message


def test_a_step_that_succeeds_is_kept():
    step = _step(exits(0), ["peek", "orders-dlq"], record=False)
    assert (step.command, step.exit_code) == (["dlqctl", "peek", "orders-dlq"], 0)
