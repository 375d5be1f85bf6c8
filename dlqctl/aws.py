"""The only module that talks to botocore: session, clients, retries and error translation."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, TypeVar, cast

import botocore.exceptions

if TYPE_CHECKING:
    import botocore.session

from dlqctl import __version__, transport
from dlqctl.errors import (
    AccessError,
    AmbiguousSend,
    DlqctlError,
    InFlightCap,
    NotFoundError,
    PurgeInProgress,
    ThrottledError,
    UnreachableError,
    UsageError,
)
from dlqctl.models import (
    Arn,
    DeadLetterPointer,
    Deletion,
    EntryOutcome,
    EventEntry,
    MessageAttribute,
    MoveTask,
    OutgoingMessage,
    QueueAttributes,
    QueueRef,
    ReceivedMessage,
    SourceMapping,
    StackEvent,
    StackInfo,
    StackResource,
)

SQS_BATCH = 10
"""Entries per SQS batch call (ReceiveMessage, SendMessageBatch, DeleteMessageBatch, …)."""
RELEASE_CONCURRENCY = 8
"""Visibility-change batches sent side by side when a walk releases what it held."""
DISCOVERY_CONCURRENCY = 8
"""Per-function calls sent side by side when finding what feeds the DLQs."""
"""Parallel ChangeMessageVisibilityBatch calls when many messages are released at once."""

_NOT_FOUND = {
    "QueueDoesNotExist",
    "NonExistentQueue",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ResourceNotFoundException",
    "NotFound",
    "NotFoundException",
}
_ACCESS = {
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSecurity",
    "KMS.AccessDeniedException",
    "KmsAccessDenied",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_USAGE = {"InvalidAddress", "InvalidParameterValue", "InvalidParameterValueException"}


@dataclass(frozen=True)
class Connection:
    """Where and as whom to talk to AWS: the ``--profile/--region/--endpoint-url`` options."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    max_pool_connections: int = 80
    """At least the largest --concurrency plus the discovery threads."""
    static_credentials: tuple[str, str] | None = None
    """An access key and secret for endpoints that accept any (the sandbox); else the usual
    chain (environment, profile, instance role) is used."""

    def open(self) -> Aws:
        """A session for this connection: what the CLI hands to the core."""
        return Aws(self)


def error_code(exc: botocore.exceptions.ClientError) -> str:
    """The short error code of a ClientError (SQS's JSON protocol keeps a legacy long form)."""
    error = exc.response.get("Error", {})
    code = str(error.get("QueryErrorCode") or error.get("Code") or "Unknown")
    return code.removeprefix("AWS.SimpleQueueService.")


def _code(entry: Mapping[str, Any]) -> str:
    """The short code of a batch answer's failed entry."""
    return str(entry.get("Code") or "").removeprefix("AWS.SimpleQueueService.")


def cause_code(exc: BaseException) -> str | None:
    """The error code of the ClientError behind a DlqctlError (None: no AWS error behind it)."""
    cause = exc.__cause__
    return error_code(cause) if isinstance(cause, botocore.exceptions.ClientError) else None


def _client_error(exc: botocore.exceptions.ClientError, what: str, where: str) -> DlqctlError:
    """An error AWS answered, decided by its code."""
    code = error_code(exc)
    text = exc.response.get("Error", {}).get("Message") or code
    if code in _NOT_FOUND:
        return NotFoundError(
            f"{what} not found{where}",
            "check the name, --region and the account your credentials belong to",
        )
    if code in _ACCESS:
        return AccessError(
            f"access denied for {what}: {code}: {text}",
            "check the credentials (--profile) and that their policy allows this action",
        )
    if code in _THROTTLED:
        return ThrottledError(
            f"AWS throttled the requests for {what} ({code})",
            "wait a little and run the command again, or lower --rate",
        )
    if code in _USAGE:
        return UsageError(f"{what}: {code}: {text}", "check the value given")
    if text.lstrip().startswith("<"):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
        return DlqctlError(
            f"{what}: the endpoint answered HTTP {status} with a web page, not an AWS "
            "answer: it may not implement this API",
            "check --endpoint-url; local emulators lack some APIs (see the README)",
        )
    return DlqctlError(f"{what}: {code}: {text}", "run again with --debug for details")


_SDK_ERRORS: tuple[tuple[type[Exception], type[DlqctlError], str, str], ...] = (
    # (botocore's error, dlqctl's, the message ({what}, {exc}), the hint): the first match wins.
    (
        botocore.exceptions.NoCredentialsError,
        AccessError,
        "no AWS credentials found",
        "set AWS_PROFILE or pass --profile (a profile with credentials, or SSO logged in), or "
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    ),
    (
        botocore.exceptions.PartialCredentialsError,
        AccessError,
        "no AWS credentials found",
        "set AWS_PROFILE or pass --profile, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    ),
    (
        botocore.exceptions.NoRegionError,
        AccessError,
        "no AWS region configured",
        "pass --region, or set AWS_REGION or AWS_DEFAULT_REGION",
    ),
    (
        botocore.exceptions.InvalidRegionError,
        AccessError,
        "{exc}",
        "pass a region name like eu-west-1 (--region, AWS_REGION or the profile's region)",
    ),
    (
        botocore.exceptions.ProfileNotFound,
        AccessError,
        "{exc}",
        "check the profile name in ~/.aws/config",
    ),
    (
        botocore.exceptions.ConfigParseError,
        AccessError,
        "the AWS configuration cannot be read: {exc}",
        "fix the file named (a [section] header, key = value lines), or point "
        "AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE elsewhere",
    ),
    (
        botocore.exceptions.ConnectionError,
        UnreachableError,
        "cannot reach the AWS endpoint for {what}: {exc}",
        "check --region and --endpoint-url (AWS_ENDPOINT_URL), and the network",
    ),
    (
        botocore.exceptions.HTTPClientError,
        UnreachableError,
        "connection to AWS lost ({what}): {exc}",
        "run the command again",
    ),
    (
        botocore.exceptions.ParamValidationError,
        UsageError,
        "{what}: {exc}",
        "check the value given",
    ),
    (
        botocore.exceptions.BotoCoreError,
        DlqctlError,
        "{what}: {exc}",
        "run again with --debug for details",
    ),
)


def translate(exc: Exception, what: str, region: str | None = None) -> DlqctlError:
    """Turn a boto3/botocore exception into dlqctl's own error with a hint to act on."""
    if isinstance(exc, DlqctlError):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc, what, f" in region {region}" if region else "")
    for sdk_error, error, message, hint in _SDK_ERRORS:
        if isinstance(exc, sdk_error):
            return error(message.format(what=what, exc=exc), hint)
    return DlqctlError(f"{what}: {exc}")


RETRYABLE_EVENT_CODES = frozenset({"InternalFailure", "ThrottlingException"})
"""PutEvents entry errors that may pass on a retry; the others never will."""

SEND_ATTEMPTS = 5
"""Tries of one send when AWS surely did not act on it (no connection made, or throttled)."""

_T = TypeVar("_T")


class HandshakeFailed(botocore.exceptions.SSLError):
    """A TLS handshake that failed on the wire's own connection: nothing of the request was
    written (the wire connects, and only then sends)."""


_NEVER_SENT = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ProxyConnectionError,
    HandshakeFailed,
)
"""Failures that prove the request never reached AWS: no connection was made."""


