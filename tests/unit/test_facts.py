"""Facts: the batched script, its splitting, and each fact's parser, from real output captured on
lab roots and from edge cases; no host.

Regenerate the captures (as root, from a lab base):
``python tests/unit/test_facts.py capture /var/tmp/provision-lab/jdk17-*/rootfs debian12-jdk17.txt``
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fakehost import encode

from provision.errors import FactError
from provision.facts import (
    HOST,
    AptLists,
    Candidate,
    DpkgAudit,
    Facts,
    FileContent,
    PackageState,
    PackageStatus,
    Removal,
    batch,
)
from provision.facts.host import parse_os_release, parse_wsl, wsl_version_from
from provision.facts.packages import needs_reinstall, parse_candidates
from provision.java.resolve import AvailableJdks, JdkInstall, jdk_packages
from provision.packaging import install_facts

DATA = Path(__file__).parent / "data/facts"
JDK17 = jdk_packages(17)
CAPTURED = [HOST, AptLists(), *(PackageState(p) for p in [*JDK17, "sudo", "systemd-sysv"]),
            Candidate("openjdk-17-jdk-headless"), Candidate("openjdk-11-jdk-headless"),
            FileContent("/etc/environment"), FileContent("/etc/wsl.conf"), JdkInstall(17), JdkInstall(11),
            Removal(tuple(sorted(JDK17))), AvailableJdks()]


def captured(name: str) -> dict[object, object]:
    """The facts of a captured run: each part's output, kept readable in the file after a
    ``@@<token>:<n>`` line, framed as the script frames it and parsed by the real parser."""
    token, _, output = (DATA / name).read_text().partition("\n")
    mark = f"@@{token.removeprefix('token ')}:"
    chunks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.split("\n"):
        if line.startswith(mark):
            current = chunks.setdefault(line[len(mark):], [])
        else:
            current.append(line)
    parts = batch.sections(CAPTURED)
    return batch.parse(parts, encode(["\n".join(chunks[str(i)]) for i in range(len(parts))]).encode())


def test_converged_debian12_root():
    f = captured("debian12-jdk17.txt")
    host = f[HOST]
    assert (host.os.id, host.os.version_id, host.os.codename) == ("debian", "12", "bookworm")
    assert host.os.label == "Debian 12 (bookworm)" and host.arch == "amd64" and host.wsl.version == 0
    assert f[PackageState("openjdk-17-jdk-headless")].installed
    assert not f[PackageState("openjdk-17-jdk")].installed and f[PackageState("openjdk-17-jdk")].status == "un"
    assert f[PackageState("sudo")].installed
    jdk = f[JdkInstall(17)]
    assert jdk.home == "/usr/lib/jvm/java-17-openjdk-amd64"
    assert jdk.has_java and jdk.has_javac and jdk.release.startswith("17.")
    assert {"java", "javac", "jar"} <= {a.name for a in jdk.alternatives}
    assert all(a.registered and a.current == a.path for a in jdk.alternatives)
    assert f[JdkInstall(11)].home == ""
    env = f[FileContent("/etc/environment")]
    assert env.exists and env.mode == 0o644 and env.owner == "root"
    assert not f[FileContent("/etc/wsl.conf")].exists
    removal = f[Removal(tuple(sorted(JDK17)))]
    assert removal.removes == ["openjdk-17-jdk-headless", "openjdk-17-jre-headless"]
    assert "java-common" in removal.orphans and "sudo" not in removal.orphans
    lists = f[AptLists()]
    assert lists.mtime and lists.age is not None and 0 <= lists.age
    assert f[Candidate("openjdk-17-jdk-headless")].startswith("17.")
    assert f[Candidate("openjdk-11-jdk-headless")] is None  # not in bookworm: apt-cache prints nothing
    assert f[AvailableJdks()] == [17]


def test_fresh_debian12_root():
    f = captured("debian12-fresh.txt")
    assert not f[PackageState("openjdk-17-jdk-headless")].installed
    assert f[JdkInstall(17)].home == ""
    assert f[Removal(tuple(sorted(JDK17)))].removes == []  # nothing installed: nothing simulated
    assert f[Candidate("openjdk-17-jdk-headless")].startswith("17.")


def test_one_script_with_every_part_and_one_command_per_class():
    script = batch.script(batch.sections([HOST, PackageState("a"), PackageState("b"),
                                          FileContent("/etc/x y"), JdkInstall(21)]))
    assert script.count("dpkg-query -W -f=") == 1 and "dpkg-query -W -f='${Package}" in script
    assert "'/etc/x y'" in script and "openjdk-21-jdk-headless" in script
    assert script.rstrip().endswith("exit 0") and script.count(batch.PART_CLOSE) == 4
    assert "@@" not in script.replace(batch.MARK.decode(), "")  # no marker a part's output could forge


def test_output_cannot_forge_a_marker_and_a_cut_script_is_an_error():
    parts = batch.sections([FileContent("/a")])
    out = encode(["644 0 0 root root regular file\nQUBAYmVlZjow\n"]).encode()
    assert batch.parse(parts, out)[FileContent("/a")].content == b"A@@beef:0"
    with pytest.raises(FactError, match="did not run the facts script to its end"):
        batch.parse(parts, encode(["644 0 0 root root regular file"], ended=False).encode())
    with pytest.raises(FactError, match="did not run the facts script to its end"):
        batch.parse(parts, b"")


@pytest.mark.parametrize("bad", ["a;rm -rf /", "$(x)", "a b"])
def test_package_names_are_never_interpolated_unchecked(bad):
    with pytest.raises(FactError):
        batch.sections([PackageState(bad)])


def test_file_paths_must_be_absolute():
    with pytest.raises(FactError):
        FileContent("etc/environment")


def test_candidates_are_asked_only_for_packages_found_missing():
    known = Facts()
    # first round: states unknown, so only they and the (cheap) audit are read, no lists' find
    assert install_facts(["a", "b"], known) == [PackageState("a"), PackageState("b"), DpkgAudit()]
    known.set(PackageState("a"), PackageStatus("a", "ii", "1"))
    known.set(PackageState("b"), PackageStatus("b", "rc", "1"))
    assert install_facts(["a", "b"], known) == [PackageState("a"), PackageState("b"), DpkgAudit(), AptLists(),
                                                 Candidate("b")]


def test_a_host_with_every_package_installed_reads_nothing_more():
    """The daily no-op: the lists' age and candidates are only read when something is missing;
    dpkg's audit always (a dependency of an installed package may be the unfinished one)."""
    known = Facts()
    for p in ("a", "b"):
        known.set(PackageState(p), PackageStatus(p, "ii", "1"))
    assert install_facts(["a", "b"], known) == [PackageState("a"), PackageState("b"), DpkgAudit()]
    known.set(PackageState("b"), PackageStatus("b", "iU", "1"))  # unpacked: lists and candidate
    assert install_facts(["a", "b"], known)[2:] == [DpkgAudit(), AptLists(), Candidate("b")]


