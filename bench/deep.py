"""dlqctl on a DLQ deeper than SQS's in-flight cap: LocalStack behind a proxy enforcing the cap.

SQS lets a reader hold about 120,000 messages of a queue; no local endpoint enforces that, so
the proxy does (``tests/inflight.py``). On one queue of N messages (one in ten matching the
filter) it runs, in turn: ``peek --all`` and ``summary`` (they must stop near the cap and say
so, exit 5), a filtered ``redrive --park`` (must reach every match and put the rest back), and
``export --delete`` of what is left (must take everything). Per step: messages/s, API calls per
message, client CPU and peak RSS.

    python bench/deep.py --n 300000                 # starts LocalStack (bench/.venv-localstack)
    python bench/deep.py --n 300000 --endpoint http://127.0.0.1:4599
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from run import (
    CountingProxy,
    Endpoint,
    client,
    depth,
    localstack_python,
    run_dlqctl,
    seed,
    start_localstack,
)

CAP = 120_000
STEPS = ("peek", "summary", "redrive", "export")
FILTER = "ends_with(json.detail.orderId, '7')"


def step(
    name: str, args: list[str], proxy: CountingProxy, messages: int, work: Path
) -> tuple[dict[str, Any], dict[str, Any] | list[Any] | None]:
    proxy.reset()
    output = work / f"{uuid.uuid4().hex}.out"
    with output.open("wb") as sink:
        code, seconds, cpu, rss = run_dlqctl(args, proxy.url, sink)
    result = None
    if args[0] != "peek":  # a peek's output is the messages: counted below, never loaded
        with contextlib.suppress(ValueError):
            result = json.loads(output.read_text())
    calls = proxy.total()  # peak RSS is the child's own: this process never loads its output
    figure = {
        "step": name,
        "exit": code,
        "messages": messages,
        "seconds": round(seconds, 1),
        "messages_per_second": round(messages / seconds, 1),
        "calls": calls,
        "calls_per_message": round(calls / max(1, messages), 3),
        "cpu_seconds_per_1000": round(cpu / max(1, messages) * 1000, 3),
        "peak_rss_mb": round(rss, 1),
        "calls_by_operation": proxy.snapshot(),
    }
    if args[0] == "peek":
        with output.open("rb") as lines:
            figure["shown"] = sum(1 for _ in lines)
    elif isinstance(result, dict):
        figure["result"] = {key: value for key, value in result.items() if key != "failures"}
        figure["failures"] = (result.get("failures") or [])[:5]
    output.unlink()
    print(json.dumps(figure), file=sys.stderr)
    return figure, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--cap", type=int, default=CAP)
    parser.add_argument("--endpoint", help="a running LocalStack (default: start one)")
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--steps", nargs="*", default=list(STEPS), choices=STEPS, help="what to run, in order"
    )
    options = parser.parse_args()
    # What dlqctl takes for the cap (AWS's documented 120,000 unless told otherwise).
    os.environ["DLQCTL_SQS_IN_FLIGHT_LIMIT"] = str(options.cap)
    endpoint: Endpoint
    if options.endpoint:
        endpoint = Endpoint("LocalStack (given)", options.endpoint)
    else:
        python = localstack_python(setup=True)
        if python is None:
            print("LocalStack is not available: no deep figures", file=sys.stderr)
            return 0
        endpoint = start_localstack(python)
    work = Path(tempfile.mkdtemp(prefix="dlqctl-deep-"))
    figures: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        sqs = client("sqs", endpoint.url)
        name = f"deep-{uuid.uuid4().hex[:6]}"
        dlq = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})
        sqs.create_queue(QueueName=f"{name}-target")
        started = time.perf_counter()
        seed(endpoint.url, dlq["QueueUrl"], options.n)
        print(f"seeded {options.n:,} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        matching = sum(1 for index in range(options.n) if str(index).endswith("7"))
        with CountingProxy(endpoint.url, in_flight_cap=options.cap) as proxy:
            capped = options.n > options.cap
            if "peek" in options.steps:
                peek, _ = step("peek --all", ["peek", name, "--all", "-o", "jsonl"], proxy,
                               options.n, work)  # fmt: skip
                figures.append(peek)
                if capped and (peek["exit"] != 5 or peek["shown"] >= options.n):
                    problems.append("peek --all past the cap did not stop and say so")
            if "summary" in options.steps:
                summary, _ = step("summary", ["summary", name, "-o", "json"], proxy,
                                  options.n, work)  # fmt: skip
                figures.append(summary)
                if capped and summary["exit"] != 5:
                    problems.append("summary past the cap did not say it is a sample")
            rest = options.n
            if "redrive" in options.steps:
                redrive, result = step(
                    "redrive --filter --park",
                    ["redrive", name, "--to-queue", f"{name}-target", "--filter", FILTER,
                     "--park", f"{name}-parked", "--yes", "-o", "json"],
                    proxy, options.n, work,
                )  # fmt: skip
                figures.append(redrive)
                redriven = result.get("redriven") if isinstance(result, dict) else None
                if redrive["exit"] != 0 or redriven != matching:
                    problems.append(f"filtered redrive with parking: {redriven} of {matching}")
                rest -= matching
            if "export" in options.steps:
                export, result = step(
                    "export --delete",
                    ["export", name, str(work / "rest.jsonl"), "--delete", "--yes", "-o", "json"],
                    proxy, rest, work,
                )  # fmt: skip
                figures.append(export)
                deleted = result.get("deleted") if isinstance(result, dict) else None
                if export["exit"] != 0 or deleted != rest:
                    problems.append(f"export --delete: {deleted} of {rest}")
        left = depth(endpoint.url, dlq["QueueUrl"])
        if left and "export" in options.steps:
            problems.append(f"{left} message(s) left in the DLQ")
    finally:
        endpoint.stop()
    report = {"n": options.n, "cap": options.cap, "figures": figures, "problems": problems}
    target = options.output or Path(__file__).parent / "results" / f"deep-{options.n}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2))
    print(f"{'step':<26}{'exit':>5}{'msg/s':>10}{'calls/msg':>11}{'CPU s/1k':>10}{'RSS MB':>9}")
    for figure in figures:
        print(
            f"{figure['step']:<26}{figure['exit']:>5}{figure['messages_per_second']:>10}"
            f"{figure['calls_per_message']:>11}{figure['cpu_seconds_per_1000']:>10}"
            f"{figure['peak_rss_mb']:>9}"
        )
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
