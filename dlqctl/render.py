"""The only module that draws: tables, progress, warnings and JSON/JSONL on the right stream."""

from __future__ import annotations

import codecs
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dlqctl.choices import OutputFormat
from dlqctl.envelopes import one_line
from dlqctl.errors import OutputFailed
from dlqctl.models import Arn, DeadLetterQueue, MessageView, json_line, utf8_or_escaped
from dlqctl.plans import PlannedOnly, Result

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from dlqctl.summary import Group, Summary

# rich is imported where something is drawn: a command writing JSON to a pipe, its notes to a
# log, never loads it.


class _Output:
    """``sys.stdout`` (whichever it is at the time) as this module writes to it: a write or
    flush that fails is an ``OutputFailed`` (one error line, exit code 1), not an unexpected
    error; a closed pipe stays a ``BrokenPipeError``, which ends a command quietly."""

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed.of(exc) from exc
        except UnicodeEncodeError:
            # Text the output cannot take (half an emoji from a message's JSON in a table
            # cell, an ASCII-only terminal): written as JSON escapes, which keep JSON valid.
            encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
            return self.write(text.encode(encoding, _JSON_ESCAPE).decode(encoding))

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed.of(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: what an encoding cannot take, as ``\\uXXXX`` escapes."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for character in error.object[error.start : error.end]:
        point = ord(character)
        if point > 0xFFFF:  # a surrogate pair, as JSON writes it
            point -= 0x10000
            escaped.append(f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{point:04x}")
    return "".join(escaped), error.end


_JSON_ESCAPE = "dlqctl-json-escape"
codecs.register_error(_JSON_ESCAPE, _json_escape)

_OUT = _Output()


def plain(text: str) -> None:
    """Text on stdout as it is."""
    _OUT.write(text)
    _OUT.flush()


def default_format() -> OutputFormat:
    """A table for a person at a terminal, JSON for a pipe or a script."""
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSON


def _stdout() -> Console:
    from rich.console import Console

    return Console(file=_OUT, soft_wrap=False)  # type: ignore[arg-type]


def _stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, soft_wrap=True, highlight=False)


def _table(**settings: Any) -> Table:
    from rich.table import Table

    return Table(**settings)


def escape(text: str) -> str:
    """``text`` shown as it is, not read as rich markup."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


def _note(text: str, *, prefix: str = "", style: str = "") -> None:
    """A line on stderr: as plain text where rich would draw it plain (not a terminal, no
    FORCE_COLOR), else drawn, its ``prefix`` in ``style``."""
    if not sys.stderr.isatty() and not os.environ.get("FORCE_COLOR"):
        sys.stderr.write(prefix + text + "\n")
        sys.stderr.flush()
    else:
        lead = f"[{style}]{escape(prefix)}[/{style}]" if style else escape(prefix)
        _stderr().print(lead + escape(text))


def to_json_text(value: Any, *, indent: int | None = 2) -> str:
    if indent is None and isinstance(value, dict):
        return json_line(value)
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return utf8_or_escaped(text, value, indent)


def error(message: str, hint: str | None = None) -> None:
    """The one line an error gets on stderr."""
    line = f"Error: {message}"
    if hint:
        line += f" (hint: {hint})"
    sys.stderr.write(" ".join(line.split()) + "\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    _note(message, prefix="Warning: ", style="yellow")


def info(message: str) -> None:
    _note(message)


def emit_json(value: Any, fmt: OutputFormat = OutputFormat.JSON) -> None:
    """One JSON document on stdout: indented for ``json``, on one line for ``jsonl``."""
    indent = None if fmt is OutputFormat.JSONL else 2
    _OUT.write(to_json_text(value, indent=indent) + "\n")
    _OUT.flush()


def emit_records(records: Iterable[Mapping[str, Any]], fmt: OutputFormat) -> int:
    """Stream records as a JSON array (a record a line) or as JSON lines, without holding them;
    returns the count."""
    return emit_lines((to_json_text(record, indent=None) for record in records), fmt)


def emit_lines(lines: Iterable[str], fmt: OutputFormat) -> int:
    """Stream records already written as one line of JSON each (``emit_records``)."""
    count = 0
    if fmt is OutputFormat.JSONL:
        try:
            for line in lines:
                _OUT.write(line + "\n")
                count += 1
        finally:
            _OUT.flush()
        return count
    # One record a line inside the array: the standard library encodes a document without
    # indentation in C, and with it in Python, several times slower.
    _OUT.write("[")
    try:
        for line in lines:
            _OUT.write(("," if count else "") + "\n  " + line)
            count += 1
    finally:
        # Also on an interrupt or an error: what was written stays one closed JSON document.
        _OUT.write("\n]\n" if count else "]\n")
        _OUT.flush()
    return count


class Bar:
    """What ``progress`` yields: call it to advance; ``status`` sets the text beside it."""

    def __init__(
        self, bar: Progress | None = None, task: Any = None, description: str = ""
    ) -> None:
        self._bar, self._task, self._description = bar, task, description

    def __call__(self, count: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)

    def status(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self._description} ({text})")


@contextmanager
def progress(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Bar]:
    """A progress bar on stderr while the block runs; yields a ``Bar`` (call it to advance).

    Shown only when stderr is a terminal, so logs and pipes stay clean.
    """
    if not enabled or not sys.stderr.isatty():
        yield Bar()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    # stdout stays the command's: the bar must not take its JSON onto the terminal.
    with Progress(*columns, console=_stderr(), transient=True, redirect_stdout=False) as bar:
        task = bar.add_task(description, total=total)
        yield Bar(bar, task, description)


def duration(seconds: float | None) -> str:
    """A compact human duration: 45s, 12m, 3h, 2d."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            whole = seconds / size
            return f"{whole:.1f}{unit}" if whole < 10 else f"{whole:.0f}{unit}"
    return f"{seconds:.0f}s"


def queues_table(queues: Sequence[DeadLetterQueue]) -> None:
    """One row a queue. Below 120 columns the sources are named, not given as full ARNs
    (``-o json`` has them whole), and below 100 the delayed count is left out, so queue names
    and headers are never cut; what is too long for the last column ends in an ellipsis."""
    console = _stdout()
    short, narrow = console.width < 120, console.width < 100
    longest = max((len(item.queue.name) for item in queues), default=5)
    table = _table(title=f"{len(queues)} queue(s)", title_justify="left")
    table.add_column("Queue", no_wrap=True, overflow="ellipsis", min_width=min(longest, 40))
    numbers = ["Visible", "In flight", *([] if narrow else ["Delayed"]), "Oldest"]
    numbers.append("Ret. left" if short else "Retention left")
    for name in numbers:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_column("Fed by", overflow="ellipsis")
    for item in queues:
        attributes = item.attributes
        fed_by = "\n".join(
            f"{source.type}: {_short_arn(source.arn) if short else source.arn}"
            for source in item.sources
        )
        if not fed_by:
            fed_by = "(name only)" if item.named_like_dlq else "-"
        counts = [f"{attributes.visible:,}", f"{attributes.in_flight:,}"]
        if not narrow:
            counts.append(f"{attributes.delayed:,}")
        table.add_row(
            escape(item.queue.name),
            *counts,
            duration(item.oldest_age_seconds),
            duration(item.retention_left_seconds),
            escape(fed_by),
        )
    console.print(table)


def _short_arn(arn: str) -> str:
    """An ARN's resource without its type: a queue or topic name, a function's name (and its
    version or alias), a state machine's name, a rule's name (on a custom bus, with the bus:
    ``orders/process``); or the text as it is."""
    parsed = Arn.parse(arn)
    if parsed is None:
        return arn
    resource = parsed.resource
    if parsed.service in ("lambda", "states") and ":" in resource:
        short = resource.split(":", 1)[1]  # function:NAME[:QUALIFIER], stateMachine:NAME
    else:
        short = resource.split("/", 1)[1] if "/" in resource else resource
    return short or arn


def messages_table(views: Iterable[MessageView]) -> int:
    """One row a message. Below 110 columns the error (or, without one, the event) goes on the
    lines under the message ID, where it has most of the table's width, instead of in columns
    of its own; below 70 the kind is dropped too."""
    console = _stdout()
    table = _table(show_lines=console.width < 110)
    narrow = 0  # the width of the ID and error column of a narrow table
    if console.width >= 110:
        free = max(10, console.width - (36 + 5 + 4 + 18) - 3 * 6 - 1)
        table.add_column("Message ID", no_wrap=True, width=36)
        table.add_column("Age", justify="right", no_wrap=True, width=5)
        table.add_column("Recv", justify="right", no_wrap=True, width=4)
        table.add_column("Kind", no_wrap=True, overflow="ellipsis", width=18)
        table.add_column("Error", no_wrap=True, overflow="ellipsis", width=free * 3 // 5)
        table.add_column(
            "Event / body", no_wrap=True, overflow="ellipsis", width=free - free * 3 // 5
        )
    else:
        kind = console.width >= 70
        narrow = max(20, console.width - 5 - (15 + 3 if kind else 0) - 3 * 2 - 1)
        table.add_column("Message ID / error", overflow="fold", width=narrow)
        table.add_column("Age", justify="right", no_wrap=True, width=5)
        if kind:
            table.add_column("Kind", no_wrap=True, overflow="ellipsis", width=15)
    count = 0
    try:
        for view in views:
            table.add_row(*_message_cells(view, narrow)[: len(table.columns)])
            count += 1
    finally:
        # Also on an interrupt or an error: show the rows that were read.
        table.title = f"{count} message(s)"
        table.title_justify = "left"
        console.print(table)
    return count


def _message_cells(view: MessageView, narrow: int) -> list[str]:
    """One message's cells: ID, age, receive count, kind, error and event; in a table
    ``narrow`` wide (not 0), ID and error (else the event, about two lines), age, kind."""
    error_text = ""
    if view.error:
        error_text = ": ".join(part for part in (view.error.code, view.error.message) if part)
    age = duration(view.age_seconds)
    if not narrow:
        receives = str(view.message.receive_count)
        return [view.message_id, age, receives, view.kind, escape(error_text[:200]),
                escape(one_line(view, 80))]  # fmt: skip
    below = " ".join((error_text or one_line(view, 2 * narrow)).split())
    if len(below) > 2 * narrow:
        below = below[: 2 * narrow - 1] + "…"
    return [f"{escape(view.message_id)}\n[dim]{escape(below)}[/dim]", age, view.kind]


_GROUP_TITLES = {
    "by_kind": "By kind",
    "by_error": "By error",
    "by_origin": "By origin",
    "by_event": "By event",
}


_STACKED = {"by_error": ("kind", "code"), "by_origin": ("origin", "target")}
"""Keys of a grouping that share a column (one above the other) in a narrow summary."""
_ARN_KEYS = frozenset({"origin", "target"})


def _group_table(name: str, groups: Sequence[Group], top: int, width: int) -> Table:
    """One grouping of a summary, its ``top`` groups. Below 120 columns origins and targets
    are named, not given as full ARNs (``-o json`` has them whole); below 100 the kind and
    the error code share a column, so do the origin and the target, and so do the first and
    last times (to the minute), so the error message has room to be read."""
    short, narrow = width < 120, width < 100
    stacked = _STACKED.get(name, ()) if narrow else ()
    columns: list[tuple[str, ...]] = []
    for key in groups[0].key:
        if key not in stacked[1:]:
            columns.append(stacked if key in stacked else (key,))
    table = _table(title=_GROUP_TITLES.get(name, name), title_justify="left", show_lines=narrow)
    for column in columns:
        table.add_column(" / ".join(column), overflow="fold", no_wrap="kind" in column)
    table.add_column("count", justify="right", no_wrap=True)
    for heading in ["first / last"] if narrow else ["first seen", "last seen"]:
        table.add_column(heading, no_wrap=True)
    when = "%m-%d %H:%M" if narrow else "%m-%d %H:%M:%S"
    for group in groups[:top]:
        keys = ["\n".join(_key_text(group.key.get(key), key, short) for key in column)
                for column in columns]  # fmt: skip
        seen = [format(moment, when) if moment else "-"
                for moment in (group.first_seen, group.last_seen)]  # fmt: skip
        table.add_row(*keys, f"{group.count:,}", *(["\n".join(seen)] if narrow else seen))
    if len(groups) > top:
        table.caption = f"{len(groups) - top} more group(s) in --output json"
    return table


def _key_text(value: str | None, key: str, short: bool) -> str:
    if not value:
        return "-"
    return escape(_short_arn(value) if short and key in _ARN_KEYS else value)


def _partial_summary(summary: Summary) -> str | None:
    """Why a summary is of part of the queue, if it is."""
    if summary.error is not None:
        return "stopped by an error: what was read before it"
    if summary.signal is not None:
        return "interrupted: what was read before it"
    if summary.is_sample:
        return "a sample: the oldest messages, not the whole queue"
    return None


def summary_view(summary: Summary, top: int = 10) -> None:
    console = _stdout()
    heading = f"[bold]{escape(summary.queue)}[/bold]: {summary.total:,} message(s)"
    partial = _partial_summary(summary)
    if partial:
        heading += f" [yellow]({partial})[/yellow]"
    if summary.expiring_within_24h:
        heading += (
            f"\n[bold red]{summary.expiring_within_24h:,} expire within 24 hours[/bold red]"
            f" (the first at {summary.soonest_expiry:%Y-%m-%d %H:%M}Z): SQS deletes them then"
        )
    if summary.first_seen and summary.last_seen:
        heading += (
            f", first {summary.first_seen:%Y-%m-%d %H:%M:%S}Z,"
            f" last {summary.last_seen:%Y-%m-%d %H:%M:%S}Z"
        )
    console.print(heading)
    for name, groups in summary.groups.items():
        if groups:
            console.print(_group_table(name, groups, top, console.width))
    if summary.buckets:
        console.print(f"Failures over time ({duration(summary.bucket_seconds)} per bar):")
        peak = max(bucket.count for bucket in summary.buckets) or 1
        for bucket in summary.buckets:
            bar = "█" * max(1 if bucket.count else 0, round(40 * bucket.count / peak))
            console.print(f"  {bucket.start:%m-%d %H:%M} {bucket.count:>7,} [red]{bar}[/red]")


def confirm(prompt: str) -> bool:
    """Ask a yes/no question on stderr; only an explicit yes counts (end of input is a no)."""
    try:
        answer = _stderr().input(escape(f"{prompt} [y/N] "))
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def ask(prompt: str) -> str:
    """Ask for free text on stderr (end of input is an empty answer)."""
    try:
        return _stderr().input(escape(prompt) + " ").strip()
    except EOFError:
        return ""


def step(title: str) -> None:
    """A heading in a narrated run (the demo)."""
    _stderr().print(f"\n[bold cyan]── {escape(title)}[/bold cyan]")


def narrate(text: str) -> None:
    _stderr().print(f"[dim]{escape(text)}[/dim]")


def command_line(argv: Sequence[str]) -> None:
    """Show a command about to run, as the operator would type it."""
    import shlex

    words = [f'"{word}"' if "'" in word and '"' not in word else shlex.quote(word) for word in argv]
    _stderr().print(f"[bold]$ {escape(' '.join(words))}[/bold]")


def show(result: Result, fmt: OutputFormat) -> None:
    """A result on stdout: its table for a person, else its JSON (one line for ``jsonl``)."""
    if fmt is not OutputFormat.TABLE:
        emit_json(result.to_json(), fmt)
    elif _is_stack_report(result):
        stack_view(result.to_json())
    elif isinstance(result, PlannedOnly):
        _stdout().print(f"[bold]Dry run[/bold]: {escape(result.plan)}")
    else:
        outcome(result.to_json(), title=result.title)


def _is_stack_report(result: Result) -> bool:
    from dlqctl.stack import StackReport  # only a table needs to know

    return isinstance(result, StackReport)


def outcome(data: Mapping[str, Any], *, title: str) -> None:
    """A command's result as a person reads it: the counts, then each failure."""
    console = _stdout()
    parts = []
    for key, value in data.items():
        # Lists and objects have their own lines below (failures, entries) or a warning of
        # their own (an incomplete ``coverage``); the line keeps to the counts.
        # An ``error`` is the error line's, on stderr.
        if key in {"failures", "entries", "not_found", "dry_run", "error"} or value is None:
            continue
        if isinstance(value, Mapping | list):
            continue
        label = key.replace("_", " ")
        if isinstance(value, bool):
            parts.append(label if value else f"not {label}")
        elif isinstance(value, int):
            parts.append(f"{label} {value:,}")
        else:
            parts.append(f"{label} {value}")
    if data.get("dry_run"):
        title += " (dry run: nothing was changed)"
    console.print(f"[bold]{escape(title)}[/bold]: {escape(', '.join(parts))}")
    _failures_table(console, data.get("failures") or [])
    missing = data.get("not_found") or []
    if missing:
        coverage = data.get("coverage")
        where = (
            "" if isinstance(coverage, dict) and coverage.get("complete") else " (in what was read)"
        )
        console.print(f"Not found{where}: {escape(', '.join(missing))}")
    _preflight_lines(console, data.get("preflight"))
    _canary_line(console, data.get("canary"))
    _parking_lines(console, data.get("parking"))
    _plan_lines(console, data.get("saved_plan"), data.get("applied"))
    entries = data.get("entries") or []
    if entries:
        console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} would be sent:")
        for entry in entries[:5]:
            console.print(f"  {escape(str(entry['message_id']))} → {escape(str(entry['target']))}")
        if len(entries) > 5:
            console.print(f"  … {len(entries) - 5} more (each entry in full with -o json)")


def _failures_table(
    console: Console, failures: Sequence[Mapping[str, Any]], *, what: str = "not done"
) -> None:
    if not failures:
        return
    table = _table(title=f"{len(failures)} {what}", title_justify="left")
    table.add_column("Message ID", no_wrap=True)
    table.add_column("Reason", overflow="fold")
    for failure in failures[:200]:
        table.add_row(escape(str(failure["message_id"])), escape(str(failure["reason"])))
    if len(failures) > 200:
        table.caption = f"{len(failures) - 200} more in --output json"
    console.print(table)


def move_tasks_table(tasks: Sequence[Mapping[str, Any]]) -> None:
    table = _table(title=f"{len(tasks)} move task(s)", title_justify="left")
    for name in ("Status", "Moved", "To move", "Started", "Destination", "Failure"):
        table.add_column(name)
    for task in tasks:
        table.add_row(
            task["status"],
            str(task["moved"]),
            str(task["to_move"] if task["to_move"] is not None else "-"),
            str(task["started_at"] or "-"),
            escape(str(task["destination_arn"] or "(original sources)")),
            escape(str(task["failure_reason"] or "")),
        )
    _stdout().print(table)


def stack_view(data: Mapping[str, Any]) -> None:
    """A stack's state, outputs, resources and failures."""
    console = _stdout()
    line = f"[bold]{escape(data['stack'])}[/bold]: {escape(data['status'])}"
    if data.get("reason"):
        line += f" ({escape(str(data['reason']))})"
    console.print(line)
    dlq = data.get("dlq") or {}
    if dlq.get("visible") is not None:
        console.print(f"DLQ: {dlq['visible']:,} visible, {dlq['in_flight']:,} in flight")
    for change in data.get("changes") or []:
        console.print(f"  changed: {escape(change)}")
    if data.get("outputs"):
        table = _table(title="Outputs", title_justify="left")
        table.add_column("Key")
        table.add_column("Value", overflow="fold")
        for key, value in data["outputs"].items():
            table.add_row(escape(key), escape(value))
        console.print(table)
    resources = [item for item in data.get("resources") or [] if item["logical_id"]]
    if resources:
        table = _table(title="Resources", title_justify="left")
        for column in ("Resource", "Type", "Status", "Physical ID"):
            table.add_column(column, overflow="fold")
        for item in resources:
            table.add_row(
                escape(item["logical_id"]),
                escape(item["type"]),
                escape(item["status"]),
                escape(item["physical_id"]),
            )
        console.print(table)
    for failure in data.get("failures") or []:
        console.print(
            f"[red]{escape(failure['resource'])}: {escape(failure['status'])}[/red] "
            f"{escape(str(failure['reason'] or ''))}"
        )


def journals_table(journals: Sequence[Mapping[str, Any]]) -> None:
    table = _table(title=f"{len(journals)} journal(s)", title_justify="left")
    for name in ("Destination", "Runs", "Sent", "Delivered", "Pending delete", "Ambiguous", "Path"):
        table.add_column(name, overflow="fold")
    for journal in journals:
        table.add_row(
            escape(str(journal["destination"])),
            str(journal["runs"]),
            str(journal["sent"]),
            str(journal["delivered"]),
            str(journal["pending_delete"]),
            str(journal["ambiguous"]),
            escape(str(journal["path"])) + (" (pruned)" if journal.get("pruned") else ""),
        )
    _stdout().print(table)


def most_replayed_table(replayed: Sequence[Mapping[str, Any]]) -> None:
    """The content replayed in the most runs (the loop guard's counts)."""
    console = _stdout()
    if not replayed:
        console.print("No content was replayed in more than one run.")
        return
    table = _table(title="Replayed in the most runs", title_justify="left")
    for name in ("Runs", "Content", "Last message ID"):
        table.add_column(name, overflow="fold")
    for item in replayed:
        table.add_row(
            str(item["replays"]), escape(str(item["content"])), escape(str(item["last_message_id"]))
        )
    console.print(table)


def _canary_line(console: Console, canary: Any) -> None:
    if not isinstance(canary, Mapping):
        return
    line = (
        f"Canary of {canary['size']:,}: {canary['replayed']:,} replayed, "
        f"{canary['returned']:,} came back ({canary['return_rate']:.0%}; the limit "
        f"{canary['max_return_rate']:.0%})"
    )
    if canary.get("stopped"):
        line += f". Stopped: {canary['stopped']}"
    console.print(escape(line))


def _parking_lines(console: Console, parking: Any) -> None:
    if not isinstance(parking, Mapping):
        return
    left = parking["left_parked"]
    console.print(
        escape(
            f"Parking in {parking['queue']}: {parking['parked']:,} parked, "
            f"{parking['returned']:,} moved back, "
            + ("left parked: not counted" if left is None else f"~{left:,} left parked")
        )
    )
    _failures_table(console, parking.get("failures") or [], what="parking failure(s)")


def _plan_lines(console: Console, saved: Any, applied: Any) -> None:
    if isinstance(saved, Mapping):
        if saved.get("path") is None:
            console.print(escape(f"No plan saved: {saved.get('reason')}"))
        else:
            groups = ", ".join(f"{count:,} {group}" for group, count in saved["by_group"].items())
            console.print(
                escape(
                    f"Plan saved to {saved['path']}: {saved['messages']:,} message(s)"
                    + (f" ({groups})" if groups else "")
                    + f"; carry it out with: dlqctl apply {saved['path']}"
                )
            )
    if isinstance(applied, Mapping):
        console.print(
            escape(
                f"Plan {applied['plan']}: {applied['planned']:,} planned, {applied['found']:,} "
                f"found, {len(applied['gone']):,} gone, {len(applied['changed']):,} changed"
                + (
                    f", {len(applied['not_seen']):,} not seen (the walk did not reach them)"
                    if applied["not_seen"]
                    else ""
                )
            )
        )


def _preflight_lines(console: Console, checked: Any) -> None:
    """The fan-out of a bus replay and the failed pre-flight checks (a dry run's news)."""
    if not isinstance(checked, Mapping):
        return
    from dlqctl.preflight import fan_out_line

    for group in checked.get("fan_out") or []:
        console.print(escape(f"Fan-out: {fan_out_line(group)}"))
    for failure in checked.get("failures") or []:
        console.print(escape(f"Pre-flight check failed: {failure}"))
