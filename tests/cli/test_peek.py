"""peek: shows messages of every shape and leaves every one of them visible."""

from __future__ import annotations

import json

import pytest

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from tests.helpers import counts, create_queue, put

RULE = "arn:aws:events:us-east-1:123456789012:rule/orders/process"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:process-order"


def seed_shapes(endpoint: str):
    queue = create_queue(endpoint, "orders-dlq")
    order = emulate.event({"orderId": "o-1", "amount": 12})
    messages = [
        emulate.lambda_dlq(order, "ValueError: amount must be positive"),
        emulate.eventbridge_dlq(
            emulate.event({"orderId": "o-2"}),
            rule_arn=RULE,
            target_arn=FUNCTION,
            error_code="NO_PERMISSIONS",
            error_message="Not authorized to invoke the target",
            retry_attempts=0,
        ),
        emulate.lambda_destination(
            emulate.event({"orderId": "o-3"}),
            function_arn=FUNCTION + ":$LATEST",
            error_type="TimeoutError",
            error_message="Task timed out after 3.00 seconds",
        ),
        emulate.sns_notification(
            json.dumps(emulate.event({"orderId": "o-4"}, source="shop.payments")),
            topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
            subscription_arn="arn:aws:sns:us-east-1:123456789012:orders:1234",
        ),
        emulate.OutgoingMessage(entry_id="m", body="not json at all"),
    ]
    ids = put(endpoint, queue, messages)
    return queue, ids


def test_peek_decodes_every_shape_and_releases_everything(cli, fresh_endpoint):
    queue, ids = seed_shapes(fresh_endpoint)
    result = cli("peek", "orders-dlq", "--all", "-o", "json")
    assert result.exit_code == 0, result.stderr
    views = {view["message_id"]: view for view in result.json()}
    assert set(views) == set(ids)
    kinds = [views[message_id]["kind"] for message_id in ids]
    assert kinds == ["lambda-dlq", "eventbridge-dlq", "lambda-destination", "sns", "unknown"]

    lambda_view = views[ids[0]]
    assert lambda_view["error"] == {"code": "200", "message": "ValueError: amount must be positive"}
    assert lambda_view["event"]["detail"] == {"orderId": "o-1", "amount": 12}
    assert lambda_view["message_attributes"]["ErrorCode"] == "200"
    assert lambda_view["origin"]["request_id"]

    rule_view = views[ids[1]]
    assert rule_view["error"]["code"] == "NO_PERMISSIONS"
    assert rule_view["origin"]["rule_arn"] == RULE
    assert rule_view["origin"]["target_arn"] == FUNCTION

    destination = views[ids[2]]
    assert destination["error"] == {
        "code": "TimeoutError",
        "message": "Task timed out after 3.00 seconds",
    }
    assert destination["event"]["detail"] == {"orderId": "o-3"}
    assert destination["origin"]["function_arn"].endswith(":$LATEST")

    sns = views[ids[3]]
    assert sns["event"]["source"] == "shop.payments"
    assert sns["origin"]["topic_arn"].endswith(":orders")

    raw = views[ids[4]]
    assert raw["json"] is None and raw["event"] is None and raw["body"] == "not json at all"
    for view in views.values():
        assert view["receive_count"] >= 1
        assert view["sent_at"].endswith("Z")
        assert view["age_seconds"] >= 0

    assert counts(fresh_endpoint, queue) == (5, 0)


def test_peek_twice_sees_the_same_messages(cli, fresh_endpoint):
    seed_shapes(fresh_endpoint)
    first = {view["message_id"] for view in cli("peek", "orders-dlq", "-o", "json").json()}
    second = {view["message_id"] for view in cli("peek", "orders-dlq", "-o", "json").json()}
    assert first == second and len(first) == 5


