"""Redrives that cannot make an incident worse: saved plans, canaries and their breaker, and
the loop guard.

A consumer that is still broken is built from the endpoint's own parts: a rule on the bus
whose target is the DLQ itself sends every replayed event straight back, as a failing target
with a DLQ would. A rule whose target is a capture queue is a consumer that works. The DLQ
messages are rule-DLQ messages (``emulate.eventbridge_dlq``: the event as the body and the
RULE_ARN/TARGET_ARN/ERROR_* attributes of ``tests/fixtures/shapes/eventbridge_rule_dlq.json``).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time

import pytest

from dlqctl import emulate
from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage, QueueRef
from tests.helpers import counts, create_queue, put, receive_all, start_dlqctl

RULE = "arn:aws:events:us-east-1:123456789012:rule/shop/orders"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:process"


def failed(order: int, *, ok: bool = True) -> OutgoingMessage:
    """A rule-DLQ message for order ``order``; ``ok`` says whether the consumer can take it."""
    return emulate.eventbridge_dlq(
        emulate.event({"orderId": f"o-{order}", "ok": ok}),
        rule_arn=RULE,
        target_arn=TARGET,
        error_code="THROTTLING",
        error_message="Rate Exceeded.",
        retry_attempts=3,
        exhausted_retry_condition="MaximumRetryAttempts",
    )


def consumers(boto, dlq: QueueRef, capture: QueueRef, *, broken: str) -> None:
    """Bus ``shop``: events the consumer can take reach ``capture``; the others (by ``broken``:
    'all', 'none' or 'not-ok') come straight back into the DLQ."""
    events = boto("events")
    events.create_event_bus(Name="shop")
    good = {"source": ["shop.orders"]}
    bad: dict[str, object] | None = None
    if broken == "all":
        good, bad = {"source": ["nothing"]}, {"source": ["shop.orders"]}
    elif broken == "not-ok":
        good = {"source": ["shop.orders"], "detail": {"ok": [True]}}
        bad = {"source": ["shop.orders"], "detail": {"ok": [False]}}
    events.put_rule(Name="works", EventBusName="shop", EventPattern=json.dumps(good))
    events.put_targets(Rule="works", EventBusName="shop", Targets=[{"Id": "c", "Arn": capture.arn}])
    if bad is not None:
        events.put_rule(Name="broken", EventBusName="shop", EventPattern=json.dumps(bad))
        events.put_targets(
            Rule="broken", EventBusName="shop", Targets=[{"Id": "d", "Arn": dlq.arn}]
        )


def orders(boto, queue: QueueRef) -> list[str]:
    """The orderId of every message in a queue (drained), as bodies or as rule-DLQ events."""
    return sorted(json.loads(m["Body"])["detail"]["orderId"] for m in receive_all(boto, queue))


def total(endpoint: str, queue: QueueRef) -> int:
    return sum(counts(endpoint, queue))


# Saved plans ------------------------------------------------------------------------------


def test_apply_acts_on_exactly_the_planned_messages(cli, boto, fresh_endpoint, tmp_path):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="none")
    ids = put(fresh_endpoint, dlq, [failed(n, ok=n % 2 == 0) for n in range(10)])
    plan = tmp_path / "plan.json"

    saved = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--filter", "event.detail.ok",
        "--save-plan", str(plan), "-o", "json",
    )  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    data = saved.json()
    assert data["dry_run"] is True and data["redriven"] == 0
    assert data["saved_plan"]["messages"] == 5
    assert data["saved_plan"]["by_group"] == {"eventbridge-dlq: THROTTLING": 5}
    assert stat.S_IMODE(os.stat(plan).st_mode) == 0o600
    document = json.loads(plan.read_text())
    planned = {item["id"] for item in document["messages"]}
    assert planned == {ids[n] for n in range(0, 10, 2)}
    assert document["summary"]["destination"] == "event bus shop"
    assert total(fresh_endpoint, dlq) == 10  # the dry run changed nothing

    # New matching messages arrive after the plan; one planned message goes away (another
    # operator deleted it); one planned ID's content no longer matches what was planned
    # (SQS bodies are immutable, so the plan file is edited to stand for it).
    put(fresh_endpoint, dlq, [failed(n, ok=True) for n in range(100, 104)])
    sqs = boto("sqs")
    gone = ids[2]
    keep_all_but(sqs, dlq, delete={gone})
    changed = ids[4]
    for item in document["messages"]:
        if item["id"] == changed:
            item["digest"] = "0" * 32
    plan.write_text(json.dumps(document))

    preview = cli("apply", str(plan), "--dry-run", "-o", "json")
    assert preview.exit_code == ExitCode.PARTIAL, preview.stderr  # the changed one is refused
    shown = preview.json()
    assert sorted(entry["message_id"] for entry in shown["entries"]) == sorted(
        {ids[0], ids[6], ids[8]}
    )
    assert shown["applied"]["gone"] == [gone] and shown["applied"]["changed"] == [changed]
    assert total(fresh_endpoint, dlq) == 13

    applied = cli("apply", str(plan), "--yes", "-o", "json")
    assert applied.exit_code == ExitCode.PARTIAL, applied.stderr
    result = applied.json()
    assert result["redriven"] == 3
    assert result["applied"]["gone"] == [gone]
    assert result["applied"]["changed"] == [changed]
    assert "changed since the plan" in applied.stderr
    assert orders(boto, capture) == ["o-0", "o-6", "o-8"]
    # Left: the 5 not planned, the changed one, and the 4 that arrived after the plan.
    assert orders(boto, dlq) == sorted(
        ["o-1", "o-3", "o-5", "o-7", "o-9", "o-4", "o-100", "o-101", "o-102", "o-103"]
    )


def keep_all_but(sqs, queue: QueueRef, *, delete: set[str]) -> None:
    """Receive every message once, delete those in ``delete``, make the rest visible again."""
    seen: dict[str, str] = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            seen[message["MessageId"]] = message["ReceiptHandle"]
    for message_id, handle in seen.items():
        if message_id in delete:
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=handle)
        else:
            sqs.change_message_visibility(
                QueueUrl=queue.url, ReceiptHandle=handle, VisibilityTimeout=0
            )


def test_a_selective_purge_and_a_delete_can_be_planned(cli, fresh_endpoint, tmp_path):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [failed(n, ok=n < 3) for n in range(6)])
    plan = tmp_path / "purge.json"
    saved = cli(
        "purge", "orders-dlq", "--filter", "event.detail.ok", "--save-plan", str(plan),
        "-o", "json",
    )  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    assert saved.json()["saved_plan"]["messages"] == 3
    put(fresh_endpoint, dlq, [failed(9, ok=True)])  # arrives after the plan, matches it too
    refused = cli("apply", str(plan))  # no terminal, no --yes: refused, nothing deleted
    assert refused.exit_code == ExitCode.USAGE
    assert total(fresh_endpoint, dlq) == 7
    applied = cli("apply", str(plan), "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.stderr
    assert applied.json()["deleted"] == 3
    assert total(fresh_endpoint, dlq) == 4

    whole = cli("purge", "orders-dlq", "--save-plan", str(tmp_path / "all.json"))
    assert whole.exit_code == ExitCode.USAGE
    assert "--save-plan saves a selection" in whole.stderr


def test_save_plan_replaces_a_saved_plan_and_nothing_else(cli, fresh_endpoint, tmp_path):
    # --save-plan used to replace whatever was at its path: an archive of deleted messages
    # named like the plan was gone.
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [failed(n) for n in range(3)])
    archive = tmp_path / "incident-4711.jsonl"
    archive.write_text('{"message_id": "deleted earlier"}\n')
    refused = cli("delete", "orders-dlq", "-f", "event", "--save-plan", str(archive))
    assert refused.exit_code == ExitCode.USAGE
    assert f"{archive} exists and is not a dlqctl plan" in refused.stderr
    assert archive.read_text() == '{"message_id": "deleted earlier"}\n'
    plan = tmp_path / "plan.json"
    for _ in range(2):  # the second replaces the first: a plan saved again
        saved = cli("delete", "orders-dlq", "-f", "event", "--save-plan", str(plan), "-o", "json")
        assert saved.exit_code == 0, saved.stderr
        assert saved.json()["saved_plan"]["messages"] == 3
    assert total(fresh_endpoint, dlq) == 3


@pytest.mark.parametrize(
    ("where", "name", "value"),
    [("destination", "mark", "false"), ("destination", "max_event_bytes", "x"),
     ("settings", "resend_ambiguous", "false")],
)  # fmt: skip
def test_a_plan_setting_of_the_wrong_type_is_refused(
    cli, fresh_endpoint, tmp_path, where, name, value
):
    # "false" in quotes was true (the apply marked the events, or resent ambiguous sends);
    # a text size failed at the first message as "unexpected" (exit 1).
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    create_queue(fresh_endpoint, "retry")
    put(fresh_endpoint, dlq, [failed(1)])
    plan = tmp_path / "plan.json"
    saved = cli("redrive", "orders-dlq", "--to-queue", "retry", "-f", "event", "--save-plan",
                str(plan))  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    document = json.loads(plan.read_text())
    settings = document["settings"]
    (settings["destination"] if where == "destination" else settings)[name] = value
    plan.write_text(json.dumps(document))
    refused = cli("apply", str(plan), "--yes")
    assert refused.exit_code == ExitCode.USAGE, refused.stderr
    assert "is not a dlqctl plan (TypeError: " in refused.stderr and name in refused.stderr
    assert total(fresh_endpoint, dlq) == 1


def test_a_plan_for_another_queue_or_not_a_plan_is_refused(cli, fresh_endpoint, tmp_path):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [failed(1)])
    plan = tmp_path / "plan.json"
    assert cli("delete", "orders-dlq", "-f", "event", "--save-plan", str(plan)).exit_code == 0
    document = json.loads(plan.read_text())
    document["queue"]["arn"] = document["queue"]["arn"].replace("orders-dlq", "other-dlq")
    plan.write_text(json.dumps(document))
    moved = cli("apply", str(plan), "--yes")
    assert moved.exit_code == ExitCode.USAGE and "the plan is for" in moved.stderr
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    bad = cli("apply", str(junk), "--yes")
    assert bad.exit_code == ExitCode.USAGE and "is not a dlqctl plan" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert total(fresh_endpoint, dlq) == 1


# Canaries and the breaker -----------------------------------------------------------------


def test_a_canary_into_a_broken_consumer_stops_after_exactly_n(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="all")
    put(fresh_endpoint, dlq, [failed(n) for n in range(30)])
    result = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "3s",
        "--max-return-rate", "10%", "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert data["redriven"] == 5
    canary = data["canary"]
    assert canary["sent"] == canary["replayed"] == 5 and canary["returned"] == 5
    assert canary["stopped"] and "during the watch" in canary["stopped"]
    assert "watching orders-dlq" in result.stderr
    # 25 never sent, and the 5 replays back in the DLQ: 30 messages, nothing lost.
    assert counts(fresh_endpoint, dlq) == (30, 0)
    assert sorted(canary["returned_ids"]) == sorted(set(canary["returned_ids"]))
    assert receive_all(boto, capture) == []


def test_a_canary_into_a_working_consumer_goes_on_with_the_rest(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="none")
    put(fresh_endpoint, dlq, [failed(n) for n in range(30)])
    result = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "2s",
        "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["redriven"] == 30 and data["canary"]["returned"] == 0
    assert data["canary"]["stopped"] is None
    assert "canary passed" in result.stderr
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert orders(boto, capture) == sorted(f"o-{n}" for n in range(30))


def test_the_breaker_trips_mid_run(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="not-ok")
    # The first ten the consumer takes; the fix did not cover the forty after them.
    put(fresh_endpoint, dlq, [failed(n, ok=n < 10) for n in range(50)])
    result = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "2s",
        "--max-return-rate", "20%", "--concurrency", "1", "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    canary = data["canary"]
    assert "canary passed" in result.stderr
    assert canary["stopped"] and "rest of the run" in canary["stopped"]
    assert 10 < data["redriven"] < 50  # past the canary, stopped before the end
    assert canary["returned"] == data["redriven"] - 10
    assert canary["return_rate"] > 0.2
    delivered = orders(boto, capture)
    assert delivered == sorted(f"o-{n}" for n in range(10))
    # Nothing lost: the DLQ holds the unsent and the returned, each order once.
    left = orders(boto, dlq)
    assert sorted(left) == sorted(f"o-{n}" for n in range(10, 50))


def test_canary_options_are_checked(cli, fresh_endpoint):
    create_queue(fresh_endpoint, "orders-dlq")
    lone = cli("redrive", "orders-dlq", "--to-bus", "shop", "--watch", "3m", "--yes")
    assert lone.exit_code == ExitCode.USAGE and "go with --canary" in lone.stderr
    rate = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5",
        "--max-return-rate", "150%", "--yes",
    )  # fmt: skip
    assert rate.exit_code == ExitCode.USAGE and "not a percentage" in rate.stderr


def test_a_killed_canary_run_and_its_rerun_lose_nothing(boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="none")
    put(fresh_endpoint, dlq, [failed(n) for n in range(40)])
    args = (
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "1s",
        "--concurrency", "1", "--hold", "2", "--yes", "-o", "json",
    )  # fmt: skip
    # The third acknowledged batch is one of the rest, after the canary and its watch.
    killed = start_dlqctl(
        fresh_endpoint, *args, module=["tests.crash_run", "kill@after-ack:3", "--"]
    )
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    time.sleep(2.5)  # the killed run's holds run out

    rerun = start_dlqctl(fresh_endpoint, *args)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert json.loads(stdout)["recovered"] == 10  # acknowledged, not deleted: not sent again
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert orders(boto, capture) == sorted(f"o-{n}" for n in range(40))


# The loop guard ---------------------------------------------------------------------------


def test_the_loop_guard_skips_content_replayed_too_often(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="all")
    put(fresh_endpoint, dlq, [failed(n) for n in range(3)])
    redrive = ("redrive", "orders-dlq", "--to-bus", "shop", "--yes", "-o", "json")
    for _ in range(3):
        run = cli(*redrive)
        assert run.exit_code == 0, run.stderr
        assert run.json()["redriven"] == 3
    guarded = cli(*redrive)
    assert guarded.exit_code == ExitCode.PARTIAL
    data = guarded.json()
    assert data["redriven"] == 0 and data["skipped"] == 3
    assert all("replayed 3 times, came back each time" in f["reason"] for f in data["failures"])
    assert counts(fresh_endpoint, dlq) == (3, 0)

    listed = cli("journal", "orders-dlq", "--replays", "-o", "json")
    assert [(item["replays"], item["content"]) for item in listed.json()] == [
        (3, "shop.orders / OrderPlaced")
    ] * 3
    assert "Replayed in the most runs" in cli("journal", "orders-dlq", "-o", "table").stdout

    raised = cli(*redrive, "--max-replays", "4")
    assert raised.exit_code == 0 and raised.json()["redriven"] == 3
    assert counts(fresh_endpoint, dlq) == (3, 0)


def test_a_canary_counts_replays_not_skipped_messages(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="all")
    # First ten that cannot be put on a bus (aws.* sources are refused), then thirty that can.
    unputtable = [
        emulate.eventbridge_dlq(
            emulate.event({"orderId": f"x-{n}"}, source="aws.ec2"),
            rule_arn=RULE,
            target_arn=TARGET,
            error_code="THROTTLING",
            error_message="Rate Exceeded.",
        )
        for n in range(10)
    ]
    put(fresh_endpoint, dlq, unputtable + [failed(n) for n in range(30)])
    result = cli(
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "2s",
        "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    canary = result.json()["canary"]
    assert canary["replayed"] == 5 and canary["returned"] == 5
    assert "during the watch" in canary["stopped"]
    assert result.json()["redriven"] == 5
    assert counts(fresh_endpoint, dlq) == (40, 0)


def test_messages_arriving_during_a_canary_run_are_not_replayed(cli, boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="none")
    put(fresh_endpoint, dlq, [failed(n) for n in range(40)])
    stop = threading.Event()

    def arrive() -> None:  # new failures keep arriving once the run is under way
        while not stop.is_set() and total(fresh_endpoint, capture) == 0:
            time.sleep(0.05)  # the canary's first replay: the run has counted its queue
        for n in range(1000, 1030):
            if stop.wait(0.1):
                return
            put(fresh_endpoint, dlq, [failed(n)])

    feeder = threading.Thread(target=arrive)
    feeder.start()
    try:
        result = cli(
            "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "1s",
            "--rate", "20", "--yes", "-o", "json",
        )  # fmt: skip
    finally:
        stop.set()
        feeder.join()
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 40
    assert orders(boto, capture) == sorted(f"o-{n}" for n in range(40))
    assert all(int(order[2:]) >= 1000 for order in orders(boto, dlq))


def test_apply_does_not_call_held_messages_gone(cli, boto, fresh_endpoint, tmp_path):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [failed(n) for n in range(4)])
    plan = tmp_path / "plan.json"
    assert cli("delete", "orders-dlq", "-f", "event", "--save-plan", str(plan)).exit_code == 0
    # Another consumer (or a killed run) holds all of them for a while.
    held = boto("sqs").receive_message(
        QueueUrl=dlq.url, MaxNumberOfMessages=10, VisibilityTimeout=60
    )["Messages"]
    assert len(held) == 4
    result = cli("apply", str(plan), "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    applied = result.json()["applied"]
    assert applied["gone"] == [] and len(applied["not_seen"]) == 4
    assert "were not seen" in result.stderr
    assert counts(fresh_endpoint, dlq) == (0, 4)


def test_a_plan_with_bad_settings_is_refused_in_one_line(cli, boto, fresh_endpoint, tmp_path):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    consumers(boto, dlq, create_queue(fresh_endpoint, "capture"), broken="none")
    put(fresh_endpoint, dlq, [failed(1)])
    plan = tmp_path / "plan.json"
    saved = cli("redrive", "orders-dlq", "--to-bus", "shop", "--save-plan", str(plan))
    assert saved.exit_code == 0, saved.stderr
    good = json.loads(plan.read_text())
    for change in (
        {"destination": {"bogus": 1}},
        {"wait": "soon"},
        {"rate": "fast"},
        {"canary": {"size": "five", "watch_seconds": 1, "max_return_rate": 0.1}},
        # Out of the range each option accepts.
        {"concurrency": -5},
        {"concurrency": 65},
        {"rate": 0},
        {"wait": 999},
        {"hold": 0},
        {"max_replays": 0},
        {"canary": {"size": 0, "watch_seconds": 1, "max_return_rate": 0.1}},
        {"canary": {"size": 5, "watch_seconds": 1, "max_return_rate": 1.5}},
        {"canary": {"size": 5, "watch_seconds": 1, "max_return_rate": float("nan")}},
        {"max_replays": float("inf")},
    ):
        document = json.loads(json.dumps(good))
        document["settings"].update(change)
        plan.write_text(json.dumps(document))
        result = cli("apply", str(plan), "--dry-run")
        assert result.exit_code == ExitCode.USAGE, (change, result.stderr)
        assert "is not a dlqctl plan" in result.stderr and "Traceback" not in result.stderr
    assert total(fresh_endpoint, dlq) == 1


def test_a_signal_during_the_watch_loses_nothing_and_a_rerun_goes_on(boto, fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    capture = create_queue(fresh_endpoint, "capture")
    consumers(boto, dlq, capture, broken="none")
    put(fresh_endpoint, dlq, [failed(n) for n in range(30)])
    args = (
        "redrive", "orders-dlq", "--to-bus", "shop", "--canary", "5", "--watch", "30s",
        "--yes", "-o", "json",
    )  # fmt: skip
    process = start_dlqctl(fresh_endpoint, *args)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and total(fresh_endpoint, capture) < 5:
        time.sleep(0.2)
    time.sleep(1.0)  # inside the 30 s watch
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    interrupted = json.loads(stdout)
    assert interrupted["redriven"] == 5 and interrupted["signal"] == signal.SIGTERM
    assert counts(fresh_endpoint, dlq) == (25, 0)  # the rest released at once, nothing held

    rerun = start_dlqctl(fresh_endpoint, *args[:7], "1s", *args[8:])
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert counts(fresh_endpoint, dlq) == (0, 0)
    assert orders(boto, capture) == sorted(f"o-{n}" for n in range(30))
