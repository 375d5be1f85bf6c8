"""Deploying the bundled stack (``infra/``) with CloudFormation, and reading its state."""

from __future__ import annotations

import ast
import hashlib
import io
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dlqctl.aws import Aws
from dlqctl.errors import BusyError, DlqctlError, NotFoundError, StackFailed
from dlqctl.models import JsonValue, StackEvent, StackInfo, StackResource
from dlqctl.plans import Confirmation, Reporter


def _infra_dir() -> Path:
    """``infra/`` of a source checkout, else the copy installed inside the package."""
    package = Path(__file__).resolve().parent
    checkout = package.parent / "infra"
    return checkout if (checkout / "template.yaml").is_file() else package / "infra"


INFRA_DIR = _infra_dir()
TEMPLATE = INFRA_DIR / "template.yaml"
FUNCTIONS = INFRA_DIR / "functions"
PACKAGE_DIR = Path(__file__).resolve().parent
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_DONE = ("_COMPLETE", "_FAILED")
_STUCK: dict[str, Callable[[str], str]] = {
    "UPDATE_ROLLBACK_FAILED": lambda name: (
        f"let CloudFormation finish the rollback (aws cloudformation continue-update-rollback "
        f"--stack-name {name}), then deploy again"
    ),
    "ROLLBACK_FAILED": lambda name: (
        f"delete it with 'dlqctl stack destroy --stack-name {name}', then deploy again"
    ),
    "DELETE_FAILED": lambda name: (
        f"remove or retain what failed, run 'dlqctl stack destroy --stack-name {name}' again, "
        "then deploy"
    ),
}
"""States no change set can start from, and what to do about each."""


@dataclass(frozen=True)
class StackSettings:
    """The template's parameters that dlqctl sets."""

    bus_name: str = "shop"
    dlq_name: str = "orders-dlq"
    processor_name: str = "order-processor"
    redriver_name: str = "orders-dlq-redriver"
    event_source: str = "shop.orders"
    detail_type: str = "OrderPlaced"
    accepted_schema_versions: str = "1,2"
    alarm_topic_arn: str = ""
    sandbox: bool = False
    given: frozenset[str] | None = None
    """The parameters the operator named (``BusName``, …); None: every one. On an update the
    others keep the stack's current values, so a plain ``stack deploy`` after one with
    ``--dlq-name payments-dlq`` does not rename (and so replace) the DLQ."""

    def for_stack(self, current: Mapping[str, str] | None) -> dict[str, str]:
        """The parameters to deploy: those named, and for the others the existing stack's
        value (``current``) where it has one, else the default."""
        mine = self.parameters()
        if self.given is None or current is None:
            return mine
        return {
            key: value if key in self.given or key not in current else current[key]
            for key, value in mine.items()
        }

    def parameters(self) -> dict[str, str]:
        return {
            "BusName": self.bus_name,
            "DlqName": self.dlq_name,
            "ProcessorName": self.processor_name,
            "RedriverName": self.redriver_name,
            "EventSource": self.event_source,
            "DetailType": self.detail_type,
            "AcceptedSchemaVersions": self.accepted_schema_versions,
            "AlarmTopicArn": self.alarm_topic_arn,
            "Sandbox": "true" if self.sandbox else "false",
        }


def _require(path: Path) -> Path:
    if not path.exists():
        raise DlqctlError(
            f"the bundled stack is missing: {path}",
            "reinstall dlqctl: the bundled stack ships with it",
        )
    return path


def _zip(files: dict[str, bytes]) -> bytes:
    """A deterministic zip: the same sources always give the same bytes (and S3 key)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def package_processor() -> bytes:
    return _zip({"processor.py": _require(FUNCTIONS / "processor.py").read_bytes()})


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of a module but those under ``if TYPE_CHECKING:`` (imports for the type
    checker only, never run)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


_TYPE_CHECKING = frozenset({"TYPE_CHECKING", "typing.TYPE_CHECKING"})


def _dlqctl_imports(source: Path) -> set[str]:
    """The dlqctl modules a file imports when it runs (anywhere in it, lazy imports
    included)."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # ``from dlqctl import emulate`` imports a module too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {
        name.split(".", 1)[1]
        for name in names
        if name.startswith("dlqctl.") and (PACKAGE_DIR / f"{name.split('.', 1)[1]}.py").is_file()
    }


