"""The bundled processor's log lines, when the sandbox and the demo run it in process, do not
reach dlqctl's stdout: the demo's live processor runs in a thread beside the commands whose
output `demo -o json` keeps, so nothing may swap the process's ``sys.stdout`` around it."""

from __future__ import annotations

import contextlib
import sys

from dlqctl.traffic import invoke_async, load_processor, order_events


def test_the_processor_logs_nowhere_and_leaves_stdout_alone(capsys, monkeypatch):
    monkeypatch.setenv("ACCEPTED_SCHEMA_VERSIONS", "1,2")
    processor = load_processor()
    stdout = sys.stdout
    seen = []

    def handler(event, context):
        seen.append(sys.stdout)  # what any other thread would write to meanwhile
        return processor.handler(event, context)

    outcomes = [invoke_async(handler, event) for event in order_events(20)]
    for event in order_events(20):  # and called directly, as a deployed function is
        with contextlib.suppress(Exception):
            processor.handler(event, None)

    assert outcomes.count(None) > 0  # the handler reached its log line
    assert all(current is stdout for current in seen)
    assert capsys.readouterr().out == ""
