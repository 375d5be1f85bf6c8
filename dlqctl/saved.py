"""Saved plans: a dry run's exact selection written to a file, and ``apply``, which acts on
exactly those messages and no others.

The file holds each selected message's ID and content fingerprint, the queue, the destination
and the options, and a summary a person can read (counts by kind and error). ``apply`` walks
the queue and takes a message only when its ID is in the plan and its content is unchanged:
messages that arrived since stay, a changed body under a planned ID is refused, and planned
messages the walk did not find are reported as gone.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlqctl.aws import Aws
from dlqctl.canary import CanarySettings
from dlqctl.choices import MAX_CONCURRENCY
from dlqctl.destinations import DestinationSpec
from dlqctl.errors import DlqctlError, UsageError
from dlqctl.filters import Selection, Tally
from dlqctl.journal import digest
from dlqctl.models import JsonValue, MessageView, iso_utc
from dlqctl.plans import Confirmation, Plan, Reporter, Result
from dlqctl.redrive import RedriveOptions, RedrivePlan, prepare_redrive
from dlqctl.remove import DeletePlan, prepare_delete
from dlqctl.scan import MAX_HOLD_SECONDS, Walking, open_queue

PLAN_FORMAT = "dlqctl-plan"
PLAN_VERSION = 1


def group_of(view: MessageView) -> str:
    """How a plan's summary groups messages: kind and error code."""
    code = view.error.code if view.error and view.error.code else "no error code"
    return f"{view.kind}: {code}"


class PlanRecorder:
    """Collects what a dry run selected: ID → (content fingerprint, group)."""

    def __init__(self) -> None:
        self.messages: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def record(self, views: Sequence[MessageView]) -> None:
        with self._lock:
            for view in views:
                self.messages[view.message_id] = (digest(view.message), group_of(view))


@dataclass(frozen=True)
class PlannedSelection(Selection):
    """Selects a saved plan's messages, by ID, when their content is what was planned."""

    planned: Mapping[str, str] = field(default_factory=dict)
    found: set[str] = field(default_factory=set, compare=False)
    changed: set[str] = field(default_factory=set, compare=False)

    def selects(self, view: MessageView) -> bool:
        wanted = self.planned.get(view.message_id)
        if wanted is None:
            return False
        self.found.add(view.message_id)
        if digest(view.message) != wanted:
            self.changed.add(view.message_id)
            return False
        return True

    @property
    def is_everything(self) -> bool:
        return False

    @property
    def names_messages(self) -> bool:
        return True

    def fresh(self) -> PlannedSelection:
        return replace(self, tally=Tally(), found=set(), changed=set())


@dataclass
class PlanResult:
    """A command's result with what its saved plan adds: ``saved_plan`` for a dry run that
    saved one, ``applied`` for ``apply`` (a planned message whose content changed is not done)."""

    inner: Result
    key: str
    extra: dict[str, JsonValue]
    title: str

    @property
    def complete(self) -> bool:
        return (
            self.inner.complete and not self.extra.get("changed") and not self.extra.get("not_seen")
        )

    @property
    def interrupted_by(self) -> int | None:
        return self.inner.interrupted_by

    def to_json(self) -> dict[str, JsonValue]:
        return {**self.inner.to_json(), self.key: self.extra}


@dataclass
class _Around:
    """A plan around another one: named and warned like it."""

    inner: RedrivePlan | DeletePlan

    @property
    def warnings(self) -> Sequence[str]:
        return self.inner.warnings

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def notes(self) -> Sequence[str]:
        return getattr(self.inner, "notes", ())


