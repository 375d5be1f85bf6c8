"""Kill a real redrive at many points, run it again: nothing lost, nothing sent twice that the
journal knew was delivered. Also Ctrl-C mid-batch, and one redrive per queue at a time."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest

from dlqctl.errors import ExitCode
from dlqctl.lease import LEASE_TAG
from dlqctl.models import OutgoingMessage
from tests.helpers import counts, create_queue, put, receive_all, start_dlqctl

MESSAGES = 25
HOLD = 2


def start(endpoint, *args, fault=None, pause=None, until=None):
    """A real dlqctl process; with a fault, through the crash-test entry point (a pause ends
    after ``pause`` seconds, or once the file ``until`` exists)."""
    if not fault:
        return start_dlqctl(endpoint, *args)
    timing = ["--pause", str(pause)] if pause is not None else []
    timing += ["--until", str(until)] if until is not None else []
    return start_dlqctl(endpoint, *args, module=["tests.crash_run", fault, *timing, "--"])


def run(endpoint, *args, fault=None):
    process = start(endpoint, *args, fault=fault)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def delivered_bodies(boto, queue):
    return Counter(message["Body"] for message in receive_all(boto, queue))


def setup_queues(endpoint):
    dlq = create_queue(endpoint, "orders-dlq")
    target = create_queue(endpoint, "orders")
    bodies = [f"order-{n:02d}" for n in range(MESSAGES)]
    put(endpoint, dlq, [OutgoingMessage("m", body) for body in bodies])
    return dlq, target, bodies


REDRIVE = (
    "redrive",
    "orders-dlq",
    "--to-queue",
    "orders",
    "--yes",
    "--hold",
    str(HOLD),
    "-o",
    "json",
    "--concurrency",
    "1",  # one batch in flight, so each kill point is exact
)


@pytest.mark.parametrize("batch", [1, 2, 3])
@pytest.mark.parametrize("step", ["before-send", "after-send", "after-ack", "after-delete"])
def test_killed_redrive_resumes_without_loss_or_known_duplicates(boto, fresh_endpoint, step, batch):
    dlq, target, bodies = setup_queues(fresh_endpoint)
    code, _, _ = run(fresh_endpoint, *REDRIVE, fault=f"kill@{step}:{batch}")
    assert code == -signal.SIGKILL
    time.sleep(HOLD + 0.5)  # the killed run's holds run out

    code, stdout, stderr = run(fresh_endpoint, *REDRIVE)
    assert code == 0, stderr
    result = json.loads(stdout)
    assert counts(fresh_endpoint, dlq) == (0, 0)
    delivered = delivered_bodies(boto, target)
    assert set(delivered) == set(bodies), "every original message was delivered"
    duplicates = {body for body, times in delivered.items() if times > 1}
    if step == "after-send":
        # Sent, acknowledgement never recorded: ambiguous, resent (at-least-once).
        assert result["ambiguous"] == len(duplicates) > 0
        assert result["recovered"] == 0
    else:
        assert not duplicates
    if step in ("after-ack", "after-delete"):
        assert result["ambiguous"] == 0
    if step == "after-ack":
        assert result["recovered"] > 0  # deleted without being sent again
    assert sum(delivered.values()) == MESSAGES + len(duplicates)


@pytest.mark.parametrize("step", ["after-send", "after-ack"])
def test_killed_concurrent_redrive_loses_nothing(boto, fresh_endpoint, step):
    """With four workers several batches are in flight at the kill: some may be ambiguous and
    be sent twice, but only those, and nothing is lost."""
    dlq, target, bodies = setup_queues(fresh_endpoint)
    concurrent = (*REDRIVE[:-2], "--concurrency", "4")
    code, _, _ = run(fresh_endpoint, *concurrent, fault=f"kill@{step}:2")
    assert code == -signal.SIGKILL
    time.sleep(HOLD + 0.5)
    code, stdout, stderr = run(fresh_endpoint, *concurrent)
    assert code == 0, stderr
    result = json.loads(stdout)
    assert counts(fresh_endpoint, dlq) == (0, 0)
    delivered = delivered_bodies(boto, target)
    assert set(delivered) == set(bodies)
    duplicates = sum(times - 1 for times in delivered.values())
    assert duplicates <= result["ambiguous"]


def test_ambiguous_messages_can_be_left_for_a_person(boto, fresh_endpoint):
    dlq, target, _ = setup_queues(fresh_endpoint)
    code, _, _ = run(fresh_endpoint, *REDRIVE, fault="kill@after-send:2")
    assert code == -signal.SIGKILL
    time.sleep(HOLD + 0.5)
    code, stdout, _ = run(fresh_endpoint, *REDRIVE, "--no-resend-ambiguous")
    assert code == ExitCode.PARTIAL
    result = json.loads(stdout)
    assert result["ambiguous"] == result["skipped"] > 0
    assert counts(fresh_endpoint, dlq) == (result["skipped"], 0)
    delivered = delivered_bodies(boto, target)
    assert max(delivered.values()) == 1
    assert sum(delivered.values()) == MESSAGES


def test_ctrl_c_finishes_the_batch_in_flight_and_releases_the_rest(boto, fresh_endpoint):
    dlq, target, _ = setup_queues(fresh_endpoint)
    process = start(
        fresh_endpoint,
        "redrive",
        "orders-dlq",
        "--to-queue",
        "orders",
        "--yes",
        "-o",
        "json",
        fault="pause@after-send:1",
        pause=3,
    )
    deadline = time.monotonic() + 30
    while counts(fresh_endpoint, target)[0] == 0:
        assert time.monotonic() < deadline, "the first batch was never sent"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # between send and delete
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED
    assert "interrupted" in stderr
    result = json.loads(stdout)
    assert result["interrupted"] is True
    sent = counts(fresh_endpoint, target)[0]
    assert result["redriven"] == sent
    assert counts(fresh_endpoint, dlq) == (MESSAGES - sent, 0), "nothing left invisible"


def test_a_second_redrive_is_refused_while_the_first_holds_the_lease(fresh_endpoint, tmp_path):
    setup_queues(fresh_endpoint)
    go_on = tmp_path / "go-on"  # the first run waits until the second has been refused
    first = start(fresh_endpoint, *REDRIVE, fault="pause@before-send:1", pause=120, until=go_on)
    deadline = time.monotonic() + 30
    sqs_tags = None
    from tests.helpers import aws_for

    aws = aws_for(fresh_endpoint)
    dlq, _ = aws.sqs.resolve("orders-dlq")
    while not sqs_tags:
        assert time.monotonic() < deadline, "the first run never took the lease"
        sqs_tags = aws.sqs.tags(dlq).get(LEASE_TAG)
        time.sleep(0.05)
    code, _, stderr = run(fresh_endpoint, *REDRIVE)
    assert code == ExitCode.BUSY
    assert "is being redriven by" in stderr
    assert "--force" in stderr
    go_on.touch()
    stdout, _ = first.communicate(timeout=60)
    assert first.returncode == 0
    assert json.loads(stdout)["redriven"] == MESSAGES
    assert LEASE_TAG not in aws.sqs.tags(dlq), "the lease is released at the end"


def test_force_takes_a_stale_looking_lease(fresh_endpoint):
    setup_queues(fresh_endpoint)
    from dlqctl.lease import Lease
    from tests.helpers import aws_for

    aws = aws_for(fresh_endpoint)
    dlq, _ = aws.sqs.resolve("orders-dlq")
    aws.sqs.tag(dlq, {LEASE_TAG: Lease("someone@elsewhere", "r1", time.time() + 600).encode()})
    code, _, stderr = run(fresh_endpoint, *REDRIVE)
    assert code == ExitCode.BUSY
    code, stdout, stderr = run(fresh_endpoint, *REDRIVE, "--force")
    assert code == 0, stderr
    assert "took the redrive lease from someone@elsewhere" in stderr
    assert json.loads(stdout)["redriven"] == MESSAGES


def test_journal_command_shows_and_prunes(cli, fresh_endpoint):
    _, target, _ = setup_queues(fresh_endpoint)
    assert cli("redrive", "orders-dlq", "--to-queue", "orders", "--yes").exit_code == 0
    [journal] = cli("journal", "orders-dlq", "-o", "json").json()
    assert journal["delivered"] == MESSAGES
    assert journal["finished"] is True
    assert journal["destination"] == f"queue {target.arn}"
    [pruned] = cli("journal", "orders-dlq", "--prune", "-o", "json").json()
    assert pruned["pruned"] is True
    assert cli("journal", "orders-dlq", "-o", "json").json() == []
