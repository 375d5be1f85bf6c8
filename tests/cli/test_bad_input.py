"""Bad input, as an on-call engineer types it: each case is one clear error line, a documented
exit code, and nothing lost (the DLQ holds every message it held before, none left hidden).

The table below is the list of bad inputs tried; each row is pinned to its exit code and to a
piece of its message.
"""

from __future__ import annotations

import array
import io
import json
import signal
import subprocess
import time

import pytest

from dlqctl import emulate, render
from dlqctl.errors import ExitCode
from dlqctl.models import OutgoingMessage
from tests.cli.test_exit_codes import one_error_line
from tests.helpers import counts, create_queue, put, receive_all, start_dlqctl

MESSAGES = 3
OTHER_REGION_ARN = "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"

# (id, arguments ({tmp} is a temporary folder), exit code, a piece of the error line)
CASES = [
    ("unknown filter function", ["peek", "orders-dlq", "--filter", "nosuchfn(body)"],
     ExitCode.USAGE, "Unknown function: nosuchfn()"),
    ("unknown filter function on delete",
     ["delete", "orders-dlq", "--filter", "nosuchfn(body)", "--yes"],
     ExitCode.USAGE, "Unknown function"),
    ("wrong number of arguments", ["peek", "orders-dlq", "--filter", "contains(body)"],
     ExitCode.USAGE, "Expected 2 arguments"),
    ("filter syntax", ["peek", "orders-dlq", "--filter", "kind =="], ExitCode.USAGE,
     "bad filter expression"),
    ("bad duration", ["peek", "orders-dlq", "--older-than", "5x"], ExitCode.USAGE,
     "bad duration"),
    ("queue ARN of another region", ["peek", OTHER_REGION_ARN], ExitCode.USAGE,
     "is in region eu-west-1"),
    ("queue URL of another region",
     ["peek", "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"], ExitCode.USAGE,
     "is in region eu-west-1"),
    ("bus ARN of another region",
     ["redrive", "orders-dlq", "--to-bus", "arn:aws:events:eu-west-1:123456789012:event-bus/shop",
      "--yes"], ExitCode.USAGE, "is in region eu-west-1"),
    ("no such queue", ["peek", "no-such-dlq"], ExitCode.NOT_FOUND, "not found"),
    ("no such bus", ["redrive", "orders-dlq", "--to-bus", "no-such-bus", "--yes"],
     ExitCode.NOT_FOUND, "not found"),
    ("redrive without a destination", ["redrive", "orders-dlq", "--yes"], ExitCode.USAGE, ""),
    ("redrive into itself", ["redrive", "orders-dlq", "--to-queue", "orders-dlq", "--yes"],
     ExitCode.USAGE, "both the DLQ and the destination"),
    ("limit 0", ["redrive", "orders-dlq", "--to-queue", "orders", "--limit", "0", "--yes"],
     ExitCode.USAGE, "--limit"),
    ("concurrency 0", ["redrive", "orders-dlq", "--to-queue", "orders", "-c", "0", "--yes"],
     ExitCode.USAGE, "--concurrency"),
    ("tiny event limit", ["redrive", "orders-dlq", "--to-bus", "shop", "--max-event-bytes", "10"],
     ExitCode.USAGE, "--max-event-bytes"),
    ("not confirmed without a terminal", ["redrive", "orders-dlq", "--to-queue", "orders"],
     ExitCode.USAGE, "pass --yes"),
    ("delete with no selection", ["delete", "orders-dlq", "--yes"], ExitCode.USAGE,
     "needs --id or a filter"),
    ("unknown output format", ["peek", "orders-dlq", "-o", "yaml"], ExitCode.USAGE, "yaml"),
    ("malformed endpoint URL", ["list", "--endpoint-url", "nonsense"], ExitCode.USAGE,
     "not an http(s) URL"),
    ("a group alone", ["sandbox"], ExitCode.USAGE, "'dlqctl sandbox' needs a command"),
    ("import with no destination", ["import", "{tmp}/export.jsonl", "--yes"], ExitCode.USAGE,
     "give a QUEUE or --to-bus"),
    ("import with two destinations",
     ["import", "{tmp}/export.jsonl", "orders", "--to-bus", "shop", "--yes"], ExitCode.USAGE,
     "not both"),
    ("import of a missing file", ["import", "{tmp}/missing.jsonl", "orders", "--yes"],
     ExitCode.USAGE, "cannot read"),
    ("journal path is a folder",
     ["redrive", "orders-dlq", "--to-queue", "orders", "--journal", "{tmp}", "--yes"],
     ExitCode.USAGE, "cannot use the journal"),
    ("journal path is an export",
     ["redrive", "orders-dlq", "--to-queue", "orders", "--journal", "{tmp}/export.jsonl", "--yes"],
     ExitCode.USAGE, "is not a dlqctl journal"),
    ("a journal with a line that is not an entry (it was 'unexpected', exit 1)",
     ["redrive", "orders-dlq", "--to-queue", "orders", "--journal", "{tmp}/odd/journal.jsonl",
      "--yes"], ExitCode.USAGE, "odd/journal.jsonl line 2 is not a dlqctl journal entry"),
    ("export over an existing file", ["export", "orders-dlq", "{tmp}/export.jsonl"],
     ExitCode.USAGE, "exists"),
    ("export --overwrite of a device", ["export", "orders-dlq", "/dev/full", "--overwrite"],
     ExitCode.USAGE, "is not a regular file"),
    ("export --delete to stdout", ["export", "orders-dlq", "-", "--delete", "--yes"],
     ExitCode.USAGE, "--delete needs a file"),
    ("peek --all with a limit", ["peek", "orders-dlq", "--all", "-n", "5"], ExitCode.USAGE,
     "--all walks the whole queue"),
    ("event rewrites to a queue",
     ["redrive", "orders-dlq", "--to-queue", "orders", "--source", "x", "--new-time", "--yes"],
     ExitCode.USAGE, "--source, --new-time rewrite the event a bus replay sends"),
    ("a message group to a bus",
     ["redrive", "orders-dlq", "--to-bus", "shop", "--group-id", "g", "--yes"], ExitCode.USAGE,
     "a bus has none"),
    ("a message group to a standard queue",
     ["redrive", "orders-dlq", "--to-queue", "orders", "--group-id", "g", "--yes"],
     ExitCode.USAGE, "orders is a standard queue"),
    ("event rewrites in an import",
     ["import", "{tmp}/export.jsonl", "orders", "--detail-type", "X", "--yes"], ExitCode.USAGE,
     "--detail-type rewrite the event"),
    ("peek of a chained DLQ", ["peek", "middle-dlq"], ExitCode.USAGE, "not read-only"),
    ("summary of a chained DLQ", ["summary", "middle-dlq"], ExitCode.USAGE, "not read-only"),
    ("server-side with rewrites",
     ["redrive", "orders-dlq", "--to-bus", "shop", "--server-side", "--source", "x", "--yes"],
     ExitCode.USAGE, "--server-side cannot apply --source"),
    ("a move task's rate below one a second (it was sent as 0: no cap at all)",
     ["redrive", "orders-dlq", "--to-source", "--server-side", "--rate", "0.5", "--yes"],
     ExitCode.USAGE, "a whole number of messages a second, from 1 to 500 (got 0.5)"),
    ("a move task's rate above SQS's ceiling",
     ["redrive", "orders-dlq", "--to-source", "--server-side", "--rate", "900", "--yes"],
     ExitCode.USAGE, "from 1 to 500 (got 900)"),
    ("a rate for the redriver (it was dropped without a word)",
     ["redrive", "orders-dlq", "--to-bus", "shop", "--server-side", "--rate", "10", "--yes"],
     ExitCode.USAGE, "--rate does not apply to the redriver"),
]  # fmt: skip


