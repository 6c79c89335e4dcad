"""Facts parsers: real captured script output (from lab roots) and edge cases, no host."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.facts import (FactRequest, build_script, parse, parse_candidates, parse_os_release,
                             parse_wsl)

DATA = Path(__file__).parent / "data/facts"


def test_converged_debian12_root():
    f = parse((DATA / "debian12-jdk17.txt").read_text())
    assert (f.os.id, f.os.version_id, f.os.codename) == ("debian", "12", "bookworm")
    assert f.os.label == "Debian 12 (bookworm)"
    assert f.arch == "amd64"
    assert f.package("openjdk-17-jdk-headless").installed
    assert not f.package("openjdk-17-jdk").installed
    assert f.package("sudo").installed
    jdk = f.jdks[17]
    assert jdk.home == "/usr/lib/jvm/java-17-openjdk-amd64"
    assert jdk.has_java and jdk.has_javac and jdk.release.startswith("17.")
    names = {a.name for a in jdk.alternatives}
    assert {"java", "javac", "jar"} <= names
    assert all(a.registered and a.current == a.path for a in jdk.alternatives)
    env = f.file("/etc/environment")
    assert env.exists and env.content == b'PATH="/usr/bin:/bin"\n' and env.mode == 0o644
    assert not f.file("/etc/wsl.conf").exists
    removal = f.apt.removals[("openjdk-17-jdk", "openjdk-17-jdk-headless", "openjdk-17-jre",
                              "openjdk-17-jre-headless")]
    assert removal == ["openjdk-17-jdk-headless", "openjdk-17-jre-headless"]
    assert f.apt.lists_mtime and f.apt.lists_mtime <= f.now
    assert f.wsl.version == 0


def test_fresh_debian12_root():
    f = parse((DATA / "debian12-fresh.txt").read_text())
    assert not f.package("openjdk-17-jdk-headless").installed
    assert f.apt.candidates["openjdk-17-jdk-headless"].startswith("17.")
    assert f.jdks[17].home == "" and f.jdks[11].home == ""
    assert f.apt.available_jdks == [17]  # asked because openjdk-11 has no candidate


def test_script_is_one_posix_script_with_each_request():
    s = build_script(FactRequest(packages={"a", "b"}, files={"/etc/x y"}, jdks={21}))
    assert "dpkg-query" in s and "'/etc/x y'" in s and "openjdk-21-jdk-headless" in s
    assert s.rstrip().endswith("exit 0")


@pytest.mark.parametrize("bad", ["a;rm -rf /", "$(x)", "a b"])
def test_package_names_are_never_interpolated_unchecked(bad):
    from provision.errors import FactError

    with pytest.raises(FactError):
        build_script(FactRequest(packages={bad}))


def test_ubuntu_os_release():
    text = """PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian"""
    o = parse_os_release(text.splitlines())
    assert (o.id, o.version_id, o.codename, o.id_like) == ("ubuntu", "24.04", "noble", "debian")
    assert o.label == "Ubuntu 24.04 (noble)"


def test_debian_testing_codename_from_version():
    o = parse_os_release(['ID=debian', 'VERSION="13 (trixie)"'])
    assert o.codename == "trixie"


@pytest.mark.parametrize("kernel,lines,version", [
    ("5.15.167.4-microsoft-standard-WSL2", ["binfmt /proc/sys/fs/binfmt_misc/WSLInterop"], 2),
    ("6.6.36.6-microsoft-standard-WSL2+", [], 2),
    ("4.4.0-19041-Microsoft", ["distro Ubuntu"], 1),
    ("6.1.0-28-amd64", [], 0),
    ("6.1.0-custom", ["binfmt /proc/sys/fs/binfmt_misc/WSLInterop-late", "run-wsl"], 2),
])
def test_wsl_detection(kernel, lines, version):
    assert parse_wsl(lines, kernel, f"Linux version {kernel}").version == version


def test_apt_cache_policy_parsing():
    text = """openjdk-17-jdk:
  Installed: (none)
  Candidate: 17.0.15+6-1~deb12u1
  Version table:
