"""JDKs registered as Maven toolchains: Debian's global /etc/maven/toolchains.xml (Maven reads it
as ``${maven.conf}/toolchains.xml``), another path, or a named user's ``~/.m2/toolchains.xml``.

Each JDK given is one ``jdk`` toolchain (``<provides>`` its major version, its vendor and an id
``provision-jdk-<N>``; ``<jdkHome>`` its home). The file is edited surgically (provision/java/
toolchains.py): toolchains and comments written by others stay byte for byte; this tool's entry for
a JDK no longer given is removed. A user's file is hers: it is parsed as untrusted XML (no DOCTYPE),
written with her as owner through the shared write (a link, a hard link or a swapped directory is
refused), and her ``~/.m2`` is created as her if it is missing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable, ResourceError
from provision.facts import Fact, Facts, FileContent
from provision.java import toolchains as xml
from provision.plan import Change, Outputs, ResourcePlan, unified_diff
from provision.resource import ApplyContext, Resource, Spec, absolute_path
from provision.userfile import UserFileWrite, apply_user_file
from provision.verify.checks import Check, CheckEnv, Probe, read_file


class ToolchainJdk(Spec):
    version: int = Field(ge=8, le=99, description="Major version (the toolchain's <version>).")
    vendor: str = Field(description="Its vendor (distro is written as openjdk).")
    home: str = Field(description="The JDK's home (<jdkHome>).")

    _abs = field_validator("home")(absolute_path)


class MavenToolchainsSpec(Spec):
    jdks: list[ToolchainJdk] = Field([], max_length=20, description="The JDKs to register, e.g. "
                                     "\"{{ jdk.jdks }}\" (the jdk resource's output).")
    path: str = Field("/etc/maven/toolchains.xml", description="The toolchains file (without user).")
    user: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="Write this user's "
                             "~/.m2/toolchains.xml instead (owned by her).")
    state: Literal["present", "absent"] = Field("present", description="Registered, or this tool's "
                                                "toolchains removed.")

    _abs = field_validator("path")(absolute_path)


@dataclass(frozen=True)
class Account:
    name: str
    uid: int = -1  # -1: no such user
    gid: int = -1
    home: str = ""


@dataclass(frozen=True)
class UserAccount(Fact[Account]):
    """A user's ids and home directory (getent passwd)."""

    name: str

    def command(self) -> str:
        return f"getent passwd {shlex.quote(self.name)} || true"

    def parse(self, lines: list[str]) -> Account:
        for line in lines:
            f = line.split(":")
            if len(f) >= 7 and f[0] == self.name and f[2].isdigit() and f[3].isdigit():
                return Account(self.name, int(f[2]), int(f[3]), f[5])
        return Account(self.name)

    def describe(self) -> str:
        return f"user {self.name}"



class MavenToolchains(Resource[MavenToolchainsSpec, UserFileWrite]):
    type_name = "maven_toolchains"
    spec_type = MavenToolchainsSpec
    summary = "JDKs registered as Maven toolchains (toolchains.xml, others' entries kept)"
    example = """\
- maven_toolchains:
    jdks: "{{ jdk.jdks }}"
"""

    def label(self) -> str:
        return f"maven_toolchains {self.spec.user + ': ~/.m2/toolchains.xml' if self.spec.user else self.spec.path}"

    def where(self, facts: Facts) -> tuple[str, int, int, str]:
        """(path, uid, gid, ~/.m2) of the file."""
        s = self.spec
        if s.user is None:
            return s.path, 0, 0, ""
        acct = facts.get(UserAccount(s.user))
        if acct.uid < 0 or not acct.home.startswith("/"):
            raise ResourceError(f"no user {s.user} (with a home directory) on this host")
        m2 = absolute_path(acct.home).rstrip("/") + "/.m2"
        return f"{m2}/toolchains.xml", acct.uid, acct.gid, m2

    def wanted(self) -> list[xml.Toolchain]:
        if self.spec.state == "absent":
            return []
        return [xml.Toolchain(j.version, "openjdk" if j.vendor == "distro" else j.vendor, j.home)
                for j in self.spec.jdks]

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        if self.spec.user is None:
            yield FileContent(self.spec.path)
            return
        yield UserAccount(self.spec.user)
        acct = known.peek(UserAccount(self.spec.user))
        if acct is not None and acct.uid >= 0 and acct.home.startswith("/"):
            yield FileContent(self.where(known)[0])

    def plan(self, facts: Facts) -> ResourcePlan[UserFileWrite]:
        path, uid, gid, m2 = self.where(facts)
        cur = facts.get(FileContent(path)).writable()
        try:
            after = xml.splice(cur.content if cur.exists else None, self.wanted())
        except xml.ToolchainsError as exc:
            raise ResourceError(f"{path}: {exc}; nothing was changed") from None
        before = cur.content if cur.exists else None
        versions = ", ".join(str(t.version) for t in self.wanted()) or "none"
        if after == before:
            return ResourcePlan([], f"{path} lists this tool's JDKs ({versions})" if self.wanted() else
                                f"{path} has no toolchain written by provision")
        if cur.exists and cur.uid != uid:
            uid, gid = cur.uid, cur.gid  # the file keeps its owner
        change = Change(f"{'remove' if after is None else 'write'} {path}",
                        f"this tool's Maven toolchains: JDK {versions}"
                        + (" (others' entries kept)" if cur.exists else ""),
                        unified_diff(path, before, after or b""),
                        done=f"{'removed' if after is None else 'wrote'} {path}")
        return ResourcePlan([change], data=UserFileWrite(path, after, uid, gid, m2 if not cur.exists else ""))

    def apply(self, plan: ResourcePlan[UserFileWrite], ctx: ApplyContext) -> Outputs:
        apply_user_file(ctx, plan.payload(), self.spec.user)
        return {}

    def export(self, out: CloudConfig) -> Outputs:
        raise NotExportable("toolchains.xml is edited in place, and its content is known only on the host "
                            "(Debian's maven ships one): register the JDKs with provision apply")

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        label = self.label()
        path = self.spec.path
        if self.spec.user is not None:
            acct = env.facts.peek(UserAccount(self.spec.user))
            path = f"{acct.home.rstrip('/')}/.m2/toolchains.xml" if acct and acct.home else path

        def test(probe: Probe, t: xml.Toolchain | None, version: int) -> tuple[bool, str]:
            data = read_file(probe, path)
            try:
                ours = xml.entries_in(data) if data is not None else {}
            except xml.ToolchainsError as exc:
                return False, f"{path}: {exc}"
            e = ours.get(version)
            if t is None:
                return (e is None), f"{path} {'still lists' if e else 'does not list'} JDK {version}"
            if e is None:
                return False, f"{path} has no toolchain for JDK {version}"
            if e.home != t.home or e.provides.get("vendor") != t.vendor:
                return False, f"{path}: JDK {version} is {e.home} ({e.provides.get('vendor')}), not {t.home}"
            return True, f"{path}: JDK {version} at {t.home} ({t.vendor})"

        def bind(t: xml.Toolchain | None, version: int) -> Callable[[Probe], tuple[bool, str]]:
            return lambda probe: test(probe, t, version)

        if self.spec.state == "absent":
            return [Check(f"{rid}: {path} lists no JDK {j.version} of provision's", label, bind(None, j.version))
                    for j in self.spec.jdks]
        return [Check(f"{rid}: {path} lists JDK {t.version}", label, bind(t, t.version)) for t in self.wanted()]