def send_once(what: str, call: Callable[[], _T], region: str | None = None) -> _T:
    """Run a send that must not be repeated blindly (PutEvents, SendMessageBatch, an async
    Invoke) on a client without SDK retries: a retry after a lost answer would deliver twice.

    It is retried here only when AWS surely did not act on it: the connection was never made,
    or the request was throttled as a whole. A send that got no answer (a read timeout, a
    connection closed or a TLS failure after the request went out, an answer that cannot be
    read, a 5xx) raises ``AmbiguousSend``.
    """
    for attempt in range(SEND_ATTEMPTS):
        last = attempt + 1 == SEND_ATTEMPTS
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500:
                raise AmbiguousSend(
                    f"{what}: AWS answered {error_code(exc)} (HTTP {status}); it may have "
                    "been delivered"
                ) from exc
            if error_code(exc) not in _THROTTLED or last:
                raise translate(exc, what, region) from exc
        except _NEVER_SENT as exc:
            if last:
                raise translate(exc, what, region) from exc
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            # A TLS failure, for one, can come after the request was written.
            raise AmbiguousSend(
                f"{what}: no answer from AWS ({exc}); it may have been delivered"
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, what, region) from exc
        time.sleep(min(5.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")


@contextmanager
def _aws_errors(what: str, region: str | None = None) -> Iterator[None]:
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise translate(exc, what, region) from exc


def _attribute_to_api(attribute: MessageAttribute) -> dict[str, Any]:
    data: dict[str, Any] = {"DataType": attribute.data_type}
    if attribute.string_value is not None:
        data["StringValue"] = attribute.string_value
    if attribute.binary_value is not None:
        data["BinaryValue"] = attribute.binary_value
    return data


def _retries(session: botocore.session.Session) -> dict[str, Any]:
    """Standard retries (backoff with jitter; throttling and transient errors), 8 attempts in
    all, unless the configuration says otherwise as it does for the aws CLI: ``retry_mode``
    and ``max_attempts`` from the environment (``AWS_RETRY_MODE``, ``AWS_MAX_ATTEMPTS``) or
    the profile, ``max_attempts`` counting the first call. Not adaptive by default: its
    client-side rate limiter runs on every call and cost a tenth of a redrive's time, for
    throttling that the retries already absorb."""
    with _aws_errors("the AWS configuration"):
        profile = session.get_scoped_config()
    mode = os.environ.get("AWS_RETRY_MODE") or profile.get("retry_mode") or "standard"
    if mode not in ("legacy", "standard", "adaptive"):
        raise UsageError(
            f"retry mode {mode!r} (AWS_RETRY_MODE or the profile's retry_mode) is not one AWS "
            "knows",
            "use standard, adaptive or legacy",
        )
    given = os.environ.get("AWS_MAX_ATTEMPTS") or profile.get("max_attempts") or 8
    try:
        attempts = int(given)
    except ValueError:
        attempts = 0
    if attempts < 1:
        raise UsageError(
            f"max attempts {given!r} (AWS_MAX_ATTEMPTS or the profile's max_attempts) is not "
            "a whole number of at least 1",
            "set it to e.g. 5 (the first call counts)",
        )
    return {"mode": mode, "total_max_attempts": attempts}


def _checked_endpoint(url: str | None) -> str | None:
    """The endpoint URL, refused before any call when it is not an http(s) URL."""
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"endpoint URL {url!r} is not an http(s) URL",
                "give one like http://127.0.0.1:4566 (--endpoint-url or AWS_ENDPOINT_URL)",
            )
    return url


def _json_default(value: object) -> str | int | float:
    """Blobs go out base64-encoded and times as epoch seconds (naive ones taken as UTC), as
    botocore's JSON serializer sends them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        seconds = calendar.timegm(value.utctimetuple())
        return (seconds * 10**6 + value.microsecond) / 10**6 if value.microsecond else seconds
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


def _decode_message_blobs(response: dict[str, Any]) -> None:
    """Binary message attributes arrive base64-encoded; botocore hands them out as bytes."""
    for message in response.get("Messages") or ():
        for attribute in (message.get("MessageAttributes") or {}).values():
            if isinstance(attribute.get("BinaryValue"), str):
                attribute["BinaryValue"] = base64.b64decode(attribute["BinaryValue"])
            if attribute.get("BinaryListValues"):
                attribute["BinaryListValues"] = [
                    base64.b64decode(item) for item in attribute["BinaryListValues"]
                ]


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key for one day, region and service."""
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sigv4_authorization(
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    amz_date: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    key: bytes | None = None,
) -> str:
    """The ``Authorization`` header of a SigV4-signed POST with no query string, signing every
    header given (names in lower case; ``host`` and ``x-amz-date`` among them). ``key``: the
    ``signing_key`` for this day, region and service, when the caller keeps it."""
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join(
        (
            "POST",
            urllib.parse.quote(path, safe="/~"),
            "",
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names),
            signed,
            hashlib.sha256(body).hexdigest(),
        )
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = key or signing_key(secret_key, day, region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


_DIRECT_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov"})
"""Partitions where a client's endpoint (``meta.endpoint_url``) is where its calls go, plain,
FIPS and dual-stack alike; in the isolated ones FIPS and dual-stack calls go elsewhere."""


def _direct_url(endpoint_url: str) -> tuple[str, str] | None:
    """The URL and ``Host`` value a JSON-protocol call is sent to and signed for, or None for
    an endpoint the direct path does not sign as botocore would (a path, a query, user info)."""
    url = urllib.parse.urlsplit(endpoint_url)
    if url.path not in ("", "/") or url.query or url.fragment or "@" in url.netloc:
        return None
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if url.port is not None and (url.scheme, url.port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{url.port}"
    return urllib.parse.urlunsplit(url._replace(path="/")), host


def _pool_for(client: Any, url: str) -> transport.Pool | None:
    """Connections of the direct path's own, made as the client's HTTP session makes them
    (its timeouts, pool size, socket options and TLS verification), or None where they would
    differ: a proxy for this URL, a client certificate, a session botocore no longer sets up
    as read here."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    proxies = getattr(session, "_proxy_config", None)
    verify = getattr(session, "_verify", None)
    if proxies is None or verify is None or getattr(session, "_cert_file", True) is not None:
        return None
    try:
        if proxies.proxy_url_for(url) is not None:
            return None
    except Exception:  # noqa: BLE001  # a proxy setting this cannot read: the session's path
        return None
    parts = urllib.parse.urlsplit(url)
    tls = None
    if parts.scheme == "https":
        from botocore.httpsession import get_cert_path

        tls = transport.tls_context(str(get_cert_path(verify)) if verify else None)
    config = client.meta.config
    return transport.Pool(
        parts.scheme,
        parts.hostname or "",
        parts.port or (443 if parts.scheme == "https" else 80),
        connect_timeout=float(config.connect_timeout),
        read_timeout=float(config.read_timeout),
        socket_options=list(getattr(session, "_socket_options", None) or ()),
        tls=tls,
        size=int(config.max_pool_connections),
    )


class Wire:
    """The calls a redrive makes for every batch, sent without botocore's per-call machinery.

    For each call botocore fires a dozen event hooks, walks the service model to serialize the
    request and parse the answer, resolves the endpoint rules and copies the request while
    signing it: about 0.3 of the 1.0 CPU seconds a bare boto3 client spends per 1,000 messages
    redriven (README "Beside the peers"). Here the same JSON goes out (blobs base64-encoded, as
    botocore sends them), signed with SigV4, on connections of its own (``transport``: the
    client's timeouts, pool size, socket options and TLS verification, without urllib3's
    per-request work), or on the client's HTTP session where those would differ (a proxy, a
    client certificate). An error answer is parsed by botocore's own
    parser into the same ``ClientError``; a call that may be repeated (``retry``) is retried by
    botocore's standard retry policy and retry quota, and a send is tried once (see
    ``send_once``).

    Where this cannot be done as the client would (a service not on the JSON protocol, an
    http session botocore no longer exposes, an isolated partition, an endpoint URL with a
    path, a retry mode other than standard), or when ``DLQCTL_DIRECT=0`` asks for the client
    (to see these calls in botocore's debug log, or to stub them), the call goes through the
    client instead.
    """

    def __init__(self, client: Any, credentials: Any, max_attempts: int) -> None:
        self._client = client
        self._credentials = credentials
        model = client.meta.service_model
        self._session: Any = getattr(getattr(client, "_endpoint", None), "http_session", None)
        where = _direct_url(client.meta.endpoint_url)
        self._url, self._host = where or ("", "")
        self.direct = (
            getattr(model, "resolved_protocol", model.protocol) == "json"
            and self._session is not None
            and credentials is not None
            and where is not None
            and getattr(client.meta, "partition", "aws") in _DIRECT_PARTITIONS
            and os.environ.get("DLQCTL_DIRECT", "1") != "0"
        )
        self._model = model
        self._target = str(model.metadata.get("targetPrefix", ""))
        self._content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
        self._query_mode = bool(getattr(model, "is_query_compatible", False))
        self._signing_name = str(model.signing_name)
        self._region = str(client.meta.region_name)
        self._user_agent = f"dlqctl/{__version__} Botocore/{botocore.__version__}"
        self._max_attempts = max_attempts  # in all, the first call counted
        self._keys: dict[tuple[str, str], bytes] = {}
        self._policy: Any = None
        self._quota: Any = None
        self._parser: Any = None
        self._pool = _pool_for(client, self._url) if self.direct else None

    def call(self, operation: str, request: Mapping[str, Any], *, retry: bool) -> dict[str, Any]:
        """``operation`` (its API name, e.g. ``ReceiveMessage``): the answer as botocore's client
        would return it. ``retry``: whether it may be repeated after an unclear failure."""
        if not self.direct:
            method = getattr(self._client, botocore.xform_name(operation))
            return dict(method(**request))
        body = json.dumps(request, default=_json_default).encode()
        attempt = 1
        context: dict[str, Any] = {}  # the retry quota's note of what this call took
        while True:
            try:
                response = self._send(operation, body)
                if response.status_code < 300:
                    parsed = self._parse(operation, response)
                    if retry and self._quota is not None:
                        self._quota.release_retry_quota(context, response)
                    return parsed
            except botocore.exceptions.BotoCoreError as exc:
                if not retry or not self._retry_after(operation, attempt, context, caught=exc):
                    raise
            else:
                error = self._parse_error(operation, response)
                if not retry or not self._retry_after(
                    operation, attempt, context, http=response, parsed=error
                ):
                    raise botocore.exceptions.ClientError(cast(Any, error), operation)
            attempt += 1

    def _parse(self, operation: str, response: Any) -> dict[str, Any]:
        """A 2xx answer as botocore returns it; one that is not a JSON object (cut short, a
        proxy's page) is a failed exchange: the call may have been carried out."""
        try:
            parsed = json.loads(response.content or b"{}")
        except ValueError as exc:
            raise botocore.exceptions.HTTPClientError(error=exc) from exc
        if not isinstance(parsed, dict):
            raise botocore.exceptions.HTTPClientError(
                error=ValueError(f"{operation} answered {type(parsed).__name__}, not an object")
            )
        parsed = {key: value for key, value in parsed.items() if value is not None}
        if operation == "ReceiveMessage":
            _decode_message_blobs(parsed)
        parsed["ResponseMetadata"] = {
            "HTTPStatusCode": response.status_code,
            "RequestId": response.headers.get("x-amzn-requestid", ""),
        }
        return parsed

    def _send(self, operation: str, body: bytes) -> Any:
        from botocore.awsrequest import AWSPreparedRequest

        credentials = self._credentials.get_frozen_credentials()
        amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        signed = {
            "content-type": self._content_type,
            "host": self._host,
            "x-amz-date": amz_date,
            "x-amz-target": f"{self._target}.{operation}",
        }
        if self._query_mode:
            signed["x-amzn-query-mode"] = "true"
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        day = amz_date[:8]
        key = self._keys.get((credentials.access_key, day))
        if key is None:
            key = signing_key(credentials.secret_key, day, self._region, self._signing_name)
            self._keys = {(credentials.access_key, day): key}  # one day's key at a time
        # A plain mapping: urllib3 sends any, and botocore reads only ``Transfer-Encoding``.
        headers: Any = {
            **signed,
            "authorization": sigv4_authorization(
                access_key=credentials.access_key,
                secret_key=credentials.secret_key,
                region=self._region,
                service=self._signing_name,
                amz_date=amz_date,
                path="/",
                headers=signed,
                body=body,
                key=key,
            ),
            "user-agent": self._user_agent,
        }
        if self._pool is None:
            request = AWSPreparedRequest("POST", self._url, headers, body, stream_output=False)
            return self._session.send(request)
        return self._post(self._pool, headers, body)

    def _post(self, pool: transport.Pool, headers: Mapping[str, str], body: bytes) -> Any:
        """Through the wire's own connections, each failure raised as botocore raises it, so
        the retry policy and ``send_once`` tell them apart as they do the client's."""
        failed = botocore.exceptions
        url = self._url
        try:
            return pool.post("/", headers, body)
        except transport.ConnectTimedOut as exc:
            raise failed.ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except transport.NotConnected as exc:
            raise failed.EndpointConnectionError(endpoint_url=url, error=exc) from exc
        except transport.TlsFailed as exc:  # from the handshake: before the request
            raise HandshakeFailed(endpoint_url=url, error=exc) from exc
        except transport.AnswerTimedOut as exc:
            raise failed.ReadTimeoutError(endpoint_url=url, error=exc) from exc
        except transport.NoAnswer as exc:
            raise failed.ConnectionClosedError(endpoint_url=url, error=exc) from exc
        except transport.BadAnswer as exc:
            raise failed.HTTPClientError(error=exc) from exc

    def _parse_error(self, operation: str, response: Any) -> dict[str, Any]:
        if self._parser is None:
            from botocore.parsers import create_parser

            self._parser = create_parser(self._model.protocol)
        shape = self._model.operation_model(operation).output_shape
        parsed: dict[str, Any] = self._parser.parse(
            {
                "status_code": response.status_code,
                "headers": response.headers,
                "body": response.content,
            },
            shape,
        )
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = response.status_code
        return parsed

    def _retry_after(
        self, operation: str, attempt: int, context: dict[str, Any], **outcome: Any
    ) -> bool:
        """Whether botocore's standard policy retries this outcome and its retry quota (shared
        by all workers, so an outage is not met with every worker's retries) allows it;
        sleeps the policy's delay if so."""
        from botocore.retries import quota, standard

        if self._policy is None:
            detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
            try:  # throttling backs off from 1 s, other errors from 50 ms, as in the client
                backoff = standard.ExponentialBackoff(throttling_detector=detector)
            except TypeError:  # botocore before the detector: 1 s for every error
                backoff = standard.ExponentialBackoff()
            self._quota = standard.RetryQuotaChecker(quota.RetryQuota(), detector)
            self._policy = standard.RetryPolicy(
                standard.StandardRetryConditions(max_attempts=self._max_attempts), backoff
            )
        retry = standard.RetryContext(
            attempt_number=attempt,
            operation_model=self._model.operation_model(operation),
            parsed_response=outcome.get("parsed"),
            http_response=outcome.get("http"),
            caught_exception=outcome.get("caught"),
            request_context=context,
        )
        if not self._policy.should_retry(retry):
            return False
        if not self._quota.acquire_retry_quota(retry):
            return False
        time.sleep(self._policy.compute_retry_delay(retry))
        return True


class Aws:
    """One session and its clients, built from a ``Connection``; hands out the service wrappers."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._clients: dict[str, Any] = {}
        self._wires: dict[str, Wire] = {}
        self._endpoint_url = _checked_endpoint(
            connection.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        )

    @cached_property
    def session(self) -> botocore.session.Session:
        """botocore's session, set up as ``boto3.Session`` sets it up for clients (profile,
        region, static keys); boto3 itself is not loaded: its import brings s3transfer and
        costs a quarter of a second that no dlqctl command uses."""
        region = self.connection.region or os.environ.get("AWS_REGION") or None
        keys = self.connection.static_credentials
        import botocore.session  # only commands that call AWS pay for it

        with _aws_errors("the AWS session"):
            session = botocore.session.get_session()
            if keys:
                session.set_credentials(keys[0], keys[1])
            if self.connection.profile is not None:
                session.set_config_variable("profile", self.connection.profile)
            if region is not None:
                session.set_config_variable("region", region)
            return session

    @cached_property
    def retries(self) -> dict[str, Any]:
        """The retry settings every client and direct caller uses (see ``_retries``), read
        from the environment and the profile once."""
        return _retries(self.session)

    @cached_property
    def region_name(self) -> str | None:
        """The region configured (option, environment or profile), if any; read once, as
        every send names it in its errors."""
        with _aws_errors("the AWS configuration"):
            region = self.session.get_config_variable("region")
        return str(region) if region else None

    @property
    def region(self) -> str:
        region = self.region_name
        if not region:
            raise AccessError(
                "no AWS region configured",
                "pass --region, or set AWS_REGION or AWS_DEFAULT_REGION",
            )
        return region

    @property
    def endpoint_url(self) -> str | None:
        return self._endpoint_url

    def client(self, service: str, *, sends: bool = False) -> Any:
        """A cached low-level client for ``service`` with dlqctl's retry and pool settings.

        ``sends``: the client for non-idempotent sends, with the SDK's retries off (see
        ``send_once``).
        """
        key = f"{service}/sends" if sends else service
        if key not in self._clients:
            from botocore.config import Config  # imported late (see ``session``)

            retries = {"mode": "standard", "total_max_attempts": 1} if sends else dict(self.retries)
            config = Config(
                retries=retries,  # type: ignore[arg-type]
                parameter_validation=False,  # dlqctl builds its requests; the API checks them
                max_pool_connections=self.connection.max_pool_connections,
                connect_timeout=10,
                read_timeout=40,
                user_agent_extra=f"dlqctl/{__version__}",
            )
            with _aws_errors(f"the {service} client"):
                self._clients[key] = self.session.create_client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=config,
                )
        return self._clients[key]

    def fetch_credentials(self) -> None:
        """Fetch the credentials now, in this thread: a profile that assumes a role may ask for
        an MFA code, or sign in, on first use, which must not happen in a worker thread."""
        with _aws_errors("the AWS credentials"):
            credentials = self.session.get_credentials()
            if credentials is not None:
                credentials.get_frozen_credentials()

    def wire(self, service: str, *, sends: bool = False) -> Wire:
        """The direct caller (see ``Wire``) over ``client(service, sends=sends)``."""
        key = f"{service}/sends" if sends else service
        if key not in self._wires:
            retries = self.retries
            with _aws_errors("the AWS credentials"):
                credentials = self.session.get_credentials()
            wire = Wire(
                self.client(service, sends=sends), credentials, retries["total_max_attempts"]
            )
            # Another retry mode chosen: the client's own retries, not the standard policy.
            wire.direct = wire.direct and (sends or retries["mode"] == "standard")
            self._wires[key] = wire
        return self._wires[key]

    @cached_property
    def sqs(self) -> Sqs:
        return Sqs(self)

    @cached_property
    def lambda_(self) -> Lambda:
        return Lambda(self)

    @cached_property
    def events(self) -> Events:
        return Events(self)

    @cached_property
    def sns(self) -> Sns:
        return Sns(self)

    @cached_property
    def stepfunctions(self) -> StepFunctions:
        return StepFunctions(self)

    @cached_property
    def kinesis(self) -> Kinesis:
        return Kinesis(self)

    @cached_property
    def firehose(self) -> Firehose:
        return Firehose(self)

    @cached_property
    def cloudwatch(self) -> CloudWatch:
        return CloudWatch(self)

    @cached_property
    def cloudformation(self) -> CloudFormation:
        return CloudFormation(self)

    @cached_property
    def s3(self) -> S3:
        return S3(self)

    def account_id(self) -> str:
        """The account the credentials belong to (``GetCallerIdentity``)."""
        with _aws_errors("the caller identity"):
            return str(self.client("sts").get_caller_identity()["Account"])


class _Service:
    service = ""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    @property
    def client(self) -> Any:
        return self.aws.client(self.service)

    def send_once(self, what: str, operation: str, **request: Any) -> Any:
        """Call ``operation`` as a non-idempotent send (see ``send_once``)."""
        method = getattr(self.aws.client(self.service, sends=True), operation)
        return send_once(what, lambda: method(**request), self.aws.region_name)

    def send_batch_once(self, what: str, operation: str, request: Mapping[str, Any]) -> Any:
        """A per-batch send (``operation`` by its API name) on the direct caller, tried as
        ``send_once`` tries it."""
        wire = self.aws.wire(self.service, sends=True)
        return send_once(
            what, lambda: wire.call(operation, request, retry=False), self.aws.region_name
        )

    def call_batch(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """A per-batch call that may be repeated (receive, delete, change visibility) on the
        direct caller, with the standard retries."""
        return self.aws.wire(self.service).call(operation, request, retry=True)

    def errors(self, what: str) -> Any:
        return _aws_errors(what, self.aws.region_name)


_URL_REGION = re.compile(r"^https://(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:queue\.)?amazonaws")


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _queue_attributes(raw: Mapping[str, Any]) -> QueueAttributes:
    """``GetQueueAttributes``'s answer, with when it came (see ``read_at_ms``)."""
    date = server_ms(raw)
    read_at = None if date is None else max(date + 999, int(time.time() * 1000))
    return QueueAttributes.from_api(raw.get("Attributes", {}), read_at_ms=read_at)


_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def server_ms(raw: Mapping[str, Any]) -> int | None:
    """The time an answer's ``Date`` header gives (the server's clock, to the second), in
    milliseconds; None without a readable one. Where something on the way added its own
    (botocore joins repeated headers with commas), the latest."""
    headers = raw.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    text = headers.get("date") if isinstance(headers, Mapping) else None
    if not isinstance(text, str):
        return None
    from email.utils import mktime_tz, parsedate_tz  # botocore has it loaded already

    stamps: list[int] = []
    for part in _HTTP_DATE.findall(text) or [text]:
        parts = parsedate_tz(part)
        if parts is None:
            continue
        try:
            stamps.append(mktime_tz(parts) * 1000)
        except (OverflowError, ValueError):
            continue
    return max(stamps) if stamps else None


def check_region(what: str, region: str | None, in_use: str, hint: str | None = None) -> None:
    """Refuse a resource of another region (an ARN or a queue URL says which), whatever the
    endpoint: FIFO, VPC and local endpoints serve one region too. ``hint`` (a format with
    ``{region}``, the resource's, and ``{in_use}``) replaces "pass --region …" where that would
    not help."""
    if region and region != in_use:
        raise UsageError(
            f"{what} is in region {region}, but the region in use is {in_use}",
            (hint or "pass --region {region}").format(region=region, in_use=in_use),
        )


class Sqs(_Service):
    """SQS operations named for what dlqctl does with them."""

    service = "sqs"

    def resolve(
        self, ref: str, *, other_region_hint: str | None = None
    ) -> tuple[QueueRef, QueueAttributes]:
        """Find a queue by name, URL or ARN and read all its attributes. One of another region
        is refused, with ``other_region_hint`` (see ``check_region``) as the hint."""
        arn = Arn.parse(ref)
        with self.errors(f"queue {ref}"):
            if ref.startswith(("https://", "http://")):
                match = _URL_REGION.match(ref)
                region = match.group(1) if match else None
                check_region(f"queue {ref}", region, self.aws.region, other_region_hint)
                url = ref
            elif arn is not None:
                if arn.service != "sqs":
                    raise UsageError(
                        f"{ref} is not an SQS queue ARN", "pass a queue name, URL or ARN"
                    )
                check_region(f"queue {ref}", arn.region, self.aws.region, other_region_hint)
                url = self.client.get_queue_url(
                    QueueName=arn.resource, QueueOwnerAWSAccountId=arn.account
                )["QueueUrl"]
            else:
                url = self.client.get_queue_url(QueueName=ref)["QueueUrl"]
            raw = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        attributes = _queue_attributes(raw)
        return QueueRef(url=url, name=_queue_name(url), arn=attributes.arn), attributes

    def attributes(self, queue: QueueRef) -> QueueAttributes:
        with self.errors(f"queue {queue.name}"):
            raw = self.client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])
        return _queue_attributes(raw)

    def queue_urls(self, prefix: str | None = None) -> Iterator[str]:
        """Every queue URL in the account and region (paginated)."""
        kwargs: dict[str, Any] = {"MaxResults": 1000}
        if prefix:
            kwargs["QueueNamePrefix"] = prefix
        with self.errors("the queue list"):
            for page in self.client.get_paginator("list_queues").paginate(**kwargs):
                yield from page.get("QueueUrls", [])

    def describe_urls(self, urls: Sequence[str]) -> Iterator[tuple[QueueRef, QueueAttributes]]:
        """Attributes for each URL; queues deleted meanwhile are skipped."""
        for url in urls:
            try:
                with self.errors(f"queue {url}"):
                    raw = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            except NotFoundError:
                continue
            attributes = _queue_attributes(raw)
            yield QueueRef(url=url, name=_queue_name(url), arn=attributes.arn), attributes

    def receive(
        self,
        queue: QueueRef,
        *,
        max_messages: int,
        wait_seconds: int,
        hold_seconds: int,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages`` and hold them invisible for ``hold_seconds``."""
        with self.errors(f"receiving from queue {queue.name}"):
            try:
                response = self.call_batch(
                    "ReceiveMessage",
                    {
                        "QueueUrl": queue.url,
                        "MaxNumberOfMessages": max(1, min(SQS_BATCH, max_messages)),
                        "WaitTimeSeconds": wait_seconds,
                        "VisibilityTimeout": hold_seconds,
                        "MessageSystemAttributeNames": ["All"],
                        "MessageAttributeNames": ["All"],
                    },
                )
            except botocore.exceptions.ClientError as exc:
                # The in-flight cap, not throttling: waiting does not help while we hold them.
                if error_code(exc) == "OverLimit":
                    raise InFlightCap(
                        f"queue {queue.name} holds as many messages in flight as SQS allows"
                    ) from exc
                raise
        return [ReceivedMessage.from_api(item) for item in response.get("Messages", [])]

    def change_visibility(
        self,
        queue: QueueRef,
        receipt_handles: Sequence[str],
        timeout_seconds: int,
        *,
        stop: threading.Event | None = None,
    ) -> list[str]:
        """Set the visibility timeout of held messages; returns the handles that failed.

        Many handles (the release at the end of a long walk) go out in parallel batches. A batch
        whose call fails outright (the endpoint gone, no permission) counts as failed whole, so
        the others still go out and the caller learns how many were not changed. Making visible
        (0) a message that is no longer in flight (its hold ran out: ``MessageNotInflight``)
        is done already, not a failure. Once ``stop`` is set no batch is sent: the ones not sent
        count as failed.
        """

        def change(chunk: Sequence[str]) -> list[str]:
            if stop is not None and stop.is_set():
                return list(chunk)
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": timeout_seconds}
                for index, handle in enumerate(chunk)
            ]
            try:
                with self.errors(f"changing visibility in queue {queue.name}"):
                    response = self.call_batch(
                        "ChangeMessageVisibilityBatch", {"QueueUrl": queue.url, "Entries": entries}
                    )
            except DlqctlError:
                return list(chunk)
            return [
                chunk[int(item["Id"])]
                for item in response.get("Failed", [])
                if not (timeout_seconds == 0 and _code(item) == "MessageNotInflight")
            ]

        chunks = [
            receipt_handles[start : start + SQS_BATCH]
            for start in range(0, len(receipt_handles), SQS_BATCH)
        ]
        # Two ways on purpose. A release (``stop`` given) may give up on batches that stall:
        # ``_until_stopped`` leaves them behind. Without ``stop`` (the holds' renewals), the pool
        # waits for every batch, a Ctrl-C too: a renewal left running could hide again, for a
        # whole hold, a message that a release has just made visible.
        if stop is not None:
            return _until_stopped(change, chunks, stop)
        if len(chunks) <= 1:
            return [handle for chunk in chunks for handle in change(chunk)]
        with ThreadPoolExecutor(max_workers=min(RELEASE_CONCURRENCY, len(chunks))) as pool:
            return [handle for failed in pool.map(change, chunks) for handle in failed]

    def delete(self, queue: QueueRef, messages: Sequence[ReceivedMessage]) -> Deletion:
        """Delete held messages in batches; every ``Failed`` entry is reported, never ignored."""
        deleted: list[str] = []
        failed: list[tuple[str, str]] = []
        for start in range(0, len(messages), SQS_BATCH):
            chunk = messages[start : start + SQS_BATCH]
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle}
                for index, message in enumerate(chunk)
            ]
            with self.errors(f"deleting from queue {queue.name}"):
                response = self.call_batch(
                    "DeleteMessageBatch", {"QueueUrl": queue.url, "Entries": entries}
                )
            answered: set[int] = set()
            for item in response.get("Successful", []):
                answered.add(int(item["Id"]))
                deleted.append(chunk[int(item["Id"])].message_id)
            for item in response.get("Failed", []):
                answered.add(int(item["Id"]))
                failed.append((chunk[int(item["Id"])].message_id, _code(item) or "Unknown"))
            # An entry the answer leaves out was not confirmed deleted: it is not counted so.
            failed.extend(
                (message.message_id, "no answer for this entry")
                for index, message in enumerate(chunk)
                if index not in answered
            )
        return Deletion(tuple(deleted), tuple(failed))

    def send(self, queue: QueueRef, messages: Sequence[OutgoingMessage]) -> dict[str, EntryOutcome]:
        """``SendMessageBatch`` (≤10 entries); each entry's fate is reported, never assumed."""
        if len(messages) > SQS_BATCH:
            raise ValueError(f"at most {SQS_BATCH} messages per batch")
        entries: list[dict[str, Any]] = []
        for message in messages:
            entry: dict[str, Any] = {"Id": message.entry_id, "MessageBody": message.body}
            if message.message_attributes:
                entry["MessageAttributes"] = {
                    name: _attribute_to_api(attribute)
                    for name, attribute in message.message_attributes.items()
                }
            if message.group_id is not None:
                entry["MessageGroupId"] = message.group_id
            if message.deduplication_id is not None:
                entry["MessageDeduplicationId"] = message.deduplication_id
            entries.append(entry)
        response = self.send_batch_once(
            f"sending to queue {queue.name}",
            "SendMessageBatch",
            {"QueueUrl": queue.url, "Entries": entries},
        )
        outcomes = {
            item["Id"]: EntryOutcome(True, str(item["MessageId"]))
            for item in response.get("Successful", [])
        }
        for item in response.get("Failed", []):
            # A failure that is not the sender's (SQS's own) may pass on a retry.
            outcomes[item["Id"]] = EntryOutcome.refused(
                str(item.get("Code", "Unknown")),
                str(item.get("Message", "")),
                retryable=not bool(item.get("SenderFault", True)),
            )
        return outcomes

    def purge(self, queue: QueueRef) -> None:
        """``PurgeQueue``: deletes every message, in flight too; once per 60 seconds."""
        with self.errors(f"purging queue {queue.name}"):
            try:
                self.client.purge_queue(QueueUrl=queue.url)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) == "PurgeQueueInProgress":
                    raise PurgeInProgress(
                        f"queue {queue.name} was purged less than 60 seconds ago",
                        "SQS allows one purge per 60 seconds: wait a minute and run it again",
                    ) from exc
                raise

    def start_move_task(
        self, queue: QueueRef, *, destination_arn: str | None, max_per_second: int | None
    ) -> str:
        """``StartMessageMoveTask`` from a DLQ (to its sources when no destination is given)."""
        kwargs: dict[str, Any] = {"SourceArn": queue.arn}
        if destination_arn:
            kwargs["DestinationArn"] = destination_arn
        if max_per_second:
            kwargs["MaxNumberOfMessagesPerSecond"] = max_per_second
        with self.errors(f"starting a message move task from {queue.name}"):
            return str(self.client.start_message_move_task(**kwargs)["TaskHandle"])

    def move_tasks(self, queue: QueueRef) -> list[MoveTask]:
        """The most recent message move tasks of a DLQ (at most 10, newest first)."""
        with self.errors(f"listing message move tasks of {queue.name}"):
            response = self.client.list_message_move_tasks(SourceArn=queue.arn, MaxResults=10)
        return [MoveTask.from_api(item) for item in response.get("Results", [])]

    def cancel_move_task(self, task_handle: str) -> int:
        """Cancel a running move task; returns how many messages it had moved."""
        with self.errors("cancelling the message move task"):
            response = self.client.cancel_message_move_task(TaskHandle=task_handle)
        return int(response.get("ApproximateNumberOfMessagesMoved", 0))

    def create(self, name: str, attributes: dict[str, str] | None = None) -> QueueRef:
        """Create (or find) a queue; used by the sandbox and the bundled stack's tooling."""
        with self.errors(f"creating queue {name}"):
            url = self.client.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
            arn = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return QueueRef(url=url, name=name, arn=arn["Attributes"]["QueueArn"])

    COPIED_SETTINGS = (
        "FifoQueue",
        "ContentBasedDeduplication",
        "MessageRetentionPeriod",
        "VisibilityTimeout",
        "MaximumMessageSize",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
    )
    """What a queue created like another takes from it (not its policies or RedrivePolicy)."""

    def create_like(self, name: str, model: QueueRef, tags: dict[str, str]) -> QueueRef:
        """Create a queue with ``model``'s type, retention, sizes and encryption, tagged."""
        with self.errors(f"queue {model.name}"):
            raw = self.client.get_queue_attributes(
                QueueUrl=model.url, AttributeNames=list(self.COPIED_SETTINGS)
            ).get("Attributes", {})
        settings = {key: raw[key] for key in self.COPIED_SETTINGS if key in raw}
        if settings.get("FifoQueue", "").lower() != "true":
            settings.pop("FifoQueue", None)
            settings.pop("ContentBasedDeduplication", None)
        with self.errors(f"creating queue {name}"):
            url = self.client.create_queue(QueueName=name, Attributes=settings, tags=tags)[
                "QueueUrl"
            ]
            arn = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return QueueRef(url=url, name=name, arn=arn["Attributes"]["QueueArn"])

    def tags(self, queue: QueueRef) -> dict[str, str]:
        with self.errors(f"tags of queue {queue.name}"):
            return dict(self.client.list_queue_tags(QueueUrl=queue.url).get("Tags") or {})

    def tag(self, queue: QueueRef, tags: dict[str, str]) -> None:
        with self.errors(f"tagging queue {queue.name}"):
            self.client.tag_queue(QueueUrl=queue.url, Tags=tags)

    def untag(self, queue: QueueRef, keys: list[str]) -> None:
        with self.errors(f"untagging queue {queue.name}"):
            self.client.untag_queue(QueueUrl=queue.url, TagKeys=keys)

    def dead_letter_source_urls(self, queue: QueueRef) -> list[str]:
        """Queues whose RedrivePolicy names this queue (``ListDeadLetterSourceQueues``)."""
        urls: list[str] = []
        with self.errors(f"sources of queue {queue.name}"):
            paginator = self.client.get_paginator("list_dead_letter_source_queues")
            for page in paginator.paginate(QueueUrl=queue.url, MaxResults=1000):
                urls.extend(page.get("queueUrls", []))
        return urls