openjdk-99-jdk:
  Installed: (none)
  Candidate: (none)
"""
    assert parse_candidates(text.splitlines()) == {"openjdk-17-jdk": "17.0.15+6-1~deb12u1",
                                                  "openjdk-99-jdk": None}


def test_wsl2_persona_signals_version_and_distro():
    lines = ["binfmt /proc/sys/fs/binfmt_misc/WSLInterop", "init", "sbin-init",
             "wslpath //wsl.localhost/Lab-lab11/", "wslinfo 2.3.26 "]
    w = parse_wsl(lines, "5.15.167.4-microsoft-standard-WSL2", "")
    assert (w.version, w.distro, w.wsl_version, w.wsl_version_source) == (2, "Lab-lab11", "2.3.26", "wslinfo")
    assert w.sbin_init and "/init" in w.signals and not w.container and not w.chroot


def test_wsl_version_from_wsl_exe_utf16le_localized():
    import base64

    text = "WSL 版本： 1.0.3.0\r\n内核版本： 5.15.74.2\r\n"
    raw = base64.b64encode(b"\xff\xfe" + text.encode("utf-16-le")).decode()
    w = parse_wsl(["distro Ubuntu", "wslexe /mnt/c/Windows/System32/wsl.exe", f"wslexe-version {raw}"],
                  "5.15.74.2-microsoft-standard-WSL2", "")
    assert (w.wsl_version, w.wsl_version_source, w.distro) == ("1.0.3.0", "wsl.exe", "Ubuntu")
    assert w.wsl_exe == "/mnt/c/Windows/System32/wsl.exe"


def test_inbox_wsl_without_version_and_a_container_inside_wsl():
    w = parse_wsl(["container docker", "chroot"], "5.15.167.4-microsoft-standard-WSL2", "")
    assert w.version == 2 and w.wsl_version == "" and w.container == "docker" and w.chroot
    assert parse_wsl(["init"], "6.1.0-28-amd64", "").version == 0  # /init alone is not WSL


def test_facts_script_reads_wsl_signals_read_only():
    s = build_script(FactRequest())
    assert "wslinfo --wsl-version" in s and "WSL_UTF8=1" in s and "wslpath -am /" in s
    assert "/.dockerenv" in s and "-x /sbin/init" in s


@pytest.mark.parametrize("wsl, asked", [("", "openjdk-17-jdk-headless"),
                                        ("1", "openjdk-17-jdk-headless systemd-sysv")])
def test_candidates_are_read_only_for_missing_packages_that_may_be_installed(tmp_path, wsl, asked):
    """The packages part of the real script, run by sh with stand-ins for dpkg-query and apt-cache:
    apt-cache policy (slow) is asked only about what a resource could install and is missing."""
    import subprocess

    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "dpkg-query").write_text("#!/bin/sh\nprintf 'openjdk-17-jre-headless\\tii \\t17.0.15\\n"
                                     "openjdk-17-jdk\\trc \\t17.0.15\\n'\n")
    (bin_ / "apt-cache").write_text("#!/bin/sh\necho \"asked: $*\"\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    req = FactRequest(packages={"openjdk-17-jdk-headless", "openjdk-17-jre-headless", "openjdk-17-jdk",
                                "systemd-sysv"},
                      candidates={"openjdk-17-jdk-headless", "openjdk-17-jre-headless"},
                      wsl_candidates={"systemd-sysv"})
    script = build_script(req)
    part = script[script.index("mark packages"):script.index("@@file") if "@@file" in script else None]
    part = part[:part.index("\nexit 0")] if "\nexit 0" in part else part
    text = f"mark() {{ printf '\\n@@%s\\n' \"$*\"; }}\nwsl={wsl!r}\n{part}"
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True,
                         env={"PATH": f"{bin_}:/usr/bin:/bin"}).stdout
    f = parse("@@os-release\nID=debian\n" + out)
    assert f.package("openjdk-17-jre-headless").installed and not f.package("openjdk-17-jdk").installed
    assert f"asked: policy {asked}" in out.split("@@candidates")[1].strip(), out
