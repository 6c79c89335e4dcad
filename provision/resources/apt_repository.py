"""A third-party apt repository, the way Debian wants it now: a deb822 ``.sources`` file in
/etc/apt/sources.list.d/ whose ``Signed-By`` names its own key in /etc/apt/keyrings/ (so the key is
trusted for this repository only; never ``apt-key``, never a key trusted for all repositories).

The key is given inline (ASCII-armored), as a file beside the playbook (``key_file``), or as a URL
(``key_url``: https, fetched on the controller, never on the hosts, and only by apply: a plan
names the URL and the pin, so it works offline) with its pinned ``fingerprint``, which is also
checked for inline and file keys when given. The key written is exactly one public key, rebuilt
from the packets checked (``openpgp.pinned``): a key whose fingerprint does not match, a second
armored block or primary key, a subkey the primary did not bind, or anything around the block is
refused before anything is written.
When the source or its key changed, ``apt-get update`` runs for this source only; if apt cannot
verify the repository, the source file is taken back out (apt's reason is the error) so that later
apt runs on the host do not fail on it. ``state: absent`` removes the source, its key and its
downloaded package lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision import keyfetch, packaging
from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable, ResourceError
from provision.facts import APT_LISTS, Fact, Facts, FileContent
from provision.formats import openpgp
from provision.plan import Change, Outputs, ResourcePlan, unified_diff
from provision.resource import ApplyContext, Resource, Spec
from provision.verify.checks import Check, CheckEnv, Probe, read_file

SOURCES_DIR = "/etc/apt/sources.list.d"
KEYRINGS = "/etc/apt/keyrings"
LISTS = "/var/lib/apt/lists"
MARKER = "# managed by provision"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+~-]*$")


def sources_path(name: str) -> str:
    return f"{SOURCES_DIR}/{name}.sources"


def key_path(name: str) -> str:
    return f"{KEYRINGS}/{name}.asc"


def check_uri(uri: str) -> str | None:
    if not re.match(r"^(https?|file)://[^\s]+$", uri):
        return f"{uri!r} is not an http(s) or file URI"
    return None


def valid_name(v: str) -> str:
    """A spec field validator: a name that is a file name's stem (lower-case letters, digits, ._-)."""
    if not _NAME.match(v):
        raise ValueError("lower-case letters, digits, '.', '_' and '-' (a file name)")
    return v


def valid_uri(v: str) -> str:
    """A spec field validator: an http(s) or file URI."""
    problem = check_uri(v)
    if problem:
        raise ValueError(problem)
    return v


def valid_fingerprint(v: str | None) -> str | None:
    """A spec field validator: a key fingerprint, normalised (``3B04 D753 …`` → ``3B04D753…``)."""
    if v is None:
        return v
    try:
        return openpgp.normalise_fingerprint(v)
    except openpgp.KeyError_ as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class Repo:
    """A repository as both apt_repository and jdk (vendor temurin) declare it."""

    name: str
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)
    architectures: tuple[str, ...] = ()
    key: str | None = None  # armored text (inline, or the key file's content)
    key_url: str | None = None
    fingerprint: str | None = None
    label: str = ""

    def sources(self) -> bytes:
        lines = [f"{MARKER}{': ' + self.label if self.label else ''}", "Types: deb",
                 f"URIs: {' '.join(self.uris)}", f"Suites: {' '.join(self.suites)}",
                 f"Components: {' '.join(self.components)}"]
        if self.architectures:
            lines.append(f"Architectures: {' '.join(self.architectures)}")
        lines.append(f"Signed-By: {key_path(self.name)}")
        return ("\n".join(lines) + "\n").encode()


def repo_facts(name: str) -> list[Fact[object]]:
    return [FileContent(sources_path(name)), FileContent(key_path(name))]


def host_key(repo: Repo, facts: Facts) -> bytes | None:
    """The key at key_path when it already is exactly the pinned key as ``openpgp.pinned`` rebuilds
    it (nothing to fetch), else None."""
    cur = facts.get(FileContent(key_path(repo.name)))
    if repo.fingerprint and cur.exists and not cur.link:
        try:
            if openpgp.pinned(cur.content, repo.fingerprint) == cur.content:
                return cur.content
        except openpgp.KeyError_:
            pass
    return None


