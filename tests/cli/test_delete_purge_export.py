"""delete, purge, export and import against the real endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import stat
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from dlqctl import emulate
from dlqctl.aws import Aws, Connection
from dlqctl.errors import ExitCode
from dlqctl.journal import default_path
from dlqctl.models import MessageAttribute, OutgoingMessage
from tests.cli.test_exit_codes import one_error_line
from tests.cli.test_redrive import bus_with_queue_target
from tests.conftest import REGION
from tests.helpers import counts, create_queue, put, receive_all, start_dlqctl


def seed(endpoint, name="orders-dlq", count=6):
    queue = create_queue(endpoint, name)
    messages = [
        emulate.lambda_dlq(emulate.event({"n": n}), "timeout" if n % 2 else "invalid order")
        for n in range(count)
    ]
    return queue, put(endpoint, queue, messages)


def test_delete_by_filter(cli, fresh_endpoint):
    _, ids = seed(fresh_endpoint)
    result = cli("delete", "orders-dlq", "--error-contains", "invalid", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {
        "selected": 3,
        "deleted": 3,
        "not_found": [],
        "dry_run": False,
        "failures": [],
        "coverage": {
            "complete": True,
            "seen": 6,
            "queue_depth": 6,
            "reason": None,
            "unreleased": 0,
            "arrived": 0,
        },
        "parking": None,
    }
    left = {view["message_id"] for view in cli("peek", "orders-dlq", "--all", "-o", "json").json()}
    assert left == {ids[1], ids[3], ids[5]}


def test_delete_by_id_reports_ids_not_found(cli, fresh_endpoint):
    queue, ids = seed(fresh_endpoint)
    result = cli(
        "delete", "orders-dlq", "--id", ids[0], "--id", "no-such-id", "--yes", "-o", "json"
    )
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert data["deleted"] == 1
    assert data["not_found"] == ["no-such-id"]
    assert counts(fresh_endpoint, queue) == (5, 0)


def test_delete_needs_a_selection_and_a_confirmation(cli, fresh_endpoint):
    queue, _ = seed(fresh_endpoint)
    assert cli("delete", "orders-dlq", "--yes").exit_code == ExitCode.USAGE
    refused = cli("delete", "orders-dlq", "--kind", "lambda-dlq")
    assert refused.exit_code == ExitCode.USAGE
    dry = cli("delete", "orders-dlq", "--kind", "lambda-dlq", "--dry-run", "-o", "json")
    assert dry.json()["selected"] == 6
    assert dry.json()["deleted"] == 0
    assert counts(fresh_endpoint, queue) == (6, 0)


def test_purge(cli, fresh_endpoint):
    queue, _ = seed(fresh_endpoint)
    refused = cli("purge", "orders-dlq")
    assert refused.exit_code == ExitCode.USAGE
    assert counts(fresh_endpoint, queue) == (6, 0)
    result = cli("purge", "orders-dlq", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["purged"] is True
    assert counts(fresh_endpoint, queue) == (0, 0)


def test_purge_in_progress_is_one_clear_line(cli_via, faults, fresh_endpoint):
    seed(fresh_endpoint)
    faults.fail("sqs", "PurgeQueue", "AWS.SimpleQueueService.PurgeQueueInProgress", status=403)
    result = cli_via("purge", "orders-dlq", "--yes")
    assert result.exit_code == ExitCode.BUSY
    assert "purged less than 60 seconds ago" in result.stderr
    assert "wait a minute" in result.stderr


def test_purge_with_archive_deletes_only_what_is_archived(cli, fresh_endpoint, tmp_path):
    queue, ids = seed(fresh_endpoint)
    archive = tmp_path / "archive.jsonl"
    result = cli("purge", "orders-dlq", "--archive", str(archive), "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["exported"] == 6
    assert result.json()["deleted"] == 6
    lines = archive.read_text().splitlines()
    assert sorted(json.loads(line)["message_id"] for line in lines) == sorted(ids)
    assert counts(fresh_endpoint, queue) == (0, 0)


@pytest.mark.parametrize(
    "command",
    [
        ("purge", "orders-dlq", "--archive", "-", "--yes"),
        ("export", "orders-dlq", "-", "--delete", "--yes"),
    ],
)
def test_deleting_what_is_written_to_stdout_is_refused(cli, fresh_endpoint, command):
    # A pipe or a terminal cannot be synced to disk: the messages would be deleted whatever
    # became of their lines (a reader that stopped, the result mixed in after them).
    queue, _ = seed(fresh_endpoint)
    result = cli(*command, "-o", "json")
    assert result.exit_code == ExitCode.USAGE
    assert "needs a file, not stdout" in result.stderr
    assert result.stdout == ""
    assert counts(fresh_endpoint, queue) == (6, 0)


def test_purge_with_a_filter_is_a_selective_delete(cli, fresh_endpoint):
    queue, _ = seed(fresh_endpoint)
    result = cli("purge", "orders-dlq", "--error-contains", "timeout", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted"] == 3
    assert counts(fresh_endpoint, queue) == (3, 0)


def test_export_is_private_and_non_destructive(cli, fresh_endpoint, tmp_path):
    queue, ids = seed(fresh_endpoint)
    path = tmp_path / "out.jsonl"
    result = cli("export", "orders-dlq", str(path), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["exported"] == 6
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(record["message_id"] for record in records) == sorted(ids)
    record = records[0]
    assert record["kind"] == "lambda-dlq"
    assert record["sqs"]["message_attributes"]["ErrorCode"] == {
        "DataType": "Number",
        "StringValue": "200",
    }
    assert counts(fresh_endpoint, queue) == (6, 0)
    again = cli("export", "orders-dlq", str(path))
    assert again.exit_code == ExitCode.USAGE
    assert "--overwrite" in again.stderr


def test_export_to_stdout_with_filter(cli, fresh_endpoint):
    seed(fresh_endpoint)
    result = cli("export", "orders-dlq", "-", "--error-contains", "timeout")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3


def test_export_delete_removes_what_was_written(cli, fresh_endpoint, tmp_path):
    queue, _ = seed(fresh_endpoint)
    path = tmp_path / "moved.jsonl"
    result = cli(
        "export",
        "orders-dlq",
        str(path),
        "--delete",
        "--kind",
        "lambda-dlq",
        "--limit",
        "4",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted"] == 4
    assert len(path.read_text().splitlines()) == 4
    assert counts(fresh_endpoint, queue) == (2, 0)


def test_round_trip_restores_bodies_and_attributes(cli, boto, fresh_endpoint, tmp_path):
    queue = create_queue(fresh_endpoint, "orders-dlq")
    attributes = {
        "tenant": MessageAttribute("String", "acme"),
        "amount": MessageAttribute("Number", "12.50"),
        "raw": MessageAttribute("Binary", binary_value=b"\x00\xffbytes"),
        "unicode": MessageAttribute("String.custom", "grüße ✓"),
    }
    bodies = ["plain", '{"json": [1, 2]}', "ünïcödé ✓", "x" * 5000]
    put(fresh_endpoint, queue, [OutgoingMessage("m", body, attributes) for body in bodies])
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    assert cli("purge", "orders-dlq", "--yes").exit_code == 0
    assert counts(fresh_endpoint, queue) == (0, 0)
    assert cli("import", str(path), "orders-dlq").exit_code == ExitCode.USAGE  # no --yes
    assert counts(fresh_endpoint, queue) == (0, 0)
    result = cli("import", str(path), "orders-dlq", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 4

    sqs = boto("sqs")
    restored = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            restored[message["Body"]] = message["MessageAttributes"]
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(restored) == sorted(bodies)
    for attrs in restored.values():
        assert attrs["tenant"] == {"StringValue": "acme", "DataType": "String"}
        assert attrs["amount"] == {"StringValue": "12.50", "DataType": "Number"}
        assert attrs["raw"] == {"BinaryValue": b"\x00\xffbytes", "DataType": "Binary"}
        assert attrs["unicode"] == {"StringValue": "grüße ✓", "DataType": "String.custom"}


def test_import_to_bus_skips_junk_lines_and_reports_their_numbers(
    cli, boto, fresh_endpoint, tmp_path
):
    seed(fresh_endpoint, count=3)
    path = tmp_path / "events.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    lines = path.read_bytes().splitlines(keepends=True)
    # Junk in the middle: not UTF-8, not JSON, JSON that is not a record.
    path.write_bytes(
        lines[0] + b"\xff\xfe junk\n" + b"not json\n" + lines[1] + b"[1, 2]\n" + lines[2]
    )
    events = boto("events")
    events.create_event_bus(Name="shop")
    target = create_queue(fresh_endpoint, "replayed")
    events.put_rule(Name="all", EventBusName="shop", EventPattern='{"source": ["shop.orders"]}')
    events.put_targets(Rule="all", EventBusName="shop", Targets=[{"Id": "q", "Arn": target.arn}])
    result = cli("import", str(path), "--to-bus", "shop", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    data = result.json()
    assert (data["selected"], data["redriven"], data["skipped"]) == (3, 3, 3)
    assert data["failures"] == [
        {"message_id": "line 2", "reason": "not UTF-8 text"},
        {"message_id": "line 3", "reason": "not JSON"},
        {"message_id": "line 5", "reason": "not a dlqctl export record"},
    ]
    assert counts(fresh_endpoint, target) == (3, 0)


def test_import_skips_records_it_cannot_send_again_as_they_were(cli, fresh_endpoint, tmp_path):
    """A record with a body that is not text (which would go out as the text "None"), an
    attribute that is not base64, a format newer than this dlqctl's: each line is skipped with
    its reason, the rest goes on, and the run exits 5."""
    seed(fresh_endpoint, count=4)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["sqs"]["body"] = None
    records[1]["sqs"]["message_attributes"]["raw"] = {"DataType": "Binary", "BinaryValue": "!!x"}
    records[2]["sqs"]["format"] = 99
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    target = create_queue(fresh_endpoint, "restored")

    dry = cli("import", str(path), "restored", "--dry-run", "-o", "json")
    result = cli("import", str(path), "restored", "--yes", "-o", "json")

    assert dry.exit_code == result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert (data["selected"], data["redriven"], data["skipped"]) == (1, 1, 3)
    assert data["failures"] == [
        {"message_id": "line 1", "reason": "not a dlqctl export record: the body is not text"},
        {
            "message_id": "line 2",
            "reason": "not a dlqctl export record: message attribute raw's BinaryValue is not "
            "base64",
        },
        {
            "message_id": "line 3",
            "reason": "not a dlqctl export record: format 99 is not one this dlqctl reads (1)",
        },
    ]
    assert counts(fresh_endpoint, target) == (1, 0)


def test_an_import_reports_a_line_it_cannot_read_and_sends_records_with_odd_timestamps(
    cli, fresh_endpoint, tmp_path
):
    """JSON nested past what the parser takes is a line of its own, skipped with its number;
    a SentTimestamp past the years a date holds, or of digits that are not ASCII, is no time
    (the record is sent). Each of these ended the import with "unexpected" (exit 1)."""
    seed(fresh_endpoint, count=3)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["sqs"]["attributes"]["SentTimestamp"] = "99999999999999999999"
    records[1]["sqs"]["attributes"]["SentTimestamp"] = "\u00b2"
    lines = [json.dumps(record) for record in records] + ["[" * 200_000 + "]" * 200_000]
    path.write_text("".join(line + "\n" for line in lines))
    target = create_queue(fresh_endpoint, "restored")
    result = cli("import", str(path), "restored", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert (data["selected"], data["redriven"], data["skipped"]) == (3, 3, 1)
    assert data["failures"] == [{"message_id": "line 4", "reason": "JSON nested too deeply"}]
    assert counts(fresh_endpoint, target) == (3, 0)


def test_an_import_run_again_sends_only_what_was_not_acknowledged(
    cli, cli_via, faults, boto, fresh_endpoint, tmp_path
):
    seed(fresh_endpoint, count=25)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    target = create_queue(fresh_endpoint, "restored")
    first = cli("import", str(path), "restored", "--limit", "12", "--yes", "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert (first.json()["selected"], first.json()["redriven"]) == (12, 12)
    # The second run: the first 12 are in the journal; one batch's answer is lost on the way.
    faults.drop_responses("sqs", "SendMessageBatch", times=1)
    second = cli_via("import", str(path), "restored", "--yes", "-o", "json")
    assert second.exit_code == ExitCode.PARTIAL
    data = second.json()
    assert (data["recovered"], data["redriven"], data["unanswered"]) == (12, 3, 10)
    assert "12 record(s) were found in the journal of an earlier run of this import" in (
        second.stderr
    )
    assert "journal of an earlier run" not in first.stderr
    assert "the same import run again sends only what was not acknowledged" in second.stderr
    # The third run resends only the unanswered batch (ambiguous: at least once).
    third = cli("import", str(path), "restored", "--yes", "-o", "json")
    assert third.exit_code == 0, third.stderr
    assert (third.json()["recovered"], third.json()["ambiguous"], third.json()["redriven"]) == (
        15,
        10,
        10,
    )
    bodies = [message["Body"] for message in receive_all(boto, target)]
    assert len(set(bodies)) == 25
    assert len(bodies) == 35  # the 10 whose answer was lost arrived twice, across runs


@pytest.mark.parametrize("command", [("export", "--delete"), ("purge", "--archive")])
def test_a_deleting_export_never_replaces_a_file_that_holds_anything(
    cli, fresh_endpoint, tmp_path, command
):
    # After an interrupted `purge --archive a.jsonl`, a.jsonl may be the only copy of what was
    # deleted. Running it again is refused before the confirmation, and the hint no longer
    # offers --overwrite; --overwrite itself is refused while the file holds anything.
    queue, _ = seed(fresh_endpoint, count=3)
    path = tmp_path / "a.jsonl"
    path.write_text('{"message_id": "deleted earlier"}\n')

    def args(file):
        if command[0] == "export":
            return ["export", "orders-dlq", str(file), command[1]]
        return ["purge", "orders-dlq", command[1], str(file)]

    again = cli(*args(path))  # no --yes, no terminal: the file is refused, not the prompt
    assert again.exit_code == ExitCode.USAGE
    assert f"{path} exists" in again.stderr and "--overwrite" not in again.stderr
    replaced = cli(*args(path), "--overwrite", "--yes")
    assert replaced.exit_code == ExitCode.USAGE
    assert "may be messages already deleted from a DLQ" in replaced.stderr
    assert path.read_text() == '{"message_id": "deleted earlier"}\n'
    assert counts(fresh_endpoint, queue) == (3, 0)
    # An empty file is written in place with --overwrite (and only then).
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "pass --overwrite (it is empty)" in cli(*args(empty), "--yes").stderr
    written = cli(*args(empty), "--overwrite", "--yes")
    assert written.exit_code == 0, written.stderr
    assert len(empty.read_text().splitlines()) == 3
    assert counts(fresh_endpoint, queue) == (0, 0)


def test_an_import_into_a_queue_of_the_same_name_elsewhere_sends_everything(
    cli, fresh_endpoint, tmp_path
):
    # The same file imported into `restored` in one region, then into `restored` in another:
    # each queue gets every record. (The journal was named by "queue restored" alone, so
    # the second run found the first's acknowledgements, sent nothing and exited 0.)
    seed(fresh_endpoint, count=12)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    here = create_queue(fresh_endpoint, "restored")
    there = Aws(Connection(region="eu-west-1", endpoint_url=fresh_endpoint)).sqs.create(
        "restored", {}
    )
    first = cli("import", str(path), "restored", "--yes", "-o", "json")
    assert first.exit_code == 0, first.stderr
    elsewhere = ["--endpoint-url", fresh_endpoint, "--region", "eu-west-1"]
    second = cli("import", str(path), "restored", "--yes", "-o", "json", *elsewhere, connect=False)
    assert second.exit_code == 0, second.stderr
    assert (second.json()["redriven"], second.json()["recovered"]) == (12, 0)
    assert counts(fresh_endpoint, here) == (12, 0)
    assert there.arn.split(":")[3] == "eu-west-1"
    assert (
        Aws(Connection(region="eu-west-1", endpoint_url=fresh_endpoint))
        .sqs.attributes(there)
        .visible
        == 12
    )


def test_an_import_journal_of_an_earlier_version_is_still_used(cli, boto, fresh_endpoint, tmp_path):
    # Earlier versions named a journal by the destination's name ("queue restored"). A rerun
    # after an upgrade finds that journal and sends only what it had not acknowledged.
    seed(fresh_endpoint, count=12)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    target = create_queue(fresh_endpoint, "restored")
    first = cli("import", str(path), "restored", "--limit", "5", "--yes", "-o", "json")
    assert first.exit_code == 0, first.stderr
    source = f"file:{path}"
    current = default_path(source, f"queue {target.arn}")
    lines = current.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["destination"] == f"queue {target.arn}"
    header["destination"] = "queue restored"  # as the earlier version wrote it, where it did
    default_path(source, "queue restored").write_text(
        "".join(line + "\n" for line in [json.dumps(header), *lines[1:]])
    )
    current.unlink()
    again = cli("import", str(path), "restored", "--yes", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert (again.json()["recovered"], again.json()["redriven"]) == (5, 7)
    assert len(receive_all(boto, target)) == 12


def test_a_record_repeated_in_the_file_is_sent_once(cli, boto, fresh_endpoint, tmp_path):
    seed(fresh_endpoint, count=3)
    path = tmp_path / "twice.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    path.write_bytes(path.read_bytes() * 2)
    target = create_queue(fresh_endpoint, "restored")
    result = cli("import", str(path), "restored", "--yes", "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL  # the repeats are reported
    data = result.json()
    assert (data["redriven"], data["skipped"]) == (3, 3)
    assert all("again; sent once" in failure["reason"] for failure in data["failures"])
    assert len(receive_all(boto, target)) == 3


def test_a_failed_overwrite_leaves_the_old_file_and_keeps_the_partial(
    cli_via, faults, fresh_endpoint, tmp_path
):
    seed(fresh_endpoint, count=3)
    path = tmp_path / "archive.jsonl"
    path.write_text("the old archive\n")
    faults.fail("sqs", "ReceiveMessage", "AccessDenied", status=403)
    result = cli_via("export", "orders-dlq", str(path), "--overwrite")
    assert result.exit_code == ExitCode.ACCESS
    assert path.read_text() == "the old archive\n"
    [partial] = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert f"what was exported is in {partial}" in result.stderr


def _limited_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _export_size(cli, tmp_path, count: int) -> int:
    """The size of one line of an export of orders-dlq's ``count`` messages, about."""
    probe = tmp_path / "probe.jsonl"
    assert cli("export", "orders-dlq", str(probe)).exit_code == 0
    line = len(probe.read_bytes()) // count
    probe.unlink()
    return line


