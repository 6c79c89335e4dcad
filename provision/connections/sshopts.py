"""The SSH settings shared by every host of a run (CLI flags), for either transport."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field

from provision.errors import UsageError

TRANSPORTS = ("auto", "openssh", "paramiko")
TRANSPORT_ENV = "PROVISION_SSH_TRANSPORT"


@dataclass
class SshOptions:
    ssh_config: str | None = None
    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    become_password: str | None = field(default=None, repr=False)
    connect_timeout: float = 15.0
    transport: str = "auto"  # auto: OpenSSH when an ssh client is installed, else paramiko

    def chosen_transport(self) -> str:
        """openssh or paramiko: --ssh-transport, else $PROVISION_SSH_TRANSPORT, else auto."""
        wanted = self.transport if self.transport != "auto" else os.environ.get(TRANSPORT_ENV, "auto")
        if wanted not in TRANSPORTS:
            raise UsageError(f"{TRANSPORT_ENV}={wanted!r}: expected one of {', '.join(TRANSPORTS)}")
        if wanted == "auto":
            return "openssh" if shutil.which("ssh") else "paramiko"
        if wanted == "openssh" and not shutil.which("ssh"):
            raise UsageError("--ssh-transport openssh: no ssh client is installed (apt-get install "
                             "openssh-client), or use --ssh-transport paramiko")
        return wanted


def known_hosts_files(options: SshOptions, configured: Iterable[str]) -> list[str]:
    """The known_hosts files a host key is checked against (an accepted new key is recorded in the
    first): ``--known-hosts`` alone; else ssh_config's UserKnownHostsFile without ``/dev/null``
    (what ``vagrant ssh-config`` prints: a file that knows no key makes every key new, and with
    --accept-new-host-keys every key accepted); else ``~/.ssh/known_hosts``."""
    if options.known_hosts:
        return [os.path.expanduser(options.known_hosts)]
    files = [os.path.expanduser(f) for f in configured if f and f != "/dev/null" and f.lower() != "none"]
    return files or [os.path.expanduser("~/.ssh/known_hosts")]
