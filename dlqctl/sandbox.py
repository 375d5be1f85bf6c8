"""The sandbox: the local AWS endpoint in a background process, with the bundled stack.

``dlqctl sandbox up`` starts it (``python -m dlqctl.sandbox``) and deploys the stack into it;
the other sandbox commands and the user's shell reach it through ``sandbox_connection``. The
traffic it carries is ``traffic.py``'s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlqctl.aws import Connection
from dlqctl.errors import BusyError, DlqctlError, NotFoundError
from dlqctl.journal import state_dir
from dlqctl.local_endpoint import (
    configure_local_endpoint,
    free_port,
    port_is_free,
    start_local_endpoint,
)
from dlqctl.stack import StackSettings, deploy


@dataclass(frozen=True)
class SandboxState:
    """A background sandbox endpoint: its process and URL."""

    pid: int
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "url": self.url}


SANDBOX_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
}
"""What a shell needs besides ``AWS_ENDPOINT_URL`` to use the sandbox."""


def _state_file() -> Path:
    return state_dir() / "sandbox.json"


def read_state() -> SandboxState | None:
    """The running sandbox, or None. A stale state file is removed: one that cannot be read,
    or whose process is gone or is not the sandbox (after a reboot its PID may be any other
    program's, which ``sandbox down`` must never signal)."""
    path = _state_file()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        state = SandboxState(int(data["pid"]), str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not _is_sandbox(state):
        path.unlink(missing_ok=True)
        return None
    return state


def _is_sandbox(state: SandboxState) -> bool:
    """Whether the state's process runs and is this sandbox: its command line, from /proc or
    else ``ps`` (macOS), or where neither shows it, its endpoint answering."""
    try:
        os.kill(state.pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or another user's process
        return False
    try:
        command = Path(f"/proc/{state.pid}/cmdline").read_bytes()
    except OSError:
        try:
            shown = subprocess.run(
                ["ps", "-o", "command=", "-p", str(state.pid)],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return _healthy(state.url)
        if shown.returncode != 0:
            return _healthy(state.url)
        command = shown.stdout
    return b"dlqctl.sandbox" in command


def _healthy(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).read()
    except OSError:
        return False
    return True


def start_background_endpoint(port: int | None = None) -> SandboxState:
    """Start moto's server in a background process (it outlives this command)."""
    existing = read_state()
    if existing is not None:
        raise BusyError(
            f"a sandbox is already running at {existing.url} (pid {existing.pid})",
            "use it, or stop it with 'dlqctl sandbox down'",
        )
    if port is not None and not port_is_free(port):
        raise BusyError(
            f"port {port} is in use by another program",
            "choose another --port, or leave it out for a free one",
        )
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "sandbox.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlqctl.sandbox", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    try:
        # Its own server answers, not another that took the port meanwhile: alive after.
        while not _healthy(url) or process.poll() is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise DlqctlError(
                    f"the local endpoint did not start on port {port}",
                    f"see {directory / 'sandbox.log'}",
                )
            time.sleep(0.2)
        configure_local_endpoint(url)
        state = SandboxState(process.pid, url)
        written = _state_file().with_suffix(".partial")
        written.write_text(json.dumps(state.to_json()))
        os.replace(written, _state_file())
    except BaseException:  # a Ctrl-C or an error: no endpoint left running with no state
        process.kill()
        process.wait()
        raise
    return state


def stop_background_endpoint() -> SandboxState | None:
    """Stop the background endpoint; returns what was stopped, or None when none ran."""
    state = read_state()
    if state is None:
        return None
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(state.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(state.pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    return state


def serve(port: int) -> None:
    """Run moto's server in the foreground until SIGTERM (the background sandbox process)."""
    endpoint = start_local_endpoint(port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    try:
        stopped.wait()
    finally:
        endpoint.stop()


SANDBOX_REGION = "us-east-1"
SANDBOX_CREDENTIALS = ("sandbox", "sandbox")


def sandbox_connection(url: str, region: str | None = None) -> Connection:
    """How to reach a sandbox endpoint (it accepts any credentials)."""
    return Connection(
        region=region or SANDBOX_REGION, endpoint_url=url, static_credentials=SANDBOX_CREDENTIALS
    )


def running_sandbox(connection: Connection) -> Connection:
    """The connection the sandbox commands use: the one given when it names an endpoint
    (--endpoint-url, AWS_ENDPOINT_URL), else the running background sandbox's."""
    if connection.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"):
        return connection
    state = read_state()
    if state is None:
        raise NotFoundError("no sandbox is running", "start one with 'dlqctl sandbox up'")
    return sandbox_connection(state.url, connection.region)


def start_sandbox(port: int | None, stack_name: str) -> SandboxState:
    """Start the background endpoint and deploy the bundled stack into it (stopping the
    endpoint again if the deploy fails)."""
    state = start_background_endpoint(port)
    try:
        deploy(sandbox_connection(state.url).open(), stack_name, StackSettings(sandbox=True))
    except BaseException:
        stop_background_endpoint()
        raise
    return state


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="dlqctl's local AWS endpoint (moto's server)")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
