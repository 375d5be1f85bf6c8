"""The ``dlqctl`` command (and ``python -m dlqctl``): ``--version`` answers without loading the
CLI; everything else loads it."""

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

from dlqctl import __version__


def main() -> None:
    try:
        if sys.argv[1:] == ["--version"]:
            sys.stdout.write(f"dlqctl {__version__}\n")
        else:
            from dlqctl.cli import main as run  # the CLI and its libraries load only when needed

            run()
    except SystemExit as exc:
        leave(exc.code)
    except OSError as exc:  # the help or the version could not be written (each command's own
        _output_failed(exc)  # writes fail inside its error boundary, with exit code 1)
        leave(1)
    leave(0)


def leave(code: str | int | None) -> NoReturn:
    """Exit as ``sys.exit(code)`` does, without tearing the interpreter down.

    Once a command is done, freeing botocore's models and every other object one by one took
    ~0.2 s of CPU (a quarter of a small command's time). Everything else a normal exit does that
    a command relies on is done here: a thread still running is waited for (by a normal exit),
    the exit handlers run, and stdout and stderr are flushed; an output that cannot be written
    is an error, not a success.
    """
    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread):
        sys.exit(code)  # a normal exit waits for them
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or a debugger (`python -m cProfile -m dlqctl`) reports after
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # as sys.exit: the text on stderr, exit code 1
        sys.stderr.write(f"{code}\n")
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            pass  # the reader went away (`dlqctl peek … | head`): the exit code stands
        except OSError as exc:
            if stream is sys.stdout:
                _output_failed(exc)
            status = status or 1
    os._exit(status)


def _output_failed(exc: OSError) -> None:
    """The error line for an output that could not be written, straight to stderr's descriptor
    (its buffer may be the one that failed)."""
    from dlqctl.errors import OutputFailed

    error = OutputFailed.of(exc)
    line = f"Error: {error.message} (hint: {error.hint})\n"
    with contextlib.suppress(OSError):
        os.write(2, line.encode())


if __name__ == "__main__":
    main()
