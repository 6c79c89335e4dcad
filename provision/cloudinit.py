"""A playbook as cloud-init user data (``provision export cloud-init``).

There is no host to ask: the target is described by facts given on the command line (``os``,
``arch``, ``wsl``). Each resource renders its own part through ``Resource.export`` into a
``CloudConfig``, with cloud-init's own modules where one fits (``packages``/``package_update``,
``write_files``) and ``runcmd`` only where none does (an idempotent edit of /etc/environment, the
default java). A resource that cannot be expressed faithfully raises ``NotExportable`` and the
whole export is refused (exit 2), never dropped silently.

cloud-init runs its modules in a fixed order, not the playbook's: ``write_files`` in the init stage,
``runcmd`` is written in the config stage and run in the final stage after
``package_update``/``packages``. Resources that need an installed package therefore use ``runcmd``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from provision import __version__
from provision.cloudconfig import KNOWN_OS as KNOWN_OS
from provision.cloudconfig import NO_RECOMMENDS_CONF as NO_RECOMMENDS_CONF
from provision.cloudconfig import CloudConfig as CloudConfig  # re-exported: plugins' export() takes one
from provision.engine import label_of, resolve
from provision.errors import NotExportable as NotExportable  # re-exported: plugins raise it
from provision.errors import UsageError
from provision.facts.host import HostFacts, OsRelease, WslFacts
from provision.formats.proxy import hide_logins
from provision.paths import playbooks_dir
from provision.plan import Outputs
from provision.playbook import Playbook
from provision.sanitise import shown

ARCHES = ("amd64", "arm64", "armhf", "ppc64el", "s390x", "riscv64", "i386")
_SECRET_VAR = re.compile(r"pass|secret|token|private|credential", re.I)


@dataclass
class ExportFacts:
    """The target as ``--facts`` describes it."""

    os: str
    arch: str = "amd64"
    wsl: int = 0

    def host(self, instance: str = "") -> HostFacts:
        os_id, version, codename, pretty = KNOWN_OS[self.os]
        wsl = WslFacts(version=self.wsl, distro=instance, sbin_init=bool(self.wsl))
        # cloud-init's boot stages run under systemd (on WSL too: it needs [boot] systemd=true)
        return HostFacts(os=OsRelease(os_id, version, codename, pretty, "debian" if os_id == "ubuntu" else ""),
                         arch=self.arch, pid1="systemd", user="root", wsl=wsl)

    def describe(self) -> str:
        return f"os={self.os},arch={self.arch},wsl={self.wsl}"


def parse_facts(text: str) -> ExportFacts:
    """``os=ubuntu-24.04,arch=amd64,wsl=2`` → ExportFacts (os is required). Raises UsageError."""
    given: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or key not in ("os", "arch", "wsl"):
            raise UsageError(f"--facts: {part!r} is not os=…, arch=… or wsl=… (e.g. "
                             "--facts os=ubuntu-24.04,arch=amd64,wsl=2)")
        if key in given:
            raise UsageError(f"--facts: {key} is given twice")
        given[key] = value.lower()
    if "os" not in given:
        raise UsageError("--facts: os=… is required (the target cannot be asked): one of "
                         + ", ".join(KNOWN_OS))
    if given["os"] not in KNOWN_OS:
        raise UsageError(f"--facts: os={given['os']} is not known; one of {', '.join(KNOWN_OS)}")
    arch = given.get("arch", "amd64")
    if arch not in ARCHES:
        raise UsageError(f"--facts: arch={arch} is not a Debian architecture ({', '.join(ARCHES)})")
    wsl = given.get("wsl", "0")
    if wsl not in ("0", "1", "2"):
        raise UsageError(f"--facts: wsl={wsl}: 0 (not WSL), 1 or 2")
    return ExportFacts(given["os"], arch, int(wsl))


def export(playbook: Playbook, facts: ExportFacts, *, instance: str = "") -> str:
    """The playbook as ``#cloud-config`` text for the target ``facts`` describes. Raises
    PlaybookError (a resource that cannot be exported, named with its file and line)."""
    host = facts.host(instance)
    out = CloudConfig(host)
    ctx: dict[str, object] = {**playbook.vars, "facts": host}
    for d in playbook.resources:
        label = label_of(d, ctx, d.type)
        resource = resolve(d, ctx, playbook)
        if resource is None:
            out.summary.append(f"{label}: not included (when: {d.when} is false for these facts)")
            continue
        try:
            outputs: Outputs = resource.export(out)
        except NotExportable as exc:
            raise d.error((), f"{label} cannot be exported to cloud-init: {exc}") from None
        ctx[d.id] = outputs
    return render(out, playbook, facts)


def _vars_line(playbook: Playbook) -> str:
    values = {k: ("<redacted>" if _SECRET_VAR.search(k) else hide_logins(json.dumps(v, default=str)))
              for k, v in playbook.vars.items()}
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "(none)"


def _source(playbook: Playbook) -> str:
    file = Path(playbook.file)
    return "built-in" if file.parent == playbooks_dir() else str(file)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (readable scripts and files)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def render(out: CloudConfig, playbook: Playbook, facts: ExportFacts) -> str:
    head = [
        "#cloud-config",
        f"# Rendered by provision {__version__} from playbook {playbook.name} ({_source(playbook)})",
        f"# variables: {_vars_line(playbook)}",
        f"# for a target with {facts.describe()} (given, not read: check it with provision verify)",
        "# what each resource became:",
        *[f"#   {line}" for line in out.summary],
    ]
    doc = out.document()
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False) if doc else "{}\n"  # nothing to do: an empty mapping
    # the comments quote the playbook (its name, file, resource names, when:): escaped, so that a
    # control character neither makes the YAML invalid nor reaches a terminal the file is shown on
    return "\n".join(shown(line, lines=False).rstrip() for line in head) + "\n" + body
