"""An interrupted dpkg run, left on purpose in each state a killed install leaves (with dpkg's own
tools, or a dpkg killed at a chosen moment by a maintainer script), is finished by the next apply,
also when the JDK itself is installed ("ii") and only a package beside it is unfinished; the no-op
after it changes nothing. The recovery runs nothing a local user planted, and dpkg's output
reaches the terminal escaped."""

from __future__ import annotations

import lab
import pytest
from conftest import provision

pytestmark = pytest.mark.lab

JDK = "openjdk-17-jdk-headless"


def status(root: lab.Root, pkg: str) -> str:
    return root.out(f"dpkg-query -W -f='${{db:Status-Abbrev}}' {pkg}").strip()


def audit(root: lab.Root) -> str:
    return root.out("dpkg --audit").strip()


def unpack(root: lab.Root, pkg: str) -> None:
    """``pkg`` unpacked again from apt's cache and not configured: dpkg's "unpacked" (iU)."""
    root.sh(f"dpkg --unpack /var/cache/apt/archives/{pkg}_*.deb >/dev/null")


def half_configure(root: lab.Root, pkg: str) -> None:
    """``pkg`` unpacked again, then its configuration made to fail once: "half-configured" (iF)."""
    unpack(root, pkg)
    root.sh(f"""set -e
p=/var/lib/dpkg/info/{pkg}.postinst
mv "$p" "$p.real"; printf '#!/bin/sh\\nexit 1\\n' > "$p"; chmod 755 "$p"
dpkg --configure {pkg} >/dev/null 2>&1 || true
mv "$p.real" "$p"
""")


def trigger(root: lab.Root) -> None:
    """libc-bin's ldconfig trigger activated and not run: "triggers-pending" (it)."""
    root.sh("dpkg-trigger --no-await ldconfig")


def build_probe(root: lab.Root, postinst: str) -> None:
    """/root/probe.deb: a package of our own (provision-probe, arch all) with this postinst."""
    root.sh(f"""set -e
mkdir -p /root/probe/DEBIAN
printf 'Package: provision-probe\\nVersion: 1\\nArchitecture: all\\n' > /root/probe/DEBIAN/control
printf 'Maintainer: lab <lab@localhost>\\nDescription: probe\\n' >> /root/probe/DEBIAN/control
cat > /root/probe/DEBIAN/postinst <<'EOF'
{postinst}
EOF
chmod 755 /root/probe/DEBIAN/postinst
dpkg-deb --root-owner-group -b /root/probe /root/probe.deb >/dev/null
""")


def kill_in_configure(root: lab.Root) -> None:
    """dpkg SIGKILLed by the postinst of the package it configures: it dies half-configured with
    its status change only in the updates journal (/var/lib/dpkg/updates), as a kill leaves it."""
    build_probe(root, 'if [ -e /root/kill-dpkg ]; then rm -f /root/kill-dpkg; kill -9 "$PPID"; sleep 1; fi\nexit 0')
    root.sh("touch /root/kill-dpkg; dpkg -i /root/probe.deb >/dev/null 2>&1; true")


def kill_in_unpack(root: lab.Root) -> None:
    """dpkg SIGKILLed while it unpacks libfreetype6 (a JDK dependency) again: a copy of the cached
    .deb whose preinst kills it; the package is left flagged reinstall-required, which ``dpkg
    --configure -a`` refuses (exit 1): only unpacking it again finishes it."""
    root.sh("""set -e
dpkg-deb -R /var/cache/apt/archives/libfreetype6_*.deb /root/ft
printf '#!/bin/sh\\nkill -9 "$PPID"\\nsleep 1\\n' > /root/ft/DEBIAN/preinst; chmod 755 /root/ft/DEBIAN/preinst
dpkg-deb --root-owner-group -b /root/ft /root/ft.deb >/dev/null
dpkg --unpack /root/ft.deb >/dev/null 2>&1 || true
""")


