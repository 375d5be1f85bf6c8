"""The narrated demo incident: a local endpoint, a bad release, and the operator's commands."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlqctl import render
from dlqctl.aws import Aws, Connection
from dlqctl.choices import DEFAULT_STACK
from dlqctl.errors import DemoFailed, Interrupted
from dlqctl.local_endpoint import LocalEndpoint, start_local_endpoint
from dlqctl.stack import StackSettings, deploy
from dlqctl.traffic import (
    Traffic,
    create_payout_queues,
    fail_jobs,
    live_processor,
    order_events,
    process_inbox,
    publish,
    sandbox_stack,
)

REGION = "us-east-1"
PAYOUT_FAILURES = 4
"""Payout jobs that fail in another team's queue (its DLQ is in the demo's listing)."""
_DEMO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass
class DemoStep:
    """One dlqctl command the demo ran, its exit code and (in a recorded run) its JSON."""

    command: list[str]
    exit_code: int
    output: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "exit_code": self.exit_code, "output": self.output}


@dataclass
class DemoReport:
    """What the demo did: the traffic of the bad release, the replay, and every command."""

    stack: str = DEFAULT_STACK
    dlq: str = ""
    published: int = 0
    bad_release: Traffic = field(default_factory=Traffic)
    replay: Traffic = field(default_factory=Traffic)
    archived: int = 0
    steps: list[DemoStep] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "dlq": self.dlq,
            "bad_release": {
                "published": self.published,
                "processed": self.bad_release.processed,
                "function_failures": self.bad_release.function_failures,
                "delivery_failures": self.bad_release.delivery_failures,
                "payout_failures": PAYOUT_FAILURES,
            },
            "recovered": self.replay.processed,
            "failed_again": self.replay.function_failures,
            "archived": self.archived,
            "steps": [step.to_json() for step in self.steps],
        }


def run_demo(
    run_command: Callable[[Sequence[str]], int], order_count: int = 160, *, record: bool = False
) -> DemoReport:
    """Run the incident end to end; ``run_command`` runs one dlqctl command line.

    The narration goes to stderr and each command's table to stdout; with ``record``, each
    command prints JSON instead, and the report keeps it (stdout is left to the report).
    Raises DemoFailed when a step does not do what it should.
    """
    render.step("1. A local AWS endpoint (moto's server), no account needed")
    endpoint = start_local_endpoint()
    with _demo_environment(endpoint, "json" if record else "table") as workdir:
        return _incident(run_command, endpoint, workdir, order_count, record=record)


@contextmanager
def _demo_environment(endpoint: LocalEndpoint, output: str) -> Iterator[Path]:
    """The demo's environment: the local endpoint, demo credentials, the commands' output
    format, and a folder of its own for its journals and archive; all undone (the endpoint
    stopped, the folder removed) at the end."""
    names = [
        *_DEMO_ENVIRONMENT,
        "DLQCTL_OUTPUT",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "XDG_STATE_HOME",
    ]
    saved = {name: os.environ.get(name) for name in names}
    workdir = Path(tempfile.mkdtemp(prefix="dlqctl-demo-"))
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            **_DEMO_ENVIRONMENT,
            "DLQCTL_OUTPUT": output,
            "AWS_ENDPOINT_URL": endpoint.url,
            "XDG_STATE_HOME": str(workdir / "state"),
        }
    )
    try:
        yield workdir
    finally:
        endpoint.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _incident(
    run_command: Callable[[Sequence[str]], int],
    endpoint: LocalEndpoint,
    workdir: Path,
    order_count: int,
    *,
    record: bool,
) -> DemoReport:
    """Steps 2 to 7: the stack, the bad release, the page, the fix, the replay, the cleanup."""
    report = DemoReport()

    def run(*argv: str) -> None:
        report.steps.append(_step(run_command, argv, record=record))

    render.narrate(
        f"export AWS_ENDPOINT_URL={endpoint.url} AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}"
    )
    aws = Aws(Connection(region=REGION, endpoint_url=endpoint.url))

    render.step("2. Deploy the bundled stack: bus → rule → order-processor, failures → DLQ")
    deployed = deploy(aws, DEFAULT_STACK, StackSettings(sandbox=True))
    stack = sandbox_stack(aws, DEFAULT_STACK)
    report.dlq = stack.dlq.name
    render.narrate(
        f"stack {deployed.name}: {deployed.status}, {len(deployed.changes)} resources\n"
        f"rule {stack.rule_arn}\nDLQ  {stack.dlq.url}"
    )
    payouts = create_payout_queues(aws)

    render.step("3. A release of order-processor that accepts only schemaVersion 2 goes out")
    events = order_events(order_count)
    published = publish(aws, stack, events)
    traffic = process_inbox(aws, stack, accepted_versions="2", undeliverable=4)
    fail_jobs(aws, payouts, PAYOUT_FAILURES)
    report.published, report.bad_release = published, traffic
    render.narrate(
        f"{published} orders on the bus: {traffic.processed} processed, "
        f"{traffic.function_failures} failed in the function (3 tries each), "
        f"{traffic.delivery_failures} not delivered (the rule lost its invoke permission "
        f"for a moment); and {PAYOUT_FAILURES} payout jobs failed in another team's queue"
    )

    render.step("4. The page: what is in the DLQs, where from, and why?")
    run("list")
    run("summary", "orders-dlq")
    run("peek", "orders-dlq", "--error-contains", "schemaVersion", "--limit", "3")
    run("peek", "orders-dlq", "--kind", "eventbridge-dlq", "--limit", "2")

    render.step("5. The fix: roll back to a release that accepts schemaVersion 1 and 2")
    render.narrate("ACCEPTED_SCHEMA_VERSIONS=1,2; the invoke permission is back too")

    render.step(
        "6. Replay what failed because of the release: plan it, then a canary of 20, "
        "watched for 5 s, before the rest"
    )
    plan = workdir / "replay-plan.json"
    run(
        "redrive", "orders-dlq", "--to-bus", "shop", "--error-contains", "schemaVersion",
        "--canary", "20", "--watch", "5s", "--max-return-rate", "25%",
        "--save-plan", str(plan),
    )  # fmt: skip
    render.narrate(
        "the fan-out line names every rule on the bus that will get these events again; the "
        "plan holds exactly the messages the dry run selected; a second pair of eyes reads "
        "its summary, and 'apply' acts on those messages only"
    )
    with live_processor(aws, stack, accepted_versions="1,2") as replayed:
        run("apply", str(plan), "--yes")
        run("redrive", "orders-dlq", "--to-bus", "shop", "--kind", "eventbridge-dlq", "--yes")
    render.narrate(
        f"the processor took {replayed.processed} replayed orders; "
        f"{replayed.function_failures} failed again (invalid orders: the fix cannot help). "
        "No more than 25% of the canary's 20 came back within 5 s, so the rest followed; "
        "had the fix not worked, the run would have stopped there (exit 5) with the rest "
        "untouched"
    )

    render.step("7. What is left is bad data: keep a copy for the team, then clear it")
    run("summary", "orders-dlq")
    left = aws.sqs.attributes(stack.dlq).visible
    archive = workdir / "invalid-orders.jsonl"
    run("export", "orders-dlq", str(archive), "--delete", "--yes")
    run("list")
    remaining = aws.sqs.attributes(stack.dlq)
    if remaining.visible or remaining.in_flight:
        raise DemoFailed(f"orders-dlq still holds {remaining.visible + remaining.in_flight}")
    report.replay, report.archived = replayed, left
    render.step(
        f"Done: orders-dlq is empty, {replayed.processed} orders recovered, "
        f"{left} invalid ones archived (the demo's folder {workdir} is removed now)"
    )
    return report


def _step(
    run_command: Callable[[Sequence[str]], int], argv: Sequence[str], *, record: bool
) -> DemoStep:
    """Show and run one command; with ``record`` it prints JSON (``DLQCTL_OUTPUT=json``), and
    the document it printed is kept. A command that fails, or exits 0 without printing one JSON
    document when recorded, fails the demo."""
    line = " ".join(argv)
    render.command_line(["dlqctl", *argv])
    if not record:
        step = DemoStep(["dlqctl", *argv], run_command(argv))
    else:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = run_command(argv)
        try:
            output = json.loads(printed.getvalue())
        except ValueError:
            if code == 0:
                raise DemoFailed(f"'dlqctl {line}' did not print one JSON document") from None
            output = None
        step = DemoStep(["dlqctl", *argv], code, output)
    if step.exit_code > 128:  # Ctrl-C, SIGTERM or SIGHUP stopped the step: the demo stops too
        raise Interrupted(f"'dlqctl {line}' was interrupted", signum=step.exit_code - 128)
    if step.exit_code != 0:
        raise DemoFailed(f"'dlqctl {line}' exited {step.exit_code}, expected 0")
    return step
