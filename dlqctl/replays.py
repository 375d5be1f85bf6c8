"""What a replay is recognised by, and what dlqctl remembers of replays per DLQ.

A *content fingerprint* names what a replay sent, so the same content is recognised when it
comes back: for an event put on a bus, its source, detail-type and detail; for anything else
(a queue move, a re-invocation), the body and the message attributes that are the message's own
(not AWS's error metadata, not dlqctl's replay marks). The *replay ledger* counts, per DLQ, in
how many runs each fingerprint was replayed: the loop guard of ``--max-replays``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from dlqctl.destinations import REPLAY_FIELD, Invocation, Planned
from dlqctl.envelopes import EventBridgeAttribute, LambdaDlqAttribute
from dlqctl.errors import UsageError
from dlqctl.journal import stable_name, state_dir
from dlqctl.models import EventEntry, JsonValue, MessageAttribute, MessageView

_METADATA = frozenset({*LambdaDlqAttribute, *EventBridgeAttribute})
"""Attributes AWS writes on a DLQ message about the failure, not part of the message."""


def _digest(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()[:32]


def event_fingerprint(source: str, detail_type: str, detail: JsonValue) -> str:
    """An event's content: source, detail-type and detail (without dlqctl's replay mark)."""
    if isinstance(detail, dict):
        detail = {key: value for key, value in detail.items() if key != REPLAY_FIELD}
    text = json.dumps([source, detail_type, detail], sort_keys=True, separators=(",", ":"))
    return _digest("event", text)


def message_fingerprint(body: str, attributes: Mapping[str, MessageAttribute]) -> str:
    """A message's content: its body and its own attributes."""
    own = {
        name: [attribute.data_type, attribute.value]
        for name, attribute in attributes.items()
        if name not in _METADATA and not name.startswith("dlqctl-")
    }
    return _digest("message", json.dumps([body, own], sort_keys=True, separators=(",", ":")))


def payload_fingerprint(payload: JsonValue) -> str:
    """What a function was invoked with: a failure record's ``requestPayload``, a Lambda DLQ
    message's body (the record's own request ID and time are not part of it)."""
    return _digest("payload", json.dumps(payload, sort_keys=True, separators=(",", ":")))


def _parsed(text: str) -> JsonValue:
    try:
        parsed: JsonValue = json.loads(text)
    except ValueError:
        return text
    return parsed


def sent_fingerprint(planned: Planned) -> str:
    """The fingerprint of what a replay sends."""
    entry = planned.payload
    if isinstance(entry, EventEntry):
        return event_fingerprint(entry.source, entry.detail_type, json.loads(entry.detail))
    if isinstance(entry, Invocation):
        return payload_fingerprint(_parsed(entry.payload.decode()))
    body = getattr(entry, "body", None)
    if getattr(entry, "target", None) is not None and isinstance(body, str):
        # A rule target's input (--to-target): what its consumer fails on, as its payload.
        return payload_fingerprint(_parsed(body))
    message = planned.view.message
    return message_fingerprint(message.body, message.message_attributes)


def view_fingerprints(view: MessageView) -> tuple[str, ...]:
    """The fingerprints a DLQ message may match a replay by: its content's, its event's (when
    it carries one) and its payload's (what a function or target was given)."""
    message = view.message
    found = [
        message_fingerprint(message.body, message.message_attributes),
        payload_fingerprint(view.payload if view.payload is not None else message.body),
    ]
    event = view.event
    if isinstance(event, dict) and "source" in event and "detail-type" in event:
        found.append(
            event_fingerprint(str(event["source"]), str(event["detail-type"]), event.get("detail"))
        )
    return tuple(found)


def label(planned: Planned) -> str:
    """A short, readable name for replayed content: the event's source and detail-type, or the
    start of the body."""
    entry = planned.payload
    if isinstance(entry, EventEntry):
        return f"{entry.source} / {entry.detail_type}"
    body = " ".join(planned.view.message.body.split())
    return body if len(body) <= 60 else body[:59] + "…"


def ledger_path(queue_arn: str) -> Path:
    return state_dir() / "replays" / stable_name(queue_arn, "replays")


class ReplayLedger:
    """Per DLQ, in how many runs each fingerprint was replayed (a JSON-lines file, one line per
    batch of first replays in a run). A run counts once per fingerprint, however many copies of
    the same content it replays."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: dict[int, int] = {}
        self.labels: dict[int, tuple[str, str]] = {}
        """Label and last message ID of content replayed more than once (for the listing)."""
        self._this_run: set[int] = set()
        self._handle: IO[str] | None = None
        self._run = ""
        self._lock = threading.Lock()

    @classmethod
    def load(cls, queue_arn: str) -> ReplayLedger:
        ledger = cls(ledger_path(queue_arn))
        try:
            lines = ledger.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read the replay ledger {ledger.path}: {exc}",
                "fix its permissions, or move it away to start counting afresh",
            ) from exc
        for line in lines:
            try:
                for fingerprint, text, message_id in json.loads(line)["replayed"]:
                    ledger._count(str(fingerprint), str(text), str(message_id))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
        return ledger

    def _count(self, fingerprint: str, text: str, message_id: str) -> None:
        key = int(fingerprint, 16)
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        if count > 1:
            self.labels[key] = (text, message_id)

    def start(self, run_id: str) -> None:
        """Open the ledger for appending (owner-only), for a run that replays."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise UsageError(
                f"cannot write the replay ledger {self.path}: {exc.strerror}",
                "make the state directory writable ($XDG_STATE_HOME/dlqctl)",
            ) from exc
        self._handle = os.fdopen(descriptor, "a", encoding="utf-8")
        self._run = run_id
        if os.fstat(descriptor).st_size and not self.path.read_bytes().endswith(b"\n"):
            self._handle.write("\n")  # a line cut short by a crash stays a line of its own

    def times(self, fingerprint: str) -> int:
        """In how many earlier runs this content was replayed."""
        with self._lock:
            return self.counts.get(int(fingerprint, 16), 0) - (
                1 if int(fingerprint, 16) in self._this_run else 0
            )

    def replayed(self, items: Sequence[tuple[str, Planned]]) -> None:
        """Count acknowledged replays (a fingerprint once per run)."""
        fresh: list[list[str]] = []
        with self._lock:
            for fingerprint, planned in items:
                key = int(fingerprint, 16)
                if key in self._this_run:
                    continue
                self._this_run.add(key)
                entry = [fingerprint, label(planned), planned.view.message_id]
                self._count(*entry)
                fresh.append(entry)
            if fresh and self._handle is not None:
                line = {"run": self._run, "at": round(time.time(), 3), "replayed": fresh}
                self._handle.write(json.dumps(line) + "\n")
                self._handle.flush()

    def most_replayed(self, count: int = 10) -> list[dict[str, JsonValue]]:
        """The content replayed in the most runs (more than one), most first."""
        ranked = sorted(self.labels, key=lambda key: -self.counts[key])[:count]
        return [
            {
                "fingerprint": f"{key:032x}",
                "replays": self.counts[key],
                "content": self.labels[key][0],
                "last_message_id": self.labels[key][1],
            }
            for key in ranked
        ]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
