"""``--to-target``: each EventBridge rule-DLQ message goes to the one target that failed, and
only there, in the form that target receives from its rule.

The message names the rule (``RULE_ARN``) and the target (``TARGET_ARN``). The rule's targets
are read once per rule (``ListTargetsByRule``) and the target's ``Input``, ``InputPath`` or
``InputTransformer`` is applied to the event (``target_input``). Lambda failure messages (a
Lambda DLQ, a destination record) go to their function with the payload it failed on, as
``--to-source`` sends them. A rule or target that no longer exists, or a target type dlqctl
cannot send to, leaves the message in the DLQ with the reason.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from dlqctl.aws import Aws
from dlqctl.choices import Kind
from dlqctl.destinations import (
    DestinationSpec,
    FunctionDestination,
    Planned,
    QueueDestination,
    Rejected,
    SourceDestination,
    build_destination,
    replay_deduplication_id,
    unanswered_outcome,
)
from dlqctl.errors import (
    AmbiguousSend,
    DlqctlError,
    NotFoundError,
    ThrottledError,
    UnreachableError,
)
from dlqctl.models import EntryOutcome, JsonValue, MessageView, OutgoingMessage
from dlqctl.scan import OpenQueue
from dlqctl.target_input import MISSING, InputError, TargetInput, at_path, compact


class TargetKind(StrEnum):
    SQS = "sqs"
    LAMBDA = "lambda"
    SNS = "sns"
    STATES = "states"
    KINESIS = "kinesis"
    FIREHOSE = "firehose"


PAYLOAD_LIMITS = {
    TargetKind.LAMBDA: 1048576,  # an async invocation's payload (1 MiB since January 2026)
    TargetKind.SNS: 262144,
    TargetKind.STATES: 262144,  # an execution's input
    TargetKind.KINESIS: 1048576,
    TargetKind.FIREHOSE: 1024000,
}
"""Largest payload each target type takes; a queue's own MaximumMessageSize is read."""


def target_kind(arn: str) -> TargetKind | None:
    """The kind of target an ARN names, if dlqctl can send to it."""
    parts = arn.split(":")
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    if service == "states" and resource.startswith("stateMachine"):
        return TargetKind.STATES
    if service == "kinesis" and resource.startswith("stream/"):
        return TargetKind.KINESIS
    if service == "firehose" and resource.startswith("deliverystream/"):
        return TargetKind.FIREHOSE
    if service in ("sqs", "lambda", "sns"):
        return TargetKind(service)
    return None


@dataclass(frozen=True)
class RuleTarget:
    """One target of a rule, as ``ListTargetsByRule`` describes it."""

    rule_arn: str
    target_id: str
    arn: str
    input: TargetInput
    group_id: str | None = None
    partition_key_path: str | None = None

    @classmethod
    def from_api(cls, rule_arn: str, target: Mapping[str, Any]) -> RuleTarget:
        return cls(
            rule_arn=rule_arn,
            target_id=str(target.get("Id", "")),
            arn=str(target["Arn"]),
            input=TargetInput.from_api(target),
            group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
            partition_key_path=(target.get("KinesisParameters") or {}).get("PartitionKeyPath"),
        )

    @property
    def kind(self) -> TargetKind | None:
        return target_kind(self.arn)


@dataclass(frozen=True)
class TargetSend:
    """What one target will be sent for one message."""

    target: RuleTarget
    body: str
    name: str
    """Stable for this DLQ copy: a Step Functions execution name, a FIFO deduplication ID."""
    partition_key: str

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "Target": self.target.arn,
            "TargetId": self.target.target_id,
            "Rule": self.target.rule_arn,
            "Input": self.body,
        }


def _partition_key(target: RuleTarget, event: Mapping[str, Any], fallback: str) -> str:
    """A Kinesis record's partition key: the value at the target's PartitionKeyPath (as text),
    else the event's ID."""
    if target.partition_key_path:
        value = at_path(event, target.partition_key_path)
        if isinstance(value, str) and value:
            return value
        if value is not MISSING and value is not None:
            return compact(value)
    return str(event.get("id") or fallback)


