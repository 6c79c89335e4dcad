"""What verify asks of a CA certificate in Java (issue 20): per JDK, whether its truststore holds
the CA under its alias (``keytool -list -alias``, by the store's path, so that a JDK 8's
``jre/lib/security/cacerts`` is read the same way), and, given a URL, a real TLS handshake by curl
and by each JDK's own ``java`` (a single-file source launch, JDK 11 and later). Java's "PKIX path
building failed" is explained there: which JDK's store lacks which CA.

Every binary run is root's along its whole path (``ROOT_ONLY``), since verify runs as root and a
JDK under /opt may be anyone's; text from the target is data (shown escaped by the report).
"""

from __future__ import annotations

import re

from provision.connections.base import ROOT_ONLY
from provision.verify.checks import Check, Probe, first_line

DEBIAN_STORE = "/etc/ssl/certs/java/cacerts"  # Debian's Java store (ca-certificates-java)
STOREPASS = "changeit"  # the JDKs' and Debian's default truststore password
# keytool's JVM: English output, and a quick start (one GC thread, no optimising compiler)
JOPTS = "-J-Duser.language=en -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -J-Xshare:auto"
TIMEOUT = 60  # seconds for one handshake (curl, java)


# sets kt: the first keytool (on PATH, then the JDKs') that is root's along its whole path, or ""
FIND_KEYTOOL = r"""
kt=
for k in "$(command -v keytool 2>/dev/null)" /usr/lib/jvm/*/bin/keytool /opt/*/bin/keytool /opt/*/*/bin/keytool; do
  [ -n "$k" ] && [ -x "$k" ] || continue
  k=$(readlink -f -- "$k") && root_only "$k" && { kt=$k; break; }
done
"""

# sets found: "linked HOME" (its cacerts links to Debian's store), "elsewhere HOME TARGET" (a link
# to another store), "store STORE HOME" (a store of its own) for each JDK under /usr/lib/jvm, /opt
# and /opt/*/ (JDK 8: jre/lib/security/cacerts)
FIND_STORES = r"""
found=$(for c in /usr/lib/jvm/*/lib/security/cacerts /opt/*/lib/security/cacerts /opt/*/*/lib/security/cacerts \
    /usr/lib/jvm/*/jre/lib/security/cacerts /opt/*/jre/lib/security/cacerts /opt/*/*/jre/lib/security/cacerts; do
  [ -e "$c" ] || [ -L "$c" ] || continue
  case $c in */jre/lib/security/cacerts) h=${c%/jre/lib/security/cacerts};; *) h=${c%/lib/security/cacerts};; esac
  h=$(readlink -f -- "$h") || continue
  if [ -L "$c" ]; then
    t=$(readlink -f -- "$c") || t=
    if [ "$t" = /etc/ssl/certs/java/cacerts ]; then echo "linked $h"; else echo "elsewhere $h ${t:-?}"; fi
  elif [ -f "$c" ]; then
    echo "store $(readlink -f -- "$c") $h"
  fi
done | sort -u)
"""

# $1 keytool, $2 store, $3 alias, $4 storepass: "rc N" then keytool's first lines
_ENTRY = ROOT_ONLY + r"""
kt=$(readlink -f -- "$1") && root_only "$kt" || { echo unsafe; exit 0; }
[ -e "$2" ] || { echo gone; exit 0; }
out=$(LC_ALL=C LANG=C "$kt" @JOPTS@ -list -keystore "$2" -storepass "$4" -alias "$3" </dev/null 2>&1)
echo "rc $?"
printf '%s\n' "$out" | tr -d '\r' | grep -v '^$' | head -n 5
"""

# $1 JDK home, $2 URL, $3 the Java source: "unsafe", "old VERSION", or "rc N" and what it printed
_HANDSHAKE = ROOT_ONLY + r"""
j=$(readlink -f -- "$1/bin/java") && root_only "$j" || { echo unsafe; exit 0; }
v=$(sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$1/release" 2>/dev/null | head -n 1)
case $v in 1.*|9|9.*|10|10.*) echo "old $v"; exit 0;; esac
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
printf '%s' "$3" > "$t/Handshake.java"
cd "$t" || exit 1
out=$(LC_ALL=C timeout @TIMEOUT@ "$j" -Duser.language=en -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  Handshake.java "$2" </dev/null 2>&1)
echo "rc $?"
printf '%s\n' "$out" | tr -d '\r' | grep -v '^$' | tail -n 3
"""

