"""Stack states no local endpoint reaches on demand (botocore Stubber).

moto deletes whatever it created and finishes every change at once, so the CloudFormation
answers are pinned at the AWS boundary, with the requests AWS would receive: a deletion that
CloudFormation gives up on is a failure naming what is left, never "deleted"; a deploy onto a
stack in the middle of a change, or rolled back at its creation, is refused before anything is
uploaded (the stub answers CloudFormation alone: any other call would fail the test).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber

from dlqctl import stack
from dlqctl.aws import Aws, Connection
from dlqctl.errors import BusyError, ExitCode, StackFailed

NAME = "dlqctl-orders"


def described(status: str, reason: str | None = None) -> dict[str, object]:
    details: dict[str, object] = {
        "StackName": NAME,
        "StackStatus": status,
        "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
    }
    if reason:
        details["StackStatusReason"] = reason
    return {"Stacks": [details]}


@pytest.fixture
def cloudformation(monkeypatch):
    monkeypatch.setattr(stack.time, "sleep", lambda seconds: None)
    aws = Aws(
        Connection(
            region="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            static_credentials=("a", "b"),
        )
    )
    with Stubber(aws.client("cloudformation")) as stubber:
        yield aws, stubber
        stubber.assert_no_pending_responses()


ASKED = {"StackName": NAME}


def deletion_asked(stubber: Stubber) -> None:
    """The stack is there, and its deletion is asked for."""
    stubber.add_response("describe_stacks", described("CREATE_COMPLETE"), ASKED)
    stubber.add_response("delete_stack", {}, ASKED)


def test_a_deletion_that_fails_is_a_stack_failure_naming_what_is_left(cloudformation):
    aws, stubber = cloudformation
    asked = ASKED
    deletion_asked(stubber)
    stubber.add_response("describe_stacks", described("DELETE_IN_PROGRESS"), asked)
    stubber.add_response(
        "describe_stacks",
        described("DELETE_FAILED", "The following resource(s) failed to delete: [Dlq]."),
        asked,
    )
    stubber.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                {
                    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/x/1",
                    "EventId": "e2",
                    "StackName": NAME,
                    "LogicalResourceId": NAME,
                    "ResourceStatus": "DELETE_FAILED",
                    "ResourceStatusReason": "The following resource(s) failed to delete: [Dlq].",
                    "Timestamp": datetime(2026, 11, 30, tzinfo=UTC),
                },
                {
                    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/x/1",
                    "EventId": "e1",
                    "StackName": NAME,
                    "LogicalResourceId": "Dlq",
                    "ResourceStatus": "DELETE_FAILED",
                    "ResourceStatusReason": "Access denied for sqs:DeleteQueue",
                    "Timestamp": datetime(2026, 11, 30, tzinfo=UTC),
                },
            ]
        },
        asked,
    )
    with pytest.raises(StackFailed) as failed:
        stack.destroy(aws, NAME)
    assert failed.value.exit_code == ExitCode.STACK_FAILED
    assert "DELETE_FAILED" in str(failed.value)
    assert "Dlq: Access denied for sqs:DeleteQueue" in str(failed.value)


def test_a_deletion_that_completes_says_so(cloudformation):
    aws, stubber = cloudformation
    deletion_asked(stubber)
    stubber.add_response("describe_stacks", described("DELETE_COMPLETE"), ASKED)
    assert stack.destroy(aws, NAME) == "DELETE_COMPLETE"


@pytest.mark.parametrize(
    ("status", "refusal", "code"),
    [
        ("UPDATE_IN_PROGRESS", BusyError, ExitCode.BUSY),
        ("ROLLBACK_COMPLETE", StackFailed, ExitCode.STACK_FAILED),
    ],
)
def test_a_deploy_onto_a_stack_it_cannot_change_is_refused_first(
    cloudformation, status, refusal, code
):
    aws, stubber = cloudformation
    stubber.add_response("describe_stacks", described(status), ASKED)
    with pytest.raises(refusal) as refused:
        stack.deploy(aws, NAME, stack.StackSettings())
    assert refused.value.exit_code == code
    assert NAME in str(refused.value)
