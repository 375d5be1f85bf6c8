"""Client CPU per call of the read-only walk's two calls, with nothing else around them.

Receives 10 messages at a time through dlqctl's direct transport (``Sqs.receive``, as a walk
does) and then makes them visible again (``Sqs.change_visibility``, as a walk's release does),
first in one thread, then in several side by side, and prints CPU milliseconds per call (user
and system) and wall milliseconds per call. It shows what the calls alone cost on this machine
and endpoint, apart from decoding, rendering and hand-offs between threads.

``--gather-ms`` also makes the same calls from one thread over as many connections as the most
threads: it sends on every idle connection, sleeps the given milliseconds, then reads every
answer that has arrived (an experiment beside dlqctl's transport: plain HTTP only, SigV4 from
``dlqctl.aws``, no retries). It shows what fewer wakes, several answers each, would save.

    python bench/call_cpu.py --endpoint http://127.0.0.1:4566 --calls 500 --threads 1 10
    python bench/call_cpu.py --endpoint http://127.0.0.1:4566 --threads 10 --gather-ms 0 2 5
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3

from dlqctl.aws import Aws, Connection, signing_key, sigv4_authorization
from dlqctl.models import QueueRef, ReceivedMessage

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


class Gathered:
    """One thread, ``connections`` plain-HTTP connections: each idle one sends the next request,
    then after ``gather_seconds`` of sleep every answer that has arrived is read and parsed.
    Answers must carry a ``content-length`` (a local endpoint's do); nothing is retried."""

    def __init__(self, endpoint: str, connections: int, gather_seconds: float) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        self.host = parts.netloc
        self.sockets = [
            socket.create_connection((parts.hostname or "", parts.port or 80))
            for _ in range(connections)
        ]
        self.gather_seconds = gather_seconds
        credentials = boto3.Session().get_credentials()
        assert credentials is not None, "no AWS credentials (any will do for a local endpoint)"
        self.credentials = credentials.get_frozen_credentials()

    def _request(self, operation: str, body: bytes) -> bytes:
        """The signed request, as dlqctl's transport writes it."""
        amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        secret_key = str(self.credentials.secret_key)
        signed = {
            "content-type": "application/x-amz-json-1.0",
            "host": self.host,
            "x-amz-date": amz_date,
            "x-amz-target": f"AmazonSQS.{operation}",
        }
        authorization = sigv4_authorization(
            access_key=str(self.credentials.access_key),
            secret_key=secret_key,
            region=REGION,
            service="sqs",
            amz_date=amz_date,
            path="/",
            headers=signed,
            body=body,
            key=signing_key(secret_key, amz_date[:8], REGION, "sqs"),
        )
        lines = ["POST / HTTP/1.1", f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in signed.items()]
        lines.append(f"authorization: {authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    @staticmethod
    def _answer(sock: socket.socket) -> tuple[int, bytes]:
        """One answer's status and body."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = dict(line.lower().split(b":", 1) for line in lines[1:])
        length = int(fields[b"content-length"])
        while len(body) < length:
            body += sock.recv(65536)
        return int(lines[0].split()[1]), body

    def run(
        self, operation: str, requests: Sequence[dict[str, Any]], take: Callable[[Any], None]
    ) -> None:
        """Every request, ``take`` given each parsed answer."""
        waiting = deque(requests)
        busy: set[socket.socket] = set()
        while waiting or busy:
            for sock in self.sockets:
                if waiting and sock not in busy:
                    sock.sendall(self._request(operation, json.dumps(waiting.popleft()).encode()))
                    busy.add(sock)
            if self.gather_seconds:
                time.sleep(self.gather_seconds)
            ready, _, _ = select.select(list(busy), [], [], 30)
            for sock in ready:
                busy.discard(sock)
                status, body = self._answer(sock)
                if status >= 300:
                    raise RuntimeError(f"{operation}: {status} {body[:200]!r}")
                take(json.loads(body))


def gathered_round(endpoint: str, calls: int, connections: int, gather_ms: float) -> None:
    """``calls`` receives of a fresh queue from one thread, then their release, gathered."""
    name = f"call-cpu-{int(time.time() * 1000) % 10**8}"
    url = fill(endpoint, name, calls * 10)
    gathered = Gathered(endpoint, connections, gather_ms / 1000)
    label = f"{connections} connections, gathered every {gather_ms:g} ms"
    handles: list[str] = []

    def received(answer: Any) -> None:
        messages = [ReceivedMessage.from_api(item) for item in answer.get("Messages", [])]
        handles.extend(message.receipt_handle for message in messages)

    receive = {
        "QueueUrl": url,
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 1,
        "VisibilityTimeout": 600,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    measure(
        f"ReceiveMessage (10), {label}",
        1,
        calls,
        lambda _: gathered.run("ReceiveMessage", [receive] * calls, received),
    )
    releases = [
        {
            "QueueUrl": url,
            "Entries": [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + 10])
            ],
        }
        for start in range(0, len(handles), 10)
    ]

    def changed(answer: Any) -> None:
        if answer.get("Failed"):
            raise RuntimeError(f"not made visible: {answer['Failed']}")

    measure(
        f"ChangeMessageVisibilityBatch, {label}",
        1,
        len(releases),
        lambda _: gathered.run("ChangeMessageVisibilityBatch", releases, changed),
    )
    boto3.client("sqs", endpoint_url=endpoint, region_name=REGION).delete_queue(QueueUrl=url)


def run(endpoint: str, calls: int, threads: Sequence[int], gather_ms: Sequence[float]) -> None:
    aws = Aws(Connection(region=REGION, endpoint_url=endpoint))
    for count in threads:
        one_round(aws, endpoint, calls, count)
    for gather in gather_ms:
        gathered_round(endpoint, calls, max(threads), gather)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 10])
    parser.add_argument(
        "--gather-ms",
        type=float,
        nargs="*",
        default=[],
        help="also make the calls from one thread over as many connections as the most threads, "
        "taking every answer that arrived after each sleep of this many milliseconds",
    )
    options = parser.parse_args()
    run(options.endpoint, options.calls, options.threads, options.gather_ms)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
