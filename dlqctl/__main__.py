"""Run dlqctl as ``python -m dlqctl``."""

from dlqctl.cli import main

main()
