"""Each failure mode gives one ``Error:`` line on stderr and its documented exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dlqctl.errors import ExitCode
from dlqctl.local_endpoint import free_port
from dlqctl.models import OutgoingMessage
from tests.conftest import REGION
from tests.helpers import counts, create_queue, put, start_dlqctl


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


def test_unknown_queue_is_not_found(cli):
    result = cli("peek", "no-such-queue")
    assert result.exit_code == ExitCode.NOT_FOUND == 3
    line = one_error_line(result.stderr)
    assert "no-such-queue not found in region us-east-1" in line and "hint:" in line


def test_bad_filter_is_a_usage_error_before_any_call(cli):
    result = cli("peek", "no-such-queue", "--filter", "kind ==")
    assert result.exit_code == ExitCode.USAGE == 2
    assert "bad filter expression" in one_error_line(result.stderr)


def test_bad_duration_and_bad_option_are_usage_errors(cli):
    assert cli("peek", "q", "--older-than", "soon").exit_code == ExitCode.USAGE
    result = cli("peek", "q", "--no-such-option")
    assert result.exit_code == ExitCode.USAGE
    assert "No such option" in one_error_line(result.stderr)


def test_region_mismatch_in_a_queue_arn_is_a_usage_error(cli):
    result = cli(
        "peek", "arn:aws:sqs:eu-west-1:123456789012:orders-dlq", "--region", REGION, connect=False
    )
    assert result.exit_code == ExitCode.USAGE
    assert "pass --region eu-west-1" in one_error_line(result.stderr)


def test_a_destination_queue_in_another_region_is_refused_with_a_way_that_works(
    cli, fresh_endpoint
):
    """--region would move the DLQ's lookup too: the hint is a queue of the DLQ's region, or
    an export and an import there."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "order")])
    elsewhere = "arn:aws:sqs:eu-west-1:123456789012:orders"
    result = cli("redrive", "orders-dlq", "--to-queue", elsewhere, "--yes")
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result.stderr)
    assert f"queue {elsewhere} is in region eu-west-1, but the region in use is " in line
    assert "pass --region" not in line
    assert "give a queue of us-east-1, or export the messages and import them with --region " \
        "eu-west-1" in line  # fmt: skip


@pytest.mark.parametrize(
    "destination", [["--to-queue", "no-such-dst"], ["--to-bus", "no-such-bus"]]
)
def test_a_missing_dlq_is_named_before_a_missing_destination(cli, fresh_endpoint, destination):
    """The DLQ and a bus or queue are looked up side by side; the error is the DLQ's, as when
    they were looked up one after the other, and the destination's when only it is missing."""
    result = cli("redrive", "no-such-dlq", *destination, "--yes")
    assert result.exit_code == ExitCode.NOT_FOUND
    line = one_error_line(result.stderr)
    assert "no-such-dlq not found" in line and destination[1] not in line
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "order")])
    result = cli("redrive", "orders-dlq", *destination, "--yes")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert f"{destination[1]} not found" in one_error_line(result.stderr)
    assert counts(fresh_endpoint, dlq) == (1, 0)


