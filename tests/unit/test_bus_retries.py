"""PutEvents entry failures: retryable codes are retried, others never (botocore Stubber).

The local endpoint cannot make one entry of a request fail with ThrottlingException, so this
is pinned at the AWS boundary with the exact requests AWS would receive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber

from dlqctl import destinations, redrive
from dlqctl.aws import Aws, Connection
from dlqctl.envelopes import decode
from dlqctl.models import EntryOutcome, MessageAttribute, ReceivedMessage


def lambda_failure(index: int) -> ReceivedMessage:
    body = json.dumps(
        {
            "version": "0",
            "id": f"e{index}",
            "source": "shop.orders",
            "detail-type": "OrderPlaced",
            "time": "2026-11-27T03:00:00Z",
            "resources": [],
            "detail": {"n": index},
        }
    )
    return ReceivedMessage(
        message_id=f"m{index}",
        receipt_handle=f"h{index}",
        body=body,
        attributes={"SentTimestamp": "1795700000000"},
        message_attributes={
            "RequestID": MessageAttribute("String", "r"),
            "ErrorCode": MessageAttribute("Number", "200"),
            "ErrorMessage": MessageAttribute("String", "boom"),
        },
    )


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr(destinations, "_backoff", lambda attempt: None)
    aws = Aws(Connection(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    # The stub answers the client, so the batch goes through it rather than the direct caller
    # (whose requests are the same mapping, checked on the wire by tests/unit/test_wire.py).
    aws.wire("events", sends=True).direct = False
    with Stubber(aws.client("events", sends=True)) as stubber:
        yield aws, stubber
        stubber.assert_no_pending_responses()


def entry(n):
    return {
        "EventBusName": "shop",
        "Source": "shop.orders",
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"n": n}, separators=(",", ":")),
        "Time": datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
    }


def test_throttled_entries_are_retried_alone_and_others_are_not(stubbed):
    aws, stubber = stubbed
    destination = destinations.BusDestination(aws, "shop")
    planned = [destination.plan(decode(lambda_failure(n))) for n in range(3)]
    stubber.add_response(
        "put_events",
        {
            "FailedEntryCount": 2,
            "Entries": [
                {"EventId": "ev0"},
                {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"},
                {"ErrorCode": "AccessDeniedException", "ErrorMessage": "no"},
            ],
        },
        {"Entries": [entry(0), entry(1), entry(2)]},
    )
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "ev1"}]},
        {"Entries": [entry(1)]},
    )
    results = destination.deliver(planned)
    assert results["m0"] == EntryOutcome(True, "ev0")
    assert results["m1"] == EntryOutcome(True, "ev1")
    assert results["m2"] == EntryOutcome(False, "AccessDeniedException: no")


def test_retryable_failures_give_up_after_the_last_attempt(stubbed):
    aws, stubber = stubbed
    destination = destinations.BusDestination(aws, "shop")
    planned = [destination.plan(decode(lambda_failure(0)))]
    for _ in range(destinations.MAX_ENTRY_ATTEMPTS):
        stubber.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}],
            },
            {"Entries": ANY},
        )
    results = destination.deliver(planned)
    assert results["m0"] == EntryOutcome(False, "InternalFailure: x", retryable=True)


def test_requests_respect_the_size_limit():
    aws = Aws(Connection(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    destination = destinations.BusDestination(aws, "shop", max_event_bytes=4096)
    planned = [destination.plan(decode(lambda_failure(n))) for n in range(30)]
    batches = list(destinations._size_batches(planned, 10, 300))
    assert all(sum(item.size for item in batch) <= 300 for batch in batches)
    assert sum(len(batch) for batch in batches) == 30
    assert all(len(batch) <= 10 for batch in batches)


def test_an_entry_too_large_fails_alone():
    aws = Aws(Connection(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    destination = destinations.BusDestination(aws, "shop", max_event_bytes=1024)
    big = lambda_failure(1)
    big = ReceivedMessage(
        big.message_id,
        big.receipt_handle,
        big.body.replace('{"n": 1}', json.dumps({"n": "x" * 2000})),
        big.attributes,
        big.message_attributes,
    )
    plan = destination.plan(decode(big))
    assert isinstance(plan, destinations.Rejected)
    assert not plan.skipped
    assert plan.reason.startswith("EntryTooLarge")


def test_pacer_spaces_batches_at_the_rate(monkeypatch):
    """--rate: the pacer schedules each batch count/rate seconds after the previous one."""
    now = [100.0]
    slept = []
    monkeypatch.setattr(redrive.time, "sleep", lambda seconds: slept.append(round(seconds, 6)))
    pacer = redrive.Pacer(50.0, clock=lambda: now[0])
    for _ in range(4):
        pacer.wait(10)
    assert slept == [0.2, 0.4, 0.6]  # the first batch goes at once, then one per 0.2 s
    unlimited = redrive.Pacer(None, clock=lambda: now[0])
    unlimited.wait(10)
    assert len(slept) == 3