# state: (how it is left, the package left unfinished, its state then, what the plan says)
STATES = {
    "dependency-half-configured": (lambda r: half_configure(r, "ca-certificates-java"), "ca-certificates-java",
                                   "iF", "ca-certificates-java is half-configured"),
    "dependency-unpacked": (lambda r: unpack(r, "java-common"), "java-common", "iU", "java-common is unpacked"),
    "triggers-pending": (trigger, "libc-bin", "it", "libc-bin is triggers-pending"),
    "killed-in-configure": (kill_in_configure, "provision-probe", "iF", "pending update file(s)"),
    "killed-in-unpack": (kill_in_unpack, "libfreetype6", "R", "libfreetype6:amd64 needs to be reinstalled"),
}


@pytest.mark.parametrize("state", list(STATES))
def test_an_unfinished_dpkg_run_beside_an_installed_jdk_is_finished(converged_root, state):
    leave, pkg, left, said = STATES[state]
    leave(converged_root)
    assert status(converged_root, JDK) == "ii"  # the JDK itself looks installed
    assert left in status(converged_root, pkg) and audit(converged_root), (status(converged_root, pkg),
                                                                           audit(converged_root))
    if state == "killed-in-configure":
        assert converged_root.out("ls /var/lib/dpkg/updates").split(), "the kill left no pending update"
    again = provision("apply", "java17", "-H", converged_root.target, "--json")
    assert again.rc == 0, again
    [jdk] = [r for r in again.json["hosts"][0]["resources"] if r["type"] == "jdk"]
    assert "dpkg --configure -a" in [c["summary"] for c in jdk["changes"]], jdk
    assert any(said in c["reason"] for c in jdk["changes"]), jdk
    assert audit(converged_root) == ""
    assert status(converged_root, pkg) == "ii"
    assert converged_root.out("ls /var/lib/dpkg/updates").strip() == ""
    done = provision("apply", "java17", "-H", converged_root.target, "--json")
    assert done.rc == 0 and done.json["hosts"][0]["changed"] == 0, done


def test_an_unpacked_jdk_with_its_own_dependency_half_configured_is_finished(converged_root):
    """The JDK missing too: one dpkg --configure -a, then the install has nothing left to do."""
    half_configure(converged_root, "ca-certificates-java")
    unpack(converged_root, JDK)
    assert status(converged_root, JDK) == "iU"
    again = provision("apply", "java17", "-H", converged_root.target, "--json")
    assert again.rc == 0, again
    assert audit(converged_root) == "" and status(converged_root, JDK) == "ii"
    done = provision("apply", "java17", "-H", converged_root.target, "--json")
    assert done.rc == 0 and done.json["hosts"][0]["changed"] == 0, done


# --------------------------------------------------------------------------- attacker angle

def test_a_local_user_cannot_plant_a_dpkg_journal_or_state(converged_root):
    """What the recovery reads and runs (dpkg's status, its updates journal, the maintainer
    scripts, the trigger files) is root's only: a local user can neither add nor change any."""
    converged_root.sh("useradd -m mallory")
    for attempt in ("touch /var/lib/dpkg/updates/0000", "echo x >> /var/lib/dpkg/status",
                    "touch /var/lib/dpkg/info/x.postinst", "echo x >> /var/lib/dpkg/info/libc-bin.postinst",
                    "touch /var/lib/dpkg/triggers/x", "echo x >> /var/lib/dpkg/triggers/File",
                    "ln -s /tmp/x /var/lib/dpkg/updates/0001", "touch /var/cache/apt/archives/x.deb"):
        r = converged_root.sh(f"runuser -u mallory -- sh -c '{attempt}'", check=False)
        assert r.returncode != 0, attempt
    assert converged_root.out("ls -A /var/lib/dpkg/updates").strip() == ""


