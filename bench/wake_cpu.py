"""What the same work costs when a thread sleeps between rounds, on this machine.

A walk's threads wait for the endpoint between answers, so the work each answer brings runs
right after a sleep. This runs one answer's worth of a peek's work (a ReceiveMessage answer of
ten ~1 KB messages parsed into messages, decoded into their views and each view's JSON line
written, as ``peek -o json`` does) ``--rounds`` times: back to back, then ``--burst`` answers
per wake with a sleep of ``--sleep-ms`` between wakes, and prints the CPU microseconds per
answer. No endpoint is needed; pin it to one core (``taskset -c 1``) for figures that compare.

    python bench/wake_cpu.py --rounds 1000 --sleep-ms 0.5 5 20 --burst 1 5 10
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Sequence

from dlqctl.envelopes import QueueContext, decode
from dlqctl.models import ReceivedMessage


def answer(messages: int = 10) -> bytes:
    """A ReceiveMessage answer (JSON protocol) of ``messages`` ~1 KB messages with one
    attribute, as a walk asks for them (all system and message attributes)."""
    records = [
        {
            "MessageId": f"73a6013f-6403-4f8a-b5af-77963a6a7{n:03d}",
            "ReceiptHandle": "AQEB" + "x" * 376,
            "MD5OfBody": "a" * 32,
            "MD5OfMessageAttributes": "b" * 32,
            "Body": json.dumps({"orderId": f"ord-{n}", "seq": n, "pad": "x" * 950}),
            "Attributes": {
                "SenderId": "000000000000",
                "SentTimestamp": "1796034351016",
                "ApproximateReceiveCount": "1",
                "ApproximateFirstReceiveTimestamp": "1796034362132",
            },
            "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "acme"}},
        }
        for n in range(messages)
    ]
    return json.dumps({"Messages": records}).encode()


def one_answer(raw: bytes, context: QueueContext, out: io.StringIO) -> None:
    """One answer's worth of a peek: parse, build the messages, decode, write each view."""
    for record in json.loads(raw)["Messages"]:
        view = decode(ReceivedMessage.from_api(record), context)
        out.write(view.line() + "\n")
    out.seek(0)
    out.truncate()


def cpu_per_answer(rounds: int, burst: int, sleep_seconds: float) -> float:
    """CPU microseconds per answer: ``burst`` answers, then a sleep, until ``rounds``."""
    raw, context, out = answer(), QueueContext(345600, False), io.StringIO()
    started = time.process_time()
    done = 0
    while done < rounds:
        for _ in range(burst):
            one_answer(raw, context, out)
        done += burst
        if sleep_seconds:
            time.sleep(sleep_seconds)
    return (time.process_time() - started) / done * 1e6


def run(rounds: int, sleeps_ms: Sequence[float], bursts: Sequence[int]) -> None:
    cpu_per_answer(rounds // 10 or 1, 1, 0)  # warm: imports, first allocations
    print(f"back to back            {cpu_per_answer(rounds, 1, 0):8.1f} us CPU per answer")
    for sleep_ms in sleeps_ms:
        for burst in bursts:
            figure = cpu_per_answer(rounds, burst, sleep_ms / 1000)
            print(f"{burst:>3} per wake, {sleep_ms:5.1f} ms sleep {figure:8.1f} us CPU per answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--sleep-ms", type=float, nargs="+", default=[0.5, 5.0, 20.0])
    parser.add_argument("--burst", type=int, nargs="+", default=[1, 5, 10])
    options = parser.parse_args()
    run(options.rounds, options.sleep_ms, options.burst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