def test_invalidation_forgets_only_that_topic():
    from provision.facts import APT_LISTS, DPKG

    f = Facts()
    f.set(PackageState("a"), PackageStatus("a", "ii"))
    f.set(Candidate("a"), "1")
    f.set(FileContent("/x"), None)  # type: ignore[arg-type]
    f.invalidate(APT_LISTS)
    assert PackageState("a") in f and Candidate("a") not in f and FileContent("/x") in f
    f.invalidate(DPKG)
    assert PackageState("a") not in f and FileContent("/x") in f


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
    assert wsl_version_from(b"2.3.26") == "2.3.26"


def test_inbox_wsl_without_version_and_a_container_inside_wsl():
    w = parse_wsl(["container docker", "chroot"], "5.15.167.4-microsoft-standard-WSL2", "")
    assert w.version == 2 and w.wsl_version == "" and w.container == "docker" and w.chroot
    assert parse_wsl(["init"], "6.1.0-28-amd64", "").version == 0  # /init alone is not WSL


def test_host_fact_reads_wsl_signals_read_only():
    s = HOST.command()
    assert "wslinfo --wsl-version" in s and "WSL_UTF8=1" in s and "wslpath -am /" in s
    assert "/.dockerenv" in s and "-x /sbin/init" in s


# How the chroot signal was read before test's -ef did it (a stat run): the reference.
_CHROOT_BY_STAT = """r=$(stat -Lc %d:%i /proc/1/root / 2>/dev/null)
[ "${r%%[!0-9:]*}" != "${r##*[!0-9:]}" ] && echo "wsl chroot"; true"""


