"""dlqctl benchmarks: throughput, AWS API calls per message, client CPU and peak memory.

Each operation runs the real ``dlqctl`` command in a child process against a local endpoint,
through a proxy that counts every request and can add a fixed delay per request (the latency
model). A plain sequential boto3 loop over the same queue is the baseline.

    python bench/run.py                 # moto at N=1,000; LocalStack at 10,000 and 100,000
    python bench/run.py --smoke         # N=200 on moto (what CI runs)
    python bench/run.py --sizes 1000 --endpoint moto --delay-ms 20

It prints a table and writes the figures as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from proxy import CountingProxy  # noqa: E402

from dlqctl.local_endpoint import free_port  # noqa: E402

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
LOCALSTACK_VENV = HERE / ".venv-localstack"
LOCALSTACK_PACKAGES = [
    "localstack-core[runtime]==2026.3.0",
    "cbor2<6",
    "pyopenssl<24.3",
    "cryptography<44",
    "service-identity",
]


def wait_until(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"endpoint did not come up: {url}")


@dataclass
class Endpoint:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None
    workdir: str | None = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_moto() -> Endpoint:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dlqctl.sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(f"{url}/moto-api/data.json", 60)
    return Endpoint("moto (dlqctl's embedded endpoint)", url, process)


def localstack_python(setup: bool) -> Path | None:
    python = LOCALSTACK_VENV / "bin" / "python"
    if python.exists():
        return python
    if not setup:
        return None
    interpreter = shutil.which("python3.13")
    if interpreter is None:
        print("LocalStack needs Python 3.13 (none found); skipping it", file=sys.stderr)
        return None
    print("Installing LocalStack into bench/.venv-localstack (once)…", file=sys.stderr)
    env = {**os.environ, "PYENV_VERSION": "3.13.0"}
    subprocess.run([interpreter, "-m", "venv", str(LOCALSTACK_VENV)], check=True, env=env)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *LOCALSTACK_PACKAGES], check=True
    )
    return python


def start_localstack(python: Path) -> Endpoint:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="dlqctl-bench-localstack-")
    env = {
        **os.environ,
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": workdir,
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "SERVICES": "sqs,events",
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",
        "SQS_ENDPOINT_STRATEGY": "path",
    }
    process = subprocess.Popen(
        [str(python), "-m", "localstack.runtime.main"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(f"{url}/_localstack/health", 120)
    return Endpoint("LocalStack 2026.3.0", url, process, workdir)


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 8}),
    )


def message_body(index: int) -> str:
    """An EventBridge event of about 1 KB, so the same messages serve every operation."""
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "OrderPlaced",
        "source": "bench.orders",
        "account": "123456789012",
        "time": "2026-11-27T03:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"orderId": f"ord-{index}", "padding": ""},
    }
    filler = 1024 - len(json.dumps(event))
    event["detail"]["padding"] = "x" * max(0, filler)
    return json.dumps(event)


def seed(url: str, queue_url: str, count: int) -> None:
    sqs = client("sqs", url)

    def send(start: int) -> None:
        entries = [
            {
                "Id": str(index),
                "MessageBody": message_body(start + index),
                "MessageAttributes": {
                    "tenant": {"DataType": "String", "StringValue": "acme"},
                    "attempt": {"DataType": "Number", "StringValue": str(start + index)},
                },
            }
            for index in range(min(10, count - start))
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise SystemExit(f"seeding failed: {response['Failed'][:1]}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(0, count, 10)))


def depth(url: str, queue_url: str) -> int:
    attributes = client("sqs", url).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@dataclass
class Figure:
    endpoint: str
    operation: str
    messages: int
    delay_ms: float
    concurrency: int | None
    seconds: float
    messages_per_second: float
    calls: int
    calls_per_message: float
    cpu_seconds_per_1000: float | None
    peak_rss_mb: float | None
    ok: bool
    calls_by_operation: dict[str, int] = field(default_factory=dict)
    endpoint_ms_by_operation: dict[str, float] = field(default_factory=dict)
    note: str = ""


def run_dlqctl(args: list[str], proxy_url: str, stdout: Any) -> tuple[int, float, float, float]:
    """Run dlqctl in a child; returns (exit code, seconds, CPU seconds, peak RSS in MB)."""
    env = {
        **os.environ,
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": proxy_url,
        "AWS_REGION": REGION,
        "XDG_STATE_HOME": tempfile.mkdtemp(prefix="dlqctl-bench-state-"),
        "DLQCTL_LEASE_SETTLE_SECONDS": "0",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dlqctl", *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(
            f"  dlqctl {' '.join(args)} exited {process.returncode}: {stderr[-400:]}",
            file=sys.stderr,
        )
    return process.returncode, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


OPERATIONS = (
    "peek --all",
    "summary",
    "export",
    "delete --filter",
    "redrive --to-queue",
    "redrive --to-bus",
)


def operation_args(operation: str, dlq: str, work: Path, concurrency: int | None) -> list[str]:
    if operation == "peek --all":
        return ["peek", dlq, "--all", "-o", "jsonl"]
    if operation == "summary":
        return ["summary", dlq, "-o", "json"]
    if operation == "export":
        return ["export", dlq, str(work / f"{dlq}.jsonl"), "-o", "json"]
    if operation == "delete --filter":
        return ["delete", dlq, "--filter", "json.detail.orderId != null", "--yes", "-o", "json"]
    extra = ["--concurrency", str(concurrency)] if concurrency else []
    if operation == "redrive --to-queue":
        return ["redrive", dlq, "--to-queue", f"{dlq}-target", "--yes", "-o", "json", *extra]
    return ["redrive", dlq, "--to-bus", "bench-bus", "--yes", "-o", "json", *extra]


def measure(
    endpoint: Endpoint,
    proxy: CountingProxy,
    operation: str,
    count: int,
    work: Path,
    concurrency: int | None = None,
) -> Figure:
    sqs = client("sqs", endpoint.url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    target_url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
    seed(endpoint.url, dlq_url, count)
    proxy.reset()
    output = work / f"{name}.out"
    with output.open("wb") as sink:
        code, seconds, cpu, rss = run_dlqctl(
            operation_args(operation, name, work, concurrency), proxy.url, sink
        )
    calls = proxy.total()
    by_operation = proxy.snapshot()
    ok = code == 0 and check(
        operation, endpoint, output, work / f"{name}.jsonl", dlq_url, target_url, count
    )
    for url in (dlq_url, target_url):
        sqs.delete_queue(QueueUrl=url)
    output.unlink(missing_ok=True)
    (work / f"{name}.jsonl").unlink(missing_ok=True)
    return Figure(
        endpoint=endpoint.name,
        operation=operation,
        messages=count,
        delay_ms=proxy.delay_seconds * 1000,
        concurrency=concurrency,
        seconds=round(seconds, 3),
        messages_per_second=round(count / seconds, 1),
        calls=calls,
        calls_per_message=round(calls / count, 4),
        cpu_seconds_per_1000=round(cpu / count * 1000, 3),
        peak_rss_mb=round(rss, 1),
        ok=ok,
        calls_by_operation=by_operation,
        endpoint_ms_by_operation=proxy.endpoint_ms(),
    )


def check(
    operation: str,
    endpoint: Endpoint,
    output: Path,
    export: Path,
    dlq_url: str,
    target_url: str,
    count: int,
) -> bool:
    """Did the operation do its job? (Every message seen, moved or deleted.)"""
    if operation == "peek --all":
        return sum(1 for _ in output.open("rb")) == count and depth(endpoint.url, dlq_url) == count
    if operation == "summary":
        return json.loads(output.read_text())["total"] == count
    if operation == "export":
        return sum(1 for _ in export.open("rb")) == count
    if operation == "delete --filter":
        return json.loads(output.read_text())["deleted"] == count
    result = json.loads(output.read_text())
    moved = result["redriven"] == count and depth(endpoint.url, dlq_url) == 0
    if operation == "redrive --to-queue":
        moved = moved and depth(endpoint.url, target_url) == count
    return moved


def move_all(via: Any, events: Any, dlq_url: str, target_url: str, to_bus: bool) -> int:
    """The least a client can do to redrive: receive 10 → ``SendMessageBatch`` (or
    ``PutEvents`` of each body's event) → delete what was sent, until an empty receive; the
    messages moved."""
    moved = 0
    while True:
        messages = via.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return moved
        if to_bus:
            events_sent = [json.loads(m["Body"]) for m in messages]
            answer = events.put_events(
                Entries=[
                    {
                        "EventBusName": "bench-bus",
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event["resources"],
                    }
                    for event in events_sent
                ]
            )["Entries"]
            done = {str(i) for i, entry in enumerate(answer) if "EventId" in entry}
        else:
            sent = via.send_message_batch(
                QueueUrl=target_url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": m["Body"],
                        "MessageAttributes": m.get("MessageAttributes", {}),
                    }
                    for i, m in enumerate(messages)
                ],
            )
            done = {entry["Id"] for entry in sent.get("Successful", [])}
        via.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)
                if str(i) in done
            ],
        )
        moved += len(done)


LIMIT_THREADS = 16


def loop_figure(
    endpoint: Endpoint, proxy: CountingProxy, operation: str, count: int, threads: int
) -> Figure:
    """``move_all`` over a fresh queue of ``count`` messages in ``threads`` threads: with one
    thread to a queue, the baseline (a plain sequential boto3 loop); with ``LIMIT_THREADS``,
    the endpoint's limit for the destination (``limit --to-queue``, ``limit --to-bus``). Not a
    tool: no journal, no checks, no output; it shows what the endpoint allows, so dlqctl's
    figure reads as a share of it."""
    sqs = client("sqs", endpoint.url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    target_url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
    seed(endpoint.url, dlq_url, count)
    via, events = client("sqs", proxy.url), client("events", proxy.url)
    to_bus = operation.endswith("--to-bus")
    proxy.reset()
    started = time.perf_counter()
    cpu_before = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(move_all, via, events, dlq_url, target_url, to_bus) for _ in range(threads)
        ]
        moved = sum(future.result() for future in futures)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    calls = proxy.total()
    by_operation, endpoint_ms = proxy.snapshot(), proxy.endpoint_ms()
    for url in (dlq_url, target_url):
        sqs.delete_queue(QueueUrl=url)
    return Figure(
        endpoint=endpoint.name,
        operation=operation,
        messages=count,
        delay_ms=proxy.delay_seconds * 1000,
        concurrency=threads,
        seconds=round(seconds, 3),
        messages_per_second=round(count / seconds, 1),
        calls=calls,
        calls_per_message=round(calls / count, 4),
        cpu_seconds_per_1000=round(cpu / count * 1000, 3),
        peak_rss_mb=None,
        ok=moved == count,
        calls_by_operation=by_operation,
        endpoint_ms_by_operation=endpoint_ms,
        note="in the benchmark process",
    )


def baseline(endpoint: Endpoint, proxy: CountingProxy, count: int) -> Figure:
    """A plain sequential boto3 receive → send → delete loop, 10 per call."""
    return loop_figure(endpoint, proxy, "baseline: boto3 loop", count, 1)


def limit(endpoint: Endpoint, proxy: CountingProxy, operation: str, count: int) -> Figure:
    """The endpoint's limit for a redrive to a queue or a bus (``operation`` ends with the
    destination option), in ``LIMIT_THREADS`` threads."""
    return loop_figure(endpoint, proxy, f"limit {operation.split()[-1]}", count, LIMIT_THREADS)


def print_table(figures: list[Figure], baselines: dict[tuple[str, float, int], float]) -> None:
    """``x base``: the rate over the sequential loop's; ``x limit``: a redrive's rate over the
    endpoint's limit for the same destination (``limit``), in the same latency model."""
    limits = {
        (f.endpoint, f.delay_ms, f.messages, f.operation.split()[-1]): f.messages_per_second
        for f in figures
        if f.operation.startswith("limit ")
    }
    header = (
        f"{'endpoint':<12} {'operation':<22} {'N':>7} {'delay':>6} {'conc':>4} {'msg/s':>9} "
        f"{'x base':>7} {'x limit':>7} {'calls/msg':>9} {'CPU s/1k':>8} {'RSS MB':>7} {'ok':>3}"
    )
    print(header)
    print("-" * len(header))
    for figure in figures:
        base = baselines.get((figure.endpoint, figure.delay_ms, figure.messages))
        ratio = f"{figure.messages_per_second / base:.1f}" if base else "-"
        top = (
            limits.get(
                (figure.endpoint, figure.delay_ms, figure.messages, figure.operation.split()[-1])
            )
            if figure.operation.startswith("redrive ")
            else None
        )
        share = f"{figure.messages_per_second / top:.2f}" if top else "-"
        print(
            f"{figure.endpoint.split()[0]:<12} {figure.operation:<22} {figure.messages:>7} "
            f"{figure.delay_ms:>4.0f}ms {figure.concurrency or '-':>4} "
            f"{figure.messages_per_second:>9.1f} {ratio:>7} {share:>7} "
            f"{figure.calls_per_message:>9.3f} "
            f"{figure.cpu_seconds_per_1000 if figure.cpu_seconds_per_1000 is not None else '-':>8} "
            f"{figure.peak_rss_mb if figure.peak_rss_mb is not None else '-':>7} "
            f"{'yes' if figure.ok else 'NO':>3}"
        )
    print_endpoint_times(figures)