def _dead_letter_config(function: dict[str, Any]) -> DeadLetterPointer | None:
    target = (function.get("DeadLetterConfig") or {}).get("TargetArn")
    return DeadLetterPointer("lambda", function["FunctionArn"], target) if target else None


_MAPPING_BUSY = frozenset({"ResourceInUseException", "ResourceConflictException"})
"""What Lambda answers an update of an event source mapping that is between states."""


RELEASE_GRACE_SECONDS = 2.0
"""How long the batches under way may still take once a release is told to stop."""


def _until_stopped(
    change: Callable[[Sequence[str]], list[str]],
    chunks: Sequence[Sequence[str]],
    stop: threading.Event,
) -> list[str]:
    """``change`` each chunk on worker threads (RELEASE_CONCURRENCY at once) while this thread
    stays free to take signals; returns the handles that failed. Once ``stop`` is set no chunk
    starts, and the ones under way get RELEASE_GRACE_SECONDS: a chunk not done by then (the
    endpoint stalled) counts as failed, and its thread is left behind (a daemon)."""
    done: list[list[str] | None] = [None] * len(chunks)
    errors: list[Exception] = []
    pending: SimpleQueue[int] = SimpleQueue()
    for index in range(len(chunks)):
        pending.put(index)

    def work() -> None:
        while not stop.is_set():
            try:
                index = pending.get_nowait()
            except Empty:
                return
            try:
                done[index] = change(chunks[index])
            except Exception as exc:  # noqa: BLE001 - raised in the main thread, not here
                errors.append(exc)
                return

    workers = [
        threading.Thread(target=work, name="dlqctl-release", daemon=True)
        for _ in range(min(RELEASE_CONCURRENCY, len(chunks)))
    ]
    for worker in workers:
        worker.start()
    _join_until_stopped(workers, stop)
    if errors:
        raise errors[0]
    failed: list[str] = []
    for chunk, answer in zip(chunks, list(done), strict=True):
        failed.extend(chunk if answer is None else answer)  # not done: may still be hidden
    return failed


