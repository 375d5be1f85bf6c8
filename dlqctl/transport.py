"""Keep-alive HTTP/1.1 connections for the per-batch calls ``aws.Wire`` sends itself.

Requests are written and answers read on plain sockets (TLS from the standard library's
``ssl``), over a small pool of reused connections, with the connect and read timeouts, socket
options and CA bundle of the client they stand in for. A request through urllib3 and botocore's
HTTP session cost 1.1 to 1.5 ms of CPU on this project's benchmark machine, through ``http.client``
0.35 to 0.5 ms (most of it parsing headers with the ``email`` package), this way ~0.3 ms (README,
"Beside the peers"); a redrive makes three per batch. Failures are told apart by when they
happened, because a send must know whether its request may have reached AWS: before the
connection was made (``NotConnected``: nothing was sent) or after (``NoAnswer``, ``BadAnswer``:
it may have been).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SocketOption = tuple[int, int, int]


class TransportError(Exception):
    """A request that got no usable answer."""


class NotConnected(TransportError):
    """No connection could be made (refused, unreachable, a name that does not resolve):
    the request was not sent."""


class ConnectTimedOut(NotConnected):
    """The connection was not made in time: the request was not sent."""


class TlsFailed(TransportError):
    """The TLS handshake failed (an untrusted certificate, a name that does not match)."""


class NoAnswer(TransportError):
    """The connection closed, reset or failed after the request went out."""


class AnswerTimedOut(NoAnswer):
    """No answer within the read timeout."""


class BadAnswer(TransportError):
    """What came back is not an HTTP answer (cut short, malformed)."""


class Headers(dict[str, str]):
    """Answer headers, looked up by any case (stored in lower case)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, named as botocore names its own (``status_code``, ``headers``,
    ``content``) so the code that reads botocore's answers reads these too."""

    status_code: int
    headers: Headers
    content: bytes


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verification against ``ca_bundle`` (a CA file or directory: the caller resolves it as
    botocore does, not from the system's store), or none when it is None (verification off)."""
    if ca_bundle is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if os.path.isdir(ca_bundle):
        return ssl.create_default_context(capath=ca_bundle)
    return ssl.create_default_context(cafile=ca_bundle)


MAX_HEAD_BYTES = 65536
"""The most an answer's status line and headers may take."""

MAX_HEADERS = 100


class _Closed(Exception):
    """The peer closed the connection."""


def _parse_head(head: bytes) -> tuple[bytes, int, Headers]:
    """An answer's status line and headers: its HTTP version, status and headers."""
    lines = head.splitlines()
    parts = lines[0].split(None, 2) if lines else []
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"not an HTTP answer: {lines[0][:80] if lines else b''!r}")
    if len(lines) > MAX_HEADERS + 1:
        raise BadAnswer(f"more than {MAX_HEADERS} headers")
    headers = Headers()
    name = ""
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and name:  # a folded line continues the one before
            dict.__setitem__(headers, name, f"{headers[name]} {line.strip().decode('latin-1')}")
            continue
        raw_name, colon, raw_value = line.partition(b":")
        if not colon or not raw_name or raw_name != raw_name.strip():
            raise BadAnswer(f"not an HTTP header: {line[:80]!r}")
        name = raw_name.decode("latin-1").lower()
        value = raw_value.strip().decode("latin-1")
        previous = dict.get(headers, name)
        dict.__setitem__(headers, name, value if previous is None else f"{previous}, {value}")
    return parts[0], int(parts[1]), headers


