"""The demo's traffic: order events through the sandbox stack, failures in AWS's DLQ shapes.

The local endpoint does not run Lambda code or deliver events to Lambda targets, so the traffic
is emulated honestly: the bundled processing function's handler runs in-process with the async
retry policy (one try plus two retries), and final failures are written to the DLQ in the exact
shapes AWS uses (see ``emulate``), as are rule-delivery failures.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from dlqctl import emulate
from dlqctl.aws import SQS_BATCH, Aws
from dlqctl.envelopes import SUCCESS_CONDITION
from dlqctl.errors import DlqctlError, NotFoundError
from dlqctl.models import EventEntry, OutgoingMessage, QueueRef
from dlqctl.stack import FUNCTIONS

ACCOUNT = "123456789012"
LAMBDA_RETRIES = 2


def load_processor() -> ModuleType:
    """The bundled processing function's module, loaded from ``infra/functions``."""
    path = FUNCTIONS / "processor.py"
    if not path.is_file():
        raise DlqctlError(
            f"the bundled function source is missing: {path}",
            "reinstall dlqctl: the bundled stack ships with it",
        )
    spec = importlib.util.spec_from_file_location("dlqctl_bundled_processor", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its log lines (CloudWatch's on AWS) are not ours to print. Replacing ``print`` in its own
    # namespace, not ``sys.stdout`` around each call: the processor runs in a thread of its own
    # beside dlqctl's commands (``live_processor``), and ``sys.stdout`` is the whole process's.
    module.__dict__["print"] = _function_log
    spec.loader.exec_module(module)
    return module


def _function_log(*values: object, **settings: Any) -> None:
    """The processor's ``print``: its log lines go nowhere, as a function's log is not the
    caller's output."""


@dataclass(frozen=True)
class SandboxStack:
    """The bundled stack as deployed on the local endpoint (with ``Sandbox=true``)."""

    bus: str
    rule_arn: str
    function_arn: str
    dlq: QueueRef
    inbox: QueueRef


def sandbox_stack(aws: Aws, stack_name: str) -> SandboxStack:
    """Find the sandbox's resources from the stack's parameters.

    On AWS the rule ``<processor>-orders`` targets the function. The local endpoint cannot
    deliver to (or even route to) a Lambda target, so the template's ``Sandbox=true`` points the
    rule at the queue ``<processor>-sandbox-inbox`` instead, and ``process_inbox`` runs the
    handler on what arrives: every event still really passes through the bus and its rule.
    """
    info = aws.cloudformation.stack(stack_name)
    if info is None:
        raise NotFoundError(f"stack {stack_name} not found", "run 'dlqctl sandbox up' first")
    parameters = info.parameters
    if parameters.get("Sandbox") != "true":
        raise DlqctlError(
            f"stack {stack_name} is not a sandbox stack",
            "sandbox commands work on the stack that 'dlqctl sandbox up' deployed",
        )
    region, account = aws.region, aws.account_id()
    bus, processor = parameters["BusName"], parameters["ProcessorName"]
    return SandboxStack(
        bus=bus,
        rule_arn=f"arn:aws:events:{region}:{account}:rule/{bus}/{processor}-orders",
        function_arn=f"arn:aws:lambda:{region}:{account}:function:{processor}",
        dlq=aws.sqs.resolve(parameters["DlqName"])[0],
        inbox=aws.sqs.resolve(f"{processor}-sandbox-inbox")[0],
    )


@dataclass(frozen=True)
class PayoutQueues:
    """Another team's queue and its DLQ, fed by SQS's own redrive."""

    jobs: QueueRef
    dlq: QueueRef


def create_payout_queues(aws: Aws) -> PayoutQueues:
    dlq = aws.sqs.create("payouts-dlq")
    jobs = aws.sqs.create(
        "payouts",
        {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "1"})},
    )
    return PayoutQueues(jobs, dlq)


