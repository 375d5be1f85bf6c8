"""Client CPU per call of the read-only walk's two calls, with nothing else around them.

Receives 10 messages at a time through dlqctl's direct transport (``Sqs.receive``, as a walk
does) and then makes them visible again (``Sqs.change_visibility``, as a walk's release does),
first in one thread, then in several side by side, and prints CPU milliseconds per call (user
and system) and wall milliseconds per call. It shows what the calls alone cost on this machine
and endpoint, apart from decoding, rendering and hand-offs between threads.

    python bench/call_cpu.py --endpoint http://127.0.0.1:4566 --calls 500 --threads 1 10
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from collections.abc import Callable, Sequence

import boto3

from dlqctl.aws import Aws, Connection
from dlqctl.models import QueueRef

REGION = "us-east-1"


def cpu_seconds() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def measure(label: str, threads: int, calls: int, work: Callable[[int], None]) -> None:
    """Run ``work(k)`` (k calls) in ``threads`` threads, ``calls`` calls in all; print per call."""
    user0, system0 = cpu_seconds()
    started = time.perf_counter()
    shares = [calls // threads + (1 if n < calls % threads else 0) for n in range(threads)]
    pool = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    user1, system1 = cpu_seconds()
    per = 1000 / calls
    user, system = (user1 - user0) * per, (system1 - system0) * per
    print(
        f"{label:<28} threads={threads:<3} cpu_ms_per_call={user + system:.3f} "
        f"(user {user:.3f}, system {system:.3f}) wall_ms_per_call={wall * per:.2f}"
    )


def fill(endpoint: str, name: str, count: int) -> str:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": json.dumps({"seq": start + n, "pad": "x" * 950}),
                    "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "acme"}},
                }
                for n in range(10)
            ],
        )
    return url


def one_round(aws: Aws, endpoint: str, calls: int, threads: int) -> None:
    """``calls`` receives of a fresh queue in ``threads`` threads, then their release."""
    name = f"call-cpu-{int(time.time() * 1000) % 10**8}"
    url = fill(endpoint, name, calls * 10)
    queue: QueueRef = aws.sqs.resolve(name)[0]
    aws.sqs.receive(queue, max_messages=1, wait_seconds=0, hold_seconds=0)  # connected
    handles: list[str] = []
    lock = threading.Lock()

    def receive(share: int) -> None:
        for _ in range(share):
            got = aws.sqs.receive(queue, max_messages=10, wait_seconds=1, hold_seconds=600)
            with lock:
                handles.extend(message.receipt_handle for message in got)

    measure("ReceiveMessage (10)", threads, calls, receive)
    chunks = iter([handles[start : start + 10] for start in range(0, len(handles), 10)])

    def release(share: int) -> None:
        for _ in range(share):
            with lock:
                chunk = next(chunks, None)
            if chunk is not None:
                aws.sqs.change_visibility(queue, chunk, 0)

    measure("ChangeMessageVisibilityBatch", threads, -(-len(handles) // 10), release)
    boto3.client("sqs", endpoint_url=endpoint, region_name=REGION).delete_queue(QueueUrl=url)


def run(endpoint: str, calls: int, threads: Sequence[int]) -> None:
    aws = Aws(Connection(region=REGION, endpoint_url=endpoint))
    for count in threads:
        one_round(aws, endpoint, calls, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 10])
    options = parser.parse_args()
    run(options.endpoint, options.calls, options.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
