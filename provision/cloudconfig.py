"""What a resource's ``export`` renders into: the keys of cloud-init's modules for one target
(``provision export cloud-init`` turns it into user data), and the releases the export knows.
A value type: it imports nothing above the facts."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from provision.errors import NotExportable
from provision.facts.host import HostFacts

# Releases the export knows (for templates, codenames and which OpenJDKs the distribution has).
KNOWN_OS: dict[str, tuple[str, str, str, str]] = {
    "debian-12": ("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)"),
    "debian-13": ("debian", "13", "trixie", "Debian GNU/Linux 13 (trixie)"),
    "ubuntu-22.04": ("ubuntu", "22.04", "jammy", "Ubuntu 22.04 LTS"),
    "ubuntu-24.04": ("ubuntu", "24.04", "noble", "Ubuntu 24.04 LTS"),
}
NO_RECOMMENDS_CONF = "/etc/apt/apt.conf.d/00provision-no-recommends"


@dataclass
class CloudConfig:
    """What the resources render: cloud-init modules' keys, and a line per resource for the header."""

    host: HostFacts
    packages: list[str] = field(default_factory=list)
    packages_with_recommends: list[str] = field(default_factory=list)
    package_update: bool = False
    write_files: list[dict[str, object]] = field(default_factory=list)
    runcmd: list[list[str]] = field(default_factory=list)
    runcmd_last: list[list[str]] = field(default_factory=list)  # after every other command (run_last)
    ca_certs: list[str] = field(default_factory=list)  # PEM certificates for cloud-init's ca_certs
    summary: list[str] = field(default_factory=list)

    def install(self, packages: list[str], *, no_recommends: bool, update: bool) -> None:
        into = self.packages if no_recommends else self.packages_with_recommends
        into.extend(p for p in packages if p not in into)
        self.package_update = self.package_update or update

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644, owner: str = "root:root") -> None:
        if any(f["path"] == path for f in self.write_files):
            raise NotExportable(f"{path} is written twice")
        entry: dict[str, object] = {"path": path, "owner": owner, "permissions": f"0{mode:03o}"}
        try:
            entry["content"] = content.decode("utf-8")
        except UnicodeDecodeError:
            entry["encoding"] = "b64"
            entry["content"] = base64.b64encode(content).decode()
        self.write_files.append(entry)

    def run(self, argv: list[str]) -> None:
        """A command for the final stage, after the packages are installed (runcmd)."""
        self.runcmd.append(argv)

    def run_last(self, argv: list[str]) -> None:
        """A command that runs after every ``run`` one: it configures what those installed (the
        settle phase of a resource: provision.resource.Phase)."""
        self.runcmd_last.append(argv)

    def document(self) -> dict[str, object]:
        doc: dict[str, object] = {}
        write_files = list(self.write_files)
        runcmd = list(self.runcmd) + list(self.runcmd_last)
        with_rec = [p for p in self.packages_with_recommends if p not in self.packages]
        if self.packages and not with_rec:
            # cloud-init's packages module installs with apt's default (recommends): this
            # apt.conf snippet, removed by the first runcmd, makes it install what apply installs
            write_files.insert(0, {"path": NO_RECOMMENDS_CONF, "owner": "root:root", "permissions": "0644",
                                   "content": "// provision: the packages of this user data install without "
                                              "recommends; removed by runcmd\n"
                                              'APT::Install-Recommends "false";\n'})
            runcmd.insert(0, ["rm", "-f", NO_RECOMMENDS_CONF])
        elif self.packages:  # both kinds: the packages module takes those with recommends
            runcmd.insert(0, ["sh", "-c", 'DEBIAN_FRONTEND=noninteractive exec apt-get install -y -q '
                              '--no-install-recommends -o Dpkg::Options::=--force-confold "$@"',
                              "provision-packages", *self.packages])
        if self.ca_certs:  # cc_ca_certs runs before the packages are installed: apt trusts them too
            doc["ca_certs"] = {"trusted": list(self.ca_certs)}
        if self.package_update:
            doc["package_update"] = True
        if with_rec or self.packages:
            doc["packages"] = with_rec or list(self.packages)
        if write_files:
            doc["write_files"] = write_files
        if runcmd:
            doc["runcmd"] = runcmd
        return doc
