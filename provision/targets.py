"""Targets: where a playbook runs. ``-H`` specs and inventory files become ``Target`` values.

A target is ``local``, ``chroot:/path/to/rootfs``, ``wsl:DISTRO`` (a WSL distro, through wsl.exe)
or an SSH host: ``user@host[:port]``,
``ssh://user@host:port``, ``[2001:db8::1]:22`` or a plain name (resolved through ssh_config, then
DNS). Inventories (see docs/inventory.md) add groups, per-host and per-group variables and
connection settings; an Ansible YAML or INI inventory is read as well (hosts, groups, children,
``ansible_host``, ``ansible_user``, ``ansible_port``).

Nothing here connects: targets are checked and resolved before any host is touched. Every SSH
destination (a ``-H`` host, an inventory host name or ``address``, a ProxyJump hop) is a host name,
an ssh_config Host alias or an IP literal, and every user a plain user name: nothing that ``ssh``
could read as an option (a leading ``-``) or that could carry whitespace or control characters.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provision.errors import PlaybookError, UsageError

if TYPE_CHECKING:  # yaml is imported only to read an inventory file, not for -H targets
    from provision.yamlsrc import Located, YamlPath

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a host name, an ssh_config alias, an IPv4 address
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# WSL's rule for a distribution name (microsoft/WSL-DistroLauncher DistributionInfo.h:
# ^[a-zA-Z0-9._-]+$), and never a leading '-': wsl.exe would read it as an option.
_DISTRO = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")
MAX_DISTRO = 64
CONNECTION_KEYS = ("address", "user", "port", "identity_file", "connect_timeout")


@dataclass(frozen=True)
class Target:
    """One host to run on. ``name`` labels it in output and JSON, and is unique in a run."""

    name: str
    kind: str  # local | chroot | wsl | ssh
    root: str = ""  # chroot: the root file system
    distro: str = ""  # wsl: the WSL distro's name
    address: str = ""  # ssh: what to connect to (looked up in ssh_config first); default: name
    user: str | None = None  # ssh: login user (None: ssh_config, else the local user name)
    port: int | None = None  # ssh: None = ssh_config, else 22
    identity_file: str | None = None
    connect_timeout: float | None = None
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    groups: tuple[str, ...] = ()

    @property
    def ssh_host(self) -> str:
        return self.address or self.name


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be an SSH destination, or None: a host name or ssh_config Host alias
    (letters, digits, ``_.-``, not starting with ``-`` or ``.``) or an IP address (IPv6 bare here;
    in ``-H`` with a port, in brackets)."""
    if _HOST.match(host):
        return None
    if host.startswith("-"):
        return "starts with '-' (ssh would read it as an option)"
    if any(c.isspace() or not c.isprintable() for c in host):
        return "contains whitespace or control characters"
    if ":" in host:
        addr, _, zone = host.partition("%")
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            return "is not a host name or an IP address"
        return None if not zone or _HOST.match(zone) else "has a bad IPv6 zone"
    return "is not a host name or an IP address"


def distro_problem(name: str) -> str | None:
    """Why ``name`` cannot be a WSL distro name, or None (letters, digits, ``._-``, not ``-`` first)."""
    if not name:
        return "is empty"
    if name.startswith("-"):
        return "starts with '-' (wsl.exe would read it as an option)"
    if len(name) > MAX_DISTRO:
        return f"is longer than {MAX_DISTRO} characters"
    if not _DISTRO.match(name):
        return "is not a WSL distro name (letters, digits, '.', '_' and '-' only)"
    return None


def _name_problem(name: object) -> str | None:
    """Why an inventory host name is unusable, or None: ``local``, ``chroot:/path`` or an SSH
    destination (the name is the address when the inventory gives none)."""
    if not isinstance(name, str):
        return "is not a usable host name"
    if name == "local" or name.startswith("chroot:/") and name.isprintable():
        return None
    if name.startswith("wsl:"):
        problem = distro_problem(name[len("wsl:"):])
        return f"host name {name!r}: the distro name {problem}" if problem else None
    problem = host_problem(name)
    return f"host name {name!r} {problem}" if problem else None


