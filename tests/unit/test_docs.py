"""Every command, and every option of each, is named in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command

from dlqctl.cli import app
from tests.helpers import commands_of

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


LEAVES = [
    (" ".join(path), command)
    for path, command in commands_of(get_command(app))
    if not hasattr(command, "commands")
]


@pytest.mark.parametrize("path", sorted(path for path, _ in LEAVES))
def test_every_command_appears_in_the_readme(path):
    assert f"dlqctl {path}" in README, f"'dlqctl {path}' is not in the README"


OPTIONS = sorted(
    {
        (path, tuple(parameter.opts))
        for path, command in LEAVES
        for parameter in command.params
        if parameter.param_type_name == "option" and not parameter.hidden
    }
)


@pytest.mark.parametrize(
    ("path", "names"),
    [pytest.param(*option, id=f"{option[0]} {option[1][0]}") for option in OPTIONS],
)
def test_every_option_appears_in_the_readme(path, names):
    written = [name for name in names if re.search(re.escape(name) + r"(?![\w-])", README)]
    assert written, f"dlqctl {path}: none of {', '.join(names)} is in the README"