def test_peek_limit_and_jsonl(cli, fresh_endpoint):
    queue = create_queue(fresh_endpoint, "big-dlq")
    put(fresh_endpoint, queue, [emulate.OutgoingMessage("m", f'{{"n": {n}}}') for n in range(35)])
    result = cli("peek", "big-dlq", "--limit", "12", "-o", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert len(result.jsonl()) == 12
    assert counts(fresh_endpoint, queue) == (35, 0)
    everything = cli("peek", "big-dlq", "--all", "-o", "jsonl").jsonl()
    assert sorted(view["json"]["n"] for view in everything) == list(range(35))
    assert counts(fresh_endpoint, queue) == (35, 0)


def test_peek_accepts_url_and_arn(cli, fresh_endpoint):
    queue, ids = seed_shapes(fresh_endpoint)
    for ref in (queue.url, queue.arn):
        result = cli("peek", ref, "--all", "-o", "json")
        assert result.exit_code == 0, result.stderr
        assert {view["message_id"] for view in result.json()} == set(ids)


def test_peek_table_fits_a_terminal(cli, fresh_endpoint):
    seed_shapes(fresh_endpoint)
    result = cli("peek", "orders-dlq", "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert "5 message(s)" in result.stdout
    assert "shop.orders / OrderPlaced" in result.stdout
    assert "NO_PERMISSIONS" in result.stdout
    assert "made visible again" in result.stderr


@pytest.mark.parametrize("columns", [80, 60])
def test_a_narrow_peek_table_still_shows_each_error(cli, fresh_endpoint, columns):
    seed_shapes(fresh_endpoint)
    result = cli("peek", "orders-dlq", "-o", "table", columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    text = " ".join(word for line in lines for word in line.strip("│ ").split())
    assert "ValueError: amount must be positive" in text
    assert "NO_PERMISSIONS: Not authorized to invoke the target" in text
    assert ("lambda-dlq" in text) == (columns >= 70)  # the kind, where there is room


def test_peek_marks_sqs_redrive_from_the_queue_sources(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "work-dlq")
    source = create_queue(
        fresh_endpoint,
        "work",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"}),
    )
    sqs = boto("sqs")
    sqs.send_message(QueueUrl=source.url, MessageBody='{"job": 1}')
    for _ in range(3):
        for message in sqs.receive_message(QueueUrl=source.url, VisibilityTimeout=0).get(
            "Messages", []
        ):
            assert message["Body"] == '{"job": 1}'
    result = cli("peek", "work-dlq", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [view] = result.json()
    assert view["kind"] == "sqs"
    assert view["origin"] == {"source_queue_arn": source.arn}


@pytest.mark.parametrize(
    "command", [("peek", "--all"), ("summary",), ("export", "-")], ids=["peek", "summary", "export"]
)
def test_a_look_at_a_chained_dlq_moves_nothing_on(cli, boto, fresh_endpoint, command):
    """A DLQ with its own RedrivePolicy (maxReceiveCount 1): every receive after the first
    moves a message on. Without --yes, a look is refused before any receive."""
    final = create_queue(fresh_endpoint, "final-dlq")
    middle = create_queue(
        fresh_endpoint,
        "middle-dlq",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": final.arn, "maxReceiveCount": 1}),
    )
    put(fresh_endpoint, middle, [OutgoingMessage("m", f"job {n}") for n in range(5)])
    for _ in range(3):
        result = cli(command[0], "middle-dlq", *command[1:], "-o", "json")
        assert result.exit_code == ExitCode.USAGE
        assert "not read-only" in result.stderr and "final-dlq" in result.stderr
        assert "--yes" in result.stderr
    assert counts(fresh_endpoint, middle) == (5, 0)
    assert counts(fresh_endpoint, final) == (0, 0)
    looked = cli(command[0], "middle-dlq", *command[1:], "--yes", "-o", "json")
    assert looked.exit_code == 0, looked.stderr
    assert "RedrivePolicy" in looked.stderr


def test_json_to_a_file_with_a_progress_bar_on_the_terminal_goes_to_the_file(
    fresh_endpoint, tmp_path
):
    """The progress bar draws on stderr (a terminal here); stdout, a file, gets the JSON."""
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import REGION
    from tests.helpers import create_queue, put

    queue = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"order {n}") for n in range(30)])
    out = tmp_path / "peek.json"
    leader, follower = pty.openpty()
    try:
        with open(out, "w") as stdout:
            done = subprocess.run(
                [sys.executable, "-m", "dlqctl", "peek", "orders-dlq", "--all", "-o", "json"],
                env={**os.environ, "AWS_ENDPOINT_URL": fresh_endpoint, "AWS_REGION": REGION,
                     "COLUMNS": "120"},
                stdout=stdout, stderr=follower, timeout=120, check=False,
            )  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    assert len(json.loads(out.read_text())) == 30


@pytest.mark.parametrize(
    "command",
    [["peek", "orders-dlq"], ["summary", "orders-dlq"], ["export", "orders-dlq", "-"],
     ["delete", "orders-dlq", "--error-contains", "no such error", "--yes"]],
    ids=["peek", "summary", "export", "delete"],
)  # fmt: skip
def test_a_look_that_leaves_messages_hidden_says_so_and_exits_5(
    cli_via, faults, fresh_endpoint, command
):
    """Credentials without sqs:ChangeMessageVisibility (or the calls failing): the messages the
    walk held stay hidden until their hold ends, and the run must not look complete."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(
        fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": n}), "boom") for n in range(4)]
    )
    faults.fail("sqs", "ChangeMessageVisibilityBatch", "AccessDenied", status=403)
    result = cli_via(*command, "--hold", "60", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert "4 held message(s) could not be made visible again" in result.stderr
    if command[0] == "summary":
        assert result.json()["coverage"]["unreleased"] == 4
    assert counts(fresh_endpoint, dlq) == (0, 4), "still hidden: nothing was deleted"


def test_a_look_at_the_first_few_holds_them_for_as_long_as_a_few_need(
    cli_via, faults, fresh_endpoint
):
    """Without --hold the hold is sized to what the walk will hold: a look at the first 5 of a
    deep queue (2,000,000 messages would give 11 hours) hides what a crash leaves behind for a
    minute, not for as long as a walk of the whole queue would need."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage(f"m{n}", f"body {n}") for n in range(500)])
    assert cli_via("peek", "orders-dlq", "-n", "5", "-o", "json").exit_code == 0
    holds = {
        json.loads(body).get("VisibilityTimeout")
        for service, operation, body in faults.bodies
        if operation == "ReceiveMessage"
    }
    assert holds == {60}
    assert cli_via("summary", "orders-dlq", "-o", "json").exit_code == 0
    whole = json.loads([b for _, o, b in faults.bodies if o == "ReceiveMessage"][-1])
    assert whole["VisibilityTimeout"] == 70, "a walk of the whole queue: sized to it"


def test_a_redrive_of_a_chained_dlq_reads_nothing_before_it_is_confirmed(cli, fresh_endpoint):
    """The checks before the confirmation read a sample; on a DLQ with its own RedrivePolicy
    (maxReceiveCount 1, every message already received once) each receive would move a
    message on, and a "no" at the prompt must leave everything where it was."""
    final = create_queue(fresh_endpoint, "final-dlq")
    middle = create_queue(
        fresh_endpoint,
        "middle-dlq",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": final.arn, "maxReceiveCount": 1}),
    )
    create_queue(  # its failures go to middle-dlq: a possible loop, found without a sample
        fresh_endpoint,
        "jobs",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": middle.arn, "maxReceiveCount": 3}),
    )
    put(fresh_endpoint, middle, [OutgoingMessage("m", f"job {n}") for n in range(5)])
    for _ in range(2):
        refused = cli("redrive", "middle-dlq", "--to-queue", "jobs")  # no terminal, no --yes
        assert refused.exit_code == ExitCode.USAGE
    assert counts(fresh_endpoint, final) == (0, 0), "nothing moved on"
    assert counts(fresh_endpoint, middle) == (5, 0)
    assert "no sample was read" in refused.stderr
    assert "possible loop: jobs sends the messages it fails on to middle-dlq" in refused.stderr


def test_a_walk_whose_holds_could_not_be_extended_is_not_complete(cli_via, faults, fresh_endpoint):
    """Holds SQS would not extend (refused here; past 12 hours from a receive on AWS) run out:
    those messages are received again, and a walk that sees only them stops before the end.
    It must not call itself complete."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage(f"m{n}", f"job {n}") for n in range(300)])

    def renewals_refused(request, answer):  # the release (visibility 0) still goes through
        if any(entry.get("VisibilityTimeout", 0) > 0 for entry in request.get("Entries", [])):
            answer["Failed"] = [
                {"Id": item["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True,
                 "Message": "refused"}
                for item in answer.pop("Successful", [])
            ]  # fmt: skip

    faults.rewrite_answers("sqs", "ChangeMessageVisibilityBatch", renewals_refused)
    faults.delay("sqs", "ReceiveMessage", 0.7)
    result = cli_via("summary", "orders-dlq", "--hold", "1", "-o", "json")
    coverage = result.json()["coverage"]
    if coverage["seen"] == 300:
        pytest.skip("every message was seen before a hold ran out (a fast machine)")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert (coverage["complete"], coverage["unreleased"]) == (False, 0)
    assert "could not be extended" in coverage["reason"]
