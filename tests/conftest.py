"""Shared fixtures: a real local AWS endpoint over HTTP (moto's server), and a CLI runner."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dlqctl.local_endpoint import configure_local_endpoint
from tests.helpers import Run, end_started, run_dlqctl

REGION = "us-east-1"


@pytest.fixture(scope="session", autouse=True)
def aws_environment() -> Iterator[None]:
    """Fake credentials and no user configuration, so nothing reaches a real account."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            # moto's tags are consistent at once: no need to wait before reading a lease back.
            "DLQCTL_LEASE_SETTLE_SECONDS": "0",
        }
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each test keeps its journals and sandbox state in its own folder."""
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


@pytest.fixture(autouse=True)
def processes_ended() -> Iterator[None]:
    """Every ``dlqctl`` process a test started has ended, and its pipes are closed, when the
    test ends."""
    yield
    end_started()


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """moto's server on a free loopback port, or DLQCTL_TEST_ENDPOINT when it is set."""
    external = os.environ.get("DLQCTL_TEST_ENDPOINT")
    if external:
        yield external.rstrip("/")
        return
    from dlqctl.local_endpoint import start_local_endpoint

    local = start_local_endpoint()
    yield local.url
    local.stop()


def _is_moto(endpoint: str) -> bool:
    return not os.environ.get("DLQCTL_TEST_ENDPOINT")


@pytest.fixture
def fresh_endpoint(endpoint: str) -> str:
    """The endpoint with all state wiped (moto) before the test."""
    if _is_moto(endpoint):
        request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).read()
        configure_local_endpoint(endpoint)  # a reset forgets it
    return endpoint


@pytest.fixture
def boto(fresh_endpoint: str) -> Any:
    """A boto3 client factory for setting up and checking state (not for the code under test)."""

    def make(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=fresh_endpoint)

    return make


@pytest.fixture
def cli(fresh_endpoint: str) -> Any:
    """Run ``dlqctl ARGS`` in-process against the local endpoint, as a user would."""

    def run(*args: str, input: str | None = None, connect: bool = True, columns: int = 200) -> Run:
        extra = ["--endpoint-url", fresh_endpoint, "--region", REGION] if connect else []
        return run_dlqctl([*args, *extra], input=input, env={"COLUMNS": str(columns)})

    return run


@pytest.fixture
def faults(fresh_endpoint: str) -> Iterator[Any]:
    """A fault-injecting proxy in front of the endpoint; pass ``faults.url`` as the endpoint."""
    from tests.faults import FaultProxy

    with FaultProxy(fresh_endpoint) as proxy:
        yield proxy


@pytest.fixture
def cli_via(faults: Any) -> Any:
    """Like ``cli``, but through the fault-injecting proxy."""

    def run(*args: str, input: str | None = None, columns: int = 200) -> Run:
        return run_dlqctl(
            [*args, "--endpoint-url", faults.url, "--region", REGION],
            input=input,
            env={"COLUMNS": str(columns)},
        )

    return run
