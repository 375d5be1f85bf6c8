"""The typer app: options, prompts, the one error boundary; the work is in the core modules.

The modules behind the commands are imported inside them, so `--help` and parsing load only
typer and `choices`; and only the command being run is built (``root_command``)."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from dlqctl import __version__
from dlqctl.choices import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_REPLAYS,
    DEFAULT_STACK,
    EVENT_MAX_BYTES,
    MAX_CONCURRENCY,
    Kind,
    OutputFormat,
)
from dlqctl.errors import (
    DlqctlError,
    ExitCode,
    Interrupted,
    OutputFailed,
    PartialFailure,
    UsageError,
)
from dlqctl.interrupts import each_whole, exit_code, install_handlers, signal_number

if TYPE_CHECKING:
    from dlqctl.aws import Aws
    from dlqctl.filters import Selection
    from dlqctl.plans import Plan, Result
    from dlqctl.scan import OpenQueue
    from dlqctl.summary import Summary
    from dlqctl.traffic import Traffic

T = TypeVar("T")

PEEK_LIMIT = 20
"""How many messages ``peek`` shows without ``--limit`` or ``--all``."""


class _PlainHelp:
    """Help as plain text, with each option under its panel's heading (``rich_help_panel``):
    typer renders help with rich, whose markdown and syntax modules take longer to import
    than everything else a ``--help`` does."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        command: Any = self
        command.format_usage(ctx, formatter)
        command.format_help_text(ctx, formatter)
        self.format_options(ctx, formatter)
        command.format_epilog(ctx, formatter)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        command: Any = self
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                kind = "Arguments" if param.param_type_name == "argument" else "Options"
                heading = getattr(param, "rich_help_panel", None) or kind
                sections.setdefault(heading, []).append(record)
        for heading, rows in sections.items():
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)
        if hasattr(command, "format_commands"):
            command.format_commands(ctx, formatter)


class DlqctlCommand(_PlainHelp, TyperCommand):
    """A command with plain help (see ``_PlainHelp``)."""


class DlqctlSubgroup(_PlainHelp, TyperGroup):
    """A group of commands (``stack``, ``sandbox``) with plain help."""


class DlqctlGroup(_PlainHelp, TyperGroup):
    """Runs click without its own error printing, so every failure is one ``Error:`` line.

    Built by ``root_command()``, each subcommand is built when it is run or its own help is shown
    (``_builders``): typer builds a command by reading every option from the function's
    signature, and building all of them took ~30 ms of every start, to run one."""

    _builders: Mapping[str, Callable[[], Any]] = MappingProxyType({})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        build = self._builders.get(cmd_name)
        if build is not None and isinstance(self.commands.get(cmd_name), _Unbuilt):
            self.commands[cmd_name] = build()
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The list of commands, from each one's help, without building them (as typer
        writes it)."""
        shown = [(name, entry) for name, entry in self.commands.items() if not entry.hidden]
        if shown:
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, c.get_short_help_str(limit)) for name, c in shown])

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        install_handlers()
        if args is None:
            args = sys.argv[1:]
        args = _shared_options_last(list(args))
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            context = getattr(exc, "ctx", None)
            command = context.command_path if context is not None else "dlqctl"
            message = exc.format_message().strip() or f"'{command}' needs a command"
            if type(exc).__name__ == "NoArgsIsHelpError":  # its message is the group's help
                sys.stdout.write(message + "\n\n")
                message = f"'{command}' needs a command"
            from dlqctl import render

            render.error(message, f"see '{command} --help'")
            sys.exit(exc.exit_code)
        except typer.Abort:
            from dlqctl import render

            render.error("interrupted")
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


_SHARED_WITH_VALUE = frozenset({"--profile", "--region", "--endpoint-url", "--output", "-o"})
_SAME_OPTION = {"-o": "--output"}
_SHARED_FLAGS = frozenset({"--debug"})


def _option_name(word: str) -> tuple[str, bool]:
    """The option a word names, and whether its value is in the same word (``--output=json``,
    ``-ojson``)."""
    if word.startswith("--"):
        name, equals, _ = word.partition("=")
        return name, bool(equals)
    if word[:2] in _SAME_OPTION and word[2:] in _OUTPUT_FORMATS:
        return word[:2], True
    return word, False


_OUTPUT_FORMATS = frozenset(fmt.value for fmt in OutputFormat)
"""What ``-o`` takes: ``-ojson`` is ``-o json``, ``-oops`` (an option's value) is not."""


def _shared_options_last(args: list[str]) -> list[str]:
    """Accept the shared options before the command too (``dlqctl --region x -o json list``,
    as the aws CLI does) by moving them after it, where each command declares them. One given
    both before and after the command is the one after it (nearer the command, as typed after
    an alias that sets it)."""
    leading: list[tuple[str, list[str]]] = []
    index = 0
    while index < len(args):
        word = args[index]
        name, attached = _option_name(word)
        if name in _SHARED_FLAGS:
            leading.append((name, [word]))
            index += 1
        elif name in _SHARED_WITH_VALUE:
            takes_next = not attached and index + 1 < len(args)
            leading.append((name, args[index : index + 1 + takes_next]))
            index += 1 + takes_next
        else:
            break
    rest = args[index:]
    if not leading or not rest or rest[0].startswith("-"):
        return args
    cut = rest.index("--") if "--" in rest else len(rest)
    given_after = {_SAME_OPTION.get(name, name) for name, _ in map(_option_name, rest[:cut])}
    moved = [
        word
        for name, words in leading
        if _SAME_OPTION.get(name, name) not in given_after
        for word in words
    ]
    return rest[:cut] + moved + rest[cut:]


app = typer.Typer(
    cls=DlqctlGroup,
    name="dlqctl",
    help="Operate AWS dead-letter queues: list, peek, filter, summarize, redrive, export, purge.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass(frozen=True)
class Ctx:
    """What every command receives: the AWS connection, the output format, and --debug."""

    aws: Aws
    output: OutputFormat
    debug: bool


_AWS_PANEL = "AWS connection"
_OUTPUT_PANEL = "Output"
DebugOption = Annotated[
    bool,
    typer.Option("--debug", help="Show the traceback of an error.", rich_help_panel=_OUTPUT_PANEL),
]
DocumentOutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="json or jsonl for a document; else what the command prints for a person.",
        rich_help_panel=_OUTPUT_PANEL,
    ),
]
"""``-o`` of the commands that print for a person unless asked for JSON (sandbox, demo)."""
_FILTER_PANEL = "Selection"


