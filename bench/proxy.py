"""A counting, delaying HTTP proxy: every AWS request of a benchmark passes through it.

It adds a fixed delay to each request (the latency model: a real region answers in tens of
milliseconds, a local endpoint in one) and counts requests by operation, so API calls per
message are measured, not estimated. With ``in_flight_cap`` it enforces SQS's in-flight cap
(``tests/inflight.py``), which no local endpoint does.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.inflight import Answer, InFlightCap, send_answer


class CountingProxy:
    def __init__(
        self, upstream: str, delay_seconds: float = 0.0, in_flight_cap: int | None = None
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.delay_seconds = delay_seconds
        self.counts: Counter[str] = Counter()
        # Seconds the endpoint took to answer, by operation (from the forward to the answer,
        # without the added delay): with one call in flight, what a call costs the endpoint;
        # with several, its queueing too (and, for clients in this process, the GIL's waits).
        self.upstream_seconds: Counter[str] = Counter()
        self.upstream_calls: Counter[str] = Counter()
        self.cap = InFlightCap(in_flight_cap) if in_flight_cap else None
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every response.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                operation = target.rsplit(".", 1)[-1] if target else self.path.split("?")[0]
                with proxy._lock:
                    proxy.counts[operation] += 1
                if proxy.delay_seconds:
                    time.sleep(proxy.delay_seconds)

                def forward(sent: bytes) -> Answer:
                    started = time.perf_counter()
                    answer = proxy.forward(self.command, self.path, self.headers, sent)
                    # An error answer, and a receive that found nothing (its time is mostly its
                    # long poll), are timed apart from the operation's answers. (SQS's JSON
                    # protocol, which botocore and dlqctl speak: a query client's XML receives
                    # would all count as empty.)
                    timed = operation
                    if not 200 <= answer[0] < 300:
                        timed = f"{operation} (error)"
                    elif operation == "ReceiveMessage" and b'"ReceiptHandle"' not in answer[2]:
                        timed = "ReceiveMessage (empty)"
                    with proxy._lock:
                        proxy.upstream_seconds[timed] += time.perf_counter() - started
                        proxy.upstream_calls[timed] += 1
                    return answer

                answer = proxy.cap.answer(operation, body, forward) if proxy.cap else forward(body)
                send_answer(self, *answer)

            do_GET = do_PUT = do_DELETE = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> Answer:
        for attempt in range(2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self._local.connection = connection
                with self._lock:
                    self._connections.append(connection)
            try:
                connection.request(
                    method,
                    path,
                    body=body or None,
                    headers={
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in {"host", "content-length"}
                    },
                )
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.upstream_seconds.clear()
            self.upstream_calls.clear()

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def endpoint_ms(self) -> dict[str, float]:
        """Mean milliseconds the endpoint took per call, by operation, since the last reset;
        receives that returned no message (``ReceiveMessage (empty)``: their long poll) and
        error answers (``… (error)``) apart."""
        with self._lock:
            return {
                operation: round(1000 * seconds / self.upstream_calls[operation], 1)
                for operation, seconds in self.upstream_seconds.items()
            }

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for connection in self._connections:  # the upstream ones, of every handler thread
                connection.close()
            self._connections.clear()
