"""The wsl: target's controller side, from data: wsl.exe's UTF-16 output, distro names, the
one-line errors, and that the module imports on Windows (no fcntl/pwd/termios at import time)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provision.connections.wsl import WslConnection, decode_output, parse_list
from provision.errors import ConnectError, UsageError
from provision.targets import load_inventory, parse_spec

DATA = yaml.safe_load((Path(__file__).parent / "data/wsl_exe.yml").read_text(encoding="utf-8"))
REPO = Path(__file__).resolve().parents[2]


def encode(text: str, encoding: str, ends: str) -> bytes:
    text = text.replace("\n", {"crlf": "\r\n", "lf": "\n", "cr": "\r"}[ends])
    if encoding == "utf-16-le-bom":
        return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")
    return text.encode(encoding)


@pytest.mark.parametrize("case", DATA["list"], ids=[c["name"] for c in DATA["list"]])
def test_wsl_list_output(case):
    raw = encode(case["text"], case["encoding"], case["ends"])
    text = decode_output(raw)
    assert "\r" not in text and "\x00" not in text and "\ufeff" not in text
    got = [[d.name, d.state, d.version, d.default] for d in parse_list(text)]
    assert got == case["distros"]


def test_decode_keeps_non_ascii_and_undecodable_bytes_visible():
    assert decode_output("Zustand: läuft\r\n".encode("utf-16-le")) == "Zustand: läuft\n"
    assert decode_output(b"\xef\xbb\xbfok\r\n") == "ok\n"
    assert decode_output(b"caf\xe9\n") == "caf\udce9\n"  # not UTF-8: kept, shown escaped later


@pytest.mark.parametrize("spec, distro", DATA["targets"]["ok"])
def test_wsl_target_specs(spec, distro):
    t = parse_spec(spec)
    assert (t.kind, t.distro, t.name) == ("wsl", distro, spec)


@pytest.mark.parametrize("spec, message", DATA["targets"]["refused"])
def test_wsl_target_names_that_could_reach_a_shell_or_an_option_are_refused(spec, message):
    with pytest.raises(UsageError) as err:
        parse_spec(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_wsl_target_in_an_inventory(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("hosts:\n  wsl:Ubuntu-24.04:\n    vars: {team: a}\n")
    [t] = load_inventory(inv)
    assert (t.kind, t.distro, t.vars) == ("wsl", "Ubuntu-24.04", {"team": "a"})
    inv.write_text("hosts:\n  'wsl:-e':\n")
    with pytest.raises(Exception, match="starts with '-'"):
        load_inventory(inv)


FAKE = """#!{python}
import os, sys
sys.stdout.buffer.write(os.environb[b"FAKE_OUT"].decode("unicode_escape").encode("latin-1"))
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(repr(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("FAKE_RC", "0")))
"""


@pytest.fixture
def fake_exe(tmp_path, monkeypatch):
    exe = tmp_path / "wsl.exe"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "log"))

    def answer(raw: bytes, rc: int = 0) -> Path:
        monkeypatch.setenv("FAKE_OUT", raw.decode("latin-1").encode("unicode_escape").decode())
        monkeypatch.setenv("FAKE_RC", str(rc))
        return exe
    return answer


def test_an_unknown_distro_is_one_line_listing_the_installed_ones(fake_exe):
    listing = "\ufeff  NAME STATE VERSION\r\n* Ubuntu-24.04 Running 2\r\n  Debian Stopped 1\r\n".encode("utf-16-le")
    exe = fake_exe(listing)
    with pytest.raises(ConnectError) as err:
        WslConnection("Ubunto", str(exe))
    assert str(err.value) == "wsl:Ubunto: no such WSL distro; installed: Ubuntu-24.04 (WSL2), Debian (WSL1)"
    conn = WslConnection("ubuntu-24.04", str(exe))  # WSL's names ignore case
    assert conn.info.name == "Ubuntu-24.04" and conn.info.version == 2


def test_hostile_bytes_from_wsl_exe_are_not_shown_raw(fake_exe):
    evil = "  NAME STATE VERSION\r\n  \x1b]52;c;cHduZWQ=\x07 Running 2\r\n".encode("utf-16-le")
    exe = fake_exe(evil)
    with pytest.raises(ConnectError) as err:
        WslConnection("Ubuntu", str(exe))
    assert "\x1b" not in str(err.value) and "none is installed" in str(err.value)
    exe = fake_exe("\x1b[2Jboom\r\n".encode("utf-16-le"), rc=1)
    with pytest.raises(ConnectError) as err:
        WslConnection("Ubuntu", str(exe))
    assert "\x1b" not in str(err.value) and "\\x1b[2Jboom" in str(err.value)


def test_commands_go_through_wsl_exe_as_root_with_each_argument_whole(fake_exe, tmp_path):
    exe = fake_exe("  NAME STATE VERSION\r\n* D Running 2\r\n".encode("utf-16-le"))
    conn = WslConnection("D", str(exe))
    conn.run(["printf", "%s\n", "a b; $(reboot)", "-x"])
    argv = (tmp_path / "log").read_text().splitlines()[-1]
    assert argv == repr(["-d", "D", "-u", "root", "--exec", "sh", "-c",
                         'cd / || exit 125; PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; '
                         'export PATH; exec "$@"', "sh", "printf", "%s\n", "a b; $(reboot)", "-x"])


def test_a_bad_name_never_reaches_wsl_exe(fake_exe, tmp_path):
    exe = fake_exe(b"")
    for bad in ("-d", "--terminate", "a;b", "a b"):
        with pytest.raises(UsageError):
            WslConnection(bad, str(exe))
    assert not (tmp_path / "log").exists()


BLOCKED = ("fcntl", "pwd", "grp", "termios", "tty", "pty", "resource")
MODULES = "import provision.connections.wsl, provision.connections, provision.wsl"
LIBRARIES = MODULES + """
import sys
print(" ".join(sorted({m.split('.')[0] for m in sys.modules} - {'provision', '__main__'})))
"""
WIN32 = """
import importlib, sys
for lib in sys.argv[1].split():  # the libraries first (they pick their own platform code here)
    if lib not in BLOCKED:
        importlib.import_module(lib)
