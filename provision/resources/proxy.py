"""An HTTP proxy for the whole host, from one spec: apt, the login environment, every JDK, Maven, Gradle.

- apt: ``/etc/apt/apt.conf.d/<name>`` (mode 0644) sets ``Acquire::http::Proxy`` and
  ``Acquire::https::Proxy`` to the URL *without* its credentials (every user's apt tools read that
  directory); the login goes to ``/etc/apt/auth.conf.d/<name>.conf`` (mode 0600 root: apt reads
  it as root for the proxy as for repositories). no_proxy host names become per-host ``DIRECT``
  entries; domain suffixes and CIDR blocks cannot be said to apt (the plan names them).
- environment: ``http_proxy``, ``https_proxy``, ``no_proxy`` and their upper-case forms in
  /etc/environment by pam_env's rules (the env_file resource's editor), without the credentials:
  that file is world-readable.
- jvm: each JDK's ``conf/net.properties`` (the file the JDK reads for its default proxy selector,
  whatever the environment, for services and IDEs too) gets a marked block setting
  ``http(s).proxyHost``/``Port`` and ``http.nonProxyHosts`` converted from no_proxy
  (``.example.com`` → ``*.example.com``, ``|``-separated). Debian's is a link to
  /etc/java-<N>-openjdk/net.properties: the file written is the link's target, only when the link,
  the target and every directory above them are root's. JAVA_TOOL_OPTIONS was not chosen: every
  JVM would print "Picked up JAVA_TOOL_OPTIONS" on stderr (breaking tools that read it) and it
  reaches only PAM sessions. The JDK takes no proxy credentials from properties (a client needs
  an Authenticator), so none are written there.
- maven: the global settings (``/etc/maven/settings.xml``, Debian's) get ``<proxy>`` entries
  ``provision-<name>-http`` and ``-https``, first in ``<proxies>`` (Maven uses the first active
  one), everything else in the file kept. With credentials they hold the login, and the file
  becomes mode 0640 root:``maven_group`` (Maven runs as the user, so she must read it; without
  ``maven_group`` credentials are refused there).
- gradle: each of ``gradle_users``' ``~/.gradle/gradle.properties`` (written as hers through the
  shared user-file write: a link, a hard link or a swapped directory is refused; a missing
  ``~/.gradle`` is made by her) and each of ``gradle_properties`` (a GRADLE_USER_HOME's file) get
  ``systemProp.http(s).proxyHost``/``proxyPort``/``nonProxyHosts`` and, with credentials,
  ``proxyUser``/``proxyPassword``, edited as java.util.Properties reads the file (every other line
  kept byte for byte). A file holding the login is made mode 0600 (its owner kept: the user's own).

The resource runs in the network phase, before any package or repository step whatever its place
in the playbook, and again after the other resources (the settle phase), so that a JDK or Maven
installed by the same run gets the proxy too. ``state: absent`` removes exactly what it added.
Credentials are never shown: the plan, diffs, reports and the run's journal hold the URL
without them (diffs of files holding them show ******** instead).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision.cloudconfig import CloudConfig
from provision.connections.base import ROOT_ONLY
from provision.errors import FactError, NotExportable, ResourceError
from provision.facts import Fact, Facts, FileContent
from provision.facts.base import DPKG, decode_b64
from provision.formats import blocks, gradleproxy, javaprops, mavensettings
from provision.formats import proxy as fmt
from provision.plan import Change, Outputs, ResourcePlan, unified_diff, world_readable
from provision.resource import ApplyContext, Phase, Resource, Spec, absolute_path
from provision.resources.env_file import EnvFile, EnvFileSpec
from provision.resources.maven_toolchains import UserAccount
from provision.userfile import UserFileWrite, apply_user_file
from provision.verify.checks import Check, CheckEnv, Probe, env_value, read_file
from provision.wholefile import FileWrite, apply_whole_file, plan_whole_file

APT_DIR = "/etc/apt/apt.conf.d"
AUTH_DIR = "/etc/apt/auth.conf.d"
ENVIRONMENT = "/etc/environment"
HEADER = "written by provision (proxy resource), changed or removed with the playbook"


class ProxySpec(Spec):
    url: str = Field(description="http://[user:password@]host:port (credentials are secrets: never shown; "
                     "percent-encode characters other than letters, digits and ._~!*+,;=-).")
    no_proxy: list[str] = Field([], max_length=100, description="Hosts reached directly: *, a host name, "
                                ".domain (its subdomains), an IP address, a CIDR block.")
    name: str = Field("80provision-proxy", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                      description="The apt.conf.d/auth.conf.d file name and the marker of what is written.")
    apt: bool = Field(True, description="Set apt's proxy.")
    environment: bool = Field(True, description="Set http_proxy, https_proxy, no_proxy (and upper case) in "
                              "/etc/environment (without the credentials).")
    jvm: bool = Field(True, description="Set the proxy in every JDK's conf/net.properties.")
    maven: bool = Field(True, description="Set Maven's proxies in maven_settings (when the file exists).")
    maven_settings: str = Field("/etc/maven/settings.xml", description="Maven's global settings file.")
    maven_group: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="With credentials: "
                                    "the group that may read maven_settings (mode 0640 root:group).")
    gradle_users: list[str] = Field([], max_length=50, description="Set the proxy (systemProp.*) in these users' "
                                    "~/.gradle/gradle.properties (each her own; 0600 when the URL has credentials).")
    gradle_properties: list[str] = Field([], max_length=20, description="And in these gradle.properties, e.g. "
                                         "<GRADLE_USER_HOME>/gradle.properties of builds run with GRADLE_USER_HOME "
                                         "set (owner kept; 0600 when the URL has credentials).")
    state: Literal["present", "absent"] = Field("present", description="Set, or remove what this resource "
                                                "wrote.")

    _abs = field_validator("maven_settings")(absolute_path)

    @field_validator("gradle_users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        for u in v:
            if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", u):
                raise ValueError(f"gradle_users: {u[:40]!r} is not a user name")
        return list(dict.fromkeys(v))

    @field_validator("gradle_properties")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(absolute_path(p) for p in v))

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        fmt.parse_url(v)  # its ValueError never quotes the URL
        return v

    @field_validator("no_proxy")
    @classmethod
    def _no_proxy(cls, v: list[str]) -> list[str]:
        for e in v:
            fmt.parse_no_proxy(e)
        return v

    @model_validator(mode="after")
    def _maven_login(self) -> ProxySpec:
        if (self.maven and self.state == "present" and fmt.parse_url(self.url).has_credentials
                and self.maven_group is None):
            raise ValueError("the proxy URL has credentials and Maven reads its settings as the user: give "
                             "maven_group (the file becomes 0640 root:GROUP), or maven: false")
        return self


# --------------------------------------------------------------------------- facts

@dataclass
class JavaConfs:
    confs: dict[str, list[str]] = field(default_factory=dict)  # net.properties (canonical) → JDK homes
    missing: list[str] = field(default_factory=list)  # JDK homes without conf/net.properties (JDK 8)
    unsafe: list[str] = field(default_factory=list)  # homes whose net.properties is not root's only
    maven: bool = False  # the Maven settings file exists


_CONFS = ROOT_ONLY + r"""
b64() { printf '%s' "$1" | base64 -w0; }
for j in /usr/lib/jvm/* /opt/* /opt/*/*; do
  [ -d "$j" ] && [ ! -L "$j" ] && [ -x "$j/bin/java" ] || continue
  c=$j/conf/net.properties
  if [ ! -e "$c" ] && [ ! -L "$c" ]; then echo "missing $(b64 "$j")"; continue; fi
  t=$(readlink -f -- "$c") || t=
  if [ -n "$t" ] && [ -f "$t" ] && root_only "$t" && root_only "$j/conf"; then
    echo "conf $(b64 "$j") $(b64 "$t")"
  else
    echo "unsafe $(b64 "$j")"
  fi