@pytest.fixture
def incident(fresh_endpoint, tmp_path):
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    orders = create_queue(fresh_endpoint, "orders")
    final = create_queue(fresh_endpoint, "final-dlq")
    create_queue(
        fresh_endpoint,
        "middle-dlq",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": final.arn, "maxReceiveCount": 1}),
    )
    put(
        fresh_endpoint,
        dlq,
        [emulate.lambda_dlq(emulate.event({"n": n}), "boom") for n in range(MESSAGES)],
    )
    (tmp_path / "export.jsonl").write_text('{"sqs": {"message_id": "x", "body": "{}"}}\n')
    header = {"op": "journal", "version": 1, "queue": dlq.arn, "destination": f"queue {orders.arn}"}
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "journal.jsonl").write_text(json.dumps(header) + "\n[1, 2]\n")
    return dlq


@pytest.mark.parametrize(("args", "code", "fragment"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])  # fmt: skip
def test_bad_input(cli, fresh_endpoint, incident, tmp_path, args, code, fragment):
    before = (tmp_path / "export.jsonl").read_bytes()
    # Cases that give their own endpoint, or none at all, run without the test's.
    connect = "--endpoint-url" not in args and args != ["sandbox"]
    result = cli(*(arg.replace("{tmp}", str(tmp_path)) for arg in args), connect=connect)
    assert result.exit_code == code, result.stderr
    line = one_error_line(result.stderr)
    assert fragment in line
    assert counts(fresh_endpoint, incident) == (MESSAGES, 0), "nothing deleted, nothing hidden"
    assert (tmp_path / "export.jsonl").read_bytes() == before, "no file touched"


