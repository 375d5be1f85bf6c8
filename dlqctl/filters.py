"""The filter language: JMESPath over a message's JSON view, plus flags that compile to it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jmespath
import jmespath.exceptions

from dlqctl.errors import UsageError
from dlqctl.models import MessageView

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``15m``, ``2h``, ``3d``, ``1w`` or ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION_PART.sub("", compact):
        raise UsageError(
            f"bad duration {text!r}", "use a number and a unit: 90s, 15m, 2h, 3d, 1w or 1h30m"
        )
    return sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(compact)
    )


def _literal(value: Any) -> str:
    """A JMESPath JSON literal for ``value``."""
    return "`" + json.dumps(value).replace("`", "\\`") + "`"


@dataclass(frozen=True)
class Selection:
    """Which messages a command acts on; ``expression`` is the whole filter as JMESPath."""

    expression: str | None = None
    _compiled: Any = None

    def matches(self, view: Mapping[str, Any]) -> bool:
        """Whether a message's JSON view is selected. A type error in the filter means 'no'."""
        if self._compiled is None:
            return True
        try:
            return bool(self._compiled.search(view))
        except jmespath.exceptions.JMESPathError:
            return False

    def selects(self, view: MessageView) -> bool:
        """Whether a decoded message is selected (its JSON view is built only for a filter)."""
        return self._compiled is None or self.matches(view.to_json())

    @property
    def is_everything(self) -> bool:
        return self._compiled is None


def build_selection(
    expression: str | None = None,
    *,
    older_than: str | None = None,
    newer_than: str | None = None,
    error_contains: str | None = None,
    kind: str | None = None,
) -> Selection:
    """Combine ``--filter`` and the convenience flags into one compiled expression.

    Raises UsageError for a bad expression or duration, before any AWS call is made.
    """
    clauses: list[str] = []
    if expression:
        clauses.append(f"({expression})")
    if older_than:
        clauses.append(f"age_seconds > {_literal(parse_duration(older_than))}")
    if newer_than:
        clauses.append(f"age_seconds <= {_literal(parse_duration(newer_than))}")
    if error_contains:
        text = _literal(error_contains)
        clauses.append(
            f"(contains(error.message || '', {text}) || contains(error.code || '', {text}))"
        )
    if kind:
        clauses.append(f"kind == {_literal(kind)}")
    if not clauses:
        return Selection()
    combined = " && ".join(clauses)
    try:
        compiled = jmespath.compile(combined)
    except jmespath.exceptions.JMESPathError as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(
            f"bad filter expression {expression!r}: {detail}",
            "the filter is JMESPath over the message view, e.g. \"kind=='lambda-dlq'\"",
        ) from exc
    return Selection(combined, compiled)
