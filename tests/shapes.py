"""The DLQ message shapes AWS writes, transcribed from primary sources into fixtures/shapes/.

Each fixture file names its source (an AWS documentation page, a LocalStack snapshot recorded
against AWS, or a published capture) and says what was transcribed verbatim and what was
substituted. Nothing here comes from dlqctl's own sandbox.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from dlqctl.models import MessageAttribute, OutgoingMessage, ReceivedMessage

SHAPES_DIR = Path(__file__).resolve().parent / "fixtures" / "shapes"
NAMES = sorted(path.stem for path in SHAPES_DIR.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    """The fixture's ``message`` in ReceiveMessage's form (binary values as bytes)."""
    message = json.loads((SHAPES_DIR / f"{name}.json").read_text())["message"]
    attributes = {}
    for key, value in message.get("MessageAttributes", {}).items():
        value = dict(value)
        if "BinaryValue" in value:
            value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
        attributes[key] = value
    return {**message, "MessageAttributes": attributes}


def source_of(name: str) -> str:
    return json.loads((SHAPES_DIR / f"{name}.json").read_text())["source"]


def received(name: str) -> ReceivedMessage:
    """The fixture as a received message, system attributes included."""
    return ReceivedMessage.from_api({"MessageId": name, "ReceiptHandle": name, **load(name)})


def outgoing(name: str) -> OutgoingMessage:
    """The fixture's body and message attributes, to send (system attributes cannot be sent)."""
    message = load(name)
    return OutgoingMessage(
        entry_id="m",
        body=message["Body"],
        message_attributes={
            key: MessageAttribute.from_api(value)
            for key, value in message["MessageAttributes"].items()
        },
    )


def source_queue_of(name: str) -> str | None:
    """The ``DeadLetterQueueSourceArn`` the fixture was recorded with, if any."""
    return load(name).get("Attributes", {}).get("DeadLetterQueueSourceArn")
