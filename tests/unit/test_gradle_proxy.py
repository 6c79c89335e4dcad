"""The proxy's systemProp.* entries in a gradle.properties (provision/formats/gradleproxy.py): set,
kept idempotent, removed exactly, every other line byte for byte; the login only when the URL has one."""

from __future__ import annotations

from provision.formats import gradleproxy, javaprops
from provision.formats.proxy import parse_url

OWN = b"# mine\norg.gradle.jvmargs=-Xmx2g \\\n    -Dfile.encoding=UTF-8\r\nsystemProp.http.proxyHost=old.example\n"


def test_set_then_absent_gives_the_file_back():
    url = parse_url("http://bob:s%25ecr%C3%A9t@proxy.corp:3128")
    values = gradleproxy.wanted(url, "localhost|*.corp")
    once = gradleproxy.edit(OWN, "p", values)
    assert once is not None and once.startswith(OWN)
    got = javaprops.effective(once)
    assert got["systemProp.http.proxyHost"] == "proxy.corp" and got["systemProp.https.proxyPort"] == "3128"
    assert got["systemProp.https.nonProxyHosts"] == "localhost|*.corp"
    assert got["systemProp.http.proxyUser"] == "bob" and got["systemProp.https.proxyPassword"] == "s%ecrét"
    assert got["org.gradle.jvmargs"] == "-Xmx2g -Dfile.encoding=UTF-8"
    assert gradleproxy.matches(once, "p", values)
    assert gradleproxy.edit(once, "p", values) == once
    assert gradleproxy.secrets(url) == ["s%ecr\\u00e9t"] and b"s%ecr\\u00e9t" in once
    assert gradleproxy.edit(once, "p", gradleproxy.absent(url)) == OWN
    assert not gradleproxy.matches(OWN, "p", values)


def test_no_login_no_user_entries_and_a_new_file_goes_when_emptied():
    url = parse_url("http://proxy.corp:3128")
    values = gradleproxy.wanted(url, "")
    new = gradleproxy.edit(None, "p", values)
    assert new is not None
    keys = set(javaprops.effective(new))
    assert keys == {f"systemProp.{s}.{k}" for s in ("http", "https") for k in ("proxyHost", "proxyPort")}
    assert gradleproxy.edit(new, "p", gradleproxy.absent(url)) is None


def test_a_login_dropped_from_the_url_is_removed_from_the_file():
    with_login = gradleproxy.edit(OWN, "p", gradleproxy.wanted(parse_url("http://u:pw@h:1"), ""))
    without = gradleproxy.edit(with_login, "p", gradleproxy.wanted(parse_url("http://h:1"), ""))
    assert without is not None and b"proxyPassword" not in without and b"pw" not in without
