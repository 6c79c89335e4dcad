"""A WSL distribution image (a ``.wsl`` file, or a tar.gz for ``wsl --import``) checked against
Microsoft's checklist, from its member list and the few files the checks read.

The rules come from MicrosoftDocs/WSL ``WSL/build-custom-distro.md`` ("Configuration file
recommendations", "Systemd recommendations"), the validator the WSL team runs on distributions
(microsoft/WSL ``distributions/validate-modern.py``: modes, owners, the keys of
``/etc/wsl-distribution.conf`` and ``/etc/wsl.conf``, ``/etc/passwd``, ``/bin/sh``, discouraged
units) and what WSL's init does with the file (``src/linux/init/init.cpp``: ``oobe.command`` is run
once as root through ``/bin/sh -c``, ``oobe.defaultUid`` becomes the default user; the file is
read by the same parser as wsl.conf, so an invalid line ends it), plus what makes an archive safe
to unpack at all: no absolute or ``..`` names, nothing below a symbolic link, no device nodes or
overlayfs whiteouts, nothing in /proc, /sys or /dev.

Pure: ``lint(members, files)`` takes ``Member`` values and the content of the files named in
``WANTED`` (after symbolic links inside the archive are followed); ``provision.imagepack`` reads
them from a real archive.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from provision.formats.wslconf import read as read_conf

ERROR, WARNING = "error", "warning"
USR_LIB_WSL, USR_LIBEXEC_WSL, USR_SHARE_WSL = "/usr/lib/wsl", "/usr/libexec/wsl", "/usr/share/wsl"
DEFAULT_UID = 1000
ICON_MAX = 10 * 1024 * 1024  # build-custom-distro.md: ".ico format with a maximum size of 10MB"
ICO_MAGIC = b"\x00\x00\x01\x00"

# validate-modern.py's list of the keys WSL reads from /etc/wsl-distribution.conf (lower case).
DISTRIBUTION_KEYS = {"oobe.command": "oobe.command", "oobe.defaultuid": "oobe.defaultUid",
                     "oobe.defaultname": "oobe.defaultName", "shortcut.icon": "shortcut.icon",
                     "windowsterminal.profiletemplate": "windowsterminal.profileTemplate"}
# Enabled system units known to break WSL distributions (build-custom-distro.md, validate-modern.py).
DISCOURAGED_UNITS = ("systemd-resolved.service", "systemd-networkd.service",
                     "systemd-networkd-wait-online.service", "systemd-tmpfiles-setup.service",
                     "systemd-tmpfiles-clean.service", "systemd-tmpfiles-clean.timer",
                     "systemd-tmpfiles-setup-dev-early.service", "systemd-tmpfiles-setup-dev.service",
                     "tmp.mount", "NetworkManager.service", "networking.service")
# Files the checks read (their content is looked up after links inside the archive are followed).
WANTED = ("etc/wsl-distribution.conf", "etc/wsl.conf", "etc/passwd", "etc/shadow")
# Extended attributes an image keeps: file capabilities (ping's cap_net_raw), ACLs, user.*.
KEPT_XATTRS = ("security.capability", "system.posix_acl_access", "system.posix_acl_default")
KEPT_XATTR_PREFIXES = ("user.",)


def kept_xattr(name: str) -> bool:
    """Whether an image carries this extended attribute (overlayfs's trusted.overlay.* and the
    host's SELinux/IMA labels are the host's business, not the distribution's)."""
    return name in KEPT_XATTRS or name.startswith(KEPT_XATTR_PREFIXES)


@dataclass(frozen=True)
class Member:
    """One archive member, as tar records it (``name`` as written in the archive)."""

    name: str
    kind: str  # file | dir | symlink | hardlink | chardev | blockdev | fifo | other
    mode: int = 0o644  # permission bits (with setuid/setgid/sticky)
    uid: int = 0
    gid: int = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[str, ...] = ()  # names of the extended attributes recorded for it


@dataclass(frozen=True)
class Finding:
    level: str  # ERROR | WARNING
    rule: str  # a short stable name, e.g. "device-node"
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message} [{self.rule}]"


