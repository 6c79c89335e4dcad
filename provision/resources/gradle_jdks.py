"""JDKs made known to Gradle's toolchains: ``org.gradle.java.installations.paths`` (the homes,
comma-separated) in a gradle.properties, a named user's ``~/.gradle/gradle.properties`` (her
GRADLE_USER_HOME unless she moved it) or a file given by path.

Gradle reads gradle.properties from GRADLE_USER_HOME, then the project's directory, then the Gradle
installation's directory (GRADLE_HOME), the first that sets a property winning. A system-wide file
is therefore either ``<GRADLE_HOME>/gradle.properties`` of an installed Gradle (every build that
installation runs reads it) or the gradle.properties of a GRADLE_USER_HOME the builds are run with
(e.g. ``/etc/gradle`` for a CI agent run with ``GRADLE_USER_HOME=/etc/gradle``; Gradle keeps its
caches there too, so the builds' user must be able to write it).

The file is edited as java.util.Properties reads it (provision/formats/javaprops.py): this tool's
entry (below its marker comment) is set, kept the last one of the key so that it counts, or
removed; every other property and comment stays byte for byte. A user's file is hers: written with
her as owner through the shared write (a link, a hard link or a swapped directory is refused), and
her ``~/.gradle`` is created as her if it is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable, ResourceError
from provision.facts import Fact, Facts, FileContent
from provision.formats import javaprops
from provision.plan import Change, Outputs, ResourcePlan, unified_diff
from provision.resource import ApplyContext, Resource, Spec, absolute_path
from provision.resources.maven_toolchains import ToolchainJdk, UserAccount
from provision.userfile import UserFileWrite, apply_user_file
from provision.verify.checks import Check, CheckEnv, Probe, read_file

KEY = "org.gradle.java.installations.paths"


class GradleJdksSpec(Spec):
    jdks: list[ToolchainJdk] = Field([], max_length=20, description="The JDKs Gradle may use, e.g. "
                                     "\"{{ jdk.jdks }}\" (the jdk resource's output).")
    user: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="Write this user's "
                             "~/.gradle/gradle.properties (owned by her).")
    path: str | None = Field(None, description="Or this gradle.properties: a Gradle installation's "
                             "<GRADLE_HOME>/gradle.properties, or <GRADLE_USER_HOME>/gradle.properties of "
                             "the builds (e.g. /etc/gradle/gradle.properties with GRADLE_USER_HOME=/etc/gradle).")
    state: Literal["present", "absent"] = Field("present", description="Listed, or this tool's entry "
                                                "removed.")

    @field_validator("path")
    @classmethod
    def _abs(cls, v: str | None) -> str | None:
        return None if v is None else absolute_path(v)

    @model_validator(mode="after")
    def _one_file(self) -> GradleJdksSpec:
        if (self.user is None) == (self.path is None):
            raise ValueError("give user (her ~/.gradle/gradle.properties) or path (a gradle.properties), "
                             "one of them")
        bad = [j.home for j in self.jdks if "," in j.home]
        if bad:
            raise ValueError(f"JDK home {bad[0]!r} has a comma, which Gradle reads as a separator")
        return self



class GradleJdks(Resource[GradleJdksSpec, UserFileWrite]):
    type_name = "gradle_jdks"
    spec_type = GradleJdksSpec
    summary = ("JDKs listed for Gradle's toolchains (org.gradle.java.installations.paths in a "
               "gradle.properties, other properties kept)")
    example = """\
- gradle_jdks:
    jdks: "{{ jdk.jdks }}"
    user: alice
