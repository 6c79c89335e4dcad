"""A CA certificate trusted host-wide: by OpenSSL, curl and apt (the system bundle) and by every
JDK's truststore, the usual need behind a company's TLS-inspecting network ("PKIX path building
failed" in Java while curl works).

The certificate is given inline (``pem``), as a file beside the playbook (``file``) or as an https
URL fetched on the controller with its pinned ``sha256`` fingerprint (also checked for ``pem``
and ``file`` when given); only apply fetches it (a plan names the URL and the pin, so it works
offline), and checks it before anything is written. It must be exactly one PEM ``CERTIFICATE``
block with ``basicConstraints CA:TRUE``: a second certificate, a private key, or anything before
or after the block is refused when the playbook loads (or, for a file or URL, before anything is
written); what is written is the certificate re-armored from the DER that was checked.

It is written to ``/usr/local/share/ca-certificates/<name>.crt`` (atomically; a link there is
refused) and ``update-ca-certificates`` runs. With ``java: true`` (the default), Debian's Java
store ``/etc/ssl/certs/java/cacerts`` (which the distribution's JDKs link to) is brought up to date
now, through ca-certificates-java's hook and any dpkg trigger it queued, and checked (alias
``debian:<name>.pem``); every JDK under /usr/lib/jvm or /opt (or /opt/*/) whose
``lib/security/cacerts`` (JDK 8: ``jre/lib/security/cacerts``) is a file of its own (Temurin or a
tarball JDK) gets the certificate
imported under the alias ``provision-<first 16 hex digits of its SHA-256>``, with a root-owned
keytool, on a copy that replaces the store atomically. An alias of that name holding another
certificate is refused. A JDK whose cacerts is a link elsewhere is left alone (named in the plan).
``state: absent`` removes what this resource added: the ``.crt`` and its links in /etc/ssl/certs,
the ``debian:<name>.pem`` entry, and the ``provision-…`` alias of this certificate (known from the
``.crt`` on the host, or from ``pem``/``file``/``sha256``) in each JDK store.

On WSL, ``windows_store`` takes the certificate from the Windows certificate store through
interop (``powershell.exe``, Windows's own, never one found on PATH; see provision/wincert.py),
by its thumbprint, when the plan reads the host; ``sha256`` is required with it, and the
certificate is checked (one CA certificate, the thumbprint's, the pinned SHA-256) before
anything is written. Not on WSL, or without a usable powershell.exe, it is one error at plan
time. It cannot be exported to cloud-init (the store is read on the running distro).

``provision verify`` checks the ``.crt``, the system bundle, and each JDK's truststore by itself
(``keytool -list -alias`` on Debian's store for the JDKs linked to it, and on each JDK's own
cacerts), naming the JDK whose store lacks it (that JDK's "PKIX path building failed"). With
``check_url`` (an https URL of a server whose certificate the CA signs), curl and each JDK's own
``java`` (single-file source launch, JDK 11 and later) make a real TLS handshake with it.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision import cadoctor, keyfetch, wincert
from provision.cloudconfig import CloudConfig
from provision.connections.base import ROOT_ONLY
from provision.errors import FactError, NotExportable, ResourceError
from provision.facts import DPKG, HOST, Fact, Facts, FileContent, FileState
from provision.formats import x509
from provision.java import truststores
from provision.java.truststores import FIND_KEYTOOL, FIND_STORES, JOPTS, STOREPASS
from provision.plan import Change, Outputs, ResourcePlan
from provision.resource import ApplyContext, Phase, Resource, Spec
from provision.resources.apt_repository import valid_name
from provision.verify.checks import Check, CheckEnv, Probe, read_file

LOCAL_DIR = "/usr/local/share/ca-certificates"
CERTS_DIR = "/etc/ssl/certs"
BUNDLE = f"{CERTS_DIR}/ca-certificates.crt"
DEBIAN_STORE = f"{CERTS_DIR}/java/cacerts"
JAVA_HOOK = "/etc/ca-certificates/update.d/jks-keystore"
PENDING = "/var/lib/ca-certificates-java/pending"


def crt_path(name: str) -> str:
    return f"{LOCAL_DIR}/{name}.crt"


def debian_alias(name: str) -> str:
    """The alias ca-certificates-java gives /etc/ssl/certs/<name>.pem."""
    return f"debian:{name}.pem"


# --------------------------------------------------------------------------- facts

@dataclass
class Store:
    path: str  # a JDK's own lib/security/cacerts (canonical)
    homes: list[str] = field(default_factory=list)
    entries: dict[str, str] = field(default_factory=dict)  # alias asked for → its SHA-256 (lower hex)
    error: str = ""  # keytool could not list it


@dataclass
class Trust:
    in_bundle: bool = False  # the certificate is in /etc/ssl/certs/ca-certificates.crt
    pem_link: bool = False  # /etc/ssl/certs/<name>.pem links to the .crt (update-ca-certificates made it)
    hook: bool = False  # ca-certificates-java's hook is installed
    pending: bool = False  # ca-certificates-java has updates queued for a dpkg trigger
    debian_store: bool = False  # /etc/ssl/certs/java/cacerts exists
    debian_entry: str = ""  # debian:<name>.pem's SHA-256 in it ("" when absent)
    keytool: str = ""  # a root-owned keytool (every directory up to / root's only)
    stores: list[Store] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)  # JDK homes using Debian's store
    elsewhere: list[str] = field(default_factory=list)  # "home -> target": a cacerts link elsewhere

    def store(self, path: str) -> Store:
        return next(s for s in self.stores if s.path == path)


# Lines: bundle | pem-link | hook | pending | debian-store | keytool P | linked H | elsewhere H T | store S H |
# entry S ALIAS FP | error S MESSAGE. Each keytool -list is one JVM start, one per store; only
# the entries whose alias was asked for are printed.
_TRUST = ROOT_ONLY + r"""
list() {  # keytool, store, aliases: "entry" lines for the aliases asked for
  out=$(LC_ALL=C LANG=C "$1" @JOPTS@ -list -keystore "$2" -storepass @PASS@ </dev/null 2>&1) || {
    printf 'error %s %s\n' "$2" "$(printf '%s' "$out" | tr -d '\r' | grep -v '^$' | head -n 1 | cut -c1-200)"
    return 0; }
  printf '%s\n' "$out" | awk -v s="$2" -v want="$3" '
    BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
    /^Certificate fingerprint \(SHA-256\): / {
      if (a != "") { f = tolower($NF); gsub(":", "", f); print "entry", s, a, f }
      a = ""; next }
    { a = ""; k = index($0, ", "); if (k > 1 && (substr($0, 1, k - 1) in ok)) a = substr($0, 1, k - 1) }'
}
if [ -n "$body" ] && [ -r @BUNDLE@ ] && awk -v want="$body" "$in_bundle" @BUNDLE@; then echo bundle; fi
[ "$(readlink -- "$pem" 2>/dev/null)" = "$crt" ] && echo pem-link
[ "$java" = 1 ] || exit 0
[ -x @HOOK@ ] && echo hook
[ -s @PENDING@ ] && echo pending
""" + FIND_KEYTOOL + r"""
[ -z "$kt" ] || echo "keytool $kt"
""" + FIND_STORES + r"""
[ -z "$found" ] || printf '%s\n' "$found"
if [ -f @DEBIAN@ ]; then
  echo debian-store
  [ -z "$kt" ] || list "$kt" @DEBIAN@ "$debian"