def clean_name(name: str) -> str | None:
    """The member's path relative to the root ("etc/passwd" for "./etc/passwd"), or None when it
    is absolute or has a ``..`` component (it would be unpacked outside the root)."""
    if name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


class Tree:
    """The archive's members by clean name, with symbolic links followed inside the archive."""

    def __init__(self, members: Iterable[Member]) -> None:
        self.by_name: dict[str, Member] = {}
        for m in members:
            name = clean_name(m.name)
            if name is not None and name not in self.by_name:
                self.by_name[name] = m

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """``path`` (absolute inside the distribution, or relative to its root) with every link
        followed inside the archive; None when it does not exist there or loops."""
        todo = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            here = "/".join([*done, part])
            member = self.by_name.get(here)
            if member is None and here:
                return None
            if member is not None and member.kind == "symlink" and (todo or follow_last):
                hops += 1
                if hops > 40:
                    return None
                target = member.linkname
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            done.append(part)
        return "/".join(done)

    def get(self, path: str) -> Member | None:
        name = self.resolve(path)
        return self.by_name.get(name) if name is not None else None


def _archive_rules(members: list[Member], tree: Tree) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    links = {n for n, m in tree.by_name.items() if m.kind == "symlink"}
    for m in members:
        name = clean_name(m.name)
        if name is None:
            out.append(Finding(ERROR, "unsafe-name", f"{m.name!r}: an absolute name or one with '..' would "
                                                      "be unpacked outside the distribution's root"))
            continue
        if name in seen:
            out.append(Finding(ERROR, "duplicate", f"/{name} is in the archive twice (the second replaces "
                                                   "the first when it is unpacked)"))
        seen.add(name)
        parts = name.split("/")
        under = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in links), None)
        if under is not None:
            out.append(Finding(ERROR, "under-link", f"/{name} lies below the symbolic link /{under}: unpacking "
                                                    "it would write wherever that link points"))
        if m.kind in ("chardev", "blockdev"):
            if m.kind == "chardev" and m.devmajor == 0 and m.devminor == 0:
                out.append(Finding(ERROR, "whiteout", f"/{name} is an overlayfs whiteout (a character device "
                                                      "0:0): pack the merged root, not a layer"))
            else:
                out.append(Finding(ERROR, "device-node", f"/{name} is a device node: WSL makes /dev itself, "
                                                         "and a device node elsewhere is a door to the hardware"))
        if parts[0] in ("proc", "sys", "dev") and len(parts) > 1:
            out.append(Finding(ERROR, "virtual-fs", f"/{name}: nothing belongs below /{parts[0]} (WSL mounts "
                                                    f"/{parts[0]} when the distribution starts)"))
        if m.kind == "hardlink":
            target = clean_name(m.linkname)
            if target is None or target not in tree.by_name:
                out.append(Finding(ERROR, "hardlink", f"/{name} is a hard link to {m.linkname!r}, which is not "
                                                      "an earlier member of the archive"))
        overlay = [x for x in m.xattrs if x.startswith(("trusted.overlay.", "user.overlay."))]
        if overlay:
            out.append(Finding(ERROR, "overlay-xattr", f"/{name} carries overlayfs's own attributes "
                                                       f"({', '.join(overlay)}): pack the merged root"))
    return out


def _mode_rule(tree: Tree, path: str, modes: tuple[int, ...], rule: str) -> list[Finding]:
    m = tree.get(path)
    if m is None:
        return []
    out = []
    if m.kind != "file":
        out.append(Finding(ERROR, rule, f"{path} is a {m.kind}, not a regular file"))
    elif stat.S_IMODE(m.mode) not in modes:
        want = " or ".join(f"{x:04o}" for x in modes)
        out.append(Finding(WARNING, rule, f"{path} has mode {stat.S_IMODE(m.mode):04o} (expected {want})"))
    if m.uid != 0 or m.gid != 0:
        out.append(Finding(WARNING, rule, f"{path} is owned by {m.uid}:{m.gid} (expected root, 0:0)"))
    return out