class _Connection:
    """One HTTP/1.1 connection: the request written in one piece, the answer read into a
    buffer of its own (so nothing is left unread between requests without it being seen)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed
        self.buffer += chunk

    def _until(self, marker: bytes, limit: int) -> bytes:
        """The bytes before ``marker`` (taken, with it, from the buffer)."""
        searched = 0
        while True:
            found = self.buffer.find(marker, searched)
            if found >= 0:
                taken = bytes(self.buffer[:found])
                del self.buffer[: found + len(marker)]
                return taken
            if len(self.buffer) > limit:
                raise BadAnswer(f"no end of line in {limit:,} bytes")
            searched = max(0, len(self.buffer) - len(marker) + 1)
            self._fill()

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        taken = bytes(self.buffer[:count])
        del self.buffer[:count]
        return taken

    def _line(self) -> bytes:
        return self._until(b"\n", MAX_HEAD_BYTES).rstrip(b"\r")

    def _head(self) -> bytes:
        """The status line and headers; an answer may end them with bare line feeds."""
        while True:
            crlf = self.buffer.find(b"\r\n\r\n")
            lf = self.buffer.find(b"\n\n")
            if crlf >= 0 and (lf < 0 or crlf < lf):
                return self._until(b"\r\n\r\n", MAX_HEAD_BYTES)
            if lf >= 0:
                return self._until(b"\n\n", MAX_HEAD_BYTES)
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadAnswer(f"no end of the headers in {MAX_HEAD_BYTES:,} bytes")
            self._fill()

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadAnswer(f"not a chunk size: {size_line[:20]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return bytes(body)
            body += self._take(size)
            if self._line():
                raise BadAnswer("a chunk longer than its size")

    def _to_close(self) -> bytes:
        try:
            while True:
                self._fill()
        except _Closed:
            pass
        taken = bytes(self.buffer)
        self.buffer.clear()
        return taken

    def exchange(self, request: bytes) -> tuple[Answer, bool]:
        """Send ``request`` and read its answer; whether the connection may be used again."""
        self.sock.sendall(request)
        started = False
        try:
            while True:
                head = self._head()
                started = True
                version, status, headers = _parse_head(head)
                if not 100 <= status < 200:
                    break
                if status == 101:
                    raise BadAnswer("the server switched protocols")
            reusable = self._reusable(version, headers)
            coding = (headers.get("transfer-encoding") or "").lower()
            length = headers.get("content-length")
            if status in (204, 304):
                body = b""
            elif coding.rsplit(",", 1)[-1].strip() == "chunked":
                body = self._chunked()
            elif coding:  # another coding last: the body ends when the connection does
                reusable = False
                body = self._to_close()
            elif length is not None:
                sizes = {part.strip() for part in length.split(",")}
                if len(sizes) != 1 or not next(iter(sizes)).isdigit():
                    raise BadAnswer(f"not a content length: {length[:40]!r}")
                body = self._take(int(sizes.pop()))
            else:
                reusable = False
                body = self._to_close()
        except _Closed:
            if started or self.buffer:
                raise BadAnswer("the answer was cut short") from None
            raise NoAnswer("the server closed the connection without an answer") from None
        return Answer(status, headers, body), reusable and not self.buffer

    @staticmethod
    def _reusable(version: bytes, headers: Headers) -> bool:
        tokens = {token.strip() for token in (headers.get("connection") or "").lower().split(",")}
        if version == b"HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def dropped(self) -> bool:
        """Whether this idle connection cannot carry another request: the peer closed it, or
        sent bytes no request asked for."""
        if self.buffer or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return True
        try:
            if hasattr(select, "poll"):  # any descriptor number, where select() stops at 1024
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.sock.close()


class Pool:
    """Reused connections to one host; at most ``size`` are kept idle, any number in use."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        read_timeout: float,
        socket_options: Sequence[SocketOption] = (),
        tls: ssl.SSLContext | None = None,
        size: int = 10,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"{scheme!r} is not http or https")
        self.host = host
        self.port = port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._socket_options = tuple(socket_options)
        self._tls = (tls or ssl.create_default_context()) if scheme == "https" else None
        self._size = size
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        # Idle connections are closed when the pool goes, as urllib3's pools close theirs.
        weakref.finalize(self, _close_all, self._idle)
        self.opened = 0
        """Connections opened so far."""

    def _take(self) -> _Connection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if not connection.dropped():
                return connection
            connection.close()
        connection = _Connection(self._connect())
        with self._lock:
            self.opened += 1
        return connection

    def _connect(self) -> socket.socket:
        """A new socket: the connect timeout while connecting (and shaking hands), the read
        timeout after."""
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), self._connect_timeout)
        except TimeoutError as exc:
            raise ConnectTimedOut(f"connecting to {where} timed out") from exc
        except OSError as exc:
            raise NotConnected(f"cannot connect to {where}: {exc}") from exc
        try:
            for option in self._socket_options:
                sock.setsockopt(*option)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self._read_timeout)
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimedOut(f"TLS with {where} timed out") from exc
        except ssl.SSLError as exc:
            sock.close()
            raise TlsFailed(f"TLS with {where} failed: {exc}") from exc
        except OSError as exc:
            sock.close()
            raise NotConnected(f"cannot connect to {where}: {exc}") from exc
        return sock

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(connection)
                return
        connection.close()

    def post(self, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """POST ``body`` with ``headers`` (``host`` among them; ``content-length`` is added)
        and read the whole answer."""
        lines = [f"POST {path} HTTP/1.1", f"content-length: {len(body)}"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        connection = self._take()
        where = f"{self.host}:{self.port}"
        try:
            answer, reusable = connection.exchange(request)
        except TimeoutError as exc:
            connection.close()
            raise AnswerTimedOut(f"no answer from {where} in time") from exc
        except TransportError:
            connection.close()
            raise
        except OSError as exc:
            connection.close()
            raise NoAnswer(f"the connection to {where} failed: {exc}") from exc
        if reusable:
            self._give_back(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _close_all(idle)


def _close_all(connections: list[_Connection]) -> None:
    for connection in connections:
        connection.close()