done
[ -f "$maven" ] && echo maven
exit 0
"""


@dataclass(frozen=True)
class JavaNetConfs(Fact[JavaConfs]):
    """Every JDK's conf/net.properties (under /usr/lib/jvm, /opt, /opt/*), resolved through links
    only when all of it is root's; and whether the Maven settings file exists. Read again after
    packages change (a JDK or Maven installed by the same run)."""

    maven: str = "/etc/maven/settings.xml"
    topics = frozenset({DPKG})

    def command(self) -> str:
        return f"(maven={shlex.quote(self.maven)}\n{_CONFS})"

    def parse(self, lines: list[str]) -> JavaConfs:
        return parse_confs(lines)

    def describe(self) -> str:
        return "the JDKs' net.properties"


def parse_confs(lines: list[str]) -> JavaConfs:
    out = JavaConfs()
    for line in lines:
        word, *rest = line.split(" ")
        paths = [decode_b64(r, "JDK path").decode("utf-8", "replace") for r in rest]
        if word == "maven" and not rest:
            out.maven = True
        elif word == "missing" and len(paths) == 1:
            out.missing.append(paths[0])
        elif word == "unsafe" and len(paths) == 1:
            out.unsafe.append(paths[0])
        elif word == "conf" and len(paths) == 2:
            try:
                conf = absolute_path(paths[1])
            except ValueError:
                out.unsafe.append(paths[0])
                continue
            out.confs.setdefault(conf, []).append(paths[0])
        elif line.strip():
            raise FactError(f"the JDKs' net.properties: unexpected output {line[:80]!r}")
    return out


# At first boot, after every other command (JDKs are installed by then): each JDK's
# net.properties, resolved only when the link and the file are root's, gets the block unless it has
# it; the file is replaced atomically with its mode and owner. The block's values were validated
# (host names, ports, no_proxy patterns): no quoting is needed inside the file.
_JVM_EDIT = r"""set -eu
begin=$1 block=$2
for c in /usr/lib/jvm/*/conf/net.properties /opt/*/conf/net.properties /opt/*/*/conf/net.properties; do
  [ -e "$c" ] || continue
  t=$(readlink -f -- "$c") || continue
  [ -f "$t" ] && [ "$(stat -c %u -- "$t")" = 0 ] && [ "$(stat -c %u -- "$(dirname -- "$t")")" = 0 ] || continue
  grep -qxF -- "$begin" "$t" && continue
  n=$(mktemp "$t.provision.XXXXXX")
  cat -- "$t" > "$n"
  [ -z "$(tail -c 1 -- "$t")" ] || echo >> "$n"
  printf '%s\n' "$block" >> "$n"
  chmod --reference="$t" "$n"; chown --reference="$t" "$n"; mv -f -- "$n" "$t"
