"""doctor's WSL crossover examiner (provision/crossdoctor.py), from data: the facts script's
output is built from each case (every value base64, as the script prints it), parsed, diagnosed;
and the real script, run by sh, reads hostile names as data."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from factsdata import host_from

from provision import crossdoctor, doctor
from provision.facts import FileState
from provision.findings import Finding
from provision.sanitise import render_lines

CASES = yaml.safe_load((Path(__file__).parent / "data/crossover.yml").read_text())
RANK = {doctor.OK: 0, doctor.INFO: 0, doctor.WARN: 1, doctor.PROBLEM: 2}


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode()


def script_output(case: dict) -> list[str]:
    """What the facts script prints for ``case``."""
    lines = ["src self", f"cwd {b64(case.get('cwd', ''))}"]
    env = case.get("env", {})
    for name in ("HOME", "JAVA_HOME", "WSLENV", "USERPROFILE"):
        lines.append(f"env {name} {1 if name in env else 0} {b64(env.get(name, ''))}")
    for directory, holds in case.get("path", []):
        java, exe = (1 if w in holds.split() else 0 for w in ("java", "exe"))
        lines.append(f"path {java} {exe} {b64(directory)}")
    for entry, state in case.get("interop", {}).items():
        lines.append(f"interop {entry} {b64(state)}")
    if "files" in case:
        lines.append(f"files {case['files']} {1 if case.get('stopped') else 0}")
    return lines


def findings(case: dict) -> list[Finding]:
    st = crossdoctor.Crossover().parse(script_output(case))
    conf = (FileState("/etc/wsl.conf", exists=True, content=case["wsl_conf"].encode())
            if "wsl_conf" in case else FileState("/etc/wsl.conf", exists=False))
    host = host_from({"wsl": {"version": case.get("wsl", 2), "distro": "Lab-x"}})
    return crossdoctor.examine(host, st, conf)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_crossover(case):
    found = findings(case)
    worst: dict[str, str] = {}
    for f in found:
        assert f.summary
        if f.status in (doctor.PROBLEM, doctor.WARN):
            assert f.fix, f"no fix: {f.summary}"
        if f.check not in worst or RANK[f.status] > RANK[worst[f.check]]:
            worst[f.check] = f.status
    for check, status in case["expect"].items():
        assert worst.get(check) == status, (check, found)
    text = "\n".join(f"{f.summary} | {f.fix}" for f in found)
    for expected in case.get("has", []):
        assert expected in text, text
    for absent in case.get("lacks", []):
        assert absent not in text, text


def test_hostile_values_are_shown_escaped():
    case = next(c for c in CASES if c["name"].startswith("hostile"))
    shown = "\n".join(render_lines(doctor.text(doctor.Report("h", findings(case))), colour=False))
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b]52;c;cHduZWQ=" in shown and "\\u202e" in shown
    # the newline in the directory name did not forge a PATH record: one PATH finding, for entry 1
    st = crossdoctor.Crossover().parse(script_output(case))
    assert [e.directory for e in st.path] == ["/mnt/c/a\x1b[31m\npath 1 1 evil/bin", "/usr/bin"]


def run_script(env: dict[str, str], cwd: Path) -> list[str]:
    out = subprocess.run(["sh", "-c", crossdoctor.Crossover().command()], env=env, cwd=cwd,
                         capture_output=True, timeout=60, check=True)
    return out.stdout.decode().splitlines()


def test_the_real_script_reads_its_own_environment_as_data(tmp_path):
    """An unprivileged user's PATH with a directory whose name holds a newline and a forged
    record, and a java.exe: sh prints base64 only, the parse gets the names back exactly."""
    evil = tmp_path / "a\npath 1 1 L21udC9jL2Zha2U=\n\x1b[2J"
    (evil).mkdir()
    (evil / "java.exe").write_bytes(b"MZ")
    jdk = tmp_path / "jdk" / "bin"
    jdk.mkdir(parents=True)
    (jdk / "java").write_text("#!/bin/sh\n")
    (jdk / "java").chmod(0o755)
    env = {"PATH": f"{evil}:{jdk}:/usr/bin:/bin", "HOME": str(tmp_path), "JAVA_HOME": "C:\\jdk\x1b]0;x\x07",
           "WSLENV": "JAVA_HOME/p"}
    st = crossdoctor.Crossover().parse(run_script(env, tmp_path))
    assert st.source == "self" and st.cwd == os.path.realpath(tmp_path)
    assert [(e.directory, e.java, e.java_exe) for e in st.path[:2]] == [(str(evil), False, True),
                                                                        (str(jdk), True, False)]
    assert st.env["JAVA_HOME"] == "C:\\jdk\x1b]0;x\x07" and st.env["WSLENV"] == "JAVA_HOME/p"
    assert "USERPROFILE" not in st.env and st.files is None  # not on a Windows drive: nothing counted


def test_the_script_is_read_only():
    s = crossdoctor.Crossover().command()
    for word in ("rm ", "> /", "tee ", "sed -i", "mkdir", "cmd.exe"):
        assert word not in s, word


def test_through_sudo_the_environment_is_the_callers(tmp_path):
    """sudo resets the environment (env_reset, secure_path): the script reads the process that
    ran sudo instead. A stand-in named sudo (its comm is "sudo") runs the script with env -i."""
    sudo = tmp_path / "sudo"
    sudo.write_text('#!/bin/sh\nenv -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c "$1"\n')
    sudo.chmod(0o755)
    work = tmp_path / "project"
    work.mkdir()
    env = {"PATH": "/mnt/c/Windows/System32:/usr/bin:/bin", "JAVA_HOME": "/mnt/c/jdk", "HOME": "/home/u"}
    out = subprocess.run(["sh", "-c", f'"{sudo}" "$0"; true', crossdoctor.Crossover().command()], env=env,
                         cwd=work, capture_output=True, timeout=60, check=True)
    st = crossdoctor.Crossover().parse(out.stdout.decode().splitlines())
    assert st.source == "sh" and st.cwd == os.path.realpath(work)
    assert st.env == {"HOME": "/home/u", "JAVA_HOME": "/mnt/c/jdk"}
    assert [e.directory for e in st.path] == ["/mnt/c/Windows/System32", "/usr/bin", "/bin"]


def test_doctor_runs_the_crossover_and_wslconfig_examiners():
    names = [ex.name for ex in doctor.examiners()]
    assert "crossover" in names and "wslconfig" in names
    assert any(isinstance(f, crossdoctor.Crossover) for f in doctor.facts())
