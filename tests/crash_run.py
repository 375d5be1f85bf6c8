"""Run dlqctl with a fault at one step of a redrive batch, for the crash tests.

``python -m tests.crash_run kill@after-ack:2 [--pause SECONDS] -- redrive …`` runs
``dlqctl redrive …`` and kills the process (SIGKILL) the second time a batch reaches
``after-ack``; ``pause@STEP:N`` sleeps there instead (``--pause`` seconds, 30 by default).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter

from dlqctl import cli, delivery


def install(spec: str, pause_seconds: float) -> None:
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
        elif now:
            time.sleep(pause_seconds)

    delivery.step_observers.append(observe)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    pause = float(options[options.index("--pause") + 1]) if "--pause" in options else 30.0
    install(options[0], pause)
    sys.argv = ["dlqctl", *command]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
