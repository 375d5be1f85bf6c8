"""The embedded local AWS endpoint: moto's server in this process, made to behave like AWS
where dlqctl depends on it.

Three things moto does differently from AWS are corrected here: its SQS is not thread-safe (so
requests run one at a time); it does not stamp ``DeadLetterQueueSourceArn`` on messages its
redrive policy moves to a DLQ, which AWS always does (botocore's SQS model; LocalStack's
snapshots recorded against AWS, ``tests/aws/services/sqs/test_sqs.snapshot.json``); and it
answers EventBridge's ``TestEventPattern`` with nothing (moto 5.2 leaves it unimplemented),
which is answered here with moto's own pattern matcher, the one its ``PutEvents`` routes with.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
import urllib.request
import warnings
from dataclasses import dataclass
from typing import Any

from dlqctl.envelopes import SOURCE_QUEUE_ATTRIBUTE
from dlqctl.errors import DlqctlError


@dataclass
class LocalEndpoint:
    """moto's server running in this process on a loopback port."""

    url: str
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on this loopback port (so a server of ours can take it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_moved_from: dict[str, str] = {}
"""Message ID → ARN of the source queue moto's redrive policy moved it from."""


def _stamp_redrive_moves() -> None:
    """Record the source queue of each message moto's redrive moves (AWS stamps it on the message).

    moto moves a message to its queue's DLQ inside ``receive_message`` of the source queue; the
    messages that appear in the DLQ during that call are the ones moved. Once per process.
    """
    from moto.sqs import models

    original = models.SQSBackend.receive_message
    if getattr(original, "stamps_source_queue", False):
        return

    def receive_message(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = backend.get_queue(queue_name)
        dlq = getattr(queue, "dead_letter_queue", None)
        before = {message.id for message in getattr(dlq, "_messages", ())}
        result = original(backend, queue_name, *args, **kwargs)
        for message in getattr(dlq, "_messages", ()):
            if message.id not in before:
                _moved_from.setdefault(message.id, queue.queue_arn)
        return result

    receive_message.stamps_source_queue = True  # type: ignore[attr-defined]
    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign,assignment]


def _with_source_queues(request: bytes, response: bytes) -> bytes:
    """A ReceiveMessage response with ``DeadLetterQueueSourceArn`` where AWS would add it."""
    try:
        wanted = json.loads(request)
        data = json.loads(response)
    except ValueError:
        return response
    names = {
        *(wanted.get("MessageSystemAttributeNames") or ()),
        *(wanted.get("AttributeNames") or ()),
    }
    if not names & {"All", SOURCE_QUEUE_ATTRIBUTE} or not isinstance(data, dict):
        return response
    changed = False
    for message in data.get("Messages") or ():
        source = _moved_from.get(message.get("MessageId"))
        if source:
            message.setdefault("Attributes", {})[SOURCE_QUEUE_ATTRIBUTE] = source
            changed = True
    return json.dumps(data).encode() if changed else response


class SerialisedApp:
    """Runs moto's requests one at a time, and answers receives as AWS would.

    moto's SQS is not thread-safe: concurrent DeleteMessageBatch calls on one queue can undo
    each other, so a correct concurrent client would look wrong. A long-polling receive is run
    as short polls, each under the lock, so it does not stall everyone else while it waits.
    """

    POLL_SECONDS = 0.05

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "AWSEvents.TestEventPattern":
            return _test_event_pattern(body, start_response)
        if not target.endswith(".ReceiveMessage"):
            return self._call(environ, body, start_response)
        wait = self._long_poll_seconds(body)
        short_body = body
        if wait:
            short = json.loads(body)
            short["WaitTimeSeconds"] = 0
            short_body = json.dumps(short).encode()
        deadline = time.monotonic() + wait
        while True:
            captured: list[Any] = []
            chunks = self._call(
                dict(environ), short_body, lambda *args, into=captured: into.append(args)
            )
            payload = b"".join(chunks)
            if b'"Messages"' in payload or time.monotonic() >= deadline:
                payload = _with_source_queues(body, payload)
                status, headers, *rest = captured[0]
                headers = [
                    (name, str(len(payload)) if name.lower() == "content-length" else value)
                    for name, value in headers
                ]
                start_response(status, headers, *rest)
                return [payload]
            time.sleep(self.POLL_SECONDS)

    def _call(self, environ: dict[str, Any], body: bytes, start_response: Any) -> Any:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            return list(self.app(environ, start_response))

    @staticmethod
    def _long_poll_seconds(body: bytes) -> float:
        try:
            return float(json.loads(body).get("WaitTimeSeconds") or 0)
        except (ValueError, AttributeError):
            return 0.0


def _test_event_pattern(body: bytes, start_response: Any) -> list[bytes]:
    """``TestEventPattern`` answered with moto's matcher (moto's own handler returns nothing)."""
    from moto.events.models import EventPattern, EventPatternParser

    request = json.loads(body)
    try:
        pattern = EventPatternParser(request["EventPattern"]).parse()
        matched = EventPattern(request["EventPattern"], pattern).matches_event(
            json.loads(request["Event"])
        )
    except Exception as exc:  # noqa: BLE001 - any bad input is AWS's InvalidEventPatternException
        answer = json.dumps(
            {"__type": "InvalidEventPatternException", "message": str(exc)}
        ).encode()
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
        return [answer]
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
    return [json.dumps({"Result": matched}).encode()]


def start_local_endpoint(port: int | None = None) -> LocalEndpoint:
    """Start moto's server on 127.0.0.1 (a free port unless one is given), one request at a time."""
    try:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError as exc:
        raise DlqctlError(
            "the local AWS endpoint needs moto's server",
            "install it with: pip install 'dlqctl[server]'",
        ) from exc
    # The emulator's request log and its notes on resources it skips are not the user's news.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"moto\.")
    _stamp_redrive_moves()
    port = port or free_port()
    app = SerialisedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    configure_local_endpoint(url)
    return LocalEndpoint(url=url, _server=server, _thread=thread)


def configure_local_endpoint(url: str) -> None:
    """Tell moto's server not to look for Docker when a function is invoked (accept only)."""
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()
