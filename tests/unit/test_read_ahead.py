"""Reading ahead an input that can be read only once (``import -`` on stdin, a pipe)."""

from __future__ import annotations

import os
import pty
import threading

import pytest

from dlqctl.archive import SAMPLE_LINES, _read_ahead, read_export
from dlqctl.errors import UsageError

RECORD = (
    b'{"message_id": "m-1", "sqs": {"format": 1, "message_id": "m-1", "body": "{}", '
    b'"message_attributes": {}, "attributes": {}}}\n'
)


def test_one_ctrl_d_ends_what_a_terminal_types():
    """`dlqctl import - Q` typed at a terminal, Enter then Ctrl-D: the input has ended. Reading
    it once more after its end would wait at the terminal for a second Ctrl-D."""
    controller, terminal = pty.openpty()
    handle = open(terminal, "rb")  # noqa: SIM115 - closed below, whatever the outcome
    read: list[list[bytes]] = []
    reader = threading.Thread(target=lambda: read.append(list(_read_ahead("-", handle))))
    try:
        os.write(controller, b"\n\x04")  # Enter, Ctrl-D
        reader.start()
        reader.join(10)
        still_reading = reader.is_alive()
    finally:
        os.write(controller, b"\x04")  # lets a reader that waits for a second one end
        reader.join(10)
        handle.close()
        os.close(controller)
    assert not still_reading, "the end of the input was read a second time"
    assert read == [[b"\n"]]


def test_lines_read_ahead_keep_their_numbers_and_order():
    lines = [b"junk\n", b"\n", RECORD, b"more junk\n", RECORD.replace(b"m-1", b"m-2")]
    read = list(read_export(_read_ahead("-", iter(lines))))
    assert [(line.number, line.problem) for line in read] == [
        (1, "not JSON"),
        (3, None),
        (4, "not JSON"),
        (5, None),
    ]
    assert [line.message.message_id for line in read if line.message] == ["m-1", "m-2"]


@pytest.mark.parametrize("junk", [SAMPLE_LINES - 1, SAMPLE_LINES])
def test_the_first_lines_decide_as_a_file_s_sample_does(junk):
    """A record within the first SAMPLE_LINES lines: the input is read; none: refused, before
    anything further is read."""
    lines = [b"x\n"] * junk + [RECORD]
    if junk < SAMPLE_LINES:
        read = list(read_export(_read_ahead("-", iter(lines))))
        assert sum(line.message is not None for line in read) == 1
        return
    with pytest.raises(UsageError, match="stdin is not a dlqctl export this version reads"):
        _read_ahead("-", iter(lines))
