"""SQS's in-flight cap, which no local endpoint enforces, for the proxies of tests and bench.

AWS lets one queue have about 120,000 messages in flight (received, not yet deleted, still
invisible). At the cap a long poll comes back empty with no error, and a short poll fails with
``OverLimit``. ``InFlightCap`` keeps each queue's in-flight receipt handles from what passes
through a proxy: receives with a visibility above 0 add them, deletes and visibility 0 release
them. A proxy passes each queue's receives one at a time (``turn``), so receives made at once
cannot all pass the check before any of them is counted: SQS counts what it hands out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

JSON = "application/x-amz-json-1.0"
Answer = tuple[int, list[tuple[str, str]], bytes]
"""An HTTP answer as a proxy passes it on: status, headers, payload."""
EMPTY_RECEIVE: Answer = (200, [("Content-Type", JSON)], b"{}")
"""A long poll at the cap: no messages, no error."""
OVER_LIMIT: Answer = (
    403,
    [("Content-Type", JSON), ("x-amzn-query-error", "OverLimit;Sender")],
    json.dumps({"__type": "OverLimit", "message": "Too many messages in flight"}).encode(),
)
"""A short poll at the cap."""


class InFlightCap:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._turns: dict[str, threading.Lock] = {}

    @contextmanager
    def turn(self, operation: str, body: bytes) -> Iterator[None]:
        """Around a request's check, forwarding and ``track``: a receive waits for the other
        receives of its queue."""
        if operation != "ReceiveMessage" or not body:
            yield
            return
        url = json.loads(body).get("QueueUrl", "")
        with self._lock:
            turn = self._turns.setdefault(url, threading.Lock())
        with turn:
            yield

    def answer(self, operation: str, body: bytes, forward: Callable[[bytes], Answer]) -> Answer:
        """A request through the cap: the answer AWS gives at the cap, or ``forward(body)``'s
        answer from the endpoint, tracked as the endpoint gave it (what it handed out is in
        flight, whatever becomes of the answer on its way back). Receives of one queue take
        their ``turn``."""
        with self.turn(operation, body):
            refusal = self.refuses(operation, body)
            if refusal is not None:
                return refusal
            answered = forward(body)
            self.track(operation, body, answered[2])
            return answered

    def refuses(self, operation: str, body: bytes) -> Answer | None:
        """The answer AWS gives a receive at the cap, or None."""
        if operation != "ReceiveMessage" or not body:
            return None
        request = json.loads(body)
        with self._lock:
            if len(self.in_flight.get(request.get("QueueUrl", ""), ())) < self.limit:
                return None
        return EMPTY_RECEIVE if request.get("WaitTimeSeconds") else OVER_LIMIT

    def track(self, operation: str, body: bytes, payload: bytes) -> None:
        """Keep the in-flight handles of each queue up to date from a request and its answer."""
        if not body:
            return
        request = json.loads(body)
        with self._lock:
            handles = self.in_flight.setdefault(request.get("QueueUrl", ""), set())
            if operation == "ReceiveMessage" and request.get("VisibilityTimeout", 30) > 0:
                answer = json.loads(payload or b"{}")
                handles.update(m["ReceiptHandle"] for m in answer.get("Messages", []))
            elif operation == "DeleteMessage" or (
                operation == "ChangeMessageVisibility" and request.get("VisibilityTimeout") == 0
            ):
                handles.discard(request.get("ReceiptHandle"))
            elif operation == "DeleteMessageBatch":
                handles.difference_update(e["ReceiptHandle"] for e in request.get("Entries", []))
            elif operation == "ChangeMessageVisibilityBatch":
                handles.difference_update(
                    e["ReceiptHandle"]
                    for e in request.get("Entries", [])
                    if e.get("VisibilityTimeout") == 0
                )


def send_answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: Iterable[tuple[str, str]],
    payload: bytes,
) -> None:
    """Write a proxy's answer: the endpoint's headers without the hop-by-hop ones, and a
    ``Content-Length`` of the payload as sent."""
    handler.send_response(status)
    for key, value in headers:
        if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
