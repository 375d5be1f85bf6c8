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
from dlqctl.errors import ExitCode
from dlqctl.lease import LEASE_TAG
from tests.helpers import aws_for, counts, create_queue, put, start_dlqctl

MESSAGES = 40


def _dlq(endpoint, count=MESSAGES):
    dlq = create_queue(endpoint, "orders-dlq")
    put(
        endpoint,
        dlq,
        [emulate.lambda_dlq(emulate.event({"n": n}), "boom") for n in range(count)],
    )
    return dlq


def _wait_for(condition, what):
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signalled_peek_releases_what_it_held(faults, fresh_endpoint, signum):
    messages = 200  # ten receives of ten at once, then ten more: the signal lands between
    dlq = _dlq(fresh_endpoint, messages)
    faults.delay("sqs", "ReceiveMessage", 3.0)  # long enough for a loaded machine
    process = start_dlqctl(faults.url, "peek", "orders-dlq", "--all", "--hold", "900", "-o", "json")
    _wait_for(lambda: counts(fresh_endpoint, dlq)[1] >= 20, "the peek never held two batches")
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert f"interrupted ({signal.Signals(signum).name})" in stderr
    shown = json.loads(stdout)  # a closed array of what was shown before the signal
    assert len(shown) < messages
    assert counts(fresh_endpoint, dlq) == (messages, 0), "nothing left hidden"


def test_a_signal_during_the_receives_lets_them_end_and_hands_out_nothing_more(
    faults, fresh_endpoint
):
    """The receives already under way (one per ten messages of this queue, up to ten at once)
    complete, no receive starts after the signal, and what they brought is made visible again
    without being shown."""
    dlq = _dlq(fresh_endpoint)
    under_way = MESSAGES // 10
    faults.delay("sqs", "ReceiveMessage", 2.0)
    process = start_dlqctl(faults.url, "peek", "orders-dlq", "--all", "--hold", "900", "-o", "json")
    _wait_for(lambda: faults.count("sqs", "ReceiveMessage") >= under_way, "the peek never received")
    process.send_signal(signal.SIGHUP)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGHUP, stderr
    assert json.loads(stdout) == []
    assert faults.count("sqs", "ReceiveMessage") == under_way, "no receive after the signal"
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0), "nothing left hidden"


def test_a_signal_during_a_limited_delete_deletes_nothing_more_and_is_not_lost(
    faults, fresh_endpoint
):
    """A delete does not go on with what the receives under way bring after a signal."""
    dlq = _dlq(fresh_endpoint)
    faults.delay("sqs", "ReceiveMessage", 2.0)
    process = start_dlqctl(faults.url, "delete", "orders-dlq", "--error-contains", "boom",
                           "--limit", "20", "--yes", "-o", "json")  # fmt: skip
    _wait_for(lambda: faults.count("sqs", "ReceiveMessage") >= 2, "the delete never received")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert faults.count("sqs", "DeleteMessageBatch") == 0
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0), "nothing deleted, nothing left hidden"


def test_a_signal_while_a_limited_peek_winds_down_is_not_lost(faults, fresh_endpoint):
    """The limit is reached while the other receive is still under way: a signal then (in the
    wait for it, or while the last batch is written) still ends the run as interrupted."""
    dlq = _dlq(fresh_endpoint)
    faults.delay("sqs", "ReceiveMessage", 2.0)
    process = start_dlqctl(faults.url, "peek", "orders-dlq", "--limit", "20", "--hold", "900",
                           "-o", "json")  # fmt: skip
    # Two readers for twenty messages; a third receive starts once a batch is in.
    _wait_for(lambda: faults.count("sqs", "ReceiveMessage") >= 3, "no batch ever came in")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert len(json.loads(stdout)) <= 20
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


@pytest.mark.parametrize("destination", ["--to-queue", "--to-bus"])
def test_a_signal_while_the_queues_are_looked_up_ends_the_run_without_waiting_for_them(
    faults, fresh_endpoint, boto, destination
):
    """The DLQ is looked up beside a bus or queue destination, in a thread of its own: a signal
    while the lookups wait on a stalled endpoint ends the command then, not when they answer
    (to a queue, the signal lands in the destination's own call; to a bus, while the bus is
    known and the DLQ's lookup is waited for)."""
    dlq = _dlq(fresh_endpoint)
    create_queue(fresh_endpoint, "orders")
    boto("events").create_event_bus(Name="orders")
    faults.delay("sqs", "GetQueueAttributes", 600)  # ends when the test does
    process = start_dlqctl(
        faults.url, "redrive", "orders-dlq", destination, "orders", "--yes", "-o", "json"
    )
    lookups = 2 if destination == "--to-queue" else 1
    _wait_for(
        lambda: faults.count("sqs", "GetQueueAttributes") >= lookups,
        "the queues were never looked up",
    )
    if destination == "--to-bus":
        _wait_for(lambda: faults.count("events", "DescribeEventBus") >= 1, "no bus looked up")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted (SIGTERM)" in stderr
    assert stdout == ""  # nothing was done: no result, as for any error before the run
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0), "nothing received, nothing hidden"


