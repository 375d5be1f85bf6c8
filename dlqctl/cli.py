"""The typer app: options, prompts, the one error boundary; the work is in the core modules."""

import functools
import inspect
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from dlqctl import __version__, render
from dlqctl.aws import Aws, Connection
from dlqctl.discovery import find_dead_letter_queues
from dlqctl.envelopes import KINDS
from dlqctl.errors import DlqctlError, ExitCode
from dlqctl.filters import Selection, build_selection
from dlqctl.render import OutputFormat
from dlqctl.scan import QueueScan, default_hold_seconds, open_queue, selected_views
from dlqctl.summary import summarize

T = TypeVar("T")


class DlqctlGroup(TyperGroup):
    """Runs click without its own error printing, so every failure is one ``Error:`` line."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            context = getattr(exc, "ctx", None)
            command = context.command_path if context is not None else "dlqctl"
            render.error(exc.format_message(), f"see '{command} --help'")
            sys.exit(exc.exit_code)
        except typer.Abort:
            render.error("interrupted")
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


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


Kind = StrEnum("Kind", {kind: kind for kind in KINDS})  # type: ignore[misc]

_AWS_PANEL = "AWS connection"
_OUTPUT_PANEL = "Output"
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
    _option(
        "debug",
        Annotated[
            bool,
            typer.Option(
                "--debug", help="Show the traceback of an error.", rich_help_panel=_OUTPUT_PANEL
            ),
        ],
        False,
    ),
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


def _run(body: Callable[[], T], debug: bool) -> T:
    """The error boundary: one line on stderr and a documented exit code, never a traceback."""
    try:
        return body()
    except DlqctlError as exc:
        if debug:
            traceback.print_exc()
        render.error(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from exc
    except KeyboardInterrupt as exc:
        render.error("interrupted", "messages held by this command were released")
        raise typer.Exit(ExitCode.INTERRUPTED) from exc
    except BrokenPipeError as exc:
        raise typer.Exit(ExitCode.OK) from exc
    except (typer.Exit, typer.TyperException, typer.Abort):
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        render.error(
            f"unexpected {type(exc).__name__}: {exc}",
            "run again with --debug and report the traceback",
        )
        raise typer.Exit(ExitCode.UNEXPECTED) from exc


def command(
    name: str, *, selection: bool = False, **settings: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Register a command with the shared AWS/output options (and the selection options).

    The decorated function takes ``ctx: Ctx`` first (and ``selection: Selection`` when asked);
    the shared options are added to its signature so each command lists them in ``--help``.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        own = [
            parameter
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
                        error_contains=kwargs.pop("error_contains"),
                        kind=(kind := kwargs.pop("kind")) and str(kind.value),
                    )
                return func(Ctx(Aws(connection), OutputFormat(output), debug), **kwargs)

            return _run(body, debug)

        del wrapper.__wrapped__
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        app.command(name, **settings)(wrapper)
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
    inventory = find_dead_letter_queues(ctx.aws, include_all=all_queues, prefix=prefix)
    for warning in inventory.warnings:
        render.warn(warning)
    if ctx.output is OutputFormat.TABLE:
        render.queues_table(inventory.queues)
    else:
        render.emit_records((queue.to_json() for queue in inventory.queues), ctx.output)


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


@command("peek", selection=True)
def peek(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most N messages.")
    ] = 20,
    all_messages: Annotated[bool, typer.Option("--all", help="Walk the whole queue.")] = False,
    hold: HoldOption = None,
    wait: WaitOption = 1,
) -> None:
    """Show messages without consuming them: every message seen is made visible again."""
    opened = open_queue(ctx.aws, queue)
    for warning in opened.warnings:
        render.warn(warning)
    maximum = None if all_messages else limit
    expected = (
        opened.attributes.visible if maximum is None else min(maximum, opened.attributes.visible)
    )
    with (
        QueueScan(
            ctx.aws.sqs,
            opened.queue,
            hold_seconds=hold or default_hold_seconds(opened.attributes.visible),
            wait_seconds=wait,
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
            shown = render.emit_records((view.to_json() for view in views), ctx.output)
    render.info(
        f"{shown} shown of {scan.seen} looked at in {opened.queue.name}; "
        f"{scan.stats.released} made visible again"
    )


@command("summary", selection=True)
def summary(
    ctx: Ctx,
    selection: Selection,
    queue: QueueArg,
    hold: HoldOption = None,
    wait: WaitOption = 1,
) -> None:
    """Triage a DLQ: counts by kind, error, origin and event, and failures over time."""
    opened = open_queue(ctx.aws, queue)
    for warning in opened.warnings:
        render.warn(warning)
    with (
        QueueScan(
            ctx.aws.sqs,
            opened.queue,
            hold_seconds=hold or default_hold_seconds(opened.attributes.visible),
            wait_seconds=wait,
        ) as scan,
        render.progress(f"Reading {opened.queue.name}", opened.attributes.visible) as advance,
    ):
        result = summarize(
            opened.queue.name,
            _counting(selected_views(scan, selection, context=opened.context), advance),
        )
    if ctx.output is OutputFormat.TABLE:
        render.summary_view(result)
    else:
        render.emit_json(result.to_json())


def _run_in_process(argv: Sequence[str]) -> int:
    """Run one dlqctl command line in this process; returns its exit code."""
    try:
        app(list(argv), prog_name="dlqctl")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@app.command("demo")
def demo(
    orders: Annotated[
        int, typer.Option("--orders", min=20, max=2000, help="Orders to send.")
    ] = 160,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    """Run a narrated DLQ incident on an embedded local AWS endpoint (no account needed)."""
    from dlqctl.demo import run_demo

    code = _run(lambda: run_demo(_run_in_process, orders), debug)
    raise typer.Exit(code)


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


def main() -> None:
    """The console script's entry point."""
    app()