def user_problem(user: str) -> str | None:
    """Why ``user`` cannot be a login name, or None (letters, digits, ``_.-``, no leading ``-``)."""
    return None if _USER.match(user) else "is not a user name"


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"target {spec!r}: port must be a number from 1 to 65535")
    return int(text)


def parse_spec(spec: str) -> Target:
    """A ``-H`` value → Target (raises UsageError with an example when it cannot be read)."""
    text = spec.strip(" ")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(f"target {spec!r}: contains whitespace or control characters")
    if text == "local":
        return Target("local", "local")
    if text.startswith("chroot:"):
        root = text[len("chroot:"):]
        if not root.startswith("/"):
            raise UsageError(f"target {spec!r}: chroot needs an absolute path, e.g. chroot:/srv/rootfs")
        return Target(text, "chroot", root=root)
    if text.startswith("wsl:"):
        distro = text[len("wsl:"):]
        problem = distro_problem(distro)
        if problem:
            raise UsageError(f"target {spec!r}: the distro name {distro!r} {problem}; e.g. wsl:Ubuntu-24.04 "
                             "(the NAME column of `wsl.exe -l -v`)")
        return Target(text, "wsl", distro=distro)
    rest = text
    if rest.startswith("ssh://"):
        rest = rest[len("ssh://"):].rstrip("/")
    elif "://" in rest:
        raise UsageError(f"target {spec!r}: unknown scheme (use local, chroot:/path, wsl:DISTRO, "
                         "user@host[:port] or ssh://user@host:port)")
    user = None
    if "@" in rest:
        user, _, rest = rest.rpartition("@")
        if user_problem(user):
            raise UsageError(f"target {spec!r}: {user!r} is not a user name")
    port = None
    if rest.startswith("["):  # [IPv6]:port
        host, sep, tail = rest[1:].partition("]")
        if not sep:
            raise UsageError(f"target {spec!r}: missing ']' after an IPv6 address")
        if tail:
            if not tail.startswith(":"):
                raise UsageError(f"target {spec!r}: expected ':port' after ']'")
            port = _port(tail[1:], spec)
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = _port(p, spec)
    else:
        host = rest  # a name, or a bare IPv6 address (two colons or more)
    problem = host_problem(host) if host else "has no host"
    if problem:
        raise UsageError(f"unknown target {spec!r}: {host!r} {problem}; use 'local', 'chroot:/path/to/rootfs', "
                         "'wsl:DISTRO', 'user@host[:port]', 'user@[IPv6]:port' or 'ssh://user@host:port'")
    return Target(text, "ssh", address=host, user=user, port=port)


def jump_hops(value: str) -> list[Target]:
    """ssh_config's ProxyJump ``[user@]host[:port],...`` → its hops, first hop first (``[]`` for
    ``none``); each one checked as a ``-H`` host is (raises UsageError)."""
    if value.strip().lower() in ("", "none"):
        return []
    hops = []
    for spec in value.split(","):
        hop = parse_spec(spec)
        if hop.kind != "ssh":
            raise UsageError(f"ProxyJump {value!r}: {spec!r} is not an SSH host")
        hops.append(hop)
    return hops


# --------------------------------------------------------------------------- inventories

