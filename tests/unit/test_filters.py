"""The filter language: durations, flag compilation and evaluation over message views."""

from __future__ import annotations

import pytest

from dlqctl.envelopes import decode
from dlqctl.errors import UsageError
from dlqctl.filters import build_selection, parse_duration
from dlqctl.models import ReceivedMessage


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("3d", 259200), ("1w", 604800), ("1h30m", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "2x", "1h-", "ten minutes"])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_duration(text)


VIEWS = [
    {
        "kind": "lambda-dlq",
        "error": {"code": "200", "message": "Timeout after 3s"},
        "age_seconds": 30,
    },
    {
        "kind": "eventbridge-dlq",
        "error": {"code": "NO_PERMISSIONS", "message": "denied"},
        "age_seconds": 7200,
    },
    {"kind": "sns", "error": None, "age_seconds": 100000},
    {"kind": "unknown", "error": None, "age_seconds": None},
]


def selected(selection):
    return [index for index, view in enumerate(VIEWS) if selection.matches(view)]


def test_no_filter_selects_everything():
    selection = build_selection()
    assert selection.is_everything
    assert selected(selection) == [0, 1, 2, 3]


def test_expression_and_flags_combine():
    assert selected(build_selection("kind=='lambda-dlq'")) == [0]
    assert selected(build_selection(older_than="1h")) == [1, 2]
    assert selected(build_selection(newer_than="1h")) == [0]
    assert selected(build_selection(error_contains="Timeout")) == [0]
    assert selected(build_selection(error_contains="NO_PERM")) == [1]
    assert selected(build_selection(kind="sns")) == [2]
    assert selected(build_selection("error != null", older_than="1m")) == [1]


def test_a_type_error_on_one_message_means_not_selected():
    selection = build_selection("contains(error.message, 'denied')")
    assert selected(selection) == [1]


def test_quotes_and_backticks_in_text_are_literal():
    selection = build_selection(error_contains="it's `odd`")
    assert selection.matches({"error": {"code": None, "message": "so it's `odd` here"}})
    assert not selection.matches({"error": {"code": None, "message": "its odd"}})


@pytest.mark.parametrize("expression", ["kind ==", "foo[", "&&", "contains(("])
def test_bad_expression_is_a_usage_error(expression):
    with pytest.raises(UsageError) as caught:
        build_selection(expression)
    assert "bad filter expression" in caught.value.message


def test_a_filter_that_does_not_stand_alone_is_refused_before_it_meets_the_flags():
    # Pasted into "(…) && age_seconds > 3600" it would compile, and select every sqs message
    # whatever its age: "(kind=='sqs') || (kind=='sns') && age_seconds > 3600".
    with pytest.raises(UsageError, match="bad filter expression"):
        build_selection("kind=='sqs') || (kind=='sns'", older_than="1h")


@pytest.mark.parametrize(
    ("value", "chosen"),
    [(0, True), (0.0, True), (1, True), ("", False), ("x", True), ([], False), ([0], True),
     ({}, False), ({"a": 1}, True), (None, False), (False, False), (True, True)],
)  # fmt: skip
def test_a_filter_is_true_as_jmespath_has_it(value, chosen):
    """JMESPath's spec: false, null, and an empty string, array or object are false; numbers,
    0 included, are true (jmespath.org/specification.html, "Or Expressions")."""
    assert build_selection("json.retries").matches({"json": {"retries": value}}) is chosen


def test_a_function_that_cannot_take_a_value_is_no_match():
    selection = build_selection("ceil(json.amount) > `1`")
    assert selection.matches({"json": {"amount": float("inf")}}) is False
    assert selection.matches({"json": {"amount": float("nan")}}) is False
    assert selection.matches({"json": {"amount": 2.5}}) is True


def test_functions_that_take_an_object_take_a_decoded_messages_view():
    """JMESPath's functions check an object's type by its class: a view is a plain dict."""
    view = decode(ReceivedMessage("id-1", "handle", '{"source":"s","detail-type":"d","detail":{}}'))
    for expression in (
        "contains(keys(@), 'json')",
        "length(@) > `5`",
        "contains(values(@), 'unknown')",
        "merge(@, `{}`).kind == 'unknown'",
    ):
        selection = build_selection(expression)
        assert selection.selects(view), expression
