"""The filter language: JMESPath over a message's JSON view, plus flags that compile to it."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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


@dataclass
class Tally:
    """How many messages a selection looked at and selected (shared by a run's workers)."""

    looked_at: int = 0
    selected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, selected: bool) -> bool:
        with self._lock:
            self.looked_at += 1
            self.selected += selected
        return selected


@dataclass(frozen=True)
class Selection:
    """Which messages a command acts on.

    ``expression`` is the JMESPath part (``--filter`` and the age and kind flags);
    ``error_text`` is ``--error-contains``, matched case-insensitively against the error's code
    and message; ``description`` is the selection in the user's own words, for plans.
    """

    expression: str | None = None
    _compiled: Any = None
    error_text: str | None = None
    description: str | None = None
    tally: Tally = field(default_factory=Tally, compare=False)

    def matches(self, view: Mapping[str, Any]) -> bool:
        """Whether a message's JSON view is selected: the filter's value is true as JMESPath
        has it (every number is true, 0 too; null, false and empty strings, lists and objects
        are false). A type error in the filter, or a function that cannot take the message's
        value (``ceil`` of an infinite number), means 'no'."""
        if self.error_text is not None and not _error_contains(view, self.error_text):
            return False
        if self._compiled is None:
            return True
        try:
            return _truthy(self._compiled.search(view))
        except (jmespath.exceptions.JMESPathError, ArithmeticError, ValueError):
            return False

    def selects(self, view: MessageView) -> bool:
        """Whether a decoded message is selected (its JSON view is built only for a filter)."""
        return self.is_everything or self.tally.count(self.matches(view.to_json()))

    @property
    def is_everything(self) -> bool:
        return self._compiled is None and self.error_text is None

    @property
    def names_messages(self) -> bool:
        """Whether it picks messages by ID (a saved plan's): it takes them even if they look
        as if they arrived after the run began."""
        return False

    def fresh(self) -> Selection:
        """The same selection with counts of its own (to look at a sample, say)."""
        return replace(self, tally=Tally())


def _truthy(value: Any) -> bool:
    """JMESPath's truth: only null, false, and an empty string, list or object are false."""
    return not (
        value is None or value is False or (isinstance(value, str | list | dict) and not value)
    )


def _error_contains(view: Mapping[str, Any], folded: str) -> bool:
    error = view.get("error")
    if not isinstance(error, Mapping):
        return False
    return any(folded in str(error.get(part) or "").casefold() for part in ("code", "message"))


_SAMPLE_VIEW: dict[str, Any] = {
    "message_id": "m",
    "body": "{}",
    "json": {},
    "kind": "unknown",
    "error": {"code": "c", "message": "m"},
    "event": {"source": "s", "detail-type": "t", "detail": {}},
    "payload": {},
    "origin": {},
    "replayable": True,
    "not_replayable_reason": None,
    "message_attributes": {},
    "attributes": {},
    "receive_count": 1,
    "sent_at": "2026-01-01T00:00:00.000Z",
    "age_seconds": 1.0,
    "expires_at": "2026-01-05T00:00:00.000Z",
    "expires_in_seconds": 1.0,
    "expiry_approximate": False,
}
"""A message view with every key, to try a filter on before any AWS call."""


def _check_functions(compiled: Any, expression: str) -> None:
    """Evaluate the filter once on a sample view, so an unknown function or a wrong number of
    arguments is reported before any AWS call (JMESPath finds those only when it runs)."""
    try:
        compiled.search(_SAMPLE_VIEW)
    except (
        jmespath.exceptions.UnknownFunctionError,
        jmespath.exceptions.ArityError,
        jmespath.exceptions.VariadictArityError,
    ) as exc:
        raise UsageError(
            f"bad filter expression {expression!r}: {' '.join(str(exc).split())}",
            "see the JMESPath functions (contains, starts_with, length, …) and their arguments",
        ) from exc
    except jmespath.exceptions.JMESPathError:
        pass  # a type error on this sample says nothing about real messages


def build_selection(
    expression: str | None = None,
    *,
    older_than: str | None = None,
    newer_than: str | None = None,
    error_contains: str | None = None,
    kind: str | None = None,
    expiring_within: str | None = None,
) -> Selection:
    """Combine ``--filter`` and the convenience flags into one selection.

    Raises UsageError for a bad expression, function or duration, before any AWS call is made.
    """
    clauses: list[str] = []
    words: list[str] = []
    if expression:
        clauses.append(f"({expression})")
        words.append(f"--filter {expression!r}")
    if older_than:
        clauses.append(f"age_seconds > {_literal(parse_duration(older_than))}")
        words.append(f"--older-than {older_than}")
    if newer_than:
        clauses.append(f"age_seconds <= {_literal(parse_duration(newer_than))}")
        words.append(f"--newer-than {newer_than}")
    if kind:
        clauses.append(f"kind == {_literal(kind)}")
        words.append(f"--kind {kind}")
    if expiring_within:
        seconds = _literal(parse_duration(expiring_within))
        clauses.append(f"expires_in_seconds != null && expires_in_seconds <= {seconds}")
        words.append(f"--expiring-within {expiring_within}")
    if error_contains:
        words.append(f"--error-contains {error_contains!r}")
    description = " ".join(words) or None
    error_text = error_contains.casefold() if error_contains else None
    if not clauses:
        return Selection(error_text=error_text, description=description)
    combined = " && ".join(clauses)
    try:
        if expression:  # alone first: "a) || (b" must not combine with the flags as it reads
            jmespath.compile(expression)
        compiled = jmespath.compile(combined)
    except jmespath.exceptions.JMESPathError as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(
            f"bad filter expression {expression!r}: {detail}",
            "the filter is JMESPath over the message view, e.g. \"kind=='lambda-dlq'\"",
        ) from exc
    _check_functions(compiled, expression or combined)
    return Selection(combined, compiled, error_text, description)
