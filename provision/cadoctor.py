"""doctor's part for company CAs (issue 20): Java's "PKIX path building failed" while curl works,
explained as which JDK's truststore lacks which local CA.

The local CAs are the ``.crt`` files under /usr/local/share/ca-certificates (what
update-ca-certificates adds to the system bundle, so curl and apt trust them). Each JDK's store is
Debian's /etc/ssl/certs/java/cacerts for the JDKs whose cacerts links there, or its own cacerts
(Temurin, a tarball JDK, JDK 8's ``jre/lib/security/cacerts``), read with a root-owned keytool
only when there is a local CA. Paths and certificates travel as base64 (a path holding a newline
cannot forge a record); only fingerprints are read from the stores, no alias is printed.

On WSL, when the Java the shell uses is a Windows JDK (crossdoctor's facts: `java` on the Windows
drive, java.exe ahead of any Linux java on PATH, a Windows JAVA_HOME), the local CAs do not reach
it whatever the Linux stores hold: a Windows JDK reads its own cacerts (or Windows's store), not
Linux's, so this part says that too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provision import crossdoctor
from provision.connections.base import ROOT_ONLY
from provision.facts import HOST, Fact, Facts, FileContent
from provision.facts.base import decode_b64
from provision.findings import OK, WARN, Examiner, Finding
from provision.formats import x509
from provision.java.truststores import DEBIAN_STORE, FIND_KEYTOOL, FIND_STORES, JOPTS, PKIX, STOREPASS

LOCAL_DIR = "/usr/local/share/ca-certificates"
PENDING = "/var/lib/ca-certificates-java/pending"
MAX_CRT = 65536

# Lines: crt B64(path) B64(content) | linked B64(home) | store B64(path) B64(home) | fp B64(store) SHA256 |
# error B64(store) | pending
_SCRIPT = ROOT_ONLY + r"""
b64() { printf '%s' "$1" | base64 -w0; }
n=0
for f in @DIR@/*.crt @DIR@/*/*.crt; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  [ "$(stat -c %s -- "$f")" -le @MAX@ ] || continue
  printf 'crt %s %s\n' "$(b64 "$f")" "$(base64 -w0 < "$f")"
  n=$((n+1))
done
[ "$n" -gt 0 ] || exit 0  # (a part of the batch runs in a subshell of its own)
[ -s @PENDING@ ] && echo pending
""" + FIND_KEYTOOL + FIND_STORES + r"""
printf '%s\n' "$found" | while read -r kind a b; do
  case $kind in
    linked) printf 'linked %s\n' "$(b64 "$a")";;
    store) printf 'store %s %s\n' "$(b64 "$a")" "$(b64 "$b")";;
  esac
done
[ -n "$kt" ] || exit 0
{ [ -f @DEBIAN@ ] && echo @DEBIAN@; printf '%s\n' "$found" | awk '$1 == "store" { print $2 }'; } | sort -u |
while IFS= read -r s; do
  [ -n "$s" ] || continue
  e=$(b64 "$s")
  out=$(LC_ALL=C LANG=C "$kt" @JOPTS@ -list -keystore "$s" -storepass @PASS@ </dev/null 2>/dev/null) ||
    { printf 'error %s\n' "$e"; continue; }
  printf '%s\n' "$out" |
    awk -v s="$e" '/^Certificate fingerprint \(SHA-256\): / { f = tolower($NF); gsub(":", "", f); print "fp", s, f }'