def _conf_keys(data: bytes, path: str, known: dict[str, str], rule: str) -> tuple[dict[str, str], list[Finding]]:
    """The keys WSL reads from the file (first occurrence), and what is wrong with it."""
    reading = read_conf(data)
    out: list[Finding] = []
    keys: dict[str, str] = {}
    for ln in reading.lines:
        if ln is reading.stop:
            out.append(Finding(ERROR, rule, f"{path} line {ln.no}: {ln.problem}: WSL stops reading the file "
                                            "there, and every setting after it is lost"))
            break
        if ln.kind != "key":
            continue
        if not ln.section:
            out.append(Finding(ERROR, rule, f"{path} line {ln.no}: {ln.name} comes before any [section]: WSL "
                                            "ignores it"))
            continue
        if ln.key not in known:
            near = [v for k, v in known.items() if k.split(".")[1] == ln.name.lower()]
            hint = f" (it belongs in [{near[0].split('.')[0]}])" if near else \
                f" (known: {', '.join(known.values())})"
            out.append(Finding(ERROR, rule, f"{path} line {ln.no}: [{ln.section}] {ln.name}: WSL does not read "
                                            f"this key{hint}"))
            continue
        keys.setdefault(ln.key, ln.value or "")
    return keys, out


def _distribution_rules(tree: Tree, files: dict[str, bytes]) -> tuple[int | None, list[Finding]]:
    path = "/etc/wsl-distribution.conf"
    data = files.get("etc/wsl-distribution.conf")
    if data is None:
        return None, [Finding(ERROR, "distribution-conf", f"{path} is missing: WSL has no default name for the "
                                                          "distribution and runs no first-start setup")]
    out = _mode_rule(tree, path, (0o644, 0o664), "distribution-conf")
    keys, problems = _conf_keys(data, path, DISTRIBUTION_KEYS, "distribution-conf")
    out += problems
    if not keys.get("oobe.defaultname"):
        out.append(Finding(ERROR, "default-name", f"{path}: no [oobe] defaultName (a .wsl file cannot be "
                                                  "installed by double-clicking it without one)"))
    uid: int | None = None
    raw_uid = keys.get("oobe.defaultuid")
    if raw_uid is not None:
        if not raw_uid.isdigit():
            out.append(Finding(ERROR, "default-uid", f"{path}: [oobe] defaultUid={raw_uid!r} is not a user id"))
        else:
            uid = int(raw_uid)
            if uid != DEFAULT_UID:
                out.append(Finding(WARNING, "default-uid", f"{path}: [oobe] defaultUid={uid} (Microsoft's "
                                                           f"checklist asks for {DEFAULT_UID})"))
    command = keys.get("oobe.command")
    if command:
        program = command.split()[0]
        if tree.get(program) is None:
            out.append(Finding(ERROR, "oobe-command", f"{path}: [oobe] command {program} is not in the image "
                                                      "(WSL refuses to open a shell when it fails)"))
        else:
            out += [Finding(f.level, "oobe-command", f.message)
                    for f in _mode_rule(tree, program, (0o755, 0o775), "oobe-command")]
        if not program.startswith((USR_LIB_WSL + "/", USR_LIBEXEC_WSL + "/")):
            out.append(Finding(WARNING, "oobe-command", f"{path}: [oobe] command {program} is not under "
                                                        f"{USR_LIB_WSL} or {USR_LIBEXEC_WSL}"))
        if uid is None:
            out.append(Finding(WARNING, "default-uid", f"{path}: [oobe] command without defaultUid: WSL keeps "
                                                       "starting as root after it ran"))
    icon = keys.get("shortcut.icon")
    if not icon:
        out.append(Finding(WARNING, "icon", f"{path}: no [shortcut] icon (the Start menu shows WSL's own)"))
    else:
        m = tree.get(icon)
        if m is None:
            out.append(Finding(ERROR, "icon", f"{path}: [shortcut] icon {icon} is not in the image"))
        else:
            out += _mode_rule(tree, icon, (0o644, 0o664), "icon")
            if m.size > ICON_MAX:
                out.append(Finding(ERROR, "icon", f"{icon} is {m.size} bytes (at most {ICON_MAX})"))
            head = files.get(icon.lstrip("/"))
            if head is not None and not head.startswith(ICO_MAGIC):
                out.append(Finding(ERROR, "icon", f"{icon} is not a Windows .ico file"))
        if not icon.startswith((USR_LIB_WSL + "/", USR_SHARE_WSL + "/")):
            out.append(Finding(WARNING, "icon", f"{path}: [shortcut] icon {icon} is not under {USR_LIB_WSL} "
                                                f"or {USR_SHARE_WSL}"))
    template = keys.get("windowsterminal.profiletemplate")
    if template and tree.get(template) is None:
        out.append(Finding(ERROR, "terminal-profile", f"{path}: [windowsTerminal] profileTemplate {template} is "
                                                      "not in the image"))
    return uid, out


