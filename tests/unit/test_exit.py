"""How the ``dlqctl`` process ends: as ``sys.exit`` would (exit code, exit handlers, threads
still running waited for, every byte of output flushed), without tearing the interpreter down;
and an output that cannot be written is one error line, not a traceback or a success. Each case
runs in a fresh interpreter, as the console script does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LEAVE = """
import atexit, sys, threading, time
from pathlib import Path
from dlqctl.__main__ import leave

folder = Path(sys.argv[1])

class Witness:
    def __del__(self):
        (folder / "torn-down").write_text("")

witness = Witness()  # freed only when the interpreter is torn down
atexit.register(lambda: (folder / "exit-handler").write_text(""))
if sys.argv[2] == "thread":
    def late():
        time.sleep(0.3)
        (folder / "thread").write_text("")
    threading.Thread(target=late).start()
sys.stdout.write("x" * 200_000)  # more than a buffer, written through
sys.stdout.write("end")  # still in the buffer
leave(int(sys.argv[3]) if sys.argv[3].isdigit() else sys.argv[3])
"""


def _leave(tmp_path: Path, mode: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LEAVE, str(tmp_path), mode, code],
        env={name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_command_ends_as_exit_does_without_tearing_the_interpreter_down(tmp_path):
    done = _leave(tmp_path, "alone", "5")

    assert done.returncode == 5
    assert done.stdout == "x" * 200_000 + "end"
    assert (tmp_path / "exit-handler").exists()
    assert not (tmp_path / "torn-down").exists()


def test_a_thread_still_running_is_waited_for(tmp_path):
    done = _leave(tmp_path, "thread", "0")

    assert done.returncode == 0
    assert done.stdout == "x" * 200_000 + "end"
    assert (tmp_path / "thread").exists()
    assert (tmp_path / "exit-handler").exists()


def test_an_exit_with_a_message_prints_it_and_exits_1(tmp_path):
    done = _leave(tmp_path, "alone", "stopped: why")

    assert done.returncode == 1
    assert done.stderr == "stopped: why\n"
    assert not (tmp_path / "torn-down").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [("--help",), ("--version",), ("redrive", "--help")])
def test_output_that_cannot_be_written_is_one_error_line(args):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "dlqctl", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 1
    assert done.stderr == (
        "Error: writing the output failed: No space left on device (hint: check where it goes)\n"
    )


def test_under_a_profiler_the_exit_is_a_normal_one(tmp_path):
    """``python -m cProfile -o FILE -m dlqctl …`` writes its figures once the program returns."""
    figures = tmp_path / "dlqctl.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(figures), "-m", "dlqctl", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert figures.stat().st_size > 0
