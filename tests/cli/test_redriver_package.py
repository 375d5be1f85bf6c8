"""The redriver's zip, exactly as ``stack deploy`` uploads it, runs on its own.

Lambda's Python runtime provides the standard library and boto3 with its dependencies, and
nothing else: not the installed dlqctl, not typer or rich. The zip is fetched from the bucket
``stack deploy`` uploaded it to, unpacked alone, and its configured handler is imported and
called with an SQS event in a fresh interpreter whose path holds only the zip's contents and
those runtime packages (``python -I -S``: no site-packages, no PYTHONPATH).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from dlqctl import emulate
from tests import shapes
from tests.cli.test_stack import audit_queue, lambda_record
from tests.helpers import aws_for, counts, put

RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")
"""What Lambda's Python runtime ships besides the standard library (boto3 and its
dependencies)."""

CALL_HANDLER = """
import importlib, json, sys
task, runtime = sys.argv[1], sys.argv[2]
sys.path[:0] = [task, runtime]
module_name, function_name = sys.argv[3].rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), function_name)
result = handler(json.load(sys.stdin), None)
outside = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None)
    and not module.__file__.startswith((task, runtime, sys.base_prefix))
)
print(json.dumps({"result": result, "outside": outside}))
"""


def runtime_dir(tmp_path: Path) -> Path:
    """A folder holding only the packages Lambda's runtime provides (links to this venv's)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


def deployed_redriver_zip(boto) -> bytes:
    s3 = boto("s3")
    [bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if "dlqctl-artifacts" in b["Name"]]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    [key] = [k for k in keys if "redriver" in k]
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_the_uploaded_redriver_zip_runs_alone(cli, boto, fresh_endpoint, tmp_path):
    assert cli("stack", "deploy", "--sandbox").exit_code == 0
    handler = boto("lambda").get_function_configuration(FunctionName="orders-dlq-redriver")[
        "Handler"
    ]
    task = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(deployed_redriver_zip(boto))) as archive:
        archive.extractall(task)
        packaged = sorted(archive.namelist())
    audit = audit_queue(boto, fresh_endpoint)
    dlq = boto("sqs").get_queue_url(QueueName="orders-dlq")["QueueUrl"]
    queue, _ = aws_for(fresh_endpoint).sqs.resolve(dlq)
    replayable = emulate.lambda_dlq(emulate.event({"orderId": "z-1"}), "boom")
    ids = put(
        fresh_endpoint,
        queue,
        [
            replayable,
            shapes.outgoing("kinesis_esm_failure"),
            shapes.outgoing("eventbridge_bus_dlq_kms"),
        ],
    )
    messages = boto("sqs").receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]  # fmt: skip
    event = {"Records": [lambda_record(message) for message in messages]}
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": fresh_endpoint,
        "DLQCTL_REDRIVER_BUS": "shop",
    }
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CALL_HANDLER, str(task), str(runtime_dir(tmp_path)),
         handler],
        input=json.dumps(event), capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    output = json.loads(run.stdout.splitlines()[-1])
    assert output["outside"] == []
    failures = sorted(item["itemIdentifier"] for item in output["result"]["batchItemFailures"])
    assert failures == sorted(ids[1:])
    assert "left in the DLQ" in run.stdout
    assert counts(fresh_endpoint, audit) == (1, 0)
    # Only what the handler imports: no CLI, no rendering, no sandbox.
    assert packaged == [
        "dlqctl/__init__.py", "dlqctl/aws.py", "dlqctl/choices.py", "dlqctl/destinations.py",
        "dlqctl/envelopes.py", "dlqctl/errors.py", "dlqctl/filters.py", "dlqctl/interrupts.py",
        "dlqctl/models.py", "dlqctl/scan.py", "dlqctl/transport.py", "redriver.py",
    ]  # fmt: skip
