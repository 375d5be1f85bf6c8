"""The text of a record: ``json_line`` (a peek's JSON record and an export line) writes a
message view's parsed body as the body's own text when the body is one line, else encoded once;
the line must hold the same JSON values as what ``json.dumps`` writes, for every shape AWS writes
and every record that could trip the placeholder it splices at; ``iso_utc`` writes any moment in
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
def test_every_aws_shape_writes_the_values_json_dumps_writes(name: str) -> None:
    message = shapes.received(name)
    view = decode(
        message, QueueContext(retention_seconds=345600), now=datetime(2026, 12, 1, tzinfo=UTC)
    )
    for record in (view.to_json(), export_record(view)):
        line = json_line(record)
        assert "\n" not in line
        assert json.loads(line) == json.loads(plain(record))
        assert list(json.loads(line)) == list(record)  # the keys, in their order
        if isinstance(view.json, dict | list) and "\n" not in message.body:
            assert f'"json": {message.body}, ' in line  # the body's own text
        # A copy is not known to be a view: exactly what json.dumps writes.
        assert json_line(dict(record)) == plain(record)


def test_a_plain_event_is_written_as_the_body_in_each_place() -> None:
    body = '{"source":"orders","detail-type":"OrderPlaced","detail":{"id":"é\\n1"}}'
    message = ReceivedMessage("id-1", "handle", body, {"SentTimestamp": "1"})
    record = decode(message).to_json()
    assert record["json"] is record["event"] is record["payload"]
    line = json_line(record)
    assert json.loads(line) == json.loads(plain(record))
    for key in ("json", "event", "payload"):
        assert f'"{key}": {body}' in line
    assert "dlqctl" not in line


def test_a_body_of_several_lines_is_encoded_once_and_spliced_into_each_place() -> None:
    event = {"source": "orders", "detail-type": "OrderPlaced", "detail": {"id": "é\n1"}}
    message = ReceivedMessage("id-1", "handle", json.dumps(event, indent=2), {})
    record = decode(message).to_json()
    line = json_line(record)
    assert line == plain(record)
    assert line.count('"detail": {"id": "é\\n1"}') == 3
    assert "dlqctl" not in line


@pytest.mark.parametrize(
    "body", ['{"n": 1e400}', '{"a": 1, "a": 2}', "[1,\t2 ]", '{"s": "\\ud83d"}']
)
def test_the_body_text_keeps_what_encoding_its_parsed_value_would_change(body: str) -> None:
    """A number past a float's range stays a number (encoding the parsed ``inf`` would write
    ``Infinity``, which is not JSON); a repeated key is read as JSON readers read the body."""
    record = decode(ReceivedMessage("id-1", "handle", body, {})).to_json()
    line = json_line(record)
    assert f'"json": {body}, ' in line
    strict = json.loads(line, parse_constant=lambda constant: pytest.fail(constant))
    assert strict["json"] == json.loads(body)
    line.encode()  # a file or terminal takes it


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
