"""summary groups a real queue's messages; filters select exactly the right messages."""

from __future__ import annotations

import pytest

from dlqctl import emulate
from tests.helpers import counts, create_queue, put

RULE = "arn:aws:events:us-east-1:123456789012:rule/shop/orders"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:process"


def seed(endpoint):
    queue = create_queue(endpoint, "orders-dlq")
    messages = [
        emulate.lambda_dlq(
            emulate.event({"orderId": f"o-{n}"}), f"Order o-{n} declined: amount {n} too large"
        )
        for n in range(7)
    ]
    messages += [
        emulate.eventbridge_dlq(
            emulate.event(
                {"orderId": f"p-{n}"}, source="shop.payments", detail_type="PaymentFailed"
            ),
            rule_arn=RULE,
            target_arn=TARGET,
            error_code="TIMEOUT",
            error_message="Timeout invoking target",
            retry_attempts=185,
            exhausted_retry_condition="MaximumRetryAttempts",
        )
        for n in range(3)
    ]
    ids = put(endpoint, queue, messages)
    return queue, ids


def test_summary_groups_by_kind_error_origin_and_event(cli, fresh_endpoint):
    queue, _ = seed(fresh_endpoint)
    result = cli("summary", "orders-dlq", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["queue"] == "orders-dlq" and data["total"] == 10
    assert [(g["kind"], g["count"]) for g in data["by_kind"]] == [
        ("lambda-dlq", 7),
        ("eventbridge-dlq", 3),
    ]
    assert [(g["code"], g["message"], g["count"]) for g in data["by_error"]] == [
        ("200", "Order o-<n> declined: amount <n> too large", 7),
        ("TIMEOUT", "Timeout invoking target", 3),
    ]
    origins = {(g["origin"], g["target"]): g["count"] for g in data["by_origin"]}
    assert origins[(RULE, TARGET)] == 3
    events = {(g["source"], g["detail_type"]): g["count"] for g in data["by_event"]}
    assert events == {("shop.orders", "OrderPlaced"): 7, ("shop.payments", "PaymentFailed"): 3}
    assert sum(bucket["count"] for bucket in data["histogram"]["buckets"]) == 10
    assert data["first_seen"] and data["last_seen"]
    assert counts(fresh_endpoint, queue) == (10, 0)


def test_summary_table_draws_the_histogram(cli, fresh_endpoint):
    seed(fresh_endpoint)
    result = cli("summary", "orders-dlq", "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert "By error" in result.stdout and "Failures over time" in result.stdout
    assert "█" in result.stdout


@pytest.mark.parametrize("columns", [80, 60])
def test_a_narrow_summary_still_shows_each_error_and_origin(cli, fresh_endpoint, columns):
    # At 80 columns (a default terminal) each grouping used to give every key the same width:
    # "NO_PERMISS…", "arn:aws:ev…". Now kind and code share a column, so do origin and target
    # (named, not whole ARNs), and the error message has the rest.
    queue = create_queue(fresh_endpoint, "orders-dlq")
    put(
        fresh_endpoint,
        queue,
        [
            emulate.eventbridge_dlq(
                emulate.event({"orderId": "o-2"}),
                rule_arn=RULE,
                target_arn=f"{TARGET}:live",
                error_code="NO_PERMISSIONS",
                error_message="Not authorized to invoke the target",
                retry_attempts=0,
            ),
            emulate.lambda_dlq(emulate.event({"orderId": "o-1"}), "ValueError: amount too large"),
        ],
    )
    result = cli("summary", "orders-dlq", "-o", "table", columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    cells = {cell.strip() for line in lines for cell in line.split("│")}
    assert {"eventbridge-dlq", "NO_PERMISSIONS", "shop/orders", "process:live"} <= cells
    # The "By error" table's message column, its wrapped lines joined.
    errors = lines[[line.strip() for line in lines].index("By error") :]
    header = next(line for line in errors if "┃" in line and "message" in line)
    at = [cell.strip() for cell in header.split("┃")].index("message")
    text = " ".join(line.split("│")[at].strip() for line in errors if line.count("│") > at)
    assert "Not authorized to invoke the target" in text
    assert "ValueError: amount too large" in text


def test_filters_select_exactly_the_right_messages(cli, fresh_endpoint):
    queue, ids = seed(fresh_endpoint)
    lambda_ids, rule_ids = set(ids[:7]), set(ids[7:])

    def selected(*args):
        result = cli("peek", "orders-dlq", "--all", "-o", "json", *args)
        assert result.exit_code == 0, result.stderr
        return {view["message_id"] for view in result.json()}

    assert (
        selected("--filter", "kind=='eventbridge-dlq' && contains(error.message, 'Timeout')")
        == rule_ids
    )
    assert selected("--kind", "lambda-dlq") == lambda_ids
    assert selected("--error-contains", "TIMEOUT") == rule_ids
    assert selected("--filter", "event.detail.orderId == 'o-3'") == {ids[3]}
    assert selected("--older-than", "1h") == set()
    assert selected("--newer-than", "1h") == set(ids)
    assert (
        selected("--filter", "origin.retry_attempts == '185'", "--kind", "eventbridge-dlq")
        == rule_ids
    )
    # A summary takes the same selection.
    summary = cli("summary", "orders-dlq", "--kind", "eventbridge-dlq", "-o", "json").json()
    assert summary["total"] == 3
    assert counts(fresh_endpoint, queue) == (10, 0)


def test_peek_limit_counts_matches_not_receives(cli, fresh_endpoint):
    seed(fresh_endpoint)
    result = cli("peek", "orders-dlq", "--kind", "eventbridge-dlq", "--limit", "2", "-o", "json")
    assert [view["kind"] for view in result.json()] == ["eventbridge-dlq"] * 2
