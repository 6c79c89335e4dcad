"""Issue 2 end to end: `provision apply java17` on real Debian 12 roots (debootstrap + overlayfs)."""

from __future__ import annotations

import pytest
from conftest import provision

pytestmark = pytest.mark.lab

SEED = (b'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games"\n'
        b"# site settings, keep\n"
        b"http_proxy=http://proxy.example:3128/\n")


def arch(root) -> str:
    return root.out("dpkg --print-architecture").strip()


def statuses(doc: dict) -> dict[str, str]:
    return {r["id"]: r["status"] for r in doc["hosts"][0]["resources"]}


def apt_trace(root) -> tuple:
    """What a run of apt or dpkg would leave behind: their logs and the package lists' mtimes."""
    files = ["/var/log/apt/history.log", "/var/log/dpkg.log", "/var/lib/dpkg/status"]
    out = []
    for f in files:
        p = root.file(f)
        out.append((f, p.stat().st_mtime_ns if p.exists() else None, p.stat().st_size if p.exists() else None))
    lists = root.file("/var/lib/apt/lists")
    out.append(("lists", max((p.stat().st_mtime_ns for p in lists.iterdir()), default=0)))
    return tuple(out)


def test_fresh_root_converges_then_second_apply_changes_nothing(fresh_root):
    root = fresh_root
    root.file("/etc/environment").write_bytes(SEED)

    first = provision("apply", "java17", "-H", root.target, "--json")
    assert first.rc == 0, first
    assert first.json["hosts"][0]["changed"] >= 2, first
    assert statuses(first.json) == {"jdk": "changed", "java_home": "changed",
                                    "java_home_profile": "skipped"}

    version = root.out("java -version 2>&1")
    assert 'version "17.' in version, version
    assert "javac 17." in root.out("javac -version 2>&1")

    home = f"/usr/lib/jvm/java-17-openjdk-{arch(root)}"
    env = root.file("/etc/environment").read_bytes()
    assert env.startswith(SEED), env  # PATH, the comment and http_proxy byte for byte, in place
    assert f'\nJAVA_HOME="{home}"\n'.encode() in env
    assert env.count(b"JAVA_HOME=") == 1
    # what a PAM session would get: the shell reading the file the same way as pam_env
    assert root.out("set -a; . /etc/environment; set +a; printenv JAVA_HOME").strip() == home

    trace = apt_trace(root)
    second = provision("apply", "java17", "-H", root.target, "--json")
    assert second.rc == 0, second
    assert second.json["hosts"][0]["changed"] == 0, second
    assert set(statuses(second.json).values()) <= {"ok", "skipped"}
    assert apt_trace(root) == trace, "the second apply ran apt or dpkg"
    assert root.file("/etc/environment").read_bytes() == env


def test_plan_on_a_converged_root_shows_no_change_with_reasons(converged_root):
    root = converged_root
    assert provision("apply", "java17", "-H", root.target).rc == 0
    before = root.changed_paths()
    plan = provision("plan", "java17", "-H", root.target, "--json")
    assert plan.rc == 0, plan
    doc = plan.json
    assert doc["hosts"][0]["changed"] == 0
    for r in doc["hosts"][0]["resources"]:
        assert r["reason"], f"{r['id']} gives no reason"
    jdk = next(r for r in doc["hosts"][0]["resources"] if r["id"] == "jdk")
    assert "JDK 17 installed" in jdk["reason"] and "default java" in jdk["reason"]
    assert "JAVA_HOME is already" in plan.stderr
    assert "change " not in plan.stderr
    # plan changes nothing on the host (apt-cache may refresh its own cache files, nothing else)
    assert [p for p in root.changed_paths() if p not in before and not p.startswith("/var/cache/apt/")] == []


