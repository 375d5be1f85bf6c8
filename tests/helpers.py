"""Helpers for tests: put messages of real DLQ shapes into a queue, and read queue counts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from dlqctl.aws import Aws, Connection
from dlqctl.cli import root_command
from dlqctl.models import OutgoingMessage, QueueRef
from dlqctl.traffic import send_all

REGION = "us-east-1"


def commands_of(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under a click group (sub-groups too, before their commands) with its
    path of names, asked of the group as click asks it (so an on-demand group builds each)."""
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from commands_of(command, (*prefix, name))


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_dlqctl(
    args: Sequence[str], *, input: str | None = None, env: Mapping[str, str] | None = None
) -> Run:
    """Run ``dlqctl ARGS`` in-process: the command the console script runs
    (``cli.root_command``), with typer's test isolation of the standard streams and the
    environment. An exception that is not an exit propagates, as a traceback would."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (stdout, stderr, _):
        code: int = 0
        try:
            root_command().main(args=list(args), prog_name="dlqctl")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return Run(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def aws_for(endpoint: str) -> Aws:
    return Aws(Connection(region=REGION, endpoint_url=endpoint))


def create_queue(endpoint: str, name: str, **attributes: str) -> QueueRef:
    return aws_for(endpoint).sqs.create(name, dict(attributes))


def put(endpoint: str, queue: QueueRef, messages: list[OutgoingMessage]) -> list[str]:
    """Send messages in batches of 10; returns the message IDs AWS assigned."""
    return send_all(aws_for(endpoint), queue, messages)


def counts(endpoint: str, queue: QueueRef) -> tuple[int, int]:
    """(visible, in flight) for a queue."""
    attributes = aws_for(endpoint).sqs.attributes(queue)
    return attributes.visible, attributes.in_flight


def plain(body: str, **attributes: Any) -> OutgoingMessage:
    return OutgoingMessage(entry_id="m", body=body)


def receive_all(boto: Any, queue: QueueRef, attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Receive and delete every message of a queue (with its message attributes, and the
    system ``attributes`` named); returns them in the order received."""
    sqs = boto("sqs")
    received: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=list(attributes),
        ).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(message)
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])


def start_dlqctl(
    endpoint: str,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: Any = None,
    module: list[str] | None = None,
) -> subprocess.Popen[str]:
    """Start the real ``python -m dlqctl ARGS`` against the endpoint, output captured
    (``module``: another entry point and its arguments, such as the crash tests'). A process
    still running when its test ends is killed then (``end_started``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", *(module or ["dlqctl"]), *args],
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, **(env or {})},
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(process)
    return process


STARTED: list[subprocess.Popen[str]] = []


def end_started() -> None:
    """Kill what a test started and left running (a failed assertion before ``communicate``),
    and close every pipe, so nothing of it is left for a later test to trip over. After a kill,
    wait out the longest long poll it may have left at the endpoint, which could otherwise
    take the next test's messages."""
    killed = False
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            killed = True
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a child of it still holds the pipes
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
    if killed:
        time.sleep(6)


def create_function(boto: Any, name: str = "process", **extra: Any) -> dict[str, Any]:
    """A Lambda function (never run here) with an execution role."""
    return boto("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=make_role(boto),
        Handler="handler.handler",
        Code={"ZipFile": function_zip()},
        **extra,
    )


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def make_role(boto: Any) -> str:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return boto("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(policy))[
        "Role"
    ]["Arn"]
