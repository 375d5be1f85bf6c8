"""Rotated rounds: tools redrive the same messages on one LocalStack, their order rotated.

The side-by-side harness (``throughput.py`` in the peers' directory) runs its tools in a fixed
order, one run after another, on a machine whose speed moves from minute to minute. This runs
the chosen tools round after round in the orders of a Williams design (each tool first once and
right after each other tool once; ``--rounds`` a multiple of the orders), each redrive on N
messages seeded afresh, through the harness's own proxy (its ``DelayProxy``: a fixed delay a
call, calls counted) and its LocalStack (``localstack.sh``: restarted so that it advertises the
proxy's port, and stopped at the end), the endpoint and the proxy on core 0 and each tool on
core 1. Per redrive it prints messages a second, LocalStack's own CPU per 1,000 messages (its
process's user and system time, from /proc), the client's CPU per 1,000 and the calls; at the
end, per tool, the medians and, round by round, the first tool's rate ÷ each other's (or the
``--pairs`` given) with their median and mean. A redrive that exits non-zero, leaves a message
in its DLQ (visible or not) or, to a queue, delivers fewer than N is reported and left out;
then the ratios are not paired and the exit code is 1.

Tools: ``dlqctl`` (``redrive --to-queue``), ``dlqctl-bus`` (``redrive --to-bus``),
``lumigo-cli``, ``limit`` (the harness's ``floor_redrive.py``) and ``limit-bus``
(``bench/floor_bus.py``). With a bus tool, the messages are ``bench/run.py``'s ~1 KB EventBridge
events, which one rule on the bus matches; otherwise the harness's own ~1 KB bodies.

    python bench/rotated.py --peers ../shared/peers --dlqctl .venv/bin/dlqctl \\
        --tools dlqctl,lumigo-cli --n 10000 --rounds 20
    python bench/rotated.py --peers ../shared/peers --dlqctl .venv/bin/dlqctl \\
        --tools dlqctl,dlqctl-bus,limit,limit-bus --pairs dlqctl-bus/limit-bus \\
        --latency-ms 20 --n 3000 --rounds 8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
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
Commands = dict[str, tuple[list[str], dict[str, str]]]


def _harness(peers: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("throughput", peers / "throughput.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no harness at {peers}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LS_DIR = Path(os.environ.get("LS_DIR", "/tmp/dlqctl-localstack"))
LS_PORT = int(os.environ.get("LS_PORT", "4599"))


def localstack_pid() -> int | None:
    try:
        return int((LS_DIR / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def localstack_cpu(pid: int) -> float:
    """User and system CPU seconds of the LocalStack process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def williams_orders(count: int) -> list[list[int]]:
    """Orders in which each tool runs first once and, for an even count, right after every
    other tool once (a Williams design); for an odd count, those orders and their reverses."""
    first = [0]
    low, high = 1, count - 1
    while len(first) < count:
        first.append(low)
        low += 1
        if len(first) < count:
            first.append(high)
            high -= 1
    orders = [[(tool + shift) % count for tool in first] for shift in range(count)]
    return orders if count % 2 == 0 else orders + [order[::-1] for order in orders]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=2):
            return True
    except OSError:
        return False


def commands(args: argparse.Namespace) -> Commands:
    """Each tool's command line (``{dlq}``, ``{dst}`` filled in per redrive) and environment."""
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


def stop_localstack(peers: Path) -> None:
    subprocess.run(["bash", str(peers / "localstack.sh"), "stop"], capture_output=True, check=False)
    for _ in range(60):
        if not _answers(LS_PORT):
            return
        time.sleep(1)
    raise SystemExit(
        f"a LocalStack still answers on port {LS_PORT} that {LS_DIR}/pid does not name; stop it"
    )