"""

    def label(self) -> str:
        s = self.spec
        return f"gradle_jdks {s.user + ': ~/.gradle/gradle.properties' if s.user else s.path}"

    def jdks(self) -> list[ToolchainJdk]:
        """By version (the order Gradle is told does not follow which JDK is the default)."""
        return sorted(self.spec.jdks, key=lambda j: j.version)

    def value(self) -> str | None:
        """The property's value (None: no entry of this tool's)."""
        if self.spec.state == "absent" or not self.spec.jdks:
            return None
        return ",".join(j.home for j in self.jdks())

    def where(self, facts: Facts) -> tuple[str, int, int, str]:
        """(path, uid, gid, ~/.gradle) of the file."""
        s = self.spec
        if s.user is None:
            assert s.path is not None
            return s.path, 0, 0, ""
        acct = facts.get(UserAccount(s.user))
        if acct.uid < 0 or not acct.home.startswith("/"):
            raise ResourceError(f"no user {s.user} (with a home directory) on this host")
        home = absolute_path(acct.home).rstrip("/") + "/.gradle"
        return f"{home}/gradle.properties", acct.uid, acct.gid, home

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        s = self.spec
        if s.user is None:
            assert s.path is not None
            yield FileContent(s.path)
            return
        yield UserAccount(s.user)
        acct = known.peek(UserAccount(s.user))
        if acct is not None and acct.uid >= 0 and acct.home.startswith("/"):
            yield FileContent(self.where(known)[0])

    def plan(self, facts: Facts) -> ResourcePlan[UserFileWrite]:
        path, uid, gid, gradle_home = self.where(facts)
        cur = facts.get(FileContent(path)).writable()
        before = cur.content if cur.exists else None
        value = self.value()
        try:
            after = javaprops.set_key(before, KEY, value)
        except javaprops.PropertiesError as exc:
            raise ResourceError(f"{path}: {exc}; nothing was changed") from None
        versions = ", ".join(str(j.version) for j in self.jdks()) if value else "none"
        if after == before:
            return ResourcePlan([], f"{path} lists this tool's JDKs for Gradle ({versions})" if value else
                                f"{path} has no {KEY} written by provision")
        if cur.exists and cur.uid != uid:
            uid, gid = cur.uid, cur.gid  # the file keeps its owner
        change = Change(f"{'remove' if after is None else 'write'} {path}",
                        f"{KEY}: JDK {versions}" + (" (other properties kept)" if cur.exists else ""),
                        unified_diff(path, before, after or b""),
                        done=f"{'removed' if after is None else 'wrote'} {path}")
        return ResourcePlan([change], data=UserFileWrite(path, after, uid, gid, gradle_home if not cur.exists else ""))

    def apply(self, plan: ResourcePlan[UserFileWrite], ctx: ApplyContext) -> Outputs:
        apply_user_file(ctx, plan.payload(), self.spec.user)
        return {}

    def export(self, out: CloudConfig) -> Outputs:
        raise NotExportable("gradle.properties is edited in place, and its content is known only on the "
                            "host: list the JDKs for Gradle with provision apply")

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        label = self.label()
        path = self.spec.path or ""
        if self.spec.user is not None:
            acct = env.facts.peek(UserAccount(self.spec.user))
            path = f"{acct.home.rstrip('/')}/.gradle/gradle.properties" if acct and acct.home else \
                f"~{self.spec.user}/.gradle/gradle.properties"
        want = self.value()

        def test(probe: Probe) -> tuple[bool, str]:
            if probe.host.file(path).is_symlink:  # a user's: never read through her link
                return False, f"{path} is a symbolic link"
            data = read_file(probe, path)
            try:
                got, mine = javaprops.value_of(data, KEY) if data is not None else (None, False)
            except javaprops.PropertiesError:  # a user's file: none of its bytes in the message
                return False, f"{path} cannot be read as a properties file"
            if want is None:
                return not mine, f"{path} {'still has' if mine else 'has no'} {KEY} of provision's"
            if got != want:
                return False, f"{path}: {KEY} is not {want!r}" + (" (it is not set)" if got is None else "")
            if not mine:
                return False, f"{path}: {KEY} is right, but not in the entry provision wrote"
            return True, f"{path}: {KEY}={want}"

        what = f"{path} lists JDK {', '.join(str(j.version) for j in self.jdks())} for Gradle" if want else \
            f"{path} has no {KEY} of provision's"
        return [Check(f"{rid}: {what}", label, test)]