def print_endpoint_times(figures: list[Figure]) -> None:
    """The endpoint's milliseconds per call of the redrives' operations (without the added
    delay), for the limit clients and the redrives. With one call in flight, what a call costs
    the endpoint; with several, its queueing too."""
    shown = ("ReceiveMessage", "SendMessageBatch", "PutEvents", "DeleteMessageBatch")
    rows = [
        figure
        for kind in ("limit ", "redrive ")
        for figure in figures
        if figure.endpoint_ms_by_operation and figure.operation.startswith(kind)
    ]
    if not rows:
        return
    print("\nendpoint ms per call (the added delay not counted; with several calls in flight,")
    print("their queueing counted too; empty receives and error answers apart, in the JSON)")
    print(
        f"{'endpoint':<12} {'operation':<22} {'N':>7} {'delay':>6} {'conc':>4} " + " ".join(shown)
    )
    for figure in rows:
        times = figure.endpoint_ms_by_operation
        print(
            f"{figure.endpoint.split()[0]:<12} {figure.operation:<22} {figure.messages:>7} "
            f"{figure.delay_ms:>4.0f}ms {figure.concurrency or '-':>4} "
            + " ".join(f"{times.get(n, '-')!s:>{len(n)}}" for n in shown)
        )
        failed = [name for name in times if name.endswith(" (error)")]
        if failed:
            print(f"{'':<12} error answers, timed apart (in the JSON): {', '.join(failed)}")