@pytest.mark.parametrize("overwrite", [False, True], ids=["new-file", "empty-file"])
def test_an_export_that_cannot_write_says_what_it_wrote_and_deleted_before(
    cli, fresh_endpoint, tmp_path, overwrite
):
    """A full disk or a file-size limit mid-export: the result says how many messages the
    file holds and were deleted, then one error line; the batch that did not fit is still in
    the queue. Every deleted message is whole in the file."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    sent = put(fresh_endpoint, dlq, [OutgoingMessage("m", "x" * 500 + str(n)) for n in range(60)])
    # The limit cuts the second batch's last line: where a write cut short could go unnoticed.
    line = _export_size(cli, tmp_path, 60)
    limit = 20 * line - line // 2
    path = tmp_path / "archive.jsonl"
    if overwrite:
        path.write_text("")  # an empty file: --delete does not replace one that holds anything
    done = subprocess.run(
        [sys.executable, "-m", "dlqctl", "export", "orders-dlq", str(path), "--delete", "--yes",
         *(["--overwrite"] if overwrite else []), "-o", "json"],
        env={**os.environ, "AWS_ENDPOINT_URL": fresh_endpoint, "AWS_REGION": REGION},
        preexec_fn=_limited_file_size(limit), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == ExitCode.UNEXPECTED
    error = one_error_line(done.stderr)
    assert "writing the export failed: File too large" in error
    data = json.loads(done.stdout)
    assert data["error"] in error
    deleted = data["deleted"]
    assert 0 < deleted == data["exported"] < 60
    assert f"holds {deleted:,} message(s), {deleted:,} of them deleted from the queue" in error
    assert data["coverage"]["complete"] is False
    assert counts(fresh_endpoint, dlq) == (60 - deleted, 0)
    kept = set()
    for text in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # the line the limit cut
            kept.add(json.loads(text)["message_id"])
    left = {view["message_id"] for view in cli("peek", "orders-dlq", "--all", "-o", "json").json()}
    assert kept | left == set(sent), "a deleted message is not whole in the file"


def test_an_overwrite_cut_short_is_an_error_and_keeps_the_old_file(cli, fresh_endpoint, tmp_path):
    """`export --overwrite` writes beside the old file. A write a file-size limit cut short
    there went unnoticed (a TextIOWrapper on the raw file drops what the system did not take):
    the export ended "complete", exit 0, its file short of messages it said it had written.
    Now it is an error, the old file is as it was, and the partial one is kept and named."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "x" * 500 + str(n)) for n in range(20)])
    line = _export_size(cli, tmp_path, 20)
    path = tmp_path / "archive.jsonl"
    path.write_text("an older export\n")
    done = subprocess.run(
        [sys.executable, "-m", "dlqctl", "export", "orders-dlq", str(path), "--overwrite",
         "-o", "json"],
        env={**os.environ, "AWS_ENDPOINT_URL": fresh_endpoint, "AWS_REGION": REGION},
        preexec_fn=_limited_file_size(20 * line - line // 2), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == ExitCode.UNEXPECTED, done.stderr
    error = one_error_line(done.stderr)
    assert "writing the export failed: File too large" in error
    assert path.read_text() == "an older export\n"
    [partial] = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert f"what was exported is in {partial}" in error
    assert counts(fresh_endpoint, dlq) == (20, 0)


def test_an_export_to_a_closed_pipe_is_not_an_error(fresh_endpoint):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage("m", "x" * 500 + str(n)) for n in range(150)])
    process = start_dlqctl(fresh_endpoint, "export", "orders-dlq", "-", "-o", "json")
    assert process.stdout is not None
    process.stdout.read(100)
    process.stdout.close()  # `| head -c 100`
    assert process.stderr is not None
    with process.stderr:
        stderr = process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode == ExitCode.OK, stderr
    assert "Error" not in stderr
    assert counts(fresh_endpoint, dlq) == (150, 0)


