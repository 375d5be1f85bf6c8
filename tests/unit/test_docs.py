"""Every command, and every option of each, is named in the README."""

from __future__ import annotations

import re
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


def option_names():
    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, (*path, name))
            return
        for parameter in command.params:
            if parameter.param_type_name == "option" and not parameter.hidden:
                yield " ".join(path), tuple(parameter.opts)

    yield from walk(get_command(app), ())


@pytest.mark.parametrize(
    ("path", "names"),
    [
        pytest.param(*option, id=f"{option[0]} {option[1][0]}")
        for option in sorted(set(option_names()))
    ],
)
def test_every_option_appears_in_the_readme(path, names):
    written = [name for name in names if re.search(re.escape(name) + r"(?![\w-])", README)]
    assert written, f"dlqctl {path}: none of {', '.join(names)} is in the README"
