"""``--help`` and ``--version``: each option under its heading, and nothing loaded that they do
not use (rich, botocore, pydantic), checked in a fresh interpreter as a user runs dlqctl; a
command writing JSON to a pipe does not load rich either. A run builds only the command it
runs, and that command is the one typer builds from the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from dlqctl.cli import app, root_command
from tests.helpers import REGION, commands_of, create_queue, plain, put, run_dlqctl

PROBE = """
import atexit, json, sys
sys.argv = ["dlqctl", *sys.argv[1:]]
from typer import main as typer_main
built = []
def recording(build):
    def wrapper(*info, **settings):
        command = build(*info, **settings)
        built.append(command.name)
        return command
    return wrapper
typer_main.get_command_from_info = recording(typer_main.get_command_from_info)
typer_main.get_group_from_info = recording(typer_main.get_group_from_info)
def report():  # an exit handler: the command's exit runs it, as it runs every exit handler
    loaded = {name.split(".")[0] for name in sys.modules}
    heavy = sorted(loaded & {"rich", "botocore", "boto3", "pydantic", "jmespath"})
    print(json.dumps({"heavy": heavy, "built": built}), file=sys.stderr)
atexit.register(report)
from dlqctl.__main__ import main
main()
"""


def probe(*args: str) -> tuple[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AWS_REGION": REGION},
    )
    return done.stdout, {
        "code": done.returncode,
        **json.loads(done.stderr.strip().splitlines()[-1]),
    }


@pytest.mark.parametrize("args", [("--help",), ("redrive", "--help"), ("--version",)])
def test_help_and_version_load_none_of_the_aws_or_rendering_libraries(
    args: tuple[str, ...],
) -> None:
    _, outcome = probe(*args)

    assert outcome["code"] == 0
    assert outcome["heavy"] == []


STACK_COMMANDS = ["deploy", "status", "destroy"]


@pytest.mark.parametrize(
    ("args", "built"),
    [
        (("--help",), ["dlqctl"]),
        (("--version",), []),
        (("--version", "--help"), ["dlqctl"]),
        (("redrive", "--help"), ["dlqctl", "redrive"]),
        (("peek", "no-such-queue", "--no-such-option"), ["dlqctl", "peek"]),
        (("stack", "status", "--help"), ["dlqctl", "stack", *STACK_COMMANDS]),
        (("redriv",), ["dlqctl"]),
    ],
)
def test_a_run_builds_only_the_command_it_runs(args: tuple[str, ...], built: list[str]) -> None:
    _, outcome = probe(*args)

    assert sorted(outcome["built"]) == sorted(built)


def described(group: Any, path: tuple[str, ...]) -> list[tuple[Any, ...]]:
    command = group
    for name in path:
        command = command.get_command(None, name)
    return [
        (p.name, p.opts, p.secondary_opts, p.required, p.multiple, repr(p.default), p.help)
        for p in command.params
        if hasattr(p, "help")
    ] + [(type(command).__name__, command.help, command.hidden)]


def test_every_command_is_the_one_typer_builds_from_the_app() -> None:
    eager = get_command(app)
    listed = root_command().commands  # the placeholders, before anything is built
    assert set(listed) == set(eager.commands)
    for name, entry in listed.items():
        built = eager.commands[name]
        assert [entry.help, entry.short_help, entry.hidden, entry.deprecated] == [
            built.help,
            built.short_help,
            built.hidden,
            built.deprecated,
        ], name
    on_demand = root_command()
    paths = [path for path, _ in commands_of(eager)]
    assert len(paths) > 20
    assert [path for path, _ in commands_of(on_demand)] == paths
    for path in [(), *paths]:
        assert described(on_demand, path) == described(eager, path), path
        assert (
            run_dlqctl([*path, "--help"]).stdout
            == CliRunner().invoke(app, [*path, "--help"]).stdout
        ), path


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [(("pek",), "Did you mean 'peek'?"), (("stack", "deploi"), "Did you mean 'deploy'?")],
)
def test_a_mistyped_command_gets_a_suggestion(args: tuple[str, ...], suggestion: str) -> None:
    run = run_dlqctl(list(args))

    assert run.exit_code == 2
    assert suggestion in run.stderr


def test_every_option_and_argument_says_what_it_is_for() -> None:
    unexplained = [
        (" ".join(path), parameter.name)
        for path, command in commands_of(get_command(app))
        for parameter in command.params
        if not getattr(parameter, "hidden", False) and not getattr(parameter, "help", None)
    ]
    assert unexplained == []


def test_a_commands_help_puts_each_option_under_its_heading() -> None:
    text, _ = probe("redrive", "--help")

    headings = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headings[0].startswith("Usage: dlqctl redrive [OPTIONS]")
    assert headings[1:] == ["Arguments:", "Options:", "AWS connection:", "Output:", "Selection:"]
    section = text.split("AWS connection:")[1].split("Output:")[0]
    assert "--profile" in section and "--endpoint-url" in section
    assert "--filter" in text.split("Selection:")[1]
    assert "Replay events to this bus" in text.split("Options:")[1].split("AWS connection:")[0]


def test_the_top_level_help_lists_every_command() -> None:
    text, _ = probe("--help")

    listed = {line.split()[0] for line in text.split("Commands:")[1].splitlines() if line.strip()}
    assert {"list", "peek", "summary", "redrive", "export", "purge", "demo", "stack"} <= listed


def test_a_command_writing_json_to_a_pipe_does_not_load_rich(fresh_endpoint: str) -> None:
    queue = create_queue(fresh_endpoint, "quiet-dlq")
    put(fresh_endpoint, queue, [plain('{"n": 1}')])

    text, outcome = probe("peek", "quiet-dlq", "-o", "json", "--endpoint-url", fresh_endpoint)

    assert outcome["code"] == 0
    assert "rich" not in outcome["heavy"]
    assert json.loads(text)[0]["body"] == '{"n": 1}'