# a TLS handshake and one request, with the JDK's own default truststore; one line out
HANDSHAKE_JAVA = """\
public class Handshake {
    public static void main(String[] args) throws Exception {
        try {
            java.net.URLConnection c = java.net.URI.create(args[0]).toURL().openConnection();
            c.setConnectTimeout(20000);
            c.setReadTimeout(20000);
            c.connect();
            System.out.println("handshake ok, HTTP " + ((java.net.HttpURLConnection) c).getResponseCode());
        } catch (Exception e) {
            System.out.println("error " + e);
            System.exit(3);
        }
    }
}
"""

PKIX = "PKIX path building failed"
_FP = re.compile(r"Certificate fingerprint \(SHA-256\):\s*([0-9A-Fa-f:]+)")


def store_entry(probe: Probe, keytool: str, store: str, alias: str) -> tuple[str, str]:
    """(the SHA-256 of ``alias`` in ``store`` in lower hex, or "", why not)."""
    r = probe.run("sh -c %s sh %s %s %s %s", _ENTRY.replace("@JOPTS@", JOPTS), keytool, store, alias, STOREPASS)
    lines = str(r.stdout).splitlines()
    head = lines[0] if lines else ""
    if head == "unsafe":
        return "", f"{keytool} is not root's along its whole path: not run"
    if head == "gone":
        return "", f"{store} does not exist any more"
    m = _FP.search("\n".join(lines[1:]))
    if head == "rc 0" and m:
        return m.group(1).replace(":", "").lower(), ""
    text = first_line("\n".join(lines[1:])) or head
    if "does not exist" in text:
        return "", f"it has no alias {alias}"
    return "", f"keytool cannot read it: {text}"


def store_check(name: str, label: str, keytool: str, store: str, homes: list[str], alias: str,
                sha256: str, ca: str) -> Check:
    """The JDKs ``homes`` trust the CA ``ca``: ``store`` (their cacerts) holds it as ``alias``."""
    jdks = ", ".join(homes) or "none found"

    def test(probe: Probe) -> tuple[bool, str]:
        if not keytool:
            return False, "no keytool on the host is root's along its whole path: the store was not read"
        have, why = store_entry(probe, keytool, store, alias)
        if have == sha256:
            return True, f"{store} holds {ca} as {alias} (JDK {jdks})"
        if have:
            why = f"its alias {alias} holds another certificate (SHA-256 {have})"
        return False, (f"JDK {jdks} does not trust CA {ca}: {store} {why.removeprefix('it ')}; Java there fails "
                       f"with \"{PKIX}\" for sites it signs (apply the playbook again)")
    return Check(name, label, test)


def curl_check(name: str, label: str, url: str, ca: str) -> Check:
    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.run("curl -sS -o /dev/null --max-time %s -- %s", str(TIMEOUT), url)
        if r.rc == 0:
            return True, f"curl completed a TLS handshake with {url}"
        if r.rc == 127:
            return False, "curl is not installed here: the handshake was not tried"
        why = first_line(str(r.stderr)) or f"exit {r.rc}"
        hint = f" (the system bundle does not trust the server's certificate: is it signed by CA {ca}?)" \
            if r.rc == 60 else ""
        return False, f"curl cannot reach {url}: {why}{hint}"
    return Check(name, label, test)


def java_check(name: str, label: str, home: str, url: str, store: str, ca: str) -> Check:
    """JDK ``home``'s own java completes a TLS handshake with ``url``; a PKIX failure names the
    store (``store``) that lacks the CA ``ca``."""

    def test(probe: Probe) -> tuple[bool, str]:
        r = probe.run("sh -c %s sh %s %s %s", _HANDSHAKE.replace("@TIMEOUT@", str(TIMEOUT)), home, url,
                      HANDSHAKE_JAVA)
        lines = str(r.stdout).splitlines()
        head = lines[0] if lines else f"exit {r.rc}"
        if head == "unsafe":
            return False, f"{home}/bin/java is not root's along its whole path: not run"
        if head.startswith("old "):
            return True, (f"JDK {home} is {head[4:]}: no single-file launch before JDK 11, so no handshake "
                          "was tried (its store is checked on its own)")
        said = [ln for ln in lines[1:] if ln.startswith(("handshake ok", "error "))]
        text = first_line(said[0] if said else "\n".join(lines[1:]), 300)
        if head == "rc 0" and text.startswith("handshake ok"):
            return True, f"java of JDK {home}: {text} from {url}"
        if PKIX in text:
            return False, (f"java of JDK {home}: \"{PKIX}\" for {url}: its truststore {store} does not hold "
                           f"the CA that signs the server (CA {ca}, if it is the one)")
        return False, f"java of JDK {home} cannot reach {url}: {text or head}"
    return Check(name, label, test)