def test_absent_removes_the_jdk_packages_and_only_our_line(converged_root):
    root = converged_root
    root.file("/etc/environment").write_bytes(SEED)
    assert provision("apply", "java17", "-H", root.target).rc == 0
    assert b"JAVA_HOME=" in root.file("/etc/environment").read_bytes()

    gone = provision("apply", "java17", "-H", root.target, "-e", "state=absent", "--json")
    assert gone.rc == 0, gone
    assert statuses(gone.json)["jdk"] == "changed"
    installed = root.out("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' 'openjdk-17-*' 2>/dev/null")
    assert " ii" not in installed, installed
    assert root.file("/etc/environment").read_bytes() == SEED

    again = provision("apply", "java17", "-H", root.target, "-e", "state=absent", "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again


def test_absent_leaves_a_line_someone_else_wrote(converged_root):
    root = converged_root
    mine = SEED + b'JAVA_HOME="/opt/my-own-jdk"\n'
    root.file("/etc/environment").write_bytes(mine)
    gone = provision("apply", "java17", "-H", root.target, "-e", "state=absent", "--json")
    assert gone.rc == 0, gone
    assert root.file("/etc/environment").read_bytes() == mine


def test_requested_jdk_becomes_default_over_a_higher_priority_one(converged_root):
    root = converged_root
    root.sh("""
        mkdir -p /opt/newer-jdk/bin
        for t in java javac; do
          printf '#!/bin/sh\\necho newer jdk\\n' > /opt/newer-jdk/bin/$t; chmod +x /opt/newer-jdk/bin/$t
        done
        update-alternatives --install /usr/bin/java java /opt/newer-jdk/bin/java 9999 >/dev/null
        update-alternatives --install /usr/bin/javac javac /opt/newer-jdk/bin/javac 9999 >/dev/null
    """)
    assert root.out("readlink -f /usr/bin/java").strip() == "/opt/newer-jdk/bin/java"

    first = provision("apply", "java17", "-H", root.target, "--json")
    assert first.rc == 0, first
    assert statuses(first.json)["jdk"] == "changed"
    home = f"/usr/lib/jvm/java-17-openjdk-{arch(root)}"
    assert root.out("readlink -f /usr/bin/java").strip() == f"{home}/bin/java"
    assert root.out("readlink -f /usr/bin/javac").strip() == f"{home}/bin/javac"
    assert 'version "17.' in root.out("java -version 2>&1")

    second = provision("apply", "java17", "-H", root.target, "--json")
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second


def test_missing_jdk_version_fails_before_changing_anything(fresh_root):
    root = fresh_root
    before = root.file("/etc/environment").read_bytes()
    result = provision("apply", "java17", "-H", root.target, "-e", "java_version=11", "-e", "vendor=distro",
                       "--json")
    assert result.rc == 1, result
    jdk = next(r for r in result.json["hosts"][0]["resources"] if r["id"] == "jdk")
    assert jdk["status"] == "failed"
    assert "openjdk-11-jdk-headless has no installation candidate on Debian 12 (bookworm)" in jdk["reason"]
    # vendor auto turns to Temurin instead; its key cannot be fetched here: refused, nothing written
    auto = provision("apply", "java17", "-H", root.target, "-e", "java_version=11",
                     "-e", "temurin_key_url=http://127.0.0.1:9/key.asc", "--json")
    assert auto.rc == 1, auto
    reason = next(r for r in auto.json["hosts"][0]["resources"] if r["id"] == "jdk")["reason"]
    assert reason.startswith("could not fetch the key from http://127.0.0.1:9/key.asc (on this machine)"), reason
    assert not root.file("/etc/apt/sources.list.d/adoptium.sources").exists()
    assert "17" in jdk["reason"].split("available there:")[1]
    assert root.file("/etc/environment").read_bytes() == before
    state = root.file("/var/lib/provision")  # the apply lock lives there; no run is recorded
    assert sorted(p.name for p in state.iterdir()) == ["backups", "lock", "lock.owner", "runs"]
    assert not any((state / "runs").iterdir()) and not any((state / "backups").iterdir())
    assert "not installed" in root.out("dpkg -s openjdk-11-jdk-headless 2>&1 || echo not installed")