@dataclass
class SavingPlan(_Around):
    """A dry run that writes what it selected to ``path`` (owner-only) for ``dlqctl apply``."""

    path: Path
    command: str
    settings: dict[str, JsonValue]
    recorder: PlanRecorder
    confirmation: Confirmation = Confirmation.NONE
    dry_run: bool = True

    def __post_init__(self) -> None:
        _replaceable(self.path)

    @property
    def activity(self) -> str:
        return f"Planning ({self.inner.activity})"

    @property
    def total(self) -> int | None:
        return self.inner.total

    def describe(self) -> str:
        return f"{self.inner.describe()}; the plan is saved to {self.path}"

    def run(self, reporter: Reporter) -> PlanResult:
        result = self.inner.run(reporter)
        data = result.to_json()
        if result.interrupted_by is not None:
            saved = {"path": None, "reason": "interrupted: no plan saved"}
            return PlanResult(result, "saved_plan", saved, result.title)
        groups = Counter(group for _, group in self.recorder.messages.values())
        opened = self.inner.opened
        summary: dict[str, JsonValue] = {
            "command": self.command,
            "queue": opened.queue.name,
            "destination": data.get("destination"),
            "selection": self.inner.selection.description,
            "messages": len(self.recorder.messages),
            "by_group": dict(groups.most_common()),
            "queue_depth_at_plan": opened.attributes.visible,
            "coverage": data.get("coverage"),
            "created_at": iso_utc(datetime.now(UTC)),
        }
        document = {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "summary": summary,
            "queue": {"url": opened.queue.url, "arn": opened.queue.arn},
            "settings": self.settings,
            "messages": [
                {"id": message_id, "digest": fingerprint, "group": group}
                for message_id, (fingerprint, group) in self.recorder.messages.items()
            ],
        }
        write_owner_only(self.path, json.dumps(document, indent=1) + "\n")
        return PlanResult(result, "saved_plan", {"path": str(self.path), **summary}, result.title)


def _replaceable(path: Path) -> None:
    """``--save-plan`` replaces a saved plan, never another file (an export that may be the
    only copy of messages already deleted, a document): checked before the dry run."""
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return
    except (OSError, ValueError, RecursionError):
        document = None
    if not (isinstance(document, dict) and document.get("format") == PLAN_FORMAT):
        raise UsageError(
            f"{path} exists and is not a dlqctl plan: --save-plan replaces only a saved plan",
            "choose another --save-plan path",
        )


def write_owner_only(path: Path, text: str) -> None:
    """Write a file readable by its owner only (replacing it whole, never half-written)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write the plan {path}: {exc.strerror}", "give --save-plan a writable path"
        ) from exc


def saving_redrive(plan: RedrivePlan, path: str, spec: DestinationSpec) -> SavingPlan:
    """A redrive's dry run that saves its plan."""
    options = plan.options
    recorder = PlanRecorder()
    plan.options = _dry(options, recorder)
    settings: dict[str, JsonValue] = {
        "destination": {key: value for key, value in asdict(spec).items() if value},
        "rate": options.rate,
        "concurrency": options.concurrency,
        "hold": options.walking.hold_seconds,
        "wait": options.walking.wait_seconds,
        "resend_ambiguous": options.resend_ambiguous,
        "max_replays": options.max_replays,
        "canary": options.canary.to_json() if options.canary else None,
        "park": plan.parking.name if plan.parking else None,
    }
    return SavingPlan(plan, Path(path), "redrive", settings, recorder)


def saving_delete(plan: DeletePlan, path: str) -> SavingPlan:
    """A delete's (or a selective purge's) dry run that saves its plan."""
    if plan.message_ids:
        raise UsageError("--save-plan saves a selection; --id already names the messages")
    recorder = PlanRecorder()
    plan.dry_run = True
    plan.record = recorder.record
    settings: dict[str, JsonValue] = {
        "hold": plan.walking.hold_seconds,
        "wait": plan.walking.wait_seconds,
        "park": plan.parking.name if plan.parking else None,
    }
    return SavingPlan(plan, Path(path), "delete", settings, recorder)


def _dry(options: RedriveOptions, recorder: PlanRecorder) -> RedriveOptions:
    options.dry_run = True
    options.record = recorder.record
    return options


