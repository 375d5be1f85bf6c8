"""Replay only where it failed (--to-target), the fan-out preview of a bus replay, and the checks
made before anything is sent.

The rule-DLQ messages are ``emulate.eventbridge_dlq`` (the event as the body, RULE_ARN,
TARGET_ARN and ERROR_* attributes, as ``tests/fixtures/shapes/eventbridge_rule_dlq.json``
transcribes AWS's); the input forms are checked against AWS's recorded deliveries in
``tests/unit/test_target_input.py``. Lambda is not run by the local endpoint (no Docker): its
invocations are read off the wire by the fault proxy, the request dlqctl sent.
"""

from __future__ import annotations

import json

import pytest

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage, QueueRef
from tests.helpers import counts, create_function, create_queue, put, receive_all

PATTERN = json.dumps({"source": ["shop.orders"]})
TRANSFORMER = {
    "InputPathsMap": {"order": "$.detail.orderId", "amount": "$.detail.amount"},
    "InputTemplate": '{"order": <order>, "cents": <amount>, "note": "replay of <order>"}',
}


def two_rules(boto, processor: QueueRef, audit: QueueRef) -> str:
    """Bus ``shop`` with two rules matching the same orders: ``orders`` feeds the processor
    through an InputTransformer, ``audit`` copies every order to an audit queue. Returns the
    ``orders`` rule's ARN."""
    events = boto("events")
    events.create_event_bus(Name="shop")
    rule = events.put_rule(Name="orders", EventBusName="shop", EventPattern=PATTERN)["RuleArn"]
    events.put_targets(
        Rule="orders",
        EventBusName="shop",
        Targets=[{"Id": "processor", "Arn": processor.arn, "InputTransformer": TRANSFORMER}],
    )
    events.put_rule(Name="audit", EventBusName="shop", EventPattern=PATTERN)
    events.put_targets(
        Rule="audit", EventBusName="shop", Targets=[{"Id": "audit", "Arn": audit.arn}]
    )
    return rule


def failed_delivery(rule_arn: str, target_arn: str, order: str = "o-1") -> OutgoingMessage:
    return emulate.eventbridge_dlq(
        emulate.event({"orderId": order, "amount": 1250}),
        rule_arn=rule_arn,
        target_arn=target_arn,
        error_code="SQS_PERMISSION_DENIED",
        error_message="Unable to send to queue",
        retry_attempts=0,
    )


