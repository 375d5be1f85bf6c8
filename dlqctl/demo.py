"""The narrated demo incident: a local endpoint, a bad release, and the operator's commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from dlqctl import render
from dlqctl.aws import Aws, Connection
from dlqctl.sandbox import (
    deploy_demo_stack,
    fail_jobs,
    order_events,
    run_traffic,
    start_local_endpoint,
)

REGION = "us-east-1"


def run_demo(run_command: Callable[[Sequence[str]], int], order_count: int = 160) -> int:
    """Run the incident end to end; ``run_command`` runs one dlqctl command line.

    Returns 0 when every step did what it should, else the first failing command's exit code.
    """
    render.step("1. A local AWS endpoint (moto's server), no account needed")
    endpoint = start_local_endpoint()
    saved = {name: os.environ.get(name) for name in _DEMO_ENVIRONMENT}
    os.environ.update({**_DEMO_ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint.url})
    try:
        render.narrate(f"export AWS_ENDPOINT_URL={endpoint.url} AWS_REGION={REGION}")
        aws = Aws(Connection(region=REGION, endpoint_url=endpoint.url))

        render.step("2. The stack: bus 'shop' → rule → order-processor, failures → orders-dlq")
        stack = deploy_demo_stack(aws, REGION)
        render.narrate(f"rule {stack.rule_arn}\n  DLQ {stack.dlq.url}")

        render.step("3. 02:58 a release of order-processor accepts only schemaVersion 2")
        events = order_events(order_count)
        traffic = run_traffic(
            aws, stack, events, accepted_versions="2", undeliverable={5, 6, 7, 40}
        )
        fail_jobs(aws, stack, 4)
        render.narrate(
            f"{len(events)} orders: {traffic.processed} processed, "
            f"{traffic.function_failures} failed in the function (3 tries each), "
            f"{traffic.delivery_failures} not delivered by the rule; "
            "4 payout jobs failed in another team's queue"
        )

        render.step("4. The page: which DLQs have messages, and what feeds them?")
        steps: list[list[str]] = [
            ["dlqctl", "list"],
            ["dlqctl", "summary", "orders-dlq"],
            ["dlqctl", "peek", "orders-dlq", "--error-contains", "schemaVersion", "--limit", "5"],
            ["dlqctl", "peek", "orders-dlq", "--filter", "kind=='eventbridge-dlq'", "--limit", "3"],
            ["dlqctl", "peek", "orders-dlq", "--filter", "event.detail.currency=='JPY'"],
        ]
        for argv in steps:
            render.command_line(argv)
            code = run_command(argv[1:])
            if code != 0:
                render.error(f"demo step failed with exit code {code}: {' '.join(argv)}")
                return code
        render.step("Done: every message is still in the DLQ, untouched")
        return 0
    finally:
        endpoint.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_DEMO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ENDPOINT_URL": "",
    "DLQCTL_OUTPUT": "table",
}