def _join_until_stopped(workers: Sequence[threading.Thread], stop: threading.Event) -> None:
    """Wait for the workers, a tenth of a second at a time (signals are taken between), and no
    longer than RELEASE_GRACE_SECONDS once ``stop`` is set."""
    stopped_at: float | None = None
    for worker in workers:
        while worker.is_alive():
            worker.join(0.1)
            if stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > RELEASE_GRACE_SECONDS:
                    return


class Lambda(_Service):
    service = "lambda"

    def event_source_mappings(self, queue_arn: str) -> list[SourceMapping]:
        """Event source mappings that read the queue, with their functions' environments."""
        mappings: list[SourceMapping] = []
        with self.errors("event source mappings"):
            paginator = self.client.get_paginator("list_event_source_mappings")
            for page in paginator.paginate(EventSourceArn=queue_arn):
                for item in page.get("EventSourceMappings", []):
                    function = self.client.get_function_configuration(
                        FunctionName=item["FunctionArn"]
                    )
                    mappings.append(
                        SourceMapping(
                            uuid=item["UUID"],
                            function_arn=item["FunctionArn"],
                            state=str(item.get("State", "")),
                            environment=dict(
                                (function.get("Environment") or {}).get("Variables") or {}
                            ),
                        )
                    )
        return mappings

    def set_mapping_enabled(self, uuid: str, enabled: bool, *, busy_seconds: float = 60) -> str:
        """Enable or disable an event source mapping; returns its new state. A mapping between
        states (just enabled, still ``Enabling``) is refused with ResourceInUseException: it is
        asked again each second for up to ``busy_seconds``."""
        deadline = time.monotonic() + busy_seconds
        while True:
            try:
                with self.errors(f"event source mapping {uuid}"):
                    response = self.client.update_event_source_mapping(UUID=uuid, Enabled=enabled)
                return str(response.get("State", ""))
            except DlqctlError as exc:
                if cause_code(exc) not in _MAPPING_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(1)

    def invoke_async(self, function: str, payload: bytes) -> str:
        """Queue an async invocation (``InvocationType=Event``); returns its request ID."""
        response = self.send_once(
            f"invoking function {function}",
            "invoke",
            FunctionName=function,
            InvocationType="Event",
            Payload=payload,
        )
        status = int(response.get("StatusCode", 0))
        if status != 202:
            raise DlqctlError(f"function {function} did not accept the event (HTTP {status})")
        return str(response.get("ResponseMetadata", {}).get("RequestId", ""))

    def reserved_concurrency(self, function: str) -> int | None:
        """The function's reserved concurrency (None: not reserved); NotFoundError when the
        function does not exist."""
        with self.errors(f"function {function}"):
            answer = self.client.get_function_concurrency(FunctionName=function)
        value = answer.get("ReservedConcurrentExecutions")
        return None if value is None else int(value)

    def _functions(self) -> Iterator[dict[str, Any]]:
        """Every version of every function, as ListFunctions returns them."""
        with self.errors("Lambda functions"):
            paginator = self.client.get_paginator("list_functions")
            for page in paginator.paginate(FunctionVersion="ALL"):
                yield from page.get("Functions", [])

    def dead_letter_configs(self) -> Iterator[DeadLetterPointer]:
        """Functions (every version) whose DeadLetterConfig names a queue or topic."""
        for function in self._functions():
            if pointer := _dead_letter_config(function):
                yield pointer

    def dead_letter_pointers(self) -> Iterator[DeadLetterPointer]:
        """Functions (every version) with a DeadLetterConfig or an on-failure destination."""
        names: set[str] = set()
        for function in self._functions():
            names.add(function["FunctionName"])
            if pointer := _dead_letter_config(function):
                yield pointer
        # One call per function: run them side by side (accounts can hold thousands).
        with ThreadPoolExecutor(max_workers=DISCOVERY_CONCURRENCY) as pool:
            for pointers in pool.map(self._destinations, sorted(names)):
                yield from pointers

    def mapping_destinations(self) -> Iterator[DeadLetterPointer]:
        """Event source mappings (Kinesis, DynamoDB Streams, Kafka) with an on-failure
        destination: their failure records name the stream, not the messages."""
        with self.errors("event source mappings"):
            for page in self.client.get_paginator("list_event_source_mappings").paginate():
                for mapping in page.get("EventSourceMappings", []):
                    destination = (
                        (mapping.get("DestinationConfig") or {}).get("OnFailure") or {}
                    ).get("Destination")
                    if destination:
                        yield DeadLetterPointer(
                            "lambda-event-source-mapping",
                            str(mapping.get("EventSourceArn") or mapping["UUID"]),
                            destination,
                            detail=f"mapping {mapping['UUID']} → {mapping.get('FunctionArn')}",
                        )

    def _destinations(self, function_name: str) -> list[DeadLetterPointer]:
        """A function's on-failure destinations, from its event invoke configs (none for a
        function deleted since it was listed)."""
        pointers: list[DeadLetterPointer] = []
        with suppress(NotFoundError), self.errors(f"event invoke configs of {function_name}"):
            paginator = self.client.get_paginator("list_function_event_invoke_configs")
            for page in paginator.paginate(FunctionName=function_name):
                for config in page.get("FunctionEventInvokeConfigs", []):
                    destination = (
                        (config.get("DestinationConfig") or {}).get("OnFailure") or {}
                    ).get("Destination")
                    if destination:
                        pointers.append(
                            DeadLetterPointer(
                                "lambda-destination", config["FunctionArn"], destination
                            )
                        )
        return pointers


