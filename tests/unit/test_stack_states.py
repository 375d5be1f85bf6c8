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
from botocore.stub import ANY, Stubber

from dlqctl import stack
from dlqctl.aws import Aws, Connection
from dlqctl.errors import BusyError, DlqctlError, ExitCode, StackFailed

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
        ("UPDATE_ROLLBACK_FAILED", StackFailed, ExitCode.STACK_FAILED),
        ("ROLLBACK_FAILED", StackFailed, ExitCode.STACK_FAILED),
        ("DELETE_FAILED", StackFailed, ExitCode.STACK_FAILED),
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


def test_a_first_deploy_whose_change_set_failed_does_not_block_the_next(cloudformation):
    """A CREATE change set makes the stack, in REVIEW_IN_PROGRESS, before it is executed; when
    it fails the stack stays so, with nothing in it (CloudFormation user guide, stack status
    codes: REVIEW_IN_PROGRESS is the "ongoing creation of one or more stacks with an expected
    StackId but without any templates or resources"). That is no busy stack to wait for: the
    next deploy creates it with a CREATE change set. (moto keeps such a stack as it is.)"""
    aws, stubber = cloudformation
    stubber.add_response("describe_stacks", described("REVIEW_IN_PROGRESS"), ASKED)
    stubber.add_client_error(
        "create_change_set", "ValidationError", "stop here", 400,
        expected_params={
            "StackName": NAME, "ChangeSetName": ANY, "ChangeSetType": "CREATE",
            "TemplateBody": ANY, "Parameters": ANY, "Capabilities": ["CAPABILITY_IAM"],
        },
    )  # fmt: skip
    with Stubber(aws.client("s3")) as s3:
        s3.add_response("head_bucket", {}, {"Bucket": "artifacts"})
        for _ in range(2):
            s3.add_response("put_object", {}, {"Bucket": "artifacts", "Key": ANY, "Body": ANY})
        with pytest.raises(DlqctlError, match="stop here") as stopped:
            stack.deploy(aws, NAME, stack.StackSettings(), bucket="artifacts")
    assert not isinstance(stopped.value, BusyError)
