"""A reference client for a redrive to an EventBridge bus: the least a client can do.

The side-by-side harness's ``floor_redrive.py`` with ``PutEvents`` as the send: receive 10
(message attributes only) → ``PutEvents`` of each body's event (source, detail-type, detail,
resources and time, as a replay sends them) → ``DeleteMessageBatch`` of what the bus
acknowledged, in N threads, until an empty receive; no journal, no checks, no output but
what went wrong (a thread that failed, entries the bus refused: exit code 1). A tool's
figure can be read against it, as against the harness's ``floor_redrive.py`` to a queue (it is
a reference, not a ceiling: its threads wait on each call in turn and end on an empty long
poll); it is not a tool anyone should use (a body that is not an EventBridge event stops its
thread).

    python bench/floor_bus.py DLQ_NAME BUS_NAME [THREADS]   # endpoint and region from AWS_*
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: floor_bus.py DLQ_NAME BUS_NAME [THREADS]", file=sys.stderr)
        return 2
    dlq_name, bus = argv[0], argv[1]
    threads = int(argv[2]) if len(argv) > 2 else 16
    config = Config(
        max_pool_connections=threads + 4, retries={"mode": "standard", "max_attempts": 5}
    )
    sqs: Any = boto3.client("sqs", config=config)
    events: Any = boto3.client("events", config=config)
    dlq = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    problems: list[str] = []

    def work() -> None:
        try:
            drain()
        except (BotoCoreError, ClientError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"{type(exc).__name__}: {exc}")

    def drain() -> None:
        while True:
            got = sqs.receive_message(
                QueueUrl=dlq,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=120,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return
            entries = []
            for message in got:
                event = json.loads(message["Body"])
                entries.append(
                    {
                        "EventBusName": bus,
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"], separators=(",", ":")),
                        "Resources": event.get("resources") or [],
                        "Time": event["time"],
                    }
                )
            answers = events.put_events(Entries=entries)["Entries"]
            acknowledged = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, (message, answer) in enumerate(zip(got, answers, strict=True))
                if "EventId" in answer
            ]
            if len(acknowledged) < len(got):
                problems.append(f"{len(got) - len(acknowledged)} entries refused by PutEvents")
            if acknowledged:
                sqs.delete_message_batch(QueueUrl=dlq, Entries=acknowledged)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    for problem in problems[:5]:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