class Events(_Service):
    service = "events"

    def bus_names(self) -> Iterator[tuple[str, str]]:
        """(name, ARN) of every event bus; ListEventBuses has no paginator."""
        kwargs: dict[str, Any] = {}
        while True:
            with self.errors("event buses"):
                page = self.client.list_event_buses(**kwargs)
            for bus in page.get("EventBuses", []):
                yield bus["Name"], bus["Arn"]
            token = page.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

    def put_events(self, entries: Sequence[EventEntry]) -> list[EntryOutcome]:
        """``PutEvents`` (≤10 entries): one result per entry, in order, even on HTTP 200."""
        request = [entry.to_api() for entry in entries]
        response = self.send_batch_once("putting events", "PutEvents", {"Entries": request})
        results = response.get("Entries", [])
        if len(results) != len(request):  # which were put is not known: they may all be
            raise AmbiguousSend(
                f"PutEvents answered {len(results)} results for {len(request)} entries; they "
                "may have been delivered",
                "nothing was deleted; run again",
            )
        return [
            EntryOutcome(True, str(item["EventId"]))
            if item.get("EventId")
            else EntryOutcome.refused(
                str(item.get("ErrorCode") or "Unknown"),
                str(item.get("ErrorMessage") or ""),
                retryable=item.get("ErrorCode") in RETRYABLE_EVENT_CODES,
            )
            for item in results
        ]

    def bus_arn(self, bus: str) -> str:
        """The ARN of a bus given by name or ARN; NotFoundError when there is no such bus."""
        arn = Arn.parse(bus)
        if arn is not None:
            check_region(f"event bus {bus}", arn.region, self.aws.region)
        name = arn.name if arn is not None else bus
        with self.errors(f"event bus {bus}"):
            return str(self.client.describe_event_bus(Name=name)["Arn"])

    def rule_targets(self, rule_arn: str) -> list[dict[str, Any]]:
        """A rule's targets (``ListTargetsByRule``), the rule given by ARN; NotFoundError when
        the rule is gone."""
        bus, name = rule_location(rule_arn)
        parts = rule_arn.split(":")
        check_region(f"rule {rule_arn}", parts[3] if len(parts) > 5 else None, self.aws.region)
        if len(parts) > 5:  # the bus by ARN: a rule of another account is not taken for ours
            bus = ":".join([*parts[:5], f"event-bus/{bus}"])
        targets: list[dict[str, Any]] = []
        with self.errors(f"rule {rule_arn}"):
            for page in self.client.get_paginator("list_targets_by_rule").paginate(
                Rule=name, EventBusName=bus
            ):
                targets.extend(page.get("Targets", []))
        return targets

    def rules(self, bus: str) -> list[dict[str, Any]]:
        """The rules of a bus (``ListRules``): name, ARN, state, event pattern."""
        rules: list[dict[str, Any]] = []
        with self.errors(f"the rules of event bus {bus}"):
            for page in self.client.get_paginator("list_rules").paginate(EventBusName=bus):
                rules.extend(page.get("Rules", []))
        return rules

    def pattern_matches(self, pattern: str, event: Mapping[str, Any]) -> bool:
        """Whether EventBridge matches ``event`` with ``pattern`` (``TestEventPattern``)."""
        import json

        with self.errors("testing an event pattern"):
            answer = self.client.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))
        if "Result" not in answer:
            raise DlqctlError(
                "the endpoint answered TestEventPattern without a result",
                "it may not implement the API; see 'Local endpoints' in the README",
            )
        return bool(answer["Result"])

    def create_bus(self, name: str) -> str:
        """Create an event bus (or find it); returns its ARN."""
        with self.errors(f"event bus {name}"):
            try:
                return str(self.client.create_event_bus(Name=name)["EventBusArn"])
            except self.client.exceptions.ResourceAlreadyExistsException:
                return str(self.client.describe_event_bus(Name=name)["Arn"])

    def dead_letter_pointers(self) -> Iterator[DeadLetterPointer]:
        """Rule targets and buses whose DeadLetterConfig names a queue."""
        for bus_name, bus_arn in list(self.bus_names()):
            with self.errors(f"event bus {bus_name}"):
                bus = self.client.describe_event_bus(Name=bus_name)
                bus_dlq = (bus.get("DeadLetterConfig") or {}).get("Arn")
                if bus_dlq:
                    yield DeadLetterPointer("eventbridge-bus", bus_arn, bus_dlq)
                rules = [
                    rule
                    for page in self.client.get_paginator("list_rules").paginate(
                        EventBusName=bus_name
                    )
                    for rule in page.get("Rules", [])
                ]
            for rule in rules:
                yield from self._rule_dead_letters(bus_name, rule)

    def _rule_dead_letters(self, bus_name: str, rule: Mapping[str, Any]) -> list[DeadLetterPointer]:
        """A rule's targets with a DeadLetterConfig (none for a rule deleted since it was
        listed)."""
        pointers: list[DeadLetterPointer] = []
        with suppress(NotFoundError), self.errors(f"rule {rule['Name']}"):
            targets = self.client.get_paginator("list_targets_by_rule")
            for page in targets.paginate(Rule=rule["Name"], EventBusName=bus_name):
                for target in page.get("Targets", []):
                    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
                    if dlq:
                        pointers.append(
                            DeadLetterPointer(
                                "eventbridge-rule",
                                rule["Arn"],
                                dlq,
                                detail=f"target {target['Id']} → {target['Arn']}",
                            )
                        )
        return pointers


