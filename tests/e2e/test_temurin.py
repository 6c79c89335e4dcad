"""Java 17 where the distribution has none (issue: Temurin). Debian 13 roots, a signed apt
repository on loopback holding a test-built temurin-17-jdk in Temurin's layout (tests/lab/aptrepo.py),
the java17 playbook unchanged but for where its repository and key are (-e)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import lab
import pytest
from conftest import lab_or_skip, provision
from lab import aptrepo

pytestmark = pytest.mark.lab

HOME = "/usr/lib/jvm/temurin-17-jdk-amd64"
SOURCES = "/etc/apt/sources.list.d/adoptium.sources"
KEY = "/etc/apt/keyrings/adoptium.asc"
HELLO = ("public class Hello { public static void main(String[] a) { "
         "System.out.println(\"java \" + Runtime.version().feature()); } }")


@pytest.fixture(scope="module")
def trixie_root():
    lab_or_skip()
    return lab.trixie_base()


@pytest.fixture(scope="module")
def repo(trixie_root):
    with aptrepo.AptRepo([aptrepo.temurin_deb()]) as r:
        yield r


def repo_vars(repo, fingerprint: str | None = None) -> list[str]:
    return ["-e", f"temurin_repository={repo.url}", "-e", f"temurin_key_url={repo.key_url}",
            "-e", f"temurin_fingerprint={fingerprint or repo.fingerprint}"]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound here and never listened on: a connection to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def outside_state(root) -> list[str]:
    return [p for p in root.changed_paths() if not p.startswith("/var/lib/provision/")]


def test_debian13_java17_is_temurin_from_the_signed_repository_and_goes_away_again(trixie_root, repo):
    with lab.Root(trixie_root, name="trixie") as root:
        env = root.file("/etc/environment")
        before = env.read_bytes() if env.exists() else None
        first = provision("apply", "java17", "-H", root.target, *repo_vars(repo), "--json")
        assert first.rc == 0, first
        jdk = first.json["hosts"][0]["resources"][0]
        assert jdk["status"] == "changed" and "no OpenJDK 17 packages" in jdk["reason"], jdk
        assert root.file(KEY).read_bytes() == repo.key().encode()
        sources = root.file(SOURCES).read_text()
        assert f"URIs: {repo.url}\n" in sources and "Suites: trixie\n" in sources and f"Signed-By: {KEY}\n" in sources
        assert root.out("dpkg-query -W -f='${Status}' temurin-17-jdk") == "install ok installed"
        assert f'JAVA_HOME="{HOME}"' in env.read_text()
        root.file("/tmp/Hello.java").write_text(HELLO)
        ran = root.out("cd /tmp && javac Hello.java && java -cp /tmp Hello && readlink -f \"$(command -v java)\"")
        assert ran.split() == ["java", "17", f"{HOME}/bin/java"], ran

        second = provision("apply", "java17", "-H", root.target, *repo_vars(repo), "--json")
        assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
        doctor = provision("doctor", "-H", root.target)  # which JDK JAVA_HOME is, and where it came from
        assert f"JAVA_HOME is {HOME} (/etc/environment:2): Eclipse Adoptium 17" in doctor.stderr, doctor
        assert "from the package temurin-17-jdk, with bin/java and bin/javac" in doctor.stderr, doctor
        proved = provision("verify", "java17", "-H", root.target, *repo_vars(repo), "--json")
        assert proved.rc == 0, proved
        names = [c["name"] for c in proved.json["hosts"][0]["checks"]]
        assert "jdk: release file says JAVA_VERSION 17 from Eclipse Adoptium" in names
        assert f"jdk: {SOURCES} is as declared" in names and f"jdk: {KEY} is the pinned key" in names

        gone = provision("apply", "java17", "-H", root.target, *repo_vars(repo), "-e", "state=absent", "--json")
        assert gone.rc == 0, gone
        assert root.out("dpkg-query -W -f='${Status}' temurin-17-jdk 2>&1") != "install ok installed"
        assert not root.file(SOURCES).exists() and not root.file(KEY).exists()
        assert not list(root.file("/var/lib/apt/lists").glob("127.0.0.9*")), "the repository's lists stayed"
        assert (env.read_bytes() if env.exists() else None) == before


def test_a_key_that_is_not_the_pinned_one_is_refused_before_anything_is_written(trixie_root, repo):
    with lab.Root(trixie_root, name="trixie") as root:
        wrong = "0123456789ABCDEF0123456789ABCDEF01234567"
        r = provision("apply", "java17", "-H", root.target, *repo_vars(repo, wrong))
        assert r.rc == 1, r
        assert f"its fingerprint is {repo.fingerprint}, not the pinned {wrong}; nothing was written" in r.stderr, r
        assert outside_state(root) == [], outside_state(root)


def test_a_repository_whose_signature_does_not_verify_fails_with_apts_reason(trixie_root):
    with aptrepo.AptRepo([aptrepo.temurin_deb()], signer="other") as bad, \
            lab.Root(trixie_root, name="trixie") as root:
        r = provision("apply", "java17", "-H", root.target, *repo_vars(bad))
        assert r.rc == 1, r
        assert "not signed" in r.stderr or "NO_PUBKEY" in r.stderr or "Missing key" in r.stderr, r
        assert f"{SOURCES} was taken back out" in r.stderr, r
        assert not root.file(SOURCES).exists()
        assert root.out("apt-get update -q 2>&1 >/dev/null; echo rc=$?").strip().endswith("rc=0")


def test_debian12_vendor_auto_keeps_the_distribution_openjdk(fresh_root):
    r = provision("plan", "java17", "-H", fresh_root.target, "--json")
    assert r.rc == 0, r
    jdk = r.json["hosts"][0]["resources"][0]
    install = "apt-get install --no-install-recommends openjdk-17-jdk-headless"
    assert [c["summary"] for c in jdk["changes"]][-1] == install
    assert "Debian 12 (bookworm) has OpenJDK 17" in jdk["changes"][-1]["reason"], jdk
    assert not any("adoptium" in c["summary"] for c in jdk["changes"])


def test_debian13_offline_plan_names_the_key_url_and_pin_and_only_apply_fetches_it(trixie_root, closed_port):
    """Issue 20 item 4: nothing answers at the key URL (nor at the repository): plan and --check
    still propose the repository, naming the URL to fetch and the fingerprint to pin; apply fetches
    first, fails in one line and leaves the root as it was (no journal either)."""
    url = f"http://127.0.0.1:{closed_port}/key.asc"
    pin = "3B04D753C9050D9A5D343F39843C48A565F8F04B"
    args = ["-e", f"temurin_key_url={url}", "-e", f"temurin_repository=http://127.0.0.1:{closed_port}/deb"]
    with lab.Root(trixie_root, name="trixie") as root:
        for command in (["plan"], ["apply", "--check"]):
            r = provision(*command, "java17", "-H", root.target, *args, "--json")
            assert r.rc == 0, r
            jdk = r.json["hosts"][0]["resources"][0]
            assert jdk["status"] == "changed", jdk
            summaries = [c["summary"] for c in jdk["changes"]]
            assert summaries[0] == f"create {KEY}: fetch {url}, pin {pin}", summaries
            assert summaries[1:] == [f"create {SOURCES}", f"apt-get update for {SOURCES} only",
                                     "apt-get install --no-install-recommends temurin-17-jdk"], summaries
            assert "fetched on this machine when applied" in jdk["changes"][0]["reason"], jdk
        human = provision("plan", "java17", "-H", root.target, *args)
        assert human.rc == 0 and f"fetch {url}, pin {pin}" in human.stderr, human

        applied = provision("apply", "java17", "-H", root.target, *args)
        assert applied.rc == 1, applied
        why = f"could not fetch the key from {url} (on this machine): "
        lines = [ln for ln in applied.stderr.splitlines() if why in ln]
        assert lines and "refused" in lines[0], applied
        assert outside_state(root) == [], outside_state(root)
        runs = root.file("/var/lib/provision/runs")
        assert not runs.exists() or list(runs.iterdir()) == [], "a run that changed nothing was journalled"
