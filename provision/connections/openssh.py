"""A host over SSH through the system's OpenSSH client: the default transport.

Why the default: the connection is made by ``ssh`` itself, a process of its own, so it is set up
while provision is still validating the playbook, and many hosts connect truly in parallel (C
crypto, no interpreter lock); and every ssh_config feature works as the user's own ``ssh`` does
(Match, certificates, ProxyCommand, ProxyJump chains, the agent, ControlMaster settings).
``--ssh-transport paramiko`` (or ``$PROVISION_SSH_TRANSPORT``) uses the paramiko transport
instead; it is also the fallback when no ssh client is installed.

One master connection per host (``ssh -N`` with a private ControlPath), started as soon as the
targets are known; no command runs on the host until the playbook is valid. Every command is then
one session over it (``ssh -S``): no second login. The settings provision imposes: BatchMode (no
prompt ever), host keys checked against known_hosts (``--known-hosts`` is the only file then; an
unknown key is refused unless ``--accept-new-host-keys`` or ``StrictHostKeyChecking accept-new``,
a changed key always, whatever ssh_config says), keepalives, ConnectTimeout when ssh_config has
none. sudo works as with paramiko (sudo.py).
"""

from __future__ import annotations

import atexit
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from provision.connections.base import CommandResult, Connection, Process, Stream, display
from provision.connections.local import PopenProcess, communicate, kill, track
from provision.connections.sshopts import SshOptions
from provision.connections.sudo import PROBE, Sudo
from provision.errors import BecomeError, ConnectError

if TYPE_CHECKING:
    from provision.targets import Target

KEEPALIVE = 30
_CHANGED_FP = re.compile(r"The fingerprint for the \S+ key sent by the remote host is\s+(SHA256:\S+)")


# The master's own session: it says the login user's uid (root, or sudo is needed), then waits for
# one command line (what start() is asked first: an apply's held command), ended by a random
# line, and execs it; at EOF it ends having run nothing. So the session is set up while the
# playbook is validated, and nothing runs before that. (The second \n is a real newline inside
# the shell's double quotes: the lines are joined back as they were sent.)
_STUB = ('printf "provision-uid %s\\n" "$(id -u)"; '
         'c=; while IFS= read -r l; do if [ "$l" = "@END@" ]; then eval "exec $c"; fi; c="$c$l\n"; done')

_OPEN: weakref.WeakSet[OpenSshConnection] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """No master connection outlives provision (they run in sessions of their own)."""
    for conn in list(_OPEN):
        conn.close()


def _control_dir() -> str:
    """A private directory for the control socket; short, since a socket path has ~100 bytes."""
    base = tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="provision-ssh-", dir=base if len(base) < 40 else "/tmp")


