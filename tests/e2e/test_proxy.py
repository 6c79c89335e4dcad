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


MAVEN_PROJECT = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent><groupId>lab.proxy</groupId><artifactId>parent</artifactId><version>1.0</version></parent>
  <artifactId>app</artifactId>
</project>
"""
PARENT = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lab.proxy</groupId><artifactId>parent</artifactId><version>1.0</version><packaging>pom</packaging>
</project>
"""


def mvn(root: lab.Root, mirror: str, local: str) -> str:
    """Debian's mvn, as a developer (the developers group may read the settings holding the login),
    validating a project whose parent POM only the loopback repository has: Maven must fetch it."""
    root.file("/srv/app").mkdir(exist_ok=True)
    root.file("/srv/app/pom.xml").write_text(MAVEN_PROJECT)
    root.file("/srv/app/mirror.xml").write_text(
        "<settings><mirrors><mirror><id>lab</id><mirrorOf>*</mirrorOf>"
        f"<url>{mirror}</url></mirror></mirrors></settings>\n")
    return root.out(f"chmod -R a+rwX /srv/app && cd /srv/app && su dev -s /bin/sh -c "
                    f"'mvn -B -s mirror.xml -Dmaven.repo.local={local} validate' 2>&1; echo rc=$?")


def test_debian_mvn_goes_through_the_proxy(root, proxy, repo, tmp_path):
    """Maven reads the <proxy> entries provision wrote in /etc/maven/settings.xml: its download of
    a parent POM from a loopback repository (asked for by name: aptrepo.lab) is in the proxy's log,
    with the login Maven took from the settings (tinyproxy refuses a request without it)."""
    pom = repo.root / "maven/lab/proxy/parent/1.0/parent-1.0.pom"
    pom.parent.mkdir(parents=True, exist_ok=True)
    pom.write_text(PARENT)
    mirror = f"{repo.url.replace(aptrepo.ADDRESS, 'aptrepo.lab')}/maven"
    root.sh("useradd -m -G developers dev")
    direct = mvn(root, mirror, "/tmp/m2-before")
    assert "BUILD SUCCESS" in direct and "rc=0" in direct, direct
    assert "parent-1.0.pom" not in log(root)  # direct, before

    pb = playbook(tmp_path)
    result = provision("apply", str(pb), "-H", root.target, "--json", "-e", f"proxy_url={proxy}")
    assert result.rc == 0, result
    secret_free(result.stdout, result.stderr)
    through = mvn(root, mirror, "/tmp/m2-after")
    assert "BUILD SUCCESS" in through and "rc=0" in through, through
    assert f"GET {mirror}/lab/proxy/parent/1.0/parent-1.0.pom" in log(root), log(root)
    assert SECRET not in through
    # unlike the JDK's own selector, Maven proxies a loopback address too (no_proxy does not list it)
    literal = mvn(root, repo.url + "/maven", "/tmp/m2-literal")
    assert "BUILD SUCCESS" in literal, literal
    assert f"GET {repo.url}/maven/lab/proxy/parent/1.0/parent-1.0.pom" in log(root), log(root)
    # a user outside the developers group cannot read the settings (and so the login)
    root.sh("useradd -m eve")
    assert "Permission denied" in root.out(f"su eve -s /bin/sh -c 'cat {SETTINGS}'")


BOB_PROPS = "/home/bob/.gradle/gradle.properties"
BOB_OWN = b"# bob's, keep\norg.gradle.jvmargs=-Xmx2g \\\n    -Dfile.encoding=UTF-8\r\nsystemProp.user.name bob\\u00e9\n"
READ_PROPS = ("import java.io.*; import java.util.*; public class ReadProps { public static void main(String[] a) "
              "throws Exception { Properties p = new Properties(); try (InputStream in = new FileInputStream(a[0])) "
              "{ p.load(in); } for (String k : new TreeSet<>(p.stringPropertyNames())) "
              "System.out.println(k + \"=\" + p.getProperty(k)); } }\n")


def java_reads(root: lab.Root, path: str) -> dict[str, str]:
    """What OpenJDK's java.util.Properties reads from ``path`` (as Gradle loads gradle.properties)."""
    root.file("/srv/ReadProps.java").write_text(READ_PROPS)
    out = root.out(f"java /srv/ReadProps.java {path}")
    return dict(line.split("=", 1) for line in out.splitlines())