done
"""


@dataclass(frozen=True)
class GroupExists(Fact[bool]):
    """Whether a group of that name exists (getent group)."""

    name: str

    def command(self) -> str:
        return f"getent group {shlex.quote(self.name)} >/dev/null && echo yes || true"

    def parse(self, lines: list[str]) -> bool:
        return lines == ["yes"]

    def describe(self) -> str:
        return f"group {self.name}"


# --------------------------------------------------------------------------- plan


@dataclass
class GradleWrite:
    write: UserFileWrite
    user: str | None  # a user's own file (her ~/.gradle made by her), or None: a given path


Write = FileWrite | GradleWrite


@dataclass
class Parts:
    changes: list[Change] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)  # what is already as wanted


class Proxy(Resource[ProxySpec, list[Write]]):
    type_name = "proxy"
    spec_type = ProxySpec
    phases = (Phase.NETWORK, Phase.SETTLE)
    summary = "one HTTP proxy for apt, /etc/environment, every JDK, Maven and Gradle (credentials kept secret)"
    example = """\
- proxy:
    url: "{{ proxy_url }}"          # http://user:password@proxy.corp:3128, given with -e
    no_proxy: [localhost, 127.0.0.1, .corp.example.com]
    maven_group: developers
    gradle_users: [alice]