def rule_location(rule_arn: str) -> tuple[str, str]:
    """(bus, rule name) of ``arn:…:rule/NAME`` (the default bus) or ``arn:…:rule/BUS/NAME``."""
    resource = rule_arn.split(":", 5)[-1].removeprefix("rule/")
    bus, _, name = resource.rpartition("/")
    return bus or "default", name


class Sns(_Service):
    service = "sns"

    def publish(self, topic_arn: str, message: str) -> str:
        """Publish one message; returns its ``MessageId``."""
        answer = self.send_once(
            f"publishing to topic {topic_arn}", "publish", TopicArn=topic_arn, Message=message
        )
        return str(answer["MessageId"])

    def dead_letter_pointers(self) -> Iterator[DeadLetterPointer]:
        """Subscriptions whose RedrivePolicy names a queue (one attribute read per subscription)."""
        import json

        with self.errors("SNS subscriptions"):
            for page in self.client.get_paginator("list_subscriptions").paginate():
                for subscription in page.get("Subscriptions", []):
                    arn = subscription.get("SubscriptionArn", "")
                    if not arn.startswith("arn:"):
                        continue  # "PendingConfirmation" has no attributes to read
                    try:
                        attributes = self.client.get_subscription_attributes(SubscriptionArn=arn)
                    except botocore.exceptions.ClientError as exc:
                        if error_code(exc) in _NOT_FOUND:
                            continue  # unsubscribed since it was listed
                        raise
                    policy = attributes.get("Attributes", {}).get("RedrivePolicy")
                    if not policy:
                        continue
                    try:
                        target = json.loads(policy).get("deadLetterTargetArn")
                    except ValueError:
                        continue
                    if target:
                        yield DeadLetterPointer(
                            "sns", arn, target, detail=subscription.get("TopicArn")
                        )


