"""Issue 18, items 3 and 14, from data (no host): what may be an SSH destination, a user or a
ProxyJump hop; which known_hosts files are used; and the OpenSSH command lines (host-key options
that win over ssh_config, ``--`` before every destination, nested ProxyJump hops)."""

from __future__ import annotations

import os
import shlex

import pytest

from provision.connections import openssh
from provision.connections.sshopts import SshOptions, known_hosts_files
from provision.errors import PlaybookError, UsageError
from provision.targets import Target, host_problem, jump_hops, load_inventory, parse_spec

GOOD_HOSTS = ["web1", "default", "web-1.example.com", "_gateway", "192.0.2.7", "2001:db8::1", "::1",
              "fe80::1%eth0"]
BAD_HOSTS = ["-oProxyCommand=touch /tmp/pwned", "-oX", "-F/dev/null", "host -oX", "a:b:c", "lab\n-oX",
             "lab\r", "lab\x1b]0;t\x07", "", ".hidden", "a b", "x\ty", "::g", "fe80::1%-oX", "host;id",
             "$(id)", "a/b"]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_destinations_that_are_names_aliases_or_ip_literals(host):
    assert host_problem(host) is None


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_destinations_ssh_could_misread_are_refused(host):
    assert host_problem(host)


@pytest.mark.parametrize("spec", ["-oProxyCommand=touch /tmp/pwned", "-oX", "host -oX", "a:b:c", "lab\n",
                                  "lab\n-oX", "root@-oX", "-oX@host", "[-oX:]:22", "[a:b:c]:22",
                                  "-oProxyCommand=touch${IFS}/tmp/pwned::", "ssh://-oX", "user@host\x00"])
def test_hostile_h_values_are_usage_errors_on_one_line(spec):
    with pytest.raises(UsageError) as err:
        parse_spec(spec)
    assert "\n" not in str(err.value) and repr(spec) in str(err.value)


@pytest.mark.parametrize("spec, address", [("[2001:db8::1]:2222", "2001:db8::1"), ("root@::1", "::1"),
                                           ("default", "default"), (" web1 ", "web1")])
def test_good_h_values_still_parse(spec, address):
    assert parse_spec(spec).address == address


