"""provision export cloud-init without a host: --facts, every built-in playbook's user data, the
first-boot edit of /etc/environment run by the real sh/awk (from data), refusals (exit 2). The
real cloud-init checks these documents in tests/e2e/test_cloudinit.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import provision

from provision import cloudinit
from provision.errors import UsageError
from provision.formats import pamenv
from provision.paths import builtin_playbooks
from provision.resources import env_file

DATA = yaml.safe_load((Path(__file__).parent / "data/cloudinit.yml").read_text())
HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def b(text: str) -> bytes:
    return text.encode().decode("unicode_escape").encode("latin-1")


@pytest.mark.parametrize("case", DATA["facts"], ids=lambda c: c["text"])
def test_facts(case):
    if "error" in case:
        with pytest.raises(UsageError, match=case["error"].replace("(", r"\(").replace(")", r"\)")):
            cloudinit.parse_facts(case["text"])
        return
    got = cloudinit.parse_facts(case["text"])
    assert (got.os, got.arch, got.wsl) == (case["os"], case["arch"], case["wsl"])


def export(*args: str) -> tuple[str, dict]:
    r = provision("export", "cloud-init", *args)
    assert r.rc == 0, r
    return r.stdout, yaml.safe_load(r.stdout)


@pytest.mark.parametrize("book", sorted(builtin_playbooks()))
@pytest.mark.parametrize("os_", ["ubuntu-24.04", "debian-12"])
@pytest.mark.parametrize("wsl", [0, 2])
def test_every_builtin_playbook_exports(book, os_, wsl):
    if book == "java-multi":  # toolchains.xml is edited in place on the host: refused, with the reason
        r = provision("export", "cloud-init", book, "--facts", f"os={os_},wsl={wsl}")
        assert r.rc == 2 and "cannot be exported to cloud-init" in r.stderr, r
        return
    text, doc = export(book, "--facts", f"os={os_},wsl={wsl}")
    doc = doc or {}
    assert text.startswith("#cloud-config\n") and "from playbook " + book in text
    java = book in ("java17", "workstation")
    assert doc.get("packages", []) == (["openjdk-17-jdk-headless"] if java else [])
    assert doc.get("package_update", False) == java
    files = {f["path"]: f for f in doc.get("write_files", [])}
    assert ("/etc/profile.d/jdk.sh" in files) == (java and wsl == 2)  # profile_d: auto (on WSL)
    if java:
        assert f'export JAVA_HOME="{HOME}"' in files["/etc/profile.d/jdk.sh"]["content"] if wsl else True
        assert 'APT::Install-Recommends "false";' in files[cloudinit.NO_RECOMMENDS_CONF]["content"]
        assert doc["runcmd"][0] == ["rm", "-f", cloudinit.NO_RECOMMENDS_CONF]  # after the packages
        edit = [c for c in doc["runcmd"] if "provision-env-file" in c]
        assert edit and edit[0][-3:] == ["/etc/environment", "JAVA_HOME", HOME]
    if book == "wsl-systemd":  # a no-op on WSL2 (cloud-init runs under systemd), skipped elsewhere
        assert doc == {} and text.endswith("\n{}\n"), doc
        assert "wsl_conf /etc/wsl.conf: nothing to do" in text


def test_recommends_follow_the_playbook():
    _, doc = export("java17", "--facts", "os=debian-12", "-e", "headless=false")
    assert doc["packages"] == ["openjdk-17-jdk"]
    assert not any(f["path"] == cloudinit.NO_RECOMMENDS_CONF for f in doc.get("write_files", []))


@pytest.mark.parametrize("args, named", [
    (["java17", "-e", "state=absent"], "OpenJDK cannot be exported to cloud-init: state: absent"),
    (["java17", "--facts", "os=debian-13"], "Debian 13 (trixie) has no OpenJDK 17 packages"),
    (["wsl-systemd", "--facts", "os=ubuntu-24.04,wsl=1"], "WSL1 has no systemd"),
    (["workstation", "--facts", "os=ubuntu-24.04,wsl=2", "-e", "wsl_systemd=false"], "boot.systemd=false"),
])
def test_what_cannot_be_exported_is_refused(args, named, tmp_path):
    if "--facts" not in args:
        args = [*args, "--facts", "os=debian-12"]
    out = tmp_path / "user-data"
    r = provision("export", "cloud-init", *args, "-o", str(out))
    assert r.rc == 2 and named in r.stderr, r
    assert r.stderr.count("\n") == 1 and "provision: error: playbooks/" in r.stderr  # one line, file:line
    assert not out.exists()


def test_wsl_instance_names_the_file(tmp_path):
    r = provision("export", "cloud-init", "--facts", "os=ubuntu-24.04", "--wsl-instance", "Ubuntu-24.04",
                  "-o", str(tmp_path))
    assert r.rc == 0, r
    doc = yaml.safe_load((tmp_path / "Ubuntu-24.04.user-data").read_text())
    assert "/etc/profile.d/jdk.sh" in {f["path"] for f in doc["write_files"]}  # wsl=2 implied
    bad = provision("export", "cloud-init", "--facts", "os=ubuntu-24.04", "--wsl-instance", "../x",
                    "-o", str(tmp_path))
    assert bad.rc == 2 and "a WSL instance name is" in bad.stderr, bad
    wsl1 = provision("export", "cloud-init", "--facts", "os=ubuntu-24.04,wsl=1", "--wsl-instance", "U")
    assert wsl1.rc == 2 and "WSL2 distros only" in wsl1.stderr, wsl1


def run_edit(tmp_path: Path, before: bytes | None, wanted: dict[str, str]) -> bytes:
    path = tmp_path / "environment"
    if before is not None:
        path.write_bytes(before)
    args = [part for kv in wanted.items() for part in kv]
    subprocess.run(["sh", "-c", env_file._EDIT, "edit", str(path), *args], check=True)
    assert not list(tmp_path.glob("environment.provision.*")), "temporary file left behind"
    return path.read_bytes()


@pytest.mark.parametrize("case", DATA["env_edit"], ids=lambda c: c["name"])
def test_first_boot_edit_reads_like_apply(case, tmp_path):
    before = None if case["input"] is None else b(case["input"])
    wanted = case["set"]
    after = run_edit(tmp_path, before, wanted)
    applied, _ = pamenv.set_keys(before or b"", wanted)
    assert pamenv.effective(after) == pamenv.effective(applied)
    assert all(pamenv.effective(after)[k] == v for k, v in wanted.items())
    if case["same_as_apply"]:
        assert after == applied
    assert pamenv.set_keys(after, wanted)[0] == after  # a later provision apply changes nothing
    assert run_edit(tmp_path, after, wanted) == after  # and neither does a second boot's edit
    lines = (before or b"").splitlines()
    foreign = [ln for i, ln in enumerate(lines) if ln != pamenv.MARKER and (i == 0 or lines[i - 1] != pamenv.MARKER)]
    assert [ln for ln in after.splitlines() if ln in foreign] == foreign  # every foreign line, in order
