"""The quick start's main job runs to a clean finish with no AWS account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _demo(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``dlqctl <args>`` with no AWS settings at all, its temporary files under tmp_path/tmp."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(settings, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return subprocess.run(
        [sys.executable, "-m", "dlqctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_runs_end_to_end(state_home, tmp_path):
    result = _demo(tmp_path, "demo", COLUMNS="160")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "$ dlqctl list" in result.stderr
    assert "orders-dlq" in result.stdout
    assert "unsupported schemaVersion" in result.stdout
    assert "Failures over time" in result.stdout
    # Its journals and archive lived in a folder of its own, gone at the end.
    assert not state_home.exists() or not any(state_home.rglob("*"))
    assert not any((tmp_path / "tmp").iterdir())


def test_demo_reports_in_json_what_it_did_and_each_command(state_home, tmp_path):
    # -o before the command, and over DLQCTL_OUTPUT, as for every command.
    result = _demo(tmp_path, "-o", "json", "demo", "--orders", "40", DLQCTL_OUTPUT="table")
    assert result.returncode == 0, result.stderr
    assert "$ dlqctl list" in result.stderr  # the narration stays, on stderr
    report = json.loads(result.stdout)  # stdout is the one document, no table in it

    release = report["bad_release"]
    assert release["published"] == 40
    failed = release["function_failures"] + release["delivery_failures"]
    assert release["processed"] + failed == 40
    assert release["delivery_failures"] == 4
    # Every failed order was replayed once: it was processed, or it failed again (invalid data)
    # and was archived.
    assert report["recovered"] + report["failed_again"] == failed
    assert report["archived"] == report["failed_again"] > 0

    steps = report["steps"]
    assert [step["command"][1] for step in steps] == [
        "list", "summary", "peek", "peek", "redrive", "apply", "redrive", "summary", "export",
        "list",
    ]  # fmt: skip
    assert all(step["exit_code"] == 0 for step in steps)
    # Each step's output is that command's own JSON.
    assert len(steps[2]["output"]) == 3
    assert all("schemaVersion" in str(message["error"]) for message in steps[2]["output"])
    assert {message["kind"] for message in steps[3]["output"]} == {"eventbridge-dlq"}
    plan, applied = steps[4]["output"], steps[5]["output"]
    assert plan["dry_run"] is True and plan["redriven"] == 0
    assert applied["redriven"] == plan["saved_plan"]["messages"] == plan["selected"]
    assert applied["canary"]["size"] == 20 and applied["canary"]["stopped"] is None
    assert applied["redriven"] + steps[6]["output"]["redriven"] == failed
    export = steps[8]["output"]
    assert export["exported"] == export["deleted"] == report["archived"]
    queues = {queue["name"]: queue for queue in steps[9]["output"]}
    assert queues[report["dlq"]]["visible"] == queues[report["dlq"]]["in_flight"] == 0
    assert queues["payouts-dlq"]["visible"] == release["payout_failures"] > 0
    assert not state_home.exists() or not any(state_home.rglob("*"))
    assert not any((tmp_path / "tmp").iterdir())
