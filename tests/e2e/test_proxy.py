"""Issue 20: one proxy spec reaches apt, the login environment, the JVM and Maven, proven by a real
proxy from Debian's archive (tinyproxy, with a login, on a loopback address) inside lab Debian 12
and Debian 13 roots: after apply, ``apt-get update`` against the lab's loopback repository and a
``java`` HTTP client go through it, as the proxy's own log shows; a second apply changes nothing;
``state: absent`` gives every file back byte for byte. The password never reaches plan, apply's
output or the journal, and a link a user planted where apt's drop-in goes is refused."""

from __future__ import annotations

import os
import random
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest
import yaml
from conftest import provision
from lab import aptrepo

pytestmark = pytest.mark.lab

SECRET = "Hunter2x-" + "".join(random.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(8))
USER = "alice"
APT_CONF = "/etc/apt/apt.conf.d/80provision-proxy"
AUTH = "/etc/apt/auth.conf.d/80provision-proxy.conf"
NET17 = "/etc/java-17-openjdk/net.properties"  # Debian 12's OpenJDK 17 (Debian 13: 21)
SETTINGS = "/etc/maven/settings.xml"
LOG = "/var/log/tinyproxy/lab.log"
GET = """\
import java.net.*;
import java.io.*;

public class Get {
    public static void main(String[] args) throws Exception {
        if (args.length > 1) {  // the JDK takes no proxy login from net.properties: a client brings its own
            Authenticator.setDefault(new Authenticator() {
                protected PasswordAuthentication getPasswordAuthentication() {
                    return getRequestorType() == RequestorType.PROXY
                        ? new PasswordAuthentication(args[1], args[2].toCharArray()) : null;
                }
            });
        }
        HttpURLConnection c = (HttpURLConnection) URI.create(args[0]).toURL().openConnection();
        System.out.println("status " + c.getResponseCode() + " proxied " + c.usingProxy());
    }
}
"""


@pytest.fixture(scope="module", params=["debian-12", "debian-13"])
def base(request) -> Path:
    if request.param == "debian-13":
        return lab.ensure_base("proxy13", parent="trixie", suite="trixie",
                               packages=("openjdk-21-jdk-headless", "tinyproxy", "maven"))
    return lab.ensure_base("proxy", parent="base", packages=("openjdk-17-jdk-headless", "tinyproxy", "maven"))


def net(root: lab.Root) -> str:
    """The JDK's net.properties (Debian's link target: /etc/java-<N>-openjdk/net.properties)."""
    return root.out("readlink -f /usr/lib/jvm/java-*-openjdk-amd64/conf/net.properties | sort -u").strip()


def kept(root: lab.Root) -> tuple[str, ...]:
    return ("/etc/environment", net(root), SETTINGS)


@pytest.fixture(scope="module")
def repo() -> Iterator[aptrepo.AptRepo]:
    with aptrepo.AptRepo([], suite="bookworm") as r:
        (r.root / "probe.txt").write_text("through the proxy\n")
        yield r


@pytest.fixture
def root(base: Path, repo: aptrepo.AptRepo) -> Iterator[lab.Root]:
    with lab.Root(base, name="proxy") as r:
        r.file("/etc/apt/keyrings").mkdir(parents=True, exist_ok=True)
        r.file("/etc/apt/keyrings/lab.asc").write_text(repo.key())
        r.file("/etc/apt/sources.list.d/lab.list").write_text(
            f"deb [signed-by=/etc/apt/keyrings/lab.asc] {repo.url} bookworm main\n")
        r.file("/srv/Get.java").write_text(GET)
        r.sh("groupadd developers")
        # the JDK never proxies a loopback address (whatever http.nonProxyHosts says): the client asks
        # for the repository by a name, which the proxy, in the same root, resolves
        with r.file("/etc/hosts").open("a") as fh:
            fh.write(f"{aptrepo.ADDRESS} aptrepo.lab\n")
        yield r