def test_an_export_onto_an_earlier_export_says_what_overwrite_would_replace(
    cli, fresh_endpoint, tmp_path
):
    """An earlier export may be the only copy of messages deleted since (an `export --delete`,
    a `purge --archive`): the refusal says so, rather than suggesting --overwrite."""
    seed(fresh_endpoint, count=3)
    path = tmp_path / "incident.jsonl"
    assert cli("export", "orders-dlq", str(path), "--delete", "--yes").exit_code == 0
    seed(fresh_endpoint, count=2)
    again = cli("export", "orders-dlq", str(path))
    assert again.exit_code == ExitCode.USAGE
    assert "holds a dlqctl export, which may be the only copy" in again.stderr
    assert "--overwrite would replace it" in again.stderr
    assert len(path.read_text().splitlines()) == 3


def test_an_import_in_chunks_goes_on_where_the_last_chunk_ended(
    cli, boto, fresh_endpoint, tmp_path
):
    """``--limit N`` run again sends the next N: what the journal shows delivered by an
    earlier run does not count toward it."""
    seed(fresh_endpoint, count=25)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path)).exit_code == 0
    target = create_queue(fresh_endpoint, "restored")
    sent = []
    for _ in range(3):
        run = cli("import", str(path), "restored", "--limit", "10", "--yes", "-o", "json")
        assert run.exit_code == 0, run.stderr
        sent.append(run.json()["redriven"])
    assert sent == [10, 10, 5]
    bodies = [message["Body"] for message in receive_all(boto, target)]
    assert len(bodies) == len(set(bodies)) == 25