class _Inv:
    """Collects hosts and groups from any inventory format, in file order."""

    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, Any]] = {}  # name -> connection settings + "vars"
        self.groups: dict[str, dict[str, Any]] = {}  # name -> {"hosts": [...], "children": [...], settings, vars}
        self.defaults: dict[str, Any] = {"vars": {}}

    def host(self, name: str) -> dict[str, Any]:
        return self.hosts.setdefault(name, {"vars": {}})

    def group(self, name: str) -> dict[str, Any]:
        return self.groups.setdefault(name, {"hosts": [], "children": [], "vars": {}})

    def members(self, group: str, seen: frozenset[str] = frozenset()) -> list[str]:
        g = self.groups.get(group)
        if g is None or group in seen:
            return []
        out = list(g["hosts"])
        for child in g["children"]:
            out += [h for h in self.members(child, seen | {group}) if h not in out]
        return out

    def targets(self) -> list[Target]:
        memberships: dict[str, list[str]] = {h: [] for h in self.hosts}
        for g in self.groups:
            for h in self.members(g):
                memberships.setdefault(h, []).append(g)
        out = []
        for name, hs in self.hosts.items():
            settings: dict[str, Any] = {k: v for k, v in self.defaults.items() if k != "vars"}
            vars_: dict[str, Any] = dict(self.defaults["vars"])
            for g in memberships.get(name, []):  # groups in file order; later ones win
                grp = self.groups[g]
                settings.update({k: v for k, v in grp.items() if k in CONNECTION_KEYS})
                vars_.update(grp["vars"])
            settings.update({k: v for k, v in hs.items() if k in CONNECTION_KEYS})
            vars_.update(hs["vars"])
            if name == "local" or name.startswith(("chroot:", "wsl:")):
                base = parse_spec(name)
            else:
                base = Target(name, "ssh")
            out.append(replace(base, vars=vars_, groups=tuple(memberships.get(name, [])), **settings))
        return out


_SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "address": str, "user": str, "port": int, "identity_file": str, "connect_timeout": (int, float)}
_ANSIBLE = {"ansible_host": "address", "ansible_ssh_host": "address", "ansible_user": "user",
            "ansible_ssh_user": "user", "ansible_port": "port", "ansible_ssh_port": "port",
            "ansible_ssh_private_key_file": "identity_file", "ansible_private_key_file": "identity_file"}


def _settings(src: Located, path: YamlPath, d: Any, allowed: tuple[str, ...], into: dict[str, Any]) -> None:
    if d is None:
        return
    if not isinstance(d, dict):
        raise src.error(path, "must be a mapping")
    for key, value in d.items():
        if key not in allowed:
            raise src.error(path + (key,), f"unknown key (allowed: {', '.join(allowed)})")
        if key == "vars":
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise src.error(path + (key,), "must be a mapping of variable: value")
            into["vars"].update(value)
        elif key in _SETTING_TYPES:
            _setting(src, path + (key,), key, value, into)


def _setting(src: Located, where: YamlPath, key: str, value: Any, into: dict[str, Any]) -> None:
    """One connection setting, checked; errors name ``where`` (the key as the file spells it)."""
    if not isinstance(value, _SETTING_TYPES[key]) or isinstance(value, bool):
        kind = "number" if key in ("port", "connect_timeout") else "string"
        raise src.error(where, f"must be a {kind}")
    if key == "port" and not (isinstance(value, int) and 0 < value < 65536):
        raise src.error(where, "must be a port number (1-65535)")
    problem = _value_problem(key, value)
    if problem:
        raise src.error(where, problem)
    into[key] = value


def _value_problem(key: str, value: object) -> str | None:
    """An ``address`` or ``user`` setting that ssh must not see (see host_problem, user_problem)."""
    if key == "address" and isinstance(value, str):
        problem = host_problem(value)
        return f"{value!r} {problem}" if problem else None
    if key == "user" and isinstance(value, str):
        problem = user_problem(value)
        return f"{value!r} {problem}" if problem else None
    return None


