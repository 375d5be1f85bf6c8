"""The layout keeps its promises: the CLI holds options, confirmation and rendering only; the
work (and every AWS call) is in the core modules; each module says what it owns."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dlqctl"
SERVICES = {"sqs", "events", "lambda_", "sns", "cloudwatch", "cloudformation", "s3", "client"}


def _runtime_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    """``from … import …`` statements outside ``if TYPE_CHECKING:`` blocks."""
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            typing_only.update(id(child) for child in ast.walk(node))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and id(node) not in typing_only
    ]


def test_the_cli_imports_nothing_from_aws_but_connection():
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    names = {
        alias.name
        for node in _runtime_imports(tree)
        if node.module == "dlqctl.aws"
        for alias in node.names
    }
    assert names == {"Connection"}


def test_the_cli_makes_no_aws_call_of_its_own():
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    calls = sorted(
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in SERVICES
    )
    assert calls == []


def test_every_module_opens_with_what_it_owns():
    for path in sorted(PACKAGE.glob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring, f"{path.name} has no docstring"


def test_only_tests_inject_faults():
    source = (PACKAGE / "redrive.py").read_text()
    assert "SIGKILL" not in source
    assert "DLQCTL_FAULT" not in source