@dataclass(frozen=True)
class SavedPlan:
    """A plan file, read and checked: every setting of the right type."""

    path: Path
    command: str
    queue_url: str
    queue_arn: str
    messages: Mapping[str, str]
    summary: Mapping[str, Any]
    walking: Walking
    spec: DestinationSpec | None = None
    rate: float | None = None
    concurrency: int | None = None
    resend_ambiguous: bool = True
    max_replays: int | None = None
    canary: CanarySettings | None = None
    park: str | None = None

    @classmethod
    def load(cls, path: str) -> SavedPlan:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the plan {path}: {exc}") from exc
        except (ValueError, RecursionError) as exc:
            raise UsageError(
                f"{path} is not a dlqctl plan (not JSON)", "give a file written by --save-plan"
            ) from exc
        try:
            return cls._parse(Path(path), document)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(
                f"{path} is not a dlqctl plan ({type(exc).__name__}: {exc})",
                "give a file written by --save-plan, unchanged",
            ) from exc

    @classmethod
    def _parse(cls, path: Path, document: Any) -> SavedPlan:
        if document.get("format") != PLAN_FORMAT:
            raise ValueError("no dlqctl-plan format marker")
        if document.get("version") != PLAN_VERSION:
            raise ValueError(f"plan version {document.get('version')} is not supported")
        command = document["summary"]["command"]
        if command not in ("redrive", "delete"):
            raise ValueError(f"unknown command {command!r}")
        settings = document.get("settings") or {}
        canary = settings.get("canary")
        destination = settings.get("destination")
        return cls(
            path=path,
            command=command,
            queue_url=_text(document["queue"]["url"]),
            queue_arn=_text(document["queue"]["arn"]),
            messages={_text(item["id"]): _text(item["digest"]) for item in document["messages"]},
            summary=dict(document["summary"]),
            walking=Walking(
                _number(settings.get("hold"), int, "hold", 1, MAX_HOLD_SECONDS),
                _number(settings.get("wait", 1), int, "wait", 1, 20),
            ),
            spec=None if command == "delete" else _spec(destination or {}),
            rate=_number(settings.get("rate"), float, "rate", 0.1),
            concurrency=_number(
                settings.get("concurrency"), int, "concurrency", 1, MAX_CONCURRENCY
            ),
            resend_ambiguous=_flag(settings.get("resend_ambiguous", True), "resend_ambiguous"),
            max_replays=_number(settings.get("max_replays"), int, "max_replays", 1),
            canary=None if canary is None else _canary(canary),
            park=None if settings.get("park") is None else _text(settings["park"]),
        )


def _spec(data: Mapping[str, Any]) -> DestinationSpec:
    """A plan's destination, each setting of its own type (a "false" in quotes is not
    false: it would mark the events)."""
    defaults = DestinationSpec()
    for name, value in data.items():
        default = getattr(defaults, name)
        if value is None and default is None:
            continue
        expected = str if default is None else type(default)
        if type(value) is not expected:
            raise TypeError(f"destination {name}: expected {expected.__name__}, got {value!r}")
    return DestinationSpec(**data)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected true or false, got {value!r}")
    return value


