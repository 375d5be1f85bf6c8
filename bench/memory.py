"""Peak memory of a walk's and a journal's bookkeeping at depth, without an endpoint.

A redrive of N messages keeps, per message, what ``QueueScan`` needs to see each message once
and what the journal needs to know what was delivered. This drives both with N synthetic
messages (SQS-shaped IDs and receipt handles, ~1 KB bodies) in batches of ten: receive (hold),
record the send and the acknowledgement, delete, as a redrive does, and prints the peak RSS.

    python bench/memory.py --n 1000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from dlqctl.journal import Journal
from dlqctl.models import QueueRef, ReceivedMessage
from dlqctl.scan import QueueScan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    options = parser.parse_args()
    queue = QueueRef("http://localhost/1/q", "q", "arn:aws:sqs:us-east-1:1:q")
    sqs: Any = None  # the bookkeeping under test makes no call
    scan = QueueScan(sqs, queue, hold_seconds=43200, depth_at_start=options.n)
    body = "x" * 1024
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as directory:
        journal = Journal.open(Path(directory) / "j.jsonl", queue.arn, "queue dst", "bench")
        for _ in range(0, options.n, 10):
            batch = [
                ReceivedMessage(str(uuid.uuid4()), "AQEB" + uuid.uuid4().hex * 6, body)
                for _ in range(10)
            ]
            fresh = scan._hold(batch)
            journal.sending(fresh)
            journal.acked([(message, str(uuid.uuid4())) for message in fresh])
            ids = [message.message_id for message in fresh]
            scan.forget(ids)
            journal.deleted(ids)
        journal.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{options.n:,} messages: peak RSS {peak:.0f} MB (at start {before:.0f} MB), "
        f"{(peak - before) * 1e6 / options.n:.0f} bytes a message, "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
