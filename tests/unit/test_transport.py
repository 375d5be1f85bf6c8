"""The direct path's HTTP/1.1 connections (``transport``), against servers that answer in each
way HTTP allows and fail in each way a network does, and over TLS against moto's server behind
a TLS front with a certificate made for the test."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dlqctl import transport
from dlqctl.aws import Aws, Connection, _pool_for
from tests.helpers import REGION, create_queue, put

Script = Callable[[socket.socket, bytes], None]
"""Answers one request (its bytes as read) on a server's socket."""


def serve_each(listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept connections until the listener is closed, each handled in a thread of its own."""

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


class Server:
    """A TCP server that reads each request (headers and ``content-length`` body) and answers
    it with the next of ``scripts``, written as raw bytes: what an endpoint, proxy or broken
    network could send."""

    def __init__(self, scripts: list[Script | bytes], tls: ssl.SSLContext | None = None) -> None:
        self.scripts = list(scripts)
        self.requests: list[bytes] = []
        self.accepted = 0
        self.closed = threading.Event()
        """Set when a connection has been closed on the server's side."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        serve_each(self.listener, self._connection)

    def _connection(self, sock: socket.socket) -> None:
        self.accepted += 1
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self._answer(sock)
        except OSError:
            pass  # the client went, or a script closed the connection
        finally:
            sock.close()
            self.closed.set()

    def _answer(self, sock: socket.socket) -> None:
        buffer = b""
        while self.scripts:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(buffer) < length:
                buffer += sock.recv(65536)
            request, buffer = head + b"\r\n\r\n" + buffer[:length], buffer[length:]
            self.requests.append(request)
            script = self.scripts.pop(0)
            if isinstance(script, bytes):
                sock.sendall(script)
            else:
                script(sock, request)

    def pool(self, **settings: Any) -> transport.Pool:
        settings.setdefault("connect_timeout", 5.0)
        settings.setdefault("read_timeout", 5.0)
        return transport.Pool("http", "127.0.0.1", self.port, **settings)

    def close(self) -> None:
        self.listener.close()


def ok(body: bytes = b"{}", *extra: str) -> bytes:
    headers = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 200 OK\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


def close_after(answer: bytes) -> Script:
    def script(sock: socket.socket, _request: bytes) -> None:
        sock.sendall(answer)
        sock.close()

    return script


def post(pool: transport.Pool, body: bytes = b"{}") -> transport.Answer:
    return pool.post("/", {"host": "example", "x-amz-target": "AmazonSQS.ReceiveMessage"}, body)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(scripts: list[Script | bytes], tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(scripts, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_request_goes_out_whole_and_its_connection_is_used_again(serve: Any) -> None:
    server = serve([ok(b'{"a": 1}', "x-amzn-RequestId: r-1"), ok(b'{"b": 2}')])
    pool = server.pool()

    first = post(pool, b'{"QueueUrl": "q"}')
    second = post(pool)

    assert (first.status_code, first.content, second.content) == (200, b'{"a": 1}', b'{"b": 2}')
    assert first.headers["X-Amzn-RequestId"] == first.headers.get("x-amzn-requestid") == "r-1"
    assert "X-AMZN-REQUESTID" in first.headers
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST / HTTP/1.1"
    assert b"host: example" in head and b"content-length: 17" in head
    assert body == b'{"QueueUrl": "q"}'
    assert server.accepted == pool.opened == 1


def test_a_chunked_answer_is_joined_with_its_extensions_and_trailers_read(serve: Any) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n"
    )
    server = serve([chunked, ok()])
    pool = server.pool()

    assert post(pool).content == b"hello, world"
    assert post(pool).content == b"{}"  # the connection was left at the next answer
    assert server.accepted == 1


def test_a_chunked_answer_on_a_closing_connection_is_still_joined(serve: Any) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    )
    server = serve([close_after(chunked), ok()])
    pool = server.pool()

    assert post(pool).content == b"{}"
    assert post(pool).content == b"{}"
    assert server.accepted == 2


def test_an_answer_without_a_length_is_read_to_the_close_and_the_connection_not_reused(
    serve: Any,
) -> None:
    server = serve([close_after(b'HTTP/1.0 200 OK\r\n\r\n{"whole": true}'), ok()])
    pool = server.pool()

    assert post(pool).content == b'{"whole": true}'
    assert post(pool).content == b"{}"
    assert server.accepted == 2


def test_connection_close_is_honoured(serve: Any) -> None:
    server = serve([ok(b"{}", "Connection: close"), ok()])
    pool = server.pool()

    post(pool)
    post(pool)

    assert server.accepted == 2


def test_an_interim_answer_and_bare_line_feeds_are_read_past(serve: Any) -> None:
    server = serve([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 2\n\n{}"])

    answer = post(server.pool())

    assert (answer.status_code, answer.content) == (200, b"{}")


def test_repeated_and_folded_headers_are_joined(serve: Any) -> None:
    server = serve([ok(b"{}", "X-Multi: a", "X-Multi: b", "X-Folded: one", " two")])

    headers = post(server.pool()).headers

    assert headers["x-multi"] == "a, b"
    assert headers["x-folded"] == "one two"


def test_an_error_status_is_an_answer_not_a_failure(serve: Any) -> None:
    body = b'{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no"}'
    server = serve(
        [b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)]
    )

    answer = post(server.pool())

    assert (answer.status_code, answer.content) == (400, body)


def test_an_answer_cut_short_is_a_bad_answer(serve: Any) -> None:
    server = serve([close_after(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut')])

    with pytest.raises(transport.BadAnswer, match="cut short"):
        post(server.pool())


def test_headers_cut_short_are_a_bad_answer(serve: Any) -> None:
    server = serve([close_after(b"HTTP/1.1 200 OK\r\nContent-Le")])

    with pytest.raises(transport.BadAnswer):
        post(server.pool())


def test_a_close_without_an_answer_is_no_answer(serve: Any) -> None:
    server = serve([lambda sock, _request: sock.close()])

    with pytest.raises(transport.NoAnswer, match="without an answer"):
        post(server.pool())


def test_a_reset_after_the_request_is_no_answer(serve: Any) -> None:
    def reset(sock: socket.socket, _request: bytes) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()

    server = serve([reset])

    with pytest.raises(transport.NoAnswer):
        post(server.pool())


@pytest.mark.parametrize(
    "garbage",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_what_is_not_http_is_a_bad_answer(serve: Any, garbage: bytes) -> None:
    server = serve([close_after(garbage)])

    with pytest.raises(transport.BadAnswer):
        post(server.pool())


def test_an_idle_connection_the_server_closed_is_replaced_before_a_request(serve: Any) -> None:
    server = serve([close_after(ok()), ok()])  # keep-alive announced, then closed while idle
    pool = server.pool()
    post(pool)
    assert server.closed.wait(5)

    answer = post(pool)  # no NoAnswer: the closed connection is seen before anything is sent

    assert answer.content == b"{}"
    assert server.accepted == 2


def test_bytes_no_request_asked_for_retire_the_connection(serve: Any) -> None:
    server = serve([ok() + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ok(b'{"next": 1}')])
    pool = server.pool()
    post(pool)

    assert post(pool).content == b'{"next": 1}'  # not the stray answer
    assert server.accepted == 2


def test_no_answer_in_time_is_an_answer_timeout(serve: Any) -> None:
    silent = threading.Event()
    server = serve([lambda _sock, _request: silent.wait(5)])

    with pytest.raises(transport.AnswerTimedOut):
        post(server.pool(read_timeout=0.3))
    silent.set()


def test_a_refused_connection_is_not_connected() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    pool = transport.Pool("http", "127.0.0.1", port, connect_timeout=2, read_timeout=2)

    with pytest.raises(transport.NotConnected) as raised:
        post(pool)

    assert not isinstance(raised.value, transport.ConnectTimedOut)


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(serve: Any) -> None:
    server = serve([ok()])
    pool = server.pool()

    with pytest.raises(ValueError, match="line break"):
        pool.post("/", {"host": "example", "x-amz-security-token": "a\r\nx-evil: 1"}, b"{}")

    assert server.accepted == 0


def test_at_most_size_connections_stay_idle(serve: Any) -> None:
    server = serve([ok()] * 6)
    pool = server.pool(size=2)
    started = threading.Barrier(3)
    held = []

    def hold() -> None:
        started.wait()
        held.append(post(pool))

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(held) == 3
    assert len(pool._idle) <= 2


# TLS: a certificate for 127.0.0.1 made for the test, trusted only through the CA bundle.


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlqctl test endpoint")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_tls_is_verified_against_the_ca_bundle(serve: Any, certificate: Any) -> None:
    server = serve([ok(b'{"secure": true}')], tls=server_tls(certificate))
    context = transport.tls_context(str(certificate[0]))
    pool = transport.Pool(
        "https", "127.0.0.1", server.port, connect_timeout=5, read_timeout=5, tls=context
    )

    assert post(pool).content == b'{"secure": true}'


def test_an_untrusted_certificate_fails_the_handshake_before_anything_is_sent(
    serve: Any, certificate: Any
) -> None:
    server = serve([ok()], tls=server_tls(certificate))
    pool = transport.Pool("https", "127.0.0.1", server.port, connect_timeout=5, read_timeout=5)

    with pytest.raises(transport.TlsFailed, match="CERTIFICATE_VERIFY_FAILED"):
        post(pool)

    assert server.requests == []


def test_verification_turned_off_accepts_any_certificate(serve: Any, certificate: Any) -> None:
    server = serve([ok()], tls=server_tls(certificate))
    context = transport.tls_context(None)
    pool = transport.Pool(
        "https", "127.0.0.1", server.port, connect_timeout=5, read_timeout=5, tls=context
    )

    assert post(pool).status_code == 200


class TlsFront:
    """TLS in front of an HTTP endpoint: each connection decrypted and piped to it."""

    def __init__(self, upstream: str, context: ssl.SSLContext) -> None:
        host, port = upstream.split("//")[1].split(":")
        self.upstream = (host, int(port))
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        serve_each(self.listener, self._pipe_both)

    def _pipe_both(self, sock: socket.socket) -> None:
        try:
            secure = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            sock.close()
            return
        plain = socket.create_connection(self.upstream)
        back = threading.Thread(target=self._pipe, args=(plain, secure), daemon=True)
        back.start()
        self._pipe(secure, plain)
        back.join()
        secure.close()
        plain.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def tls_front(fresh_endpoint: str, certificate: Any) -> Iterator[TlsFront]:
    front = TlsFront(fresh_endpoint, server_tls(certificate))
    yield front
    front.close()


def test_a_redrive_over_tls_uses_the_direct_connections_and_the_ca_bundle(
    tls_front: TlsFront, certificate: Any, fresh_endpoint: str, monkeypatch: Any
) -> None:
    from tests.helpers import counts, plain, run_dlqctl

    dlq = create_queue(fresh_endpoint, "tls-dlq")
    target = create_queue(fresh_endpoint, "tls-target")
    put(fresh_endpoint, dlq, [plain(f'{{"n": {n}}}') for n in range(25)])
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))
    aws = Aws(Connection(region=REGION, endpoint_url=tls_front.url))
    assert aws.wire("sqs").direct and aws.wire("sqs")._pool is not None

    result = run_dlqctl(
        [
            *("redrive", "tls-dlq", "--to-queue", "tls-target", "--yes", "-o", "json"),
            *("--endpoint-url", tls_front.url, "--region", REGION),
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert counts(fresh_endpoint, target)[0] == 25


def test_without_the_ca_bundle_a_tls_endpoint_is_one_error_line_and_nothing_moves(
    tls_front: TlsFront, fresh_endpoint: str, monkeypatch: Any
) -> None:
    from tests.helpers import counts, plain, run_dlqctl

    dlq = create_queue(fresh_endpoint, "tls-dlq")
    create_queue(fresh_endpoint, "tls-target")
    put(fresh_endpoint, dlq, [plain('{"n": 1}')])
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)

    result = run_dlqctl(
        ["peek", "tls-dlq", "-o", "json", "--endpoint-url", tls_front.url, "--region", REGION]
    )

    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SSL" in lines[0] or "certificate" in lines[0].lower()
    assert "Traceback" not in result.stderr
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_a_send_whose_handshake_failed_is_an_error_not_a_maybe_delivered(
    tls_front: TlsFront, fresh_endpoint: str, monkeypatch: Any
) -> None:
    """The wire connects, and only then writes the request: a handshake that fails (a CA
    bundle missing) sent nothing, so the send is a plain error, not "it may have been
    delivered" (which a rerun would treat as ambiguous)."""
    from dlqctl.aws import send_once
    from dlqctl.errors import AmbiguousSend, DlqctlError

    queue = create_queue(fresh_endpoint, "tls-target")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.setattr("dlqctl.aws.time.sleep", lambda seconds: None)
    wire = Aws(Connection(region=REGION, endpoint_url=tls_front.url)).wire("sqs", sends=True)
    entries = {"QueueUrl": queue.url, "Entries": [{"Id": "0", "MessageBody": "x"}]}
    with pytest.raises(DlqctlError) as failed:
        send_once("sending", lambda: wire.call("SendMessageBatch", entries, retry=False))
    assert not isinstance(failed.value, AmbiguousSend), failed.value.message
    assert "may have been delivered" not in failed.value.message


def test_a_proxy_or_a_client_certificate_keeps_the_client_session(
    monkeypatch: Any, certificate: Any
) -> None:
    from botocore.config import Config
    from botocore.session import get_session

    aws = Aws(Connection(region=REGION, endpoint_url="http://127.0.0.1:9"))
    assert _pool_for(aws.client("sqs"), "http://127.0.0.1:9/") is not None

    with_cert = get_session().create_client(
        "sqs",
        region_name=REGION,
        endpoint_url="https://127.0.0.1:9",
        config=Config(client_cert=(str(certificate[0]), str(certificate[1]))),
    )
    assert _pool_for(with_cert, "https://127.0.0.1:9/") is None

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    proxied = Aws(Connection(region=REGION, endpoint_url="http://sqs.example:9"))
    assert _pool_for(proxied.client("sqs"), "http://sqs.example:9/") is None