def run_suite(
    endpoint: Endpoint,
    sizes: list[int],
    delay_ms: float,
    sweep: list[int],
    sweep_size: int,
    work: Path,
    figures: list[Figure],
) -> None:
    events = client("events", endpoint.url)
    events.create_event_bus(Name="bench-bus")
    # A rule that matches the events (with no target, so the endpoint does no delivery work):
    # without one, redrive's pre-flight check refuses a replay that would go nowhere.
    events.put_rule(
        Name="bench-orders",
        EventBusName="bench-bus",
        EventPattern=json.dumps({"source": ["bench.orders"]}),
    )
    for count in (size for size in sizes if size > 0):
        with CountingProxy(endpoint.url, 0.0) as proxy:
            figures.append(baseline(endpoint, proxy, count))
            for operation in OPERATIONS:
                print(f"  {endpoint.name}: {operation} N={count}", file=sys.stderr)
                figures.append(measure(endpoint, proxy, operation, count, work))
    if sweep:
        with CountingProxy(endpoint.url, delay_ms / 1000) as proxy:
            print(
                f"  {endpoint.name}: baseline with {delay_ms:.0f} ms per request", file=sys.stderr
            )
            figures.append(baseline(endpoint, proxy, sweep_size))
            for operation in ("redrive --to-queue", "redrive --to-bus"):
                print(f"  {endpoint.name}: the endpoint's limit, {operation}", file=sys.stderr)
                figures.append(limit(endpoint, proxy, operation, sweep_size))
            for concurrency in sweep:
                for operation in ("redrive --to-queue", "redrive --to-bus"):
                    print(
                        f"  {endpoint.name}: {operation} -c {concurrency} with {delay_ms:.0f} ms",
                        file=sys.stderr,
                    )
                    figures.append(
                        measure(endpoint, proxy, operation, sweep_size, work, concurrency)
                    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="N=200 on moto only (CI)")
    parser.add_argument("--endpoint", choices=["moto", "localstack", "both"], default="both")
    parser.add_argument("--sizes", type=int, nargs="*", help="message counts (default by endpoint)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="latency model per request")
    parser.add_argument(
        "--sweep", type=int, nargs="*", default=[1, 4, 8, 16], help="concurrencies (0: default)"
    )
    parser.add_argument("--sweep-size", type=int, help="messages per sweep run")
    parser.add_argument("--no-setup", action="store_true", help="do not install LocalStack")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/…)")
    options = parser.parse_args()
    os.environ.update(CREDENTIALS)

    plans: list[tuple[str, list[int], int]] = []
    if options.smoke:
        plans.append(("moto", options.sizes or [200], options.sweep_size or 200))
        options.sweep = [1, 8]
    else:
        if options.endpoint in ("moto", "both"):
            plans.append(("moto", options.sizes or [1000], options.sweep_size or 2000))
        if options.endpoint in ("localstack", "both"):
            plans.append(
                ("localstack", options.sizes or [10000, 100000], options.sweep_size or 10000)
            )

    figures: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="dlqctl-bench-"))
    try:
        for kind, sizes, sweep_size in plans:
            if kind == "moto":
                endpoint = start_moto()
            else:
                python = localstack_python(setup=not options.no_setup)
                if python is None:
                    print("LocalStack not available; its figures are missing", file=sys.stderr)
                    continue
                endpoint = start_localstack(python)
            try:
                run_suite(
                    endpoint, sizes, options.delay_ms, options.sweep, sweep_size, work, figures
                )
            finally:
                endpoint.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    baselines = {
        (f.endpoint, f.delay_ms, f.messages): f.messages_per_second
        for f in figures
        if f.operation.startswith("baseline")
    }
    print_table(figures, baselines)
    target = options.output or HERE / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "system": platform.platform(),
                },
                "figures": [asdict(figure) for figure in figures],
            },
            indent=2,
        )
    )
    print(f"\nfigures written to {target}")
    failed = [f for f in figures if not f.ok]
    if failed:
        print(
            f"{len(failed)} run(s) did not do their job: {[f.operation for f in failed]}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
