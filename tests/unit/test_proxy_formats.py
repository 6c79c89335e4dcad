"""The proxy resource's formats from data (tests/unit/data/proxy/): the URL (credentials never in
an error), no_proxy in each consumer's form, the marked block in net.properties, the <proxy>
entries in Maven's settings.xml (everything else kept, removal exact)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provision.formats import blocks, mavensettings
from provision.formats import proxy as fmt

DIR = Path(__file__).parent / "data/proxy"
DATA = yaml.safe_load((DIR / "cases.yml").read_text())
SECRET = "s3cr%2Ft"


@pytest.mark.parametrize("case", DATA["urls"], ids=lambda c: c["url"])
def test_url(case):
    u = fmt.parse_url(case["url"])
    assert (u.host, u.port, u.public) == (case["host"], case["port"], case["public"])
    assert list(u.login()) == case.get("login", ["", ""])
    assert "@" not in u.public


@pytest.mark.parametrize("case", DATA["bad_urls"], ids=lambda c: c["url"])
def test_bad_url_is_refused_without_quoting_it(case):
    with pytest.raises(ValueError) as exc:
        fmt.parse_url(case["url"])
    assert case["error"] in str(exc.value)
    for part in ("alice", "hunt", "$$", "proxy.corp"):
        assert part not in str(exc.value)


def test_mask_takes_every_form_of_the_password_out():
    u = fmt.parse_url(f"http://alice:{SECRET}@proxy.corp:3128")
    text = f"a {SECRET} b s3cr/t c s3cr%2Ft"
    assert "s3cr" not in fmt.mask_text(text, u)
    assert b"s3cr" not in fmt.mask(text.encode(), u)
    auth = fmt.apt_auth(u, "h")
    assert auth == b"# h\nmachine http://proxy.corp:3128\nlogin alice\npassword s3cr/t\n"
    assert b"s3cr" not in fmt.apt_conf(u, [], "h")


@pytest.mark.parametrize("case", DATA["no_proxy"], ids=lambda c: c["name"])
def test_no_proxy(case):
    entries = [fmt.parse_no_proxy(e) for e in case["entries"]]
    java, notes = fmt.java_non_proxy_hosts(entries)
    assert java == case["java"] and len(notes) == case["java_notes"]
    assert fmt.env_no_proxy(entries) == case["env"]
    direct, apt_notes = fmt.apt_direct_hosts(entries)
    assert direct == case["apt"] and len(apt_notes) == case["apt_notes"]


@pytest.mark.parametrize("entry", DATA["bad_no_proxy"])
def test_bad_no_proxy(entry):
    with pytest.raises(ValueError):
        fmt.parse_no_proxy(entry)


def test_apt_conf_says_direct_per_host():
    u = fmt.parse_url("http://proxy.corp:3128")
    conf = fmt.apt_conf(u, ["mirror.corp"], "h").decode()
    assert conf == ('// h\nAcquire::http::Proxy "http://proxy.corp:3128/";\n'
                    'Acquire::https::Proxy "http://proxy.corp:3128/";\n'
                    'Acquire::http::Proxy::mirror.corp "DIRECT";\nAcquire::https::Proxy::mirror.corp "DIRECT";\n')


def _b(text: str) -> bytes:
    return text.encode()


@pytest.mark.parametrize("case", DATA["blocks"], ids=lambda c: c["name"])
def test_block(case):
    m = blocks.markers("proxy t")
    if "file" in case:
        before = (DIR / case["file"]).read_bytes()
        added = blocks.splice(before, m, [b"http.proxyHost=a", b"http.proxyPort=1"])
        assert added.startswith(before) and blocks.body_of(added, m) == [b"http.proxyHost=a", b"http.proxyPort=1"]
        replaced = blocks.splice(added, m, [b"http.proxyHost=b"])
        assert replaced.startswith(before) and blocks.body_of(replaced, m) == [b"http.proxyHost=b"]
        assert blocks.splice(replaced, m, [b"http.proxyHost=b"]) == replaced
        assert blocks.splice(replaced, m, None) == before
        assert blocks.splice(before, m, None) == before
        return
    if "error" in case:
        with pytest.raises(blocks.BlockError, match=case["error"]):
            blocks.splice(_b(case["input"]), m, [_b(x) for x in case["body"]])
        return
    after = blocks.splice(_b(case["input"]), m, [_b(x) for x in case["body"]])
    assert after == _b(case["expect"])


def _proxies(password: str = "") -> list[mavensettings.MavenProxy]:
    return [mavensettings.MavenProxy(f"provision-t-{p}", p, "proxy.corp", 3128, "*.corp|localhost",
                                     "alice" if password else "", password) for p in ("http", "https")]


@pytest.mark.parametrize("case", DATA["maven"], ids=lambda c: c["name"])
def test_maven(case):
    before = (DIR / case["file"]).read_bytes() if "file" in case else _b(case["input"])
    after = mavensettings.splice(before, "provision-t-", _proxies("p<&w"))
    parsed = mavensettings.parse(after)
    assert [e.id for e in parsed.entries][:2] == ["provision-t-http", "provision-t-https"]  # first: Maven takes them
    assert [e.id for e in parsed.entries][2:] == case.get("others", [])
    assert b"<password>p&lt;&amp;w</password>" in after
    assert mavensettings.active_others(after, "provision-t-") == case.get("others", [])
    again = mavensettings.splice(after, "provision-t-", _proxies("p<&w"))
    assert again == after
    changed = mavensettings.splice(after, "provision-t-", _proxies())
    assert b"p&lt;&amp;w" not in changed and changed.count(b"<password>") == before.count(b"<password>")
    removed = mavensettings.splice(changed, "provision-t-", [])
    assert mavensettings.ours(mavensettings.parse(removed), "provision-t-") == []
    if case.get("keep", True):
        assert removed == before


@pytest.mark.parametrize("case", DATA["bad_maven"], ids=lambda c: c["error"])
def test_bad_maven(case):
    with pytest.raises(mavensettings.SettingsError, match=case["error"]):
        mavensettings.splice(_b(case["input"]), "provision-t-", _proxies())


def test_hide_logins_in_any_text():
    text = 'a="http://alice:Hunter2x@proxy:3128" b=https://u:p%40ss@h/x c=http://h:1 d=mailto:x@y'
    shown = fmt.hide_logins(text)
    assert "Hunter2x" not in shown and "p%40ss" not in shown
    assert "http://alice:********@proxy:3128" in shown and "c=http://h:1 d=mailto:x@y" in shown