def test_options_before_the_command_are_accepted(cli, fresh_endpoint, incident):
    result = cli("--region", "us-east-1", "-o", "jsonl", "--endpoint-url", fresh_endpoint,
                 "peek", "orders-dlq", connect=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(result.jsonl()) == MESSAGES


def test_an_option_given_before_and_after_the_command_is_the_one_after(
    cli, fresh_endpoint, incident
):
    """As typed after an alias that sets it (``alias dlqctl='dlqctl --region eu-west-1'``)."""
    result = cli("--region", "eu-west-1", "-o", "jsonl", "--endpoint-url", "http://127.0.0.1:1",
                 "peek", "orders-dlq", "--region", "us-east-1", "--output", "json",
                 "--endpoint-url", fresh_endpoint, connect=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(result.json()) == MESSAGES  # one JSON array, not JSON lines


def test_shared_options_with_their_values_attached(cli, fresh_endpoint, incident):
    result = cli("-ojsonl", "--region=eu-west-1", f"--endpoint-url={fresh_endpoint}",
                 "peek", "orders-dlq", "--region=us-east-1", "-ojson", connect=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(result.json()) == MESSAGES  # one JSON array: the -o after the command


def test_an_option_value_that_looks_like_an_output_option_is_a_value(cli, fresh_endpoint, incident):
    result = cli("-ojsonl", f"--endpoint-url={fresh_endpoint}", "--region=us-east-1",
                 "peek", "orders-dlq", "--error-contains", "-oops", connect=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.jsonl() == []  # JSON lines, as asked before the command: no message matches


@pytest.mark.parametrize("command", [["summary"], ["delete", "--id", "x", "--yes"]])
def test_jsonl_is_one_document_per_line(cli, incident, command):
    result = cli(command[0], "orders-dlq", *command[1:], "-o", "jsonl")
    assert result.exit_code in (0, ExitCode.PARTIAL), result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    json.loads(lines[0])


def test_a_filter_that_matches_nothing_says_so(cli, incident):
    result = cli("peek", "orders-dlq", "--error-contains", "no such error", "-o", "json")
    assert result.exit_code == 0
    assert result.json() == []
    assert f"matched none of the {MESSAGES} message(s) looked at" in result.stderr


def test_error_contains_ignores_case(cli, incident):
    result = cli("peek", "orders-dlq", "--error-contains", "BOOM", "-o", "json")
    assert len(result.json()) == MESSAGES


def test_the_plan_is_in_the_users_words(cli, incident):
    result = cli("redrive", "orders-dlq", "--to-queue", "orders", "--error-contains", "boom",
                 "--older-than", "1s")  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert "selected by --older-than 1s --error-contains 'boom'" in result.stderr
    assert "age_seconds" not in result.stderr


def test_export_overwrite_replaces_the_file_whole(cli, incident, tmp_path):
    path = tmp_path / "export.jsonl"
    result = cli("export", "orders-dlq", str(path), "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert len(path.read_text().splitlines()) == MESSAGES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.jsonl", "odd"], "no partial"


def test_end_of_input_at_a_prompt_is_a_no(monkeypatch):
    def closed(*args, **kwargs):
        raise EOFError

    monkeypatch.setattr("rich.console.Console.input", closed)
    assert render.confirm("Delete 3 messages?") is False


def test_the_prompt_shows_its_hint(monkeypatch):
    from rich.console import Console

    shown = io.StringIO()

    def ask(self, prompt):
        Console(file=shown, width=200).print(prompt, end="")
        return "y"

    monkeypatch.setattr("rich.console.Console.input", ask)
    assert render.confirm("Redrive [all] of it?") is True
    assert shown.getvalue() == "Redrive [all] of it? [y/N] "


MISSHAPEN = [
    # A Lambda destination record whose responseContext is not an object.
    {"version": "1.0", "timestamp": "2026-01-01T00:00:00.000Z",
     "requestContext": {"requestId": "r1", "condition": "RetriesExhausted",
                        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                        "approximateInvokeCount": 3},
     "requestPayload": {"orderId": "o-1"}, "responseContext": "oops"},
    # An SNS notification whose UnsubscribeURL is not a URL.
    {"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:1:t",
     "Message": "{}", "Timestamp": "2026-01-01T00:00:00.000Z", "UnsubscribeURL": "https://[x/a"},
]  # fmt: skip


def test_a_message_in_a_shape_no_producer_writes_does_not_end_the_walk(cli, fresh_endpoint):
    """Hand-sent messages may carry a producer's marks and not the rest of its shape: each is
    shown as unknown and left in the DLQ, and every other message is read and replayed."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    good = emulate.lambda_dlq(emulate.event({"orderId": "o-2"}), "boom")
    misshapen = [OutgoingMessage(f"m{n}", json.dumps(body)) for n, body in enumerate(MISSHAPEN)]
    put(fresh_endpoint, dlq, [*misshapen, good])
    summary = cli("summary", "orders-dlq", "-o", "json")
    assert summary.exit_code == 0, summary.stderr
    assert summary.json()["total"] == 3
    events = cli("redrive", "orders-dlq", "--to-bus", "default", "--force", "--yes", "-o", "json")
    data = events.json()
    assert data["redriven"] == 1, events.stderr
    assert data["skipped"] == 2
    reasons = [failure["reason"] for failure in data["failures"]]
    assert all("is not in its shape" in reason for reason in reasons), reasons
    assert counts(fresh_endpoint, dlq) == (2, 0)


def test_half_an_emoji_in_a_body_is_exported_shown_and_imported_back(
    cli, boto, fresh_endpoint, tmp_path
):
    """A producer that cut an emoji in two writes ``"\\ud83d"`` into its JSON: valid SQS text
    (the escape is ASCII), but once parsed a lone surrogate, which no UTF-8 file or terminal
    takes. Every output escapes it, and the body goes back byte for byte."""
    body = '{"note":"\\ud83d","orderId":"o-1"}'
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage("m1", body)])
    failed = emulate.lambda_destination(
        {"orderId": "o-2"},
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders",
        error_type="ValueError",
        error_message="bad note \ud83d",  # in the table's error column
    )
    put(fresh_endpoint, dlq, [failed])
    for command in ("peek", "summary"):
        for fmt in ("json", "jsonl", "table"):
            shown = cli(command, "orders-dlq", "-o", fmt)
            assert shown.exit_code == 0, shown.stderr
    table = cli("peek", "orders-dlq", "-o", "table", columns=400).stdout
    assert "bad note \\ud83d" in table
    notes = [view["json"].get("note") for view in cli("peek", "orders-dlq", "-o", "json").json()]
    assert "\ud83d" in notes
    out = tmp_path / "out.jsonl"
    exported = cli("export", "orders-dlq", str(out), "--delete", "--yes", "-o", "json")
    assert exported.exit_code == 0, exported.stderr
    assert exported.json()["deleted"] == 2
    bodies = [json.loads(line)["sqs"]["body"] for line in out.read_text().splitlines()]
    assert body in bodies
    back = cli("import", str(out), "orders-dlq", "--yes", "-o", "json")
    assert back.exit_code == 0, back.stderr
    received = boto("sqs").receive_message(QueueUrl=dlq.url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in received) == sorted(bodies)


def test_a_file_that_is_not_an_export_is_refused_in_one_line(cli, fresh_endpoint, tmp_path):
    """`peek -o jsonl` output, say, is not an export: one line and exit 2, not a failure per
    line; an export an editor saved with a byte-order mark is read as it is."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage(f"m{n}", f'{{"n":{n}}}') for n in range(3)])
    peeked = tmp_path / "peeked.jsonl"
    peeked.write_text(cli("peek", "orders-dlq", "-o", "jsonl").stdout)
    refused = cli("import", str(peeked), "orders-dlq", "--yes", "-o", "json")
    assert refused.exit_code == ExitCode.USAGE
    one_error_line(refused.stderr)
    assert f"{peeked} is not a dlqctl export this version reads (line 1:" in refused.stderr
    exported = tmp_path / "exported.jsonl"
    assert cli("export", "orders-dlq", str(exported), "--delete", "--yes").exit_code == 0
    exported.write_bytes(b"\xef\xbb\xbf" + exported.read_bytes())
    back = cli("import", str(exported), "orders-dlq", "--yes", "-o", "json")
    assert back.exit_code == 0, back.stderr
    assert back.json()["redriven"] == 3
    assert counts(fresh_endpoint, dlq) == (3, 0)


def test_stdin_that_is_not_an_export_is_refused_in_one_line(cli, fresh_endpoint, tmp_path):
    """`peek -o jsonl | dlqctl import - Q`: stdin cannot be sampled before the confirmation,
    so its first lines are read ahead before anything is sent: no record among them is one
    line and exit 2, as for a file, not a failure per line with exit 5. As for a file, the
    first 1,000 lines decide."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage(f"m{n}", f'{{"n":{n}}}') for n in range(3)])
    peeked = cli("peek", "orders-dlq", "-o", "jsonl").stdout
    exported = tmp_path / "exported.jsonl"
    assert cli("export", "orders-dlq", str(exported)).exit_code == 0
    target = create_queue(fresh_endpoint, "orders-replay")
    for junk in (peeked, "\n\nnot json\n", "x\n" * 1000 + exported.read_text()):
        refused = cli("import", "-", "orders-replay", "--yes", "-o", "json", input=junk)
        assert refused.exit_code == ExitCode.USAGE, refused.stderr
        one_error_line(refused.stderr)
        assert "stdin is not a dlqctl export this version reads (line " in refused.stderr
        assert refused.stdout == ""
    assert counts(fresh_endpoint, target) == (0, 0)


def test_stdin_import_sends_the_lines_read_ahead(cli, boto, fresh_endpoint, tmp_path):
    """The lines read ahead to find the first record are imported with the rest: every record
    arrives once, and lines that are not records are numbered as in the input, before the
    first record and after it. The hint says what a rerun sends."""
    dlq = create_queue(fresh_endpoint, "orders-dlq")
    put(fresh_endpoint, dlq, [OutgoingMessage(f"m{n}", f'{{"n":{n}}}') for n in range(25)])
    exported = tmp_path / "exported.jsonl"
    assert cli("export", "orders-dlq", str(exported), "--delete", "--yes").exit_code == 0
    records = exported.read_text().splitlines(keepends=True)
    whole = cli("import", "-", "orders-dlq", "--yes", "-o", "json", input="".join(records))
    assert whole.exit_code == 0, whole.stderr
    assert whole.json()["redriven"] == 25
    received = receive_all(boto, dlq)
    assert sorted(json.loads(message["Body"])["n"] for message in received) == list(range(25))
    target = create_queue(fresh_endpoint, "orders-replay")
    # Lines 1 to 999 junk, 1000 to 1011 records, 1012 junk, 1013 to 1025 records.
    mixed = "x\n" * 999 + "".join(records[:12]) + "not json\n" + "".join(records[12:])
    after_junk = cli("import", "-", "orders-replay", "--yes", "-o", "json", input=mixed)
    assert after_junk.exit_code == ExitCode.PARTIAL, after_junk.stderr
    data = after_junk.json()
    assert (data["redriven"], data["skipped"]) == (25, 1000)
    assert [failure["message_id"] for failure in data["failures"]] == [
        *(f"line {number}" for number in range(1, 1000)),
        "line 1012",
    ]
    assert (
        "the result lists each record not sent with its reason; the same import run again "
        "sends only what was not acknowledged" in after_junk.stderr
    )
    received = receive_all(boto, target)
    assert sorted(json.loads(message["Body"])["n"] for message in received) == list(range(25))


def test_a_signal_while_stdin_is_read_ahead_shows_the_result(fresh_endpoint):
    """SIGTERM while the import waits for stdin's first record: the result is shown (nothing
    sent) and the exit is 143, as for a signal at any other point of an import."""
    create_queue(fresh_endpoint, "orders-replay")
    process = start_dlqctl(fresh_endpoint, "import", "-", "orders-replay", "--yes", "-o", "json",
                           stdin=subprocess.PIPE)  # fmt: skip
    assert process.stdin is not None
    process.stdin.write("not json\n")
    process.stdin.flush()
    # Nothing reads stdin before the read-ahead: once the line has left the pipe, the import
    # is reading ahead, waiting for the next line.
    deadline = time.monotonic() + 60
    while unread_bytes(process.stdin.fileno()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the import never read stdin"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    data = json.loads(stdout)
    assert (data["signal"], data["redriven"]) == (signal.SIGTERM, 0)
    assert "import interrupted" in stderr
    assert "the same import run again sends only what was not acknowledged" in stderr


def unread_bytes(descriptor: int) -> int:
    """How many bytes written to a pipe are still unread (``FIONREAD``, either end)."""
    import fcntl
    import termios

    count = array.array("i", [0])
    fcntl.ioctl(descriptor, termios.FIONREAD, count, True)
    return count[0]
