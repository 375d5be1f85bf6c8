"""Checks before anything is sent, shown in the dry run and before the confirmation.

A redrive reads a bounded sample of the messages it would select (held briefly, then made
visible again), plans each for its destination, and checks what can be checked up front:

- for a bus replay, which enabled rules on the bus match each group of events
  (``TestEventPattern`` on a few events per group): the *fan-out*, marking the rule whose target
  failed. No matching rule at all means the events would vanish: a failed check;
- a function to re-invoke exists and is not throttled to zero (reserved concurrency 0);
- every sampled message failing the same way (a FIFO destination and no group, a destination's
  size limit) is a failed check; some failing is a warning with the count;
- a destination queue whose RedrivePolicy sends its failures to this same DLQ may loop.

A failed check refuses the run (exit 2, nothing sent) unless ``--force``. A check that cannot
be made (permissions) is a warning.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlqctl.aws import Aws
from dlqctl.destinations import (
    BusDestination,
    Destination,
    Planned,
    QueueDestination,
    Rejected,
    unqualified,
)
from dlqctl.envelopes import decode
from dlqctl.errors import AccessError, DlqctlError, NotFoundError, UsageError
from dlqctl.filters import Selection
from dlqctl.models import Arn, EventEntry, JsonValue, MessageView
from dlqctl.scan import (
    OpenQueue,
    QueueScan,
    moves_when_read,
    readers_for,
    sqs_in_flight_limit,
)
from dlqctl.targets import TargetKind, TargetSend

SAMPLE_SIZE = 100
"""Messages read for the checks (ten receives at most)."""
SAMPLE_SECONDS = 0.05
"""About how long the sample's receives may take in all, when the time of a call is known."""
SAMPLES_PER_GROUP = 3
MAX_PATTERN_TESTS = 200
"""TestEventPattern calls at most for a fan-out preview."""