def test_a_signal_stops_a_paced_redrive_from_sending_what_waits_its_turn(faults, fresh_endpoint):
    """With --rate, each worker holds a batch while it waits its turn; after a signal those
    batches are not sent (they are released), only a send already under way finishes."""
    messages = 150
    dlq = _dlq(fresh_endpoint, messages)
    target = create_queue(fresh_endpoint, "orders")
    process = start_dlqctl(
        faults.url, "redrive", "orders-dlq", "--to-queue", "orders", "--rate", "5",
        "--concurrency", "8", "--yes", "-o", "json",
    )  # fmt: skip
    _wait_for(lambda: faults.count("sqs", "SendMessageBatch") >= 1, "nothing was ever sent")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    result = json.loads(stdout)
    sent = counts(fresh_endpoint, target)[0]
    assert result["redriven"] == sent
    assert sent <= 20, "batches waiting for their turn were sent after the signal"
    assert faults.count("sqs", "SendMessageBatch") <= 2
    assert counts(fresh_endpoint, dlq) == (messages - sent, 0), "nothing left hidden"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signalled_summary_shows_what_it_read_and_releases_it(faults, fresh_endpoint, signum):
    messages = 200
    dlq = _dlq(fresh_endpoint, messages)
    faults.delay("sqs", "ReceiveMessage", 3.0)  # long enough for a loaded machine
    process = start_dlqctl(faults.url, "summary", "orders-dlq", "--hold", "900", "-o", "json")
    _wait_for(lambda: counts(fresh_endpoint, dlq)[1] >= 40, "the summary never held four batches")
    # Every reader has its first batch and has asked for the next (held 3 s by the proxy).
    _wait_for(lambda: faults.count("sqs", "ReceiveMessage") >= 20, "no second receive")
    time.sleep(1.0)  # the first batches are read and handed out
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert f"interrupted ({signal.Signals(signum).name})" in stderr
    summary = json.loads(stdout)
    assert summary["signal"] == signum
    assert 0 < summary["total"] < messages
    assert summary["coverage"]["complete"] is False
    assert counts(fresh_endpoint, dlq) == (messages, 0), "nothing left hidden"


def test_a_signal_while_parked_messages_move_back_ends_the_run_with_it(faults, fresh_endpoint):
    dlq = _dlq(fresh_endpoint)

    def held_on_the_way_back(request: dict) -> None:  # each batch moved back: held 3 s
        if request["QueueUrl"].endswith("/orders-dlq"):
            time.sleep(3)

    faults.rewrite("sqs", "SendMessageBatch", held_on_the_way_back)
    command = ("delete", "orders-dlq", "--error-contains", "no such error", "--park",
               "orders-dlq-parked", "--hold", "900", "--yes", "-o", "json")  # fmt: skip
    process = start_dlqctl(faults.url, *command)
    sqs = aws_for(fresh_endpoint).sqs

    def moving_back() -> bool:  # a batch is on its way back to the DLQ
        return any(
            operation == "SendMessageBatch" and json.loads(body)["QueueUrl"].endswith("/orders-dlq")
            for _, operation, body in list(faults.bodies)
        )

    _wait_for(moving_back, "the parked messages never started moving back")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    # The batches in flight are finished (here, with 16 workers, all of them), and the run ends
    # as the signal says, not as if it had not come.
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "delete interrupted" in stderr
    left = json.loads(stdout)["parking"]["left_parked"]
    assert ("may still be parked in orders-dlq-parked" in stderr) == (left != 0)
    parked = sqs.resolve("orders-dlq-parked")[0]
    assert sum(counts(fresh_endpoint, dlq)) + sum(counts(fresh_endpoint, parked)) == MESSAGES

    faults.rewrites.clear()
    again = start_dlqctl(faults.url, *command)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert counts(fresh_endpoint, parked) == (0, 0)
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0)


def test_a_signalled_export_that_deletes_says_what_it_wrote_and_deleted(
    faults, fresh_endpoint, tmp_path
):
    """The batch in flight is finished; the result (what the file holds, what was deleted) is
    shown, and every other message is in the queue, visible."""
    dlq = _dlq(fresh_endpoint)
    faults.delay("sqs", "DeleteMessageBatch", 1.0)
    path = tmp_path / "archive.jsonl"
    process = start_dlqctl(faults.url, "export", "orders-dlq", str(path), "--delete", "--yes",
                           "-o", "json")  # fmt: skip
    _wait_for(lambda: faults.count("sqs", "DeleteMessageBatch") >= 1, "nothing was deleted")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    result = json.loads(stdout)
    lines = path.read_text().splitlines()
    assert result["exported"] == result["deleted"] == len(lines) > 0
    assert f"holds only the {len(lines)} message(s) exported before the signal" in stderr
    assert counts(fresh_endpoint, dlq) == (MESSAGES - len(lines), 0), "nothing left hidden"


