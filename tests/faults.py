"""A fault-injecting HTTP proxy in front of the real local endpoint.

Requests pass through to the endpoint unchanged unless a rule matches their service and
operation; a matching rule answers with an AWS error instead (for as many times as it says),
so a test can produce throttling or access denied for one API while everything else is real.

It can also enforce SQS's in-flight cap, which no emulator does (AWS: about 120,000 messages
per queue, standard and FIFO): receipt handles are tracked per queue from receives with a
visibility above 0 and forgotten on deletes and on visibility 0; at the cap a long poll comes
back empty and a short poll fails with ``OverLimit``, as on AWS.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.inflight import Answer, InFlightCap, send_answer

_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


@dataclass
class Rule:
    service: str
    operation: str
    code: str
    status: int
    times: int | None
    hits: int = 0
    after: int = 0
    """Let this many matching calls through before the rule applies."""
    passed: int = 0
    drop_response: bool = False
    """Deliver the request, then close the connection without answering (a lost response)."""
    delay_seconds: float = 0.0
    """Hold the request this long, then deliver it and pass the answer on (a stalled call)."""
    cut_response: bool = False
    """Deliver the request, then answer with the endpoint's status and half its body."""
    lose_endpoint: bool = False
    """Answer this call, then lose the endpoint: every later call's connection is closed
    before anything reaches it (a network gone)."""


