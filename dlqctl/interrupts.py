"""Signals from a terminal or a supervisor (SIGINT, SIGTERM, SIGHUP), all handled like Ctrl-C.

Each becomes an exception in the main thread: ``KeyboardInterrupt`` for SIGINT, ``Terminated``
(a ``KeyboardInterrupt`` too) for SIGTERM and SIGHUP, so every path that releases held messages
and the lease on Ctrl-C does the same for a closed SSH session or a ``kill``. The exit code is
128 + the signal's number.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
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


@contextmanager
def signals_noted() -> Iterator[list[int]]:
    """Note the signals that arrive during the block instead of raising them (main thread
    only; elsewhere the list stays empty): the caller decides when they take effect."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return
    previous = {
        signum: signal.signal(signum, lambda number, frame: arrived.append(number))
        for signum in HANDLED_SIGNALS
    }
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
    previous: dict[int, Any] = {}

    def handle(number: int, frame: FrameType | None) -> None:
        if deferral.noting:
            deferral.arrived.append(number)
            return
        before = previous.get(number)
        if callable(before):
            before(number, frame)
        else:
            raise interrupt_for(number)

    previous.update({signum: signal.signal(signum, handle) for signum in HANDLED_SIGNALS})
    try:
        yield deferral
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
        yield
    if arrived:
        raise interrupt_for(arrived[0])
