"""Helpers for tests: put messages of real DLQ shapes into a queue, and read queue counts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dlqctl.aws import Aws, Connection
from dlqctl.models import OutgoingMessage, QueueRef

REGION = "us-east-1"


def aws_for(endpoint: str) -> Aws:
    return Aws(Connection(region=REGION, endpoint_url=endpoint))


def create_queue(endpoint: str, name: str, **attributes: str) -> QueueRef:
    return aws_for(endpoint).sqs.create(name, dict(attributes))


def put(endpoint: str, queue: QueueRef, messages: list[OutgoingMessage]) -> list[str]:
    """Send messages in batches of 10; returns the message IDs AWS assigned."""
    aws = aws_for(endpoint)
    ids: list[str] = []
    for start in range(0, len(messages), 10):
        chunk = [
            replace(message, entry_id=str(index))
            for index, message in enumerate(messages[start : start + 10])
        ]
        outcome = aws.sqs.send(queue, chunk)
        assert not outcome.failed, outcome.failed
        ids.extend(outcome.accepted[str(index)] for index in range(len(chunk)))
    return ids


def counts(endpoint: str, queue: QueueRef) -> tuple[int, int]:
    """(visible, in flight) for a queue."""
    attributes = aws_for(endpoint).sqs.attributes(queue)
    return attributes.visible, attributes.in_flight


def plain(body: str, **attributes: Any) -> OutgoingMessage:
    return OutgoingMessage(entry_id="m", body=body)


def receive_all(boto: Any, queue: QueueRef) -> list[dict[str, Any]]:
    """Receive and delete every message of a queue (with attributes); returns them."""
    sqs = boto("sqs")
    received: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(message)
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
