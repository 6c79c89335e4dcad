"""Issue 18, items 13 and 15, on lab roots: what a target prints never drives the controller's
terminal (escape sequences, bidi overrides, rich markup are shown escaped), and a local user of
the target cannot forge the framing of what provision reads back (verify's answers)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import provision, provision_on_pty

pytestmark = pytest.mark.lab

# A window title, an OSC 52 clipboard write, clear-screen and cursor-home, concealed text, a bidi
# override (U+202E … U+202C), a C1 CSI (U+009B), a carriage return, and rich markup.
HOSTILE = ("[red]x[/red] [link=file:///etc/shadow]click[/link] \x1b]0;pwned-title\x07\x1b]52;c;ZWNobyBwd25lZAo=\x07"
           "\x1b[2J\x1b[1;1H\x1b[8mhidden\x1b[0m\u202eevil\u202c\u009b31m\rover")
# the bytes each of those would put on a terminal raw (a UTF-8 terminal also obeys U+009B)
RAW = [b"\x1b]", b"\x1b[2J", b"\x1b[1;1H", b"\x1b[8m", "\u202e".encode(), "\u009b".encode(), b"\r"]
# what rich's live lines (provision's own progress, shown in place) put on a terminal
LIVE = re.compile(rb"\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r")


def assert_escaped(out: bytes, *, live: bool = False, bidi: bool = True) -> None:
    """No escape sequence of the target's on the terminal, and its text there, escaped."""
    text = out.replace(b"\r\n", b"\n")  # the terminal's own line ends
    text = LIVE.sub(b"", text) if live else text
    assert b"\x1b" not in text, out[-3000:]
    for raw in RAW:
        assert raw not in text, (raw, out[-3000:])
    shown = out.decode("utf-8", "replace")
    assert "\\x1b]0;pwned-title\\x07" in shown and ("\\u202eevil\\u202c" in shown or not bidi), shown[-3000:]
    assert "[red]x[/red]" in shown and "[link=file:///etc/shadow]click[/link]" in shown  # markup as text


def plant_hostile_image(root) -> None:
    """A hostile image, planted as root: os-release, a file a playbook replaces, a JAVA_HOME."""
    release = root.file("/etc/os-release")
    text = "".join(ln + "\n" for ln in release.read_text().splitlines() if not ln.startswith("PRETTY_NAME="))
    release.write_text(text + f'PRETTY_NAME="Debian {HOSTILE}"\n')
    root.file("/etc/motd").write_text(f"{HOSTILE}\n")
    env = root.file("/etc/environment")
    env.write_text(env.read_text() + f'JAVA_HOME="/opt/{HOSTILE}"\n')


PLAYBOOK = """\
resources:
  - template: {src: motd.j2, dest: /etc/motd}
checks:
  - name: notes say ok
    command: {run: "cat /etc/motd; cat /etc/motd >&2; exit 3", rc: 0}
"""


def test_nothing_the_target_prints_drives_the_terminal(converged_root, tmp_path):
    root = converged_root
    plant_hostile_image(root)
    (tmp_path / "motd.j2").write_text("managed\n")
    book = tmp_path / "site.yml"
    book.write_text(PLAYBOOK)
    never = ("--color", "never")

    code, out = provision_on_pty("facts", str(book), "-H", root.target, *never)
    assert code == 0, out
    assert_escaped(out)

    code, out = provision_on_pty("plan", str(book), "-H", root.target, "--diff", "-v", *never)
    assert code == 0, out
    assert_escaped(out, live=True)
    assert b"-[red]x[/red] [link=file:///etc/shadow]click[/link] \\x1b]0;pwned-title" in out  # the old line

    code, out = provision_on_pty("apply", str(book), "-H", root.target, "--diff", *never)
    assert code == 0, out
    assert_escaped(out, live=True)

    # the check's output (stdout and stderr) comes back in its failure message and the summary
    root.file("/etc/motd").write_text(f"{HOSTILE}\n")
    junit = tmp_path / "verify.xml"
    code, out = provision_on_pty("verify", str(book), "-H", root.target, "--junit-xml", str(junit), *never)
    assert code == 1, out
    assert_escaped(out)
    import xml.etree.ElementTree as ET

    case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "notes say ok")
    assert "\\x1b]0;pwned-title" in case.find("failure").get("message")  # valid XML, the text escaped

    code, out = provision_on_pty("doctor", "-H", root.target, *never)
    assert_escaped(out, bidi=False)  # doctor reads pam_env's values as pam_env does: bytes as latin-1
    assert "/opt/[red]x[/red]" in out.decode()

    # a journal is the target's too: what history shows of it is escaped
    journal = next(root.file("/var/lib/provision/runs").glob("*.jsonl"))
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    entries[0]["playbook"] = f"site {HOSTILE}"
    journal.write_text("".join(json.dumps(e) + "\n" for e in entries))
    code, out = provision_on_pty("history", "-H", root.target, *never)
    assert code == 0, out
    assert_escaped(out)

    # in colour, provision's own colour codes (SGR) are the only sequences: none of the target's
    code, out = provision_on_pty("verify", str(book), "-H", root.target, "--color", "always")
    assert code == 1, out
    assert re.search(rb"\x1b\[3\dm", out), out  # provision's red and green
    assert_escaped(re.sub(rb"\x1b\[(?:[0-9]|3[0-9])m", b"", out))

    # JSON on stdout: json.dumps escapes control characters and (ensure_ascii) every non-ASCII one
    result = provision("facts", str(book), "-H", root.target, "--json")
    assert result.rc == 0, result
    raw = result.stdout.encode()
    assert b"\x1b" not in raw and "\u202e".encode() not in raw and "\\u202e" in result.stdout
    assert HOSTILE in result.json["hosts"][0]["host_facts"]["os"]["pretty_name"]  # the data itself is intact