@dataclass
class Preflight:
    """What the checks found: failures refuse the run (unless forced), warnings are shown,
    ``fan_out`` says which rules will get a bus replay."""

    sampled: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fan_out: list[dict[str, JsonValue]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The fan-out, one line per group of events, for a person."""
        return [fan_out_line(group) for group in self.fan_out]

    def notes(self) -> list[str]:
        """The fan-out of a bus replay, for the prompt and the dry run."""
        return [
            f"rules on the bus that will get these events again: {line}" for line in self.lines()
        ]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "sampled": self.sampled,
            "failures": list(self.failures),
            "warnings": list(self.warnings),
            "fan_out": list(self.fan_out),
        }


def sample_readers(receives: int, call_seconds: float | None) -> int:
    """How many of the sample's ``receives`` to keep under way at once, for calls that take
    ``call_seconds`` (None: not known, all at once).

    The sample is a gate: no message moves before its last receive is back. Far from the
    region its receives go out together (ten one after another would be ten round trips).
    Near it, a few connections carry them within ``SAMPLE_SECONDS`` as well as ten would, and
    each connection opened for the gate is one more handshake whose lost SYN holds the whole
    gate for the kernel's one-second retransmit.
    """
    if call_seconds is None:
        return receives
    return max(1, min(receives, math.ceil(receives * call_seconds / SAMPLE_SECONDS)))


def sample(
    aws: Aws, opened: OpenQueue, selection: Selection, call_seconds: float | None = None
) -> list[MessageView]:
    """Up to ``SAMPLE_SIZE`` selected messages, read with a short hold and released at once;
    their receives under way side by side as ``sample_readers`` says."""
    chooser = selection.fresh()
    # No more than the in-flight cap leaves room for: the sample must not be what hits it.
    room = sqs_in_flight_limit() - opened.attributes.in_flight
    wanted = max(0, min(SAMPLE_SIZE, opened.attributes.visible, room))
    scan = QueueScan(
        aws.sqs,
        opened.queue,
        hold_seconds=30,
        wait_seconds=1,  # a long poll asks every SQS server; a short poll may find nothing
        max_messages=wanted,
    )
    with scan:
        # Side by side as far as the latency calls for: far from the region, one after
        # another they would be most of the time a run takes before its first message moves.
        batches = list(scan.read_ahead(sample_readers(readers_for(scan), call_seconds)))
    return [
        view
        for batch in batches
        for view in (decode(message, opened.context) for message in batch)
        if chooser.selects(view)
    ]


def check(
    aws: Aws,
    opened: OpenQueue,
    destination: Destination,
    selection: Selection,
    *,
    call_seconds: float | None = None,
) -> Preflight:
    """Sample the queue and run every check that applies to the destination (``call_seconds``:
    how long a call takes, when the run timed one)."""
    result = Preflight()
    if opened.attributes.visible == 0:
        return result
    moves = moves_when_read(opened.queue, opened.attributes)
    if moves is not None:  # read before the confirmation, a sample could move messages on
        result.warnings.append(f"no sample was read to check the messages first: {moves}")
        if isinstance(destination, QueueDestination):
            _loop(result, opened, destination)  # needs no sample
        return result
    check_sample(aws, result, destination, sample(aws, opened, selection, call_seconds))
    if isinstance(destination, QueueDestination):
        _loop(result, opened, destination)
    return result


def check_sample(
    aws: Aws, result: Preflight, destination: Destination, views: Sequence[MessageView]
) -> Preflight:
    """The checks on a sample of what would be sent (a queue's, or an export file's first
    records): what cannot be sent, functions to invoke, and a bus replay's fan-out."""
    result.sampled = len(views)
    planned: list[Planned] = []
    failed: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for view in views:
        plan = destination.plan(view)
        if isinstance(plan, Rejected):
            if not plan.skipped:
                alike = _short(plan.reason)
                failed[alike] += 1
                examples.setdefault(alike, plan.reason)
        else:
            planned.append(plan)
    _sends(result, failed, examples, len(views), len(planned) + sum(failed.values()))
    _functions(aws, result, planned)
    if isinstance(destination, BusDestination):
        _fan_out(aws, result, destination.bus, planned)
    return result


_FIGURES = re.compile(r"arn:[^\s;,)]+|\d[\d,.]*")


def _short(reason: str) -> str:
    """A reason without the message's own figures and ARNs, to count alike failures together."""
    return _FIGURES.sub("…", reason)


def _sends(
    result: Preflight,
    failed: Counter[str],
    examples: Mapping[str, str],
    sampled: int,
    to_send: int,
) -> None:
    """Failures counted by kind, each said in the words of its first message (its figures:
    the size, the limit, the ARN); when every sampled message that would be sent (``to_send``:
    those not skipped, as records of successes are) fails, nothing can be sent."""
    if to_send and sum(failed.values()) == to_send:
        reasons = "; ".join(examples[alike] for alike, _ in failed.most_common(3))
        result.failures.append(f"none of the {to_send} sampled message(s) can be sent: {reasons}")
        return
    for alike, count in failed.items():
        like = "" if count == 1 else ", the first of them"
        result.warnings.append(
            f"{count} of {sampled} sampled message(s) will fail and stay{like}: {examples[alike]}"
        )


def _functions(aws: Aws, result: Preflight, planned: Sequence[Planned]) -> None:
    """A function to invoke exists and is not throttled to zero (reserved concurrency is the
    function's, whatever version or alias is invoked: it is asked of the unqualified ARN)."""
    functions = set()
    for item in planned:
        payload = item.payload
        if isinstance(payload, TargetSend) and payload.target.kind is TargetKind.LAMBDA:
            functions.add(unqualified(payload.target.arn))
        elif hasattr(payload, "function_arn"):
            functions.add(unqualified(str(payload.function_arn)))
    for function in sorted(functions):
        try:
            reserved = aws.lambda_.reserved_concurrency(function)
        except NotFoundError:
            result.failures.append(
                f"function {function} does not exist: its invocations would fail; "
                "choose another destination"
            )
            continue
        except DlqctlError as exc:
            result.warnings.append(f"could not check function {function}: {exc.message}")
            continue
        if reserved == 0:
            result.failures.append(
                f"function {function} has a reserved concurrency of 0: every invocation is "
                "throttled; raise it (aws lambda put-function-concurrency) first"
            )


def _loop(result: Preflight, opened: OpenQueue, destination: QueueDestination) -> None:
    policy = destination.attributes.redrive_policy
    if policy is not None and policy.dead_letter_target_arn == opened.queue.arn:
        result.warnings.append(
            f"possible loop: {destination.queue.name} sends the messages it fails on to "
            f"{opened.queue.name}, the DLQ being redriven"
        )


def _fan_out(aws: Aws, result: Preflight, bus: str, planned: Sequence[Planned]) -> None:
    """Which enabled rules on the bus match each group of events (source and detail-type)."""
    groups: dict[str, list[Planned]] = {}
    for item in planned:
        entry = item.payload
        if isinstance(entry, EventEntry):
            groups.setdefault(f"{entry.source} / {entry.detail_type}", []).append(item)
    if not groups:
        return
    try:
        rules = [
            rule
            for rule in aws.events.rules(bus)
            # ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS matches what ENABLED matches
            if str(rule.get("State", "")).startswith("ENABLED") and rule.get("EventPattern")
        ]
    except DlqctlError as exc:
        result.warnings.append(f"could not check the rules of bus {bus}: {exc.message}")
        return
    stamped = _stamp(aws, bus)
    budget = [MAX_PATTERN_TESTS]
    unknown = False
    for name, items in groups.items():
        failed_rules = {item.view.origin.get("rule_arn") for item in items}
        matched: list[JsonValue] = []
        untested: list[JsonValue] = []
        for rule in rules:
            hit = _rule_matches(aws, result, rule, items[:SAMPLES_PER_GROUP], budget, stamped)
            if hit is None:
                return  # the preview stopped: nothing is concluded from it
            if hit is _UNKNOWN:
                unknown = True
                untested.append(str(rule["Name"]))
            elif hit:
                matched.append(
                    {
                        "name": rule["Name"],
                        "arn": rule["Arn"],
                        "failed_here": rule["Arn"] in failed_rules,
                    }
                )
        result.fan_out.append(
            {"events": name, "sampled": len(items), "rules": matched, "untested": untested}
        )
    if not unknown and all(not group["rules"] for group in result.fan_out):
        result.failures.append(
            f"no enabled rule on bus {bus} matches these events: they would be put on the "
            "bus and go nowhere; check the bus and its rules' patterns"
        )


def fan_out_line(group: Mapping[str, Any]) -> str:
    """One group of a fan-out preview for a person: the rules that match it, marked when their
    target is the one that failed, and the rules that could not be tested (then "nowhere" is
    not concluded)."""
    names = ", ".join(
        rule["name"] + (" (its target failed)" if rule["failed_here"] else "")
        for rule in group["rules"]
    )
    untested = ", ".join(group.get("untested") or ())
    if untested:
        names = f"{names}; " if names else ""
        names += f"could not test {untested}"
    return f"{group['events']} ({group['sampled']} sampled) → " + (
        names or "no enabled rule: these events would go nowhere"
    )


def _rule_matches(
    aws: Aws,
    result: Preflight,
    rule: dict[str, Any],
    items: Sequence[Planned],
    budget: list[int],
    stamped: Mapping[str, str],
) -> bool | object | None:
    """Whether the rule matches any of the events; ``_UNKNOWN`` when it could not be tested,
    None when the preview must stop."""
    for item in items:
        if budget[0] <= 0:
            result.warnings.append(
                f"the fan-out preview stopped after {MAX_PATTERN_TESTS} pattern tests"
            )
            return None
        budget[0] -= 1
        try:
            if aws.events.pattern_matches(str(rule["EventPattern"]), _event(item, stamped)):
                return True
        except AccessError as exc:
            result.warnings.append(f"could not test the rules' patterns: {exc.message}")
            return None
        except DlqctlError as exc:
            result.warnings.append(f"could not test rule {rule['Name']}: {exc.message}")
            return _UNKNOWN
    return False


_UNKNOWN = object()
"""A rule whose pattern could not be tested (a warning; no conclusion drawn)."""


def _stamp(aws: Aws, bus: str) -> dict[str, str]:
    """What EventBridge sets on every event PutEvents puts on ``bus``, whatever the original
    said: the account of the caller, the bus's region, a new ID and version "0"."""
    arn = Arn.parse(bus)
    try:
        account = aws.account_id()
    except DlqctlError:
        account = "000000000000"  # not known: a pattern on the account may not match
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "account": account,
        "region": arn.region if arn is not None and arn.region else aws.region,
    }


def _event(item: Planned, stamped: Mapping[str, str]) -> dict[str, JsonValue]:
    """The event EventBridge would match for a planned PutEvents entry: the original event
    with what the replay rewrites and what EventBridge sets (``_stamp``)."""
    entry = item.payload
    original = item.view.event if isinstance(item.view.event, dict) else {}
    return {
        "time": "2000-01-01T00:00:00Z",
        **{key: value for key, value in original.items() if key != "detail"},
        **stamped,
        "detail-type": entry.detail_type,
        "source": entry.source,
        "resources": list(entry.resources),
        "detail": json.loads(entry.detail),
    }


def enforce(result: Preflight, *, force: bool) -> None:
    """Refuse (exit 2, nothing sent) when a check failed, unless forced."""
    if result.failures and not force:
        raise UsageError(
            f"pre-flight check failed: {result.failures[0]}"
            + (f" (and {len(result.failures) - 1} more)" if len(result.failures) > 1 else ""),
            "fix it, or pass --force to send anyway",
        )
