"""The bundled stack: its template's wiring, a deploy into the local endpoint, the sandbox,
the redriver function, and the server-side drain.

moto's CloudFormation skips AWS::Lambda::EventInvokeConfig, AWS::SQS::QueuePolicy and
AWS::CloudWatch::Alarm, and its Lambda does not keep a function's DeadLetterConfig, so those
parts are checked in the template itself (and by cfn-lint in CI); the rest is checked deployed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from dlqctl import emulate
from dlqctl.choices import DEFAULT_STACK
from dlqctl.errors import ExitCode
from dlqctl.lease import LEASE_TAG, Lease
from dlqctl.models import OutgoingMessage
from dlqctl.stack import TEMPLATE, StackSettings, deploy
from tests.helpers import aws_for, counts, put, start_dlqctl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template():
    parsed, matches = decode_str(TEMPLATE.read_text())
    assert not matches
    return parsed["Resources"]


def test_rule_targets_the_processor_with_retries_and_the_dlq(template):
    rule = template["OrdersRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": [{"Ref": "EventSource"}],
        "detail-type": [{"Ref": "DetailType"}],
    }
    [target] = rule["Targets"]
    assert target["Arn"]["Fn::If"][2] == {"Fn::GetAtt": ["Processor", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["Dlq", "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def test_function_has_its_dlq_and_async_retry_settings(template):
    processor = template["Processor"]["Properties"]
    assert processor["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}}
    assert processor["Code"] == {
        "S3Bucket": {"Ref": "CodeBucket"},
        "S3Key": {"Ref": "ProcessorCodeKey"},
    }
    invoke = template["ProcessorInvokeConfig"]["Properties"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert 60 <= invoke["MaximumEventAgeInSeconds"] <= 21600


def test_dlq_is_encrypted_kept_14_days_and_only_the_rule_and_role_may_send(template):
    dlq = template["Dlq"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1209600
    assert dlq["SqsManagedSseEnabled"] is True
    statements = template["DlqPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Principal"] for s in statements] == [
        {"Service": "events.amazonaws.com"},
        {"AWS": {"Fn::GetAtt": ["ProcessorRole", "Arn"]}},
    ]
    assert statements[0]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["OrdersRule", "Arn"]}}
    }
    assert all(s["Action"] == "sqs:SendMessage" for s in statements)


def test_alarms_watch_depth_and_age(template):
    metrics = {
        template[name]["Properties"]["MetricName"]
        for name in ("DlqNotEmptyAlarm", "DlqOldestMessageAlarm")
    }
    assert metrics == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}


def test_redriver_mapping_is_disabled_and_reports_item_failures(template):
    mapping = template["RedriverMapping"]["Properties"]
    assert mapping["Enabled"] is False
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert template["Redriver"]["Properties"]["Environment"]["Variables"]["DLQCTL_REDRIVER_BUS"]


def test_cfn_lint_passes():
    from cfnlint.api import lint_file

    assert [str(match) for match in lint_file(TEMPLATE)] == []


def test_deploy_wires_the_stack_into_the_endpoint(cli, boto, fresh_endpoint):
    result = cli("stack", "deploy", "--sandbox", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["status"] == "CREATE_COMPLETE"
    assert any("Processor (AWS::Lambda::Function)" in change for change in report["changes"])

    events = boto("events")
    [target] = events.list_targets_by_rule(Rule="order-processor-orders", EventBusName="shop")[
        "Targets"
    ]
    assert target["DeadLetterConfig"]["Arn"].endswith(":orders-dlq")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="orders-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "1209600"
    lam = boto("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName="orders-dlq-redriver")[
        "EventSourceMappings"
    ]
    assert mapping["State"] == "Disabled"
    assert mapping["EventSourceArn"] == attributes["QueueArn"]
    redriver = lam.get_function_configuration(FunctionName="orders-dlq-redriver")
    assert redriver["Environment"]["Variables"] == {"DLQCTL_REDRIVER_BUS": "shop"}
    assert redriver["Handler"] == "redriver.handler"

    again = cli("stack", "deploy", "--sandbox", "-o", "json")
    assert again.exit_code == 0
    assert again.json()["reason"] == "no changes: the stack is up to date"
    shown = cli("stack", "status", "-o", "json").json()
    assert shown["dlq"] == {"visible": 0, "in_flight": 0}

    assert cli("stack", "destroy").exit_code == ExitCode.USAGE  # no terminal, no --yes
    gone = cli("stack", "destroy", "--yes", "-o", "json")
    assert gone.exit_code == 0, gone.stderr
    assert cli("stack", "status").exit_code == ExitCode.NOT_FOUND


def test_a_plain_redeploy_keeps_the_names_it_was_deployed_with(cli, boto, fresh_endpoint):
    """A parameter not given on an update keeps the stack's value: a plain ``stack deploy``
    after one with ``--dlq-name`` must not rename the DLQ, which CloudFormation does by
    replacing the queue (and deleting the old one, with every message in it)."""
    first = cli("stack", "deploy", "--sandbox", "--dlq-name", "payments-dlq", "-o", "json")
    assert first.exit_code == 0, first.stderr
    dlq, _ = aws_for(fresh_endpoint).sqs.resolve("payments-dlq")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": n}), "e") for n in range(3)])
    again = cli("stack", "deploy", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["reason"] == "no changes: the stack is up to date"
    assert counts(fresh_endpoint, dlq) == (3, 0)
    stack = boto("cloudformation").describe_stacks(StackName=DEFAULT_STACK)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert (parameters["DlqName"], parameters["Sandbox"]) == ("payments-dlq", "true")
    renamed = cli("stack", "deploy", "--alarm-topic-arn", "", "--event-source", "shop.v2")
    assert renamed.exit_code == 0, renamed.stderr
    stack = boto("cloudformation").describe_stacks(StackName=DEFAULT_STACK)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert (parameters["DlqName"], parameters["EventSource"]) == ("payments-dlq", "shop.v2")
    assert counts(fresh_endpoint, dlq) == (3, 0)


def test_the_dlq_is_kept_when_a_new_name_replaces_it(template):
    assert template["Dlq"]["UpdateReplacePolicy"] == "Retain"


def test_sandbox_seed_writes_dlq_messages_of_the_right_kinds(cli, fresh_endpoint):
    assert cli("stack", "deploy", "--sandbox").exit_code == 0
    seeded = cli("sandbox", "seed", "--orders", "40", "--undeliverable", "3", "-o", "json")
    assert seeded.exit_code == 0, seeded.stderr
    traffic = seeded.json()
    assert traffic["published"] == 40
    assert traffic["delivery_failures"] == 3
    assert traffic["function_failures"] > 0
    views = cli("peek", "orders-dlq", "--all", "-o", "json").json()
    assert len(views) == traffic["function_failures"] + traffic["delivery_failures"]
    kinds = {view["kind"] for view in views}
    assert kinds == {"lambda-dlq", "eventbridge-dlq"}
    rule_failures = [view for view in views if view["kind"] == "eventbridge-dlq"]
    assert {view["error"]["code"] for view in rule_failures} == {"NO_PERMISSIONS"}
    assert all(
        view["origin"]["rule_arn"].endswith("rule/shop/order-processor-orders")
        for view in rule_failures
    )
    lambda_failures = [view for view in views if view["kind"] == "lambda-dlq"]
    assert all(view["error"]["code"] == "200" for view in lambda_failures)
    assert any("schemaVersion" in view["error"]["message"] for view in lambda_failures)
    assert all(view["event"]["source"] == "shop.orders" for view in views)


def test_sandbox_seed_shapes_writes_every_other_kind(cli, fresh_endpoint):
    """The sandbox's own shapes are for seeing and trying; decoding is proven on the cited
    fixtures (test_aws_shapes.py). Here: each one is recognised, and a replay skips what must
    not be replayed and leaves it in the DLQ."""
    assert cli("stack", "deploy", "--sandbox").exit_code == 0
    seeded = cli(
        "sandbox", "seed", "--orders", "1", "--undeliverable", "0", "--shapes", "-o", "json"
    )
    assert seeded.exit_code == 0, seeded.stderr
    traffic = seeded.json()
    assert traffic["other_shapes"] == 9
    views = cli("peek", "orders-dlq", "--all", "-o", "json").json()
    kinds = sorted(view["kind"] for view in views if view["kind"] != "lambda-dlq")
    assert kinds == [
        "eventbridge-encrypted", "eventbridge-subscriber", "lambda-destination",
        "lambda-destination", "lambda-destination", "lambda-stream-failure", "lambda-success",
        "scheduler-dlq", "sns",
    ]  # fmt: skip
    vias = sorted(
        view["origin"].get("via", "") for view in views if view["kind"] == "lambda-destination"
    )
    assert vias == ["", "eventbridge", "sns"]
    replay = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--kind", "lambda-stream-failure", "--yes"
    )
    assert replay.exit_code == ExitCode.PARTIAL
    assert "re-read shard shardId-000000000000" in replay.stdout + replay.stderr


def lambda_record(message: dict) -> dict:
    """A received SQS message in the shape Lambda's event source mapping passes it on."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"dataType": value["DataType"], "stringValue": value.get("StringValue")}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "eventSource": "aws:sqs",
    }


