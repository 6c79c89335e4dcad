"""Eclipse Temurin: Adoptium's apt repository and packages."""

from __future__ import annotations

from dataclasses import dataclass

from provision.facts import DPKG, Fact

ADOPTIUM_URI = "https://packages.adoptium.net/artifactory/deb"
ADOPTIUM_KEY_URL = "https://packages.adoptium.net/artifactory/api/gpg/key/public"
ADOPTIUM_FINGERPRINT = "3B04D753C9050D9A5D343F39843C48A565F8F04B"
TEMURIN_IMPLEMENTOR = "Eclipse Adoptium"


def temurin_packages(version: int) -> list[str]:
    return [f"temurin-{version}-jdk", f"temurin-{version}-jre"]


@dataclass(frozen=True)
class TemurinInstalled(Fact[list[str]]):
    """The temurin-* packages installed (whether Adoptium's repository is still used)."""

    topics = frozenset({DPKG})

    def command(self) -> str:
        return ("dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' 'temurin-*' 2>/dev/null | "
                "sed -n 's/^[ih][iUFHWt] *//p'")

    def parse(self, lines: list[str]) -> list[str]:
        return sorted({line.strip() for line in lines if line.strip()})

    def describe(self) -> str:
        return "temurin packages"