fi
if [ -n "$kt" ]; then
  printf '%s\n' "$found" | awk '$1 == "store" { print $2 }' | sort -u | while IFS= read -r s; do
    [ -n "$s" ] && list "$kt" "$s" "$aliases"
  done
fi
"""

# awk: does the PEM text read hold the certificate whose DER's base64 is ``want``?
_BUNDLE_AWK = r"""/^-----BEGIN CERTIFICATE-----/ { b = ""; on = 1; next }
/^-----END CERTIFICATE-----/ { if (on && b == want) found = 1; on = 0; next }
on { sub(/\r$/, ""); b = b $0 }
END { exit !found }"""


@dataclass(frozen=True)
class TrustState(Fact[Trust]):
    """Whether a CA certificate (``body``: its DER's base64) is in the system bundle, and with
    ``java``: Debian's Java store and its pending updates, the JDKs' own stores (found under
    /usr/lib/jvm and /opt) and which of ``aliases`` each holds, read with a root-owned keytool."""

    name: str
    body: str = ""
    aliases: tuple[str, ...] = ()
    java: bool = True

    topics = frozenset({DPKG})  # a JDK installed (with a store of its own) or removed

    def command(self) -> str:
        script = (_TRUST.replace("@BUNDLE@", BUNDLE).replace("@HOOK@", JAVA_HOOK).replace("@PENDING@", PENDING)
                  .replace("@DEBIAN@", DEBIAN_STORE).replace("@PASS@", STOREPASS).replace("@JOPTS@", JOPTS))
        values = {"body": self.body, "java": str(int(self.java)), "debian": debian_alias(self.name),
                  "aliases": " ".join(self.aliases), "pem": f"{CERTS_DIR}/{self.name}.pem",
                  "crt": crt_path(self.name), "in_bundle": _BUNDLE_AWK}
        return "(" + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()) + f"\n{script})"

    def parse(self, lines: list[str]) -> Trust:
        return parse_trust(lines, debian_alias(self.name))

    def describe(self) -> str:
        return f"trust of CA {self.name}" + (" (and the JDKs' stores)" if self.java else "")


def parse_trust(lines: list[str], debian: str) -> Trust:
    t = Trust()
    stores: dict[str, Store] = {}
    for line in lines:
        word, _, rest = line.partition(" ")
        if word in ("bundle", "pem-link", "hook", "pending", "debian-store"):
            setattr(t, {"bundle": "in_bundle", "debian-store": "debian_store"}.get(word, word.replace("-", "_")),
                    True)
        elif word == "keytool":
            t.keytool = rest
        elif word == "linked":
            t.linked.append(rest)
        elif word == "elsewhere":
            home, _, target = rest.rpartition(" ")
            t.elsewhere.append(f"{home} -> {target}")
        elif word == "store":
            path, _, home = rest.partition(" ")
            stores.setdefault(path, Store(path)).homes.append(home)
        elif word in ("entry", "error"):
            path, _, value = rest.partition(" ")
            if path == DEBIAN_STORE and word == "entry":
                a, _, fp = value.partition(" ")
                if a == debian:
                    t.debian_entry = fp
            elif path == DEBIAN_STORE:
                raise FactError(f"keytool cannot read {DEBIAN_STORE}: {value}")
            elif path in stores and word == "entry":
                a, _, fp = value.partition(" ")
                stores[path].entries[a] = fp
            elif path in stores:
                stores[path].error = value
    t.stores = list(stores.values())
    return t


# --------------------------------------------------------------------------- the spec

class WindowsStore(Spec):
    thumbprint: str = Field(description="The certificate's Windows thumbprint (SHA-1, 40 hex digits, as "
                            "certmgr or Get-ChildItem Cert:\\LocalMachine\\Root shows it).")
    store: Literal["Root", "CA"] = Field("Root", description="The store: Root (trusted roots) or CA "
                                         "(intermediate authorities).")
    location: Literal["LocalMachine", "CurrentUser"] = Field("LocalMachine", description="The store's "
                                                             "location: the machine's, or the Windows user's.")

    @field_validator("thumbprint")
    @classmethod
    def _thumbprint(cls, v: str) -> str:
        return wincert.normalise_thumbprint(v)

    def fact(self) -> wincert.WindowsCert:
        return wincert.WindowsCert(self.location, self.store, self.thumbprint)

    def where(self) -> str:
        return f"Cert:\\{self.location}\\{self.store}\\{self.thumbprint}"


class CaCertificateSpec(Spec):
    name: str = Field(description="File name: /usr/local/share/ca-certificates/<name>.crt (lower-case "
                      "letters, digits, '.', '_', '-').")
    pem: str | None = Field(None, description="The CA certificate, PEM, inline: exactly one CERTIFICATE "
                            "block with basicConstraints CA:TRUE, nothing around it.")
    file: str | None = Field(None, description="The CA certificate (PEM, as for pem) in a file beside the "
                             "playbook or in templates/.")
    url: str | None = Field(None, description="The CA certificate's https URL, fetched on the controller; "
                            "needs sha256.")
    windows_store: WindowsStore | None = Field(None, description="On WSL: the certificate in the Windows "
                                               "certificate store, read through interop by Windows's own "
                                               "powershell.exe when the plan reads the host; needs sha256.")
    sha256: str | None = Field(None, description="The certificate's pinned SHA-256 fingerprint (64 hex "
                               "digits, colons allowed, as openssl x509 -fingerprint -sha256 prints it); "
                               "required with url and windows_store, checked whenever given.")
    state: Literal["present", "absent"] = Field("present", description="Present, or removed (the .crt, "
                                                "its Debian Java store entry and its JDK store aliases).")
    java: bool = Field(True, description="Bring Debian's Java store up to date now and import the "
                       "certificate into every JDK's own cacerts (under /usr/lib/jvm and /opt).")
    check_url: str | None = Field(None, description="An https URL whose server certificate the CA signs: "
                                  "verify makes a real TLS handshake with it by curl and by each JDK's java "
                                  "(JDK 11 and later).")

    _name = field_validator("name")(valid_name)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        try:
            return None if v is None else x509.normalise_sha256(v)
        except x509.CertError as exc:
            raise ValueError(str(exc)) from None

    _url = field_validator("url")(keyfetch.valid_url)

    @field_validator("check_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https://[^\s/?#@]+(?:[/?#]\S*)?", v):
            raise ValueError("an https URL (no blanks, no user name)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> CaCertificateSpec:
        given = [k for k in ("pem", "file", "url", "windows_store") if getattr(self, k) is not None]
        if len(given) > 1 or (self.state == "present" and not given):
            raise ValueError("give exactly one of pem, file, url, windows_store")
        for k in ("url", "windows_store"):
            if getattr(self, k) is not None and self.sha256 is None:
                raise ValueError(f"{k} needs sha256 (the certificate is checked against it before use)")
        if self.pem is not None:
            pinned(self.pem.encode(), self.sha256, "pem")  # the whole check, when the playbook loads
        return self


def pinned(data: bytes, sha256: str | None, where: str) -> x509.CaCert:
    """The CA certificate in ``data``, checked (and against ``sha256`` when given); ValueError."""
    cert = x509.parse_ca(data)
    if sha256 is not None and cert.sha256 != sha256:
        raise x509.CertError(f"{where}: its SHA-256 fingerprint is {cert.sha256}, not the pinned {sha256}")
    return cert


# --------------------------------------------------------------------------- the resource

@dataclass
class CaPlan:
    cert: x509.CaCert | None = None  # present: the certificate
    fetch: bool = False  # present, url: the certificate is fetched first (prepare), then it is cert
    aliases: tuple[str, ...] = ()  # absent: the provision-… aliases to remove
    write: bool = False  # (re)write the .crt
    remove: bool = False  # absent: remove the .crt
    update: bool = False  # run update-ca-certificates
    debian: bool = False  # bring Debian's Java store up to date
    stores: list[str] = field(default_factory=list)  # stores to import into (present) or delete from
    keytool: str = ""  # the root-owned keytool that edits them
    hook: bool = False  # tell ca-certificates-java's hook (update-ca-certificates will not)


class CaCertificate(Resource[CaCertificateSpec, CaPlan]):
    type_name = "ca_certificate"
    examiners = (cadoctor.EXAMINER,)
    spec_type = CaCertificateSpec
    phases = (Phase.NETWORK, Phase.SETTLE)  # before apt and repositories; again for JDKs they installed
    summary = "a CA certificate trusted by the system bundle and every JDK's truststore"
    template_fields = ("file",)
    output_docs = {"path": "the .crt written", "sha256": "the certificate's SHA-256 fingerprint",
                   "alias": "its keytool alias in the JDKs' own stores"}
    example = """\
- ca_certificate:
    name: corp-root
    url: https://pki.example.com/corp-root.pem
    sha256: "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
"""

    def label(self) -> str:
        return f"ca_certificate {self.spec.name}"

    def given(self) -> x509.CaCert | None:
        """The certificate given inline or in a file (checked), or None (url, or nothing given)."""
        s = self.spec
        text = s.pem if s.pem is not None else self.render(s.file) if s.file is not None else None
        if text is None:
            return None
        try:
            return pinned(text.encode(), s.sha256, s.file or "pem")
        except x509.CertError as exc:
            raise ResourceError(f"{s.name}: {exc}; nothing was written") from None

    def trust_fact(self, known: Facts) -> TrustState:
        """What to read: for present, the given certificate (for a url, the host's copy when it is
        the pinned one); for absent, the aliases of the given one and of the host's copy."""
        s, given = self.spec, self.given()
        fp = given.sha256 if given is not None else s.sha256
        aliases = {x509.alias(fp)} if fp else set()
        on_host = host_copy(known.peek(FileContent(crt_path(s.name))))
        if s.state == "absent":
            return TrustState(s.name, "", tuple(sorted(aliases | ({on_host.alias} if on_host else set()))), s.java)
        if given is None and on_host is not None and on_host.sha256 == s.sha256:
            given = on_host
        return TrustState(s.name, given.body if given else "", tuple(sorted(aliases)), s.java)

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        crt = FileContent(crt_path(self.spec.name))
        ws = self.spec.windows_store if self.spec.state == "present" else None
        if known.peek(crt) is None:
            return [crt, HOST, ws.fact()] if ws is not None else [crt]
        trust_fact = self.trust_fact(known)
        wanted: list[Fact[object]] = [crt, trust_fact, *([HOST, ws.fact()] if ws is not None else [])]
        trust = known.peek(trust_fact)
        if trust is not None:
            wanted += [FileContent(st.path) for st in trust.stores]
        return wanted

    def sha256(self) -> str | None:
        cert = self.given()
        return cert.sha256 if cert is not None else self.spec.sha256

    def resolve(self, facts: Facts) -> x509.CaCert | None:
        """The certificate to have: the given one, or for a url the one on the host when it is
        exactly the pinned one; None for a url whose certificate only apply fetches (``fetch``),
        so that a plan needs no network."""
        s = self.spec
        given = self.given()
        if given is not None:
            return given
        if s.windows_store is not None:
            return self.from_windows(facts, s.windows_store)
        assert s.url is not None and s.sha256 is not None
        on_host = host_copy(facts.get(FileContent(crt_path(s.name))))
        return on_host if on_host is not None and on_host.sha256 == s.sha256 else None

    def from_windows(self, facts: Facts, ws: WindowsStore) -> x509.CaCert:
        """The certificate powershell.exe printed from the Windows store, checked (one CA
        certificate, the thumbprint's, the pinned SHA-256); ResourceError before anything is written."""
        s = self.spec
        where = f"windows_store {ws.where()}"
        host = facts.get(HOST)
        if not host.wsl.version or host.wsl.assumed:
            raise ResourceError(f"{where}: the target is not a running WSL distro (the Windows store is read "
                                "through WSL interop); nothing was written")
        read = facts.get(ws.fact())
        if read.problem:
            raise ResourceError(f"{where}: {read.problem}; nothing was written")
        try:
            return pinned(wincert.certificate(read.output, ws.thumbprint).pem(), s.sha256, ws.where())
        except x509.CertError as exc:
            raise ResourceError(f"{where}: {exc}; nothing was written") from None

    def fetch(self) -> x509.CaCert:
        """The certificate at url (fetched on the controller, cached for the run), checked against
        the pinned SHA-256; ResourceError before anything is written."""
        s = self.spec
        assert s.url is not None
        data = keyfetch.fetch(s.url, what="certificate", limit=x509.MAX_PEM_BYTES)
        try:
            return pinned(data, s.sha256, f"url {s.url}")
        except x509.CertError as exc:
            raise ResourceError(f"{s.name}: {exc}; nothing was written") from None

    def plan(self, facts: Facts) -> ResourcePlan[CaPlan]:
        return self.plan_absent(facts) if self.spec.state == "absent" else self.plan_present(facts)

    def plan_present(self, facts: Facts) -> ResourcePlan[CaPlan]:
        s = self.spec
        cert = self.resolve(facts)
        sha256 = cert.sha256 if cert is not None else s.sha256 or ""
        path = crt_path(s.name)
        cur = facts.get(FileContent(path)).writable()
        trust = facts.get(self.trust_fact(facts))
        plan = CaPlan(cert=cert, fetch=cert is None)
        changes: list[Change] = []
        outputs: Outputs = {"path": path, "sha256": sha256, "alias": x509.alias(sha256)}
        verb, did = ("update", "updated") if cur.exists else ("create", "created")
        if cert is None:
            changes.append(Change(f"{verb} {path}: fetch {s.url}, pin {sha256}",
                                  "the CA certificate, fetched on this machine when applied and written only if "
                                  "its SHA-256 is the pinned one", done=f"{did} {path} (fetched {s.url})"))
            plan.write = True
        elif not cur.exists or cur.content != cert.pem():
            changes.append(Change(f"{verb} {path}", f"CA {cert.subject} (SHA-256 {cert.sha256})",
                                  done=f"{did} {path}"))
            plan.write = True
        if plan.write or not trust.in_bundle:
            changes.append(Change("run update-ca-certificates", f"{BUNDLE} does not hold it yet",
                                  done="ran update-ca-certificates"))
            plan.update = True
        notes: list[str] = []
        if s.java:
            notes = self.plan_java_present(sha256, trust, plan, changes)
        reason = "" if changes else f"{path} is in place and trusted" + "".join(f"; {n}" for n in notes)
        return ResourcePlan(changes, reason, data=plan, outputs=outputs)

    def plan_java_present(self, sha256: str, trust: Trust, plan: CaPlan, changes: list[Change]) -> list[str]:
        notes = [f"left alone: {e} (its cacerts is a link to another store)" for e in trust.elsewhere]
        alias = x509.alias(sha256)
        if trust.debian_store and (trust.debian_entry != sha256 or trust.pending or plan.write):
            if not trust.hook:
                raise ResourceError(f"{DEBIAN_STORE} exists but ca-certificates-java's hook {JAVA_HOOK} does "
                                    "not: reinstall ca-certificates-java, or set java: false")
            changes.append(Change(f"bring {DEBIAN_STORE} up to date", f"{debian_alias(self.spec.name)} is "
                                  f"{'another certificate' if trust.debian_entry else 'not there'}"
                                  + (" (updates are pending)" if trust.pending else ""),
                                  done=f"brought {DEBIAN_STORE} up to date"))
            plan.debian = True
            plan.hook = trust.pem_link or not plan.update  # it tells the hook only of a new link
        for st in trust.stores:
            if st.error:
                raise ResourceError(f"keytool cannot read {st.path} (of {', '.join(st.homes)}): {st.error}")
            have = st.entries.get(alias)
            if have == sha256:
                continue
            if have:
                raise ResourceError(f"{st.path} already has an alias {alias} holding another certificate "
                                    f"(SHA-256 {have}): not replaced; remove it with keytool -delete first")
            changes.append(Change(f"import it into {st.path} as {alias}", f"the cacerts of {', '.join(st.homes)}",
                                  done=f"imported it into {st.path} as {alias}"))
            plan.stores.append(st.path)
        if plan.stores and not trust.keytool:
            raise ResourceError("no keytool on the host is root's along its whole path: not run as root; "
                                "the JDKs' stores were not changed")
        plan.keytool = trust.keytool
        return notes

    def plan_absent(self, facts: Facts) -> ResourcePlan[CaPlan]:
        s = self.spec
        path = crt_path(s.name)
        cur = facts.get(FileContent(path))
        fact = self.trust_fact(facts)
        trust = facts.get(fact)
        plan = CaPlan(aliases=fact.aliases)
        changes: list[Change] = []
        if cur.exists or cur.link:
            cur.writable()
            changes.append(Change(f"remove {path}", "state: absent", done=f"removed {path}"))
            changes.append(Change("run update-ca-certificates", f"{BUNDLE} must not hold it",
                                  done="ran update-ca-certificates"))
            plan.remove = plan.update = True
        if s.java and trust.debian_entry:
            changes.append(Change(f"remove {debian_alias(s.name)} from {DEBIAN_STORE}", "state: absent",
                                  done=f"removed {debian_alias(s.name)} from {DEBIAN_STORE}"))
            plan.debian = plan.hook = True
        for st in trust.stores if s.java else []:
            ours = [a for a in fact.aliases if st.entries.get(a, "").startswith(a.removeprefix("provision-"))]
            if ours:
                changes.append(Change(f"remove {', '.join(ours)} from {st.path}", "state: absent",
                                      done=f"removed {', '.join(ours)} from {st.path}"))
                plan.stores.append(st.path)
        if plan.stores and not trust.keytool:
            raise ResourceError("no keytool on the host is root's along its whole path: the JDKs' stores "
                                "were not changed")
        plan.keytool = trust.keytool
        return ResourcePlan(changes, "" if changes else f"{path} is absent and no store holds it", data=plan,
                            outputs={"path": path})

    # ----------------------------------------------------------------------- apply

    def prepare(self, plan: ResourcePlan[CaPlan]) -> None:
        p = plan.payload()
        if p.fetch and p.cert is None:
            p.cert = self.fetch()

    def apply(self, plan: ResourcePlan[CaPlan], ctx: ApplyContext) -> Outputs:
        self.prepare(plan)  # (done already when the engine called it)
        p = plan.payload()
        path, name = crt_path(self.spec.name), self.spec.name
        if p.cert is not None and p.write:
            ctx.write_file(path, p.cert.pem(), mode=0o644)
        if p.remove:
            ctx.remove_file(path)
            # update-ca-certificates counts no removal for a deleted local file: its links go here
            ctx.check(["sh", "-c", _UNLINK, "sh", CERTS_DIR, path, f"{name}.pem"], what="removing its links")
        if p.update:
            ctx.check(["update-ca-certificates"], what="update-ca-certificates", timeout=600)
        if p.debian:
            self.update_debian_store(ctx, f"{'+' if p.cert else '-'}{CERTS_DIR}/{name}.pem\n" if p.hook else "")
        for store in p.stores:
            self.edit_store(ctx, store, p)
        return self.confirm(ctx, p) if p.cert is not None else plan.outputs

    def update_debian_store(self, ctx: ApplyContext, line: str) -> None:
        """Debian's Java store, now: ca-certificates-java's hook (given ``line``, +/- a PEM in
        /etc/ssl/certs, when update-ca-certificates did not tell it) records the change and runs
        its dpkg trigger; when it only queued it, the pending triggers are run here."""
        if line:
            ctx.check([JAVA_HOOK], what="ca-certificates-java's hook", input=line.encode(), timeout=600)
        if ctx.run(["test", "-s", PENDING]).ok:
            ctx.check(["dpkg", "--triggers-only", "--pending"], what="dpkg --triggers-only --pending", timeout=600)

    def edit_store(self, ctx: ApplyContext, store: str, p: CaPlan) -> None:
        """keytool edits a private copy of the store; the copy replaces it atomically (backed up,
        refused if the store changed since it was read)."""
        cur = ctx.facts.get(FileContent(store)).writable()
        steps = [["-importcert", "-noprompt", "-alias", p.cert.alias, "-file", "ca.crt"]] if p.cert else \
            [["-delete", "-alias", a] for a in p.aliases]
        script = "\n".join([_KEYTOOL.replace("@JOPTS@", JOPTS), *(shlex.join(["kt", *s]) for s in steps),
                            'base64 -w0 "$t/store"'])
        r = ctx.check(["sh", "-c", script, "sh", p.keytool, STOREPASS, p.cert.pem().decode() if p.cert else ""],
                      what=f"keytool on a copy of {store}", input=cur.content, timeout=600)
        data = base64.b64decode(r.stdout.strip(), validate=True)
        ctx.write_file(store, data, mode=cur.mode, uid=cur.uid, gid=cur.gid)

    def confirm(self, ctx: ApplyContext, p: CaPlan) -> Outputs:
        """Read the trust again: the bundle, Debian's store and each JDK store must hold it."""
        assert p.cert is not None
        cert, fact = p.cert, self.trust_fact(ctx.facts)
        trust = ctx.fresh(fact)
        problems = missing(trust, cert, self.spec)
        if problems:
            raise ResourceError(f"{self.spec.name}: after the update, {'; '.join(problems)}")
        return {"path": crt_path(self.spec.name), "sha256": cert.sha256, "alias": cert.alias}

    # ----------------------------------------------------------------------- verify, export

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        s, path = self.spec, crt_path(self.spec.name)
        if s.state == "absent":
            return [Check(f"{rid}: {path} is absent", self.label(), lambda probe: absent(probe, path))]

        def wanted(probe: Probe) -> x509.CaCert:
            """The given certificate, or for a url the host's copy, when it is the pinned one."""
            given = self.given()
            if given is not None:
                return given
            data = read_file(probe, path)
            if data is None:
                raise x509.CertError(f"{path} does not exist")
            return pinned(data, s.sha256, path)

        def written(probe: Probe) -> tuple[bool, str]:
            try:
                cert = wanted(probe)
            except x509.CertError as exc:
                return False, str(exc)
            data = read_file(probe, path)
            return (True, f"{path} holds {cert.subject}") if data == cert.pem() else \
                (False, f"{path} does not exist" if data is None else f"{path} holds another certificate")

        def trusted(probe: Probe) -> tuple[bool, str]:
            try:
                cert = wanted(probe)
            except x509.CertError as exc:
                return False, str(exc)
            fact = TrustState(s.name, cert.body, (cert.alias,), s.java)
            problems = missing(fact.parse(probe.run("sh -c %s", fact.command()).stdout.splitlines()), cert, s)
            return (False, "; ".join(problems)) if problems else (True, "the bundle and every JDK store hold it")

        label = self.label()
        checks = [Check(f"{rid}: {path} is the certificate", label, written)]
        trust = env.facts.peek(self.trust_fact(env.facts)) if s.java else Trust()  # java: false: no JDK
        sha256 = self.sha256() or ""
        ca, alias = f"{s.name} (SHA-256 {sha256[:16]}…)", x509.alias(sha256)
        if trust is None or not sha256:  # the JDKs are not known here: one check reads them all
            checks.append(Check(f"{rid}: {BUNDLE} and the JDKs' stores hold it", label, trusted))
            trust = Trust()
        else:
            checks.append(Check(f"{rid}: {BUNDLE} holds it", label, lambda probe: in_bundle(probe, wanted)))
        if trust.debian_store:
            checks.append(truststores.store_check(
                f"{rid}: {DEBIAN_STORE} holds it (JDKs linked to it: {', '.join(trust.linked) or 'none'})", label,
                trust.keytool, DEBIAN_STORE, trust.linked, debian_alias(s.name), sha256, ca))
        for st in trust.stores:
            checks.append(truststores.store_check(f"{rid}: JDK {', '.join(st.homes)} trusts it ({st.path})", label,
                                                  trust.keytool, st.path, st.homes, alias, sha256, ca))
        if s.check_url:
            url = s.check_url
            checks.append(truststores.curl_check(f"{rid}: curl completes a TLS handshake with {url}", label, url, ca))
            homes = [(h, DEBIAN_STORE) for h in trust.linked] + [(h, st.path) for st in trust.stores for h in st.homes]
            for home, store in homes:
                checks.append(truststores.java_check(f"{rid}: java of JDK {home} completes a TLS handshake with "
                                                     f"{url}", label, home, url, store, ca))
        return checks

    def export(self, out: CloudConfig) -> Outputs:
        s = self.spec
        if s.state == "absent":
            raise NotExportable("state: absent (cloud-init's ca_certs adds certificates, it does not remove them)")
        if s.windows_store is not None:
            raise NotExportable("windows_store: the certificate is read from the Windows store of a running WSL "
                                "distro through interop, which an image does not have; give it as pem, file or url")
        cert = self.given()
        if cert is None:
            assert s.url is not None
            data = keyfetch.fetch(s.url, what="certificate", limit=x509.MAX_PEM_BYTES)
            try:
                cert = pinned(data, s.sha256, f"url {s.url}")
            except x509.CertError as exc:
                raise NotExportable(str(exc)) from None
        out.ca_certs.append(cert.pem().decode())
        out.run(["sh", "-c", _IN_BUNDLE, "provision-ca-certificate", BUNDLE, cert.body, s.name, _BUNDLE_AWK])
        out.summary.append(f"{self.label()}: ca_certs (SHA-256 {cert.sha256}), and a runcmd check that "
                           f"{BUNDLE} holds it" + ("; Debian's Java store takes it from there, JDKs with "
                                                   "their own cacerts are not exported" if s.java else ""))
        return {"path": crt_path(s.name), "sha256": cert.sha256, "alias": cert.alias}


def host_copy(cur: FileState | None) -> x509.CaCert | None:
    """The CA certificate at the .crt path on the host, when there is one that parses."""
    if cur is None or not cur.exists or cur.link:
        return None
    try:
        return x509.parse_ca(cur.content)
    except x509.CertError:
        return None


def missing(trust: Trust, cert: x509.CaCert, spec: CaCertificateSpec) -> list[str]:
    """What does not hold the certificate yet ([] when everything does)."""
    problems = [] if trust.in_bundle else [f"{BUNDLE} does not hold it"]
    if not spec.java:
        return problems
    if trust.debian_store and trust.debian_entry != cert.sha256:
        problems.append(f"{DEBIAN_STORE} has no {debian_alias(spec.name)} with it" + (
            " (ca-certificates-java's updates are still pending)" if trust.pending else ""))
    for st in trust.stores:
        if st.entries.get(cert.alias) != cert.sha256:
            problems.append(f"{st.path} has no {cert.alias} with it" + (f" ({st.error})" if st.error else ""))
    return problems


def in_bundle(probe: Probe, wanted: Callable[[Probe], x509.CaCert]) -> tuple[bool, str]:
    """The system bundle (OpenSSL, curl, apt) holds the certificate."""
    try:
        cert = wanted(probe)
    except x509.CertError as exc:
        return False, str(exc)
    r = probe.run("awk -v want=%s %s %s", cert.body, _BUNDLE_AWK, BUNDLE)
    return (True, f"{BUNDLE} holds {cert.subject}") if r.rc == 0 else \
        (False, f"{BUNDLE} does not hold {cert.subject}: curl and apt do not trust it (update-ca-certificates)")


def absent(probe: Probe, path: str) -> tuple[bool, str]:
    return (False, f"{path} exists") if read_file(probe, path) is not None else (True, f"{path} does not exist")


# In /etc/ssl/certs ($1): the links to the removed .crt ($2) and the hash links to <name>.pem ($3).
_UNLINK = r"""cd "$1" || exit 1
for l in ./* ./.[!.]*; do
  [ -L "$l" ] || continue
  case $(readlink -- "$l") in "$2"|"$3") [ -e "$l" ] || rm -f -- "$l";; esac
done
"""

# kt ARGS: keytool ($1, storepass $2) on a private copy of the store (stdin); ca.crt from $3.
_KEYTOOL = r"""set -eu
keytool=$1 pass=$2 t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
cat > "$t/store"; printf '%s' "$3" > "$t/ca.crt"; cd "$t"
kt() { LC_ALL=C "$keytool" @JOPTS@ "$@" -keystore "$t/store" -storepass "$pass" </dev/null >&2; }"""

# First boot (runcmd): the bundle ($1) must hold the certificate (its DER's base64, $2).
_IN_BUNDLE = r"""awk -v want="$2" "$4" "$1" ||
  { echo "provision: $1 does not hold the CA certificate $3" >&2; exit 1; }"""