@pytest.mark.parametrize("shell", [s for s in ("/bin/sh", "/bin/bash") if Path(s).exists()])
def test_host_fact_reads_a_chroot_as_stat_did(shell: str) -> None:
    """The chroot signal (PID 1's root is not ours) comes from the shell's own test -ef, and says
    what comparing stat's device:inode lines said, here and as a user who may not stat
    /proc/1/root (then neither says chroot)."""
    import os
    import subprocess

    def says(script: str, *pre: str) -> bool:
        out = subprocess.run([*pre, shell, "-c", script], capture_output=True, text=True).stdout
        return "wsl chroot" in out.splitlines()

    assert says(HOST.command()) == says(_CHROOT_BY_STAT)
    assert "stat -Lc" not in HOST.command()
    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists() or not Path("/bin").is_symlink():
        return
    nobody = ("/usr/sbin/runuser", "-u", "nobody", "--")
    assert says(HOST.command(), *nobody) == says(_CHROOT_BY_STAT, *nobody)
    # in a chroot (a root of the machine's /usr, in a PID namespace whose PID 1 stays outside it):
    # both say so
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        setup = ('r=$1; shift; mount --make-rprivate / && mkdir -p "$r/usr" "$r/proc" "$r/dev" &&'
                 ' mount --bind /usr "$r/usr" && mount --bind /proc "$r/proc" && mount --bind /dev "$r/dev" &&'
                 ' ln -sfn usr/bin "$r/bin" && ln -sfn usr/lib "$r/lib" && ln -sfn usr/lib64 "$r/lib64" &&'
                 ' chroot "$r" "$@"; exit $?')  # not exec'd: PID 1 stays outside the chroot
        into = ("/usr/bin/unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", setup, "sh", root)
        assert says(HOST.command(), *into) and says(_CHROOT_BY_STAT, *into)


def capture(root: str, name: str) -> None:
    """Run the real facts script in a root (read-only) and keep its output as test data."""
    from provision.connections.chroot import ChrootConnection

    parts, token = batch.sections(CAPTURED), "c0ffee00"
    result = ChrootConnection(root).run(["sh", "-c", batch.script(parts)], timeout=120)
    chunks = batch.split(result.stdout, len(parts))
    (DATA / name).write_text(f"token {token}\n" + "".join(f"\n@@{token}:{i}\n" + "\n".join(lines)
                                                          for i, lines in enumerate(chunks)) + f"\n@@{token}:end\n")


if __name__ == "__main__" and sys.argv[1:2] == ["capture"]:
    capture(sys.argv[2], sys.argv[3])


def test_dpkg_query_output_a_hostile_database_could_give():
    """Each asked package gets only its own exact line: a garbled line (a field too many, no
    name) is no state, another name or a name with odd bytes or a space never stands for an
    asked one, an error flag or a half-done state is not "installed", and a line's bytes are
    kept as they are (sanitising is the report's job), from tests/unit/data/facts."""
    raw = (DATA / "dpkg-query-hostile.txt").read_bytes().decode("utf-8", "surrogateescape")
    lines = [ln for ln in raw.split("\n") if not ln.startswith("#")]
    asked = ["openjdk-17-jdk-headless", "half", "reinst", "extra-field", "nostatus", "spaces", "version-bytes",
             "removed", "absent"]
    [section] = PackageState.sections([PackageState(p) for p in asked])
    got = {f.name: v for f, v in section.parse(lines).items()}  # type: ignore[attr-defined]
    assert sorted(got) == sorted(asked)
    status = {name: (v.status, v.installed, v.half_installed) for name, v in got.items()}
    assert status == {
        "openjdk-17-jdk-headless": ("ii", True, False),
        "half": ("iF", False, True),
        "reinst": ("iiR", False, True),
        "extra-field": ("un", False, False),
        "nostatus": ("un", False, False),
        "spaces": ("un", False, False),
        "version-bytes": ("ii", True, False),
        "removed": ("rc", False, False),
        "absent": ("un", False, False),
    }
    assert got["openjdk-17-jdk-headless"].version == "17.0.13+11-2~deb12u1"
    assert got["version-bytes"].version == "1.0\x1b[31m\udcff"


def _states(lines: list[str], *names: str) -> dict[str, str]:
    [section] = PackageState.sections([PackageState(n) for n in names])
    return {f.name: v.status for f, v in section.parse(lines).items()}  # type: ignore[attr-defined]