def resolve_key(repo: Repo, facts: Facts) -> bytes | None:
    """The armored key to have at key_path, as ``openpgp.pinned`` rebuilds it from the packets it
    checked (so apt reads only what was checked): the host's when it is already the pinned key,
    the given one; None for a key_url, which only apply fetches (``fetch_key``), so that a plan
    needs no network. Raises ResourceError."""
    on_host = host_key(repo, facts) if repo.key_url is not None else None
    if on_host is not None or repo.key_url is not None:
        return on_host
    try:
        return openpgp.pinned((repo.key or "").encode(), repo.fingerprint)
    except openpgp.KeyError_ as exc:
        raise ResourceError(f"{repo.name}: the key given: {exc}; nothing was written") from None


def fetch_key(repo: Repo) -> bytes:
    """The key at key_url (fetched on the controller, cached for the run), checked against the
    pinned fingerprint and rebuilt from the checked packets; ResourceError before anything is
    written."""
    assert repo.key_url is not None
    data = keyfetch.fetch(repo.key_url)
    try:
        return openpgp.pinned(data, repo.fingerprint)
    except openpgp.KeyError_ as exc:
        raise ResourceError(f"{repo.name}: key_url {repo.key_url}: {exc}; nothing was written") from None


@dataclass
class RepoPlan:
    name: str
    key: bytes | None = None  # write this key
    fetch: Repo | None = None  # the key is fetched from this repository's key_url first (prepare_repo)
    sources: bytes | None = None  # write this source file
    update: bool = False  # apt-get update for this source afterwards
    remove: list[str] = field(default_factory=list)  # absent: files to remove
    uris: tuple[str, ...] = ()


def plan_repo(repo: Repo, facts: Facts, *, update: bool = True) -> tuple[list[Change], str, RepoPlan]:
    """Pure (nothing fetched: a key_url's key is fetched by prepare_repo, when applying): the
    changes that make the repository's key and source what ``repo`` says."""
    key = resolve_key(repo, facts)
    sources = repo.sources()
    plan = RepoPlan(repo.name, uris=repo.uris)
    changes: list[Change] = []
    kp, sp = key_path(repo.name), sources_path(repo.name)
    cur_key, cur_src = facts.get(FileContent(kp)).writable(), facts.get(FileContent(sp)).writable()
    verb, did = ("update", "updated") if cur_key.exists else ("create", "created")
    if key is None:
        fp = repo.fingerprint or ""
        changes.append(Change(f"{verb} {kp}: fetch {repo.key_url}, pin {fp}",
                              "the repository's signing key, fetched on this machine when applied and written "
                              "only if its fingerprint is the pinned one; trusted for this repository only",
                              done=f"{did} {kp} (fetched {repo.key_url}, fingerprint {fp})"))
        plan.fetch = repo
    elif not cur_key.exists or cur_key.content != key:
        fp = ", ".join(k.fingerprint for k in openpgp.keys(key) if k.primary)
        changes.append(Change(f"{verb} {kp}", f"the repository's signing key (fingerprint {fp}), trusted for this "
                              f"repository only", done=f"{did} {kp}"))
        plan.key = key
    if not cur_src.exists or cur_src.content != sources:
        changes.append(Change(f"{'update' if cur_src.exists else 'create'} {sp}",
                              f"deb822 source for {' '.join(repo.uris)} {' '.join(repo.suites)}",
                              unified_diff(sp, cur_src.content if cur_src.exists else None, sources),
                              done=f"{'updated' if cur_src.exists else 'created'} {sp}"))
        plan.sources = sources
    if changes and update:
        plan.update = True
        changes.append(Change(f"apt-get update for {sp} only", "the source or its key changed",
                              done=f"downloaded the package lists of {sp} only"))
    reason = f"{sp} and {kp} are in place" if not changes else ""
    return changes, reason, plan


def prepare_repo(plan: RepoPlan) -> None:
    """Before apply touches the host: fetch and check the key the plan named (ResourceError)."""
    if plan.fetch is not None and plan.key is None:
        plan.key = fetch_key(plan.fetch)