def _wslconf_rules(tree: Tree, files: dict[str, bytes]) -> list[Finding]:
    data = files.get("etc/wsl.conf")
    if data is None:
        return []
    out = _mode_rule(tree, "/etc/wsl.conf", (0o644, 0o664), "wsl-conf")
    reading = read_conf(data)
    if reading.stop is not None:
        out.append(Finding(ERROR, "wsl-conf", f"/etc/wsl.conf line {reading.stop.no}: {reading.stop.problem}: "
                                              "WSL stops reading the file there"))
    others = sorted(s.key.name for k, s in reading.settings.items() if k != "boot.systemd")
    if others:
        out.append(Finding(WARNING, "wsl-conf", f"/etc/wsl.conf sets {', '.join(others)}: Microsoft's validator "
                                                "accepts only [boot] systemd in a distribution's image"))
    systemd = reading.settings.get("boot.systemd")
    if systemd is not None and systemd.value == "true":
        init = tree.get("/sbin/init")
        if init is None or init.kind != "file" or not init.mode & 0o111:
            out.append(Finding(ERROR, "systemd", "/etc/wsl.conf enables systemd but /sbin/init is not an "
                                                 "executable file in the image (install systemd-sysv)"))
    return out


def _account_rules(tree: Tree, files: dict[str, bytes], default_uid: int | None) -> list[Finding]:
    out: list[Finding] = []
    passwd = files.get("etc/passwd")
    if passwd is None:
        return [Finding(ERROR, "passwd", "/etc/passwd is missing (WSL needs a root user, uid 0)")]
    out += _mode_rule(tree, "/etc/passwd", (0o644, 0o664), "passwd")
    uids: dict[int, str] = {}
    for no, line in enumerate(passwd.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(":")
        if len(fields) != 7 or not fields[2].isdigit():
            out.append(Finding(ERROR, "passwd", f"/etc/passwd line {no} is not a valid entry"))
            continue
        uid = int(fields[2])
        if uid in uids:
            out.append(Finding(ERROR, "passwd", f"/etc/passwd line {no}: uid {uid} again ({uids[uid]} has it)"))
            continue
        uids[uid] = fields[0]
    if 0 not in uids:
        out.append(Finding(ERROR, "passwd", "/etc/passwd has no root user (uid 0)"))
    elif uids[0] != "root":
        out.append(Finding(ERROR, "passwd", f"/etc/passwd: uid 0 is {uids[0]!r}, not root"))
    if default_uid is not None and default_uid in uids:
        out.append(Finding(WARNING, "passwd", f"/etc/passwd already has uid {default_uid} ({uids[default_uid]}): "
                                              "the first-start setup will not create the default user"))
    shadow = files.get("etc/shadow")
    if shadow is None:
        out.append(Finding(WARNING, "shadow", "/etc/shadow is missing"))
    else:
        m = tree.get("/etc/shadow")
        if m is not None and stat.S_IMODE(m.mode) & 0o004:
            out.append(Finding(ERROR, "shadow", f"/etc/shadow is readable by everyone "
                                                f"(mode {stat.S_IMODE(m.mode):04o})"))
        hashed = [f[0] for f in (ln.split(":") for ln in shadow.decode("utf-8", "replace").splitlines())
                  if len(f) > 1 and f[1].lstrip("!") not in ("", "*")]
        if hashed:
            out.append(Finding(ERROR, "shadow", f"/etc/shadow holds password hashes ({', '.join(hashed[:5])}): "
                                                "everyone who installs the image would get them"))
    return out


def _system_rules(tree: Tree) -> list[Finding]:
    out: list[Finding] = []
    if tree.by_name.get("etc/resolv.conf") is not None:
        out.append(Finding(ERROR, "resolv-conf", "/etc/resolv.conf is in the image: WSL writes its own at "
                                                 "start (leave it out)"))
    for path, level in (("/bin/sh", ERROR), ("/bin/bash", WARNING)):
        m = tree.get(path)
        if m is None or m.kind != "file" or not m.mode & 0o111:
            out.append(Finding(level, "shell", f"{path} is not an executable file in the image"))
    for name, m in tree.by_name.items():
        base = posixpath.basename(name)
        if name.startswith("boot/") and base.startswith(("vmlinuz", "vmlinux", "initrd", "initramfs")):
            out.append(Finding(ERROR, "kernel", f"/{name}: a kernel or an initramfs (WSL brings its own kernel)"))
        if name.startswith("etc/ssh/ssh_host_") and name.endswith("_key") and m.kind == "file":
            out.append(Finding(WARNING, "host-key", f"/{name}: every installed copy would share this SSH host "
                                                    "key (remove it; ssh-keygen -A makes new ones)"))
        parent = posixpath.dirname(name)
        if (base in DISCOURAGED_UNITS and parent.endswith(".wants")
                and parent.startswith(("etc/systemd/system/", "usr/lib/systemd/system/", "lib/systemd/system/"))):
            masked = tree.by_name.get(f"etc/systemd/system/{base}")
            if masked is None or masked.kind != "symlink" or masked.linkname != "/dev/null":
                out.append(Finding(WARNING, "unit", f"/{name}: {base} is enabled, and it is known to break WSL "
                                                    "distributions (disable or mask it)"))
    return out


def lint(members: list[Member], files: dict[str, bytes]) -> list[Finding]:
    """Every finding, errors and warnings, in a stable order. ``files``: the content of the
    ``WANTED`` files and of the icon (its first bytes are enough), by clean name."""
    tree = Tree(members)
    out = _archive_rules(members, tree)
    default_uid, dist = _distribution_rules(tree, files)
    out += dist
    out += _wslconf_rules(tree, files)
    out += _account_rules(tree, files, default_uid)
    out += _system_rules(tree)
    return out


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == ERROR]


def lint_format(name: str, head: bytes) -> list[Finding]:
    """The archive's compression, from its first bytes: gzip is what Microsoft recommends (xz is
    read too); a .wsl file or a .gz name that is something else is refused."""
    if head.startswith(b"\x1f\x8b") or head.startswith(b"\xfd7zXZ\x00"):
        return []
    if name.endswith((".wsl", ".gz", ".tgz")):
        return [Finding(ERROR, "format", f"{name} is not gzip-compressed (WSL installs .wsl files as gzip'd tar)")]
    return [Finding(WARNING, "format", f"{name} is not compressed: fine for wsl --import, not for a .wsl file")]