def test_a_signal_between_two_passes_moving_parked_messages_back_ends_the_run_with_it(
    cli, fresh_endpoint, monkeypatch
):
    """A signal that lands after one pass moved the parked messages back and before the next
    starts: the run ends with the signal and still shows what it did."""
    import os

    from dlqctl.parking import Parking

    dlq = _dlq(fresh_endpoint)
    opened = Parking.journal_for_return
    passes = []

    def signalled_before_the_second(self, back):  # type: ignore[no-untyped-def]
        passes.append(back)
        if len(passes) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real signal, between the two passes
        return opened(self, back)

    monkeypatch.setattr(Parking, "journal_for_return", signalled_before_the_second)
    result = cli("delete", "orders-dlq", "--error-contains", "no such error", "--park",
                 "orders-dlq-parked", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == 128 + signal.SIGINT, result.stderr
    assert len(passes) == 2
    assert "delete interrupted" in result.stderr
    data = result.json()
    assert data["deleted"] == 0
    assert data["parking"]["returned"] == MESSAGES
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0)


def test_a_second_signal_during_the_release_sends_no_more_and_counts_what_stayed_hidden(
    faults, fresh_endpoint
):
    """A first signal ends a peek; the endpoint stalls on its release, and a second signal
    stops it: no more batches are sent, the stalled ones are given up on after a moment, and
    exactly what is still hidden is counted and named."""
    dlq = _dlq(fresh_endpoint, 200)
    faults.delay("sqs", "ReceiveMessage", 3.0)
    faults.delay("sqs", "ChangeMessageVisibilityBatch", 120.0)  # stalled
    process = start_dlqctl(faults.url, "peek", "orders-dlq", "--all", "--hold", "900", "-o", "json")
    _wait_for(lambda: counts(fresh_endpoint, dlq)[1] >= 100, "the peek never held ten batches")
    process.send_signal(signal.SIGTERM)
    _wait_for(lambda: faults.count("sqs", "ChangeMessageVisibilityBatch") >= 1, "no release")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)  # not the 120 s of the stalled calls
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert isinstance(json.loads(stdout), list)  # what was shown: a closed array
    assert faults.count("sqs", "ChangeMessageVisibilityBatch") <= 8  # those side by side
    hidden = counts(fresh_endpoint, dlq)[1]
    assert hidden >= 100
    assert f"{hidden} held message(s) could not be made visible again" in stderr, stderr


def test_a_signal_that_comes_during_the_release_of_a_finished_peek_ends_it_after(
    cli, fresh_endpoint, monkeypatch
):
    """The peek has shown everything; the first signal comes while its messages are made
    visible again: they all are, and the run ends with the signal."""
    import os

    from dlqctl.aws import Sqs

    dlq = _dlq(fresh_endpoint)
    change = Sqs.change_visibility

    def signalled_first(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGINT)  # a real signal, as the release starts
        return change(self, *args, **kwargs)

    monkeypatch.setattr(Sqs, "change_visibility", signalled_first)
    result = cli("peek", "orders-dlq", "--all", "--hold", "900", "-o", "json")
    assert result.exit_code == 128 + signal.SIGINT, result.stderr
    assert "interrupted (SIGINT)" in result.stderr
    assert len(result.json()) == MESSAGES
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0), "nothing left hidden"


def test_a_signal_while_the_parking_queue_is_counted_still_shows_the_result(
    cli, fresh_endpoint, monkeypatch
):
    import os

    from dlqctl.parking import Parking

    dlq = _dlq(fresh_endpoint)
    count_left = Parking.count_left

    def signalled(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGINT)  # a real signal, during the count
        return count_left(self, *args, **kwargs)

    monkeypatch.setattr(Parking, "count_left", signalled)
    result = cli("delete", "orders-dlq", "--error-contains", "no such error", "--park",
                 "orders-dlq-parked", "--yes", "-o", "json")  # fmt: skip
    assert result.exit_code == 128 + signal.SIGINT, result.stderr
    data = result.json()
    assert (data["deleted"], data["parking"]["returned"]) == (0, MESSAGES)
    assert counts(fresh_endpoint, dlq) == (MESSAGES, 0)


def test_an_export_into_a_closed_pipe_says_what_it_left_hidden(faults, fresh_endpoint):
    """`dlqctl export Q - | head`: the reader went away, which is not an error; but the held
    messages could not be made visible again, and that is said, exit 5."""
    dlq = _dlq(fresh_endpoint)
    faults.fail("sqs", "ChangeMessageVisibilityBatch", "AccessDenied", status=403)
    process = start_dlqctl(faults.url, "export", "orders-dlq", "-", "--hold", "60")
    process.stdout.close()  # the reader is gone before the first line
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.PARTIAL, stderr
    assert "output closed" in stderr
    hidden = counts(fresh_endpoint, dlq)[1]  # none deleted: the rest are visible
    assert hidden > 0 and counts(fresh_endpoint, dlq)[0] == MESSAGES - hidden
    assert f"{hidden} held message(s) could not be made visible again" in stderr, stderr
