"""Signal handlers are put in place and restored whole, even when a signal comes meanwhile.

CPython's ``signal.signal`` first runs the handler of a signal that came since the last check,
which may raise before the new handler is in place; here a stand-in ``signal.signal`` raises
``KeyboardInterrupt`` once, as that pending handler would.
"""

from __future__ import annotations

import signal

import pytest

from dlqctl import interrupts


def _raising_once(monkeypatch: pytest.MonkeyPatch, at_call: int) -> None:
    real = signal.signal
    calls = [0]

    def install(signum, handler):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == at_call:
            raise KeyboardInterrupt  # a pending Ctrl-C, handled before the install
        return real(signum, handler)

    monkeypatch.setattr(signal, "signal", install)


def _handlers() -> dict[int, object]:
    return {signum: signal.getsignal(signum) for signum in interrupts.HANDLED_SIGNALS}


@pytest.mark.parametrize("at_call", [1, 2, 3], ids=["first", "second", "third"])
def test_a_signal_while_noting_begins_is_noted_and_the_block_runs(monkeypatch, at_call):
    before = _handlers()
    _raising_once(monkeypatch, at_call)
    ran = False
    with interrupts.signals_noted() as arrived:
        ran = True
        assert all(handler is not before[s] for s, handler in _handlers().items())
    assert ran and arrived == [signal.SIGINT]
    assert _handlers() == before


@pytest.mark.parametrize("at_call", [4, 5, 6], ids=["first", "second", "third"])
def test_a_signal_while_handlers_are_restored_is_noted_and_all_are_restored(monkeypatch, at_call):
    before = _handlers()
    _raising_once(monkeypatch, at_call)
    with interrupts.signals_noted() as arrived:
        pass
    assert arrived == [signal.SIGINT]
    assert _handlers() == before


@pytest.mark.parametrize(
    "guard",
    [interrupts.deferrable_signals, interrupts.interrupt_after_block],
    ids=["a deferral", "a batch"],
)
def test_a_signal_as_the_block_is_set_up_is_raised_before_it_with_the_previous_handlers_back(
    monkeypatch, guard
):
    before = _handlers()
    _raising_once(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt), guard():
        pytest.fail("the block must not run")
    assert _handlers() == before