class StepFunctions(_Service):
    service = "stepfunctions"

    def start_execution(self, state_machine: str, name: str, payload: str) -> str:
        """Start an execution named ``name``; returns its ARN. A standard workflow started
        again with the same name and input while it runs is not run twice (the same answer);
        once it has ended, StartExecution answers ExecutionAlreadyExists (for 90 days): the
        execution of that name was started, so that is the answer too."""
        try:
            answer = self.send_once(
                f"starting state machine {state_machine}",
                "start_execution",
                stateMachineArn=state_machine,
                name=name,
                input=payload,
            )
        except DlqctlError as exc:
            if cause_code(exc) == "ExecutionAlreadyExists":
                return f"{state_machine.replace(':stateMachine:', ':execution:', 1)}:{name}"
            raise
        return str(answer["executionArn"])


class Kinesis(_Service):
    service = "kinesis"

    def put_record(self, stream_arn: str, data: bytes, partition_key: str) -> str:
        answer = self.send_once(
            f"putting a record on stream {stream_arn}",
            "put_record",
            StreamARN=stream_arn,
            Data=data,
            PartitionKey=partition_key,
        )
        return str(answer["SequenceNumber"])


class Firehose(_Service):
    service = "firehose"

    def put_record(self, stream_name: str, data: bytes) -> str:
        answer = self.send_once(
            f"putting a record on Firehose stream {stream_name}",
            "put_record",
            DeliveryStreamName=stream_name,
            Record={"Data": data},
        )
        return str(answer["RecordId"])


