"""SIGTERM and SIGHUP (a supervisor, a closed SSH session) are handled like Ctrl-C.

A real ``dlqctl`` process is signalled mid-peek and mid-redrive, with a proxy that stalls the
endpoint's answers so the signal lands while messages are held. Afterwards every message is
visible again, the lease tag is gone, the output is one closed JSON document, and the exit code
is 128 + the signal.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from dlqctl import emulate
from dlqctl.lease import LEASE_TAG
from tests.helpers import aws_for, counts, create_queue, put, start_dlqctl

MESSAGES = 40


def _dlq(endpoint):
    dlq = create_queue(endpoint, "orders-dlq")
    put(
        endpoint,
        dlq,
        [emulate.lambda_dlq(emulate.event({"n": n}), "boom") for n in range(MESSAGES)],
    )
    return dlq


def _wait_for(condition, what):
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signalled_peek_releases_what_it_held(faults, fresh_endpoint, signum):
    dlq = _dlq(fresh_endpoint)
    faults.delay("sqs", "ReceiveMessage", 1.0)
    process = start_dlqctl(faults.url, "peek", "orders-dlq", "--all", "--hold", "900", "-o", "json")
    # Two batches held: the first one has been shown (the second receive follows it), so the
    # signal cannot land while the first is still being written out.
    _wait_for(lambda: counts(fresh_endpoint, dlq)[1] >= 20, "the peek never held two batches")
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert f"interrupted ({signal.Signals(signum).name})" in stderr
    shown = json.loads(stdout)  # a closed array of what was read
    assert 10 <= len(shown) < MESSAGES
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0), "nothing left hidden"


def test_a_signal_during_the_receives_shows_and_releases_the_batches_they_brought(
    faults, fresh_endpoint
):
    """The receives already under way (one per ten messages of this queue, up to ten at once)
    complete; their messages are shown, then made visible; no receive starts after."""
    dlq = _dlq(fresh_endpoint)
    under_way = MESSAGES // 10
    faults.delay("sqs", "ReceiveMessage", 2.0)
    process = start_dlqctl(faults.url, "peek", "orders-dlq", "--all", "--hold", "900", "-o", "json")
    _wait_for(lambda: faults.count("sqs", "ReceiveMessage") >= under_way, "the peek never received")
    process.send_signal(signal.SIGHUP)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGHUP, stderr
    shown = json.loads(stdout)
    assert len(shown) == MESSAGES, "the batches the receives brought are shown"
    assert faults.count("sqs", "ReceiveMessage") == under_way, "no receive after the signal"
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0), "nothing left hidden"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signalled_redrive_finishes_its_batch_and_gives_everything_back(
    faults, fresh_endpoint, signum
):
    dlq = _dlq(fresh_endpoint)
    target = create_queue(fresh_endpoint, "orders")
    faults.delay("sqs", "SendMessageBatch", 1.0)
    process = start_dlqctl(
        faults.url, "redrive", "orders-dlq", "--to-queue", "orders", "--concurrency", "1",
        "--yes", "-o", "json",
    )  # fmt: skip
    _wait_for(lambda: faults.count("sqs", "SendMessageBatch") >= 1, "nothing was ever sent")
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    result = json.loads(stdout)
    assert (result["interrupted"], result["signal"]) == (True, signum)
    sent = counts(fresh_endpoint, target)[0]
    assert result["redriven"] == sent > 0
    assert counts(fresh_endpoint, dlq) == (MESSAGES - sent, 0), "nothing left hidden"
    assert LEASE_TAG not in aws_for(fresh_endpoint).sqs.tags(dlq), "the lease is released"
