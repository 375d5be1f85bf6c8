"""list: finds DLQs by every kind of source and by name, with counts."""

from __future__ import annotations

import json

import pytest

from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from tests.helpers import create_function, create_queue, put


def test_list_finds_every_kind_of_source(cli, boto, fresh_endpoint):
    sqs_dlq = create_queue(fresh_endpoint, "jobs-failures")
    destination = create_queue(fresh_endpoint, "fn-destination")
    rule_dlq = create_queue(fresh_endpoint, "rule-failures")
    sns_dlq = create_queue(fresh_endpoint, "topic-failures")
    create_queue(fresh_endpoint, "orders-dlq")
    create_queue(fresh_endpoint, "plain-queue")
    source = create_queue(
        fresh_endpoint,
        "jobs",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": sqs_dlq.arn, "maxReceiveCount": "3"}),
    )
    put(fresh_endpoint, sqs_dlq, [OutgoingMessage("m", "x")] * 3)

    aws_lambda = boto("lambda")
    function = create_function(boto)
    aws_lambda.put_function_event_invoke_config(
        FunctionName="process",
        DestinationConfig={"OnFailure": {"Destination": destination.arn}},
    )
    events = boto("events")
    events.create_event_bus(Name="shop")
    rule_arn = events.put_rule(
        Name="orders", EventBusName="shop", EventPattern='{"source": ["shop"]}'
    )["RuleArn"]
    events.put_targets(
        Rule="orders",
        EventBusName="shop",
        Targets=[
            {"Id": "fn", "Arn": function["FunctionArn"], "DeadLetterConfig": {"Arn": rule_dlq.arn}}
        ],
    )
    sns = boto("sns")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    subscription = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=source.arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": sns_dlq.arn})},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    result = cli("list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    found = {queue["name"]: queue for queue in result.json()}
    assert set(found) == {
        "jobs-failures",
        "fn-destination",
        "rule-failures",
        "topic-failures",
        "orders-dlq",
    }
    assert found["jobs-failures"]["sources"] == [{"type": "sqs", "arn": source.arn}]
    assert found["jobs-failures"]["visible"] == 3
    assert found["jobs-failures"]["in_flight"] == 0 and found["jobs-failures"]["delayed"] == 0
    assert [s["type"] for s in found["fn-destination"]["sources"]] == ["lambda-destination"]
    assert found["rule-failures"]["sources"][0]["type"] == "eventbridge-rule"
    assert found["rule-failures"]["sources"][0]["arn"] == rule_arn
    assert found["topic-failures"]["sources"][0] == {
        "type": "sns",
        "arn": subscription,
        "detail": topic,
    }
    assert found["orders-dlq"]["sources"] == [] and found["orders-dlq"]["is_dlq"]
    for queue in found.values():
        assert {"name", "url", "arn", "visible", "in_flight", "delayed", "sources"} <= set(queue)

    everything = cli("list", "--all", "-o", "json").json()
    assert {"plain-queue", "jobs"} <= {queue["name"] for queue in everything}


def test_list_table(cli, fresh_endpoint):
    create_queue(fresh_endpoint, "orders-dlq")
    result = cli("list", "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert "orders-dlq" in result.stdout and "(name only)" in result.stdout


def test_list_empty_account(cli):
    result = cli("list", "-o", "json")
    assert result.exit_code == 0
    assert result.json() == []


def test_list_finds_a_function_dead_letter_config(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "fn-failures")
    aws_lambda = boto("lambda")
    function = create_function(
        boto,
        DeadLetterConfig={"TargetArn": dlq.arn},
    )
    if not aws_lambda.get_function_configuration(FunctionName="process").get("DeadLetterConfig"):
        pytest.skip("the local endpoint (moto) does not store a function's DeadLetterConfig")
    [queue] = cli("list", "-o", "json").json()
    assert queue["name"] == "fn-failures"
    assert [source["type"] for source in queue["sources"]] == ["lambda"]
    assert queue["sources"][0]["arn"].startswith(function["FunctionArn"])


def test_list_degrades_when_a_service_denies_access(cli_via, faults, fresh_endpoint):
    create_queue(fresh_endpoint, "orders-dlq")
    faults.fail("lambda", "/functions", "AccessDeniedException", status=403)
    faults.fail("events", "ListEventBuses", "AccessDeniedException")
    result = cli_via("list", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr  # it may miss what feeds a DLQ
    assert [queue["name"] for queue in result.json()] == ["orders-dlq"]
    assert "Lambda sources may be incomplete: access denied" in result.stderr
    assert "EventBridge sources may be incomplete: access denied" in result.stderr


def test_a_queue_that_cannot_be_read_does_not_hide_the_others(cli_via, faults, fresh_endpoint):
    """In a shared account a queue's policy may deny the operator GetQueueAttributes: the
    others are listed, the one not looked at is named, and the list says it is incomplete."""
    for name in ("orders-dlq", "billing-dlq"):
        create_queue(fresh_endpoint, name)
    faults.fail("sqs", "GetQueueAttributes", "AccessDenied", status=403, times=1)
    result = cli_via("list", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert len(result.json()) == 1
    assert "not looked at: access denied" in result.stderr


def test_list_finds_a_stream_mappings_on_failure_destination(cli, boto, fresh_endpoint):
    """A Kinesis (or DynamoDB Streams, Kafka) event source mapping sends its failure records
    to DestinationConfig.OnFailure: that queue is a DLQ whatever its name says."""
    queue = create_queue(fresh_endpoint, "stream-failures")
    stream = boto("kinesis")
    stream.create_stream(StreamName="orders", ShardCount=1)
    stream_arn = stream.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    function = create_function(boto)
    mapping = boto("lambda").create_event_source_mapping(
        FunctionName=function["FunctionName"],
        EventSourceArn=stream_arn,
        StartingPosition="LATEST",
        DestinationConfig={"OnFailure": {"Destination": queue.arn}},
    )
    if not (mapping.get("DestinationConfig") or {}).get("OnFailure"):
        pytest.skip("the local endpoint (moto) does not store a mapping's DestinationConfig")
    [listed] = cli("list", "-o", "json").json()
    assert listed["name"] == "stream-failures"
    [source] = listed["sources"]
    assert (source["type"], source["arn"]) == ("lambda-event-source-mapping", stream_arn)
    assert mapping["UUID"] in source["detail"]


def test_a_rule_deleted_while_list_runs_is_skipped_not_a_failure(
    cli_via, faults, boto, fresh_endpoint
):
    """Between ListRules and ListTargetsByRule a rule can be deleted (a deploy, another
    operator): that is no sign the list is incomplete, and the other rules are still read."""
    events = boto("events")
    queues = {}
    for name in ("orders", "billing"):
        queues[name] = create_queue(fresh_endpoint, f"{name}-failures")
        events.put_rule(Name=name, EventPattern=json.dumps({"source": [name]}))
        target = {"Id": "t", "Arn": queues[name].arn,
                  "DeadLetterConfig": {"Arn": queues[name].arn}}  # fmt: skip
        events.put_targets(Rule=name, Targets=[target])
    faults.fail("events", "ListTargetsByRule", "ResourceNotFoundException", times=1)
    result = cli_via("list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len([q for q in result.json() if q["sources"]]) == 1
