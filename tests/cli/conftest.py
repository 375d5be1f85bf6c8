"""Fixtures shared by the command tests."""

from __future__ import annotations

from typing import Any

import pytest

from dlqctl import emulate
from dlqctl.models import QueueRef
from tests.helpers import create_queue, put

DEEP_DEPTH = 60
"""Messages in ``deep_dlq``: several times the cap the fault proxy enforces."""
DEEP_CAP = 25
"""The in-flight cap ``deep_dlq`` is read under (AWS: about 120,000)."""


@pytest.fixture
def deep_dlq(faults: Any, fresh_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> QueueRef:
    """A Lambda DLQ deeper than the in-flight cap the proxy enforces; one message in ten has
    the error "fix me", the others "cannot be fixed"."""
    monkeypatch.setenv("DLQCTL_SQS_IN_FLIGHT_LIMIT", str(DEEP_CAP))
    dlq = create_queue(fresh_endpoint, "orders-dlq", MessageRetentionPeriod="86400")
    messages = [
        emulate.lambda_dlq(emulate.event({"n": n}), "fix me" if n % 10 == 9 else "cannot be fixed")
        for n in range(DEEP_DEPTH)
    ]
    put(fresh_endpoint, dlq, messages)
    faults.cap_in_flight(DEEP_CAP)
    return dlq