def redriver_modules() -> list[str]:
    """The dlqctl modules the redriver's handler imports, directly or through each other.

    Derived from the imports themselves, so the zip cannot go stale as the modules change.
    """
    found = {"__init__"}
    pending = _dlqctl_imports(_require(FUNCTIONS / "redriver.py"))
    while pending:
        module = pending.pop()
        if module not in found:
            found.add(module)
            pending |= _dlqctl_imports(PACKAGE_DIR / f"{module}.py") - found
    return sorted(found)


def package_redriver() -> bytes:
    files = {"redriver.py": _require(FUNCTIONS / "redriver.py").read_bytes()}
    for module in redriver_modules():
        files[f"dlqctl/{module}.py"] = (PACKAGE_DIR / f"{module}.py").read_bytes()
    return _zip(files)


def _key(name: str, package: bytes) -> str:
    return f"dlqctl/{name}-{hashlib.sha256(package).hexdigest()[:16]}.zip"


@dataclass
class StackReport:
    """What ``stack deploy`` or ``stack status`` found; ``to_json`` is its stable JSON form."""

    name: str
    status: str
    reason: str | None = None
    changes: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    resources: list[StackResource] = field(default_factory=list)
    failures: list[StackEvent] = field(default_factory=list)
    dlq_visible: int | None = None
    dlq_in_flight: int | None = None
    title: str = "Stack"
    complete: bool = True
    interrupted_by: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "stack": self.name,
            "status": self.status,
            "reason": self.reason,
            "changes": self.changes,
            "outputs": self.outputs,
            "resources": [
                {
                    "logical_id": resource.logical_id,
                    "type": resource.type,
                    "physical_id": resource.physical_id,
                    "status": resource.status,
                }
                for resource in self.resources
            ],
            "failures": [
                {"resource": event.logical_id, "status": event.status, "reason": event.reason}
                for event in self.failures
            ],
            "dlq": {"visible": self.dlq_visible, "in_flight": self.dlq_in_flight},
        }


def wait_for_stack(
    aws: Aws,
    name: str,
    on_status: Callable[[str], None] = lambda status: None,
    timeout_seconds: float = 1800,
) -> StackInfo | None:
    """Poll until the stack's status is final; None when the stack is gone (deleted)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        stack = aws.cloudformation.stack(name)
        if stack is None:
            return None
        on_status(stack.status)
        if stack.status.endswith(_DONE):
            return stack
        if time.monotonic() > deadline:
            raise StackFailed(
                f"stack {name} still {stack.status} after {timeout_seconds:.0f}s",
                "see 'dlqctl stack status' for every resource",
            )
        time.sleep(2)


def deploy(
    aws: Aws,
    name: str,
    settings: StackSettings,
    *,
    bucket: str | None = None,
    on_status: Callable[[str], None] = lambda status: None,
) -> StackReport:
    """Package the functions, upload them, and create or update the stack via a change set."""
    template = _require(TEMPLATE).read_text()
    existing = aws.cloudformation.stack(name)  # refused before anything is uploaded
    if existing is not None and existing.status == "REVIEW_IN_PROGRESS":
        existing = None  # a first deploy whose change set failed: not created yet, nothing runs
    if existing is not None and existing.status.endswith("_IN_PROGRESS"):
        raise BusyError(
            f"stack {name} is busy ({existing.status})", "wait for it, then run deploy again"
        )
    if existing is not None and existing.status == "ROLLBACK_COMPLETE":
        raise StackFailed(
            f"stack {name} failed to create and was rolled back",
            f"delete it with 'dlqctl stack destroy --stack-name {name}', then deploy again",
        )
    if existing is not None and existing.status in _STUCK:
        raise StackFailed(f"stack {name} is {existing.status}", _STUCK[existing.status](name))
    current = existing.parameters if existing is not None else None
    owner = None
    if bucket is None:  # the stack's own, else the default: a name anyone can guess, so it
        account = aws.account_id()  # must be this account's bucket
        default = f"dlqctl-artifacts-{account}-{aws.region}"
        bucket = (current or {}).get("CodeBucket") or default
        owner = account if bucket == default else None
    aws.s3.ensure_bucket(bucket, owner)
    packages = {"ProcessorCodeKey": package_processor(), "RedriverCodeKey": package_redriver()}
    parameters = {"CodeBucket": bucket, **settings.for_stack(current)}
    for parameter, package in packages.items():
        key = _key(parameter.removesuffix("CodeKey").lower(), package)
        aws.s3.put(bucket, key, package, owner)
        parameters[parameter] = key
    change_set = f"dlqctl-{int(time.time())}"
    changes = aws.cloudformation.create_change_set(
        name, change_set, template=template, parameters=parameters, create=existing is None
    )
    if changes is None:
        report = status(aws, name)
        report.reason = "no changes: the stack is up to date"
        return report
    aws.cloudformation.execute_change_set(name, change_set)
    final = wait_for_stack(aws, name, on_status)
    report = status(aws, name)
    report.changes = changes
    if final is None or not final.status.endswith("COMPLETE") or "ROLLBACK" in final.status:
        report.failures = _failures(aws, name)
        raise StackFailed(
            f"stack {report.name} is {report.status}: {_reasons(report.failures, report.reason)}",
            "see 'dlqctl stack status' for every resource",
        )
    return report


def _failures(aws: Aws, name: str) -> list[StackEvent]:
    """The stack's recent events that failed, newest first."""
    return [event for event in aws.cloudformation.events(name) if event.status.endswith("_FAILED")]


