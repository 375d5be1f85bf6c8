"""A target's input, as EventBridge delivers it: checked against AWS's own deliveries.

Every case in ``tests/fixtures/input_transformer.json`` is a body an SQS target received from
real AWS (LocalStack snapshot files recorded against AWS; each case cites its file and commit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlqctl.target_input import InputError, TargetInput

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "input_transformer.json").read_text()
)
CASES = {case["name"]: case for case in FIXTURE["cases"]}


def _drop(value: Any, path: str) -> None:
    """Remove ``$.a.b`` from a parsed body (a value the recording masked)."""
    *parents, last = path.removeprefix("$.").split(".")
    for part in parents:
        value = value[part]
    value.pop(last, None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_input_is_what_aws_delivered(name):
    case = CASES[name]
    rendered = TargetInput.from_api(case["target"]).render(
        case["event"], case.get("rule_arn", "arn:aws:events:us-east-1:1:rule/r")
    )
    if case["expected_body_match"] == "exact":
        assert rendered == case["expected_body"]
        return
    got, expected = json.loads(rendered), json.loads(case["expected_body"])
    for path in case.get("ignore_paths", []):
        _drop(got, path)
        _drop(expected, path)
    assert got == expected
    assert list(got) == list(expected)  # AWS's key order too


def test_an_object_inside_quotes_is_refused_as_eventbridge_refuses_to_deliver_it():
    target = TargetInput(paths={"payload": "$.detail"}, template='{"p": "<payload>"}')
    with pytest.raises(InputError, match="inside quotes"):
        target.render({"detail": {"a": 1}}, "arn:aws:events:us-east-1:1:rule/r")


def test_a_missing_input_path_is_a_reason_not_an_empty_message():
    with pytest.raises(InputError, match="nothing at InputPath"):
        TargetInput(input_path="$.detail.nope").render({"detail": {}}, "arn")