def _native(src: Located, doc: dict[str, Any]) -> _Inv:
    inv = _Inv()
    top = ("defaults", "vars", "hosts", "groups")
    for key in doc:
        if key not in top:
            raise src.error((key,), f"unknown key (allowed: {', '.join(top)})")
    _settings(src, ("defaults",), doc.get("defaults"), CONNECTION_KEYS, inv.defaults)
    _settings(src, (), {"vars": doc["vars"]} if "vars" in doc else None, ("vars",), inv.defaults)
    hosts = doc.get("hosts") or {}
    if not isinstance(hosts, dict):
        raise src.error(("hosts",), "must be a mapping of host name: settings")
    for name, body in hosts.items():
        problem = _name_problem(name)
        if problem:
            raise src.error(("hosts", name), problem)
        _settings(src, ("hosts", name), body, CONNECTION_KEYS + ("vars",), inv.host(name))
    groups = doc.get("groups") or {}
    if not isinstance(groups, dict):
        raise src.error(("groups",), "must be a mapping of group name: {hosts, vars, ...}")
    for gname, body in groups.items():
        if not isinstance(gname, str) or not _NAME.match(gname):
            raise src.error(("groups", gname), "not a usable group name")
        g = inv.group(gname)
        if not isinstance(body, dict):
            raise src.error(("groups", gname), "must be a mapping with 'hosts' (and optionally vars, user, ...)")
        members = body.get("hosts", [])
        children = body.get("children", [])
        for key, value in (("hosts", members), ("children", children)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise src.error(("groups", gname, key), "must be a list of names")
        for i, h in enumerate(members):
            if h not in inv.hosts:
                raise src.error(("groups", gname, "hosts", i), f"host {h!r} is not listed under 'hosts'")
        g["hosts"] += members
        g["children"] += children
        _settings(src, ("groups", gname), {k: v for k, v in body.items() if k not in ("hosts", "children")},
                  CONNECTION_KEYS + ("vars",), g)
    for gname, g in inv.groups.items():
        for child in g["children"]:
            if child not in inv.groups:
                raise src.error(("groups", gname, "children"), f"no group {child!r}")
    return inv


def _ansible_vars(src: Located, path: YamlPath, d: Any, into: dict[str, Any]) -> None:
    if d is None:
        return
    if not isinstance(d, dict):
        raise src.error(path, "must be a mapping")
    for key, value in d.items():
        if key in _ANSIBLE:
            _setting(src, path + (key,), _ANSIBLE[key], value, into)
        elif isinstance(key, str) and key.startswith("ansible_"):
            continue  # other connection settings of Ansible's (become, python, ...): not ours
        else:
            into["vars"][key] = value


def _ansible_group(src: Located, inv: _Inv, name: str, body: Any, path: YamlPath) -> None:
    g = inv.group(name)
    if body is None:
        return
    if not isinstance(body, dict):
        raise src.error(path, "an Ansible group is a mapping with hosts, children, vars")
    for key in body:
        if key not in ("hosts", "children", "vars"):
            raise src.error(path + (key,), "unknown key in an Ansible group (hosts, children, vars)")
    for hname, hbody in (body.get("hosts") or {}).items():
        problem = _name_problem(hname)
        if problem:
            raise src.error(path + ("hosts", hname), problem)
        inv.host(str(hname))
        if str(hname) not in g["hosts"]:
            g["hosts"].append(str(hname))
        _ansible_vars(src, path + ("hosts", hname), hbody, inv.host(str(hname)))
    _ansible_vars(src, path + ("vars",), body.get("vars"), g)
    for cname, cbody in (body.get("children") or {}).items():
        g["children"].append(str(cname))
        _ansible_group(src, inv, str(cname), cbody, path + ("children", cname))


def _ansible_yaml(src: Located, doc: dict[str, Any]) -> _Inv:
    inv = _Inv()
    for gname, body in doc.items():
        _ansible_group(src, inv, str(gname), body, (gname,))
    if "all" in inv.groups:  # vars of 'all' are everyone's defaults
        all_ = inv.groups.pop("all")
        inv.defaults.update({k: v for k, v in all_.items() if k in CONNECTION_KEYS})
        inv.defaults["vars"].update(all_["vars"])  # its children stay plain groups
    return inv


def _ansible_ini(text: str, file: str) -> _Inv:
    inv = _Inv()
    section = "ungrouped"
    kind = "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip() if not raw.lstrip().startswith(("#", ";")) else ""
        if not line:
            continue
        m = re.match(r"^\[([^\]:]+)(?::(children|vars))?\]$", line)
        if m:
            section, kind = m.group(1), m.group(2) or "hosts"
            inv.group(section)
            continue
        if kind == "children":
            inv.group(section)["children"].append(line.split()[0])
            continue
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise PlaybookError("expected key=value", file=file, line=n)
            into = inv.group(section)
            _ini_var(key.strip(), value.strip(), into, file, n)
            continue
        parts = line.split()
        name = parts[0]
        problem = _name_problem(name)
        if problem:
            raise PlaybookError(problem, file=file, line=n)
        h = inv.host(name)
        for kv in parts[1:]:
            key, sep, value = kv.partition("=")
            if not sep:
                raise PlaybookError(f"expected key=value after the host name, got {kv!r}", file=file, line=n)
            _ini_var(key, value, h, file, n)
        g = inv.group(section)
        if name not in g["hosts"]:
            g["hosts"].append(name)
    if "all" in inv.groups:
        all_ = inv.groups.pop("all")
        inv.defaults.update({k: v for k, v in all_.items() if k in CONNECTION_KEYS})
        inv.defaults["vars"].update(all_["vars"])
    if not inv.groups.get("ungrouped", {}).get("hosts"):
        inv.groups.pop("ungrouped", None)
    return inv


def _ini_var(key: str, value: str, into: dict[str, Any], file: str, line: int) -> None:
    import yaml

    value = value.strip("'\"") if value[:1] in "'\"" else value
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        parsed = value
    if key in _ANSIBLE:
        setting = _ANSIBLE[key]
        if setting == "port":
            if not isinstance(parsed, int) or not 0 < parsed < 65536:
                raise PlaybookError(f"{key}: must be a port number", file=file, line=line)
            into["port"] = parsed
        else:
            problem = _value_problem(setting, value)
            if problem:
                raise PlaybookError(f"{key}: {problem}", file=file, line=line)
            into[setting] = str(value)
    elif not key.startswith("ansible_"):
        into["vars"][key] = parsed


def load_inventory(path: str | Path) -> list[Target]:
    """Read an inventory (ours, or Ansible's YAML or INI) → targets, in file order."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"inventory {path}: cannot read: {exc}") from None
    file = str(path)
    looks_ini = p.suffix in (".ini", ".cfg", "") and re.search(r"^\s*\[[^\]]+\]\s*$", text, re.M)
    if looks_ini:
        inv = _ansible_ini(text, file)
    else:
        from provision.yamlsrc import parse

        src = parse(text, file)
        doc = src.value
        if not isinstance(doc, dict) or not doc:
            raise PlaybookError("an inventory is a mapping with 'hosts' (and optionally groups, vars, "
                                "defaults), or an Ansible inventory", file=file, line=1)
        hosts = doc.get("hosts")
        ansible_like = isinstance(hosts, dict) and any(
            isinstance(v, dict) and {"hosts", "children"} & set(v) for v in hosts.values())
        native = set(doc) <= {"defaults", "vars", "hosts", "groups"} and not ansible_like
        inv = _native(src, doc) if native else _ansible_yaml(src, doc)
    targets = inv.targets()
    if not targets:
        raise PlaybookError("the inventory lists no hosts", file=file)
    return targets


def limit(targets: list[Target], pattern: str) -> list[Target]:
    """``--limit``: comma-separated globs on host or group names; a leading '!' excludes."""
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    if not pats:
        raise UsageError("--limit: give a host or group name or a glob")
    include = [p for p in pats if not p.startswith("!")]
    exclude = [p[1:] for p in pats if p.startswith("!")]

    def hit(t: Target, p: str) -> bool:
        return fnmatch.fnmatchcase(t.name, p) or any(fnmatch.fnmatchcase(g, p) for g in t.groups)

    out = [t for t in targets if (not include or any(hit(t, p) for p in include))
           and not any(hit(t, p) for p in exclude)]
    if not out:
        names = ", ".join(t.name for t in targets[:8]) + (" …" if len(targets) > 8 else "")
        raise UsageError(f"--limit {pattern!r} matches no host (hosts: {names})")
    return out


def resolve(hosts: tuple[str, ...] | list[str], inventory: str | None = None,
            pattern: str | None = None) -> list[Target]:
    """Targets from ``-H`` values and an inventory, limited by ``--limit``; names must be unique."""
    targets = [parse_spec(h) for h in hosts]
    if inventory:
        targets += load_inventory(inventory)
    if not targets:
        targets = [Target("local", "local")]
    if pattern:
        targets = limit(targets, pattern)
    dupes = sorted(n for n, count in Counter(t.name for t in targets).items() if count > 1)
    if dupes:
        raise UsageError(f"target given twice: {', '.join(dupes)}")
    return targets
