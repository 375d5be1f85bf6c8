"""What a rule's target receives for an event: EventBridge's ``Input``, ``InputPath`` and
``InputTransformer`` (``InputPathsMap`` and ``InputTemplate``), applied as EventBridge applies
them, so a replay to one target is sent in the form that target gets from its rule.

The rules, each checked against AWS's own deliveries in ``tests/fixtures/input_transformer.json``
(recorded against AWS): no option sends the whole event as compact JSON; ``Input`` is sent as
given; ``InputPath`` sends the JSON of the value at the path (a string with its quotes). In a
template, a placeholder inside a JSON string is replaced by the value's text (a missing path by
nothing); outside a string, in a template that is a JSON object or array, by the value's JSON (a
missing path by ``""``). ``<aws.events.event>`` is the event without its detail (``detailType``
for ``detail-type``), ``<aws.events.event.json>`` the whole event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MISSING = object()
"""What a path finds where the event has nothing."""


class InputError(ValueError):
    """The target's input configuration cannot be applied to this event (the reason)."""


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def at_path(event: Mapping[str, Any], path: str) -> Any:
    """The value at an EventBridge JSON path (``$``, ``$.detail.x``, ``$.a[0]``), or
    ``MISSING``."""
    if not path.startswith("$"):
        raise InputError(f"{path!r} is not a JSON path")
    value: Any = event
    for key, index in _PATH_PART.findall(path[1:]):
        if key:
            if not isinstance(value, Mapping) or key not in value:
                return MISSING
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return MISSING
            value = value[int(index)]
    return value


@dataclass(frozen=True)
class TargetInput:
    """A target's input options (as ListTargetsByRule gives them)."""

    input: str | None = None
    input_path: str | None = None
    paths: Mapping[str, str] | None = None
    template: str | None = None

    @classmethod
    def from_api(cls, target: Mapping[str, Any]) -> TargetInput:
        transformer = target.get("InputTransformer") or {}
        return cls(
            input=target.get("Input"),
            input_path=target.get("InputPath"),
            paths=transformer.get("InputPathsMap") or {},
            template=transformer.get("InputTemplate"),
        )

    def describe(self) -> str:
        if self.input is not None:
            return "a constant Input"
        if self.input_path is not None:
            return f"InputPath {self.input_path}"
        if self.template is not None:
            return "an InputTransformer"
        return "the whole event"

    def render(self, event: Mapping[str, Any], rule_arn: str) -> str:
        """What the target receives for ``event``."""
        if self.input is not None:
            return self.input
        if self.input_path is not None:
            value = at_path(event, self.input_path)
            if value is MISSING:
                raise InputError(f"the event has nothing at InputPath {self.input_path}")
            return compact(value)
        if self.template is not None:
            return self._transform(event, rule_arn, self.template)
        return compact(event)

    def _transform(self, event: Mapping[str, Any], rule_arn: str, template: str) -> str:
        values = {name: at_path(event, path) for name, path in (self.paths or {}).items()}
        values.update(_predefined(event, rule_arn))
        structured = template.lstrip().startswith(("{", "["))
        out: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(template):
            if match.group(1) not in values:
                continue  # not a placeholder of this template: literal text
            out.append(template[position : match.start()])
            value = values[match.group(1)]
            inside = _inside_string(template, match.start())
            out.append(_insert(value, match.group(1), inside=inside, structured=structured))
            position = match.end()
        out.append(template[position:])
        return "".join(out)


def _predefined(event: Mapping[str, Any], rule_arn: str) -> dict[str, Any]:
    without_detail = {
        "id": event.get("id"),
        "account": event.get("account"),
        "detailType": event.get("detail-type"),
        "time": event.get("time"),
        "source": event.get("source"),
        "region": event.get("region"),
        "resources": event.get("resources", []),
        "version": event.get("version"),
    }
    return {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_arn.rsplit("/", 1)[-1],
        # The original ingestion time is not in the DLQ message; the event's time is.
        "aws.events.event.ingestion-time": event.get("time"),
        "aws.events.event": without_detail,
        "aws.events.event.json": dict(event),
    }


def _inside_string(template: str, end: int) -> bool:
    """Whether position ``end`` of the template is inside a JSON string literal."""
    inside = False
    escaped = False
    for char in template[:end]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside


def _insert(value: Any, name: str, *, inside: bool, structured: bool) -> str:
    if inside:
        if value is MISSING:
            return ""
        if isinstance(value, dict | list):
            raise InputError(
                f"the template puts <{name}>, an object or a list, inside quotes: "
                "EventBridge does not deliver that"
            )
        text = value if isinstance(value, str) else compact(value)
        return compact(text)[1:-1]  # escaped to stay one JSON string
    if value is MISSING:
        return '""'
    if isinstance(value, str) and not structured:
        return value
    return compact(value)