def _option(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_COMMON = [
    _option(
        "profile",
        Annotated[
            str | None,
            typer.Option(
                "--profile",
                envvar="AWS_PROFILE",
                show_envvar=False,
                help="Named profile from ~/.aws/config.",
                rich_help_panel=_AWS_PANEL,
            ),
        ],
    ),
    _option(
        "region",
        Annotated[
            str | None,
            typer.Option(
                "--region",
                help="AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile).",
                rich_help_panel=_AWS_PANEL,
            ),
        ],
    ),
    _option(
        "endpoint_url",
        Annotated[
            str | None,
            typer.Option(
                "--endpoint-url",
                envvar="AWS_ENDPOINT_URL",
                show_envvar=False,
                help="Custom endpoint, e.g. LocalStack or moto (else AWS_ENDPOINT_URL).",
                rich_help_panel=_AWS_PANEL,
            ),
        ],
    ),
    _option(
        "output",
        Annotated[
            OutputFormat | None,
            typer.Option(
                "--output",
                "-o",
                case_sensitive=False,
                envvar="DLQCTL_OUTPUT",
                show_envvar=False,
                help="table, json or jsonl (default $DLQCTL_OUTPUT; a terminal: table; else json).",
                rich_help_panel=_OUTPUT_PANEL,
            ),
        ],
    ),
    _option("debug", DebugOption, False),
]

_SELECTION = [
    _option(
        "filter_expression",
        Annotated[
            str | None,
            typer.Option(
                "--filter",
                "-f",
                help="JMESPath over the message view; selects when truthy.",
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
    ),
    _option(
        "older_than",
        Annotated[
            str | None,
            typer.Option(
                "--older-than",
                help="Only messages older than this (15m, 2h, 3d).",
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
    ),
    _option(
        "newer_than",
        Annotated[
            str | None,
            typer.Option(
                "--newer-than",
                help="Only messages at most this old (15m, 2h, 3d).",
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
    ),
    _option(
        "expiring_within",
        Annotated[
            str | None,
            typer.Option(
                "--expiring-within",
                help="Only messages SQS deletes within this time (6h, 1d): retention runs out.",
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
    ),
    _option(
        "error_contains",
        Annotated[
            str | None,
            typer.Option(
                "--error-contains",
                help="Only messages whose error code or message contains TEXT.",
                rich_help_panel=_FILTER_PANEL,
            ),
        ],
    ),
    _option(
        "kind",
        Annotated[
            Kind | None,
            typer.Option(
                "--kind", help="Only messages of this kind.", rich_help_panel=_FILTER_PANEL
            ),
        ],
    ),
]


def _warn_if_nothing_selected(selection: Selection) -> None:
    from dlqctl import render

    tally = selection.tally
    if tally.looked_at and not tally.selected:
        render.warn(
            f"the selection ({selection.description}) matched none of the "
            f"{tally.looked_at:,} message(s) looked at"
        )


def _report(message: str, hint: str | None) -> None:
    """The error line; a terminal that went away (SIGHUP) must not turn it into a traceback."""
    from dlqctl import render

    with contextlib.suppress(OSError):
        render.error(message, hint)


def _notes(exc: BaseException) -> str:
    """What the code an exception passed through added to it (held messages left hidden)."""
    return "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))


def _run(body: Callable[[], T], debug: bool) -> T:
    """The error boundary: one line on stderr and a documented exit code, never a traceback."""
    from dlqctl import render

    try:
        return body()
    except DlqctlError as exc:
        if debug:
            traceback.print_exc()
        _report(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from exc
    except KeyboardInterrupt as exc:
        _report(f"interrupted ({signal.Signals(signal_number(exc)).name}){_notes(exc)}", None)
        raise typer.Exit(exit_code(exc)) from exc
    except BrokenPipeError as exc:
        if _notes(exc):  # the reader went away; what it left hidden is still said
            _report(f"output closed{_notes(exc)}", None)
            raise typer.Exit(ExitCode.PARTIAL) from exc
        raise typer.Exit(ExitCode.OK) from exc
    except (typer.Exit, typer.TyperException, typer.Abort):
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        render.error(
            f"unexpected {type(exc).__name__}: {exc}{_notes(exc)}",
            "run again with --debug and report the traceback",
        )
        raise typer.Exit(ExitCode.UNEXPECTED) from exc


def _evaluated(parameter: inspect.Parameter, func: Callable[..., Any]) -> inspect.Parameter:
    """The parameter with its annotation evaluated (this module's annotations are text until
    asked for), as typer reads the option it declares from it."""
    if not isinstance(parameter.annotation, str):
        return parameter
    annotation = eval(parameter.annotation, func.__globals__)  # our own source text
    return parameter.replace(annotation=annotation)


def command(
    name: str, *, selection: bool = False, group: typer.Typer | None = None, **settings: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Register a command with the shared AWS/output options (and the selection options).

    The decorated function takes ``ctx: Ctx`` first (and ``selection: Selection`` when asked);
    the shared options are added to its signature so each command lists them in ``--help``.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        own = [
            _evaluated(parameter, func)
            for parameter in signature.parameters.values()
            if parameter.name not in {"ctx", "selection"}
        ]
        extra = _COMMON + (_SELECTION if selection else [])
        parameters = [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) for parameter in own
        ] + extra

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            debug = bool(kwargs.pop("debug"))

            def body() -> Any:
                from dlqctl import render
                from dlqctl.aws import Connection
                from dlqctl.filters import Selection, build_selection

                connection = Connection(
                    profile=kwargs.pop("profile"),
                    region=kwargs.pop("region"),
                    endpoint_url=kwargs.pop("endpoint_url"),
                )
                output = kwargs.pop("output") or render.default_format()
                if selection:
                    kwargs["selection"] = build_selection(
                        kwargs.pop("filter_expression"),
                        older_than=kwargs.pop("older_than"),
                        newer_than=kwargs.pop("newer_than"),
                        expiring_within=kwargs.pop("expiring_within"),
                        error_contains=kwargs.pop("error_contains"),
                        kind=(kind := kwargs.pop("kind")) and str(kind.value),
                    )
                chosen = kwargs.get("selection")
                try:
                    return func(Ctx(connection.open(), OutputFormat(output), debug), **kwargs)
                finally:
                    if isinstance(chosen, Selection):
                        with contextlib.suppress(OSError):
                            _warn_if_nothing_selected(chosen)

            return _run(body, debug)

        del wrapper.__wrapped__
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        settings.setdefault("cls", DlqctlCommand)
        (group or app).command(name, **settings)(wrapper)
        return func

    return decorator


QueueArg = Annotated[str, typer.Argument(help="Queue name, URL or ARN.", show_default=False)]


def _counting(items: Iterable[T], advance: Callable[[int], None]) -> Iterator[T]:
    for item in items:
        advance(1)
        yield item


@command("list")
def list_queues(
    ctx: Ctx,
    all_queues: Annotated[
        bool, typer.Option("--all", help="List every queue, not only DLQs.")
    ] = False,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only queues whose name starts so.")
    ] = None,
) -> None:
    """List dead-letter queues, their depth, and what feeds each one."""
    from dlqctl import render
    from dlqctl.discovery import find_dead_letter_queues

    inventory = find_dead_letter_queues(ctx.aws, include_all=all_queues, prefix=prefix)
    for warning in [*inventory.warnings, *inventory.incomplete]:
        render.warn(warning)
    if ctx.output is OutputFormat.TABLE:
        render.queues_table(inventory.queues)
    else:
        render.emit_records((queue.to_json() for queue in inventory.queues), ctx.output)
    if inventory.incomplete:
        raise PartialFailure(
            f"list: {len(inventory.incomplete)} thing(s) could not be looked at, so it may "
            "miss DLQs or what feeds them (the warnings above say which)",
            "check that your credentials may read them (sqs:GetQueueAttributes, lambda:List*, "
            "events:Describe*/List*, sns:GetSubscriptionAttributes)",
        )


HoldOption = Annotated[
    int | None,
    typer.Option(
        "--hold",
        min=1,
        max=43200,
        help="Seconds to keep messages invisible while walking (default: sized to the queue).",
    ),
]
WaitOption = Annotated[
    int,
    typer.Option("--wait", min=1, max=20, help="Long-poll seconds; an empty poll ends the walk."),
]


LookAnywayOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Look even where a look can move messages on.")
]


@command("peek", selection=True)
def peek(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="Show at most N messages (default 20)."),
    ] = None,
    all_messages: Annotated[bool, typer.Option("--all", help="Walk the whole queue.")] = False,
    hold: HoldOption = None,
    wait: WaitOption = 1,
    yes: LookAnywayOption = False,
) -> None:
    """Show messages without consuming them: every message seen is made visible again."""
    from dlqctl import render
    from dlqctl.scan import Walking, open_to_look, selected_views, walk

    if all_messages and limit is not None:
        raise UsageError("--all walks the whole queue; --limit stops after N", "give one of them")
    opened = open_to_look(ctx.aws, queue, look_anyway=yes)
    _warn_all(opened)
    maximum = None if all_messages else (limit or PEEK_LIMIT)
    expected = (
        opened.attributes.visible if maximum is None else min(maximum, opened.attributes.visible)
    )
    with (
        walk(
            ctx.aws,
            opened,
            Walking(hold, wait),
            bounded=False,
            holding=expected if selection.is_everything else None,
        ) as scan,
        render.progress(
            f"Peeking {opened.queue.name}", expected, enabled=maximum is None
        ) as advance,
    ):
        views = _counting(
            selected_views(scan, selection, context=opened.context, limit=maximum), advance
        )
        if ctx.output is OutputFormat.TABLE:
            shown = render.messages_table(views)
        else:
            shown = render.emit_lines((view.line() for view in views), ctx.output)
    render.info(
        f"{shown} shown of {scan.seen} looked at in {opened.queue.name}; "
        f"{scan.stats.released} made visible again"
    )
    _require_coverage(scan.coverage().to_json(), "peek")


@command("summary", selection=True)
def summary(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    hold: HoldOption = None,
    wait: WaitOption = 1,
    yes: LookAnywayOption = False,
) -> None:
    """Triage a DLQ: counts by kind, error, origin and event, and failures over time."""
    from dlqctl import render
    from dlqctl.scan import Walking, open_to_look, selected_views, walk
    from dlqctl.summary import Tally

    opened = open_to_look(ctx.aws, queue, look_anyway=yes)
    _warn_all(opened)
    tally = Tally(opened.queue.name)
    scan = walk(ctx.aws, opened, Walking(hold, wait), bounded=False)
    stopped_by: DlqctlError | KeyboardInterrupt | None = None
    try:
        with (
            scan,
            render.progress(f"Reading {opened.queue.name}", opened.attributes.visible) as advance,
        ):
            views = selected_views(scan, selection, context=opened.context)
            each_whole(_counting(views, advance), tally.add)  # a Ctrl-C: between two messages
    except (DlqctlError, KeyboardInterrupt) as exc:  # show what was read before it
        stopped_by = exc
    result = tally.summary()
    result.coverage = scan.coverage().to_json()
    if stopped_by is not None:
        if scan.seen:
            if isinstance(stopped_by, DlqctlError):
                result.error = stopped_by.message
            else:
                result.signal = signal_number(stopped_by)
            with contextlib.suppress(OSError, OutputFailed):  # a closed pipe must not hide it
                _show_summary(ctx, result)
        raise stopped_by
    _show_summary(ctx, result)
    _require_coverage(result.coverage, "summary")


def _show_summary(ctx: Ctx, result: Summary) -> None:
    from dlqctl import render

    if result.expiring_within_24h:
        render.warn(
            f"{result.expiring_within_24h:,} message(s) expire within 24 hours: SQS deletes "
            "them when the queue's retention runs out (see --expiring-within)"
        )
    if ctx.output is OutputFormat.TABLE:
        render.summary_view(result)
    else:
        render.emit_json(result.to_json(), ctx.output)


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
JournalOption = Annotated[
    Path | None,
    typer.Option("--journal", help="Journal file (default: one per source and destination)."),
]
ResendOption = Annotated[
    bool,
    typer.Option(
        "--resend-ambiguous/--no-resend-ambiguous",
        help="Send again what an interrupted run sent without a recorded acknowledgement.",
    ),
]


DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", "-n", min=1, help="Act on at most N messages.")
]
RateOption = Annotated[
    float | None,
    typer.Option("--rate", min=0.1, help="At most N messages per second."),
]
MaxEventBytesOption = Annotated[
    int, typer.Option("--max-event-bytes", min=1024, help="Largest PutEvents entry.")
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Send although a pre-flight check failed (a redrive also takes the queue's lease "
        "from another run).",
    ),
]
SavePlanOption = Annotated[
    str | None,
    typer.Option(
        "--save-plan",
        metavar="FILE",
        help="Do a dry run and save the exact messages it selected to FILE (owner-only), "
        "for 'dlqctl apply FILE' to act on those messages and no others.",
    ),
]
ParkOption = Annotated[
    str | None,
    typer.Option(
        "--park",
        metavar="QUEUE",
        help="Move the messages the run leaves alone into this queue (created like the DLQ) "
        "and back at the end, so a filtered walk is not stopped by SQS's ~120,000 in-flight "
        "cap. Costs: new message IDs and retention clock, SQS's system attributes lost, "
        "about 0.5 API calls per parked message.",
    ),
]


def _execute(ctx: Ctx, plan: Plan, *, yes: bool, result_to_stderr: bool = False) -> None:
    """Plan → confirm → run → show: the one way a command changes something."""
    from dlqctl import render
    from dlqctl.plans import Reporter

    for warning in plan.warnings:
        render.warn(warning)
    if not plan.dry_run:  # a dry run's result shows them
        for note in getattr(plan, "notes", ()):
            render.info(note)
    _confirm_plan(plan, yes=yes)
    try:
        with render.progress(plan.activity, plan.total, enabled=not result_to_stderr) as advance:
            result = plan.run(Reporter(advance, render.warn, advance.status))
    except DlqctlError as exc:
        if exc.done is None:
            raise
        with contextlib.suppress(OSError, OutputFailed):  # a closed pipe must not hide it
            _show(ctx, exc.done, to_stderr=result_to_stderr, stopped_by=exc)
        raise
    _show(ctx, result, to_stderr=result_to_stderr)


def _confirm_plan(plan: Plan, *, yes: bool) -> None:
    """Confirm as the plan asks; without a terminal and without --yes, refuse (exit 2)."""
    from dlqctl import render
    from dlqctl.plans import Confirmation

    if yes or plan.confirmation is Confirmation.NONE:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"not confirmed: {plan.describe()}", "pass --yes to confirm (no terminal to ask on)"
        )
    if plan.confirmation is Confirmation.TYPE_NAME:
        typed = render.ask(f"{plan.describe()}. Type the queue name to confirm:")
        confirmed = typed == plan.name
    else:
        confirmed = render.confirm(f"{plan.describe()}. Continue?")
    if not confirmed:
        raise UsageError("not confirmed; nothing was changed", "answer y to go on, or pass --yes")


def _require_coverage(coverage: Any, what: str) -> None:
    """A walk that did not reach the end of the queue (SQS's in-flight cap, a FIFO queue's
    held groups, messages moved on by the queue's own RedrivePolicy) is not presented as
    complete: one line saying how much was seen and why, and exit 5. Nor is one that left
    messages hidden (held messages it could not make visible again)."""
    from dlqctl import render
    from dlqctl.scan import describe_coverage

    if not isinstance(coverage, dict):
        return
    unreleased = _warn_what_was_left(coverage, what)
    if coverage.get("complete", True):
        if unreleased:
            raise PartialFailure(
                f"{what}: {unreleased:,} message(s) it held are still hidden",
                "they reappear when their hold ends (--hold); check that your credentials "
                "allow sqs:ChangeMessageVisibility",
            )
        return
    render.warn(describe_coverage(coverage))
    raise PartialFailure(
        f"{what}: the walk did not reach the end of the queue",
        "the line above says why; run it again for the rest (for a queue deeper than SQS lets"
        " one reader hold, see 'Deep queues' in the README)",
    )


def _warn_what_was_left(coverage: Any, what: str) -> int:
    """Say what a walk left: the messages that arrived while it ran (not part of it), and the
    held messages it could not make visible again (returns how many)."""
    from dlqctl import render

    arrived = int(coverage.get("arrived") or 0) if isinstance(coverage, dict) else 0
    if arrived:
        render.warn(
            f"{arrived:,} message(s) arrived in the queue while the {what} ran: not part of "
            "it, they were left there (a new run reads them)"
        )
    unreleased = int(coverage.get("unreleased") or 0) if isinstance(coverage, dict) else 0
    if unreleased:
        render.warn(
            f"{unreleased:,} held message(s) could not be made visible again: they reappear "
            "when their hold ends"
        )
    return unreleased


def _show(
    ctx: Ctx, result: Result, *, to_stderr: bool = False, stopped_by: DlqctlError | None = None
) -> None:
    """Show a result; one interrupted by a signal ends with 128 + the signal, an incomplete
    one with 5; one an error stopped part way (``stopped_by``) is shown, and the error is the
    caller's to raise."""
    from dlqctl import render
    from dlqctl.models import RedriveResult
    from dlqctl.plans import StoppedBy

    shown = result if stopped_by is None else StoppedBy(result, stopped_by.message)
    if to_stderr:  # on stderr the error line follows at once: its text is not repeated
        render.info(f"{shown.title}: {render.to_json_text(result.to_json(), indent=None)}")
    else:
        render.show(shown, ctx.output)
    if stopped_by is not None:
        return  # its error is the exit, and says what is still held
    data = result.to_json()
    what = result.title.lower()
    # An import reads a file (or stdin): it holds nothing, and its journal says what was sent.
    from_file = isinstance(result, RedriveResult) and result.from_file
    rerun = "the same import run again sends only what was not acknowledged"
    if result.interrupted_by is not None:
        _warn_what_was_left(data.get("coverage"), what)
        if not from_file:
            go_on = "everything not done was made visible again; run the command again to go on"
        elif data.get("dry_run"):
            go_on = "a dry run sends nothing; run it again to see the rest"
        else:
            go_on = rerun
        raise Interrupted(
            f"{what} interrupted: the batch in flight was finished",
            go_on,
            signum=result.interrupted_by,
        )
    canary = data.get("canary")
    if isinstance(canary, dict) and canary.get("stopped"):
        _warn_what_was_left(data.get("coverage"), what)
        raise PartialFailure(
            f"{what} stopped: {canary['stopped']}",
            "what was not sent is still in the DLQ, and so are the replays that came back; "
            "fix the consumer, then run the same command again",
        )
    if data.get("coverage"):
        _require_coverage(data["coverage"], what)
    if not result.complete and data.get("dry_run"):
        kept = (
            "those records would not be sent"
            if from_file
            else "those messages would stay in the queue"
        )
        raise PartialFailure(
            f"{what} (dry run): not everything selected would be done",
            f"{kept}; the result lists each with its reason",
        )
    if not result.complete:
        raise PartialFailure(
            f"{what}: not everything selected was done",
            f"the result lists each record not sent with its reason; {rerun}"
            if from_file
            else "the messages not done are still in the queue; the result lists each with its "
            "reason",
        )


def _warn_all(opened: OpenQueue) -> None:
    from dlqctl import render

    for warning in opened.warnings:
        render.warn(warning)


@command("redrive", selection=True)
def redrive_command(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    to_bus: Annotated[
        str | None, typer.Option("--to-bus", help="Replay events to this bus (name or ARN).")
    ] = None,
    to_queue: Annotated[
        str | None, typer.Option("--to-queue", help="Move messages to this queue.")
    ] = None,
    to_source: Annotated[
        bool, typer.Option("--to-source", help="Send each message back where it came from.")
    ] = False,
    to_target: Annotated[
        bool,
        typer.Option(
            "--to-target",
            help="Send each EventBridge rule-DLQ message to the one target that failed, as "
            "its rule sends it (Input, InputPath, InputTransformer); Lambda failures to "
            "their function.",
        ),
    ] = False,
    source: Annotated[
        str | None, typer.Option("--source", help="Event source to put (rewrites the event's).")
    ] = None,
    detail_type: Annotated[
        str | None, typer.Option("--detail-type", help="Detail-type to put (rewrites).")
    ] = None,
    new_time: Annotated[
        bool, typer.Option("--new-time", help="Let EventBridge stamp the time of the replay.")
    ] = False,
    max_event_bytes: MaxEventBytesOption = EVENT_MAX_BYTES,
    group_id: Annotated[
        str | None, typer.Option("--group-id", help="Group for messages sent to a FIFO queue.")
    ] = None,
    server_side: Annotated[
        bool,
        typer.Option("--server-side", help="Start an SQS message move task (SQS-fed DLQs)."),
    ] = False,
    limit: LimitOption = None,
    rate: RateOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    hold: HoldOption = None,
    wait: WaitOption = 1,
    journal_path: JournalOption = None,
    resend_ambiguous: ResendOption = True,
    force: ForceOption = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=MAX_CONCURRENCY,
            help="Workers, each taking whole batches from receive to delete (default: "
            f"{DEFAULT_CONCURRENCY}, more when AWS answers slowly, up to {MAX_CONCURRENCY}).",
        ),
    ] = None,
    mark: Annotated[
        bool,
        typer.Option(
            "--mark",
            help="Stamp replays so consumers can deduplicate (attributes on queue moves, "
            "a detail field on bus replays).",
        ),
    ] = False,
    park: ParkOption = None,
    canary: Annotated[
        int | None,
        typer.Option(
            "--canary",
            min=1,
            metavar="N",
            help="Replay N messages first, watch the DLQ for them coming back, then the rest; "
            "stop (exit 5) when more than --max-return-rate of the replays came back.",
        ),
    ] = None,
    watch: Annotated[
        str | None,
        typer.Option(
            "--watch", metavar="DURATION", help="How long to watch after the canary (default 1m)."
        ),
    ] = None,
    max_return_rate: Annotated[
        str | None,
        typer.Option(
            "--max-return-rate",
            metavar="P",
            help="Share of replays that may come back before the run stops (default 10%).",
        ),
    ] = None,
    max_replays: Annotated[
        int,
        typer.Option(
            "--max-replays",
            min=1,
            help="Skip content this DLQ's earlier runs replayed this many times already.",
        ),
    ] = DEFAULT_MAX_REPLAYS,
    save_plan: SavePlanOption = None,
) -> None:
    """Replay messages to a bus, move them to a queue, or send them back to their source.

    A message is deleted from the DLQ only after its destination acknowledged it.
    """
    from dlqctl.canary import CanarySettings
    from dlqctl.destinations import DestinationSpec
    from dlqctl.redrive import RedriveOptions, prepare_redrive, prepare_server_side
    from dlqctl.saved import saving_redrive
    from dlqctl.scan import Walking

    spec = DestinationSpec(
        to_bus=to_bus,
        to_queue=to_queue,
        to_source=to_source,
        to_target=to_target,
        source=source,
        detail_type=detail_type,
        new_time=new_time,
        max_event_bytes=max_event_bytes,
        group_id=group_id,
        mark=mark,
    )
    settings = CanarySettings.parse(canary, watch, max_return_rate)
    plan: Plan
    if server_side:
        if park is not None:
            raise UsageError("--server-side moves the whole queue; --park is for filtered walks")
        if settings is not None or save_plan is not None:
            raise UsageError(
                "--server-side moves the whole queue at once; --canary and --save-plan are for "
                "redrives dlqctl walks",
                "drop --server-side",
            )
        plan = prepare_server_side(
            ctx.aws, queue, spec, selection, limit=limit, rate=rate, dry_run=dry_run, force=force
        )
    else:
        options = RedriveOptions(
            limit=limit,
            dry_run=dry_run or save_plan is not None,  # saving a plan is a dry run
            rate=rate,
            walking=Walking(hold, wait),
            resend_ambiguous=resend_ambiguous,
            concurrency=concurrency,
            canary=settings,
            max_replays=max_replays,
        )
        plan = prepare_redrive(
            ctx.aws,
            queue,
            spec,
            selection,
            options,
            force=force,
            journal_path=journal_path,
            park=park,
            look_anyway=yes,
        )
        if save_plan is not None:
            plan = saving_redrive(plan, save_plan, spec)
    _execute(ctx, plan, yes=yes)


@command("apply")
def apply_command(
    ctx: Ctx,
    file: Annotated[str, typer.Argument(help="A plan saved with --save-plan.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what of the plan is still to do.")
    ] = False,
    yes: YesOption = False,
    force: ForceOption = False,
) -> None:
    """Carry out a saved plan: exactly the planned messages, none that arrived since."""
    from dlqctl.saved import prepare_apply

    _execute(
        ctx, prepare_apply(ctx.aws, file, dry_run=dry_run, force=force, look_anyway=yes), yes=yes
    )


@command("journal")
def journal_command(
    ctx: Ctx,
    queue: QueueArg,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the journals of finished runs.")
    ] = False,
    replays: Annotated[
        bool,
        typer.Option("--replays", help="List only the content replayed in the most runs."),
    ] = False,
) -> None:
    """Show the redrive journals kept for a queue (and prune the finished ones), and the
    content replayed in the most runs (what the loop guard of --max-replays counts)."""
    from dlqctl import render
    from dlqctl.journal import journal_records
    from dlqctl.replays import ReplayLedger
    from dlqctl.scan import open_queue

    arn = open_queue(ctx.aws, queue).queue.arn
    replayed = ReplayLedger.load(arn).most_replayed()
    if replays:
        if ctx.output is OutputFormat.TABLE:
            render.most_replayed_table(replayed)
        else:
            render.emit_records(replayed, ctx.output)
        return
    records = journal_records(arn, prune=prune)
    if ctx.output is OutputFormat.TABLE:
        render.journals_table(records)
        if replayed:
            render.most_replayed_table(replayed)
    else:
        render.emit_records(records, ctx.output)


@command("moves")
def moves(
    ctx: Ctx,
    queue: QueueArg,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the running move task.")] = False,
    yes: YesOption = False,
) -> None:
    """List a DLQ's SQS message move tasks, or cancel the running one."""
    from dlqctl import render
    from dlqctl.moves import move_tasks, prepare_cancel
    from dlqctl.scan import open_queue

    opened = open_queue(ctx.aws, queue, walked=False)
    if cancel:
        _execute(ctx, prepare_cancel(ctx.aws, opened), yes=yes)
        return
    records = [task.to_json() for task in move_tasks(ctx.aws, opened)]
    if ctx.output is OutputFormat.TABLE:
        render.move_tasks_table(records)
    else:
        render.emit_records(records, ctx.output)


@command("delete", selection=True)
def delete(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    message_ids: Annotated[
        list[str] | None, typer.Option("--id", help="Delete this message ID (repeatable).")
    ] = None,
    limit: LimitOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    hold: HoldOption = None,
    wait: WaitOption = 1,
    park: ParkOption = None,
    save_plan: SavePlanOption = None,
) -> None:
    """Delete selected messages (by filter or --id) after confirmation."""
    from dlqctl.remove import prepare_delete
    from dlqctl.saved import saving_delete
    from dlqctl.scan import Walking

    plan = prepare_delete(
        ctx.aws,
        queue,
        selection,
        message_ids=message_ids or (),
        limit=limit,
        dry_run=dry_run or save_plan is not None,  # saving a plan is a dry run
        walking=Walking(hold, wait),
        park=park,
        look_anyway=yes,
    )
    _execute(ctx, plan if save_plan is None else saving_delete(plan, save_plan), yes=yes)


@command("purge", selection=True)
def purge(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    archive: Annotated[
        str | None,
        typer.Option("--archive", help="Export every message to FILE first (JSON lines)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace FILE, if it is empty.")
    ] = False,
    yes: YesOption = False,
    hold: HoldOption = None,
    wait: WaitOption = 1,
    save_plan: SavePlanOption = None,
) -> None:
    """Empty a queue. Asks you to type its name, unless --yes.

    With --archive, each message is deleted only once it is safely in the file (so whatever
    is purged is archived); with a filter, purge deletes just the selected messages.
    """
    from dlqctl.archive import prepare_purge_archive
    from dlqctl.remove import PurgePlan, prepare_delete
    from dlqctl.saved import saving_delete
    from dlqctl.scan import Walking, open_queue

    plan: Plan
    if save_plan is not None:
        if selection.is_everything or archive is not None:
            raise UsageError(
                "--save-plan saves a selection: give purge a filter (and no --archive)",
                "a whole-queue purge has no messages to plan; use --filter or --error-contains",
            )
        prepared = prepare_delete(
            ctx.aws,
            queue,
            selection,
            dry_run=True,  # saving a plan is a dry run
            walking=Walking(hold, wait),
            look_anyway=yes,
        )
        plan = saving_delete(prepared, save_plan)
    elif archive is not None:
        plan = prepare_purge_archive(
            ctx.aws, queue, selection, archive, overwrite=overwrite, walking=Walking(hold, wait)
        )
    else:
        opened = open_queue(ctx.aws, queue, walked=not selection.is_everything)
        plan = PurgePlan(ctx.aws, opened, selection, Walking(hold, wait))
    _execute(ctx, plan, yes=yes)


@command("export", selection=True)
def export(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    file: Annotated[str, typer.Argument(help="Output file (JSON lines), or - for stdout.")],
    delete_exported: Annotated[
        bool, typer.Option("--delete", help="Delete each message once it is synced to the file.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace FILE (with --delete: only if empty).")
    ] = False,
    limit: LimitOption = None,
    yes: YesOption = False,
    hold: HoldOption = None,
    wait: WaitOption = 1,
    park: ParkOption = None,
) -> None:
    """Write messages to a JSON-lines file, with all that is needed to send them again."""
    from dlqctl.archive import prepare_export
    from dlqctl.scan import Walking

    plan = prepare_export(
        ctx.aws,
        queue,
        selection,
        file,
        overwrite=overwrite,
        delete=delete_exported,
        limit=limit,
        walking=Walking(hold, wait),
        look_anyway=yes,
        park=park,
    )
    # Written to stdout, the messages are the output: the result goes to stderr.
    _execute(ctx, plan, yes=yes, result_to_stderr=file == "-")


@command("import", selection=True)
def import_command(
    ctx: Ctx,
    selection: Selection,
    file: Annotated[str, typer.Argument(help="An export file (JSON lines), or - for stdin.")],
    queue: Annotated[
        str | None, typer.Argument(help="Queue to send the messages to.", show_default=False)
    ] = None,
    to_bus: Annotated[
        str | None, typer.Option("--to-bus", help="Replay the events to this bus instead.")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Event source to put.")] = None,
    detail_type: Annotated[
        str | None, typer.Option("--detail-type", help="Detail-type to put.")
    ] = None,
    new_time: Annotated[bool, typer.Option("--new-time", help="Use the replay's time.")] = False,
    group_id: Annotated[
        str | None, typer.Option("--group-id", help="Group for a FIFO queue.")
    ] = None,
    limit: LimitOption = None,
    rate: RateOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    journal_path: JournalOption = None,
    resend_ambiguous: ResendOption = True,
    force: ForceOption = False,
    max_event_bytes: MaxEventBytesOption = EVENT_MAX_BYTES,
) -> None:
    """Send an export file's messages to a queue (or their events to a bus), resumably."""
    from dlqctl.archive import prepare_import
    from dlqctl.destinations import DestinationSpec
    from dlqctl.redrive import RedriveOptions

    spec = DestinationSpec(
        to_bus=to_bus,
        source=source,
        detail_type=detail_type,
        new_time=new_time,
        group_id=group_id,
        max_event_bytes=max_event_bytes,
    )
    options = RedriveOptions(
        limit=limit, dry_run=dry_run, rate=rate, resend_ambiguous=resend_ambiguous
    )
    plan = prepare_import(
        ctx.aws, file, queue, spec, selection, options, journal_path=journal_path, force=force
    )
    _execute(ctx, plan, yes=yes)


stack_app = typer.Typer(
    cls=DlqctlSubgroup,
    help="Deploy and inspect the bundled stack (bus, rule, functions, DLQ, alarms).",
    no_args_is_help=True,
)
sandbox_app = typer.Typer(
    cls=DlqctlSubgroup,
    help="A local AWS endpoint in the background with the bundled stack deployed.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")
app.add_typer(sandbox_app, name="sandbox")

StackNameOption = Annotated[str, typer.Option("--stack-name", help="CloudFormation stack name.")]


@command("deploy", group=stack_app)
def stack_deploy(
    ctx: Ctx,
    stack_name: StackNameOption = DEFAULT_STACK,
    bus_name: Annotated[
        str | None, typer.Option("--bus-name", help="The event bus's name. [default: shop]")
    ] = None,
    dlq_name: Annotated[
        str | None, typer.Option("--dlq-name", help="The DLQ's name. [default: orders-dlq]")
    ] = None,
    processor_name: Annotated[
        str | None,
        typer.Option(
            "--processor-name", help="The processing function's name. [default: order-processor]"
        ),
    ] = None,
    redriver_name: Annotated[
        str | None,
        typer.Option(
            "--redriver-name", help="The redriver function's name. [default: orders-dlq-redriver]"
        ),
    ] = None,
    event_source: Annotated[
        str | None,
        typer.Option("--event-source", help="Source the rule matches. [default: shop.orders]"),
    ] = None,
    detail_type: Annotated[
        str | None,
        typer.Option("--detail-type", help="Detail-type the rule matches. [default: OrderPlaced]"),
    ] = None,
    accepted_versions: Annotated[
        str | None,
        typer.Option("--accepted-schema-versions", help="The processor's switch. [default: 1,2]"),
    ] = None,
    alarm_topic: Annotated[
        str | None,
        typer.Option("--alarm-topic-arn", help="SNS topic for the DLQ alarms. [default: none]"),
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="S3 bucket for the function packages.")
    ] = None,
    sandbox: Annotated[
        bool | None,
        typer.Option(
            "--sandbox/--no-sandbox",
            help="Point the rule at a queue (local endpoints). [default: no]",
        ),
    ] = None,
) -> None:
    """Create or update the stack through a change set, and show its outputs. On an update,
    what is not given keeps the stack's current value."""
    from dlqctl.stack import DeployPlan, StackSettings

    named: dict[tuple[str, str], str | bool | None] = {
        ("BusName", "bus_name"): bus_name,
        ("DlqName", "dlq_name"): dlq_name,
        ("ProcessorName", "processor_name"): processor_name,
        ("RedriverName", "redriver_name"): redriver_name,
        ("EventSource", "event_source"): event_source,
        ("DetailType", "detail_type"): detail_type,
        ("AcceptedSchemaVersions", "accepted_schema_versions"): accepted_versions,
        ("AlarmTopicArn", "alarm_topic_arn"): alarm_topic,
    }
    given = {keys: value for keys, value in named.items() if value is not None}
    if sandbox is not None:
        given["Sandbox", "sandbox"] = sandbox
    fields: dict[str, Any] = {field: value for (_, field), value in given.items()}
    settings = StackSettings(**fields, given=frozenset(parameter for parameter, _ in given))
    _execute(ctx, DeployPlan(ctx.aws, stack_name, settings, bucket), yes=True)


@command("status", group=stack_app)
def stack_status(ctx: Ctx, stack_name: StackNameOption = DEFAULT_STACK) -> None:
    """Show the stack, its resources and outputs, and the DLQ's depth."""
    from dlqctl import render
    from dlqctl.stack import status

    render.show(status(ctx.aws, stack_name), ctx.output)


@command("destroy", group=stack_app)
def stack_destroy(
    ctx: Ctx, stack_name: StackNameOption = DEFAULT_STACK, yes: YesOption = False
) -> None:
    """Delete the stack (and with it the DLQ and every message in it), after confirmation."""
    from dlqctl.stack import prepare_destroy

    _execute(ctx, prepare_destroy(ctx.aws, stack_name), yes=yes)


def _sandbox_aws(ctx: Ctx) -> Aws:
    """The sandbox's endpoint unless --endpoint-url/AWS_ENDPOINT_URL names one."""
    from dlqctl.sandbox import running_sandbox

    return running_sandbox(ctx.aws.connection).open()


@sandbox_app.command("up", cls=DlqctlCommand)
def sandbox_up(
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Loopback port.")
    ] = None,
    stack_name: StackNameOption = DEFAULT_STACK,
    output: DocumentOutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Start a local endpoint in the background and deploy the bundled stack into it; prints
    the shell line that points this shell at it (for eval), or with -o json its settings."""

    from dlqctl import render
    from dlqctl.sandbox import SANDBOX_ENVIRONMENT, start_sandbox

    def body() -> None:
        state = start_sandbox(port, stack_name)
        environment = {"AWS_ENDPOINT_URL": state.url, **SANDBOX_ENVIRONMENT}
        if output in (OutputFormat.JSON, OutputFormat.JSONL):
            document = {**state.to_json(), "stack": stack_name, "environment": environment}
            render.emit_json(document, output)
            return
        render.info(
            f"Sandbox running at {state.url} (pid {state.pid}); stack {stack_name} deployed"
        )
        render.info("Use it from this shell with:")
        pairs = " ".join(f"{name}={value}" for name, value in environment.items())
        render.plain(f"export {pairs}\n")

    _run(body, debug)


@sandbox_app.command("down", cls=DlqctlCommand)
def sandbox_down(
    output: DocumentOutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Stop the background endpoint (everything in it is gone)."""

    from dlqctl import render
    from dlqctl.sandbox import stop_background_endpoint

    def body() -> None:
        state = stop_background_endpoint()
        if output in (OutputFormat.JSON, OutputFormat.JSONL):
            stopped = None if state is None else state.to_json()
            render.emit_json({"stopped": stopped}, output)
            return
        render.info("No sandbox was running" if state is None else f"Stopped {state.url}")

    _run(body, debug)


@command("seed", group=sandbox_app)
def sandbox_seed(
    ctx: Ctx,
    orders: Annotated[
        int, typer.Option("--orders", min=1, max=100000, help="Order events to send.")
    ] = 100,
    accepted_versions: Annotated[
        str,
        typer.Option(
            "--accept", help="Schema versions the processor accepts (2 = the bad release)."
        ),
    ] = "2",
    undeliverable: Annotated[
        int, typer.Option("--undeliverable", min=0, help="Events the rule fails to deliver.")
    ] = 3,
    shapes: Annotated[
        bool,
        typer.Option(
            "--shapes",
            help="Also write one message of every other shape AWS writes to a DLQ.",
        ),
    ] = False,
    stack_name: StackNameOption = DEFAULT_STACK,
) -> None:
    """Send order events through the stack; failures land in the DLQ as on AWS."""
    from dlqctl.traffic import order_events, process_inbox, publish, sandbox_stack, seed_shapes

    aws = _sandbox_aws(ctx)
    stack = sandbox_stack(aws, stack_name)
    published = publish(aws, stack, order_events(orders))
    traffic = process_inbox(
        aws, stack, accepted_versions=accepted_versions, undeliverable=undeliverable
    )
    if shapes:
        traffic.other_shapes = seed_shapes(aws, stack)
    _show_traffic(ctx, published, traffic)


@command("process", group=sandbox_app)
def sandbox_process(
    ctx: Ctx,
    accepted_versions: Annotated[
        str, typer.Option("--accept", help="Schema versions the processor accepts.")
    ] = "1,2",
    stack_name: StackNameOption = DEFAULT_STACK,
) -> None:
    """Run the processor on what the rule delivered since (for example replays)."""
    from dlqctl.traffic import process_inbox, sandbox_stack

    aws = _sandbox_aws(ctx)
    traffic = process_inbox(
        aws, sandbox_stack(aws, stack_name), accepted_versions=accepted_versions
    )
    _show_traffic(ctx, None, traffic)


def _show_traffic(ctx: Ctx, published: int | None, traffic: Traffic) -> None:
    from dlqctl import render

    data = {
        "published": published,
        "processed": traffic.processed,
        "function_failures": traffic.function_failures,
        "delivery_failures": traffic.delivery_failures,
        "other_shapes": traffic.other_shapes,
    }
    if ctx.output is OutputFormat.TABLE:
        render.outcome(data, title="Traffic")
    else:
        render.emit_json(data, ctx.output)


def _run_in_process(argv: Sequence[str]) -> int:
    """Run one dlqctl command line in this process; returns its exit code."""
    try:
        root_command()(list(argv), prog_name="dlqctl")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@app.command("demo", cls=DlqctlCommand)
def demo(
    orders: Annotated[
        int, typer.Option("--orders", min=20, max=2000, help="Orders to send.")
    ] = 160,
    output: DocumentOutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Run a narrated DLQ incident on an embedded local AWS endpoint (no account needed); with
    -o json, a report of what it did and each command's JSON."""
    from dlqctl import render
    from dlqctl.demo import run_demo

    def body() -> None:
        document = output in (OutputFormat.JSON, OutputFormat.JSONL)
        report = run_demo(_run_in_process, orders, record=document)
        if output is not None and document:
            render.emit_json(report.to_json(), output)

    _run(body, debug)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"dlqctl {__version__}\n")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    context: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Operate AWS dead-letter queues: list, peek, filter, summarize."""
    if context.invoked_subcommand is None:
        sys.stdout.write(context.get_help() + "\n")


class _Unbuilt(TyperCommand):
    """A subcommand not built yet: its name and help, for the list of commands and for
    suggestions."""


def root_command() -> DlqctlGroup:
    """The command the console script runs: typer's group for ``app``, each subcommand built
    when it is needed (see ``DlqctlGroup``) by the function typer builds it with."""
    from typer import main as typer_main

    shell = copy.copy(app)  # the app's settings and callback, without its commands
    shell.registered_commands, shell.registered_groups = [], []
    group = typer_main.get_command(shell)
    assert isinstance(group, DlqctlGroup)
    short, markup = app.pretty_exceptions_short, app.rich_markup_mode
    builders: dict[str, Callable[[], Any]] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or typer_main.get_command_name(info.callback.__name__)
        text = inspect.getdoc(info.callback) if info.help is None else inspect.cleandoc(info.help)
        group.commands[name] = _Unbuilt(
            name=name,
            help=text,
            short_help=info.short_help,
            hidden=info.hidden,
            deprecated=info.deprecated,
        )
        builders[name] = functools.partial(
            typer_main.get_command_from_info,
            info,
            pretty_exceptions_short=short,
            rich_markup_mode=markup,
        )
    for sub in app.registered_groups:
        solved = typer_main.solve_typer_info_defaults(sub)
        name = solved.name or ""
        group.commands[name] = _Unbuilt(
            name=name,
            help=solved.help,
            short_help=solved.short_help,
            hidden=solved.hidden,
            deprecated=solved.deprecated,
        )
        builders[name] = functools.partial(
            typer_main.get_group_from_info,
            sub,
            pretty_exceptions_short=short,
            rich_markup_mode=markup,
            suggest_commands=app.suggest_commands,
        )
    group._builders = builders
    return group


def main() -> None:
    """The console script's entry point."""
    root_command()()