def order_events(count: int, *, seed: int = 7, region: str = "us-east-1") -> list[dict[str, Any]]:
    """Order events as producers send them: mostly schema version 1, a few invalid orders."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(minutes=45)
    events = []
    for index in range(count):
        detail: dict[str, Any] = {
            "orderId": f"ord-{10000 + index}",
            "amount": round(rng.uniform(5, 400), 2),
            "currency": rng.choice(["USD", "EUR", "GBP"]),
            "schemaVersion": "1" if rng.random() < 0.7 else "2",
        }
        roll = rng.random()
        if roll < 0.04:
            detail["amount"] = 0
        elif roll < 0.07:
            detail["currency"] = "JPY"
        events.append(
            emulate.event(
                detail,
                source="shop.orders",
                detail_type="OrderPlaced",
                region=region,
                account=ACCOUNT,
                time=start + timedelta(seconds=index * 15),
            )
        )
    return events


def publish(aws: Aws, stack: SandboxStack, events: list[dict[str, Any]]) -> int:
    """Put events on the bus as a producer would; returns how many the bus accepted."""
    accepted = 0
    for start in range(0, len(events), 10):
        entries = [
            EventEntry(
                bus=stack.bus,
                source=event["source"],
                detail_type=event["detail-type"],
                detail=json.dumps(event["detail"]),
                time=datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
            )
            for event in events[start : start + 10]
        ]
        accepted += sum(1 for result in aws.events.put_events(entries) if result.accepted)
    return accepted


@dataclass
class Traffic:
    """What happened to each event: processed, failed in the function, or never delivered."""

    processed: int = 0
    function_failures: int = 0
    delivery_failures: int = 0
    other_shapes: int = 0
    """Messages of the other shapes AWS writes (``sandbox seed --shapes``)."""


def invoke_async(
    handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any]
) -> Exception | None:
    """One async invocation with Lambda's retries; returns the last error, or None on success."""
    error: Exception | None = None
    for _ in range(1 + LAMBDA_RETRIES):
        try:
            handler(event, None)
            return None
        except Exception as exc:  # noqa: BLE001 - any unhandled error fails the invocation
            error = exc
    return error


def send_all(aws: Aws, queue: QueueRef, messages: list[OutgoingMessage]) -> list[str]:
    """Send messages in batches of 10; returns the message IDs in order. Any refusal raises."""
    ids: list[str] = []
    for start in range(0, len(messages), SQS_BATCH):
        chunk = [
            replace(message, entry_id=str(index))
            for index, message in enumerate(messages[start : start + SQS_BATCH])
        ]
        outcomes = aws.sqs.send(queue, chunk)
        refused = {key: outcome.detail for key, outcome in outcomes.items() if not outcome.accepted}
        if refused:
            raise DlqctlError(f"could not write to {queue.name}: {refused}")
        ids.extend(outcomes[message.entry_id].detail for message in chunk)
    return ids


def process_inbox(
    aws: Aws,
    stack: SandboxStack,
    *,
    accepted_versions: str,
    undeliverable: int = 0,
) -> Traffic:
    """Deliver the rule's events to the processor as EventBridge and Lambda would.

    The first ``undeliverable`` events fail delivery (the rule may not invoke the function) and
    go to the DLQ with EventBridge's attributes; the others run the handler with Lambda's async
    retries, and final failures go to the DLQ with Lambda's attributes.
    """
    processor = load_processor()
    traffic = Traffic()
    previous = os.environ.get("ACCEPTED_SCHEMA_VERSIONS")
    os.environ["ACCEPTED_SCHEMA_VERSIONS"] = accepted_versions
    try:
        while True:
            received = aws.sqs.receive(
                stack.inbox, max_messages=SQS_BATCH, wait_seconds=1, hold_seconds=60
            )
            if not received:
                break
            failures: list[OutgoingMessage] = []
            for message in received:
                event = json.loads(message.body)
                if traffic.delivery_failures < undeliverable:
                    traffic.delivery_failures += 1
                    failures.append(_delivery_failure(stack, event))
                    continue
                error = invoke_async(processor.handler, event)
                if error is None:
                    traffic.processed += 1
                else:
                    traffic.function_failures += 1
                    failures.append(emulate.lambda_dlq(event, str(error)))
            send_all(aws, stack.dlq, failures)
            aws.sqs.delete(stack.inbox, received)
    finally:
        if previous is None:
            os.environ.pop("ACCEPTED_SCHEMA_VERSIONS", None)
        else:
            os.environ["ACCEPTED_SCHEMA_VERSIONS"] = previous
    return traffic


@contextlib.contextmanager
def live_processor(aws: Aws, stack: SandboxStack, *, accepted_versions: str) -> Iterator[Traffic]:
    """The processor running in the background while the block runs, as a deployed function
    would: it takes what reaches the inbox, and its failures go to the DLQ as they happen.
    At the end it finishes what is in the inbox; the traffic it handled is yielded."""
    traffic = Traffic()
    stop = threading.Event()

    def consume() -> None:
        while True:
            done = process_inbox(aws, stack, accepted_versions=accepted_versions)
            traffic.processed += done.processed
            traffic.function_failures += done.function_failures
            if stop.is_set():
                return

    worker = threading.Thread(target=consume, name="order-processor", daemon=True)
    worker.start()
    try:
        yield traffic
    finally:
        stop.set()
        worker.join()


