"""What the command line needs to declare its options: the choices and defaults they show.

Kept apart from the modules that use them so that ``dlqctl --help`` (and every command's parsing)
loads only this, not the libraries behind the commands."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"


class Kind(StrEnum):
    """What put a message in the DLQ. The README's decoding table lists each signature."""

    SQS = "sqs"
    LAMBDA_STREAM_FAILURE = "lambda-stream-failure"
    LAMBDA_DESTINATION = "lambda-destination"
    LAMBDA_SUCCESS = "lambda-success"
    SCHEDULER = "scheduler-dlq"
    EVENTBRIDGE_SUBSCRIBER = "eventbridge-subscriber"
    EVENTBRIDGE_DLQ = "eventbridge-dlq"
    EVENTBRIDGE_ENCRYPTED = "eventbridge-encrypted"
    LAMBDA_DLQ = "lambda-dlq"
    SNS = "sns"
    UNKNOWN = "unknown"


DEFAULT_CONCURRENCY = 16
"""Workers of a redrive when AWS answers within ``redrive.FAST_CALL_SECONDS``."""
MAX_CONCURRENCY = 64
DEFAULT_MAX_REPLAYS = 3
"""Runs that may replay the same content before the loop guard skips it."""
EVENT_MAX_BYTES = 1048576
"""PutEvents' limit for an entry, 1 MiB since January 2026; a request is kept within it too."""
DEFAULT_STACK = "dlqctl-orders"
