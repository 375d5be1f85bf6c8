"""Signals from a terminal or a supervisor (SIGINT, SIGTERM, SIGHUP), all handled like Ctrl-C.

Each becomes an exception in the main thread: ``KeyboardInterrupt`` for SIGINT, ``Terminated``
(a ``KeyboardInterrupt`` too) for SIGTERM and SIGHUP, so every path that releases held messages
and the lease on Ctrl-C does the same for a closed SSH session or a ``kill``. The exit code is
128 + the signal's number.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: stop as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_number(interrupt: BaseException) -> int:
    """The signal behind an interrupt (SIGINT for a plain KeyboardInterrupt)."""
    return interrupt.signum if isinstance(interrupt, Terminated) else int(signal.SIGINT)


def exit_code(interrupt: BaseException) -> int:
    """128 + the signal's number, as shells report a process ended by a signal."""
    return 128 + signal_number(interrupt)


def interrupt_for(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def install_handlers() -> None:
    """Turn SIGTERM and SIGHUP into ``Terminated`` (main thread only; SIGINT is Python's)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_terminated)


def _install(handlers: Mapping[signal.Signals, Any]) -> BaseException | None:
    """Install every handler, even if a signal comes meanwhile; returns what that signal raised.

    ``signal.signal`` first runs the handler of a signal that came since the last check (the
    handler in place then), so it can raise before it installs: the same install is tried
    again, and the error is returned for the caller to raise once every handler is in place.
    """
    raised: BaseException | None = None
    for signum, handler in handlers.items():
        while True:
            try:
                signal.signal(signum, handler)
                break
            except KeyboardInterrupt as exc:  # a signal's handler ran and raised: again
                raised = raised or exc
    return raised


@contextmanager
def _handled_by(
    handler: Callable[[int, FrameType | None], None],
    on_raised: Callable[[BaseException], None] | None = None,
) -> Iterator[None]:
    """``handler`` for the handled signals during the block, the previous ones restored after
    (all of them, whatever a signal raises meanwhile). What a signal that comes while they are
    put in place or restored raises goes to ``on_raised``; without it, it is raised (as the
    block begins, the previous handlers back in place; or after they are restored)."""
    previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
    raised = _install(dict.fromkeys(HANDLED_SIGNALS, handler))
    if raised is not None:
        if on_raised is None:  # it came before the block began
            _install(previous)
            raise raised
        on_raised(raised)
    try:
        yield
    finally:
        raised = _install(previous)
        if raised is not None:
            if on_raised is None:
                raise raised
            on_raised(raised)


@contextmanager
def signals_noted(on_signal: Callable[[list[int]], None] | None = None) -> Iterator[list[int]]:
    """Note the signals that arrive during the block instead of raising them (main thread
    only; elsewhere the list stays empty): the caller decides when they take effect. One that
    comes while the handlers are put in place or restored is noted too: this never raises.
    ``on_signal`` is called with the list after each one is noted."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def note(number: int, frame: FrameType | None) -> None:
        arrived.append(number)
        if on_signal is not None:
            on_signal(arrived)

    with _handled_by(note, lambda raised: note(signal_number(raised), None)):
        yield arrived


class Deferral:
    """What ``deferrable_signals`` yields: while ``noting`` is set, signals are noted in
    ``arrived``; otherwise they are handled as before."""

    def __init__(self) -> None:
        self.noting = False
        self.arrived: list[int] = []


@contextmanager
def deferrable_signals() -> Iterator[Deferral]:
    """Handlers installed once for a long block that notes signals only at some moments
    (setting a handler costs ~40 µs, too much for every wait of a walk); main thread only,
    elsewhere nothing is ever noted."""
    deferral = Deferral()
    if threading.current_thread() is not threading.main_thread():
        yield deferral
        return
    previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}

    def handle(number: int, frame: FrameType | None) -> None:
        if deferral.noting:
            deferral.arrived.append(number)
            return
        before = previous.get(signal.Signals(number))
        if callable(before):
            before(number, frame)
        else:
            raise interrupt_for(number)

    with _handled_by(handle):
        yield deferral


def each_whole(items: Iterable[T], handle: Callable[[T], None]) -> None:
    """``handle`` each item; a signal takes effect between two items (or while the next is
    awaited), never part way through handling one (main thread only)."""
    with deferrable_signals() as signals:
        for item in items:
            signals.noting = True
            try:
                handle(item)
            finally:
                signals.noting = False
            if signals.arrived:
                raise interrupt_for(signals.arrived[0])


@contextmanager
def interrupt_after_block() -> Iterator[None]:
    """Let the block finish before a signal takes effect (main thread only).

    Used around send → record → delete, and around each receive: a long poll abandoned
    mid-way could still take messages at SQS after they were released.
    """
    with signals_noted() as arrived:
        if arrived:  # it came as the handlers were put in place: the block does not begin
            raise interrupt_for(arrived[0])
        yield
    if arrived:
        raise interrupt_for(arrived[0])