def load_redriver():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "redriver_under_test", ROOT / "infra" / "functions" / "redriver.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_redriver_once(boto, redriver, queue_url):
    """What Lambda's mapping does once: receive a batch, invoke, delete what did not fail."""
    sqs = boto("sqs")
    batch = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    ).get("Messages", [])
    if not batch:
        return 0, []
    response = redriver.handler({"Records": [lambda_record(message) for message in batch]})
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    done = [m for m in batch if m["MessageId"] not in failed]
    for message in done:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    for message in batch:
        if message["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    return len(done), sorted(failed)


def audit_queue(boto, endpoint):
    """A second rule on the bus copies the replays to a queue we can read."""
    from tests.helpers import create_queue

    audit = create_queue(endpoint, "audit")
    boto("events").put_rule(
        Name="audit", EventBusName="shop", EventPattern='{"source": ["shop.orders"]}'
    )
    boto("events").put_targets(
        Rule="audit", EventBusName="shop", Targets=[{"Id": "a", "Arn": audit.arn}]
    )
    return audit


def test_redriver_handler_replays_and_reports_failures(boto, fresh_endpoint, monkeypatch):
    aws = aws_for(fresh_endpoint)
    deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    audit = audit_queue(boto, fresh_endpoint)
    dlq, _ = aws.sqs.resolve("orders-dlq")
    ids = put(
        fresh_endpoint,
        dlq,
        [
            emulate.lambda_dlq(emulate.event({"orderId": "a"}), "e"),
            OutgoingMessage("m", "no event here"),
            emulate.eventbridge_dlq(
                emulate.event({"orderId": "b"}),
                rule_arn="r",
                target_arn="t",
                error_code="X",
                error_message="y",
            ),
        ],
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", fresh_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("DLQCTL_REDRIVER_BUS", "shop")
    done, failed = run_redriver_once(boto, load_redriver(), dlq.url)
    assert done == 2
    assert failed == [ids[1]]
    assert counts(fresh_endpoint, dlq) == (1, 0)
    assert counts(fresh_endpoint, audit) == (2, 0)


def test_server_side_redrive_enables_drains_and_disables(cli, boto, fresh_endpoint, monkeypatch):
    aws = aws_for(fresh_endpoint)
    deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    audit = audit_queue(boto, fresh_endpoint)
    dlq, _ = aws.sqs.resolve("orders-dlq")
    put(
        fresh_endpoint,
        dlq,
        [emulate.lambda_dlq(emulate.event({"orderId": f"o{n}"}), "e") for n in range(25)],
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", fresh_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("DLQCTL_REDRIVER_BUS", "shop")
    redriver = load_redriver()
    lam = boto("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName="orders-dlq-redriver")[
        "EventSourceMappings"
    ]
    states = []
    stop = threading.Event()

    def lambda_service():
        # Stands in for Lambda's poller: it works only while the mapping is enabled.
        while not stop.is_set():
            state = lam.get_event_source_mapping(UUID=mapping["UUID"])["State"]
            states.append(state)
            if state == "Enabled":
                run_redriver_once(boto, redriver, dlq.url)
            time.sleep(0.05)

    worker = threading.Thread(target=lambda_service, daemon=True)
    worker.start()
    try:
        result = cli(
            "redrive", "orders-dlq", "--to-bus", "shop", "--server-side", "--yes", "-o", "json"
        )
    finally:
        stop.set()
        worker.join(10)
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["drained"] is True
    assert data["started_with"] == 25
    assert data["remaining"] == 0
    assert "Enabled" in states
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert counts(fresh_endpoint, audit) == (25, 0)


def test_a_signal_ends_a_server_side_redrive_with_its_result_and_the_redriver_off(
    boto, fresh_endpoint
):
    aws = aws_for(fresh_endpoint)
    deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    dlq, _ = aws.sqs.resolve("orders-dlq")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": n}), "e") for n in range(5)])
    lam = boto("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName="orders-dlq-redriver")[
        "EventSourceMappings"
    ]
    # Nothing stands in for Lambda's poller: the queue does not shrink, and the operator
    # stops the watch with Ctrl-C once the redriver is on.
    process = start_dlqctl(
        fresh_endpoint, "redrive", "orders-dlq", "--to-bus", "shop", "--server-side", "--yes",
        "-o", "json",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] != "Enabled":
        assert process.poll() is None and time.monotonic() < deadline, "the drain did not start"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT, stderr
    data = json.loads(stdout)
    assert (data["started_with"], data["remaining"], data["drained"]) == (5, 5, False)
    assert "interrupted" in stderr
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
    assert counts(fresh_endpoint, dlq) == (5, 0)


@pytest.mark.parametrize("signalled", [(True,), (True, False)], ids=["on", "on-and-off"])
def test_a_signal_while_the_redriver_is_being_turned_on_still_shows_the_result(
    cli, boto, fresh_endpoint, monkeypatch, signalled
):
    """Ctrl-C that lands while the enabling call is answered: the call completes, the watch
    never starts, the redriver is turned off again, and the result is shown; so too when a
    second one lands while it is turned off."""
    from dlqctl.aws import Lambda

    aws = aws_for(fresh_endpoint)
    deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    dlq, _ = aws.sqs.resolve("orders-dlq")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": n}), "e") for n in range(5)])
    turn = Lambda.set_mapping_enabled

    def turned_then_signalled(self, uuid, enabled, **kwargs):  # type: ignore[no-untyped-def]
        answer = turn(self, uuid, enabled, **kwargs)
        if enabled in signalled:
            os.kill(os.getpid(), signal.SIGINT)  # a real signal, while the answer is read
        return answer

    monkeypatch.setattr(Lambda, "set_mapping_enabled", turned_then_signalled)
    result = cli("redrive", "orders-dlq", "--to-bus", "shop", "--server-side", "--yes",
                 "-o", "json")  # fmt: skip
    assert result.exit_code == 128 + signal.SIGINT, result.stderr
    data = result.json()
    assert (data["started_with"], data["remaining"], data["drained"]) == (5, 5, False)
    [mapping] = boto("lambda").list_event_source_mappings(FunctionName="orders-dlq-redriver")[
        "EventSourceMappings"
    ]
    assert mapping["State"] == "Disabled"
    assert counts(fresh_endpoint, dlq) == (5, 0)


def test_a_server_side_redrive_is_refused_while_a_client_side_one_holds_the_lease(
    cli, boto, fresh_endpoint
):
    """The redriver and a client-side redrive never drain one DLQ together: the drain takes
    the same lease, and a live one of another run refuses it before the mapping is on."""
    aws = aws_for(fresh_endpoint)
    deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    dlq, _ = aws.sqs.resolve("orders-dlq")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": 1}), "e")])
    aws.sqs.tag(dlq, {LEASE_TAG: Lease("someone@elsewhere", "r1", time.time() + 600).encode()})
    result = cli("redrive", "orders-dlq", "--to-bus", "shop", "--server-side", "--yes")
    assert result.exit_code == ExitCode.BUSY, result.stderr
    assert "being redriven by someone@elsewhere" in result.stderr
    lam = boto("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName="orders-dlq-redriver")[
        "EventSourceMappings"
    ]
    assert mapping["State"] == "Disabled"
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_server_side_without_a_redriver_is_not_found(cli, fresh_endpoint):
    from tests.helpers import create_queue

    create_queue(fresh_endpoint, "other-dlq")
    boto_events = aws_for(fresh_endpoint)
    boto_events.events.create_bus("shop")
    result = cli("redrive", "other-dlq", "--to-bus", "shop", "--server-side", "--yes")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no redriver function reads other-dlq" in result.stderr


def test_sandbox_up_seed_and_down(tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["XDG_STATE_HOME"] = str(tmp_path)

    def dlqctl(*args, extra=None):
        return subprocess.run(
            [sys.executable, "-m", "dlqctl", *args],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    up = dlqctl("sandbox", "up")
    try:
        assert up.returncode == 0, up.stderr
        exports = dict(
            item.split("=", 1) for item in up.stdout.strip().removeprefix("export ").split()
        )
        assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert dlqctl("sandbox", "up").returncode != 0  # one at a time
        seeded = dlqctl("sandbox", "seed", "--orders", "20", "-o", "json")
        assert seeded.returncode == 0, seeded.stderr
        listed = dlqctl("list", "-o", "json", extra=exports)
        assert listed.returncode == 0, listed.stderr
        [dlq] = [queue for queue in json.loads(listed.stdout) if queue["name"] == "orders-dlq"]
        assert dlq["visible"] > 0
    finally:
        down = dlqctl("sandbox", "down")
    assert down.returncode == 0
    assert "Stopped" in down.stderr
    assert not (tmp_path / "dlqctl" / "sandbox.json").exists()

    # For scripts: the same settings as one JSON document, and what down stopped.
    up = dlqctl("sandbox", "up", "-o", "json")
    try:
        assert up.returncode == 0, up.stderr
        started = json.loads(up.stdout)
        assert started["url"].startswith("http://127.0.0.1:")
        assert started["stack"] == DEFAULT_STACK
        assert started["environment"]["AWS_ENDPOINT_URL"] == started["url"]
        listed = dlqctl("list", "-o", "json", extra=started["environment"])
        assert listed.returncode == 0, listed.stderr
        assert "orders-dlq" in [queue["name"] for queue in json.loads(listed.stdout)]
    finally:
        down = dlqctl("sandbox", "down", "-o", "json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout) == {"stopped": {"pid": started["pid"], "url": started["url"]}}
    again = dlqctl("sandbox", "down", "-o", "json")
    assert json.loads(again.stdout) == {"stopped": None}


def test_sandbox_up_on_a_port_in_use_is_refused_and_deploys_nothing(tmp_path, fresh_endpoint, boto):
    # The moto server the tests run on holds a port: the sandbox must not deploy into it.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    port = urllib.parse.urlsplit(fresh_endpoint).port

    def dlqctl(*args):
        return subprocess.run(
            [sys.executable, "-m", "dlqctl", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    taken = dlqctl("sandbox", "up", "--port", str(port))
    assert taken.returncode == ExitCode.BUSY, taken.stderr
    assert f"port {port} is in use" in taken.stderr
    assert not (tmp_path / "dlqctl" / "sandbox.json").exists()
    assert boto("cloudformation").list_stacks()["StackSummaries"] == []
    assert boto("s3").list_buckets()["Buckets"] == []
    for bad in ("0", "99999"):
        refused = dlqctl("sandbox", "up", "--port", bad)
        assert refused.returncode == ExitCode.USAGE, refused.stderr


@pytest.mark.parametrize(
    "state", ["other-process", "unreadable"], ids=["a PID now another program's", "corrupt"]
)
def test_a_stale_sandbox_state_is_never_acted_on(tmp_path, state):
    """After a reboot the state file's PID may be any other program's: ``sandbox down`` must
    not signal it, and a state file that cannot be read must not lock the sandbox out."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = tmp_path / "dlqctl"
        folder.mkdir()
        text = json.dumps({"pid": bystander.pid, "url": "http://127.0.0.1:9"})
        (folder / "sandbox.json").write_text(text if state == "other-process" else text[:9])
        down = subprocess.run(
            [sys.executable, "-m", "dlqctl", "sandbox", "down", "-o", "json"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout) == {"stopped": None}
        assert bystander.poll() is None, "the other program was not signalled"
        assert not (folder / "sandbox.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_the_operator_policy_allows_every_call_the_runbook_commands_make(
    cli_via, faults, fresh_endpoint, template
):
    """Every SQS, EventBridge and SNS call that list, peek, summary and a redrive to the bus
    make against the stack, read off the wire, is an action OperatorPolicy allows (with it,
    the lease is not silently off and list does not fail on its first queue)."""
    aws = aws_for(fresh_endpoint)
    deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    dlq, _ = aws.sqs.resolve("orders-dlq")
    put(fresh_endpoint, dlq, [emulate.lambda_dlq(emulate.event({"n": n}), "e") for n in range(3)])
    for command in (["list"], ["peek", "orders-dlq"], ["summary", "orders-dlq"],
                    ["redrive", "orders-dlq", "--to-bus", "shop", "--yes"]):  # fmt: skip
        result = cli_via(*command, "-o", "json")
        assert result.exit_code == 0, result.stderr
    statements = template["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = {
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    made = {
        f"{service}:{operation}"
        for service, operation in faults.calls
        if service in ("sqs", "events", "sns")
    }
    batch = {"sqs:DeleteMessageBatch": "sqs:DeleteMessage",
             "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
             "sqs:SendMessageBatch": "sqs:SendMessage"}  # fmt: skip
    needed = {batch.get(action, action) for action in made}
    assert "sqs:TagQueue" in needed, "the lease was taken"
    assert needed - allowed == set()
