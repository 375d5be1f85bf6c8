"""What a replay sends is what the producer wrote. A Lambda DLQ message's body is the event
the function was invoked with, unchanged (the AWS-DLQ reference's Lambda DLQ row, from the
Lambda developer guide's asynchronous invocation pages): invoking the function again sends
those bytes, not a copy rewritten by Python's JSON (which rounds a number of more than 17
significant digits and writes ``1e2`` as ``100.0``). A bus replay writes non-ASCII text as
UTF-8, the size AWS counts, not as ``\\u`` escapes of six bytes each."""

from __future__ import annotations

from typing import cast

from dlqctl import emulate
from dlqctl.aws import Aws
from dlqctl.destinations import BusDestination, FunctionDestination, Invocation, Planned
from dlqctl.envelopes import decode, parse_json
from dlqctl.models import EventEntry, ReceivedMessage

BODY = '{"orderId": "o-1", "amount": 0.1000000000000000055511, "units": 1e2, "note": "caf\u00e9"}'


def received(body: str) -> ReceivedMessage:
    message = emulate.lambda_dlq({}, "boom")
    return ReceivedMessage("m-1", "h", body, {}, message.message_attributes)


def test_invoking_again_sends_the_body_the_function_got_byte_for_byte():
    view = decode(received(BODY))
    planned = FunctionDestination(cast(Aws, None), "arn:aws:lambda:us-east-1:1:function:f").plan(
        view, view.payload
    )
    assert isinstance(planned, Planned)
    assert cast(Invocation, planned.payload).payload == BODY.encode()


def test_a_bus_replay_writes_text_as_utf8():
    event = emulate.event({"note": "caf\u00e9 \u00fcber \u65e5\u672c"})
    view = decode(received(__import__("json").dumps(event)))
    planned = BusDestination(cast(Aws, None), "shop").plan(view)
    assert isinstance(planned, Planned)
    detail = cast(EventEntry, planned.payload).detail
    assert "caf\u00e9 \u00fcber \u65e5\u672c" in detail
    assert "\\u" not in detail


def test_nan_and_infinity_are_text_not_json():
    assert parse_json("NaN") is None
    assert parse_json('{"amount": Infinity}') is None
    assert parse_json('{"amount": 1.5}') == {"amount": 1.5}


def test_text_that_cannot_be_utf8_is_sent_escaped_not_refused():
    """A lone surrogate (a producer that cut an emoji in two, ``"\\ud83d"`` in its JSON) has no
    UTF-8 form: the detail keeps the escape, and the replay is planned like any other."""
    event = emulate.event({"note": "x\ud83d"})
    view = decode(received(__import__("json").dumps(event)))
    planned = BusDestination(cast(Aws, None), "shop").plan(view)
    assert isinstance(planned, Planned)
    assert "\\ud83d" in cast(EventEntry, planned.payload).detail