def restart_localstack(peers: Path, pin: list[str]) -> tuple[str, int]:
    """The harness's LocalStack, started afresh: advertising the proxy's port in its queue
    URLs (SDKs that send to a queue URL's host go through the proxy too), pinned to ``pin``."""
    stop_localstack(peers)
    env = {**os.environ, "LS_PROXY_PORT": str(PROXY_PORT), "LS_TASKSET": " ".join(pin)}
    started = subprocess.run(
        ["bash", str(peers / "localstack.sh"), "start"], capture_output=True, text=True, env=env
    )
    pid = localstack_pid()
    if started.returncode or pid is None:
        raise SystemExit(f"LocalStack did not start: {started.stderr.strip() or started.stdout}")
    if pin:
        status = Path(f"/proc/{pid}/status").read_text()
        allowed = next(
            line.split()[-1] for line in status.splitlines() if "Cpus_allowed_list" in line
        )
        if allowed != pin[-1]:
            raise SystemExit(f"LocalStack runs on cores {allowed}, not {pin[-1]}")
    return started.stdout.strip().splitlines()[-1], pid


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", type=Path, required=True, help="the harness's directory")
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=Path(os.environ.get("PEERS_DIR", "/tmp/peers")),
        help="where the harness's setup.sh installed the peers (PEERS_DIR, /tmp/peers)",
    )
    parser.add_argument("--dlqctl", required=True, help="the dlqctl executable to run")
    parser.add_argument("--tools", default="dlqctl,lumigo-cli", help="comma-separated")
    parser.add_argument("--n", type=int, default=10000, help="messages a redrive")
    parser.add_argument("--rounds", type=int, default=10, help="a multiple of the number of orders")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the proxy's delay a call")
    parser.add_argument(
        "--pairs", default="", help="ratios to print, e.g. dlqctl/limit,dlqctl-bus/limit-bus"
    )
    return parser


def _check(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[list[str], Commands, list[list[str]]]:
    """Refuse what cannot run before LocalStack is touched; the tools, their commands and the
    pairs to print."""
    names = args.tools.split(",")
    known = commands(args)
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)} (known: {', '.join(known)})")
    pairs = [pair.split("/") for pair in args.pairs.split(",") if pair]
    if any(len(pair) != 2 for pair in pairs):
        parser.error("--pairs takes TOOL/TOOL,…")
    unrun = {name for pair in pairs for name in pair} - set(names)
    if unrun:
        parser.error(f"--pairs names tools not in --tools: {', '.join(sorted(unrun))}")
    orders = len(williams_orders(len(names)))
    if args.rounds % orders:
        parser.error(f"--rounds must be a multiple of {orders} for {len(names)} tools")
    needed = [args.peers / "throughput.py", args.peers / "localstack.sh"]
    if shutil.which(args.dlqctl) is None:
        parser.error(f"no dlqctl executable at {args.dlqctl}")
    if "limit" in names:
        needed.append(args.peers / "floor_redrive.py")
    if "lumigo-cli" in names:
        if shutil.which("node") is None:
            parser.error("lumigo-cli needs node, which is not on PATH")
        needed.append(Path(known["lumigo-cli"][0][1]))
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        parser.error(f"missing: {', '.join(missing)} (the harness and its setup.sh)")
    return names, known, pairs or [[names[0], name] for name in names[1:]]


def _seed(sqs: Any, url: str, count: int, body: Callable[[int], str]) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": body(start + i),
                    "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "acme"}},
                }
                for i in range(min(10, count - start))
            ],
        )


