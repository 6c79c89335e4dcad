"""Issue 8 end to end: one resolve loop whose facts follow the run. A value known only from an
earlier resource's output gets its fact read when it is rendered; facts an apply makes stale are
read again; a resource type from another package (entry point) is planned, applied and verified
like a built-in one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, provision

pytestmark = pytest.mark.lab

PLUGIN = REPO / "tests/plugins/provision-timezone"


def ssh_args(host) -> list[str]:
    return ["-H", host.name, "--ssh-config", str(host.fleet.ssh_config),
            "--known-hosts", str(host.fleet.known_hosts)]


def test_a_template_under_the_jdk_home_applies_twice(converged_root, tmp_path):
    (tmp_path / "site.properties.j2").write_text("java.home={{ jdk.home }}\n")
    book = tmp_path / "site.yml"
    book.write_text("resources:\n  - jdk: {}\n  - template:\n      src: site.properties.j2\n"
                    "      dest: \"{{ jdk.home }}/conf/site.properties\"\n")
    first = provision("apply", str(book), "-H", converged_root.target, "--json")
    assert first.rc == 0, first
    created = first.json["hosts"][0]["resources"][1]["changes"][0]["summary"]
    m = re.fullmatch(r"create (/usr/lib/jvm/java-17-openjdk-[a-z0-9]+)/conf/site.properties", created)
    assert m, created
    home = m.group(1)
    written = converged_root.file(f"{home}/conf/site.properties")
    assert written.read_text() == f"java.home={home}\n"
    second = provision("apply", str(book), "-H", converged_root.target, "--json")
    assert second.rc == 0, second  # the file was read, not planned as "create" (then "appeared since")
    assert second.json["hosts"][0]["changed"] == 0, second
    reason = second.json["hosts"][0]["resources"][1]["reason"]
    assert reason.startswith(f"{home}/conf/site.properties is up to date"), reason


def test_wsl2_without_apt_lists_or_jdk_gets_the_workstation_then_boots_systemd(fleet_factory):
    host = fleet_factory(1, wsl=2).hosts[0]  # the plain base: no JDK, no systemd-sysv
    host.sh("rm -rf /var/lib/apt/lists/* && ! ls /var/lib/apt/lists/*_Packages 2>/dev/null")
    run = provision("apply", *ssh_args(host), "--json")  # the default playbook: workstation
    assert run.rc == 0, run  # systemd-sysv's candidate is read after the jdk's apt-get update
    statuses = {r["id"]: r["status"] for r in run.json["hosts"][0]["resources"]}
    assert statuses == {"jdk": "changed", "java_home": "changed", "java_home_profile": "changed",
                        "wsl_systemd_conf": "changed"}, statuses
    assert run.stderr.count("apt-get update") >= 1
    host.restart()
    assert host.pid1_comm() == "systemd"
    again = provision("apply", *ssh_args(host), "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again


def test_a_converged_wsl2_workstation_costs_one_connection_and_one_command(fleet_factory, jdk_root):
    host = fleet_factory(1, wsl=2, base=jdk_root).hosts[0]
    assert provision("apply", *ssh_args(host)).rc == 0
    host.restart()
    assert provision("apply", *ssh_args(host)).rc == 0  # converged: systemd is PID 1
    log = host.sshd_log()
    connections = log.count("Accepted publickey")
    commands = len(re.findall(r"Starting session: command for ", log))
    again = provision("apply", *ssh_args(host), "--json")
    assert again.rc == 0 and again.json["hosts"][0]["changed"] == 0, again
    log = host.sshd_log()
    assert log.count("Accepted publickey") - connections == 1
    assert len(re.findall(r"Starting session: command for ", log)) - commands <= 2  # the budget: 1 today


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory) -> Path:
    """The example plugin of docs/extending.md, installed with pip into a directory of its own."""
    target = tmp_path_factory.mktemp("plugin")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        str(PLUGIN)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return target


def test_a_plugin_resource_type_is_planned_applied_and_verified_like_a_built_in(fresh_root, tmp_path,
                                                                               plugin_path):
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    book = tmp_path / "tz.yml"
    book.write_text("resources:\n  - timezone:\n      name: Europe/Berlin\n")
    target = ["-H", fresh_root.target]

    plan = provision("plan", str(book), *target, "--json", env=env)
    assert plan.rc == 0, plan
    res = plan.json["hosts"][0]["resources"][0]
    assert (res["type"], res["status"]) == ("timezone", "changed")
    assert [c["summary"] for c in res["changes"]] == ["point /etc/localtime at Europe/Berlin",
                                                      "write Europe/Berlin to /etc/timezone"]
    assert os.readlink(fresh_root.file("/etc/localtime")) == "/usr/share/zoneinfo/Etc/UTC"  # plan: unchanged

    failing = provision("verify", str(book), *target, env=env)
    assert failing.rc == 1 and "/etc/localtime -> /usr/share/zoneinfo/Etc/UTC" in failing.stderr, failing

    first = provision("apply", str(book), *target, "--json", env=env)
    assert first.rc == 0 and first.json["hosts"][0]["changed"] == 1, first
    assert os.readlink(fresh_root.file("/etc/localtime")) == "/usr/share/zoneinfo/Europe/Berlin"
    assert fresh_root.file("/etc/timezone").read_text() == "Europe/Berlin\n"
    second = provision("apply", str(book), *target, "--json", env=env)
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    assert second.json["hosts"][0]["resources"][0]["reason"] == "the time zone is Europe/Berlin"

    proved = provision("verify", str(book), *target, "--json", env=env)
    assert proved.rc == 0, proved
    assert [c["name"] for c in proved.json["hosts"][0]["checks"]] == [
        "timezone: /etc/localtime is Europe/Berlin", "timezone: /etc/timezone names Europe/Berlin"]

    bad = tmp_path / "bad.yml"
    bad.write_text("resources:\n  - timezone:\n      name: ../../etc/passwd\n")
    refused = provision("plan", str(bad), *target, env=env)
    assert refused.rc == 2 and "a zone name like Europe/Berlin" in refused.stderr, refused
    exported = provision("export", "cloud-init", str(book), "--facts", "os=debian-12", env=env)
    assert exported.rc == 2 and exported.stdout == "", exported  # refused, never dropped silently
    assert "tz.yml:2: resources[0].timezone: timezone cannot be exported to cloud-init: the timezone " \
        "resource type has no cloud-init export" in exported.stderr, exported
    without = provision("plan", str(book), *target)  # the same playbook without the plugin installed
    assert without.rc == 2 and "timezone: unknown resource type" in without.stderr, without