done
"""


@dataclass
class JdkStores:
    cas: list[tuple[str, x509.CaCert]] = field(default_factory=list)  # (path, certificate) of each local CA
    skipped: list[str] = field(default_factory=list)  # .crt files that are not one CA certificate
    linked: list[str] = field(default_factory=list)  # JDK homes using Debian's store
    stores: dict[str, list[str]] = field(default_factory=dict)  # a JDK's own store → its homes
    fingerprints: dict[str, set[str]] = field(default_factory=dict)  # store → SHA-256s it holds
    pending: bool = False


@dataclass(frozen=True)
class CaTrust(Fact[JdkStores]):
    """The local CAs and, when there are any, the SHA-256s every JDK's truststore holds."""

    def command(self) -> str:
        return (_SCRIPT.replace("@DIR@", LOCAL_DIR).replace("@MAX@", str(MAX_CRT)).replace("@PENDING@", PENDING)
                .replace("@DEBIAN@", DEBIAN_STORE).replace("@JOPTS@", JOPTS).replace("@PASS@", STOREPASS))

    def parse(self, lines: list[str]) -> JdkStores:
        st = JdkStores()

        def text(field_: str) -> str:
            return decode_b64(field_, "CA trust").decode("utf-8", "surrogateescape")

        for line in lines:
            kind, *parts = line.split(" ")
            if kind == "crt" and len(parts) == 2:
                path = text(parts[0])
                try:
                    st.cas.append((path, x509.parse_ca(decode_b64(parts[1], "CA trust"))))
                except x509.CertError:
                    st.skipped.append(path)
            elif kind == "linked" and len(parts) == 1:
                st.linked.append(text(parts[0]))
            elif kind == "store" and len(parts) == 2:
                st.stores.setdefault(text(parts[0]), []).append(text(parts[1]))
            elif kind == "fp" and len(parts) == 2:
                st.fingerprints.setdefault(text(parts[0]), set()).add(parts[1])
            elif kind == "error" and len(parts) == 1:
                st.fingerprints.pop(text(parts[0]), None)
            elif kind == "pending":
                st.pending = True
        return st

    def describe(self) -> str:
        return "local CA certificates and the JDKs' truststores"


def diagnose(facts: Facts, kind: str) -> list[Finding]:
    st = facts.get(CaTrust())
    if not st.cas:
        return []
    jdks = [(DEBIAN_STORE, home) for home in st.linked] + [(s, h) for s, homes in st.stores.items() for h in homes]
    out: list[Finding] = []
    for store, home in jdks:
        have = st.fingerprints.get(store)
        if have is None:
            out.append(Finding("CA", WARN, f"JDK {home}: its truststore {store} could not be read (no root-owned "
                               "keytool, or keytool failed)", "check it with keytool -list -keystore " + store))
            continue
        lacking = [(p, c) for p, c in st.cas if c.sha256 not in have]
        for path, cert in lacking:
            where = "Debian's Java store" if store == DEBIAN_STORE else "its own cacerts"
            fix = ("run dpkg --triggers-only --pending (ca-certificates-java's updates are queued)" if store ==
                   DEBIAN_STORE and st.pending else "declare it as a ca_certificate resource and apply (it imports "
                   "the CA into every JDK's own cacerts)")
            out.append(Finding("CA", WARN, f"JDK {home} does not trust CA {cert.subject} ({path}): {where} {store} "
                               f"lacks it, so Java there fails with \"{PKIX}\" for sites it signs while curl and "
                               "apt trust them", fix))
    windows = crossdoctor.windows_jdk(facts.get(HOST), facts.get(crossdoctor.Crossover()),
                                      facts.get(FileContent(crossdoctor.WSL_CONF)))
    if windows:
        n = len(st.cas)
        out.append(Finding("CA", WARN, f"{windows}: a Windows JDK ignores Linux truststores, so "
                           f"the {n} local CA{'s' if n != 1 else ''} here (/usr/local/share/ca-certificates) do "
                           f"not reach it and it fails with \"{PKIX}\" for the sites they sign",
                           "run Java from a Linux JDK (see the PATH and JAVA_HOME findings); for the Windows "
                           "JDK itself, import the CA with its keytool.exe into its lib\\security\\cacerts, "
                           "or start it with -Djavax.net.ssl.trustStoreType=Windows-ROOT (Windows's store)"))
    if not out and jdks:
        out.append(Finding("CA", OK, f"every JDK's truststore holds the {len(st.cas)} local CA"
                           f"{'s' if len(st.cas) != 1 else ''} (/usr/local/share/ca-certificates)"))
    return out


EXAMINER = Examiner("CA", 45, (CaTrust(), HOST, FileContent(crossdoctor.WSL_CONF), crossdoctor.Crossover()),
                    diagnose)
