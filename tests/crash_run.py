"""Run dlqctl with a fault at one step of a redrive batch, for the crash tests.

``python -m tests.crash_run kill@after-ack:2 [--pause SECONDS] -- redrive …`` runs
``dlqctl redrive …`` and kills the process (SIGKILL) the second time a batch reaches
``after-ack``; ``pause@STEP:N`` sleeps there instead (``--pause`` seconds, 30 by default,
or until the file named by ``--until PATH`` exists, if sooner).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter

from dlqctl import cli, delivery


def install(spec: str, pause_seconds: float, until: str | None = None) -> None:
    action, _, where = spec.partition("@")
    step, _, nth = where.partition(":")
    if step not in delivery.STEPS or action not in ("kill", "pause"):
        raise SystemExit(
            f"bad fault {spec!r}: use kill@STEP:N or pause@STEP:N, STEP in {delivery.STEPS}"
        )
    reached: Counter[str] = Counter()
    lock = threading.Lock()

    def observe(name: str) -> None:
        if name != step:
            return
        with lock:
            reached[name] += 1
            now = reached[name] == int(nth or 1)
        if now and action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif now:  # until the file ``until`` exists, if given, and at most pause_seconds
            deadline = time.monotonic() + pause_seconds
            while time.monotonic() < deadline and not (until and os.path.exists(until)):
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    delivery.step_observers.append(observe)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    pause = float(options[options.index("--pause") + 1]) if "--pause" in options else 30.0
    until = options[options.index("--until") + 1] if "--until" in options else None
    install(options[0], pause, until)
    sys.argv = ["dlqctl", *command]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
