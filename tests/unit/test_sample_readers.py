"""How many of the pre-flight sample's receives go out side by side, by the time of a call."""

from __future__ import annotations

import pytest

from dlqctl.preflight import SAMPLE_SECONDS, sample_readers


@pytest.mark.parametrize(
    ("receives", "call_seconds", "readers"),
    [
        (10, None, 10),  # not timed (--concurrency given): all at once, as before
        (10, 0.0, 1),
        (10, 0.004, 1),  # near: ten one after another take ~40 ms
        (10, 0.009, 2),
        (10, 0.020, 4),
        (10, 0.050, 10),  # a call as long as the gate's time: all at once
        (10, 0.300, 10),  # far: never more than the receives
        (3, 0.300, 3),
        (1, 0.0, 1),
    ],
)
def test_sample_readers(receives: int, call_seconds: float | None, readers: int) -> None:
    assert SAMPLE_SECONDS == 0.05
    assert sample_readers(receives, call_seconds) == readers
