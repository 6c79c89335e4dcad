"""Issue 8 end to end: one resolve loop whose facts follow the run. A value known only from an
earlier resource's output gets its fact read when it is rendered; facts an apply makes stale are
read again; a resource type from another package (entry point) is planned, applied and verified
like a built-in one."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import Result, provision

pytestmark = pytest.mark.lab

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


def in_venv(venv: Path, *args: str, cwd: Path) -> Result:
    """The venv's own provision command (its plugin found through its entry point), not this checkout's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return Result(subprocess.run([str(venv / "bin/provision"), *args], capture_output=True, cwd=cwd, env=env,
                                 stdin=subprocess.DEVNULL, timeout=1800))


def test_a_plugin_installed_by_pip_is_listed_documented_diffed_applied_verified_and_rolled_back(
        fresh_root, tmp_path, plugin_venv):
    book = tmp_path / "tz.yml"
    book.write_text("resources:\n  - timezone:\n      name: Europe/Berlin\n")
    target = ["-H", fresh_root.target]

    def run(*args: str) -> Result:
        return in_venv(plugin_venv, *args, cwd=tmp_path)

    listed = run("types")
    assert listed.rc == 0 and "[plugin: provision_timezone]" in listed.stdout.split("\ntimezone ")[1], listed
    documented = run("types", "timezone")
    assert documented.rc == 0 and "| `name` | string |" in documented.stdout, documented
    assert "Europe/Berlin" in documented.stdout and "/etc/timezone" in documented.stdout

    diffed = run("plan", str(book), *target, "--diff")
    assert diffed.rc == 0, diffed
    assert "-Etc/UTC" in diffed.stderr and "+Europe/Berlin" in diffed.stderr, diffed
    plan = run("plan", str(book), *target, "--json")
    assert plan.rc == 0, plan
    res = plan.json["hosts"][0]["resources"][0]
    assert (res["type"], res["status"]) == ("timezone", "changed")
    assert [c["summary"] for c in res["changes"]] == ["point /etc/localtime at Europe/Berlin",
                                                      "write Europe/Berlin to /etc/timezone"]
    assert os.readlink(fresh_root.file("/etc/localtime")) == "/usr/share/zoneinfo/Etc/UTC"  # plan: unchanged

    failing = run("verify", str(book), *target)
    assert failing.rc == 1 and "/etc/localtime -> /usr/share/zoneinfo/Etc/UTC" in failing.stderr, failing

    first = run("apply", str(book), *target)
    assert first.rc == 0, first
    assert "pointed /etc/localtime at Europe/Berlin" in first.stderr, first  # its own wording, not "(done)"
    assert "wrote Europe/Berlin to /etc/timezone" in first.stderr, first
    assert os.readlink(fresh_root.file("/etc/localtime")) == "/usr/share/zoneinfo/Europe/Berlin"
    assert fresh_root.file("/etc/timezone").read_text() == "Europe/Berlin\n"
    second = run("apply", str(book), *target, "--json")
    assert second.rc == 0 and second.json["hosts"][0]["changed"] == 0, second
    assert second.json["hosts"][0]["resources"][0]["reason"] == "the time zone is Europe/Berlin"

    proved = run("verify", str(book), *target, "--json")
    assert proved.rc == 0, proved
    assert [c["name"] for c in proved.json["hosts"][0]["checks"]] == [
        "timezone: /etc/localtime is Europe/Berlin", "timezone: /etc/timezone names Europe/Berlin"]

    undone = run("rollback", *target)
    assert undone.rc == 0, undone
    assert "point /etc/localtime back at /usr/share/zoneinfo/Etc/UTC" in undone.stderr, undone
    assert os.readlink(fresh_root.file("/etc/localtime")) == "/usr/share/zoneinfo/Etc/UTC"
    assert fresh_root.file("/etc/timezone").read_text() == "Etc/UTC\n"
    assert run("verify", str(book), *target).rc == 1  # the run is undone: the zone is not Berlin again

    bad = tmp_path / "bad.yml"
    bad.write_text("resources:\n  - timezone:\n      name: ../../etc/passwd\n")
    refused = run("plan", str(bad), *target)
    assert refused.rc == 2 and "a zone name like Europe/Berlin" in refused.stderr, refused
    exported = run("export", "cloud-init", str(book), "--facts", "os=debian-12")
    assert exported.rc == 2 and exported.stdout == "", exported  # refused, never dropped silently
    assert "tz.yml:2: resources[0].timezone: timezone cannot be exported to cloud-init: the timezone " \
        "resource type has no cloud-init export" in exported.stderr, exported
    without = provision("plan", str(book), *target)  # the same playbook without the plugin installed
    assert without.rc == 2 and "timezone: unknown resource type" in without.stderr, without