@pytest.mark.parametrize("text, name, line, message", [
    ("hosts:\n  lab:\n    address: '-oProxyCommand=touch /tmp/pwned'\n", "inv.yml", 3, "starts with '-'"),
    ("hosts:\n  lab:\n    address: 'a:b:c'\n", "inv.yml", 3, "not a host name or an IP address"),
    ("hosts:\n  lab:\n    address: \"x\\ny\"\n", "inv.yml", 3, "whitespace or control"),
    ("hosts:\n  lab:\n    user: '-oX'\n", "inv.yml", 3, "not a user name"),
    ("defaults:\n  address: '-oX'\nhosts:\n  lab: {}\n", "inv.yml", 2, "starts with '-'"),
    ("hosts:\n  lab: {}\ngroups:\n  g:\n    hosts: [lab]\n    address: ' x'\n", "inv.yml", 6, "whitespace"),
    ("hosts:\n  '-oX': {}\n", "inv.yml", 2, "starts with '-'"),
    ("all:\n  hosts:\n    lab:\n      ansible_host: '-oX'\n", "inv.yml", 4, "ansible_host: '-oX' starts with"),
    ("all:\n  hosts:\n    '-oX':\n", "inv.yml", 3, "host name '-oX'"),
    ("all:\n  vars:\n    ansible_user: 'a b'\n  hosts:\n    lab:\n", "inv.yml", 3, "not a user name"),
    ("[web]\nlab ansible_host=-oX\n", "inv.ini", 2, "ansible_host: '-oX' starts with '-'"),
    ("[web]\nlab ansible_host=a:b:c\n", "inv.ini", 2, "not a host name"),
    ("[web]\n-oX\n", "inv.ini", 2, "host name '-oX'"),
    ("[web:vars]\nansible_user=-oX\n[web]\nlab\n", "inv.ini", 2, "not a user name"),
])
def test_hostile_inventory_values_name_file_and_line(tmp_path, text, name, line, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PlaybookError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_jump_hops_are_checked_as_h_values():
    assert [(h.user, h.address, h.port) for h in jump_hops("dev@a, b:2222,ssh://c@d:22")] == [
        ("dev", "a", None), (None, "b", 2222), ("c", "d", 22)]
    assert jump_hops("none") == [] and jump_hops("") == []
    for bad in ("-oProxyCommand=x", "a,local", "a,chroot:/x", "a b"):
        with pytest.raises(UsageError):
            jump_hops(bad)


@pytest.mark.parametrize("flag, configured, expected", [
    ("/k/flag", ["/k/config"], ["/k/flag"]),  # --known-hosts alone
    (None, ["/k/a", "/k/b"], ["/k/a", "/k/b"]),
    (None, ["/dev/null"], ["~/.ssh/known_hosts"]),  # vagrant ssh-config: not "no known key"
    (None, ["/dev/null", "/k/a"], ["/k/a"]),
    (None, ["none"], ["~/.ssh/known_hosts"]),
    (None, [], ["~/.ssh/known_hosts"]),
])
def test_known_hosts_files(flag, configured, expected):
    got = known_hosts_files(SshOptions(known_hosts=flag), configured)
    assert got == [os.path.expanduser(e) for e in expected]


LAX = {"stricthostkeychecking": ["false"], "userknownhostsfile": ["/dev/null"], "loglevel": ["SILENT"],
       "verifyhostkeydns": ["true"], "updatehostkeys": ["true"], "checkhostip": ["yes"]}


def opts(argv: list[str]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in argv[1::2])


@pytest.mark.parametrize("accept, strict", [(False, "yes"), (True, "accept-new")])
def test_host_key_options_ignore_a_lax_config(accept, strict):
    got = opts(openssh.host_key_options(SshOptions(accept_new_host_keys=accept), LAX))
    assert got["StrictHostKeyChecking"] == strict
    assert got["UserKnownHostsFile"] == os.path.expanduser("~/.ssh/known_hosts")
    assert (got["CheckHostIP"], got["VerifyHostKeyDNS"], got["UpdateHostKeys"]) == ("no", "no", "no")
    assert got["NoHostAuthenticationForLocalhost"] == "no" and got["LogLevel"] == "ERROR"
    assert got.get("KnownHostsCommand", "none") == "none"


def test_host_key_options_keep_a_louder_log_level_and_escape_paths():
    got = opts(openssh.host_key_options(SshOptions(known_hosts="/k/100% mine"), {"loglevel": ["DEBUG1"]}))
    assert "LogLevel" not in got and got["GlobalKnownHostsFile"] == "/dev/null"
    assert got["UserKnownHostsFile"] == '"/k/100%% mine"'


def test_a_nested_jump_chain_escapes_each_level(monkeypatch):
    """ProxyJump a,b: an ssh -W to b whose own ProxyCommand is an ssh -W to a; each with the
    host-key options, ``--`` before its destination, and %h:%p left for the ssh that runs it."""
    monkeypatch.setattr(openssh, "probe", lambda who, host: LAX)
    command = openssh.jump_command(SshOptions(ssh_config="/c/100%"), jump_hops("a,u@b:2222"), 10, "t")
    outer = shlex.split(command.replace("%%", "\0"))  # what the target's ssh runs, as its ssh sees it
    assert outer[-4:] == ["-W", "[%h]:%p", "--", "b"] and outer[:3] == ["ssh", "-F", "/c/100\0"]
    assert ["-l", "u", "-p", "2222"] == outer[3:7]
    inner = next(a for a in outer if a.startswith("ProxyCommand="))
    inner_argv = shlex.split(inner.removeprefix("ProxyCommand=").replace("\0", "%"))
    assert inner_argv[-4:] == ["-W", "[%h]:%p", "--", "a"]  # filled in by b's ssh: a's own address
    assert inner_argv[:3] == ["ssh", "-F", "/c/100%%"]  # b's ssh turns %% into %
    for argv in (outer, inner_argv):
        o = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")
        assert o["StrictHostKeyChecking"] == "yes" and o["ControlPath"] == "none" and o["BatchMode"] == "yes"
    assert "ProxyCommand" not in dict(inner_argv[i + 1].split("=", 1) for i, a in enumerate(inner_argv) if a == "-o")


def test_a_jump_loop_is_refused(monkeypatch):
    monkeypatch.setattr(openssh, "probe", lambda who, host: {"proxyjump": [host]})
    from provision.errors import ConnectError

    with pytest.raises(ConnectError, match="too long"):
        openssh.jump_command(SshOptions(), jump_hops("a"), 10, "t")


def test_every_ssh_command_line_ends_with_dash_dash_destination(monkeypatch):
    """The master and the session client (``ssh -G`` is checked by probe's own argv)."""
    started: list[list[str]] = []

    class Fake:
        def __init__(self, argv, **kw):
            started.append(list(argv))
            self.pid, self.stdin, self.stdout, self.stderr = 0, None, None, None

        def poll(self):
            return None

    monkeypatch.setattr(openssh, "probe", lambda who, host: {})
    monkeypatch.setattr(openssh.subprocess, "Popen", Fake)
    monkeypatch.setattr(openssh, "track", lambda *a: None)
    conn = openssh.OpenSshConnection(Target("web1", "ssh", address="web1", user="u", port=22))
    master = started[0]
    assert master[-3:-1] == ["--", "web1"] and "-oX" not in master
    client = conn._client("id")
    assert client[-3:] == ["--", "web1", "id"]
    openssh._OPEN.discard(conn)
    conn._master = None
    conn.close()
