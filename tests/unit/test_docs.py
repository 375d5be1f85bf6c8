"""Every command is documented in the README, with the options an operator reaches for."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command

from dlqctl.cli import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def command_paths():
    root = get_command(app)
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for sub in subcommands:
                yield f"{name} {sub}"
        else:
            yield name


@pytest.mark.parametrize("path", sorted(command_paths()))
def test_every_command_appears_in_the_readme(path):
    assert f"dlqctl {path}" in README, f"'dlqctl {path}' is not in the README"


@pytest.mark.parametrize(
    "option",
    [
        "--to-bus",
        "--to-queue",
        "--to-source",
        "--server-side",
        "--dry-run",
        "--yes",
        "--filter",
        "--concurrency",
        "--journal",
        "--no-resend-ambiguous",
        "--force",
        "--mark",
        "--archive",
        "--delete",
        "--output",
        "--endpoint-url",
        "--profile",
        "--region",
    ],
)
def test_key_options_are_documented(option):
    assert option in README
