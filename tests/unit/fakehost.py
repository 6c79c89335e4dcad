"""A host whose facts script is answered from text, section by section, in-process.

The real batched script is split into its sections (by their marker lines) and each section's
command is matched against ``answers`` (regex → output); the output carries the script's own
markers, so provision's real splitting and parsers read it. Other commands are recorded and
answered from ``commands`` (regex → (rc, stdout)), else exit 0 with no output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from provision.connections.base import CommandResult, Connection, Process

_MARK = re.compile(r"^printf '\\n@@([0-9a-f]+):(\d+|end)\\n'$")
_FIRST = re.compile(r"^printf '\\n@@[0-9a-f]+:0\\n'$", re.M)


def run_facts_script(script: str, answers: Sequence[tuple[str, str]]) -> str:
    out: list[str] = []
    command: list[str] = []
    token = ""

    def flush() -> None:
        text = "\n".join(command)
        for pattern, answer in answers:
            if re.search(pattern, text):
                out.append(answer)
                break
        command.clear()

    for line in script.splitlines():
        m = _MARK.match(line)
        if m:
            if token:
                flush()
            token = m.group(1)
            out.append(f"\n@@{token}:{m.group(2)}\n")
            continue
        if token:
            command.append(line)
    return "".join(out)


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
        if argv[:2] == ["sh", "-c"] and _FIRST.search(argv[2]):
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
        token = argv[-1]
        return FakeProcess(f"\n@@{token}:locked\n" + run_facts_script(argv[2], self.answers), self.journal)


class FakeProcess(Process):
    def __init__(self, output: str, journal: list[bytes]) -> None:
        self.buf = output.encode()
        self.journal = journal

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        cut = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return out

    def send(self, data: bytes) -> None:
        self.journal.append(data)

    def finish(self, timeout: float) -> int:
        return 0

    def stderr(self) -> str:
        return ""
