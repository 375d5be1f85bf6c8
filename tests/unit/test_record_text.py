"""The text of a record: ``MessageView.line`` (a peek's JSON record and an export line) writes
the view's parsed body as the body's own text, its line breaks as spaces, and the line must hold
the same JSON values as what ``json.dumps`` writes, for every shape AWS writes; ``json_line``
without the view writes exactly what ``json.dumps`` writes, the parsed body encoded once, for
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


def one_line(body: str) -> str:
    return body.replace("\r", " ").replace("\n", " ")


def same(line: str, record: Any) -> bool:
    """The same JSON values, keys in the same order, and types kept (``true`` is not ``1``)."""
    strict = json.loads(line, parse_constant=lambda constant: pytest.fail(constant))
    return json.dumps(strict, default=str) == json.dumps(json.loads(plain(record)), default=str)


@pytest.mark.parametrize("name", shapes.NAMES)
def test_every_aws_shape_writes_the_values_json_dumps_writes(name: str) -> None:
    message = shapes.received(name)
    view = decode(
        message, QueueContext(retention_seconds=345600), now=datetime(2026, 12, 1, tzinfo=UTC)
    )
    for record in (view.to_json(), export_record(view)):
        line = view.line(record)
        assert "\n" not in line and same(line, record)
        if isinstance(view.json, dict | list):  # the body's own text, on one line
            assert f'"json": {one_line(message.body)}, ' in line
        else:
            assert line == plain(record)
        # Without the view, the record's text is exactly what json.dumps writes.
        assert json_line(record) == plain(record)


def test_a_plain_event_is_written_as_the_body_in_each_place() -> None:
    body = '{"source":"orders","detail-type":"OrderPlaced","detail":{"id":"é\\n1"}}'
    view = decode(ReceivedMessage("id-1", "handle", body, {"SentTimestamp": "1"}))
    record = view.to_json()
    assert record["json"] is record["event"] is record["payload"]
    line = view.line(record)
    assert same(line, record)
    for key in ("json", "event", "payload"):
        assert f'"{key}": {body}' in line
    assert "dlqctl" not in line


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_body_of_several_lines_is_written_on_one_line_in_each_place(end: str) -> None:
    event = {"source": "orders", "detail-type": "OrderPlaced", "detail": {"id": "é\n1"}}
    body = json.dumps(event, indent=2, ensure_ascii=False).replace("\n", end)
    view = decode(ReceivedMessage("id-1", "handle", body, {}))
    record = view.to_json()
    line = view.line(record)
    assert "\n" not in line and "\r" not in line and same(line, record)
    assert line.count(one_line(body)) == 3
    assert json_line(record) == plain(record)  # without the view: encoded once and spliced
    assert json_line(record).count('"detail": {"id": "é\\n1"}') == 3


@pytest.mark.parametrize("body", ['{"n": 1e400}', '{"a": 1, "a": 2}', "[1,\t2 ]", "[true]"])
def test_the_body_text_keeps_what_encoding_its_parsed_value_would_change(body: str) -> None:
    """A number past a float's range stays a number (encoding the parsed ``inf`` would write
    ``Infinity``, which is not JSON); a repeated key stays repeated, as in the body."""
    view = decode(ReceivedMessage("id-1", "handle", body, {}))
    line = view.line()
    assert f'"json": {body}, ' in line
    strict = json.loads(line, parse_constant=lambda constant: pytest.fail(constant))
    assert strict["json"] == json.loads(body)


def test_the_body_text_is_written_only_where_the_record_holds_the_views_parsed_body() -> None:
    view = decode(ReceivedMessage("id-1", "handle", '{"a":1}', {}))
    record = view.to_json()
    record["json"] = {"a": 1}  # equal, but not the view's: encoded
    record["body"] = "changed"
    assert view.line(record) == plain(record)
    other = decode(ReceivedMessage("id-2", "handle", '{"b":2}', {}))
    assert view.line(other.to_json()) == plain(other.to_json())


def test_a_placeholder_in_a_views_record_is_encoded_the_plain_way() -> None:
    view = decode(ReceivedMessage("\0dlqctl: the parsed body\0", "handle", '{"a":1}', {}))
    record = view.to_json()
    assert view.line(record) == plain(record)


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
