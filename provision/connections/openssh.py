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
prompt ever), keepalives, ConnectTimeout when ssh_config has none, ``--`` before every
destination, and host-key checking that no ssh_config can lower (``host_key_options``): it is set
on the command line, which ssh reads before any config, so ``StrictHostKeyChecking no`` /
``UserKnownHostsFile /dev/null`` / ``LogLevel QUIET`` (what ``vagrant ssh-config`` prints) change
nothing. An unknown key is refused unless ``--accept-new-host-keys``, a changed key always, by
ssh itself. Key exchange: when ssh_config sets no KexAlgorithms, ssh's default list with
curve25519 moved before the costly sntrup761 (``kex_options``). A ProxyJump chain is built here
as nested ProxyCommands, each hop an ``ssh -W`` with the same options (the ``ssh`` that OpenSSH
starts for a ProxyJump itself would read only ssh_config). sudo works as with paramiko (sudo.py).
"""

from __future__ import annotations

import atexit
import functools
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

from provision.connections.base import CommandResult, Connection, Process, Stream, display
from provision.connections.local import PopenProcess, communicate, kill, track
from provision.connections.sshopts import SshOptions, known_hosts_files
from provision.connections.sudo import PROBE, Sudo
from provision.errors import BecomeError, ConnectError, UsageError
from provision.targets import Target, jump_hops

KEEPALIVE = 30
MAX_JUMPS = 5
PROBES = 32  # ssh -G processes at once (a pipe each)
_CHANGED_FP = re.compile(r"The fingerprint for the \S+ key sent by the remote host is\s+(SHA256:\S+)")
_CHANGED_HOST = re.compile(r"Host key for (\S+) has changed")
_UNKNOWN_HOST = re.compile(r"host key is known for (\S+) and")
_OFFENDING = re.compile(r"Offending \S+ key in (.+):\d+")


# The master's own session: it says the login user's uid (root, or sudo is needed), then waits for
# one command (what start() is asked first: an apply's held command): its length in bytes on a
# line, then the command ended by a random line, read by one `head -c` (a shell reads a pipe a
# byte at a time: 18 KB cost 11 ms of the host's CPU that way), and execs it unless the end
# line is missing (a cut-off command never runs); at EOF it ends having run nothing. So the
# session is set up while the playbook is validated, and nothing runs before that.
_STUB = ('printf "provision-uid %s\\n" "$(id -u)"; IFS= read -r n || exit 0; '
         'case $n in ""|*[!0-9]*) exit 70;; esac; c=$(head -c "$n"); '
         'case $c in *"@END@") eval "exec ${c%"@END@"}";; esac; exit 70')


def stub_input(command: str, token: str) -> bytes:
    """What the master's waiting session (_STUB) is sent to run ``command``."""
    body = f"{command}\nprovision-go-{token}".encode()
    return f"{len(body)}\n".encode() + body

_OPEN: weakref.WeakSet[OpenSshConnection] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """No master connection outlives provision (they run in sessions of their own)."""
    for conn in list(_OPEN):
        conn.close()


def probe(who: Sequence[str], host: str) -> dict[str, list[str]]:
    """ssh's own resolution of ``host`` from ssh_config (``ssh -G``; it connects nowhere)."""
    return probe_many([(who, host)])[0]