class S3(_Service):
    service = "s3"

    def ensure_bucket(self, bucket: str, owner: str | None = None) -> None:
        """Create the bucket unless it exists; with ``owner`` (an account), an existing bucket
        must belong to it (S3 answers 403 to ``ExpectedBucketOwner`` otherwise): a bucket of a
        name anyone could guess, created first by another account, is refused."""
        expected = {"ExpectedBucketOwner": owner} if owner else {}
        with self.errors(f"bucket {bucket}"):
            try:
                self.client.head_bucket(Bucket=bucket, **expected)
                return
            except botocore.exceptions.ClientError as exc:
                if owner and error_code(exc) in {"403", "AccessDenied"}:
                    raise UsageError(
                        f"bucket {bucket} exists and is not account {owner}'s (or these "
                        "credentials may not read it)",
                        "pass --bucket with a bucket of your own",
                    ) from exc
                if error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if self.aws.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
            self.client.create_bucket(**kwargs)

    def put(self, bucket: str, key: str, data: bytes, owner: str | None = None) -> None:
        expected = {"ExpectedBucketOwner": owner} if owner else {}
        with self.errors(f"s3://{bucket}/{key}"):
            self.client.put_object(Bucket=bucket, Key=key, Body=data, **expected)


CHANGE_SET_SECONDS = 300
"""How long a change set may take to be computed before the deploy gives up on it."""


class CloudFormation(_Service):
    service = "cloudformation"

    def stack(self, name: str) -> StackInfo | None:
        """The stack, or None when there is none of that name (or it was deleted)."""
        with self.errors(f"stack {name}"):
            try:
                stacks = self.client.describe_stacks(StackName=name).get("Stacks", [])
            except botocore.exceptions.ClientError as exc:
                # CloudFormation has no code of its own for this: a ValidationError says it.
                if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                    return None
                raise
        if not stacks or stacks[0].get("StackStatus") == "DELETE_COMPLETE":
            return None
        stack = stacks[0]
        return StackInfo(
            name=name,
            status=str(stack.get("StackStatus", "")),
            reason=stack.get("StackStatusReason"),
            outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []},
            parameters={
                p["ParameterKey"]: p.get("ParameterValue", "")
                for p in stack.get("Parameters") or []
            },
        )

    def create_change_set(
        self,
        stack: str,
        change_set: str,
        *,
        template: str,
        parameters: dict[str, str],
        create: bool,
    ) -> list[str] | None:
        """Create a change set and wait for it; returns its changes, or None when there are none."""
        with self.errors(f"change set for stack {stack}"):
            try:
                self.client.create_change_set(
                    StackName=stack,
                    ChangeSetName=change_set,
                    ChangeSetType="CREATE" if create else "UPDATE",
                    TemplateBody=template,
                    Parameters=[
                        {"ParameterKey": key, "ParameterValue": value}
                        for key, value in parameters.items()
                    ],
                    Capabilities=["CAPABILITY_IAM"],
                )
            except botocore.exceptions.ClientError as exc:
                if "No updates are to be performed" in str(exc):
                    return None
                raise
            deadline = time.monotonic() + CHANGE_SET_SECONDS
            while True:
                described = self.client.describe_change_set(
                    StackName=stack, ChangeSetName=change_set
                )
                status = described.get("Status")
                if status in ("CREATE_COMPLETE", "FAILED"):
                    break
                if time.monotonic() > deadline:
                    raise DlqctlError(
                        f"change set {change_set} for stack {stack} still {status} after "
                        f"{CHANGE_SET_SECONDS} s",
                        f"see it with: aws cloudformation describe-change-set --stack-name {stack}"
                        f" --change-set-name {change_set}",
                    )
                time.sleep(1)
            if status == "FAILED":
                reason = str(described.get("StatusReason", ""))
                self.client.delete_change_set(StackName=stack, ChangeSetName=change_set)
                if "didn't contain changes" in reason or "No updates" in reason:
                    return None
                raise DlqctlError(f"change set for stack {stack} failed: {reason}")
        changes = [item["ResourceChange"] for item in described.get("Changes", [])]
        return [
            f"{c.get('Action')} {c.get('LogicalResourceId')} ({c.get('ResourceType')})"
            + (" (replaced)" if c.get("Replacement") in ("True", "Conditional") else "")
            for c in changes
        ]

    def execute_change_set(self, stack: str, change_set: str) -> None:
        with self.errors(f"change set for stack {stack}"):
            self.client.execute_change_set(StackName=stack, ChangeSetName=change_set)

    def delete(self, stack: str) -> None:
        with self.errors(f"stack {stack}"):
            self.client.delete_stack(StackName=stack)

    def resources(self, stack: str) -> list[StackResource]:
        with self.errors(f"resources of stack {stack}"):
            paginator = self.client.get_paginator("list_stack_resources")
            return [
                StackResource(
                    str(item.get("LogicalResourceId", "")),
                    str(item.get("ResourceType", "")),
                    str(item.get("PhysicalResourceId", "")),
                    str(item.get("ResourceStatus", "")),
                )
                for page in paginator.paginate(StackName=stack)
                for item in page.get("StackResourceSummaries", [])
            ]

    def events(self, stack: str, limit: int = 100) -> list[StackEvent]:
        """The stack's most recent events, newest first."""
        with self.errors(f"events of stack {stack}"):
            response = self.client.describe_stack_events(StackName=stack)
        return [
            StackEvent(
                str(item.get("LogicalResourceId", "")),
                str(item.get("ResourceStatus", "")),
                item.get("ResourceStatusReason"),
            )
            for item in response.get("StackEvents", [])[:limit]
        ]


class CloudWatch(_Service):
    service = "cloudwatch"

    def oldest_message_ages(self, queue_names: Sequence[str]) -> dict[str, float]:
        """``ApproximateAgeOfOldestMessage`` (latest datapoint of the last 15 minutes) per queue."""
        ages: dict[str, float] = {}
        now = datetime.now(UTC)
        for start in range(0, len(queue_names), 500):
            chunk = queue_names[start : start + 500]
            queries = [
                {
                    "Id": f"q{index}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SQS",
                            "MetricName": "ApproximateAgeOfOldestMessage",
                            "Dimensions": [{"Name": "QueueName", "Value": name}],
                        },
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                    "ReturnData": True,
                }
                for index, name in enumerate(chunk)
            ]
            with self.errors("CloudWatch metrics"):
                paginator = self.client.get_paginator("get_metric_data")
                for page in paginator.paginate(
                    MetricDataQueries=queries,
                    StartTime=now - timedelta(minutes=15),
                    EndTime=now,
                    ScanBy="TimestampDescending",
                ):
                    for result in page.get("MetricDataResults", []):
                        values = result.get("Values") or []
                        index = int(result["Id"][1:])
                        if values and chunk[index] not in ages:
                            ages[chunk[index]] = float(values[0])
        return ages
