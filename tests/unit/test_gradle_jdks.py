"""gradle_jdks planned from facts: which file (a user's ~/.gradle or a path), its owner kept, her
~/.gradle made as her, a refused path (a link or a hard link the shared read reports) or a broken
file stops the plan with one line and nothing changed, bad specs are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from provision.errors import ResourceError
from provision.facts import HOST, Facts, FileContent, FileState, HostFacts
from provision.formats import javaprops
from provision.resources.gradle_jdks import KEY, GradleJdks, GradleJdksSpec
from provision.resources.maven_toolchains import Account, UserAccount

J17 = {"version": 17, "vendor": "distro", "home": "/usr/lib/jvm/java-17-openjdk-amd64"}
J21 = {"version": 21, "vendor": "temurin", "home": "/usr/lib/jvm/temurin-21-jdk-amd64"}
BOB = "/home/bob/.gradle/gradle.properties"


def plan(spec: dict, state: FileState | None, *, user: bool = True):
    res = GradleJdks(GradleJdksSpec(**spec))
    facts = Facts()
    facts.set(HOST, HostFacts())
    facts.set(UserAccount("bob"), Account("bob", 1000, 1000, "/home/bob") if user else Account("bob"))
    path = spec.get("path") or BOB
    facts.set(FileContent(path), state or FileState(path, exists=False))
    assert (FileContent(path) in list(res.facts(facts))) == user
    return res.plan(facts)


def test_a_new_file_for_a_user_is_hers_by_version_and_her_gradle_dir_is_made_as_her():
    p = plan({"jdks": [J21, J17], "user": "bob"}, None)
    w = p.payload()
    assert (w.path, w.uid, w.gid, w.make_dir) == (BOB, 1000, 1000, "/home/bob/.gradle")
    assert javaprops.effective(w.content) == {KEY: f"{J17['home']},{J21['home']}"}
    assert "JDK 17, 21" in p.changes[0].reason


def test_an_existing_file_keeps_its_owner_and_others_lines_and_a_converged_one_is_left():
    own = b"org.gradle.daemon=false\n"
    p = plan({"jdks": [J17], "path": "/opt/gradle/gradle.properties"},
             FileState("/opt/gradle/gradle.properties", True, own, 0o640, uid=5, gid=6))
    w = p.payload()
    assert (w.uid, w.gid, w.make_dir) == (5, 6, "") and w.content.startswith(own)
    again = plan({"jdks": [J17], "path": "/opt/gradle/gradle.properties"},
                 FileState("/opt/gradle/gradle.properties", True, w.content))
    assert not again.changes and "lists this tool's JDKs" in again.reason


def test_absent_removes_only_our_entry_and_a_file_left_empty():
    ours = javaprops.set_key(b"a=1\n", KEY, J17["home"])
    p = plan({"jdks": [J17], "user": "bob", "state": "absent"}, FileState(BOB, True, ours, uid=1000))
    assert p.payload().content == b"a=1\n"
    only = javaprops.set_key(None, KEY, J17["home"])
    assert plan({"jdks": [], "user": "bob"}, FileState(BOB, True, only, uid=1000)).payload().content is None


@pytest.mark.parametrize("state,says", [
    (FileState(BOB, False, link="/etc/shadow"), "symbolic link"),
    (FileState(BOB, False, refused=f"{BOB} has 2 hard links and a non-root user can write its directory"),
     "hard links"),
    (FileState(BOB, True, b"a=\\u12G4\n"), "malformed"),
    (FileState(BOB, True, b"a=1\x00\n"), "NUL"),
])
def test_a_link_a_hard_link_or_a_broken_file_stops_the_plan(state, says):
    with pytest.raises(ResourceError, match=says):
        plan({"jdks": [J17], "user": "bob"}, state)


def test_no_such_user_is_one_line():
    with pytest.raises(ResourceError, match="no user bob"):
        plan({"jdks": [J17], "user": "bob"}, None, user=False)


@pytest.mark.parametrize("spec,why", [
    ({"jdks": [J17]}, "give user"),
    ({"jdks": [J17], "user": "bob", "path": "/etc/gradle/gradle.properties"}, "one of them"),
    ({"jdks": [{**J17, "home": "/opt/a,b"}], "user": "bob"}, "comma"),
    ({"jdks": [J17], "path": "relative/gradle.properties"}, "absolute"),
    ({"jdks": [J17], "user": "Bob; rm"}, "pattern"),
])
def test_bad_specs_are_refused(spec, why):
    with pytest.raises(ValidationError, match=why):
        GradleJdksSpec(**spec)


def gradle_check(answers):
    from test_verify_checks import probe_for

    from provision.verify.checks import CheckEnv

    res = GradleJdks(GradleJdksSpec(jdks=[J17], path="/home/bob/.gradle/gradle.properties"))
    env = CheckEnv(facts=Facts(), kind="chroot")
    (check,) = res.checks("gradle", {}, env)
    probe, conn = probe_for(answers)
    return check.test(probe), conn


def test_the_check_never_reads_through_a_link():
    (ok, says), conn = gradle_check([(r"^test -L ", 0, "", ""), (r"^test -e ", 0, "", "")])
    assert not ok and "symbolic link" in says
    assert not [a for a in conn.seen if "gradle.properties" in a[-1] and not a[-1].startswith("test -")]


@pytest.mark.parametrize("content,good", [
    (javaprops.set_key(None, KEY, J17["home"]), True),
    (b"root:$y$j9T$secret:19000:0:99999:7:::\n" + f"{KEY}=/opt/x\n".encode(), False),
    (b"a=\\u12G4 secret\n", False),
])
def test_the_check_says_what_is_wrong_without_the_files_bytes(content, good):
    """(her file may be a hard link of a secret one: what it holds is not repeated)"""
    answers = [(r"^test -L ", 1, "", ""), (r"^test -e ", 0, "", ""),
               (r"^cat -- /home/bob/", 0, content.decode("latin-1"), "")]
    (ok, says), conn = gradle_check(answers)
    assert ok is good, says
    assert "secret" not in says and "/opt/x" not in says
