"""The benchmark proxy's timing of what each call costs the endpoint: over real HTTP, an
upstream answering as SQS's JSON protocol does."""

from __future__ import annotations

import http.client
import importlib.util
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.inflight import send_answer

ANSWERS = {
    # What SQS answers a receive that found nothing (no Messages member), and one that did.
    "empty": (200, b"{}"),
    "full": (200, json.dumps({"Messages": [{"MessageId": "m", "ReceiptHandle": "r"}]}).encode()),
    "error": (400, json.dumps({"__type": "com.amazonaws.sqs#QueueDoesNotExist"}).encode()),
}


def _load_proxy() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "proxy.py"
    spec = importlib.util.spec_from_file_location("bench_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def upstream() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = ANSWERS[urllib.parse.urlsplit(self.path).path.strip("/")]
            send_answer(self, status, [("Content-Type", "application/x-amz-json-1.0")], body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _call(url: str, operation: str, answer: str) -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(
            "POST", f"/{answer}", body=b"{}", headers={"X-Amz-Target": f"AmazonSQS.{operation}"}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_empty_receives_and_error_answers_are_timed_apart(upstream: str) -> None:
    proxy_module = _load_proxy()
    with proxy_module.CountingProxy(upstream) as proxy:
        statuses = [
            _call(proxy.url, "ReceiveMessage", "full"),
            _call(proxy.url, "ReceiveMessage", "full"),
            _call(proxy.url, "ReceiveMessage", "empty"),
            _call(proxy.url, "DeleteMessageBatch", "error"),
        ]
        times = proxy.endpoint_ms()
        counts = proxy.snapshot()
        proxy.reset()
        after_reset = proxy.endpoint_ms()
    assert statuses == [200, 200, 200, 400]
    assert set(times) == {
        "ReceiveMessage",
        "ReceiveMessage (empty)",
        "DeleteMessageBatch (error)",
    }
    assert all(isinstance(ms, float) and ms >= 0 for ms in times.values())
    # Every call is still counted under its operation; only the timing is kept apart.
    assert counts == {"ReceiveMessage": 3, "DeleteMessageBatch": 1}
    assert after_reset == {}
