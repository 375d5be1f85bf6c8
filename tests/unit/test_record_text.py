"""The text of a record: ``json_line`` (a peek's JSON record and an export line, the parsed
body encoded once) must be exactly what ``json.dumps`` writes, for every shape AWS writes and
every record that could trip the placeholder it splices at; ``iso_utc`` writes any moment in
UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dlqctl.archive import export_record
from dlqctl.envelopes import QueueContext, decode
from dlqctl.models import ReceivedMessage, iso_utc, json_line
from tests import shapes


def plain(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


@pytest.mark.parametrize("name", shapes.NAMES)
def test_every_aws_shape_writes_what_json_dumps_writes(name: str) -> None:
    view = decode(
        shapes.received(name),
        QueueContext(retention_seconds=345600),
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    for record in (view.to_json(), export_record(view)):
        assert json_line(record) == plain(record)


def test_a_plain_event_is_encoded_once_and_spliced_into_each_place() -> None:
    event = {"source": "orders", "detail-type": "OrderPlaced", "detail": {"id": "é\n1"}}
    message = ReceivedMessage("id-1", "handle", json.dumps(event), {"SentTimestamp": "1"})
    record = decode(message).to_json()
    assert record["json"] is record["event"] is record["payload"]
    line = json_line(record)
    assert line == plain(record)
    assert line.count('"detail": {"id": "é\\n1"}') == 3
    assert "dlqctl" not in line


@pytest.mark.parametrize(
    "record",
    [
        # The placeholder's own text among the record's other values: encoded the plain way.
        {"json": [1], "event": [1], "payload": None, "body": "\0dlqctl: the parsed body\0"},
        {"json": {"a": 1}, "payload": {"a": 1}, "note": 'x"\0dlqctl: the parsed body\0'},
        {"\0dlqctl: the parsed body\0": 1, "json": [], "event": []},
        # Nothing shared, or nothing to share.
        {"json": None, "event": None, "payload": None},
        {"json": "text", "event": "text", "payload": "text"},
        {"json": {"a": 1}, "event": {"a": 1}, "payload": {"a": 1}},  # equal, not the same
        {"event": {"a": 1}},
        {"json": [datetime(2026, 1, 1, tzinfo=UTC), timedelta(1)]},  # default=str
    ],
)
def test_records_that_cannot_be_spliced_are_encoded_the_plain_way(record: Any) -> None:
    shared = record.get("json")
    for key in ("event", "payload"):
        if isinstance(record.get(key), list | dict) and record[key] == shared:
            record[key] = shared  # the very object, so the splice is tried
    assert json_line(record) == plain(record)


def test_the_same_object_in_two_places_and_a_lookalike_in_the_third() -> None:
    parsed = {"a": [1, 2, {"b": None}]}
    record = {"json": parsed, "event": dict(parsed), "payload": parsed, "n": 1.5}
    assert json_line(record) == plain(record)


def test_iso_utc_writes_any_moment_in_utc() -> None:
    moment = datetime(2026, 12, 1, 3, 4, 5, 678901, tzinfo=UTC)
    assert iso_utc(moment) == "2026-12-01T03:04:05.678Z"
    assert iso_utc(moment.astimezone(timezone(timedelta(hours=-5)))) == "2026-12-01T03:04:05.678Z"
    assert iso_utc(datetime.fromtimestamp(1796104846.914, tz=UTC)) == "2026-12-01T06:00:46.914Z"
    assert iso_utc(None) is None
