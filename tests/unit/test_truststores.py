"""verify's truststore and handshake checks (issue 20) against scripted answers of the target:
what keytool, curl and the java launcher print, read into a pass or a failure naming the JDK."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from provision.java import truststores

SHA = "f8beaee069307e10d04a63ad337bf6dcac6bb7344d2f89ee00b93dc25ab3214c"
COLONS = ":".join(SHA[i:i + 2] for i in range(0, 64, 2)).upper()
ALIAS = "provision-" + SHA[:16]


@dataclass
class Answer:
    stdout: str = ""
    stderr: str = ""
    rc: int = 0


class ScriptedProbe:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.commands: list[tuple[str, tuple[str, ...]]] = []

    def run(self, command: str, *args: str) -> Answer:
        self.commands.append((command, args))
        return self.answer


STORE = [
    ("holds it", Answer(f"rc 0\n{ALIAS}, Dec 3, 2026, trustedCertEntry,\n"
                        f"Certificate fingerprint (SHA-256): {COLONS}\n"), True, "holds corp as"),
    ("alias deleted", Answer("rc 1\nkeytool error: java.lang.Exception: Alias <x> does not exist\n"), False,
     f"JDK /opt/tarjdk does not trust CA corp: /opt/tarjdk/lib/security/cacerts has no alias {ALIAS}"),
    ("another certificate", Answer(f"rc 0\n{ALIAS}, trustedCertEntry,\nCertificate fingerprint (SHA-256): "
                                   + "AB:" * 31 + "AB\n"), False, "holds another certificate (SHA-256 abab"),
    ("keytool not root's", Answer("unsafe\n"), False, "is not root's along its whole path: not run"),
    ("store gone", Answer("gone\n"), False, "does not exist any more"),
    ("wrong password", Answer("rc 1\nkeytool error: java.io.IOException: keystore password was incorrect\n"),
     False, "keytool cannot read it: keytool error: java.io.IOException: keystore password was incorrect"),
]


@pytest.mark.parametrize("answer,ok,has", [c[1:] for c in STORE], ids=[c[0] for c in STORE])
def test_store_check(answer, ok, has):
    check = truststores.store_check("c", "l", "/usr/bin/keytool", "/opt/tarjdk/lib/security/cacerts",
                                    ["/opt/tarjdk"], ALIAS, SHA, "corp")
    probe = ScriptedProbe(answer)
    passed, message = check.test(probe)
    assert (passed, has in message) == (ok, True), message
    if not ok and answer.stdout.startswith("rc 1\nkeytool error: java.lang.Exception"):
        assert "PKIX path building failed" in message
    assert probe.commands[0][1][2:5] == ("/opt/tarjdk/lib/security/cacerts", ALIAS, "changeit")


PKIX = ("error javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
        "sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path")
JAVA = [
    ("handshake", Answer("rc 0\nhandshake ok, HTTP 200\n"), True, "handshake ok, HTTP 200"),
    ("compiler notes before the answer", Answer("rc 0\nNote: Handshake.java uses a deprecated API.\n"
                                                "handshake ok, HTTP 404\n"), True, "handshake ok, HTTP 404"),
    ("pkix", Answer(f"rc 3\n{PKIX}\n"), False,
     'java of JDK /opt/tarjdk: "PKIX path building failed" for https://h/: its truststore '
     "/opt/tarjdk/lib/security/cacerts does not hold"),
    ("refused", Answer("rc 3\nerror java.net.ConnectException: Connection refused\n"), False,
     "cannot reach https://h/: error java.net.ConnectException: Connection refused"),
    ("jdk 8", Answer("old 1.8.0_402\n"), True, "no single-file launch before JDK 11"),
    ("java not root's", Answer("unsafe\n"), False, "/opt/tarjdk/bin/java is not root's"),
]


@pytest.mark.parametrize("answer,ok,has", [c[1:] for c in JAVA], ids=[c[0] for c in JAVA])
def test_java_handshake_check(answer, ok, has):
    check = truststores.java_check("c", "l", "/opt/tarjdk", "https://h/", "/opt/tarjdk/lib/security/cacerts", "corp")
    passed, message = check.test(ScriptedProbe(answer))
    assert (passed, has in message) == (ok, True), message


CURL = [(Answer(), True, "curl completed a TLS handshake"),
        (Answer(stderr="curl: (60) SSL certificate problem: unable to get local issuer certificate\n", rc=60),
         False, "SSL certificate problem: unable to get local issuer certificate (the system bundle does not "
         "trust the server's certificate"),
        (Answer(rc=127), False, "curl is not installed here")]


@pytest.mark.parametrize("answer,ok,has", CURL)
def test_curl_check(answer, ok, has):
    passed, message = truststores.curl_check("c", "l", "https://h/", "corp").test(ScriptedProbe(answer))
    assert (passed, has in message) == (ok, True), message
