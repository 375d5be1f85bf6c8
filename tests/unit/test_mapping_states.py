"""An event source mapping between states, which no local endpoint reaches on demand (botocore
Stubber, with the requests AWS would receive).

Lambda refuses an update of a mapping that is still ``Enabling`` (or ``Updating``) with
ResourceInUseException ("The operation cannot be performed at this time. The resource ... is
currently in use", UpdateEventSourceMapping's documented errors). A server-side drain of a
queue that is empty at once disables the mapping seconds after enabling it: the disable is
asked again until Lambda takes it, and when it never does, the error says the redriver may
still be replaying and how to turn it off.
"""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from dlqctl import aws as aws_module
from dlqctl import drain
from dlqctl.aws import Aws, Connection
from dlqctl.errors import DlqctlError
from dlqctl.models import SourceMapping

UUID = "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"
IN_USE = "The operation cannot be performed at this time. The resource is currently in use."


@pytest.fixture
def lambda_(monkeypatch):
    monkeypatch.setattr(aws_module.time, "sleep", lambda seconds: None)
    aws = Aws(
        Connection(
            region="us-east-1", endpoint_url="http://127.0.0.1:9", static_credentials=("a", "b")
        )
    )
    with Stubber(aws.client("lambda")) as stubber:
        yield aws, stubber
        stubber.assert_no_pending_responses()


def asked(enabled: bool) -> dict[str, object]:
    return {"UUID": UUID, "Enabled": enabled}


def test_a_mapping_still_enabling_is_disabled_once_lambda_takes_it(lambda_):
    aws, stubber = lambda_
    for _ in range(2):
        stubber.add_client_error(
            "update_event_source_mapping", "ResourceInUseException", IN_USE, 400, asked(False)
        )
    stubber.add_response("update_event_source_mapping", {"State": "Disabling"}, asked(False))
    assert aws.lambda_.set_mapping_enabled(UUID, False) == "Disabling"


def test_a_mapping_that_cannot_be_disabled_is_said_to_be_still_replaying(lambda_, monkeypatch):
    aws, stubber = lambda_
    clock = iter(range(0, 1000, 25))  # each look at the clock: 25 s later
    monkeypatch.setattr(aws_module.time, "monotonic", lambda: float(next(clock)))
    for _ in range(3):  # at 0 s, 25 s and 50 s: then busy_seconds (60) have passed
        stubber.add_client_error(
            "update_event_source_mapping", "ResourceInUseException", IN_USE, 400, asked(False)
        )
    mapping = SourceMapping(UUID, "arn:aws:lambda:us-east-1:123456789012:function:r", "", {})
    with pytest.raises(DlqctlError) as raised:
        drain.disable(aws, "orders-dlq", mapping)
    assert raised.value.message.startswith(
        f"the redriver may still be replaying orders-dlq: disabling its event source mapping "
        f"{UUID} failed ("
    )
    assert raised.value.hint == (
        f"disable it: aws lambda update-event-source-mapping --uuid {UUID} --no-enabled"
    )