def _canary(settings: Mapping[str, Any]) -> CanarySettings:
    return CanarySettings(
        size=_number(settings["size"], int, "canary size", 1),
        watch_seconds=_number(settings["watch_seconds"], float, "canary watch_seconds", 0),
        max_return_rate=_number(settings["max_return_rate"], float, "canary max_return_rate", 0, 1),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected a text, got {value!r}")
    return value


def _number(
    value: Any,
    kind: type[int] | type[float],
    name: str,
    low: float | None = None,
    high: float | None = None,
) -> Any:
    """None, or a number of that kind within the range its option accepts (a bool, a text or a
    number out of range is refused, as the option would refuse it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else ''}..{high if high is not None else ''}"
        raise ValueError(f"{name} {value!r} is outside {bounds}")
    return kind(value)


@dataclass
class ApplyPlan(_Around):
    """``dlqctl apply FILE``: the saved plan's command, on the plan's messages only."""

    saved: SavedPlan
    selection: PlannedSelection

    @property
    def confirmation(self) -> Confirmation:
        return self.inner.confirmation

    @property
    def dry_run(self) -> bool:
        return self.inner.dry_run

    @property
    def activity(self) -> str:
        return f"Applying {self.saved.path.name}"

    @property
    def total(self) -> int:
        return len(self.saved.messages)

    def describe(self) -> str:
        summary = self.saved.summary
        what = "Redrive" if self.saved.command == "redrive" else "Delete"
        to = f" to {summary.get('destination')}" if self.saved.command == "redrive" else ""
        return (
            f"{what} the {len(self.saved.messages):,} message(s) planned in {self.saved.path} "
            f"(at {summary.get('created_at')}) of {self.inner.name}{to}; others are left alone"
        )

    def run(self, reporter: Reporter) -> PlanResult:
        try:
            result = self.inner.run(reporter)
        except DlqctlError as exc:  # stopped part way: shown as the apply it was
            if exc.done is not None:
                exc.done = self._applied(exc.done, reporter, stopped=True)
            raise
        return self._applied(result, reporter)

    def _applied(self, result: Result, reporter: Reporter, *, stopped: bool = False) -> PlanResult:
        data = result.to_json()
        missing = sorted(set(self.saved.messages) - self.selection.found)
        walked_all = bool(missing) and not stopped and self._walked_all(data, result.interrupted_by)
        changed = sorted(self.selection.changed)
        applied: dict[str, JsonValue] = {
            "plan": str(self.saved.path),
            "planned": len(self.saved.messages),
            "found": len(self.selection.found),
            "gone": missing if walked_all and result.interrupted_by is None else [],
            "not_seen": [] if walked_all and result.interrupted_by is None else missing,
            "changed": changed,
        }
        if changed:
            reporter.warn(
                f"{len(changed):,} planned message(s) changed since the plan (same ID, other "
                "content): refused and left in the queue; make a new plan to include them"
            )
        if applied["gone"]:
            reporter.warn(
                f"{len(missing):,} planned message(s) are no longer in the queue (gone): "
                "redriven, deleted or expired since the plan"
            )
        elif missing and result.interrupted_by is None:
            reporter.warn(
                f"{len(missing):,} planned message(s) were not seen: the walk did not reach "
                "them, or another consumer (or an interrupted run) holds them; run apply again"
            )
        return PlanResult(result, "applied", applied, f"Apply ({result.title.lower()})")

    def _walked_all(self, data: Mapping[str, Any], interrupted_by: int | None) -> bool:
        """Whether the walk saw the whole queue, so a planned message it did not find is
        gone: it ended by itself (not interrupted, capped or stopped by a breaker), and
        nothing else holds messages of the queue now."""
        coverage = data.get("coverage")
        canary = data.get("canary")
        if interrupted_by is not None or (isinstance(canary, dict) and canary.get("stopped")):
            return False
        if isinstance(coverage, dict) and not coverage.get("complete", True):
            return False
        try:
            return self.inner.aws.sqs.attributes(self.inner.opened.queue).in_flight == 0
        except DlqctlError:
            return False  # not asked: what the run did stands, and they count as not seen


def prepare_apply(
    aws: Aws, path: str, *, dry_run: bool, force: bool, look_anyway: bool = False
) -> Plan:
    """Read a saved plan, check that its queue URL still names its queue (by ARN), and rebuild
    its command with a selection of exactly the planned messages."""
    saved = SavedPlan.load(path)
    opened = open_queue(aws, saved.queue_url)
    if opened.queue.arn != saved.queue_arn:
        raise UsageError(
            f"the plan is for {saved.queue_arn}, but its queue URL now names {opened.queue.arn}",
            "check --profile/--region/--endpoint-url: apply acts on the plan's own queue",
        )
    selection = PlannedSelection(description=f"the plan {saved.path.name}", planned=saved.messages)
    limit = len(saved.messages) or None
    inner: RedrivePlan | DeletePlan
    if saved.spec is not None:
        options = RedriveOptions(
            limit=limit,
            dry_run=dry_run,
            rate=saved.rate,
            walking=saved.walking,
            resend_ambiguous=saved.resend_ambiguous,
            concurrency=saved.concurrency,
            max_replays=saved.max_replays,
            canary=saved.canary,
        )
        inner = prepare_redrive(
            aws,
            saved.queue_url,
            saved.spec,
            selection,
            options,
            force=force,
            park=saved.park,
            look_anyway=look_anyway,
        )
    else:
        inner = prepare_delete(
            aws,
            saved.queue_url,
            selection,
            limit=limit,
            dry_run=dry_run,
            walking=saved.walking,
            park=saved.park,
            look_anyway=look_anyway,
        )
    return ApplyPlan(inner, saved, selection)