"""

    @property
    def url(self) -> fmt.ProxyUrl:
        return fmt.parse_url(self.spec.url)

    def no_proxy(self) -> list[fmt.NoProxy]:
        return [fmt.parse_no_proxy(e) for e in self.spec.no_proxy]

    def label(self) -> str:
        return f"proxy {self.url.public}"

    @property
    def apt_path(self) -> str:
        return f"{APT_DIR}/{self.spec.name}"

    @property
    def auth_path(self) -> str:
        return f"{AUTH_DIR}/{self.spec.name}.conf"

    def env_wanted(self) -> dict[str, str]:
        url = self.url.public
        out = {"http_proxy": url, "https_proxy": url, "HTTP_PROXY": url, "HTTPS_PROXY": url}
        if self.spec.no_proxy:
            np = fmt.env_no_proxy(self.no_proxy())
            out |= {"no_proxy": np, "NO_PROXY": np}
        return out

    def env_file(self) -> EnvFile:
        return EnvFile(EnvFileSpec(path=ENVIRONMENT, set=self.env_wanted(), state=self.spec.state))

    def java_block(self) -> list[bytes]:
        u = self.url
        hosts, _ = fmt.java_non_proxy_hosts(self.no_proxy())
        return [f"{p}.{k}={v}".encode() for p in ("http", "https") for k, v in
                (("proxyHost", u.host), ("proxyPort", u.port))] + [f"http.nonProxyHosts={hosts}".encode()]

    def maven_proxies(self) -> list[mavensettings.MavenProxy]:
        if self.spec.state == "absent":
            return []
        u = self.url
        hosts, _ = fmt.java_non_proxy_hosts(self.no_proxy())
        user, password = u.login()
        return [mavensettings.MavenProxy(f"provision-{self.spec.name}-{p}", p, u.host, u.port, hosts, user, password)
                for p in ("http", "https")]

    def markers(self) -> blocks.Markers:
        return blocks.markers(f"proxy {self.spec.name}")

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        s = self.spec
        if s.apt:
            yield FileContent(self.apt_path)
            yield FileContent(self.auth_path)
        if s.environment:
            yield from self.env_file().facts(known)
        if s.jvm or s.maven:
            confs_fact = JavaNetConfs(s.maven_settings)
            yield confs_fact
            confs = known.peek(confs_fact)
            if confs is not None:
                if s.jvm:
                    yield from (FileContent(p) for p in confs.confs)
                if s.maven and confs.maven:
                    yield FileContent(s.maven_settings)
                    if s.maven_group:
                        yield GroupExists(s.maven_group)
        for user in s.gradle_users:
            yield UserAccount(user)
            acct = known.peek(UserAccount(user))
            if acct is not None and acct.uid >= 0 and acct.home.startswith("/"):
                yield FileContent(self.gradle_file(known, user)[0])
        yield from (FileContent(p) for p in s.gradle_properties)

    def gradle_file(self, facts: Facts, user: str) -> tuple[str, int, int, str]:
        """(path, uid, gid, ~/.gradle) of a user's gradle.properties."""
        acct = facts.get(UserAccount(user))
        if acct.uid < 0 or not acct.home.startswith("/"):
            raise ResourceError(f"gradle_users: no user {user} (with a home directory) on this host; nothing was "
                                "changed")
        home = absolute_path(acct.home).rstrip("/") + "/.gradle"
        return f"{home}/gradle.properties", acct.uid, acct.gid, home

    def gradle_values(self) -> dict[str, str | None]:
        if self.spec.state == "absent":
            return gradleproxy.absent(self.url)
        return gradleproxy.wanted(self.url, fmt.java_non_proxy_hosts(self.no_proxy())[0])

    def plan(self, facts: Facts) -> ResourcePlan[list[Write]]:
        s = self.spec
        parts = Parts()
        if s.apt:
            self._plan_apt(facts, parts)
        if s.environment:
            self._plan_env(facts, parts)
        if s.jvm or s.maven:
            confs = facts.get(JavaNetConfs(s.maven_settings))
            if s.jvm:
                self._plan_jvm(facts, confs, parts)
            if s.maven:
                self._plan_maven(facts, confs, parts)
        for user in s.gradle_users:
            path, uid, gid, home = self.gradle_file(facts, user)
            self._plan_gradle(facts, path, uid, gid, home, user, parts)
        for path in s.gradle_properties:
            self._plan_gradle(facts, path, 0, 0, "", None, parts)
        if s.state == "present" and self.url.has_credentials and s.jvm:
            parts.notes.append("the JDK takes no proxy credentials from net.properties: a Java client that "
                               "must log in to the proxy needs an Authenticator (Maven has its own)")
        for c in parts.changes:  # nothing the plan says may carry the password
            c.summary, c.reason = fmt.mask_text(c.summary, self.url), fmt.mask_text(c.reason, self.url)
            c.done = fmt.mask_text(c.done, self.url)
            c.diff = None if c.diff is None else fmt.mask_text(c.diff, self.url)
        notes = [fmt.mask_text(n, self.url) for n in parts.notes]
        outputs: Outputs = {"url": self.url.public, "no_proxy": fmt.env_no_proxy(self.no_proxy())}
        if not parts.changes:
            what = "; ".join(parts.ok) or "nothing to do here"
            return ResourcePlan([], what, outputs=outputs, notes=notes)
        return ResourcePlan(parts.changes, outputs=outputs, notes=notes, data=parts.writes)

    def _whole(self, facts: Facts, path: str, content: bytes | None, mode: int, parts: Parts) -> None:
        changes, reason, write = plan_whole_file(path, content, facts, mode=mode, owner="root", group="root")
        parts.changes += changes
        if write is not None:
            parts.writes.append(write)
        if reason:
            parts.ok.append(reason)

    def _plan_apt(self, facts: Facts, parts: Parts) -> None:
        present = self.spec.state == "present"
        direct, notes = fmt.apt_direct_hosts(self.no_proxy())
        conf = fmt.apt_conf(self.url, direct, HEADER) if present else None
        self._whole(facts, self.apt_path, conf, 0o644, parts)
        auth = fmt.apt_auth(self.url, HEADER) if present else None
        cur = facts.get(FileContent(self.auth_path))
        if auth is not None or cur.exists or cur.link:
            self._whole(facts, self.auth_path, auth, 0o600, parts)
        if present:
            parts.notes += notes

    def _plan_env(self, facts: Facts, parts: Parts) -> None:
        plan = self.env_file().plan(facts)
        parts.notes += plan.notes
        if not plan.changes:
            parts.ok.append(plan.reason)
            return
        cur = facts.get(FileContent(ENVIRONMENT))
        parts.changes += plan.changes
        parts.writes.append(FileWrite(ENVIRONMENT, plan.payload(), cur.mode if cur.exists else 0o644,
                                      str(cur.uid) if cur.exists else "root", str(cur.gid) if cur.exists else "root"))

    def _plan_jvm(self, facts: Facts, confs: JavaConfs, parts: Parts) -> None:
        body = self.java_block() if self.spec.state == "present" else None
        if self.spec.state == "present":
            parts.notes += fmt.java_non_proxy_hosts(self.no_proxy())[1]
            parts.notes += [f"{h}: no conf/net.properties (a JDK 8?): its proxy is not set" for h in confs.missing]
            parts.notes += [f"{h}: conf/net.properties is not root's only (a link or a directory someone else may "
                            "change): not written" for h in confs.unsafe]
            if not confs.confs:
                parts.notes.append("no JDK found (/usr/lib/jvm, /opt): a JDK installed later in this run gets "
                                   "the proxy when this resource runs again after the others")
        for path, homes in sorted(confs.confs.items()):
            cur = facts.get(FileContent(path)).writable()
            if not cur.exists:
                continue
            try:
                after = blocks.splice(cur.content, self.markers(), body)
            except blocks.BlockError as exc:
                raise ResourceError(f"{path}: {exc}; nothing was changed") from None
            if after == cur.content:
                parts.ok.append(f"{path} {'sets' if body else 'has no'} the proxy")
                continue
            jdks = ", ".join(homes)
            verb = "set" if body else "remove"
            parts.changes.append(Change(f"{verb} the proxy in {path}", f"read by {jdks}",
                                        unified_diff(path, cur.content, after,
                                                     secret=not world_readable(cur.mode)),
                                        done=f"{'set' if body else 'removed'} the proxy in {path}"))
            parts.writes.append(FileWrite(path, after, cur.mode, str(cur.uid), str(cur.gid)))

    def _plan_maven(self, facts: Facts, confs: JavaConfs, parts: Parts) -> None:
        s = self.spec
        path = s.maven_settings
        if not confs.maven:
            if s.state == "present":
                parts.notes.append(f"{path} does not exist (Maven from Debian is not installed): Maven's proxy is "
                                   "set when this resource runs again after the others, if one installs it")
            return
        cur = facts.get(FileContent(path)).writable()
        wanted = self.maven_proxies()
        prefix = f"provision-{s.name}-"
        try:
            after = mavensettings.splice(cur.content, prefix, wanted)
            others = mavensettings.active_others(after, prefix) if wanted else []
        except mavensettings.SettingsError as exc:
            raise ResourceError(f"{path}: {exc}; nothing was changed") from None
        login = any(x.password for x in wanted)
        if login and s.maven_group and not facts.get(GroupExists(s.maven_group)):
            raise ResourceError(f"maven_group {s.maven_group}: no such group on this host (it may read "
                                f"{path}, which holds the proxy's login); nothing was changed")
        mode, group = cur.mode, str(cur.gid)
        if login and s.maven_group:
            mode, group = 0o640, s.maven_group
        elif not wanted and s.maven_group and cur.mode == 0o640 and cur.group == s.maven_group:
            mode, group = 0o644, "root"  # what it was before this resource made it hold a login
        if others:
            parts.notes.append(f"{path}: other active proxies ({', '.join(others)}) come after this tool's")
        mode_change = mode != cur.mode or (group not in (cur.group, str(cur.gid)))
        if after == cur.content and not mode_change:
            parts.ok.append(f"{path} {'lists' if wanted else 'has no'} this tool's proxies")
            return
        ours = {ln.strip() for x in wanted for ln in fmt.mask(mavensettings.render(x, b""), self.url).splitlines()}

        def keep(line: bytes) -> bool:
            return line.strip() in ours
        diff = unified_diff(path, fmt.mask(cur.content, self.url), fmt.mask(after, self.url),
                            secret=not world_readable(cur.mode) or not world_readable(mode), keep=keep)
        what = "write" if wanted else "remove"
        reason = "Maven's global settings" + (f"; mode {cur.mode:04o} → {mode:04o}, group {group}"
                                              if mode_change else "") + " (others' entries kept)"
        parts.changes.append(Change(f"{what} this tool's proxies in {path}", reason, diff,
                                    done=f"{'wrote' if wanted else 'removed'} this tool's proxies in {path}"))
        parts.writes.append(FileWrite(path, after, mode, str(cur.uid), group))

    def _plan_gradle(self, facts: Facts, path: str, uid: int, gid: int, home: str, user: str | None,
                     parts: Parts) -> None:
        cur = facts.get(FileContent(path)).writable()
        before = cur.content if cur.exists else None
        try:
            after = gradleproxy.edit(before, self.spec.name, self.gradle_values())
        except javaprops.PropertiesError as exc:
            raise ResourceError(f"{path}: {exc}; nothing was changed") from None
        login = self.spec.state == "present" and self.url.has_credentials
        mode = 0o600 if login else None  # None: the file's own
        if after == before and (mode is None or not cur.exists or cur.mode == mode):
            parts.ok.append(f"{path} {'sets' if self.spec.state == 'present' else 'has no'} the proxy for Gradle")
            return
        if cur.exists and cur.uid != uid:
            uid, gid = cur.uid, cur.gid  # the file keeps its owner
        hidden = self.url.secrets() + gradleproxy.secrets(self.url)

        def masked(data: bytes | None) -> bytes | None:
            for x in hidden:
                data = None if data is None else data.replace(x.encode(), fmt.MASK.encode())
            return data
        ours = {ln.strip() for ln in (masked(after) or b"").splitlines()
                if ln.strip().startswith((b"systemProp.http.", b"systemProp.https.", b"# managed by provision"))}
        secret = cur.exists and not world_readable(cur.mode)
        diff = unified_diff(path, masked(before), masked(after) or b"", secret=secret or login,
                            keep=lambda line: line.strip() in ours)
        what = "remove" if after is None else "write"
        reason = "Gradle's systemProp.* proxy entries" + (" (other properties kept)" if cur.exists else "") + \
            (f"; mode {cur.mode:04o} → 0600: it holds the login" if login and cur.exists and cur.mode != 0o600 else
             "; mode 0600: it holds the login" if login else "")
        parts.changes.append(Change(f"{what} the proxy in {path}", reason, diff,
                                    done=f"{'removed' if after is None else 'wrote'} the proxy in {path}"))
        parts.writes.append(GradleWrite(UserFileWrite(path, after, uid, gid, home if not cur.exists else "",
                                                      mode), user))

    def apply(self, plan: ResourcePlan[list[Write]], ctx: ApplyContext) -> Outputs:
        for write in plan.payload():
            if isinstance(write, GradleWrite):
                apply_user_file(ctx, write.write, write.user)
            else:
                apply_whole_file(ctx, write)
        return plan.outputs

    def export(self, out: CloudConfig) -> Outputs:
        """write_files for apt's drop-in and login (cloud-init writes files before its apt and
        package steps; its own ``apt: proxy`` is not used: it would put the login in a
        world-readable file), the environment by env_file's first-boot edit, and the JDKs'
        net.properties by a command that runs after every other (the settle phase)."""
        s = self.spec
        if s.state == "absent":
            raise NotExportable("state: absent (removing what an earlier run wrote is not a first-boot job: "
                                "run provision apply over SSH)")
        if s.gradle_users or s.gradle_properties:
            raise NotExportable("gradle.properties is edited in place, and its content is known only on the host: "
                                "set the proxy for Gradle with provision apply")
        if s.maven:
            raise NotExportable(f"{s.maven_settings} is edited in place by its XML grammar, which a first-boot "
                                "command cannot do faithfully: set maven: false to export the rest")
        done: list[str] = []
        if s.apt:
            direct = fmt.apt_direct_hosts(self.no_proxy())[0]
            out.write_file(self.apt_path, fmt.apt_conf(self.url, direct, HEADER), mode=0o644)
            auth = fmt.apt_auth(self.url, HEADER)
            if auth is not None:
                out.write_file(self.auth_path, auth, mode=0o600)
            done.append(f"write_files {self.apt_path}" + (f" and {self.auth_path} (0600: the login; the user "
                                                          "data holds it too)" if auth else ""))
        if s.environment:
            said = len(out.summary)
            self.env_file().export(out)
            del out.summary[said:]  # env_file's own line: this resource says it below
            done.append(f"runcmd: {', '.join(self.env_wanted())} in {ENVIRONMENT}")
        if s.jvm:
            m = self.markers()
            block = b"\n".join([m.begin, *self.java_block(), m.end]).decode()
            out.run_last(["sh", "-c", _JVM_EDIT, "provision-proxy", m.begin.decode(), block])
            done.append("a last runcmd: the block in each JDK's conf/net.properties")
        out.summary.append(f"{self.label()}: {'; '.join(done) or 'nothing (every target off)'}")
        return {"url": self.url.public, "no_proxy": fmt.env_no_proxy(self.no_proxy())}

    # ----------------------------------------------------------------------- checks
    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        s = self.spec
        label = self.label()
        present = s.state == "present"
        checks: list[Check] = []

        def bind(f: Callable[[Probe], tuple[bool, str]]) -> Callable[[Probe], tuple[bool, str]]:
            return f

        if s.apt:
            want = fmt.apt_conf(self.url, fmt.apt_direct_hosts(self.no_proxy())[0], HEADER)

            def apt(probe: Probe) -> tuple[bool, str]:
                data = read_file(probe, self.apt_path)
                if present:
                    return data == want, f"{self.apt_path} {'sets' if data == want else 'does not set'} the proxy"
                return data is None, f"{self.apt_path} {'is gone' if data is None else 'still exists'}"
            checks.append(Check(f"{rid}: apt's proxy ({self.apt_path})", label, bind(apt)))
        if s.environment:
            for key, value in self.env_wanted().items():
                def envk(probe: Probe, key: str = key, value: str = value) -> tuple[bool, str]:
                    got = env_value(read_file(probe, ENVIRONMENT), key)
                    ok = (got == value) if present else (got != value)
                    return ok, f"{ENVIRONMENT}: {key} is {'not set' if got is None else got}"
                checks.append(Check(f"{rid}: {ENVIRONMENT} {'sets' if present else 'does not set'} {key}", label,
                                    envk))
        confs = env.facts.peek(JavaNetConfs(s.maven_settings))
        if s.jvm and confs is not None:
            body = self.java_block() if present else None
            for path in sorted(confs.confs):
                def jvm(probe: Probe, path: str = path) -> tuple[bool, str]:
                    data = read_file(probe, path)
                    try:
                        got = None if data is None else blocks.body_of(data, self.markers())
                    except blocks.BlockError as exc:
                        return False, f"{path}: {exc}"
                    return got == body, f"{path}: {'the proxy block' if got else 'no proxy block'}"
                checks.append(Check(f"{rid}: {path} {'sets' if present else 'does not set'} the proxy", label, jvm))
        if s.maven and confs is not None and confs.maven:
            ids = {x.id for x in self.maven_proxies()}
            prefix = f"provision-{s.name}-"

            def maven(probe: Probe) -> tuple[bool, str]:
                data = read_file(probe, s.maven_settings)
                try:
                    got = {e.id for e in mavensettings.ours(mavensettings.parse(data or b"<settings/>"), prefix)}
                except mavensettings.SettingsError as exc:
                    return False, f"{s.maven_settings}: {exc}"
                return got == ids, f"{s.maven_settings}: this tool's proxies: {', '.join(sorted(got)) or 'none'}"
            checks.append(Check(f"{rid}: {s.maven_settings} {'lists' if present else 'has no'} this tool's proxies",
                                label, maven))
        paths = list(s.gradle_properties)
        for user in s.gradle_users:
            acct = env.facts.peek(UserAccount(user))
            paths.append(f"{acct.home.rstrip('/')}/.gradle/gradle.properties" if acct and acct.home else
                         f"~{user}/.gradle/gradle.properties")
        values = self.gradle_values()
        for path in paths:
            def gradle(probe: Probe, path: str = path) -> tuple[bool, str]:
                if probe.host.file(path).is_symlink:  # a user's: never read through her link
                    return False, f"{path} is a symbolic link"
                data = read_file(probe, path)
                try:
                    ok = gradleproxy.matches(data or b"", s.name, values)
                except javaprops.PropertiesError:  # a user's file: none of its bytes in the message
                    return False, f"{path} cannot be read as a properties file"
                return ok, f"{path}: {'as' if ok else 'not as'} this tool wrote it"
            checks.append(Check(f"{rid}: {path} {'sets' if present else 'does not set'} the proxy for Gradle",
                                label, gradle))
        return checks