def test_missing_credentials(cli, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("list")
    assert result.exit_code == ExitCode.ACCESS == 4
    assert "no AWS credentials found" in one_error_line(result.stderr)


def test_missing_region(cli):
    result = cli("list", connect=False)
    assert result.exit_code == ExitCode.ACCESS
    assert "no AWS region configured" in one_error_line(result.stderr)


@pytest.mark.parametrize("destination", [["--to-queue", "orders"], ["--to-bus", "shop"]])
def test_a_dlq_arn_of_another_service_is_named_before_a_missing_region(cli, destination):
    """The DLQ and its destination are looked up side by side once their clients are made;
    where they cannot be (no region), the lookups run one after the other, so the DLQ's own
    error still comes first."""
    dlq = "arn:aws:sns:us-east-1:123456789012:orders-dlq"
    result = cli("redrive", dlq, *destination, "--yes", connect=False)
    assert result.exit_code == ExitCode.USAGE
    assert f"{dlq} is not an SQS queue ARN" in one_error_line(result.stderr)


def test_an_aws_config_file_that_cannot_be_read(cli, monkeypatch, tmp_path):
    config = tmp_path / "config"
    config.write_text("[default\nregion = us-east-1\n")  # the section header is not closed
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    result = cli("list")
    assert result.exit_code == ExitCode.ACCESS
    line = one_error_line(result.stderr)
    assert f"the AWS configuration cannot be read: Unable to parse config file: {config}" in line
    assert "AWS_CONFIG_FILE" in line


def test_a_region_name_aws_has_no_format_for(cli):
    result = cli("peek", "orders-dlq", "--region", "bad region!", connect=False)
    assert result.exit_code == ExitCode.ACCESS
    line = one_error_line(result.stderr)
    assert "'bad region!' doesn't match a supported format" in line
    assert "like eu-west-1" in line


def test_access_denied(cli_via, faults, fresh_endpoint):
    create_queue(fresh_endpoint, "orders-dlq")
    faults.fail("sqs", "ReceiveMessage", "AccessDenied", status=403)
    result = cli_via("peek", "orders-dlq")
    assert result.exit_code == ExitCode.ACCESS
    assert "access denied" in one_error_line(result.stderr)


def test_throttling_is_retried_then_succeeds(cli_via, faults, fresh_endpoint):
    queue = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", "x")])
    faults.fail("sqs", "ReceiveMessage", "ThrottlingException", times=2)
    result = cli_via("peek", "orders-dlq", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()) == 1
    assert faults.count("sqs", "ReceiveMessage") >= 3


def test_unreachable_endpoint(cli):
    result = cli(
        "list",
        "--endpoint-url",
        f"http://127.0.0.1:{free_port()}",
        "--region",
        REGION,
        connect=False,
    )
    assert result.exit_code == ExitCode.ACCESS
    assert "cannot reach the AWS endpoint" in one_error_line(result.stderr)


def test_garbage_from_the_endpoint_is_an_unexpected_error(cli):
    class Garbage(BaseHTTPRequestHandler):
        def do_POST(self):
            payload = b"<html>proxy error</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = cli("peek", "orders-dlq", "--endpoint-url", url, "--region", REGION, connect=False)
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == ExitCode.UNEXPECTED == 1
    one_error_line(result.stderr)


def _dlqctl(*args: str, endpoint: str) -> subprocess.Popen[str]:
    return start_dlqctl(endpoint, *args)


def test_ctrl_c_releases_every_held_message_and_exits_130(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"body {n}") for n in range(3)])
    process = _dlqctl(
        "peek", "orders-dlq", "--all", "--wait", "3", "-o", "jsonl", endpoint=fresh_endpoint
    )
    deadline = time.monotonic() + 30
    while counts(fresh_endpoint, queue) != (0, 3):
        assert time.monotonic() < deadline, "peek never held the messages"
        time.sleep(0.1)
    time.sleep(0.3)  # now in the final long poll
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED == 130
    assert "interrupted" in one_error_line(stderr)
    assert len(stdout.splitlines()) == 3
    assert counts(fresh_endpoint, queue) == (3, 0)


OUTPUT_FAILED = (
    "Error: writing the output failed: No space left on device (hint: check where it goes)"
)


def to_full_disk(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dlqctl ARGS > /dev/full``: every write to stdout fails as on a full disk."""
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [sys.executable, "-m", "dlqctl", *args],
            env={**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("output", ["json", "jsonl", "table"])
def test_output_that_cannot_be_written_is_one_error_line_and_hides_nothing(fresh_endpoint, output):
    queue = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", f"body {n}") for n in range(25)])

    done = to_full_disk(fresh_endpoint, "peek", "orders-dlq", "--all", "-o", output)

    assert done.returncode == ExitCode.UNEXPECTED
    assert one_error_line(done.stderr) == OUTPUT_FAILED
    assert counts(fresh_endpoint, queue) == (25, 0)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_redrive_whose_result_cannot_be_written_is_done_and_says_so(fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    target = create_queue(fresh_endpoint, "orders")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", f"body {n}") for n in range(25)])

    done = to_full_disk(
        fresh_endpoint, "redrive", "orders-dlq", "--to-queue", "orders", "--yes", "-o", "json"
    )

    assert done.returncode == ExitCode.UNEXPECTED
    assert one_error_line(done.stderr) == OUTPUT_FAILED
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert counts(fresh_endpoint, target) == (25, 0)


def test_console_script_and_module_agree(fresh_endpoint):
    process = _dlqctl("peek", "missing", endpoint=fresh_endpoint)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.NOT_FOUND
    one_error_line(stderr)


@pytest.mark.parametrize("code", list(ExitCode))
def test_exit_codes_are_documented(code):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as handle:
        readme = handle.read()
    if code is ExitCode.INTERRUPTED:
        assert "| 128 + signal | interrupted: 130 for Ctrl-C (SIGINT), 143 for SIGTERM" in readme
    else:
        assert f"| {int(code)} |" in readme


def test_each_condition_has_its_code():
    from dlqctl import errors

    assert errors.LeaseHeld("x").exit_code == errors.PurgeInProgress("x").exit_code == 6
    assert errors.BusyError("x").exit_code == ExitCode.BUSY
    assert errors.StackFailed("x").exit_code == ExitCode.STACK_FAILED == 7
    assert errors.ThrottledError("x").exit_code == ExitCode.BUSY
    assert errors.UnreachableError("x").exit_code == ExitCode.ACCESS
    assert errors.AmbiguousSend("x").exit_code == ExitCode.PARTIAL
    assert errors.Interrupted("x", signum=15).exit_code == 143