def probe_many(queries: Sequence[tuple[Sequence[str], str]]) -> list[dict[str, list[str]]]:
    """``probe`` for many hosts at once: up to ``PROBES`` ``ssh -G`` are started before the first
    is read, so a fleet waits for about one of them per batch, not for each in turn."""
    found: list[dict[str, list[str]]] = []
    for start in range(0, len(queries), PROBES):
        procs: list[subprocess.Popen[bytes] | None] = []
        for who, host in queries[start:start + PROBES]:
            try:
                procs.append(subprocess.Popen([*who, "-G", "--", host], stdin=subprocess.DEVNULL,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
            except OSError:
                procs.append(None)
        found += [_parse_g(proc) for proc in procs]
    return found


def _parse_g(proc: subprocess.Popen[bytes] | None) -> dict[str, list[str]]:
    if proc is None:
        return {}
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {}
    found: dict[str, list[str]] = {}
    for text in out.decode("utf-8", "replace").splitlines():
        key, _, value = text.partition(" ")
        found.setdefault(key, []).append(value)
    return found


@functools.cache
def _defaults() -> tuple[bool, str]:
    """What this ssh does with no ssh_config at all (one ``ssh -G``, once): whether it has
    KnownHostsCommand (OpenSSH 8.5; before it, no ssh_config can name one either), and its
    default KexAlgorithms."""
    for option, knows in (("KnownHostsCommand=none", True), ("ServerAliveCountMax=3", False)):
        try:
            done = subprocess.run(["ssh", "-F", "/dev/null", "-o", option, "-G", "--", "x"],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False, ""
        if done.returncode == 0:
            kex = next((ln.split(" ", 1)[1] for ln in done.stdout.decode("utf-8", "replace").splitlines()
                        if ln.startswith("kexalgorithms ")), "")
            return knows, kex
    return False, ""


def _knows_known_hosts_command() -> bool:
    return _defaults()[0]


# Post-quantum hybrids that cost far more CPU than curve25519 (sntrup761: ~100 ms on the client
# per login on a 2-CPU machine, against ~5 ms); mlkem768x25519 (OpenSSH 9.9) is cheap and stays.
_SLOW_KEX = ("sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com")
_CURVE25519 = ("curve25519-sha256", "curve25519-sha256@libssh.org")


def kex_options(cfg: dict[str, list[str]]) -> list[str]:
    """``-o KexAlgorithms=`` with ssh's own default list reordered so that curve25519 comes before
    sntrup761 (the same algorithms, none added or removed: a server that has only the others still
    gets them, and nothing weaker than curve25519 is preferred to it); nothing when ssh_config set
    KexAlgorithms itself (``cfg``, the host's ``ssh -G``, differs from the default) or the
    default has no sntrup761 before curve25519."""
    default = _defaults()[1]
    if not default or (cfg.get("kexalgorithms") or [""])[0] != default:
        return []
    names = default.split(",")
    curve = [n for n in names if n in _CURVE25519]
    if not curve or not any(n in _SLOW_KEX for n in names[:names.index(curve[0])]):
        return []
    head = names[:names.index(curve[0])]
    fast = [n for n in head if n not in _SLOW_KEX] + curve + [n for n in head if n in _SLOW_KEX]
    rest = [n for n in names if n not in fast]
    return ["-o", "KexAlgorithms=" + ",".join(fast + rest)]


def _config_word(value: str) -> str:
    """A path as one word of an ssh option value: its %-tokens escaped, quoted if it has blanks."""
    value = value.replace("%", "%%")
    return f'"{value}"' if any(c.isspace() for c in value) else value


def host_key_options(options: SshOptions, cfg: dict[str, list[str]]) -> list[str]:
    """The host-key settings of every ssh provision starts (master and jump hops), from the
    command line, where they win over any ssh_config: the key is checked, strictly, against the
    known_hosts files of ``known_hosts_files`` and nothing else (no DNS, no command, no localhost
    exemption, no key updates from the server); ``accept-new`` only with --accept-new-host-keys.
    ``cfg``: the host's ``ssh -G``, for its UserKnownHostsFile and LogLevel."""
    files = known_hosts_files(options, (cfg.get("userknownhostsfile") or [""])[0].split())
    opts = ["-o", f"StrictHostKeyChecking={'accept-new' if options.accept_new_host_keys else 'yes'}",
            "-o", "UserKnownHostsFile=" + " ".join(map(_config_word, files)),
            "-o", "CheckHostIP=no", "-o", "VerifyHostKeyDNS=no", "-o", "UpdateHostKeys=no",
            "-o", "NoHostAuthenticationForLocalhost=no"]
    if options.known_hosts:
        opts += ["-o", "GlobalKnownHostsFile=/dev/null"]
    if _knows_known_hosts_command():
        opts += ["-o", "KnownHostsCommand=none"]
    if (cfg.get("loglevel") or [""])[0].upper() in ("QUIET", "SILENT", "FATAL"):  # -G says SILENT for QUIET
        opts += ["-o", "LogLevel=ERROR"]  # a refusal is ssh's own; its reason must still be seen
    return opts


def _who(options: SshOptions, target: Target) -> list[str]:
    """``ssh`` with the config file, user and port to reach ``target`` (no destination yet)."""
    argv = ["ssh"] + (["-F", options.ssh_config] if options.ssh_config else [])
    if target.user:
        argv += ["-l", target.user]
    if target.port:
        argv += ["-p", str(target.port)]
    return argv


def _jumps(cfg: dict[str, list[str]], label: str) -> list[Target]:
    try:
        return jump_hops((cfg.get("proxyjump") or [""])[0])
    except UsageError as exc:
        raise ConnectError(f"{label}: ssh_config: {exc}") from None


def jump_command(options: SshOptions, hops: Sequence[Target], timeout: float, label: str,
                 depth: int = 0) -> str:
    """The ProxyCommand that reaches the next host through ``hops`` (ProxyJump ``a,b``: ``b`` is
    reached through ``a``, ``a`` as its own ssh_config says): an ``ssh -W`` to the last hop with
    the host-key options, whose own ProxyCommand reaches that hop the same way. ``%`` is escaped
    in all but the ``%h:%p`` of each level, which the ssh running it fills in."""
    if depth >= MAX_JUMPS:
        raise ConnectError(f"{label}: ProxyJump chain is too long (a loop?)")
    *before, last = hops
    argv = _who(options, last)
    cfg = probe(argv, last.ssh_host)
    argv += [*host_key_options(options, cfg), *kex_options(cfg),
             "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(timeout))}",
             "-o", f"ServerAliveInterval={KEEPALIVE}", "-o", "ServerAliveCountMax=3",
             "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "RemoteCommand=none",
             "-o", "PermitLocalCommand=no", "-o", "ClearAllForwardings=yes"]
    via = before or _jumps(cfg, label)
    if via:
        argv += ["-o", "ProxyCommand=" + jump_command(options, via, timeout, label, depth + 1)]
    return (shlex.join(argv).replace("%", "%%") + " -W '[%h]:%p' "
            + shlex.join(["--", last.ssh_host]).replace("%", "%%"))


def _control_dir() -> str:
    """A private directory for the control socket; short, since a socket path has ~100 bytes."""
    base = tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="provision-ssh-", dir=base if len(base) < 40 else "/tmp")


def _base(options: SshOptions, target: Target) -> list[str]:
    """``_who`` and the target's own identity file: the login's ssh, before any option of ours."""
    argv = _who(options, target)
    if target.identity_file:
        argv += ["-i", os.path.expanduser(target.identity_file), "-o", "IdentitiesOnly=yes"]
    return argv


class OpenSshConnection(Connection):
    kind = "ssh"

    @classmethod
    def start_many(cls, targets: Sequence[Target], options: SshOptions) -> list[OpenSshConnection]:
        """One connection per target, started as ``OpenSshConnection(t, options)`` would, with every
        host's ``ssh -G`` run at once first."""
        cfgs = probe_many([(_base(options, t), t.ssh_host) for t in targets])
        return [cls(t, options, cfg) for t, cfg in zip(targets, cfgs, strict=True)]

    def __init__(self, target: Target, options: SshOptions | None = None,
                 cfg: dict[str, list[str]] | None = None) -> None:
        """Starts the master connection and returns at once; ``ready()`` waits for it (and finds
        how to become root). ``cfg``: the host's ``ssh -G`` when already known (``start_many``)."""
        super().__init__(target.name)
        self.options = options or SshOptions()
        self.target = target
        self.sessions = 0  # command round trips made (for the docs' claim and its test)
        self.timeout = float(target.connect_timeout or self.options.connect_timeout)
        self.user = target.user or ""  # known for sure once connected (the stub says its uid)
        self._base = _base(self.options, target)
        self._cfg = probe(self._base, target.ssh_host) if cfg is None else cfg
        self.known_hosts = known_hosts_files(self.options, (self._cfg.get("userknownhostsfile") or [""])[0].split())[0]
        opts = [*host_key_options(self.options, self._cfg), *kex_options(self._cfg),
                "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(self.timeout))}",
                "-o", f"ServerAliveInterval={KEEPALIVE}", "-o", "ServerAliveCountMax=3"]
        self._error: ConnectError | None = None  # found before connecting; ready() raises it
        try:
            hops = _jumps(self._cfg, self.label)
            if hops:
                opts += ["-o", "ProxyCommand=" + jump_command(self.options, hops, self.timeout, self.label)]
        except ConnectError as exc:
            self._error = exc
        self._dir = _control_dir()
        self.control = os.path.join(self._dir, "m")
        self._sudo: Sudo | None = None
        self._ready = False
        self._stub_used = False
        self._token = os.urandom(8).hex()
        self._stderr = b""  # what the master printed before the session started (warnings, errors)
        stub = _STUB.replace("@END@", f"provision-go-{self._token}")
        self._master: subprocess.Popen[bytes] | None = None
        _OPEN.add(self)
        if self._error is not None:
            return
        self._master = subprocess.Popen(
            [*self._base, *opts, "-T", "-o", "ControlMaster=yes", "-o", f"ControlPath={self.control}",
             "-o", "ControlPersist=no", "-o", "RemoteCommand=none", "-o", "ClearAllForwardings=yes",
             "-o", "PermitLocalCommand=no", "--", target.ssh_host, shlex.join(["sh", "-c", stub])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            env={**os.environ, "SHELL": "/bin/sh"})  # ssh runs a ProxyCommand with $SHELL: ours are sh
        track(self._master, True)

    # ------------------------------------------------------------------ connecting

    def ready(self) -> OpenSshConnection:
        """Wait until the host's shell answers (raises ConnectError saying why it did not), refuse
        a changed host key whatever ssh_config allows, then find how to become root."""
        if self._ready:
            return self
        if self._error is not None:
            raise self._error
        master = self._master
        assert master is not None and master.stdout is not None and master.stderr is not None
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
        return self._cfg

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
        known = self.known_hosts
        where = f"{user}@{host}:{port}"
        name = host if port == 22 else f"[{host}]:{port}"
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in log:
            now = _CHANGED_FP.search(log)
            said, offending = _CHANGED_HOST.search(log), _OFFENDING.search(log)
            name, known = said.group(1) if said else name, offending.group(1) if offending else known
            return ConnectError(
                f"{self.label}: host key of {name} has CHANGED (now {now.group(1) if now else 'another key'}): "
                f"refusing to connect, this may be a man-in-the-middle attack; if the host was reinstalled, "
                f"remove the old key with: ssh-keygen -f {shlex.quote(known)} -R {shlex.quote(name)}")
        if "Host key verification failed" in log:
            said = _UNKNOWN_HOST.search(log)  # a jump host's, maybe
            if said and said.group(1) != name:
                name = said.group(1)
                host, _, p = name.strip("[").partition("]:")
                port = int(p) if p.isdigit() else 22
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
                "--", self.target.ssh_host, command]

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
                master.stdin.write(stub_input(command, self._token))
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
