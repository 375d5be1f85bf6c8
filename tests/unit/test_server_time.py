"""When a queue's counts were read: the answer's ``Date`` (SQS's clock), never earlier than this
machine's clock, so a ``Date`` that is behind (a clock gone wrong on the way) cannot make
messages that were already there look as if they arrived during a walk."""

from __future__ import annotations

import time

from dlqctl.aws import _queue_attributes, server_ms

DATE = "Tue, 01 Dec 2026 22:53:28 GMT"
DATE_MS = 1796165608000


def answer(date: str | None) -> dict:
    headers = {} if date is None else {"date": date}
    return {"Attributes": {}, "ResponseMetadata": {"HTTPHeaders": headers}}


def test_the_date_is_read_in_each_form_http_allows() -> None:
    assert server_ms(answer(DATE)) == DATE_MS
    assert server_ms(answer("Tuesday, 01-Dec-26 22:53:28 GMT")) == DATE_MS
    assert server_ms(answer("Tue Dec  1 22:53:28 2026")) == DATE_MS
    assert server_ms(answer("not a date")) is None
    assert server_ms(answer(None)) is None
    assert server_ms({}) is None


def test_of_dates_added_on_the_way_the_latest_counts() -> None:
    # botocore joins a repeated header with ", " (a proxy that added its own Date first).
    joined = f"Tue, 01 Dec 2026 22:43:28 GMT, {DATE}"
    assert server_ms(answer(joined)) == DATE_MS


def test_the_read_time_is_the_end_of_the_dates_second_or_the_local_clock() -> None:
    now = time.time()
    ahead = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 3600))
    behind = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now - 3600))
    read_ahead = _queue_attributes(answer(ahead)).read_at_ms
    read_behind = _queue_attributes(answer(behind)).read_at_ms
    assert read_ahead is not None and read_behind is not None
    assert read_ahead == (int(now) + 3600) * 1000 + 999
    assert abs(read_behind - now * 1000) < 5000  # the local clock, not an hour ago
    assert _queue_attributes(answer(None)).read_at_ms is None