def test_the_recovery_runs_no_program_a_staff_user_planted(converged_root):
    """An admin made /usr/local/sbin writable by group staff (Debian's old default for /usr/local);
    a staff member plants an ``ldconfig`` there, which root's PATH names before /sbin. The
    recovery's dpkg (and the libc-bin trigger it runs) must use the system's ldconfig."""
    converged_root.sh("""set -e
useradd -m -G staff mallory
chgrp staff /usr/local/sbin; chmod 2775 /usr/local/sbin
runuser -u mallory -- sh -c 'printf "#!/bin/sh\\ntouch /tmp/pwned\\nexec /sbin/ldconfig \\"\\$@\\"\\n" \
  > /usr/local/sbin/ldconfig; chmod 755 /usr/local/sbin/ldconfig'
""")
    unpack(converged_root, JDK)  # the JDK missing: the code before the fix recovered this case too
    trigger(converged_root)
    again = provision("apply", "java17", "-H", converged_root.target, "--json")
    assert again.rc == 0, again
    assert audit(converged_root) == "" and status(converged_root, "libc-bin") == "ii"
    assert not converged_root.file("/tmp/pwned").exists()


HOSTILE = r"printf 'done\033]0;owned\007\033[2J\033[1A\342\200\256evil\n'"


def test_dpkg_output_relayed_to_the_user_is_escaped(converged_root):
    """A maintainer script's output (escape sequences: a window title, clear screen, cursor up,
    a bidi override) shown while dpkg --configure -a runs (-v) and in the error when it fails."""
    build_probe(converged_root, f'{HOSTILE}\n[ -e /root/fail ] && exit 1\nexit 0')
    converged_root.sh("touch /root/fail; dpkg -i /root/probe.deb >/dev/null 2>&1; true")
    assert status(converged_root, "provision-probe") == "iF"
    failed = provision("apply", "java17", "-v", "-H", converged_root.target)
    assert failed.rc == 1, failed
    assert "dpkg --configure -a failed (exit 1)" in failed.stderr, failed
    assert "provision-probe is half-configured" in failed.stderr, failed
    for text in (failed.stderr, failed.stdout):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
    assert "\\x1b]0;owned\\x07" in failed.stderr and "\\u202eevil" in failed.stderr, failed.stderr
    converged_root.sh("rm /root/fail")
    shown = provision("apply", "java17", "-v", "-H", converged_root.target, "--json")
    assert shown.rc == 0, shown
    assert "\x1b" not in shown.stderr and "\\x1b[2J" in shown.stderr, shown.stderr
    assert audit(converged_root) == ""


def test_a_foreign_architecture_row_does_not_hide_the_installed_jdk(converged_root):
    """i386 added and an i386 openjdk-17-jdk-headless (same version, Multi-Arch: same) installed
    and removed: dpkg-query now prints its ``rc`` row after the native ``ii`` one. The JDK is
    still installed, so the apply is a no-op (it was planned as an install every time)."""
    converged_root.sh(f"""set -e
v=$(dpkg-query -W -f='${{Version}}' {JDK})
mkdir -p /root/i386/DEBIAN /root/i386/etc
printf 'Package: {JDK}\\nVersion: %s\\nArchitecture: i386\\nMulti-Arch: same\\n' "$v" > /root/i386/DEBIAN/control
printf 'Maintainer: lab <lab@localhost>\\nDescription: probe\\n' >> /root/i386/DEBIAN/control
echo x > /root/i386/etc/provision-probe-i386.conf; echo /etc/provision-probe-i386.conf > /root/i386/DEBIAN/conffiles
dpkg-deb --root-owner-group -b /root/i386 /root/i386.deb >/dev/null
dpkg --add-architecture i386
dpkg -i /root/i386.deb >/dev/null
dpkg -r {JDK}:i386 >/dev/null
""")
    rows = converged_root.out(f"dpkg-query -W -f='${{Architecture}} ${{db:Status-Abbrev}}\\n' {JDK}").split("\n")
    assert [r.strip() for r in rows if r.strip()] == ["amd64 ii", "i386 rc"]
    again = provision("apply", "java17", "-H", converged_root.target, "--json")
    assert again.rc == 0, again
    [jdk] = [r for r in again.json["hosts"][0]["resources"] if r["type"] == "jdk"]
    assert jdk["status"] == "ok" and jdk["changes"] == [] and "JDK 17 installed" in jdk["reason"], jdk
