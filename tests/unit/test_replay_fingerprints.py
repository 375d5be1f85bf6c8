"""A replay is recognised when it comes back, whatever envelope it comes back in.

The originals are AWS's own DLQ shapes (``tests/fixtures/shapes/``, each citing its source); a
return is the same content failing again: the same record with a new request ID and time.
"""

from __future__ import annotations

import json
from dataclasses import replace

from dlqctl.destinations import FunctionDestination
from dlqctl.envelopes import decode
from dlqctl.replays import sent_fingerprint, view_fingerprints
from tests.shapes import received


def failing_again(name: str) -> object:
    """The fixture's record as the function's next failure writes it: new request ID, time."""
    original = received(name)
    body = json.loads(original.body)
    body["timestamp"] = "2030-01-01T00:00:00.000Z"
    body["requestContext"]["requestId"] = "00000000-0000-0000-0000-000000000001"
    body["responsePayload"] = {"errorMessage": "failed again", "errorType": "Exception"}
    return decode(replace(original, message_id="again", body=json.dumps(body)))


def test_a_reinvoked_failure_record_is_recognised_when_it_fails_again():
    original = decode(received("lambda_destination_retries_exhausted"))
    function = original.origin["function_arn"]
    sent = sent_fingerprint(FunctionDestination(None, function).plan(original, original.payload))
    assert sent in view_fingerprints(failing_again("lambda_destination_retries_exhausted"))


def test_a_reinvocation_that_lands_in_a_lambda_dlq_is_recognised_too():
    original = decode(received("lambda_destination_retries_exhausted"))
    function = original.origin["function_arn"]
    sent = sent_fingerprint(FunctionDestination(None, function).plan(original, original.payload))
    # A Lambda DLQ message's body is the payload the function was invoked with.
    dlq_copy = decode(replace(received("lambda_dlq"), body=json.dumps(original.payload)))
    assert sent in view_fingerprints(dlq_copy)


def test_other_content_is_not_a_return():
    original = decode(received("lambda_destination_retries_exhausted"))
    function = original.origin["function_arn"]
    sent = sent_fingerprint(FunctionDestination(None, function).plan(original, original.payload))
    assert sent not in view_fingerprints(decode(received("lambda_dlq")))