LOST = Rule("", "", "", 0, None)
"""What ``FaultProxy.match`` returns for every call once the endpoint is lost."""


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        parsed = urllib.parse.urlsplit(self.upstream)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.rules: list[Rule] = []
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str, bytes]] = []
        self.rewrites: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = []
        self.answer_rewrites: list[
            tuple[str, str, Callable[[dict[str, Any], dict[str, Any]], None]]
        ] = []
        self.cap: InFlightCap | None = None
        self.lost = threading.Event()
        self.closed = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per request

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service, operation = proxy.identify(self.headers, self.path, body)
                rule = proxy.match(service, operation)
                if rule is LOST:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if rule is not None and rule.lose_endpoint:
                    rule = None  # answered: the calls matched after it find the endpoint lost
                if rule is not None and rule.delay_seconds:
                    proxy.closed.wait(rule.delay_seconds)
                    rule = None
                if rule is not None and not (rule.drop_response or rule.cut_response):
                    self._send_error(service, rule)
                    return
                cap = proxy.cap if service == "sqs" else None
                body = proxy.rewritten(service, operation, body)
                if proxy.closed.is_set():  # its test has ended: not passed on into the next
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                answer = cap.answer(operation, body, self._forward) if cap else self._forward(body)
                answer = proxy.rewritten_answer(service, operation, body, answer)
                if rule is not None and rule.cut_response:  # a 200 whose body is cut short
                    status, headers, payload = answer
                    answer = status, headers, payload[: len(payload) // 2]
                elif rule is not None:  # the endpoint has it; the client never hears back
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                send_answer(self, *answer)

            def _forward(self, body: bytes) -> Answer:
                """The endpoint's answer to this request, with ``body``."""
                # http.client, not urllib: urllib would add a form Content-Type that the
                # request did not have, and the endpoint would read the body as a form.
                connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                try:
                    connection.request(
                        self.command,
                        self.path,
                        body=body if self.command not in ("GET", "HEAD") else None,
                        headers={
                            k: v
                            for k, v in self.headers.items()
                            if k.lower() not in {"host", "content-length"}
                        },
                    )
                    response = connection.getresponse()
                    status, headers, payload = response.status, response.headers, response.read()
                finally:
                    connection.close()
                return status, list(headers.items()), payload

            def _send_error(self, service: str, rule: Rule) -> None:
                if service in ("sns", "iam", "monitoring"):
                    payload = (
                        "<ErrorResponse><Error><Type>Sender</Type>"
                        f"<Code>{rule.code}</Code><Message>injected</Message>"
                        "</Error><RequestId>x</RequestId></ErrorResponse>"
                    ).encode()
                    content_type = "text/xml"
                else:
                    payload = json.dumps({"__type": rule.code, "message": "injected"}).encode()
                    content_type = "application/x-amz-json-1.0"
                self.send_response(rule.status)
                self.send_header("Content-Type", content_type)
                self.send_header("x-amzn-ErrorType", rule.code)
                self.send_header("x-amzn-query-error", f"{rule.code};Sender")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def identify(self, headers: Any, path: str, body: bytes) -> tuple[str, str]:
        match = _SERVICE.search(headers.get("Authorization", ""))
        service = match.group(1) if match else ""
        target = headers.get("X-Amz-Target", "")
        if target:
            operation = target.rsplit(".", 1)[-1]
        elif b"Action=" in body:
            operation = re.search(rb"Action=([A-Za-z]+)", body).group(1).decode()  # type: ignore[union-attr]
        else:
            operation = path
        with self._lock:
            self.calls.append((service, operation))
            self.bodies.append((service, operation, body))
        return service, operation

    def match(self, service: str, operation: str) -> Rule | None:
        """The rule for this call, if any, or ``LOST`` once the endpoint is lost: decided under
        one lock, so no call that comes after the one that loses the endpoint gets through."""
        with self._lock:
            if self.lost.is_set():
                return LOST
            for rule in self.rules:
                if rule.service == service and (rule.operation in operation):
                    if rule.passed < rule.after:
                        rule.passed += 1
                        continue
                    if rule.times is not None and rule.hits >= rule.times:
                        continue
                    rule.hits += 1
                    if rule.lose_endpoint:
                        self.lost.set()
                    return rule
        return None

    def rewrite(
        self, service: str, operation: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        """Change the JSON request body of ``operation`` before the endpoint sees it."""
        with self._lock:
            self.rewrites.append((service, operation, change))

    def rewritten(self, service: str, operation: str, body: bytes) -> bytes:
        with self._lock:
            changes = [c for s, o, c in self.rewrites if s == service and o == operation]
        if not changes:
            return body
        data = json.loads(body)
        for change in changes:
            change(data)
        return json.dumps(data).encode()

    def rewrite_answers(
        self,
        service: str,
        operation: str,
        change: Callable[[dict[str, Any], dict[str, Any]], None],
    ) -> None:
        """Change the endpoint's JSON answer to ``operation`` before the client sees it:
        ``change(request, answer)`` (what AWS may answer and no emulator does, e.g. a count
        that lags behind the queue)."""
        with self._lock:
            self.answer_rewrites.append((service, operation, change))

    def rewritten_answer(self, service: str, operation: str, body: bytes, answer: Answer) -> Answer:
        with self._lock:
            changes = [c for s, o, c in self.answer_rewrites if s == service and o == operation]
        status, headers, payload = answer
        if not changes or status != 200:
            return answer
        request, data = json.loads(body), json.loads(payload)
        for change in changes:
            change(request, data)
        return status, headers, json.dumps(data).encode()

    def fail(
        self,
        service: str,
        operation: str,
        code: str,
        *,
        status: int = 400,
        times: int | None = None,
        after: int = 0,
    ) -> Rule:
        """Answer ``operation`` of ``service`` with error ``code`` (``times`` times, or always),
        after letting ``after`` calls through."""
        rule = Rule(service, operation, code, status, times, after=after)
        with self._lock:
            self.rules.append(rule)
        return rule

    def drop_responses(self, service: str, operation: str, *, times: int | None = None) -> Rule:
        """Deliver ``operation``, then never answer it (``times`` times, or always)."""
        rule = Rule(service, operation, "", 0, times, drop_response=True)
        with self._lock:
            self.rules.append(rule)
        return rule

    def cut_responses(self, service: str, operation: str, *, times: int | None = None) -> Rule:
        """Deliver ``operation``, then answer with half of the endpoint's answer."""
        rule = Rule(service, operation, "", 0, times, cut_response=True)
        with self._lock:
            self.rules.append(rule)
        return rule

    def lose_endpoint_after(self, service: str, operation: str, *, calls: int) -> Rule:
        """Answer ``calls`` calls of ``operation``, then lose the endpoint for every call."""
        rule = Rule(service, operation, "", 0, 1, after=calls - 1, lose_endpoint=True)
        with self._lock:
            self.rules.append(rule)
        return rule

    def delay(self, service: str, operation: str, seconds: float) -> Rule:
        """Hold every ``operation`` call ``seconds`` before passing it on."""
        rule = Rule(service, operation, "", 0, None, delay_seconds=seconds)
        with self._lock:
            self.rules.append(rule)
        return rule

    def cap_in_flight(self, limit: int) -> None:
        """Enforce SQS's in-flight cap at ``limit`` messages per queue."""
        self.cap = InFlightCap(limit)

    def count(self, service: str, operation: str) -> int:
        with self._lock:
            return sum(1 for call in self.calls if call == (service, operation))

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()