def plan_repo_removal(name: str, facts: Facts, uris: Iterable[str] = ()) -> tuple[list[Change], RepoPlan]:
    plan = RepoPlan(name, uris=tuple(uris))
    changes = []
    for path in (sources_path(name), key_path(name)):
        if facts.get(FileContent(path)).exists:
            changes.append(Change(f"remove {path}", "state: absent", done=f"removed {path}"))
            plan.remove.append(path)
    return changes, plan


def _list_prefix(uri: str) -> str:
    """The start of the names apt gives this URI's downloaded lists (apt's URItoFileName)."""
    rest = uri.split("://", 1)[-1].rstrip("/")
    rest = rest.split("@", 1)[-1]
    return rest.replace("/", "_")


def apply_repo(ctx: ApplyContext, plan: RepoPlan, *, lock_timeout: int) -> None:
    kp, sp = key_path(plan.name), sources_path(plan.name)
    prepare_repo(plan)  # (done already when the engine called prepare)
    for path in plan.remove:
        ctx.remove_file(path)
    if plan.remove:
        for uri in plan.uris:
            pattern = _list_prefix(uri) + "_*"
            ctx.run(["find", LISTS, "-maxdepth", "1", "-name", pattern, "-type", "f", "-delete"])
        ctx.invalidate(APT_LISTS)
        return
    before_src = ctx.facts.get(FileContent(sp))
    if plan.key is not None:
        ctx.write_file(kp, plan.key, mode=0o644)
    if plan.sources is not None:
        ctx.write_file(sp, plan.sources, mode=0o644)
    if not plan.update:
        return
    ctx.progress(f"apt-get update for {sp}")
    try:
        packaging.run_apt(ctx, "update", "--error-on=any", "-o", f"Dir::Etc::SourceList={sp}",
                          "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=0",
                          what=f"apt-get update for {sp}", lock_timeout=lock_timeout,
                          timeout=lock_timeout + 600)
    except ResourceError as exc:
        # apt could not use the repository: take the source back out (every later apt-get update
        # on the host would fail on it), as it was before this run
        if before_src.exists:
            ctx.write_file(sp, before_src.content, mode=before_src.mode, uid=before_src.uid, gid=before_src.gid)
        else:
            ctx.remove_file(sp)
        raise ResourceError(f"{exc}; {sp} was taken back out") from None
    finally:
        ctx.invalidate(APT_LISTS)


def repository_checks(rid: str, label: str, repo: Repo) -> list[Check]:
    sp, kp = sources_path(repo.name), key_path(repo.name)
    want = repo.sources()

    def source(probe: Probe) -> tuple[bool, str]:
        data = read_file(probe, sp)
        if data is None:
            return False, f"{sp} does not exist"
        return (True, f"{sp} is as declared") if data == want else (False, f"{sp} differs from the declared source")

    def key(probe: Probe) -> tuple[bool, str]:
        data = read_file(probe, kp)
        if data is None:
            return False, f"{kp} does not exist"
        problem = openpgp.check_pinned(data, repo.fingerprint)
        return (False, f"{kp}: {problem}") if problem else (True, f"{kp} is the repository's key")

    return [Check(f"{rid}: {sp} is as declared", label, source),
            Check(f"{rid}: {kp} is the pinned key", label, key)]


# --------------------------------------------------------------------------- the resource

