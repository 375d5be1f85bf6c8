"""Rotated rounds: tools redrive the same messages on one LocalStack, their order rotated.

The side-by-side harness (``throughput.py`` in the peers' directory) runs its tools in a fixed
order, one run after another, on a machine whose speed moves from minute to minute. This runs
the chosen tools round after round, the order rotated every round, each redrive on N messages
seeded afresh, through the harness's own proxy (its ``DelayProxy``: a fixed delay a call, calls
counted) and its LocalStack (``localstack.sh``, restarted so that it advertises the proxy's
port), the endpoint and the proxy on core 0 and each tool on core 1. Per redrive it prints
messages a second, LocalStack's own CPU per 1,000 messages (its process's user and system time,
from /proc), the client's CPU per 1,000 and the calls; at the end, per tool, the medians and,
round by round, the first tool's rate ÷ each other's (or the ``--pairs`` given).

Tools: ``dlqctl`` (``redrive --to-queue``), ``dlqctl-bus`` (``redrive --to-bus``),
``lumigo-cli``, ``limit`` (the harness's ``floor_redrive.py``) and ``limit-bus``
(``bench/floor_bus.py``). With a bus tool, the messages are ``bench/run.py``'s ~1 KB EventBridge
events, which one rule on the bus matches; otherwise the harness's own ~1 KB bodies.

    python bench/rotated.py --peers ../shared/peers --dlqctl .venv/bin/dlqctl \\
        --tools dlqctl,lumigo-cli --n 10000 --rounds 20
    python bench/rotated.py --peers ../shared/peers --dlqctl .venv/bin/dlqctl \\
        --tools dlqctl,dlqctl-bus,limit,limit-bus --latency-ms 20 --n 3000 --rounds 8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
PROXY_PORT = 4598
BUS = "bench-bus"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _harness(peers: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("throughput", peers / "throughput.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no harness at {peers}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def localstack_cpu() -> float:
    """User and system CPU seconds of the LocalStack processes so far."""
    found = subprocess.run(
        ["pgrep", "-f", "localstack.runtime.main"], capture_output=True, text=True, check=False
    )
    total = 0.0
    for pid in found.stdout.split():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def commands(args: argparse.Namespace) -> dict[str, tuple[list[str], dict[str, str]]]:
    python = sys.executable
    lumigo = args.peers_dir / "npm" / "lumigo" / "node_modules" / "lumigo-cli" / "bin" / "run"
    shim = {
        "NODE_OPTIONS": f"--require {args.peers / 'awsv2-endpoint-shim.js'}",
        "SKIP_VERSION_CHECK": "1",
    }
    redrive = [args.dlqctl, "redrive", "{dlq}", "--yes", "-o", "json"]
    return {
        "dlqctl": ([*redrive, "--to-queue", "{dst}"], {}),
        "dlqctl-bus": ([*redrive, "--to-bus", BUS], {}),
        "lumigo-cli": (
            [
                "node",
                str(lumigo),
                "replay-sqs-dlq",
                "-d",
                "{dlq}",
                "-n",
                "{dst}",
                "-r",
                "us-east-1",
            ],
            shim,
        ),
        "limit": ([python, str(args.peers / "floor_redrive.py"), "{dlq}", "{dst}", "16"], {}),
        "limit-bus": ([python, str(HERE / "floor_bus.py"), "{dlq}", BUS, "16"], {}),
    }


def _restart_localstack(peers: Path, pin: list[str]) -> str:
    """The harness's LocalStack, started afresh: advertising the proxy's port in its queue
    URLs (SDKs that send to a queue URL's host go through the proxy too), on core 0."""
    env = {**os.environ, "LS_PROXY_PORT": str(PROXY_PORT), "LS_TASKSET": " ".join(pin)}
    subprocess.run(["bash", str(peers / "localstack.sh"), "stop"], capture_output=True, check=False)
    started = subprocess.run(
        ["bash", str(peers / "localstack.sh"), "start"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return started.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=Path, required=True, help="the harness's directory")
    parser.add_argument("--peers-dir", type=Path, default=Path("/tmp/peers"))
    parser.add_argument("--dlqctl", required=True)
    parser.add_argument("--tools", default="dlqctl,lumigo-cli")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--pairs", default="", help="ratios to print, e.g. dlqctl/limit,dlqctl-bus/limit-bus"
    )
    args = parser.parse_args()
    names = args.tools.split(",")
    known = commands(args)
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)} (known: {', '.join(known)})")
    unrun = {name for pair in args.pairs.split(",") if pair for name in pair.split("/")}
    if unrun - set(names):
        parser.error(f"--pairs names tools not in --tools: {', '.join(sorted(unrun - set(names)))}")

    import boto3  # after the arguments: --help needs no boto3
    from run import message_body  # bench/run.py's ~1 KB EventBridge event

    harness = _harness(args.peers)
    two_cores = (os.cpu_count() or 1) >= 2
    if two_cores:
        os.sched_setaffinity(0, {0})
    upstream = _restart_localstack(args.peers, ["taskset", "-c", "0"] if two_cores else [])
    proxy = harness.DelayProxy(upstream, args.latency_ms / 1000, PROXY_PORT)
    direct: dict[str, Any] = {"endpoint_url": upstream, "region_name": "us-east-1"}
    sqs = boto3.client("sqs", aws_access_key_id="test", aws_secret_access_key="test", **direct)
    bus_tools = any(name.endswith("-bus") for name in names)
    if bus_tools:
        events = boto3.client(
            "events", aws_access_key_id="test", aws_secret_access_key="test", **direct
        )
        if BUS not in {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=BUS)
        events.put_rule(
            Name="bench-orders",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["bench.orders"]}),
        )
    body = message_body if bus_tools else harness.body
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": proxy.url, "NO_COLOR": "1"}
    pinned = ["taskset", "-c", "1"] if two_cores else []
    rates: dict[str, list[float]] = {name: [] for name in names}
    figures: dict[str, dict[str, list[float]]] = {name: {"ls": [], "client": []} for name in names}
    print(
        f"{args.rounds} rounds of {args.n:,} messages, {args.latency_ms:g} ms a call; "
        f"LocalStack {upstream} behind the proxy {proxy.url}",
        flush=True,
    )
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            argv, extra = known[name]
            tag = f"rot{uuid.uuid4().hex[:8]}"
            dlq = sqs.create_queue(QueueName=f"{tag}-dlq")["QueueUrl"]
            dst = sqs.create_queue(QueueName=f"{tag}-dst")["QueueUrl"]
            for start in range(0, args.n, 10):
                sqs.send_message_batch(
                    QueueUrl=dlq,
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": body(start + i),
                            "MessageAttributes": {
                                "tenant": {"DataType": "String", "StringValue": "acme"}
                            },
                        }
                        for i in range(min(10, args.n - start))
                    ],
                )
            proxy.calls.clear()
            command = [*pinned, *(part.format(dlq=f"{tag}-dlq", dst=f"{tag}-dst") for part in argv)]
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            ls_before = localstack_cpu()
            began = time.perf_counter()
            done = subprocess.run(command, env={**env, **extra}, capture_output=True, text=True)
            seconds = time.perf_counter() - began
            ls = localstack_cpu() - ls_before
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            client = (cpu_after.ru_utime - cpu_before.ru_utime) + (
                cpu_after.ru_stime - cpu_before.ru_stime
            )
            left = int(
                sqs.get_queue_attributes(
                    QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            rate = args.n / seconds
            rates[name].append(rate)
            figures[name]["ls"].append(1000 * ls / args.n)
            figures[name]["client"].append(1000 * client / args.n)
            failed = f" FAILED: {done.stderr.strip()[-200:]}" if done.returncode else ""
            print(
                f"round {round_} {name:10s} rc={done.returncode} left={left} "
                f"msgs_per_s={rate:.0f} localstack_cpu_s_per_1k={1000 * ls / args.n:.3f} "
                f"client_cpu_s_per_1k={1000 * client / args.n:.3f} "
                f"calls={sum(proxy.calls.values())}{failed}",
                flush=True,
            )
            sqs.delete_queue(QueueUrl=dlq)
            sqs.delete_queue(QueueUrl=dst)
    for name in names:
        print(
            f"{name:10s} medians: msgs_per_s={statistics.median(rates[name]):.0f} "
            f"localstack_cpu_s_per_1k={statistics.median(figures[name]['ls']):.3f} "
            f"client_cpu_s_per_1k={statistics.median(figures[name]['client']):.3f}"
        )
    pairs = [pair.split("/") for pair in args.pairs.split(",")] if args.pairs else []
    pairs = pairs or [[names[0], name] for name in names[1:]]
    for top, bottom in pairs:
        ratios = [a / b for a, b in zip(rates[top], rates[bottom], strict=True)]
        print(
            f"{top} ÷ {bottom} by round: "
            + " ".join(f"{ratio:.2f}" for ratio in ratios)
            + f" (median {statistics.median(ratios):.2f}, {sum(r < 1 for r in ratios)} below 1)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