def test_an_import_to_a_bus_where_no_rule_matches_is_refused(
    cli, cli_via, faults, boto, fresh_endpoint, tmp_path
):
    """The file may be the last copy (after `export --delete`): events put on a bus where no
    enabled rule matches them would be acknowledged and go nowhere. The file's first records
    are checked as a redrive checks its sample: refused (exit 2), nothing sent, --force sends."""
    seed(fresh_endpoint, count=3)
    path = tmp_path / "events.jsonl"
    assert cli("export", "orders-dlq", str(path), "--delete", "--yes").exit_code == 0
    events = boto("events")
    events.create_event_bus(Name="shop")
    target = create_queue(fresh_endpoint, "replayed")
    events.put_rule(
        Name="processor", EventBusName="shop", EventPattern='{"source": ["shop.orders"]}',
        State="DISABLED",
    )  # fmt: skip
    events.put_targets(
        Rule="processor", EventBusName="shop", Targets=[{"Id": "q", "Arn": target.arn}]
    )
    refused = cli_via("import", str(path), "--to-bus", "shop", "--yes", "-o", "json")
    assert refused.exit_code == ExitCode.USAGE, refused.stderr
    assert "pre-flight check failed" in refused.stderr and "go nowhere" in refused.stderr
    assert faults.count("events", "PutEvents") == 0, "nothing was sent"
    events.enable_rule(Name="processor", EventBusName="shop")
    sent = cli("import", str(path), "--to-bus", "shop", "--yes", "-o", "json")
    assert sent.exit_code == 0, sent.stderr
    assert sent.json()["redriven"] == 3
    assert sent.json()["preflight"]["sampled"] == 3
    assert counts(fresh_endpoint, target) == (3, 0)