class AptRepositorySpec(Spec):
    name: str = Field(description="File names: /etc/apt/sources.list.d/<name>.sources and "
                      "/etc/apt/keyrings/<name>.asc.")
    uris: list[str] = Field(min_length=1, max_length=16, description="Repository URIs (URIs:).")
    suites: list[str] = Field(min_length=1, max_length=16, description="Suites (e.g. the host's codename: "
                              '"{{ facts.os.codename }}").')
    components: list[str] = Field(["main"], max_length=16, description="Components (Components:).")
    architectures: list[str] = Field([], max_length=16, description="Architectures: (default: apt's).")
    key: str | None = Field(None, description="The signing key, ASCII-armored, inline.")
    key_file: str | None = Field(None, description="The signing key (ASCII-armored) in a file beside the "
                                 "playbook or in templates/.")
    key_url: str | None = Field(None, description="The signing key's https URL, fetched on the controller; "
                                "needs fingerprint.")
    fingerprint: str | None = Field(None, description="The key's pinned fingerprint (40 or 64 hex digits; "
                                    "blanks allowed); required with key_url, checked whenever given.")
    state: Literal["present", "absent"] = Field("present", description="Present, or removed (source, key "
                                                "and the downloaded lists).")
    update: bool = Field(True, description="apt-get update for this source when it or its key changed.")
    lock_timeout: int = Field(300, ge=0, description="Seconds to wait for the apt lock.")

    _name = field_validator("name")(valid_name)

    @field_validator("uris")
    @classmethod
    def _uris(cls, v: list[str]) -> list[str]:
        return [valid_uri(uri) for uri in v]

    @field_validator("suites", "components", "architectures")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        for word in v:
            if not _WORD.match(word):
                raise ValueError(f"{word!r}: one word of letters, digits and ._/+~-")
        return v

    _fp = field_validator("fingerprint")(valid_fingerprint)

    _url = field_validator("key_url")(keyfetch.valid_url)

    @model_validator(mode="after")
    def _one_key(self) -> AptRepositorySpec:
        given = [k for k in ("key", "key_file", "key_url") if getattr(self, k) is not None]
        if self.state == "present" and len(given) != 1:
            raise ValueError("give exactly one of key, key_file, key_url")
        if self.key_url is not None and self.fingerprint is None:
            raise ValueError("key_url needs fingerprint (the key is checked against it before use)")
        return self


class AptRepository(Resource[AptRepositorySpec, RepoPlan]):
    type_name = "apt_repository"
    spec_type = AptRepositorySpec
    summary = "a third-party apt repository: deb822 source with its own pinned key (Signed-By)"
    template_fields = ("key_file",)
    example = """\
- apt_repository:
    name: adoptium
    uris: [https://packages.adoptium.net/artifactory/deb]
    suites: ["{{ facts.os.codename }}"]
    key_url: https://packages.adoptium.net/artifactory/api/gpg/key/public
    fingerprint: 3B04D753C9050D9A5D343F39843C48A565F8F04B
"""

    def label(self) -> str:
        return f"apt_repository {self.spec.name}"

    def repo(self) -> Repo:
        s = self.spec
        key = s.key if s.key is not None else self.render(s.key_file) if s.key_file is not None else None
        return Repo(s.name, tuple(s.uris), tuple(s.suites), tuple(s.components), tuple(s.architectures),
                    key=key, key_url=s.key_url, fingerprint=s.fingerprint)

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        return repo_facts(self.spec.name)

    def plan(self, facts: Facts) -> ResourcePlan[RepoPlan]:
        s = self.spec
        if s.state == "absent":
            changes, plan = plan_repo_removal(s.name, facts, s.uris)
            return ResourcePlan(changes, "" if changes else f"{sources_path(s.name)} does not exist", data=plan)
        changes, reason, plan = plan_repo(self.repo(), facts, update=s.update)
        return ResourcePlan(changes, reason, data=plan)

    def prepare(self, plan: ResourcePlan[RepoPlan]) -> None:
        prepare_repo(plan.payload())

    def apply(self, plan: ResourcePlan[RepoPlan], ctx: ApplyContext) -> Outputs:
        apply_repo(ctx, plan.payload(), lock_timeout=self.spec.lock_timeout)
        return {}

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        s = self.spec
        if s.state == "absent":
            def gone(probe: Probe) -> tuple[bool, str]:
                left = [p for p in (sources_path(s.name), key_path(s.name)) if read_file(probe, p) is not None]
                return (False, f"still there: {', '.join(left)}") if left else (True, "source and key removed")
            return [Check(f"{rid}: {s.name}'s source and key are absent", self.label(), gone)]
        return repository_checks(rid, self.label(), self.repo())

    def export(self, out: CloudConfig) -> Outputs:
        raise NotExportable("third-party repositories are not exported yet (cloud-init's apt sources "
                            "module would need the key inline): add it with provision apply")
