"""Verify's output: a summary on stderr for people, a JSON document for tools, JUnit XML for CI."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

from provision import __version__
from provision import colour as colours
from provision.localfiles import write_atomically
from provision.sanitise import Line, Piece, Styled, echo, xml_text
from provision.verify.results import FAILED, PASSED, SKIPPED, HostReport

_MARK = {PASSED: ("passed", "green"), FAILED: ("FAILED", "red"), SKIPPED: ("skipped", "cyan")}


def summary(reports: list[HostReport], *, verbose: int = 0, quiet: bool = False,
            stream: TextIO | None = None) -> None:
    """Per host: every failing check with its message (all checks with -v), then the counts."""
    out = stream or sys.stderr
    lines: list[Line] = []
    for r in reports:
        shown = [c for c in r.checks if not (c.status == PASSED and (quiet or not verbose))]
        if shown or (verbose and r.skipped):  # a host header only above lines of its own
            lines.append(f"{r.host}:")
        for c in r.checks:
            if c.status == PASSED and (quiet or not verbose):
                continue
            word, fg = _MARK.get(c.status, (c.status, None))
            line: list[Piece] = ["  ", Styled(f"{word:<7}", fg, c.status == FAILED), f" {c.name}"]
            if c.message and (c.status != PASSED or verbose):
                line.append(f": {c.message}")
            lines.append(line)
        for s in r.skipped if verbose else []:
            lines.append(["  ", Styled("n/a    ", "cyan"), f" {s}"])
        if r.error:
            head = f"{r.host}: not verified: {r.error}"
        else:
            head = f"{r.host}: {r.passed} passed, {r.failed} failed ({r.duration:.1f}s)"
        lines.append([Styled(head, "green" if r.ok else "red", not r.ok)])
    if len(reports) > 1:
        bad = [r.host for r in reports if not r.ok]
        lines.append([Styled(f"{len(reports) - len(bad)} of {len(reports)} hosts verified"
                             + (f"; failed: {', '.join(bad)}" if bad else ""), "red" if bad else "green")])
    echo(lines, file=out, colour=colours.enabled(out))


def document(playbook: str | None, reports: list[HostReport]) -> dict[str, object]:
    return {"provision": __version__, "command": "verify", "playbook": playbook,
            "ok": all(r.ok for r in reports),
            "passed": sum(r.passed for r in reports), "failed": sum(r.failed for r in reports),
            "hosts": [r.as_dict() for r in reports]}


def junit(reports: list[HostReport], suite: str = "provision verify") -> ET.ElementTree:
    """One ``<testsuite>`` per host, one ``<testcase classname=HOST name=CHECK>`` per check."""
    root = ET.Element("testsuites", name=suite)
    total = failures = skipped = 0
    elapsed = 0.0
    for r in reports:
        n_skip = sum(1 for c in r.checks if c.status == SKIPPED)
        ts = ET.SubElement(root, "testsuite", name=xml_text(r.host), tests=str(len(r.checks)),
                           failures=str(r.failed), errors="0", skipped=str(n_skip),
                           time=f"{r.duration:.3f}")
        props = ET.SubElement(ts, "properties")
        ET.SubElement(props, "property", name="host", value=xml_text(r.host))
        for c in r.checks:
            # a check's name and message carry what the host printed: valid XML whatever it was
            name, message = xml_text(c.name), xml_text(c.message)
            tc = ET.SubElement(ts, "testcase", classname=xml_text(r.host), name=name, time=f"{c.duration:.3f}")
            if c.resource:
                tcp = ET.SubElement(tc, "properties")
                ET.SubElement(tcp, "property", name="resource", value=xml_text(c.resource))
            if c.status == FAILED:
                f = ET.SubElement(tc, "failure", message=message or "failed", type="CheckFailed")
                f.text = xml_text(f"{r.host}: {c.name}: {c.message}")
            elif c.status == SKIPPED:
                ET.SubElement(tc, "skipped", message=message or "skipped")
            elif c.message:
                ET.SubElement(tc, "system-out").text = message
        total += len(r.checks)
        failures += r.failed
        skipped += n_skip
        elapsed += r.duration
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    root.set("time", f"{elapsed:.3f}")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(path: str, reports: list[HostReport]) -> None:
    """The report at ``path``, in one rename: a link planted there (``/tmp/report.xml`` →
    ``/etc/passwd``) is replaced, never written through."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    junit(reports).write(out, encoding="utf-8", xml_declaration=True)
    write_atomically(path, out.getvalue(), option="--junit-xml")