@pytest.fixture
def proxy(root: lab.Root) -> Iterator[str]:
    """tinyproxy inside the root, with a login, on a loopback address of its own (stopped by PID)."""
    ip = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    port = random.randint(20000, 60000)
    root.file("/etc/tinyproxy/lab.conf").write_text(
        f"User tinyproxy\nGroup tinyproxy\nPort {port}\nListen {ip}\nTimeout 60\nLogFile \"{LOG}\"\n"
        f"LogLevel Info\nMaxClients 20\nAllow 127.0.0.0/8\nBasicAuth {USER} {SECRET}\nDisableViaHeader Yes\n")
    root.sh(f"mkdir -p /var/log/tinyproxy && : > {LOG} && chown tinyproxy {LOG}")
    enter = ('r=$1; shift; mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && '
             'mount --rbind /dev "$r/dev" && exec chroot "$r" "$@"')
    proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--", "sh", "-c", enter, "sh", str(root.path),
                             *lab.CHROOT_ENV, "tinyproxy", "-d", "-c", "/etc/tinyproxy/lab.conf"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not _listening(ip, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tinyproxy did not start: {root.out(f'cat {LOG}')}")
            time.sleep(0.1)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        yield f"http://{USER}:{SECRET}@{ip}:{port}"
    finally:
        for pid in children:  # tinyproxy (ours), PID 1 of its namespace: the namespace ends with it
            os.kill(int(pid), signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=30)


def _listening(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((ip, port)) == 0


def log(root: lab.Root) -> str:
    return root.file(LOG).read_text(errors="replace")


def apt_update(root: lab.Root) -> str:
    return root.out("apt-get update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/lab.list "
                    "-o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 2>&1; echo rc=$?")


def java_get(root: lab.Root, url: str, *login: str) -> str:
    return root.out(f"cd /srv && java Get.java {url} {' '.join(login)} 2>&1")


def playbook(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "proxy.yml"
    p.write_text("name: corporate proxy\nvars:\n  proxy_url: http://unset.invalid:1\nresources:\n"
                 "  - env_file: {set: {EDITOR: vi}}\n"  # listed first, run after the proxy (its phase)
                 "  - proxy:\n      url: \"{{ proxy_url }}\"\n      no_proxy: [localhost, .corp.example]\n"
                 "      maven_group: developers\n" + extra)
    return p


def secret_free(*texts: str) -> None:
    for t in texts:
        assert SECRET not in t


def test_apt_and_java_go_through_the_proxy_then_absent_restores(root, proxy, repo, tmp_path):
    probe = f"{repo.url.replace(aptrepo.ADDRESS, 'aptrepo.lab')}/probe.txt"
    assert "status 200 proxied false" in java_get(root, probe)
    assert "rc=0" in apt_update(root)
    assert "probe.txt" not in log(root) and "InRelease" not in log(root)  # direct, before
    before = {p: root.file(p).read_bytes() for p in kept(root)}

    pb = playbook(tmp_path)
    given = ["-e", f"proxy_url={proxy}"]
    plan = provision("plan", str(pb), "-H", root.target, "--diff", *given)
    assert plan.rc == 0, plan
    first = provision("apply", str(pb), "-H", root.target, "--json", "--diff", *given)
    assert first.rc == 0, first
    host = first.json["hosts"][0]
    assert [r["type"] for r in host["resources"]][:2] == ["proxy", "env_file"], host  # the proxy first
    assert host["changed"] >= 2, host
    secret_free(plan.stdout, plan.stderr, first.stdout, first.stderr)

    # apt through the proxy, logged in through auth.conf.d (0600 root)
    out = apt_update(root)
    assert "rc=0" in out, out
    assert f"GET {repo.url}/dists/bookworm/InRelease" in log(root), log(root)
    assert root.out(f"stat -c '%a %U' {AUTH}").strip() == "600 root"
    assert SECRET not in root.file(APT_CONF).read_text()
    # the JVM: net.properties names the proxy (the login is the client's own)
    assert "proxied true" in java_get(root, probe, USER, SECRET), log(root)
    assert f"GET {probe}" in log(root)
    assert "407" in java_get(root, probe)  # no login: the proxy refuses it, so it was asked
    env = root.file("/etc/environment").read_text()
    assert f"http_proxy=\"{proxy.replace(f'{USER}:{SECRET}@', '')}\"" in env and SECRET not in env
    assert "no_proxy=\"localhost,.corp.example\"" in env
    assert "http.nonProxyHosts=localhost|*.localhost|*.corp.example" in root.file(net(root)).read_text()
    # Maven: the login, readable by the developers group only
    assert root.out(f"stat -c '%a %U %G' {SETTINGS}").strip() == "640 root developers"
    assert f"<password>{SECRET}</password>" in root.file(SETTINGS).read_text()
    # the journal and the state directory: never the password (backups of files holding it: root's only)
    state = root.file("/var/lib/provision")
    for f in state.rglob("*"):
        if f.is_file() and SECRET.encode() in f.read_bytes():
            assert "backups" in f.parts and not f.stat().st_mode & 0o004, f

    second = provision("apply", str(pb), "-H", root.target, "--json", *given)
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    verify = provision("verify", str(pb), "-H", root.target, *given)
    assert verify.rc == 0, verify
    secret_free(second.stdout, second.stderr, verify.stdout, verify.stderr)

    gone = playbook(tmp_path, "      state: absent\n")
    removed = provision("apply", str(gone), "-H", root.target, "--json", "--diff", *given)
    assert removed.rc == 0, removed
    secret_free(removed.stdout, removed.stderr)
    after = {p: root.file(p).read_bytes() for p in kept(root)}
    after["/etc/environment"] = after["/etc/environment"].replace(b"# managed by provision\nEDITOR=\"vi\"\n", b"")
    assert after == before
    assert root.out(f"stat -c '%a %U %G' {SETTINGS}").strip() == "644 root root"
    assert not root.file(APT_CONF).exists() and not root.file(AUTH).exists()
    seen = log(root)
    assert "status 200 proxied false" in java_get(root, probe)
    assert "rc=0" in apt_update(root) and log(root) == seen  # direct again
    again = provision("apply", str(gone), "-H", root.target, "--json", *given)
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again


def test_a_link_a_user_planted_at_the_apt_drop_in_is_refused(root, tmp_path):
    # a site made apt.conf.d group-writable for its admins; one of them plants a link
    root.sh("useradd -m mallory && chown root:mallory /etc/apt/apt.conf.d && chmod 2775 /etc/apt/apt.conf.d && "
            f"echo victim > /etc/victim && su mallory -s /bin/sh -c 'ln -s /etc/victim {APT_CONF}'")
    before = {p: root.file(p).read_bytes() for p in kept(root)}
    pb = playbook(tmp_path)  # the URL as the playbook's own default this time (not -e)
    pb.write_text(pb.read_text().replace("http://unset.invalid:1", f"http://{USER}:{SECRET}@127.0.0.1:3128"))
    result = provision("apply", str(pb), "-H", root.target, "--json")
    assert result.rc == 1, result
    failed = [r for r in result.json["hosts"][0]["resources"] if r["status"] == "failed"]
    assert failed and "symbolic link" in failed[0]["reason"], result
    assert root.file("/etc/victim").read_text() == "victim\n"
    assert root.file(APT_CONF).is_symlink()
    assert {p: root.file(p).read_bytes() for p in kept(root)} == before  # nothing else written
    secret_free(result.stdout, result.stderr)
    journals = [f for f in root.file("/var/lib/provision").rglob("*") if f.is_file()]
    assert journals and not any(SECRET.encode() in f.read_bytes() for f in journals)  # the header's vars too


def test_a_jdk_installed_by_the_same_run_gets_the_proxy_when_it_runs_again(fresh_root, tmp_path):
    """The proxy runs first (no JDK yet), the jdk resource installs one, the proxy runs again
    after the others and sets it in the new JDK's net.properties: one apply converges."""
    pb = tmp_path / "settle.yml"
    pb.write_text("resources:\n  - jdk: {version: 17}\n"
                  "  - proxy: {url: \"http://127.0.0.1:9\", no_proxy: [localhost], apt: false, environment: false,"
                  " maven: false}\n")
    assert not fresh_root.file(NET17).exists()
    first = provision("apply", str(pb), "-H", fresh_root.target, "--json")
    assert first.rc == 0, first
    runs = [(r["type"], r["status"], r["name"]) for r in first.json["hosts"][0]["resources"]]
    assert [(t, s) for t, s, _ in runs] == [("proxy", "ok"), ("jdk", "changed"), ("proxy", "changed")], runs
    assert runs[2][2].endswith("(again, after the others)"), runs
    assert "http.proxyHost=127.0.0.1" in fresh_root.file(NET17).read_text()
    second = provision("apply", str(pb), "-H", fresh_root.target, "--json")
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    assert [r["type"] for r in second.json["hosts"][0]["resources"]] == ["proxy", "jdk"]


def test_the_cloud_init_export_sets_every_jdk_as_apply_does(base, tmp_path):
    """The export's last command, run by the root's own sh, writes the block apply writes (verify
    passes), and running it again changes nothing."""
    pb = tmp_path / "export.yml"
    pb.write_text("resources:\n  - proxy: {url: \"http://proxy.corp:3128\", no_proxy: [.corp], apt: false, "
                  "environment: false, maven: false}\n")
    r = provision("export", "cloud-init", str(pb), "--facts", "os=debian-12,arch=amd64,wsl=0")
    assert r.rc == 0, r
    argv = yaml.safe_load(r.stdout)["runcmd"][-1]
    with lab.Root(base, name="proxy-export") as root:
        conf = net(root)
        before = root.file(conf).read_bytes()
        root.sh(shlex.join(argv))
        once = root.file(conf).read_bytes()
        assert once.startswith(before) and b"http.nonProxyHosts=*.corp\n" in once
        root.sh(shlex.join(argv))
        assert root.file(conf).read_bytes() == once
        assert root.out(f"stat -c '%a %U' {conf}").strip() == "644 root"
        verify = provision("verify", str(pb), "-H", root.target)
        assert verify.rc == 0, verify
        again = provision("apply", str(pb), "-H", root.target, "--json")
        assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again


def test_a_missing_maven_group_is_refused_before_anything_is_written(root, tmp_path):
    root.sh("groupdel developers")
    before = {p: root.file(p).read_bytes() for p in kept(root)}
    result = provision("apply", str(playbook(tmp_path)), "-H", root.target, "--json", "-e",
                       f"proxy_url=http://{USER}:{SECRET}@127.0.0.1:3128")
    assert result.rc == 1, result
    failed = [r for r in result.json["hosts"][0]["resources"] if r["status"] == "failed"]
    assert failed and "no such group" in failed[0]["reason"], result
    assert {p: root.file(p).read_bytes() for p in kept(root)} == before and not root.file(APT_CONF).exists()
    secret_free(result.stdout, result.stderr)


def test_rollback_undoes_an_apply_exactly(root, tmp_path):
    before = {p: root.file(p).read_bytes() for p in kept(root)}
    modes = root.out(f"stat -c '%a %U %G' {SETTINGS}")
    pb = playbook(tmp_path)
    given = ["-e", f"proxy_url=http://{USER}:{SECRET}@127.0.0.1:3128"]
    assert provision("apply", str(pb), "-H", root.target, *given).rc == 0
    back = provision("rollback", "-H", root.target)
    assert back.rc == 0, back
    secret_free(back.stdout, back.stderr)
    assert {p: root.file(p).read_bytes() for p in kept(root)} == before
    assert root.out(f"stat -c '%a %U %G' {SETTINGS}") == modes
    assert not root.file(APT_CONF).exists() and not root.file(AUTH).exists()