def test_to_target_sends_the_transformed_input_to_the_failed_target_only(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    processor = create_queue(fresh_endpoint, "processor")
    audit = create_queue(fresh_endpoint, "audit")
    rule = two_rules(boto, processor, audit)
    put(fresh_endpoint, dlq, [failed_delivery(rule, processor.arn, f"o-{n}") for n in (1, 2)])

    preview = cli("redrive", "orders-dlq", "--to-target", "--dry-run", "-o", "json")
    assert preview.exit_code == 0, preview.stderr
    assert [entry["entry"]["Target"] for entry in preview.json()["entries"]] == [processor.arn] * 2

    result = cli("redrive", "orders-dlq", "--to-target", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 2
    assert result.json()["destination"] == "each message's failed target"
    bodies = sorted(message["Body"] for message in receive_all(boto, processor))
    assert [json.loads(body) for body in bodies] == [
        {"order": "o-1", "cents": 1250, "note": "replay of o-1"},
        {"order": "o-2", "cents": 1250, "note": "replay of o-2"},
    ]
    assert receive_all(boto, audit) == []  # the rule that succeeded gets no duplicate
    assert counts(fresh_endpoint, dlq) == (0, 0)


def test_a_deleted_target_or_rule_leaves_the_message_with_its_reason(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    processor = create_queue(fresh_endpoint, "processor")
    audit = create_queue(fresh_endpoint, "audit")
    rule = two_rules(boto, processor, audit)
    gone_rule = rule.replace("/orders", "/retired")
    put(
        fresh_endpoint,
        dlq,
        [failed_delivery(rule, processor.arn), failed_delivery(gone_rule, processor.arn)],
    )
    boto("events").remove_targets(Rule="orders", EventBusName="shop", Ids=["processor"])
    result = cli("redrive", "orders-dlq", "--to-target", "--force", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    reasons = sorted(failure["reason"] for failure in result.json()["failures"])
    assert "is no longer a target of rule" in reasons[0]
    assert "no longer exists" in reasons[1]
    assert counts(fresh_endpoint, dlq) == (2, 0)
    assert receive_all(boto, processor) == [] and receive_all(boto, audit) == []


def test_to_target_invokes_a_failed_lambda_target_with_its_input(
    cli_via, faults, boto, fresh_endpoint
):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    function = create_function(boto)["FunctionArn"]
    events = boto("events")
    events.create_event_bus(Name="shop")
    rule = events.put_rule(Name="orders", EventBusName="shop", EventPattern=PATTERN)["RuleArn"]
    events.put_targets(
        Rule="orders",
        EventBusName="shop",
        Targets=[{"Id": "fn", "Arn": function, "InputPath": "$.detail"}],
    )
    put(fresh_endpoint, dlq, [failed_delivery(rule, function)])
    result = cli_via("redrive", "orders-dlq", "--to-target", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    invocations = [
        json.loads(body)
        for service, operation, body in faults.bodies
        if service == "lambda" and operation.endswith("/invocations")
    ]
    assert invocations == [{"orderId": "o-1", "amount": 1250}]


def test_a_function_throttled_to_zero_is_caught_before_sending(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    function = create_function(boto)["FunctionArn"]
    boto("lambda").put_function_concurrency(FunctionName="process", ReservedConcurrentExecutions=0)
    events = boto("events")
    events.create_event_bus(Name="shop")
    rule = events.put_rule(Name="orders", EventBusName="shop", EventPattern=PATTERN)["RuleArn"]
    events.put_targets(Rule="orders", EventBusName="shop", Targets=[{"Id": "fn", "Arn": function}])
    put(fresh_endpoint, dlq, [failed_delivery(rule, function)])
    result = cli("redrive", "orders-dlq", "--to-target", "--yes")
    assert result.exit_code == ExitCode.USAGE
    assert "reserved concurrency of 0" in result.stderr
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_the_dry_run_of_a_bus_replay_names_every_rule_that_will_get_it(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    processor = create_queue(fresh_endpoint, "processor")
    audit = create_queue(fresh_endpoint, "audit")
    rule = two_rules(boto, processor, audit)
    put(fresh_endpoint, dlq, [failed_delivery(rule, processor.arn)])
    result = cli("redrive", "orders-dlq", "--to-bus", "shop", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [group] = result.json()["preflight"]["fan_out"]
    assert group["events"] == "shop.orders / OrderPlaced"
    assert {(rule["name"], rule["failed_here"]) for rule in group["rules"]} == {
        ("orders", True),
        ("audit", False),
    }
    table = cli("redrive", "orders-dlq", "--to-bus", "shop", "--dry-run", "-o", "table")
    assert "orders (its target failed), audit" in table.stdout + table.stderr


def test_a_bus_replay_no_rule_matches_is_refused_unless_forced(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    events = boto("events")
    events.create_event_bus(Name="shop")
    events.put_rule(
        Name="other", EventBusName="shop", EventPattern=json.dumps({"source": ["billing"]})
    )
    put(
        fresh_endpoint,
        dlq,
        [
            failed_delivery(
                "arn:aws:events:us-east-1:123456789012:rule/shop/x",
                "arn:aws:sqs:us-east-1:123456789012:gone",
            )
        ],
    )
    refused = cli("redrive", "orders-dlq", "--to-bus", "shop", "--yes")
    assert refused.exit_code == ExitCode.USAGE
    assert "no enabled rule on bus shop matches these events" in refused.stderr
    assert counts(fresh_endpoint, dlq) == (1, 0)
    forced = cli("redrive", "orders-dlq", "--to-bus", "shop", "--force", "--yes", "-o", "json")
    assert forced.exit_code == 0, forced.stderr
    assert forced.json()["redriven"] == 1


@pytest.mark.parametrize("state", ["ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"])
def test_the_fan_out_preview_matches_the_event_eventbridge_will_see(
    cli, boto, fresh_endpoint, state
):
    """A PutEvents entry has no account, region or id (EventBridge API reference,
    PutEventsRequestEntry: Time, Source, Resources, DetailType, Detail, EventBusName,
    TraceHeader): EventBridge sets them, the caller's account and the bus's region, whatever
    the original event said. An event first put in another account and region is replayed
    to ``shop`` here, whose only rule filters on this account and region; a rule enabled with
    CloudTrail management events matches what an enabled one does."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = create_queue(fresh_endpoint, "processor")
    events = boto("events")
    events.create_event_bus(Name="shop")
    pattern = {"source": ["shop.orders"], "region": ["us-east-1"], "account": ["123456789012"]}
    events.put_rule(Name="here", EventBusName="shop", EventPattern=json.dumps(pattern), State=state)
    events.put_targets(Rule="here", EventBusName="shop", Targets=[{"Id": "p", "Arn": target.arn}])
    original = emulate.event({"orderId": "o-1"}, account="210987654321", region="eu-west-1")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(original, "boom")])
    result = cli("redrive", "orders-dlq", "--to-bus", "shop", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [group] = result.json()["preflight"]["fan_out"]
    assert [rule["name"] for rule in group["rules"]] == ["here"]
    assert result.json()["preflight"]["failures"] == []


def test_an_oversize_message_is_caught_before_sending(cli, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    create_queue(fresh_endpoint, "small", MaximumMessageSize="1024")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "x" * 2000)])
    result = cli("redrive", "jobs-dlq", "--to-queue", "small", "--yes")
    assert result.exit_code == ExitCode.USAGE
    assert (
        "none of the 1 sampled message(s) can be sent: MessageTooLarge: 2,000 bytes, over "
        "small's MaximumMessageSize of 1,024"
    ) in result.stderr
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_nothing_sendable_is_refused_even_beside_messages_that_are_skipped(cli, fresh_endpoint):
    """Messages with nothing to replay (here Lambda's on-success records) are skipped, not
    failures: beside them, a sample whose every replayable message would fail is still
    "nothing can be sent", not a warning."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    too_big = emulate.event({"blob": "x" * 3_000})
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(too_big, "boom")])
    function = "arn:aws:lambda:us-east-1:123456789012:function:process:$LATEST"
    successes = [
        emulate.lambda_destination(
            emulate.event({"n": n}), function_arn=function, error_type="", error_message="",
            condition="Success",
        )
        for n in range(3)
    ]  # fmt: skip
    put(fresh_endpoint, dlq, successes)
    result = cli(
        "redrive", "orders-dlq", "--to-bus", "default", "--max-event-bytes", "2000", "--yes"
    )
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "none of the 1 sampled message(s) can be sent: EntryTooLarge" in result.stderr
    assert counts(fresh_endpoint, dlq) == (4, 0)


def test_some_oversize_messages_are_a_warning_in_the_words_of_the_first(cli, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "jobs-dlq")
    create_queue(fresh_endpoint, "small", MaximumMessageSize="1024")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "x" * size) for size in (10, 2000, 3000)])
    result = cli("redrive", "jobs-dlq", "--to-queue", "small", "--dry-run", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    [warning] = result.json()["preflight"]["warnings"]
    assert warning.startswith("2 of 3 sampled message(s) will fail and stay, the first of them: ")
    assert "bytes, over small's MaximumMessageSize of 1,024" in warning


def test_a_replay_into_a_queue_that_feeds_this_dlq_is_flagged(cli, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "work-dlq")
    create_queue(
        fresh_endpoint,
        "work",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 3}),
    )
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "job")])
    result = cli("redrive", "work-dlq", "--to-queue", "work", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "possible loop: work sends the messages it fails on to work-dlq" in result.stderr


def test_to_target_cannot_rewrite_and_cannot_go_server_side(cli, fresh_endpoint):
    create_queue(fresh_endpoint, "orders-dlq")
    rewrite = cli("redrive", "orders-dlq", "--to-target", "--source", "x", "--yes")
    assert rewrite.exit_code == ExitCode.USAGE and "cannot rewrite" in rewrite.stderr
    server = cli("redrive", "orders-dlq", "--to-target", "--server-side", "--yes")
    assert server.exit_code == ExitCode.USAGE and "drop --server-side" in server.stderr


def test_to_target_reaches_topics_state_machines_and_streams(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    inbox = create_queue(fresh_endpoint, "topic-inbox")
    sns = boto("sns")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=inbox.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    role = boto("iam").create_role(
        RoleName="sfn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    machine = boto("stepfunctions").create_state_machine(
        name="fulfil",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    kinesis = boto("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    stream = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    events = boto("events")
    events.create_event_bus(Name="shop")
    targets = {
        "notify": {"Id": "t", "Arn": topic, "InputPath": "$.detail.orderId"},
        "fulfil": {"Id": "m", "Arn": machine, "Input": '{"constant": true}'},
        "stream": {
            "Id": "s",
            "Arn": stream,
            "KinesisParameters": {"PartitionKeyPath": "$.detail.orderId"},
        },
    }
    messages = []
    for name, target in targets.items():
        rule = events.put_rule(Name=name, EventBusName="shop", EventPattern=PATTERN)["RuleArn"]
        events.put_targets(Rule=name, EventBusName="shop", Targets=[target])
        messages.append(failed_delivery(rule, target["Arn"], order=f"o-{name}"))
    put(fresh_endpoint, dlq, messages)

    result = cli("redrive", "orders-dlq", "--to-target", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 3
    assert [m["Body"] for m in receive_all(boto, inbox)] == ['"o-notify"']
    [execution] = boto("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    described = boto("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"constant": True}
    shard = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="orders", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    [record] = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert record["PartitionKey"] == "o-stream"
    assert json.loads(record["Data"])["detail"]["orderId"] == "o-stream"
    assert counts(fresh_endpoint, dlq) == (0, 0)


def test_to_target_on_the_default_bus_and_into_a_fifo_queue(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    fifo = create_queue(fresh_endpoint, "orders.fifo", FifoQueue="true")
    events = boto("events")
    rule = events.put_rule(Name="orders", EventPattern=PATTERN)["RuleArn"]  # the default bus
    assert rule.endswith(":rule/orders")
    events.put_targets(
        Rule="orders",
        Targets=[{"Id": "f", "Arn": fifo.arn, "SqsParameters": {"MessageGroupId": "orders"}}],
    )
    put(fresh_endpoint, dlq, [failed_delivery(rule, fifo.arn, f"o-{n}") for n in (1, 2)])
    result = cli("redrive", "orders-dlq", "--to-target", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    messages = boto("sqs").receive_message(
        QueueUrl=fifo.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert sorted(json.loads(m["Body"])["detail"]["orderId"] for m in messages) == ["o-1", "o-2"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"orders"}
    assert len({m["Attributes"]["MessageDeduplicationId"] for m in messages}) == 2
    assert counts(fresh_endpoint, dlq) == (0, 0)


def test_a_state_machine_start_an_earlier_run_made_is_not_failed_on_every_rerun(
    cli_via, faults, boto, fresh_endpoint
):
    """The first run's StartExecution is delivered and its answer lost: ambiguous, left in
    the DLQ. By the rerun that execution has ended, and Step Functions answers a start of the
    same name (dlqctl's, one per DLQ copy) with ExecutionAlreadyExists, as it does for 90
    days: the replay was started, so the message is deleted. Before, it failed with that
    error on every rerun and stayed in the DLQ."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    role = boto("iam").create_role(
        RoleName="sfn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    states = boto("stepfunctions")
    machine = states.create_state_machine(
        name="fulfil",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    events = boto("events")
    events.create_event_bus(Name="shop")
    rule = events.put_rule(Name="fulfil", EventBusName="shop", EventPattern=PATTERN)["RuleArn"]
    events.put_targets(Rule="fulfil", EventBusName="shop", Targets=[{"Id": "m", "Arn": machine}])
    put(fresh_endpoint, dlq, [failed_delivery(rule, machine)])

    faults.drop_responses("states", "StartExecution", times=1)
    first = cli_via("redrive", "orders-dlq", "--to-target", "--yes", "-o", "json")
    assert first.exit_code == ExitCode.PARTIAL
    assert first.json()["unanswered"] == 1
    [execution] = states.list_executions(stateMachineArn=machine)["executions"]
    states.stop_execution(executionArn=execution["executionArn"])  # it has ended

    again = cli_via("redrive", "orders-dlq", "--to-target", "--yes", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert (again.json()["redriven"], again.json()["failed"]) == (1, 0)
    assert len(states.list_executions(stateMachineArn=machine)["executions"]) == 1
    assert counts(fresh_endpoint, dlq) == (0, 0)
