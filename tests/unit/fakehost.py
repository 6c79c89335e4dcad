"""A host whose facts script is answered from text, section by section, in-process.

The real batched script is split into its sections (by the lines that open and close each part)
and each section's command is matched against ``answers`` (regex → output); the output is framed
as the script frames it (``encode``), so provision's real splitting and parsers read it. Other
commands are recorded and answered from ``commands`` (regex → (rc, stdout)), else exit 0 with no
output.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from provision.connections.base import CommandResult, Connection, Process
from provision.facts import batch


def encode(chunks: Sequence[str | bytes], *, ended: bool = True) -> str:
    """What the facts script prints when its parts print ``chunks``: each part's bytes after
    their length (the shell drops trailing newlines), the block base64 on one line."""
    data = b""
    for c in chunks:
        raw = (c.encode() if isinstance(c, str) else c).rstrip(b"\n")
        data += b"%d\n%s\n" % (len(raw), raw)
    data += b"end\n" if ended else b""
    return f"\n{batch.MARK.decode()}{base64.b64encode(data).decode()}\n"


def is_facts_script(script: str) -> bool:
    return f"\n{batch.PART_CLOSE}\n" in script


def run_facts_script(script: str, answers: Sequence[tuple[str, str]]) -> str:
    chunks: list[str] = []
    command: list[str] | None = None
    for line in script.splitlines():
        if line == batch.PART_OPEN:
            command = []
        elif line == batch.PART_CLOSE and command is not None:
            text = "\n".join(command)
            chunks.append(next((answer for pattern, answer in answers if re.search(pattern, text)), ""))
            command = None
        elif command is not None:
            command.append(line)
    return encode(chunks)


class FakeHost(Connection):
    def __init__(self, answers: Sequence[tuple[str, str]], *, kind: str = "ssh",
                 commands: Sequence[tuple[str, int, str]] = ()) -> None:
        super().__init__("fake")
        self.kind = kind
        self.answers = list(answers)
        self.command_answers = list(commands)
        self.commands: list[list[str]] = []
        self.fact_scripts = 0
        self.journal: list[bytes] = []

    def _exec(self, argv, *, input, timeout, stream):  # noqa: ANN001
        if argv[:2] == ["sh", "-c"] and is_facts_script(argv[2]):
            self.fact_scripts += 1
            return CommandResult("facts", 0, run_facts_script(argv[2], self.answers).encode(), b"")
        self.commands.append(list(argv))
        text = " ".join(argv)
        for pattern, rc, out in self.command_answers:
            if re.search(pattern, text):
                return CommandResult(text, rc, out.encode(), b"")
        return CommandResult(text, 0, b"", b"")

    def _start(self, argv):  # noqa: ANN001, ANN202 - the held command of an apply (lock, facts, journal)
        self.fact_scripts += 1
        return FakeProcess(run_facts_script(argv[2], self.answers), self.journal, locked=True)


class FakeProcess(Process):
    def __init__(self, output: str, journal: list[bytes], *, locked: bool = False) -> None:
        self.buf = output.encode()
        self.journal = journal
        self.locked = locked  # answer "locked" with the token the first line sent says (then the owner line)

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        cut = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return out

    def send(self, data: bytes) -> None:
        if self.locked:
            self.locked = False
            self.buf = b"\n@@" + data.split(b"\n")[0] + b":locked\n" + self.buf
            return
        self.journal.append(data)

    def finish(self, timeout: float) -> int:
        return 0

    def stderr(self) -> str:
        return ""