class OpenSshConnection(Connection):
    kind = "ssh"

    def __init__(self, target: Target, options: SshOptions | None = None) -> None:
        """Starts the master connection and returns at once; ``ready()`` waits for it (and finds
        how to become root)."""
        super().__init__(target.name)
        self.options = options or SshOptions()
        self.target = target
        self.sessions = 0  # command round trips made (for the docs' claim and its test)
        self.timeout = float(target.connect_timeout or self.options.connect_timeout)
        self.user = target.user or ""  # known for sure once connected (the stub says its uid)
        self._base = ["ssh"] + (["-F", self.options.ssh_config] if self.options.ssh_config else [])
        if target.user:
            self._base += ["-l", target.user]
        if target.port:
            self._base += ["-p", str(target.port)]
        if target.identity_file:
            self._base += ["-i", os.path.expanduser(target.identity_file), "-o", "IdentitiesOnly=yes"]
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(self.timeout))}",
                "-o", f"ServerAliveInterval={KEEPALIVE}", "-o", "ServerAliveCountMax=3"]
        if self.options.accept_new_host_keys:
            opts += ["-o", "StrictHostKeyChecking=accept-new"]
        if self.options.known_hosts:
            opts += ["-o", f"UserKnownHostsFile={os.path.expanduser(self.options.known_hosts)}",
                     "-o", "GlobalKnownHostsFile=/dev/null"]
        self._dir = _control_dir()
        self.control = os.path.join(self._dir, "m")
        self._sudo: Sudo | None = None
        self._ready = False
        self._stub_used = False
        self._token = os.urandom(8).hex()
        self._stderr = b""  # what the master printed before the session started (warnings, errors)
        stub = _STUB.replace("@END@", f"provision-go-{self._token}")
        self._master = subprocess.Popen(
            [*self._base, *opts, "-T", "-o", "ControlMaster=yes", "-o", f"ControlPath={self.control}",
             "-o", "ControlPersist=no", "-o", "RemoteCommand=none", "-o", "ClearAllForwardings=yes",
             "-o", "PermitLocalCommand=no", target.ssh_host, shlex.join(["sh", "-c", stub])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        track(self._master, True)
        _OPEN.add(self)

    # ------------------------------------------------------------------ connecting

    def ready(self) -> OpenSshConnection:
        """Wait until the host's shell answers (raises ConnectError saying why it did not), refuse
        a changed host key whatever ssh_config allows, then find how to become root."""
        if self._ready:
            return self
        master = self._master
        assert master.stdout is not None and master.stderr is not None
        out, err = master.stdout.fileno(), master.stderr.fileno()
        line, deadline = b"", time.monotonic() + self.timeout + 30
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectError(f"{self._where()}: no answer after {self.timeout + 30:.0f}s")
            readable, _, _ = select.select([out, err], [], [], min(left, 1.0))
            if err in readable:
                self._stderr += os.read(err, 65536)[: 1 << 16]
            if out in readable:
                chunk = os.read(out, 1)  # one byte at a time: nothing after the uid line is ours
                if not chunk:
                    master.wait()
                    self._stderr += master.stderr.read()
                    raise self._failure()
                line += chunk
        self._stderr += _available(err)
        if b"REMOTE HOST IDENTIFICATION HAS CHANGED" in self._stderr:
            raise self._failure()
        uid = line.decode("ascii", "replace").removeprefix("provision-uid ").strip()
        while not os.path.exists(self.control):  # made before the session starts; never long
            if master.poll() is not None:
                raise self._failure()
            time.sleep(0.002)
        self._ready = True
        if uid != "0":
            self.user = self.user or self._config().get("user", ["?"])[0]
            self._become()
        else:
            self.user = self.user or "root"
        return self

    def _config(self) -> dict[str, list[str]]:
        """ssh's own resolution of this host (``ssh -G``), for messages: user, hostname, port, keys."""
        try:
            out = subprocess.run([*self._base, "-G", self.target.ssh_host], capture_output=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return {}
        found: dict[str, list[str]] = {}
        for text in out.decode("utf-8", "replace").splitlines():
            key, _, value = text.partition(" ")
            found.setdefault(key, []).append(value)
        return found

    def _where(self) -> str:
        return f"{self.target.user + '@' if self.target.user else ''}{self.target.ssh_host}"

    def _failure(self) -> ConnectError:
        """Why the connection failed, from ssh's messages, in the words the paramiko transport uses."""
        log = self._stderr.decode("utf-8", "replace")
        errors = [ln.strip() for ln in log.splitlines() if ln.strip() and not ln.startswith("@")]
        all_cfg = self._config()
        cfg = {k: v[0] for k, v in all_cfg.items()}
        host, port = cfg.get("hostname", self.target.ssh_host), int(cfg.get("port", "22") or 22)
        user = self.target.user or cfg.get("user", "?")
        known = os.path.expanduser(self.options.known_hosts or
                                   (cfg.get("userknownhostsfile") or "~/.ssh/known_hosts").split()[0])
        where = f"{user}@{host}:{port}"
        name = host if port == 22 else f"[{host}]:{port}"
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in log:
            now = _CHANGED_FP.search(log)
            return ConnectError(
                f"{self.label}: host key of {name} has CHANGED (now {now.group(1) if now else 'another key'}): "
                f"refusing to connect, this may be a man-in-the-middle attack; if the host was reinstalled, "
                f"remove the old key with: ssh-keygen -f {shlex.quote(known)} -R {shlex.quote(name)}")
        if "Host key verification failed" in log:
            return ConnectError(
                f"{self.label}: host key of {name} is not known (see it with: ssh-keyscan -p {port} {host} | "
                f"ssh-keygen -lf -); check it, then run again with --accept-new-host-keys to record it in {known}")
        if "Permission denied" in log:
            keys = ([os.path.expanduser(self.target.identity_file)] if self.target.identity_file else
                    [p for p in map(os.path.expanduser, all_cfg.get("identityfile", [])) if os.path.exists(p)])
            reason = _last(errors, "Permission denied")
            return ConnectError(f"authentication failed for {where} (tried {', '.join(keys) or 'the agent'}): "
                                f"{reason}")
        if "Could not resolve hostname" in log:
            reason = _last(errors, "Could not resolve hostname").rsplit(":", 1)[-1].strip()
            return ConnectError(f"cannot resolve host name {host}: {reason}")
        if "timed out" in log:
            return ConnectError(f"cannot connect to {host}:{port}: timed out after {self.timeout:.0f}s")
        refused = _last(errors, "connect to host")
        if refused:
            return ConnectError(f"cannot connect to {host}:{port}: {refused.rsplit(':', 1)[-1].strip()}")
        return ConnectError(f"SSH error with {where}: {' | '.join(errors[-3:]) or 'ssh exited'}")

    def _become(self) -> None:
        self._sudo = Sudo(self.user, self.options.become_password)
        self._sudo.decide(self._session(shlex.join(PROBE), None, self.timeout + 15, None, asks=False))
        if not self._sudo.asks:
            return
        try:
            check = self._session(shlex.join([*self._sudo.prefix, "true"]), None, self.timeout + 30, None, asks=True)
        except BecomeError:
            check = None
        if check is None or not check.ok:
            raise self._sudo.refused()

    # ------------------------------------------------------------------ running

    def _client(self, command: str) -> list[str]:
        # -F /dev/null: a session needs only the control socket (no config re-read, no Match exec)
        return ["ssh", "-F", "/dev/null", "-S", self.control, "-o", "ControlMaster=no", "-T", "-o", "BatchMode=yes",
                self.target.ssh_host, "--", command]

    def _privileged(self, argv: Sequence[str]) -> tuple[str, bool]:
        prefix = self._sudo.prefix if self._sudo else []
        return shlex.join([*prefix, *argv]), bool(self._sudo and self._sudo.asks)

    def _handshake(self, proc: subprocess.Popen[bytes]) -> bytes:
        assert self._sudo is not None and proc.stderr is not None and proc.stdin is not None
        fd, stdin = proc.stderr.fileno(), proc.stdin

        def read_err(wait: float) -> bytes | None:
            ready, _, _ = select.select([fd], [], [], wait)
            return os.read(fd, 4096) if ready else None

        def send(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        return self._sudo.handshake(read_err, send, self.timeout + 30)

    def _session(self, command: str, data: bytes | None, timeout: float | None, stream: Stream | None, *,
                 asks: bool) -> CommandResult:
        if self._master is None or self._master.poll() is not None:
            raise ConnectError("the SSH connection was lost")
        self.sessions += 1
        proc = subprocess.Popen(self._client(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        track(proc, True)
        try:
            early = self._handshake(proc) if asks else b""
            result = communicate(proc, command, input=data, timeout=timeout, stream=stream, early_err=early)
        except BaseException:
            kill(proc)
            proc.wait()
            raise
        finally:
            track(proc, False)
        if result.rc == 255 and self._master.poll() is not None:
            raise ConnectError("the SSH connection was lost")
        return result

    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        command, asks = self._privileged(argv)
        result = self._session(command, input, timeout, stream, asks=asks)
        result.command = display(argv)
        return result

    def _start(self, argv: Sequence[str]) -> Process:
        command, asks = self._privileged(argv)
        master = self._master
        if master is None or master.poll() is not None:
            raise ConnectError("the SSH connection was lost")
        if not self._stub_used:  # the master's own session is waiting for this command (_STUB)
            self._stub_used = True
            assert master.stdin is not None
            try:
                master.stdin.write(command.encode() + f"\nprovision-go-{self._token}\n".encode())
                master.stdin.flush()
            except (BrokenPipeError, ValueError):
                raise ConnectError("the SSH connection was lost") from None
            return PopenProcess(master, before=self._handshake if asks else None)
        self.sessions += 1
        return PopenProcess.spawn(self._client(command), before=self._handshake if asks else None)

    def run_unprivileged(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        """A plain command as the login user, in a new session: what a user's `ssh host cmd` sees."""
        result = self._session(shlex.join(list(argv)), None, timeout, None, asks=False)
        result.command = display(argv)
        return result

    def close(self) -> None:
        if self._sudo is not None:
            self._sudo.forget()
        master = self._master
        if master is not None:
            if not self._stub_used and master.stdin is not None:
                try:
                    master.stdin.close()  # the waiting session sees EOF, ends, and the master with it
                except BrokenPipeError:
                    pass
            for stop in (None, master.terminate, master.kill):
                if stop is not None:
                    stop()
                try:
                    master.communicate(timeout=2)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ValueError:  # its pipes were taken over by the held command's PopenProcess
                    try:
                        master.wait(timeout=2)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            track(master, False)
        shutil.rmtree(self._dir, ignore_errors=True)
        _OPEN.discard(self)


def _available(fd: int) -> bytes:
    """What can be read from ``fd`` now, without waiting."""
    data = b""
    while len(data) < 1 << 16 and select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def _last(lines: list[str], needle: str) -> str:
    return next((ln for ln in reversed(lines) if needle in ln), "")
