"""The release's batches run side by side and can be told to stop (``aws._until_stopped``)."""

from __future__ import annotations

import threading

import pytest

from dlqctl import aws

CHUNKS = [[f"h{n}-{i}" for i in range(10)] for n in range(20)]


def test_every_batch_is_changed_and_only_what_failed_is_returned():
    def change(chunk):  # type: ignore[no-untyped-def]
        return [handle for handle in chunk if handle.endswith("-3")]

    failed = aws._until_stopped(change, CHUNKS, threading.Event())
    assert sorted(failed) == sorted(f"h{n}-3" for n in range(20))


def test_once_stopped_no_batch_starts_and_stalled_ones_count_as_failed(monkeypatch):
    monkeypatch.setattr(aws, "RELEASE_GRACE_SECONDS", 0.2)
    stop, stalled, started = threading.Event(), threading.Event(), []

    def change(chunk):  # type: ignore[no-untyped-def]
        started.append(chunk)
        stop.set()  # a second signal, while the first batches are under way
        stalled.wait(30)  # the endpoint does not answer
        return []

    try:
        failed = aws._until_stopped(change, CHUNKS, stop)
    finally:
        stalled.set()
    assert len(started) <= aws.RELEASE_CONCURRENCY
    assert sorted(failed) == sorted(handle for chunk in CHUNKS for handle in chunk)


def test_an_error_in_a_batch_is_raised_where_it_was_asked_for():
    def change(chunk):  # type: ignore[no-untyped-def]
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        aws._until_stopped(change, CHUNKS, threading.Event())
