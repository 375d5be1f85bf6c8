"""The quick start's main job runs to a clean finish with no AWS account."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_end_to_end(state_home, tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["COLUMNS"] = "160"
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "dlqctl", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "$ dlqctl list" in result.stderr
    assert "orders-dlq" in result.stdout
    assert "unsupported schemaVersion" in result.stdout
    assert "Failures over time" in result.stdout
    # Its journals and archive lived in a folder of its own, gone at the end.
    assert not state_home.exists() or not any(state_home.rglob("*"))
    assert not any((tmp_path / "tmp").iterdir())