def _count(sqs: Any, url: str) -> int:
    """Messages in a queue, visible or received and not deleted."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(found[name]) for name in names)


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    names, known, pairs = _check(parser, args)
    harness = _harness(args.peers)
    two_cores = (os.cpu_count() or 1) >= 2
    if two_cores:
        os.sched_setaffinity(0, {0})
    try:
        upstream, pid = restart_localstack(args.peers, ["taskset", "-c", "0"] if two_cores else [])
        failures = _rounds(args, names, known, pairs, harness, upstream, pid, two_cores)
    finally:
        stop_localstack(args.peers)
    return 1 if failures else 0


def _rounds(
    args: argparse.Namespace,
    names: list[str],
    known: Commands,
    pairs: list[list[str]],
    harness: ModuleType,
    upstream: str,
    pid: int,
    two_cores: bool,
) -> int:
    import boto3  # here, not at the top: --help and refused arguments need no boto3
    from run import message_body  # bench/run.py's ~1 KB EventBridge event

    proxy = harness.DelayProxy(upstream, args.latency_ms / 1000, PROXY_PORT)
    direct: dict[str, Any] = {"endpoint_url": upstream, "region_name": "us-east-1"}
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    sqs = boto3.client("sqs", **keys, **direct)
    bus_tools = any(name.endswith("-bus") for name in names)
    if bus_tools:
        events = boto3.client("events", **keys, **direct)
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
    orders = williams_orders(len(names))
    failures = 0
    print(
        f"{args.rounds} rounds of {args.n:,} messages, {args.latency_ms:g} ms a call; "
        f"LocalStack {upstream} (pid {pid}) behind the proxy {proxy.url}",
        flush=True,
    )
    for round_ in range(args.rounds):
        for name in (names[index] for index in orders[round_ % len(orders)]):
            argv, extra = known[name]
            tag = f"rot{uuid.uuid4().hex[:8]}"
            dlq = sqs.create_queue(QueueName=f"{tag}-dlq")["QueueUrl"]
            dst = sqs.create_queue(QueueName=f"{tag}-dst")["QueueUrl"]
            _seed(sqs, dlq, args.n, body)
            proxy.calls.clear()
            command = [*pinned, *(part.format(dlq=f"{tag}-dlq", dst=f"{tag}-dst") for part in argv)]
            ls_before = localstack_cpu(pid)
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            done = subprocess.run(
                command, env={**env, **extra}, capture_output=True, text=True, timeout=1800
            )
            seconds = time.perf_counter() - began
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            ls = localstack_cpu(pid) - ls_before
            client = (cpu_after.ru_utime - cpu_before.ru_utime) + (
                cpu_after.ru_stime - cpu_before.ru_stime
            )
            left = _count(sqs, dlq)
            got = None if name.endswith("-bus") else _count(sqs, dst)
            # A bus's deliveries are not counted here: its client's exit code and an empty
            # DLQ (nothing left, visible or not) stand for them.
            ok = done.returncode == 0 and left == 0 and (got is None or got >= args.n)
            rate = args.n / seconds
            if ok:
                rates[name].append(rate)
                figures[name]["ls"].append(1000 * ls / args.n)
                figures[name]["client"].append(1000 * client / args.n)
            else:
                failures += 1
            failed = "" if ok else f" FAILED (not counted): {done.stderr.strip()[-200:]}"
            print(
                f"round {round_} {name:10s} rc={done.returncode} left={left} "
                f"delivered={'-' if got is None else got} msgs_per_s={rate:.0f} "
                f"localstack_cpu_s_per_1k={1000 * ls / args.n:.3f} "
                f"client_cpu_s_per_1k={1000 * client / args.n:.3f} "
                f"calls={sum(proxy.calls.values())}{failed}",
                flush=True,
            )
            sqs.delete_queue(QueueUrl=dlq)
            sqs.delete_queue(QueueUrl=dst)
    _report(names, pairs, rates, figures, failures)
    return failures


def _report(
    names: list[str],
    pairs: list[list[str]],
    rates: dict[str, list[float]],
    figures: dict[str, dict[str, list[float]]],
    failures: int,
) -> None:
    if failures:
        print(f"{failures} redrives failed; their rounds are left out of what follows")
    for name in names:
        if not rates[name]:
            print(f"{name:10s} no redrive completed")
            continue
        print(
            f"{name:10s} medians: msgs_per_s={statistics.median(rates[name]):.0f} "
            f"localstack_cpu_s_per_1k={statistics.median(figures[name]['ls']):.3f} "
            f"client_cpu_s_per_1k={statistics.median(figures[name]['client']):.3f}"
        )
    for top, bottom in pairs:
        if failures:
            print(f"{top} ÷ {bottom}: not paired round by round, as some redrives failed")
            continue
        ratios = [a / b for a, b in zip(rates[top], rates[bottom], strict=True)]
        mean = statistics.mean(ratios)
        spread = 2 * statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else 0.0
        print(
            f"{top} ÷ {bottom} by round: "
            + " ".join(f"{ratio:.2f}" for ratio in ratios)
            + f" (median {statistics.median(ratios):.2f}, mean {mean:.2f} ± {spread:.2f}"
            f" (about 95 %), {sum(r < 1 for r in ratios)} below 1)"
        )


if __name__ == "__main__":
    sys.exit(main())
