"""Targets and inventories: -H specs and the three inventory formats, from data (no host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import PlaybookError, UsageError
from provision.targets import limit, load_inventory, parse_spec, resolve

DATA = Path(__file__).parent / "data/inventories"


@pytest.mark.parametrize("spec, kind, address, user, port", [
    ("local", "local", "", None, None),
    ("chroot:/srv/root", "chroot", "", None, None),
    ("web1", "ssh", "web1", None, None),
    ("deploy@web1", "ssh", "web1", "deploy", None),
    ("deploy@web1:2222", "ssh", "web1", "deploy", 2222),
    ("ssh://deploy@192.0.2.7:2200", "ssh", "192.0.2.7", "deploy", 2200),
    ("ssh://web1/", "ssh", "web1", None, None),
    ("root@[2001:db8::1]:22", "ssh", "2001:db8::1", "root", 22),
    ("2001:db8::1", "ssh", "2001:db8::1", None, None),
])
def test_target_specs(spec, kind, address, user, port):
    t = parse_spec(spec)
    assert (t.kind, t.address, t.user, t.port) == (kind, address, user, port)
    assert t.name == spec


@pytest.mark.parametrize("spec, message", [
    ("chroot:relative", "absolute path"),
    ("web1:99999", "port must be a number"),
    ("web1:ssh", "port must be a number"),
    ("docker://x", "unknown scheme"),
    ("bad!user@host", "is not a user name"),
    ("[::1", "missing ']'"),
])
def test_bad_target_specs(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_spec(spec)


@pytest.mark.parametrize("name", ["native.yml", "ansible.yml", "ansible.ini"])
def test_the_three_inventory_formats_give_the_same_hosts(name):
    targets = {t.name: t for t in load_inventory(DATA / name)}
    assert set(targets) == {"web1", "web2", "build"}
    web1, web2, build = targets["web1"], targets["web2"], targets["build"]
    assert (web1.address, web1.user, web1.port) == ("192.0.2.10", "ops", None)
    assert (web2.address, web2.user, web2.port) == ("192.0.2.11", "ops", 2222)
    assert build.ssh_host == "build" and build.kind == "ssh"
    assert web1.vars == {"java_version": 17, "headless": False}
    assert web2.vars == {"java_version": 21, "headless": False}
    assert build.vars == {"java_version": 17}
    assert web1.groups == ("web",)


def test_native_defaults_apply_where_nothing_closer_says_otherwise():
    build = next(t for t in load_inventory(DATA / "native.yml") if t.name == "build")
    assert build.user == "deploy"


@pytest.mark.parametrize("text, line, message", [
    ("hosts:\n  web1: {adress: x}\n", 2, "hosts.web1.adress: unknown key"),
    ("hosts:\n  web1: {port: 70000}\n", 2, "hosts.web1.port: must be a port number"),
    ("hosts:\n  web1: {}\ngroups:\n  web:\n    hosts: [web2]\n", 5, "host 'web2' is not listed"),
    ("hosts: [web1]\n", 1, "hosts: must be a mapping"),
    ("hosts:\n  web1: {user: [a]}\n", 2, "hosts.web1.user: must be a string"),
])
def test_bad_inventories_name_file_line_and_key(tmp_path, text, line, message):
    path = tmp_path / "inv.yml"
    path.write_text(text)
    with pytest.raises(PlaybookError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert message in str(err.value)


def test_limit_by_host_group_glob_and_exclusion():
    targets = load_inventory(DATA / "native.yml")
    assert [t.name for t in limit(targets, "web")] == ["web1", "web2"]
    assert [t.name for t in limit(targets, "web*,!web2")] == ["web1"]
    assert [t.name for t in limit(targets, "build")] == ["build"]
    with pytest.raises(UsageError, match="matches no host"):
        limit(targets, "db*")


def test_resolve_defaults_to_local_and_refuses_duplicates():
    assert [t.name for t in resolve(())] == ["local"]
    with pytest.raises(UsageError, match="target given twice: web1"):
        resolve(("web1", "web1"))