def test_a_foreign_architecture_row_never_hides_the_native_package():
    """With i386 added (dpkg's arch file names amd64 first), dpkg-query prints a row per
    architecture; the native one (or an ``all`` one) is the package's state, whatever the order."""
    rows = ["openjdk-17-jdk-headless\tiF \t17.0.13\tamd64", "openjdk-17-jdk-headless\tii \t17.0.13\ti386",
            "libc6\tii \t2.36\tamd64", "libc6\trc \t2.36\ti386",
            "java-common\tii \t0.74\tall",
            "only-foreign\tii \t1\ti386", "only-foreign\trc \t1\tarmhf"]
    names = ("openjdk-17-jdk-headless", "libc6", "java-common", "only-foreign")
    want = {"openjdk-17-jdk-headless": "iF", "libc6": "ii", "java-common": "ii", "only-foreign": "un"}
    assert _states(["native\tamd64", *rows], *names) == want
    assert _states(["native\tamd64", *reversed(rows)], *names) == want
    # a single-architecture host (no arch file): one row each, taken as it is
    assert _states(["native\t", "libc6\tiU \t2.36\tamd64"], "libc6") == {"libc6": "iU"}
    # an architecture field that is no architecture name: the row is not trusted
    assert _states(["native\tamd64", "libc6\tii \t2.36\tamd 64"], "libc6") == {"libc6": "un"}


def test_the_package_query_names_the_native_architecture_without_starting_a_program():
    [section] = PackageState.sections([PackageState("a")])
    assert "read -r na < /var/lib/dpkg/arch" in section.command and "--print-architecture" not in section.command
    assert "${Architecture}" in section.command


def test_dpkg_audit_reads_unfinished_packages_and_pending_updates():
    lines = ["updates 2", "unfinished\tlibc-bin\ttriggers-pending\tok",
             "unfinished\tca-certificates-java\thalf-configured\tok", "unfinished\tjava-common\tinstalled\tok",
             "unfinished\told\tconfig-files\tok", "unfinished\tbroken\tinstalled\treinstreq",
             "unfinished\tlibc6:amd64\tunpacked\tok"]
    assert DpkgAudit().parse(lines) == ["libc-bin is triggers-pending", "ca-certificates-java is half-configured",
                                        "broken needs to be reinstalled", "libc6:amd64 is unpacked",
                                        "dpkg was interrupted (2 pending update file(s))"]
    assert DpkgAudit().parse([]) == []
    many = DpkgAudit().parse([f"unfinished\tp{i}\tunpacked\tok" for i in range(30)])
    assert len(many) == 20 and many[-1] == "and 11 more"


def test_dpkg_audit_on_a_consistent_host_starts_only_grep():
    """The daily no-op pays one ``grep -q``: dpkg-query over every package runs only when the
    status file or the updates directory shows an unfinished run."""
    cmd = DpkgAudit().command()
    assert "dpkg --audit" not in cmd
    head, _, rest = cmd.partition("then")
    assert "grep -Eq" in head and "dpkg-query" not in head and "dpkg-query" in rest
    pattern = re.search(r"grep -Eq '([^']+)'", head).group(1)  # type: ignore[union-attr]
    hits = [s for s in ("install ok half-configured", "install ok unpacked", "install ok triggers-pending",
                        "install ok triggers-awaited", "install ok half-installed", "install reinstreq installed",
                        "hold ok half-configured", "install ok installed", "deinstall ok config-files",
                        "purge ok not-installed") if re.match(pattern, f"Status: {s}")]
    assert hits == ["install ok half-configured", "install ok unpacked", "install ok triggers-pending",
                    "install ok triggers-awaited", "install ok half-installed", "install reinstreq installed",
                    "hold ok half-configured"]


def test_a_package_killed_in_its_unpack_is_one_only_a_reinstall_finishes():
    """``iUR`` (unpacked, reinstall required: what a kill during the unpack of libfreetype6 left in
    the lab) is refused by ``dpkg --configure -a``; the audit names it for a reinstall, and only
    valid package names are ever handed to apt-get."""
    audit = DpkgAudit().parse(["unfinished\tlibfreetype6:amd64\tunpacked\treinstreq",
                               "unfinished\tlibc-bin\ttriggers-pending\tok", "unfinished\tfoo\thalf-installed\tok",
                               "unfinished\t-o=APT::x\thalf-installed\tok"])
    assert audit[0] == "libfreetype6:amd64 needs to be reinstalled"
    assert needs_reinstall(audit) == ["libfreetype6:amd64", "foo"]