def test_an_archive_into_an_empty_file_is_made_owner_only(cli, fresh_endpoint, tmp_path):
    seed(fresh_endpoint, count=2)
    path = tmp_path / "archive.jsonl"
    path.write_text("")
    path.chmod(0o644)
    done = cli("export", "orders-dlq", str(path), "--delete", "--overwrite", "--yes")
    assert done.exit_code == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().splitlines()) == 2


def test_an_import_to_a_bus_keeps_to_the_entry_size_it_is_given(
    cli, boto, fresh_endpoint, tmp_path
):
    """An endpoint that still takes 256 KB, or less: --max-event-bytes, as for a redrive."""
    queue = create_queue(fresh_endpoint, "orders-dlq")
    put(
        fresh_endpoint,
        queue,
        [
            emulate.lambda_dlq(emulate.event({"n": n, "pad": "x" * 2000 * n}), "boom")
            for n in range(2)
        ],
    )
    path = tmp_path / "events.jsonl"
    assert cli("export", "orders-dlq", str(path), "--delete", "--yes").exit_code == 0
    target = bus_with_queue_target(boto, fresh_endpoint)
    result = cli("import", str(path), "--to-bus", "shop", "--max-event-bytes", "1500", "--yes",
                 "-o", "json")  # fmt: skip
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    data = result.json()
    assert (data["redriven"], data["failed"]) == (1, 1)
    assert "1,500-byte PutEvents limit (--max-event-bytes)" in data["failures"][0]["reason"]
    assert counts(fresh_endpoint, target) == (1, 0)


