"""A host over SSH through paramiko (``--ssh-transport paramiko``; the default is OpenSSH, see
openssh.py): one connection per host, reused for every command; no agent.

- ssh_config (``--ssh-config FILE``, else ``~/.ssh/config``) gives HostName, User, Port,
  IdentityFile, ProxyJump/ProxyCommand, ConnectTimeout and UserKnownHostsFile.
- Host keys are checked against known_hosts (``--known-hosts``, else ssh_config's
  UserKnownHostsFile without ``/dev/null``, else ``~/.ssh/known_hosts``; see
  sshopts.known_hosts_files). An unknown key is refused unless ``--accept-new-host-keys`` is
  given, which records it; a changed key is always refused. ssh_config's StrictHostKeyChecking
  is not read: no config lowers the check. Nothing is ever accepted silently.
- Not root on the host: commands run through sudo. Passwordless sudo is found with one
  ``sudo -n true``; otherwise each command runs as ``sudo -k -S -p <random prompt>`` and the
  password (``--ask-become-pass``) is sent only when that prompt appears on stderr; a ready line
  printed by the command's wrapper says sudo let it run without asking (NOPASSWD for that
  command), so the password never becomes a command's input. It is never in a command line, a
  log, an error message or JSON.
- ProxyJump ``a,b``: through ``a`` to ``b``, through ``b`` to the host. Each hop is a plain
  transport (a direct-tcpip channel, as its own ssh_config user): no command runs on it, no sudo.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paramiko

from provision.connections.base import CommandResult, Connection, Process, Stream, display
from provision.connections.sshopts import SshOptions, known_hosts_files
from provision.connections.sudo import PROBE, Sudo
from provision.errors import BecomeError, ConnectError, UsageError
from provision.targets import Target, jump_hops

KEEPALIVE = 30
_known_hosts_lock = threading.Lock()
_config_lock = threading.Lock()


_configs: dict[str | None, paramiko.SSHConfig] = {}


def ssh_config(options: SshOptions) -> paramiko.SSHConfig:
    """The ssh_config, parsed once for all the hosts of a run."""
    with _config_lock:
        if options.ssh_config not in _configs:
            _configs[options.ssh_config] = _read_config(options.ssh_config)
        return _configs[options.ssh_config]


def _read_config(given: str | None) -> paramiko.SSHConfig:
    path = given or os.path.expanduser("~/.ssh/config")
    if given and not os.path.isfile(given):
        raise ConnectError(f"--ssh-config {given}: no such file")
    if not os.path.isfile(path):
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(path)
    except (OSError, paramiko.ConfigParseError) as exc:
        raise ConnectError(f"cannot read ssh config {path}: {exc}") from None


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return f"{key.get_name()} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Unknown key: refuse, or (accept-new) record it in the known_hosts file and go on."""

    def __init__(self, known_hosts: str, accept_new: bool) -> None:
        self.known_hosts = known_hosts
        self.accept_new = accept_new
        self.recorded: str | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise UnknownHostKey(hostname, key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        path = Path(self.known_hosts)
        with _known_hosts_lock:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            existing = path.read_bytes() if path.exists() else b""
            with open(path, "ab") as fh:
                if existing and not existing.endswith(b"\n"):
                    fh.write(b"\n")
                fh.write(line.encode())
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.recorded = fingerprint(key)


def _first(value: object) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value is not None else None


class SshConnection(Connection):
    kind = "ssh"

    def __init__(self, target: Target, options: SshOptions | None = None, *, _depth: int = 0,
                 _via: SshConnection | None = None, _hop: bool = False) -> None:
        """``_via``: the jump host this connection goes through; ``_hop``: this is a jump host
        itself, a plain transport (no sudo, no command of ours runs on it)."""
        super().__init__(target.name)
        self.options = options or SshOptions()
        cfg = ssh_config(self.options).lookup(target.ssh_host)
        self.hostname = str(cfg.get("hostname") or target.ssh_host)
        self.user = target.user or _first(cfg.get("user")) or getpass.getuser()
        port = target.port or _first(cfg.get("port")) or 22
        try:
            self.port = int(port)
        except ValueError:
            raise ConnectError(f"port {port!r} in ssh config is not a number") from None
        self.key_files = [os.path.expanduser(target.identity_file)] if target.identity_file else [
            os.path.expanduser(k) for k in cfg.get("identityfile", [])]
        self.known_files = known_hosts_files(self.options, (_first(cfg.get("userknownhostsfile")) or "").split())
        self.known_hosts = self.known_files[0]
        accept_new = self.options.accept_new_host_keys  # never from ssh_config
        timeout = target.connect_timeout or _first(cfg.get("connecttimeout")) or self.options.connect_timeout
        self.timeout = float(timeout)
        self.sessions = 0  # command round trips made (for the docs' claim and its test)
        self._policy = _HostKeyPolicy(self.known_hosts, accept_new)
        self._hops: list[SshConnection] = []  # the ProxyJump chain this connection goes through
        self._sudo = Sudo(self.user, self.options.become_password)
        self._client = self._connect(cfg, _depth, _via)
        self._hop = _hop
        self._ready = False

    def ready(self) -> SshConnection:
        """Find how to become root when the login user is not root (a command on the host: run
        once the playbook is valid, not when connecting)."""
        if not self._ready and self.user != "root" and not self._hop:
            try:
                self._become()
            except BaseException:
                self.close()
                raise
        self._ready = True
        return self

    # ------------------------------------------------------------------ connecting

    def _tunnel(self, via: SshConnection) -> paramiko.Channel:
        transport = via._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectError(f"jump host {via.label}: the connection was lost")
        try:
            return transport.open_channel("direct-tcpip", (self.hostname, self.port), ("127.0.0.1", 0),
                                          timeout=self.timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise ConnectError(f"jump host {via.label} cannot reach {self.hostname}:{self.port}: {exc}") from None

    def _sock(self, cfg: paramiko.SSHConfigDict, depth: int,
              via: SshConnection | None) -> paramiko.Channel | paramiko.ProxyCommand | None:
        if via is not None:
            return self._tunnel(via)
        try:
            hops = jump_hops(_first(cfg.get("proxyjump")) or "")
        except UsageError as exc:
            raise ConnectError(f"{self.label}: ssh_config: {exc}") from None
        if hops:
            if depth > 4:
                raise ConnectError("ProxyJump chain is too long (a loop?)")
            prev: SshConnection | None = None
            for hop in hops:  # a,b: through a to b, through b to here (as OpenSSH does)
                prev = SshConnection(hop, self.options, _depth=depth + 1, _via=prev, _hop=True)
                self._hops.append(prev)
            assert prev is not None
            return self._tunnel(prev)
        command = _first(cfg.get("proxycommand"))
        if command and command.lower() != "none":
            return paramiko.ProxyCommand(command)
        return None

    def _connect(self, cfg: paramiko.SSHConfigDict, depth: int, via: SshConnection | None) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        where = f"{self.user}@{self.hostname}:{self.port}"
        for known in self.known_files:
            try:
                if os.path.isfile(known):
                    client.load_host_keys(known)
            except (OSError, paramiko.SSHException) as exc:
                raise ConnectError(f"cannot read known_hosts {known}: {exc}") from None
        client.set_missing_host_key_policy(self._policy)
        try:
            client.connect(self.hostname, self.port, username=self.user,
                           key_filename=self.key_files or None,  # type: ignore[arg-type]  # a list works
                           look_for_keys=not self.key_files,
                           allow_agent=True, timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout, sock=self._sock(cfg, depth, via))
        except UnknownHostKey as exc:
            client.close()
            raise ConnectError(
                f"{self.label}: host key of {exc.hostname} is not known ({fingerprint(exc.key)}); check it, "
                f"then run again with --accept-new-host-keys to record it in {self.known_hosts}") from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            name = self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"
            raise ConnectError(
                f"{self.label}: host key of {name} has CHANGED (now {fingerprint(exc.key)}, known "
                f"{fingerprint(exc.expected_key)}): refusing to connect, this may be a man-in-the-middle "
                f"attack; if the host was reinstalled, remove the old key with: "
                f"ssh-keygen -f {shlex.quote(self.known_hosts)} -R {shlex.quote(name)}") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            keys = ", ".join(self.key_files) or "the agent's and ~/.ssh's keys"
            raise ConnectError(f"authentication failed for {where} (tried {keys}): {exc}") from None
        except socket.gaierror as exc:
            client.close()
            raise ConnectError(f"cannot resolve host name {self.hostname}: {exc.strerror}") from None
        except (paramiko.ssh_exception.NoValidConnectionsError, OSError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            if isinstance(exc, (socket.timeout, TimeoutError)):
                reason = f"timed out after {self.timeout:.0f}s"
            raise ConnectError(f"cannot connect to {self.hostname}:{self.port}: {reason}") from None
        except paramiko.SSHException as exc:
            client.close()
            raise ConnectError(f"SSH error with {where}: {exc}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE)
        return client

    def _become(self) -> None:
        """Find how to be root (see sudo.py): passwordless sudo, or the password handshake."""
        self._sudo.decide(self._raw(shlex.join(PROBE), None, self.timeout + 15, None))
        if not self._sudo.asks:
            return
        try:
            check = self._raw(shlex.join([*self._sudo.prefix, "true"]), None, self.timeout + 30, None, asks=True)
        except BecomeError:
            check = None
        if check is None or not check.ok:
            raise self._sudo.refused()

    # ------------------------------------------------------------------ running

    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        result = self._raw(shlex.join([*self._sudo.prefix, *argv]), input, timeout, stream,
                           asks=self._sudo.asks)
        result.command = display(argv)
        return result

    def _start(self, argv: Sequence[str]) -> Process:
        chan, err = self._open(shlex.join([*self._sudo.prefix, *argv]), asks=self._sudo.asks)
        return SshProcess(chan, err)

    def run_unprivileged(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        """A plain command as the login user, in a new session: what a user's `ssh host cmd` sees."""
        result = self._raw(shlex.join(list(argv)), None, timeout, None)
        result.command = display(argv)
        return result

    def _open(self, command: str, *, asks: bool = False) -> tuple[paramiko.Channel, list[bytes]]:
        """A channel running ``command``; with ``asks``, sudo's password handshake is done on it
        (returns the stderr that came after it)."""
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectError("the SSH connection was lost")
        try:
            chan = transport.open_session(timeout=self.timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise ConnectError(f"cannot open an SSH session: {exc}") from None
        self.sessions += 1
        try:
            chan.settimeout(1.0)
            chan.exec_command(command)
            err = self._handshake(chan) if asks else []
        except (paramiko.SSHException, OSError, EOFError) as exc:
            chan.close()
            raise ConnectError(f"the SSH connection failed during a command: {exc}") from None
        except BaseException:
            chan.close()
            raise
        return chan, err

    def _handshake(self, chan: paramiko.Channel) -> list[bytes]:
        def read_err(_: float) -> bytes | None:
            try:
                return bytes(chan.recv_stderr(4096))
            except TimeoutError:
                return None

        after = self._sudo.handshake(read_err, chan.sendall, self.timeout + 30)
        return [after] if after else []

    def _raw(self, command: str, data: bytes | None, timeout: float | None,
             stream: Stream | None, *, asks: bool = False) -> CommandResult:
        chan, early_err = self._open(command, asks=asks)
        out: list[bytes] = []
        err: list[bytes] = list(early_err)
        deadline = time.monotonic() + timeout if timeout else None
        transport = self._client.get_transport()
        try:
            feed_errors: list[BaseException] = []
            writer = threading.Thread(target=self._feed, args=(chan, data, feed_errors), daemon=True)
            writer.start()
            err_reader = threading.Thread(target=self._drain_stderr, args=(chan, err), daemon=True)
            err_reader.start()
            pending = b""
            while True:
                try:
                    chunk = chan.recv(65536)
                except TimeoutError:
                    if deadline and time.monotonic() > deadline:
                        chan.close()
                        return CommandResult(command, 124, b"".join(out),
                                             b"".join(err) + f"\ntimed out after {timeout:.0f}s".encode())
                    if transport is None or not transport.is_active():
                        raise ConnectError("the SSH connection was lost") from None
                    continue
                if not chunk:
                    break
                out.append(chunk)
                if stream is not None:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        stream(line.decode("utf-8", "replace"))
            if stream is not None and pending:
                stream(pending.decode("utf-8", "replace"))
            rc = chan.recv_exit_status()
            err_reader.join(timeout=30)
            writer.join(timeout=30)
            if feed_errors and data:
                raise ConnectError(f"could not send a command's input: {feed_errors[0]}")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectError(f"the SSH connection failed during a command: {exc}") from None
        finally:
            chan.close()
        if rc == -1:
            raise ConnectError("the SSH connection closed without an exit status")
        return CommandResult(command, rc, b"".join(out), b"".join(err))

    @staticmethod
    def _feed(chan: paramiko.Channel, data: bytes | None, failed: list[BaseException]) -> None:
        """Send ``data`` as the command's stdin, then EOF. A short send is an error, never silent:
        a command reading a file's new content from stdin must not get half of it."""
        try:
            view = memoryview(data or b"")
            while view:
                try:
                    sent = chan.send(bytes(view[:32768]))
                except TimeoutError:  # the remote window is full: the command is busy; wait
                    if chan.closed:
                        raise EOFError("the channel closed before its input was sent") from None
                    continue
                if sent <= 0:
                    raise EOFError("the channel closed before its input was sent")
                view = view[sent:]
            chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            failed.append(exc)

    @staticmethod
    def _drain_stderr(chan: paramiko.Channel, into: list[bytes]) -> None:
        while True:
            try:
                chunk = chan.recv_stderr(65536)
            except TimeoutError:
                if chan.closed:
                    return
                continue
            except (OSError, paramiko.SSHException):
                return
            if not chunk:
                return
            into.append(chunk)

    def close(self) -> None:
        self._sudo.forget()
        self._client.close()
        for hop in reversed(self._hops):
            hop.close()


class SshProcess(Process):
    """A long-running command on an SSH channel."""

    def __init__(self, chan: paramiko.Channel, early_err: list[bytes]) -> None:
        self.chan = chan
        self._buf = b""
        self._err = list(early_err)
        self._reader = threading.Thread(target=SshConnection._drain_stderr, args=(chan, self._err), daemon=True)
        self._reader.start()

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self._buf:
            if time.monotonic() > deadline:
                raise ConnectError(f"no answer within {timeout:.0f}s")
            try:
                chunk = self.chan.recv(65536)
            except TimeoutError:
                continue
            except (paramiko.SSHException, OSError) as exc:
                raise ConnectError(f"the SSH connection failed: {exc}") from None
            if not chunk:
                status = self.chan.recv_exit_status() if self.chan.exit_status_ready() else -1
                self._reader.join(timeout=5)  # its stderr may still be on the way
                raise ConnectError(f"the command ended (exit {status}): "
                                   f"{self.stderr().strip()[-300:] or 'no output'}")
            self._buf += chunk
        cut = self._buf.index(marker) + len(marker)
        out, self._buf = self._buf[:cut], self._buf[cut:]
        return out

    def send(self, data: bytes) -> None:
        try:
            self.chan.sendall(data)
        except (paramiko.SSHException, OSError) as exc:
            raise ConnectError(f"the SSH connection failed: {exc}") from None

    def finish(self, timeout: float) -> int:
        try:
            self.chan.shutdown_write()
            if not self.chan.status_event.wait(timeout):
                return -1
            return self.chan.recv_exit_status()
        except (paramiko.SSHException, OSError):
            return -1
        finally:
            self._reader.join(timeout=5)
            self.chan.close()

    def stderr(self) -> str:
        return b"".join(self._err).decode("utf-8", "replace")