def _delivery_failure(stack: SandboxStack, event: dict[str, Any]) -> OutgoingMessage:
    return emulate.eventbridge_dlq(
        event,
        rule_arn=stack.rule_arn,
        target_arn=stack.function_arn,
        error_code="NO_PERMISSIONS",
        error_message=(
            "Lambda function order-processor is not authorized to be invoked "
            "by events.amazonaws.com"
        ),
        retry_attempts=0,
    )


def seed_shapes(aws: Aws, stack: SandboxStack) -> int:
    """Write one message of each other shape AWS writes to a DLQ (``sandbox seed --shapes``),
    built from the stack's own ARNs, so every kind can be seen and tried; returns the count."""
    region, account = aws.region, aws.account_id()
    order = order_events(1, region=region)[0]
    arn = f"arn:aws:{{}}:{region}:{account}:{{}}".format
    failure = emulate.destination_record(
        order,
        function_arn=f"{stack.function_arn}:$LATEST",
        error_type="ValueError",
        error_message="unsupported schemaVersion 1",
    )
    success = emulate.destination_record(
        order,
        function_arn=f"{stack.function_arn}:$LATEST",
        error_type=None,
        error_message=None,
        condition=SUCCESS_CONDITION,
        invoke_count=1,
    )
    topic = arn("sns", "order-failures")
    bus_arn = arn("events", f"event-bus/{stack.bus}")
    messages = [
        emulate.lambda_destination(
            order["detail"],
            function_arn=f"{stack.function_arn}:$LATEST",
            error_type="KeyError",
            error_message="'customerId'",
        ),
        OutgoingMessage("m", json.dumps(success)),
        emulate.sns_notification(
            json.dumps(failure), topic_arn=topic, subscription_arn=f"{topic}:{uuid.uuid4()}"
        ),
        emulate.destination_event(failure, region=region),
        emulate.stream_failure(
            function_arn=stack.function_arn,
            stream_arn=arn("kinesis", "stream/orders"),
            shard_id="shardId-000000000000",
            start_sequence="49625681492847716055798994229222865552900196919517642754",
            end_sequence="49625681492847716055798994229222865552900196919517642817",
            batch_size=64,
        ),
        emulate.scheduler_dlq(
            order,
            schedule_arn=arn("scheduler", "schedule/default/nightly-orders"),
            target_arn=bus_arn,
            error_code="AccessDeniedException",
            error_message="The scheduler role may not call PutEvents on the bus",
        ),
        emulate.subscriber_record(
            bus_arn=arn("events", f"event-busv2/{stack.bus}/{uuid.uuid4().hex[:20]}"),
            subscriber_arn=arn("events", f"subscriber/payouts/{uuid.uuid4().hex[:20]}"),
            target_arn=arn("sqs", "payouts"),
            event_ids=[str(uuid.uuid4()), str(uuid.uuid4())],
            error_code="ACCESS_DENIED",
            error_message="The delivery role is not authorized to perform sqs:SendMessage.",
        ),
        emulate.encrypted_events(
            bus_arn=bus_arn,
            rule_arn=stack.rule_arn,
            kms_key_arn=arn("kms", f"key/{uuid.uuid4()}"),
            region=region,
        ),
        emulate.sns_notification(
            json.dumps(order), topic_arn=topic, subscription_arn=f"{topic}:{uuid.uuid4()}"
        ),
    ]
    send_all(aws, stack.dlq, messages)
    return len(messages)


def fail_jobs(aws: Aws, queues: PayoutQueues, count: int) -> None:
    """Payout jobs whose consumer fails: each receive without a delete is a failed attempt, and
    past ``maxReceiveCount`` SQS itself moves the message to the DLQ."""
    send_all(
        aws,
        queues.jobs,
        [
            OutgoingMessage("m", json.dumps({"payoutId": f"po-{n}", "amount": 10 * n}))
            for n in range(count)
        ],
    )
    for _ in range(2 * count + 2):
        if not aws.sqs.receive(queues.jobs, max_messages=SQS_BATCH, wait_seconds=0, hold_seconds=0):
            break