for name in BLOCKED:
    sys.modules[name] = None  # from now on, `import fcntl` raises ImportError
sys.platform = "win32"
MODULES
import provision.connections.wsl as w
assert w.WslConnection.kind == "wsl" and w.sys.platform == "win32"
print("imported")
""".replace("BLOCKED", repr(BLOCKED)).replace("MODULES", MODULES)


def test_the_connection_imports_on_windows():
    """provision's own modules on the way to the wsl: connection import nothing POSIX-only when
    sys.platform is win32 (the libraries they use are imported first, as this platform's)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    libs = subprocess.run([sys.executable, "-c", LIBRARIES], capture_output=True, text=True, cwd=REPO, env=env)
    assert libs.returncode == 0, libs.stderr
    r = subprocess.run([sys.executable, "-c", WIN32, libs.stdout.strip()], capture_output=True, text=True,
                       cwd=REPO, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "imported", r.stderr[-3000:]


def test_on_windows_system32_wsl_exe_wins_over_one_planted_on_path_or_here(tmp_path, monkeypatch):
    from provision.connections import wsl

    planted = tmp_path / "project"
    planted.mkdir()
    for d in (planted, tmp_path / "Windows/System32"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "wsl.exe").write_text("#!/bin/sh\n")
        (d / "wsl.exe").chmod(0o755)
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PATH", f"{planted}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(wsl.ENV_EXE, raising=False)
    assert wsl.find_exe() == str(planted / "wsl.exe")  # not Windows: the one on PATH
    monkeypatch.setattr(wsl.sys, "platform", "win32")
    monkeypatch.setenv("SystemRoot", str(tmp_path / "Windows"))
    assert wsl.find_exe() == str(tmp_path / "Windows/System32/wsl.exe")
    monkeypatch.setenv(wsl.ENV_EXE, str(planted / "wsl.exe"))  # asked for by name: that one
    assert wsl.find_exe() == str(planted / "wsl.exe")


CYCLE_FAKE = """#!{python}
import os, sys
a = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(repr(a) + "\\n")
if a == ["-l", "-v"]:
    sys.stdout.buffer.write("  NAME STATE VERSION\\r\\n* D Running 2\\r\\n".encode("utf-16-le"))
elif a == ["--terminate", "D"] or a == ["-d", "D", "--exec", "true"]:
    pass
elif "is-system-running" in a:
    print(os.environ["FAKE_STATE"])
    sys.exit(int(os.environ["FAKE_RC"]))
elif a[-2:] == ["cat", "/proc/1/comm"]:
    print(os.environ["FAKE_PID1"])
else:
    sys.exit(3)
"""


@pytest.mark.parametrize("case", DATA["cycle"], ids=[f"{c['pid1']!r}-{c['state']}" for c in DATA["cycle"]])
def test_restart_from_outside_is_judged_by_pid1_and_systemd_state(case, tmp_path, monkeypatch):
    from provision.connections.wsl import cycle
    from provision.sanitise import shown

    exe = tmp_path / "wsl.exe"
    exe.write_text(CYCLE_FAKE.format(python=sys.executable))
    exe.chmod(0o755)
    for key, value in (("FAKE_LOG", tmp_path / "log"), ("FAKE_PID1", case["pid1"]), ("FAKE_STATE", case["state"]),
                       ("FAKE_RC", case["rc"])):
        monkeypatch.setenv(key, str(value))
    done = cycle(WslConnection("D", str(exe)), wait=5)
    assert done.ok is case["ok"]
    assert case["says"] in done.summary()
    assert "\x1b" not in shown(done.summary(), lines=False)
    calls = [ast.literal_eval(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert calls[1:3] == [["--terminate", "D"], ["-d", "D", "--exec", "true"]]
    assert calls[3][-5:] == ["timeout", "5", "systemctl", "is-system-running", "--wait"]


GONE_FAKE = """#!{python}
import os, sys
if sys.argv[1:] == ["-l", "-v"]:
    sys.stdout.buffer.write("  NAME STATE VERSION\\r\\n* D Running 2\\r\\n".encode("utf-16-le"))
    sys.exit(0)
sys.stderr.buffer.write("There is no distribution with the supplied name.\\r\\n\\x1b[2J".encode("utf-16-le"))
sys.exit(255)
"""


def test_wsl_exe_failing_itself_is_read_as_utf16_not_as_the_command_output(tmp_path):
    exe = tmp_path / "wsl.exe"
    exe.write_text(GONE_FAKE.format(python=sys.executable))
    exe.chmod(0o755)
    conn = WslConnection("D", str(exe))  # listed now, unregistered before the command runs
    r = conn.run(["true"])
    assert r.rc == 255 and "\x00" not in r.err
    assert r.tail().startswith("wsl.exe: There is no distribution with the supplied name.")
