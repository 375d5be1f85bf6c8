"""The order processor: validates an order event from the bus and fails on the bad ones.

Unhandled exceptions make Lambda retry the async invocation and, after the last retry, write
the event to the function's dead-letter queue with the error message, which is what dlqctl
then shows, summarises and redrives.

``ACCEPTED_SCHEMA_VERSIONS`` (comma-separated) is the switch of the demo incident: a release
that accepts only version 2 rejects every order still sent as version 1.
"""

from __future__ import annotations

import json
import os
from typing import Any

SUPPORTED_CURRENCIES = frozenset({"USD", "EUR", "GBP"})


class InvalidOrder(ValueError):
    """The order itself is wrong: replaying it will fail again."""


class UnsupportedSchema(ValueError):
    """The order is fine but this release does not accept its schema version."""


def accepted_versions() -> set[str]:
    value = os.environ.get("ACCEPTED_SCHEMA_VERSIONS", "1,2")
    return {part.strip() for part in value.split(",") if part.strip()}


def validate(detail: dict[str, Any]) -> dict[str, Any]:
    """Check an order's detail; returns what the processor records for it."""
    version = str(detail.get("schemaVersion", "1"))
    if version not in accepted_versions():
        raise UnsupportedSchema(
            f"unsupported schemaVersion {version} for order {detail.get('orderId')}"
        )
    order_id = detail.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidOrder("order has no orderId")
    amount = detail.get("amount")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        raise InvalidOrder(f"order {order_id} has an invalid amount {amount!r}")
    currency = detail.get("currency")
    if currency not in SUPPORTED_CURRENCIES:
        raise InvalidOrder(f"order {order_id} has an unsupported currency {currency!r}")
    return {"orderId": order_id, "amount": amount, "currency": currency, "status": "accepted"}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point for an EventBridge order event."""
    detail = event.get("detail")
    if isinstance(detail, str):
        detail = json.loads(detail)
    if not isinstance(detail, dict):
        raise InvalidOrder("event has no detail object")
    result = validate(detail)
    print(json.dumps({"processed": result, "eventId": event.get("id")}))
    return result
