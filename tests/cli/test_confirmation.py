"""Destructive commands ask at a terminal: only an explicit yes (or the queue's name) proceeds."""

from __future__ import annotations

import os
import pty
import time

from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from tests.helpers import counts, create_queue, put, start_dlqctl


def run_at_terminal(args, answer, endpoint):
    """Run dlqctl with a pseudo-terminal on stdin, type ``answer`` at the prompt."""
    controller, terminal = pty.openpty()
    process = start_dlqctl(endpoint, *args, stdin=terminal)
    os.close(terminal)
    time.sleep(0.5)
    os.write(controller, (answer + "\n").encode())
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(controller)
    return process.returncode, stdout, stderr


def test_answering_no_changes_nothing(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "jobs-dlq")
    create_queue(fresh_endpoint, "jobs")
    put(fresh_endpoint, queue, [OutgoingMessage("m", "x")] * 2)
    code, _, stderr = run_at_terminal(
        ["redrive", "jobs-dlq", "--to-queue", "jobs"], "n", fresh_endpoint
    )
    assert code == ExitCode.USAGE
    assert "not confirmed; nothing was changed (hint: answer y to go on, or pass --yes)" in stderr
    assert counts(fresh_endpoint, queue) == (2, 0)


def test_answering_yes_proceeds(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "jobs-dlq")
    jobs = create_queue(fresh_endpoint, "jobs")
    put(fresh_endpoint, queue, [OutgoingMessage("m", "x")] * 2)
    code, _, stderr = run_at_terminal(
        ["redrive", "jobs-dlq", "--to-queue", "jobs", "-o", "json"], "y", fresh_endpoint
    )
    assert code == 0, stderr
    assert counts(fresh_endpoint, queue) == (0, 0)
    assert counts(fresh_endpoint, jobs) == (2, 0)


def test_purge_wants_the_queue_name_typed(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "jobs-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage("m", "x")] * 2)
    code, _, _ = run_at_terminal(["purge", "jobs-dlq"], "y", fresh_endpoint)
    assert code == ExitCode.USAGE
    assert counts(fresh_endpoint, queue) == (2, 0)
    code, _, stderr = run_at_terminal(
        ["purge", "jobs-dlq", "-o", "json"], "jobs-dlq", fresh_endpoint
    )
    assert code == 0, stderr
    assert counts(fresh_endpoint, queue) == (0, 0)


def test_the_purge_confirmation_counts_the_messages_others_hold(fresh_endpoint, boto):
    """PurgeQueue deletes messages in flight too (a consumer's, another run's): the question
    counts them, so no one confirms 2 and loses 7."""
    queue = create_queue(fresh_endpoint, "jobs-dlq")
    put(fresh_endpoint, queue, [OutgoingMessage(f"m{n}", f"x{n}") for n in range(7)])
    held = boto("sqs").receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=5, VisibilityTimeout=300
    )["Messages"]
    assert len(held) == 5
    code, _, stderr = run_at_terminal(["purge", "jobs-dlq"], "no", fresh_endpoint)
    assert code == ExitCode.USAGE
    assert "This deletes every message of jobs-dlq: ~2 visible, ~5 in flight" in stderr
    assert counts(fresh_endpoint, queue) == (2, 5)