def test_an_import_through_a_pipe_sends_every_record(cli, boto, fresh_endpoint, tmp_path):
    """`import <(zcat archive.jsonl.gz) orders`: a pipe can be read only once, so no sample is
    taken from it before the import (one would consume the first records), and it says so."""
    seed(fresh_endpoint, count=30)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path), "--delete", "--yes").exit_code == 0
    target = create_queue(fresh_endpoint, "restored")
    reading, writing = os.pipe()

    def feed() -> None:
        with os.fdopen(writing, "wb") as pipe:
            pipe.write(path.read_bytes())

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        result = cli("import", f"/dev/fd/{reading}", "restored", "--yes", "-o", "json")
    finally:
        feeder.join()
        os.close(reading)
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 30
    assert "can be read only once (stdin, a pipe, a descriptor): the pre-flight checks" in (
        result.stderr
    )
    assert counts(fresh_endpoint, target) == (30, 0)


def test_an_export_onto_a_fifo_is_refused_at_once(cli, fresh_endpoint, tmp_path):
    seed(fresh_endpoint, count=1)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused = cli("export", "orders-dlq", str(fifo))
    assert refused.exit_code == ExitCode.USAGE
    assert f"{fifo} exists" in refused.stderr


def test_an_import_from_a_named_pipe_is_read_once_and_whole(cli, fresh_endpoint, tmp_path):
    seed(fresh_endpoint, count=12)
    path = tmp_path / "archive.jsonl"
    assert cli("export", "orders-dlq", str(path), "--delete", "--yes").exit_code == 0
    target = create_queue(fresh_endpoint, "restored")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as pipe:  # waits for the import to open it
            pipe.write(path.read_bytes())

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    result = cli("import", str(fifo), "restored", "--yes", "-o", "json")
    feeder.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert result.json()["redriven"] == 12
    assert counts(fresh_endpoint, target) == (12, 0)


def test_output_an_ascii_terminal_cannot_take_is_escaped_and_stays_json(fresh_endpoint):
    queue = create_queue(fresh_endpoint, "orders-dlq")
    body = '{"note":"caf\\u00e9 \\ud83d\\ude00"}'  # nothing ASCII can take
    put(fresh_endpoint, queue, [OutgoingMessage("m", body)])
    done = subprocess.run(
        [sys.executable, "-m", "dlqctl", "peek", "orders-dlq", "-o", "json"],
        env={**os.environ, "AWS_ENDPOINT_URL": fresh_endpoint, "AWS_REGION": REGION,
             "PYTHONIOENCODING": "ascii"},
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [view] = json.loads(done.stdout.decode("ascii"))
    assert view["json"]["note"] == "caf\u00e9 \U0001f600"
    assert view["body"] == body
