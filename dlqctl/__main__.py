"""The ``dlqctl`` command (and ``python -m dlqctl``): ``--version`` answers without loading the
CLI; everything else loads it."""

import sys

from dlqctl import __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"dlqctl {__version__}\n")
        return
    from dlqctl.cli import main as run  # the CLI and its libraries load only when needed

    run()


if __name__ == "__main__":
    main()