def test_gradle_properties_get_the_proxy_and_the_login_for_bob_only(root, tmp_path):
    """bob's ~/.gradle/gradle.properties (his lines kept byte for byte) and a GRADLE_USER_HOME's
    file get systemProp.http(s).*, as java.util.Properties reads them; with the login, 0600 and
    his; carol, who has no ~/.gradle, gets one made by her; absent gives bob's bytes back."""
    root.sh("useradd -m bob && useradd -m carol && mkdir /home/bob/.gradle && mkdir -p /etc/gradle")
    root.file(BOB_PROPS).write_bytes(BOB_OWN)
    root.sh("chown -R bob:bob /home/bob/.gradle")
    extra = "      gradle_users: [bob, carol]\n      gradle_properties: [/etc/gradle/gradle.properties]\n"
    pb = playbook(tmp_path, extra)
    url = f"http://{USER}:{SECRET}@127.0.0.1:3128"
    given = ["-e", f"proxy_url={url}"]
    plan = provision("plan", str(pb), "-H", root.target, "--diff", *given)
    assert plan.rc == 0, plan
    first = provision("apply", str(pb), "-H", root.target, "--json", "--diff", *given)
    assert first.rc == 0, first
    secret_free(plan.stdout, plan.stderr, first.stdout, first.stderr)
    assert "systemProp.http.proxyHost=127.0.0.1" in plan.stdout + plan.stderr  # our lines are shown
    assert "Xmx2g" not in plan.stdout + plan.stderr  # bob's values are not (the file becomes 0600)
    data = root.file(BOB_PROPS).read_bytes()
    assert data.startswith(BOB_OWN)
    read = java_reads(root, BOB_PROPS)
    for scheme in ("http", "https"):
        assert read[f"systemProp.{scheme}.proxyHost"] == "127.0.0.1"
        assert read[f"systemProp.{scheme}.proxyPort"] == "3128"
        assert read[f"systemProp.{scheme}.nonProxyHosts"] == "localhost|*.localhost|*.corp.example"
        assert read[f"systemProp.{scheme}.proxyUser"] == USER
        assert read[f"systemProp.{scheme}.proxyPassword"] == SECRET
    assert read["org.gradle.jvmargs"] == "-Xmx2g -Dfile.encoding=UTF-8" and read["systemProp.user.name"] == "bob\u00e9"
    assert root.out(f"stat -c '%a %U %G' {BOB_PROPS}").strip() == "600 bob bob"
    assert root.out("stat -c '%a %U' /home/carol/.gradle /home/carol/.gradle/gradle.properties").split() == \
        ["755", "carol", "600", "carol"]
    assert root.out("stat -c '%a %U' /etc/gradle/gradle.properties").strip() == "600 root"
    assert java_reads(root, "/etc/gradle/gradle.properties")["systemProp.https.proxyPassword"] == SECRET
    for f in root.file("/var/lib/provision").rglob("*"):  # the journal: never the password
        if f.is_file() and SECRET.encode() in f.read_bytes():
            assert "backups" in f.parts and not f.stat().st_mode & 0o004, f

    second = provision("apply", str(pb), "-H", root.target, "--json", *given)
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    verify = provision("verify", str(pb), "-H", root.target, "--json", *given)
    assert verify.rc == 0, verify
    assert f"{BOB_PROPS} sets the proxy for Gradle" in verify.stdout, verify.stdout
    secret_free(second.stdout, second.stderr, verify.stdout, verify.stderr)

    gone = provision("apply", str(playbook(tmp_path, extra + "      state: absent\n")), "-H", root.target,
                     "--json", "--diff", *given)
    assert gone.rc == 0, gone
    secret_free(gone.stdout, gone.stderr)
    assert root.file(BOB_PROPS).read_bytes() == BOB_OWN
    assert not root.file("/home/carol/.gradle/gradle.properties").exists()
    assert not root.file("/etc/gradle/gradle.properties").exists()


def test_a_users_gradle_link_or_hard_link_to_a_root_file_is_refused(root, tmp_path):
    """mallory's ~/.gradle is a link to /etc, then her gradle.properties a hard link of /etc/shadow:
    neither is written, nor anything else of the proxy's (the plan stops it)."""
    root.sh("useradd -m mallory && ln -s /etc /home/mallory/.gradle && chown -h mallory:mallory /home/mallory/.gradle")
    shadow = root.file("/etc/shadow").read_bytes()
    before = {p: root.file(p).read_bytes() for p in kept(root)}
    pb = playbook(tmp_path, "      gradle_users: [mallory]\n")
    given = ["-e", f"proxy_url=http://{USER}:{SECRET}@127.0.0.1:3128"]
    linked = provision("apply", str(pb), "-H", root.target, "--json", *given)
    assert linked.rc == 1, linked
    failed = [r for r in linked.json["hosts"][0]["resources"] if r["status"] == "failed"]
    assert failed and "symbolic link" in failed[0]["reason"], linked
    assert not root.file("/etc/gradle.properties").exists()

    root.sh("rm /home/mallory/.gradle && mkdir /home/mallory/.gradle && "
            "ln /etc/shadow /home/mallory/.gradle/gradle.properties && chown -h mallory:mallory /home/mallory/.gradle")
    hard = provision("apply", str(pb), "-H", root.target, "--json", *given)
    assert hard.rc == 1, hard
    failed = [r for r in hard.json["hosts"][0]["resources"] if r["status"] == "failed"]
    assert failed and "hard link" in failed[0]["reason"], hard
    assert root.file("/etc/shadow").read_bytes() == shadow
    assert root.out("stat -c '%U %a %h' /etc/shadow").strip() == "root 640 2"
    assert {p: root.file(p).read_bytes() for p in kept(root)} == before and not root.file(APT_CONF).exists()
    secret_free(linked.stdout, linked.stderr, hard.stdout, hard.stderr)


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
