"""The redriver: replays DLQ messages to the bus, wired to the DLQ by an event source mapping.

It runs the same replay code as ``dlqctl redrive --to-bus`` (the ``dlqctl`` package is packaged
beside this file): each message's event is rebuilt and put on the bus, and only the messages
whose entry got an ``EventId`` are reported as done. Every other message is returned in
``batchItemFailures``, so Lambda leaves it in the DLQ (the mapping uses ReportBatchItemFailures).
"""

from __future__ import annotations

import os
from typing import Any

from dlqctl.aws import Aws, Connection
from dlqctl.destinations import BusDestination, Planned, deliver_batch
from dlqctl.envelopes import decode
from dlqctl.models import ReceivedMessage

_aws: Aws | None = None


def _client() -> Aws:
    global _aws
    if _aws is None:
        _aws = Aws(Connection())
    return _aws


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """SQS batch in, ``{"batchItemFailures": [{"itemIdentifier": message_id}, …]}`` out."""
    bus = os.environ["DLQCTL_REDRIVER_BUS"]
    destination = BusDestination(_client(), bus)
    failures: list[str] = []
    planned: list[Planned] = []
    for record in event.get("Records", []):
        view = decode(ReceivedMessage.from_lambda_record(record))
        plan = destination.plan(view)
        if isinstance(plan, Planned):
            planned.append(plan)
        else:
            print(f"left in the DLQ: {view.message_id}: {plan.reason}")
            failures.append(view.message_id)
    delivery = deliver_batch(destination, planned)
    for view, reason in delivery.refused + delivery.unanswered:
        print(f"left in the DLQ: {view.message_id}: {reason}")
        failures.append(view.message_id)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