class TargetDestination:
    """Sends each rule-DLQ message to the target that failed; Lambda failures to their
    function."""

    description = journal_key = "each message's failed target"

    def __init__(self, aws: Aws, functions: SourceDestination) -> None:
        self.aws = aws
        self.functions = functions
        self._rules: dict[str, list[RuleTarget] | Rejected] = {}
        self._queues: dict[str, QueueDestination | Rejected] = {}
        self._lock = threading.Lock()

    def plan(self, view: MessageView) -> Planned | Rejected:
        if view.kind in (Kind.LAMBDA_DLQ, Kind.LAMBDA_DESTINATION):
            return self.functions.plan(view)
        if view.kind != Kind.EVENTBRIDGE_DLQ:
            return Rejected(
                f"--to-target replays EventBridge rule-DLQ messages (and Lambda failures to "
                f"their function); this is a {view.kind} message: use --to-bus or --to-queue"
            )
        if view.unreplayable:
            return Rejected(view.unreplayable)
        rule_arn, target_arn = view.origin.get("rule_arn"), view.origin.get("target_arn")
        event = view.event
        if not rule_arn or not target_arn or not isinstance(event, dict):
            return Rejected(
                "the message does not name its rule and target (RULE_ARN, TARGET_ARN) or "
                "carry its event",
                skipped=False,
            )
        target = self._target(rule_arn, target_arn)
        if isinstance(target, Rejected):
            return target
        kind = target.kind
        if kind is None:
            return Rejected(
                f"--to-target cannot send to {target.arn} (only SQS, Lambda, SNS, Step "
                "Functions, Kinesis and Firehose targets); use --to-bus"
            )
        try:
            body = target.input.render(event, rule_arn)
            return self._planned(view, target, kind, body, event)
        except InputError as exc:
            return Rejected(f"rule {rule_arn} target {target.target_id}: {exc}", skipped=False)

    def _planned(
        self,
        view: MessageView,
        target: RuleTarget,
        kind: TargetKind,
        body: str,
        event: Mapping[str, Any],
    ) -> Planned | Rejected:
        name = "dlqctl-" + hashlib.sha256(replay_deduplication_id(view).encode()).hexdigest()[:64]
        send = TargetSend(target, body, name, _partition_key(target, event, name))
        size = len(body.encode())
        if kind is TargetKind.SQS:
            queue = self._queue(target.arn)
            if isinstance(queue, Rejected):
                return queue
            message = OutgoingMessage(entry_id=view.message_id, body=body)
            if queue.attributes.fifo:
                group = target.group_id or view.message.attributes.get("MessageGroupId")
                if not group:
                    return Rejected(
                        f"{queue.queue.name} is FIFO and the target has no MessageGroupId",
                        skipped=False,
                    )
                message = replace(message, group_id=group, deduplication_id=name)
            if message.size() > queue.attributes.maximum_message_size:
                return Rejected(
                    f"MessageTooLarge: {message.size():,} bytes, over {queue.queue.name}'s "
                    f"MaximumMessageSize of {queue.attributes.maximum_message_size:,}",
                    skipped=False,
                )
            return Planned(view, send, size, target.arn)
        if size > PAYLOAD_LIMITS[kind]:
            return Rejected(
                f"the input is {size:,} bytes, over the {PAYLOAD_LIMITS[kind]:,} a {kind} "
                "target takes",
                skipped=False,
            )
        if kind is TargetKind.SNS and target.arn.endswith(".fifo"):
            return Rejected("--to-target does not publish to FIFO topics; use --to-bus")
        return Planned(view, send, size, target.arn)

    def _target(self, rule_arn: str, target_arn: str) -> RuleTarget | Rejected:
        with self._lock:
            targets = self._rules.get(rule_arn)
        if targets is None:
            try:
                found: list[RuleTarget] | Rejected = [
                    RuleTarget.from_api(rule_arn, item)
                    for item in self.aws.events.rule_targets(rule_arn)
                ]
            except NotFoundError:
                found = Rejected(
                    f"rule {rule_arn} no longer exists; left in the DLQ (use --to-bus if "
                    "other rules should get it)",
                    skipped=False,
                )
            except DlqctlError as exc:
                found = Rejected(f"cannot read the targets of {rule_arn}: {exc.message}", False)
                if isinstance(exc, ThrottledError | UnreachableError):
                    return found  # not kept: the rule's next message asks again
            with self._lock:
                targets = self._rules.setdefault(rule_arn, found)
        if isinstance(targets, Rejected):
            return targets
        matching = [target for target in targets if target.arn == target_arn]
        if len(matching) == 1:
            return matching[0]
        if not matching:
            return Rejected(
                f"{target_arn} is no longer a target of rule {rule_arn}; left in the DLQ",
                skipped=False,
            )
        return Rejected(
            f"rule {rule_arn} has {len(matching)} targets with ARN {target_arn}; the message "
            "does not say which failed",
            skipped=False,
        )

    def _queue(self, arn: str) -> QueueDestination | Rejected:
        with self._lock:
            queue = self._queues.get(arn)
        if queue is None:
            try:
                ref, attributes = self.aws.sqs.resolve(arn)
                queue = QueueDestination(self.aws, ref, attributes)
            except DlqctlError as exc:
                queue = Rejected(f"target queue {arn}: {exc.message}", skipped=False)
            with self._lock:
                queue = self._queues.setdefault(arn, queue)
        return queue

    def deliver(self, planned: Sequence[Planned]) -> dict[str, EntryOutcome]:
        results: dict[str, EntryOutcome] = {}
        by_queue: dict[str, list[Planned]] = {}
        functions: list[Planned] = []
        for item in planned:
            send = item.payload
            if not isinstance(send, TargetSend):
                functions.append(item)
            elif send.target.kind is TargetKind.SQS:
                by_queue.setdefault(send.target.arn, []).append(item)
            else:
                results[item.view.message_id] = self._send_one(send)
        if functions:
            results.update(self.functions.deliver(functions))
        for arn, items in by_queue.items():
            queue = self._queue(arn)
            assert isinstance(queue, QueueDestination)  # planned only when resolved
            results.update(queue.deliver([self._as_message(item, queue) for item in items]))
        return results

    @staticmethod
    def _as_message(item: Planned, queue: QueueDestination) -> Planned:
        send = item.payload
        message = OutgoingMessage(entry_id=item.view.message_id, body=send.body)
        if queue.attributes.fifo:
            group = send.target.group_id or item.view.message.attributes.get("MessageGroupId")
            message = replace(message, group_id=group, deduplication_id=send.name)
        return replace(item, payload=message, size=message.size())

    def _send_one(self, send: TargetSend) -> EntryOutcome:
        target, body = send.target, send.body
        try:
            if target.kind is TargetKind.LAMBDA:
                answer = FunctionDestination(self.aws, target.arn).invoke(body.encode())
            elif target.kind is TargetKind.SNS:
                answer = self.aws.sns.publish(target.arn, body)
            elif target.kind is TargetKind.STATES:
                answer = self.aws.stepfunctions.start_execution(target.arn, send.name, body)
            elif target.kind is TargetKind.KINESIS:
                answer = self.aws.kinesis.put_record(target.arn, body.encode(), send.partition_key)
            else:
                stream = target.arn.rsplit("/", 1)[-1]
                answer = self.aws.firehose.put_record(stream, body.encode())
        except AmbiguousSend as exc:
            return unanswered_outcome(exc)
        except DlqctlError as exc:
            return EntryOutcome(False, exc.message)
        return EntryOutcome(True, answer)


def build_target_destination(
    aws: Aws, opened: OpenQueue, spec: DestinationSpec, warnings: list[str]
) -> TargetDestination:
    """``--to-target``: rule targets, and Lambda failures to their function as ``--to-source``
    sends them."""
    spec.check()
    as_source = replace(spec, to_target=False, to_source=True)
    sources = build_destination(aws, opened, as_source, warnings)
    assert isinstance(sources, SourceDestination)
    return TargetDestination(aws, sources)
