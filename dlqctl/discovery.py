"""Finding the dead-letter queues of an account and region, and what feeds each one."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dlqctl.aws import Aws
from dlqctl.errors import DlqctlError
from dlqctl.models import (
    DeadLetterPointer,
    DeadLetterQueue,
    QueueAttributes,
    QueueRef,
    Source,
)

_DLQ_NAME = re.compile(r"dlq|dead[-_]?letter", re.IGNORECASE)
DESCRIBE_CONCURRENCY = 8


def named_like_dlq(name: str) -> bool:
    """Whether a queue's name says it is a dead-letter queue (``dlq``, ``dead-letter``, …)."""
    return bool(_DLQ_NAME.search(name))


@dataclass
class Inventory:
    """The result of ``list``: the queues found, and what could not be looked at."""

    queues: list[DeadLetterQueue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    """What could not be looked at (a queue, a service's sources): the list may miss DLQs or
    what feeds them."""


def _pointers(
    name: str, finder: Callable[[], Iterator[DeadLetterPointer]], incomplete: list[str]
) -> list[DeadLetterPointer]:
    """The pointers one service reports; a permission or service error part way keeps those
    found before it, and says the service's sources may be incomplete."""
    found: list[DeadLetterPointer] = []
    try:
        found.extend(finder())
    except DlqctlError as exc:
        incomplete.append(f"{name} sources may be incomplete: {exc.message}")
    return found


def _describe(aws: Aws, url: str, incomplete: list[str]) -> list[tuple[QueueRef, QueueAttributes]]:
    """One queue's attributes; a queue that cannot be read is named, and the others listed."""
    try:
        return list(aws.sqs.describe_urls([url]))
    except DlqctlError as exc:
        incomplete.append(f"queue {url} not looked at: {exc.message}")
        return []


def find_dead_letter_queues(
    aws: Aws, *, include_all: bool = False, prefix: str | None = None
) -> Inventory:
    """List queues, find what points at each, and keep the DLQs (or all with ``include_all``)."""
    inventory = Inventory()
    urls = list(aws.sqs.queue_urls(prefix))
    with ThreadPoolExecutor(max_workers=DESCRIBE_CONCURRENCY) as pool:
        described = list(pool.map(lambda url: _describe(aws, url, inventory.incomplete), urls))
    queues = [item for items in described for item in items]

    sources: dict[str, list[Source]] = defaultdict(list)
    for queue, attributes in queues:
        if attributes.redrive_policy:
            sources[attributes.redrive_policy.dead_letter_target_arn].append(
                Source("sqs", queue.arn)
            )
    finders: Iterable[tuple[str, Callable[[], Iterator[DeadLetterPointer]]]] = (
        ("Lambda", aws.lambda_.dead_letter_pointers),
        ("Lambda event source mapping", aws.lambda_.mapping_destinations),
        ("EventBridge", aws.events.dead_letter_pointers),
        ("SNS", aws.sns.dead_letter_pointers),
    )
    for name, finder in finders:
        for pointer in _pointers(name, finder, inventory.incomplete):
            sources[pointer.target_arn].append(Source(pointer.type, pointer.arn, pointer.detail))

    selected = [
        (queue, attributes)
        for queue, attributes in queues
        if include_all or sources.get(queue.arn) or named_like_dlq(queue.name)
    ]
    ages: dict[str, float] = {}
    if selected:
        try:
            ages = aws.cloudwatch.oldest_message_ages([queue.name for queue, _ in selected])
        except DlqctlError as exc:
            inventory.warnings.append(f"no message ages from CloudWatch: {exc.message}")
    for queue, attributes in sorted(selected, key=lambda item: item[0].name):
        inventory.queues.append(
            DeadLetterQueue(
                queue=queue,
                attributes=attributes,
                sources=tuple(sources.get(queue.arn, ())),
                named_like_dlq=named_like_dlq(queue.name),
                oldest_age_seconds=ages.get(queue.name),
            )
        )
    return inventory