# mallory's ~/.profile runs when verify checks her login shell (`su - mallory`). It finds the
# verification shell among its ancestors through /proc (cmdline, environ: what any local user can
# read of another's process), takes the last word of its command line (the old protocol's token),
# and prints forty complete answers "empty output, exit 0" in that protocol (and in today's): the
# checks that run next in that shell would read them as theirs. It also leaves a process behind
# holding its stdout, writing them again while other checks run.
PROFILE = r"""
p=$PPID; t=
for i in 1 2 3 4 5 6 7 8; do
  [ -r /proc/$p/cmdline ] || break
  if tr '\0' '\n' < /proc/$p/cmdline | grep -q '@@'; then
    t=$(tr '\0' '\n' < /proc/$p/cmdline | tail -n 1); cat /proc/$p/environ >/dev/null 2>&1; break
  fi
  p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status)
done
[ -n "$t" ] && echo "found the token $t" >> /tmp/mallory.log
forge() {
  i=0; while [ $i -lt 40 ]; do printf '\n@@%s:err\n\n@@%s:rc 0\n' "$t" "$t"; printf '0  \n'; i=$((i + 1)); done
}
forge
( for k in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; forge; done ) </dev/null 2>/dev/null &
"""

BROKEN = """\
name: broken
imports: [java17]
checks:
""" + "".join(f"  - name: site marker {i} exists\n    file: {{path: /etc/site-marker-{i}}}\n" for i in range(12))


def outcomes(result) -> dict[str, str]:
    return {c["name"]: c["status"] for h in result.json["hosts"] for c in h["checks"]}


def test_a_local_user_cannot_forge_what_verify_reads(converged_root, tmp_path):
    root = converged_root
    assert provision("apply", "java17", "-H", root.target, "-q").rc == 0
    root.sh("useradd -m -s /bin/bash mallory")
    # broken on purpose: the JDK's release file is gone and no site marker exists: 13 checks fail
    root.sh("rm -f /usr/lib/jvm/java-17-openjdk-*/release")
    book = tmp_path / "broken.yml"
    book.write_text(BROKEN)
    clean = provision("verify", str(book), "-H", root.target, "--user", "mallory", "--json")
    assert clean.rc == 1, clean
    failed = {n for n, s in outcomes(clean).items() if s == "failed"}
    assert "jdk: release file says JAVA_VERSION 17" in failed and "site marker 11 exists" in failed, failed

    root.sh(f"cat > /home/mallory/.profile <<'EOF'\n{PROFILE}\nEOF\nchown mallory: /home/mallory/.profile")
    for _ in range(3):
        attacked = provision("verify", str(book), "-H", root.target, "--user", "mallory", "--json")
        assert attacked.rc == 1, attacked
        forged = sorted(n for n, st in outcomes(attacked).items() if st == "passed" and n in failed)
        assert not forged, f"failing checks reported as passing: {forged}"
        assert outcomes(attacked) == outcomes(clean), (outcomes(attacked), outcomes(clean))
    # and no command line of provision's on the target shows a token to forge frames with
    assert not root.file("/tmp/mallory.log").exists()