def _reasons(failures: list[StackEvent], fallback: str | None) -> str:
    return "; ".join(f"{event.logical_id}: {event.reason}" for event in failures[:3]) or (
        fallback or "no reason given"
    )


def status(aws: Aws, name: str) -> StackReport:
    """The stack's state, outputs and resources, and the depth of its DLQ."""
    stack = aws.cloudformation.stack(name)
    if stack is None:
        raise NotFoundError(f"stack {name} not found", "deploy it with 'dlqctl stack deploy'")
    report = StackReport(
        name=name,
        status=stack.status,
        reason=stack.reason,
        outputs=stack.outputs,
        resources=aws.cloudformation.resources(name),
    )
    dlq_name = stack.parameters.get("DlqName")
    if dlq_name:
        try:
            _, attributes = aws.sqs.resolve(dlq_name)
            report.dlq_visible, report.dlq_in_flight = attributes.visible, attributes.in_flight
        except NotFoundError:
            pass
    return report


def destroy(aws: Aws, name: str, on_status: Callable[[str], None] = lambda s: None) -> str:
    """Delete the stack and wait; returns the final status."""
    if aws.cloudformation.stack(name) is None:
        raise NotFoundError(f"stack {name} not found", "check --stack-name and --region")
    aws.cloudformation.delete(name)
    final = wait_for_stack(aws, name, on_status)
    if final is not None:  # DELETE_FAILED: what could not be deleted is still there
        raise StackFailed(
            f"stack {name} is {final.status}: {_reasons(_failures(aws, name), final.reason)}",
            "remove or retain what failed, then run destroy again",
        )
    return "DELETE_COMPLETE"


@dataclass
class DeployPlan:
    """``stack deploy``: create or update the stack through a change set."""

    aws: Aws
    stack_name: str
    settings: StackSettings
    bucket: str | None = None
    warnings: tuple[str, ...] = ()
    confirmation: Confirmation = Confirmation.NONE
    dry_run: bool = False

    @property
    def name(self) -> str:
        return self.stack_name

    @property
    def activity(self) -> str:
        return f"Deploying {self.stack_name}"

    @property
    def total(self) -> int | None:
        return None

    def describe(self) -> str:
        return f"Deploy stack {self.stack_name}"

    def run(self, reporter: Reporter) -> StackReport:
        return deploy(
            self.aws,
            self.stack_name,
            self.settings,
            bucket=self.bucket,
            on_status=lambda status: reporter.progress(0),
        )


@dataclass(frozen=True)
class StackDeleted:
    """What ``stack destroy`` left: the stack's final status."""

    stack: str
    status: str
    title: str = "Stack deleted"
    complete: bool = True
    interrupted_by: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {"stack": self.stack, "status": self.status}


@dataclass
class DestroyPlan:
    """``stack destroy``: delete the stack, and with it the DLQ and every message in it."""

    aws: Aws
    report: StackReport
    warnings: tuple[str, ...] = ()
    confirmation: Confirmation = Confirmation.ASK
    dry_run: bool = False

    @property
    def name(self) -> str:
        return self.report.name

    @property
    def activity(self) -> str:
        return f"Deleting {self.name}"

    @property
    def total(self) -> int | None:
        return None

    def describe(self) -> str:
        waiting = self.report.dlq_visible or 0
        return f"Delete stack {self.name}, including its DLQ with {waiting:,} message(s)"

    def run(self, reporter: Reporter) -> StackDeleted:
        final = destroy(self.aws, self.name, lambda status: reporter.progress(0))
        return StackDeleted(self.name, final)


def prepare_destroy(aws: Aws, name: str) -> DestroyPlan:
    """Read the stack first, so the confirmation says how many messages its DLQ holds."""
    return DestroyPlan(aws, status(aws, name))
